"""The inputs every benchmark shares: SSE workloads, canned MUXI answers, a signed webhook.

Pure data, importable from both virtual environments (ours and the official SDK's).
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEEPALIVE = b": keepalive\n\n"
DONE = b'event: done\ndata: {"finished":true}\n\n'


def token_frame(i: int) -> bytes:
    """One unnamed chat token frame of about 60 bytes (the SSE issue's chat workload)."""
    return b'data: {"token":{"type":"content","content":"word %07d"}}\n\n' % i


def chat_frames(events: int) -> list[bytes]:
    """``events`` token frames, a ``: keepalive`` before every 25th, then ``event: done``."""
    parts = []
    for i in range(events):
        if i % 25 == 0:
            parts.append(KEEPALIVE)
        parts.append(token_frame(i))
    parts.append(DONE)
    return parts


def chat_workload(events: int) -> bytes:
    """:func:`chat_frames` joined: about 60 bytes per token frame."""
    return b"".join(chat_frames(events))


def runtime_frames() -> list[bytes]:
    """The token frames of a real runtime capture (about 260 bytes each)."""
    capture = (ROOT / "tests" / "fixtures" / "runtime-chat-stream.sse").read_bytes()
    return [f + b"\n\n" for f in capture.split(b"\n\n") if f.startswith(b"data: ")]


def runtime_replay(events: int) -> bytes:
    """``events`` real runtime token frames replayed in a loop, keepalives and ``done`` as above."""
    frames = runtime_frames()
    parts = []
    for i in range(events):
        if i % 25 == 0:
            parts.append(KEEPALIVE)
        parts.append(frames[i % len(frames)])
    parts.append(DONE)
    return b"".join(parts)


# --- the SSE family: one stream per shape, each built from the real captures' frames -----------------

CAPTURES = ("runtime-chat-stream.sse", "runtime-chat-stream-2.sse", "runtime-chat-stream-3.sse")


def capture_payloads() -> list[dict[str, object]]:
    """The JSON payloads (``{"token": {...}}``) of every unnamed frame of the three real runtime captures, in order."""
    tokens: list[dict[str, object]] = []
    for name in CAPTURES:
        capture = (ROOT / "tests" / "fixtures" / name).read_bytes()
        for frame in capture.split(b"\n\n"):
            if frame.startswith(b"data: "):
                tokens.append(json.loads(frame[6:]))
    return tokens


def _compact(value: object, *, ascii_only: bool = True) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=ascii_only)


# Deployment progress as the control plane words it (stage, message, health-check attempts).
_STAGES = (
    ("extracting", "Extracting bundle to staging..."),
    ("validating", "Validating formation config..."),
    ("spawning_staging", "Starting staging version on port 8013"),
    ("health_check", "Waiting for staging health check..."),
)
# Text in several scripts (accents, Cyrillic, CJK, emoji): 2-, 3- and 4-byte UTF-8 sequences.
_NON_ASCII = (
    "Voilà, c'est réglé : déjà fait.", "Привет, чем могу помочь?", "量子トンネル効果について説明します。",
    "Größe prüfen — naïve café", "天気は晴れです 🌤️ 今日も良い一日を", "Ça marche 👍 ¿Algo más?",
)


def _progress(i: int) -> bytes:
    if i % 8 < 4:
        stage, message = _STAGES[i % 4]
        body: dict[str, object] = {"stage": stage, "message": message}
    else:
        body = {"stage": "health_check", "message": f"Health check attempt {i % 300 + 1}/300...",
                "attempt": i % 300 + 1, "max_attempts": 300}
    return b"event: progress\ndata: " + _compact(body).encode() + b"\n\n"


def _runtime_frame(token: dict[str, object]) -> bytes:
    return b"data: " + _compact(token).encode() + b"\n\n"


def sse_stream(shape: str, events: int) -> bytes:
    """``events`` data-bearing events of one shape of the SSE family (see ``SHAPES``), as bytes."""
    tokens = capture_payloads()
    parts: list[bytes] = []
    for i in range(events):
        token = tokens[i % len(tokens)]
        if shape == "named":
            parts.append(_progress(i))
            continue
        if shape == "comments":
            # A keepalive between every two events and a comment line inside every other event.
            parts.append(KEEPALIVE)
            prefix = b": t=%d\n" % i if i % 2 else b""
            parts.append(prefix + _runtime_frame(token))
            continue
        if i % 25 == 0:
            parts.append(KEEPALIVE)
        if shape == "id":
            parts.append(b"id: %d\n" % (1000 + i) + _runtime_frame(token))
        elif shape == "retry":
            parts.append(b"retry: %d\n" % (1000 + 500 * (i % 7)) + _runtime_frame(token))
        elif shape == "multiline":
            # The token pretty-printed: one `data:` line per line of JSON (about 12 lines).
            text = json.dumps(token, indent=1)
            parts.append(b"".join(b"data: " + line.encode() + b"\n" for line in text.split("\n")) + b"\n")
        elif shape == "nonascii":
            inner = dict(token["token"])  # type: ignore[call-overload]
            inner["content"] = _NON_ASCII[i % len(_NON_ASCII)] + " " + str(inner["content"])
            parts.append(b"data: " + _compact({"token": inner}, ascii_only=False).encode() + b"\n\n")
        else:  # runtime, crlf, cr: the runtime's own frames
            parts.append(_runtime_frame(token))
    parts.append(b'event: complete\ndata: {"status":"running"}\n\n' if shape == "named" else DONE)
    stream = b"".join(parts)
    if shape == "crlf":
        stream = stream.replace(b"\n", b"\r\n")
    elif shape == "cr":
        stream = stream.replace(b"\n", b"\r")
    return stream


SHAPES = {
    "runtime": "unnamed `data:` frames of the real captures (~260 B), a keepalive every 25",
    "named": "deployment progress: `event: progress` + one JSON `data:` line (~80 B)",
    "id": "runtime frames, each with an `id:` line",
    "retry": "runtime frames, each with a `retry:` line",
    "comments": "runtime frames, a keepalive between every two, a comment line in every other",
    "multiline": "runtime tokens pretty-printed: ~12 `data:` lines per event",
    "crlf": "runtime frames with CRLF line ends",
    "cr": "runtime frames with lone CR line ends",
    "nonascii": "runtime frames whose content is UTF-8 text in several scripts (2-4 byte sequences)",
}
"""The shapes of the SSE family (every one ends with a terminal named event)."""


def split(data: bytes, size: int) -> list[bytes]:
    """``data`` cut into ``size``-byte chunks, as a socket would deliver it."""
    return [data[i:i + size] for i in range(0, len(data), size)]


def expected_checksum(events: int) -> tuple[int, int]:
    """(events, total data characters) a correct consumer of :func:`chat_workload` reports."""
    data = sum(len(token_frame(i)) - len(b"data: \n\n") for i in range(events))
    return events + 1, data + len('{"finished":true}')


# --- canned answers of the local origin ------------------------------------------------------------

AGENTS = {
    "object": "list",
    "timestamp": 1795945124961,
    "type": "response",
    "request": {"id": "req_bench0000000000000000", "idempotency_key": None},
    "success": True,
    "error": None,
    "data": {
        "agents": [
            {
                "id": f"agent-{i}",
                "name": f"Agent {i}",
                "description": "Answers questions about the benchmark formation.",
                "model": "openai/gpt-4o-mini",
                "active": True,
                "knowledge": [],
                "mcp_servers": ["web-search"],
            }
            for i in range(3)
        ],
        "count": 3,
    },
}

STATUS = {
    "success": True,
    "data": {
        "server": {"version": "1.20260928.0", "uptime": 123456, "status": "running"},
        "formations": {"total": 3, "running": 2, "stopped": 1},
        "port_pool": {"start": 8000, "end": 9000, "used": 2, "available": 999},
        "runtime": {"version": "1.20260928.0", "installed": True},
    },
}


def json_body(value: object) -> bytes:
    """Compact JSON, as the servers send it."""
    return json.dumps(value, separators=(",", ":")).encode()


# --- webhooks ---------------------------------------------------------------------------------------

WEBHOOK_SECRET = "test-admin-key"


def webhook_body() -> bytes:
    """The real completion webhook body of the fixtures (default ``json.dumps`` spacing)."""
    line = (ROOT / "tests" / "fixtures" / "runtime-webhooks.jsonl").read_text().splitlines()[0]
    record = json.loads(line)
    body = record.get("raw") if isinstance(record, dict) else None
    if isinstance(body, str):
        return body.encode()
    raise SystemExit("unexpected runtime-webhooks.jsonl layout")
