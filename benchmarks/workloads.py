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
