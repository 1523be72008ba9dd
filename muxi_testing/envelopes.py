"""The server halves of MUXI's two JSON envelopes: what the local server writes (docs/protocol.md §3, §9).

Clients unwrap envelopes with :mod:`muxi_proto.envelopes`; building them is the server's business
and lives here, written from the servers' rules and the runtime's recordings
(``tests/fixtures/runtime/``), so the local server can disagree with the client where the client
is wrong.

- Control plane (the MUXI server): ``{"success": true, "data": {...}}``; errors
  ``{"error": "<reason phrase>", "message": "...", "code": <status int>}``.
- Formation plane (the runtime): ``{"object", "timestamp" (ms), "type", "request": {"id",
  "idempotency_key"}, "success", "error": null | {"code", "message", "data"}, "data": {...}}``.
  The error envelope's ``type`` follows the *code*, not the status: ``SERVICE_UNAVAILABLE`` is
  ``error.internal``, ``RESOURCE_NOT_FOUND`` is ``error.not_found`` (as the runtime's registry).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

__all__ = [
    "DEFAULT_CODES",
    "control_error",
    "control_success",
    "error_type",
    "reason_phrase",
    "runtime_error",
    "runtime_success",
]

# The runtime's default code for an HTTP status (its exception handler's table).
DEFAULT_CODES: dict[int, str] = {
    400: "INVALID_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "RESOURCE_NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    422: "INVALID_PARAMS",
    429: "RATE_LIMITED",
    501: "METHOD_NOT_FOUND",
    503: "SYSTEM_OVERLOAD",
}
_VALIDATION = frozenset({"INVALID_REQUEST", "INVALID_PARAMS", "PARSE_ERROR", "UNPROCESSABLE_ENTITY"})
_AUTHENTICATION = frozenset({"UNAUTHORIZED", "BAD_CREDENTIALS"})
_NOT_FOUND = frozenset({"AGENT_NOT_FOUND", "RESOURCE_NOT_FOUND", "METHOD_NOT_FOUND"})
_PROCESSING = frozenset({"PROCESSING_ERROR", "LLM_ERROR", "TOOL_EXECUTION_ERROR"})


def reason_phrase(status: int) -> str:
    """The standard reason phrase for ``status`` (``"Error"`` when unknown)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def control_success(data: Any) -> dict[str, Any]:
    """A control-plane success envelope."""
    return {"success": True, "data": data}


def control_error(status: int, message: str) -> dict[str, Any]:
    """A control-plane error body, as the MUXI server shapes it."""
    return {"error": reason_phrase(status), "message": message, "code": status}


def error_type(code: str) -> str:
    """The runtime error envelope's ``type`` for an error ``code``."""
    if code in _VALIDATION:
        return "error.validation"
    if code in _AUTHENTICATION:
        return "error.authentication"
    if code == "FORBIDDEN":
        return "error.authorization"
    if code in _NOT_FOUND:
        return "error.not_found"
    if code in _PROCESSING:
        return "error.processing"
    return "error.internal"


def runtime_success(
    data: dict[str, Any],
    *,
    request_id: str,
    timestamp_ms: int,
    object_type: str = "response",
    event_type: str = "response",
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """A runtime success envelope (``data`` is always an object; ``object`` and ``type`` name the
    resource and the event, e.g. ``"secret_list"`` / ``"secret.list"``)."""
    return {
        "object": object_type,
        "timestamp": timestamp_ms,
        "type": event_type,
        "request": {"id": request_id, "idempotency_key": idempotency_key},
        "success": True,
        "error": None,
        "data": data,
    }


def runtime_error(
    status: int,
    message: str,
    *,
    request_id: str,
    timestamp_ms: int,
    code: str | None = None,
    data: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """A runtime error envelope; ``code`` defaults to the runtime's code for ``status``.

    ``data`` is the error's own ``data`` (``null`` when empty, as the runtime writes it).
    """
    code = code or DEFAULT_CODES.get(status, "INTERNAL_ERROR")
    return {
        "object": "error",
        "timestamp": timestamp_ms,
        "type": error_type(code),
        "request": {"id": request_id, "idempotency_key": idempotency_key},
        "success": False,
        "error": {"code": code, "message": message, "data": data or None},
        "data": {},
    }
