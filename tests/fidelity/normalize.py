"""Make recorded answers deterministic: run-specific and volatile values become placeholders.

Types are kept (a volatile int becomes ``0``, a float ``0.0``, a string a ``<<kind>>`` token), so
the shape of a normalised body is the shape of the answer. In order:

1. run-specific strings (keys, ports, the model string, the webhook URL, temporary paths) and the
   scenario's variables and captured values become ``<<name>>`` wherever they occur;
2. ids, ISO datetimes and UUIDs become tokens (``req_<<id>>``, ``<<datetime>>``, ``<<uuid>>``);
3. numbers that are clocks or measurements (Unix times in s or ms, uptimes, durations, CPU and
   memory figures) become zero of their type;
4. texts the runtime picks at random (the progress phrases of a chat stream) become ``<<text>>``.

A second recording of the same runtime must give the same bytes; ``make test-runtime`` checks it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .wire import Exchange

__all__ = ["normalize_exchange", "normalize_value"]

# Keys whose numbers are measurements of this run, whatever their size.
VOLATILE_NUMBERS = frozenset({
    "uptime_seconds", "uptime", "seconds", "since", "cpu_percent", "memory_usage_mb", "processing_time",
    "processing_time_ms", "duration_ms", "duration", "elapsed", "elapsed_ms", "buffer_size_kb", "size_kb",
    "latency_ms", "response_time_ms", "age_seconds", "timestamp", "created_at", "updated_at", "completed_at",
    "last_activity", "started_at", "last_run", "next_run", "expires_at", "runtime_ms", "total_time",
    "utilization", "memory_mb", "rss_mb", "events_read",
    "total_entries",  # buffer entries: the runtime's background writers finish at their own pace
})
# Keys whose string values are texts the runtime picks at random or derives from the clock.
VOLATILE_TEXTS = frozenset({"next_run", "next_run_at", "last_run", "last_run_at", "created_at", "updated_at"})

# ``prefix_`` + a random body (nanoid-like: it has a digit or a capital somewhere).
_ID = re.compile(r"\b([a-z][a-z0-9]{1,15})_([A-Za-z0-9_-]{12,})")
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.IGNORECASE)
_HEX_ID = re.compile(r"\b[0-9a-f]{32}\b")
_HEX64 = re.compile(r"\b[0-9a-f]{64}\b")
_SIGNATURE_TIME = re.compile(r"\bt=\d+")
_ISO = re.compile(
    r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?(?![\d:])"
)
# A bare nanoid (the runtime's user and event ids): 21 URL-safe characters, mixed case and digits.
_NANOID = re.compile(r"[A-Za-z0-9_-]{21}")
_PORT = re.compile(r"(127\.0\.0\.1|localhost):\d{2,5}")
_FLOAT_TEXT = re.compile(r"\b\d+\.\d{3,}\b")  # measured seconds inside messages ("took 0.4123 s")

# Chat stream tokens whose ``content`` is one of the runtime's random status phrases.
STATUS_TOKENS = frozenset({"progress", "thinking", "planning", "replanning", "finalizing"})


def _is_clock(value: float) -> bool:
    return 1.0e9 <= value <= 4.0e9 or 1.0e12 <= value <= 4.0e12


def _string(text: str, values: list[tuple[str, str]]) -> str:
    for plain, placeholder in values:
        if plain in text:
            text = text.replace(plain, placeholder)
    text = _PORT.sub(r"\1:<<port>>", text)
    text = _ISO.sub("<<datetime>>", text)
    text = _UUID.sub("<<uuid>>", text)
    text = _ID.sub(_id_token, text)
    text = _HEX64.sub("<<hex64>>", text)
    return _HEX_ID.sub("<<hex>>", text)


def _id_token(match: re.Match[str]) -> str:
    body = match.group(2)
    if any(c.isdigit() or c.isupper() for c in body):
        return f"{match.group(1)}_<<id>>"
    return match.group(0)


def normalize_value(value: Any, values: list[tuple[str, str]], key: str | None = None) -> Any:
    """``value`` with every volatile part replaced (see the module docstring)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        if key in VOLATILE_NUMBERS or _is_clock(float(value)) or key in ("port", "pid"):
            return type(value)(0)
        return value
    if isinstance(value, str):
        if key in VOLATILE_TEXTS and value:
            return "<<time>>"
        text = _string(value, values)
        if _NANOID.fullmatch(text) and any(c.isdigit() for c in text) and any(c.isupper() for c in text) \
                and any(c.islower() for c in text):
            return "<<nanoid>>"
        return text
    if isinstance(value, list):
        return [normalize_value(v, values, key) for v in value]
    if isinstance(value, dict):
        return {_string(k, values): normalize_value(v, values, k) for k, v in value.items()}
    return value


def _normalize_event(item: dict[str, Any], values: list[tuple[str, str]]) -> dict[str, Any]:
    out = normalize_value(item, values)
    payload = out.get("data")
    if isinstance(payload, dict):
        tok = payload.get("token")
        if isinstance(tok, dict) and tok.get("type") in STATUS_TOKENS and isinstance(tok.get("content"), str):
            tok["content"] = "<<text>>"
    return out


def _status_type(item: dict[str, Any]) -> str | None:
    payload = item.get("data")
    tok = payload.get("token") if isinstance(payload, dict) else None
    kind = tok.get("type") if isinstance(tok, dict) else None
    return kind if kind in STATUS_TOKENS else None


def _status_order(item: dict[str, Any]) -> tuple[str, str, str]:
    tok = item["data"]["token"]
    return (str(tok.get("type")), str(tok.get("stage")), json.dumps(item, sort_keys=True))


def _canonical_status_runs(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Runs of status tokens sorted: the runtime emits them from concurrent tasks, in no fixed order."""
    out: list[dict[str, Any]] = []
    run: list[dict[str, Any]] = []
    for item in [*items, {}]:
        if item and _status_type(item) is not None:
            run.append(item)
            continue
        out.extend(sorted(run, key=_status_order))
        run = []
        if item:
            out.append(item)
    return out


def _collapse(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Runs of the same comment (keepalives) become one, with a count of 1: their number is timing."""
    out: list[dict[str, Any]] = []
    for item in items:
        if "comment" in item and out and out[-1] == item:
            continue
        out.append(item)
    return out


def placeholders(run_values: dict[str, str], variables: dict[str, str]) -> list[tuple[str, str]]:
    """(plain, ``<<name>>``) pairs, longest plain text first so no value hides inside another."""
    pairs = {plain: f"<<{name}>>" for name, plain in variables.items() if len(plain) >= 4}
    pairs.update({plain: placeholder for plain, placeholder in run_values.items() if plain})
    return sorted(pairs.items(), key=lambda item: -len(item[0]))


def _header(name: str, value: str, values: list[tuple[str, str]]) -> str:
    if name == "x-muxi-timestamp":
        return "<<time>>"
    text: str = normalize_value(value, values)
    return _SIGNATURE_TIME.sub("t=<<time>>", text) if name == "x-muxi-signature" else text


def normalize_exchange(exchange: Exchange, values: list[tuple[str, str]]) -> dict[str, Any]:
    """The recording of one exchange (what goes into a fixture file)."""
    record: dict[str, Any] = {
        "step": exchange.step,
        "request": exchange.request,
        "status": exchange.status,
        "headers": {k: _header(k, v, values) for k, v in exchange.headers.items()},
    }
    if exchange.events is not None:
        events = [_normalize_event(i, values) for i in exchange.events]
        record["events"] = _canonical_status_runs(_collapse(events))
    else:
        record["body"] = normalize_value(exchange.body, values)
    return record
