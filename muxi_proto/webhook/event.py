"""The typed webhook event, and parsing a body into one.

The runtime sends three payload shapes (docs/protocol.md §12): completions (``id``, ``status``
``completed``/``failed``, ``response`` items, ``error``), clarifications (``request_id``,
``status: awaiting_clarification`` and the question at the top level) and retry escalations
(``state``, ``attempts``, ``result``/``report``, no ``status``). :func:`parse` reads all three.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..errors import WebhookVerificationError
from .body import JSONObject, Payload, body_bytes, load_json

__all__ = ["Clarification", "ContentItem", "ErrorDetails", "WebhookEvent", "parse"]

_MS_THRESHOLD = 100_000_000_000  # 1e11: as seconds that is the year 5138, as milliseconds 1973


@dataclass(frozen=True)
class ContentItem:
    """One item of a completed response: ``type`` is ``"text"`` (``text`` set) or ``"file"``."""

    type: str
    text: str | None = None
    file: dict[str, Any] | None = None
    raw: Any = None
    """The item as received (a dict, or whatever the runtime sent)."""

    @classmethod
    def from_dict(cls, data: Any) -> ContentItem:
        """Build from one element of the payload's ``response`` list (never raises)."""
        if isinstance(data, str):  # a bare string is a text item; keep it rather than drop it
            return cls(type="text", text=data, raw=data)
        if not isinstance(data, Mapping):
            return cls(type="unknown", raw=data)
        kind = data.get("type")
        text = data.get("text")
        file = data.get("file")
        return cls(
            type=kind if isinstance(kind, str) else "text",
            text=text if isinstance(text, str) else None,
            file=dict(file) if isinstance(file, Mapping) else None,
            raw=data,
        )


@dataclass(frozen=True)
class ErrorDetails:
    """Why a request failed (``status == "failed"``)."""

    code: str
    message: str
    trace: str | None = None

    @classmethod
    def from_dict(cls, data: Any) -> ErrorDetails:
        """Build from the payload's ``error`` value (an object, or a bare message string)."""
        if not isinstance(data, Mapping):
            return cls(code="unknown", message=str(data))
        code, message, trace = data.get("code"), data.get("message"), data.get("trace")
        return cls(
            code=_text(code) or "unknown",
            message=_text(message) or "Unknown error",
            trace=_text(trace),
        )


@dataclass(frozen=True)
class Clarification:
    """The question of an ``awaiting_clarification`` webhook."""

    question: str
    clarification_request_id: str | None = None
    original_message: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Clarification:
        """Build from the whole clarification payload (its keys are top-level)."""
        return cls(
            question=_text(data.get("clarification_question")) or "",
            clarification_request_id=_text(data.get("clarification_request_id")),
            original_message=_text(data.get("original_message")),
        )


@dataclass(frozen=True)
class WebhookEvent:
    """A parsed webhook, whichever of the runtime's three shapes it came in.

    - completion (``kind == "response"``): ``status`` ``"completed"`` or ``"failed"``, ``content``
      from ``response``, ``error``, ``processing_time``...;
    - clarification (``kind == "clarification"``): ``status == "awaiting_clarification"`` and
      ``clarification``;
    - retry escalation (``kind == "escalation"``): ``state`` (``"achieved"``, ``"impossible"``,
      ``"stuck"``, ...), ``attempts``, and ``result`` or ``report``; it has no ``status`` key, so
      ``status`` holds the state.

    ``timestamp`` is always whole **Unix seconds** (0 when absent or unreadable), whether the
    runtime sent milliseconds (completions), float seconds (clarifications, escalations) or an ISO
    string; ``timestamp_raw`` is the value as sent and :attr:`occurred_at` keeps sub-second
    precision. ``raw`` is the whole payload.
    """

    request_id: str
    status: str
    timestamp: int
    content: list[ContentItem] = field(default_factory=list)
    error: ErrorDetails | None = None
    clarification: Clarification | None = None
    formation_id: str | None = None
    user_id: str | None = None
    processing_time: float | None = None
    processing_mode: str = "async"
    webhook_url: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    timestamp_raw: Any = None
    kind: str = "response"
    state: str | None = None
    attempts: int | None = None
    result: Any = None
    report: Any = None

    @property
    def occurred_at(self) -> datetime | None:
        """The timestamp as an aware UTC datetime (sub-second precision), or None."""
        seconds = _timestamp_seconds(self.timestamp_raw)
        if seconds is None:
            return None
        try:
            return datetime.fromtimestamp(seconds, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None

    @property
    def text(self) -> str:
        """All text items of ``content`` joined (``""`` when there are none)."""
        return "".join(item.text for item in self.content if item.type == "text" and item.text)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WebhookEvent:
        """Build from a decoded payload; never raises for any JSON object."""
        raw = data if isinstance(data, dict) else dict(data)
        state = _text(raw.get("state"))
        status = _text(raw.get("status")) or state or "unknown"
        if status == "awaiting_clarification" or "clarification_question" in raw:
            kind = "clarification"
        elif "status" not in raw and "state" in raw:
            kind = "escalation"
        else:
            kind = "response"

        error = raw.get("error")
        attempts = raw.get("attempts")
        timestamp_raw = raw.get("timestamp")
        seconds = _timestamp_seconds(timestamp_raw)
        mode = raw.get("processing_mode")
        return cls(
            # Completions carry ``id``, clarifications and escalations ``request_id``.
            request_id=_text(raw.get("request_id")) or _text(raw.get("id")) or "",
            status=status,
            timestamp=math.floor(seconds) if seconds is not None else 0,
            content=_content(raw.get("response")),
            error=ErrorDetails.from_dict(error) if error else None,
            clarification=Clarification.from_dict(raw) if kind == "clarification" else None,
            formation_id=_text(raw.get("formation_id")),
            user_id=_text(raw.get("user_id")),
            processing_time=_number(raw.get("processing_time")),
            processing_mode=mode if isinstance(mode, str) else "async",
            webhook_url=_text(raw.get("webhook_url")),
            raw=raw,
            timestamp_raw=timestamp_raw,
            kind=kind,
            state=state,
            attempts=attempts if isinstance(attempts, int) and not isinstance(attempts, bool) else None,
            result=raw.get("result"),
            report=raw.get("report"),
        )


def parse(payload: Payload | JSONObject) -> WebhookEvent:
    """Parse a webhook body (bytes, str, or an already decoded dict) into a :class:`WebhookEvent`.

    Raises :class:`WebhookVerificationError` when the body is not UTF-8, not JSON, or not a JSON
    object. Parse only what :func:`verify_signature` accepted.
    """
    if isinstance(payload, Mapping):
        return WebhookEvent.from_dict(payload)
    body = body_bytes(payload)
    try:
        data = load_json(body)
    except UnicodeDecodeError as exc:
        raise WebhookVerificationError(
            message=f"webhook payload is not UTF-8 (byte {exc.start})"
        ) from None
    except ValueError as exc:  # json.JSONDecodeError, or int/str conversion limits
        raise WebhookVerificationError(message=f"webhook payload is not valid JSON: {exc}") from None
    except RecursionError:
        raise WebhookVerificationError(message="webhook payload is nested too deeply") from None
    if not isinstance(data, dict):
        raise WebhookVerificationError(
            message=f"webhook payload must be a JSON object, not {type(data).__name__}"
        )
    return WebhookEvent.from_dict(data)


# --- field readers: lenient, never raising --------------------------------------------------------


def _text(value: Any) -> str | None:
    """A string field: str as is, numbers as their text (``user_id: 0``), anything else None."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:  # an int too large for a float
            return None
        return number if math.isfinite(number) else None
    return None


def _timestamp_seconds(value: Any) -> float | None:
    """Unix seconds from milliseconds, seconds or an ISO 8601 string; None when unreadable."""
    if isinstance(value, str):
        try:
            number: float | None = float(value)
        except ValueError:
            number = _iso_seconds(value)
    else:
        number = _number(value)
    if number is None or not math.isfinite(number):
        return None
    return number / 1000 if abs(number) >= _MS_THRESHOLD else number


def _iso_seconds(value: str) -> float | None:
    text = value.strip()
    if text.endswith(("Z", "z")):  # fromisoformat accepts "Z" only from Python 3.11
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    try:
        return moment.timestamp()
    except (OverflowError, OSError, ValueError):
        return None


def _content(value: Any) -> list[ContentItem]:
    if value is None:
        return []
    if isinstance(value, list):
        return [ContentItem.from_dict(item) for item in value]
    return [ContentItem.from_dict(value)]  # a lone item instead of a list: keep it
