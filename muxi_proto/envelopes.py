"""The two JSON envelopes MUXI speaks, unwrapped (for clients) -- and built, for the client tests.

The local server builds its own (``muxi_testing.envelopes``, with the runtime's code-to-type
table); the builders here remain only while client tests still import them.

Control plane (the MUXI server): ``{"success": true, "data": {...}}`` and errors
``{"error": "<reason phrase>", "message": "...", "code": <status int>}``.

Formation plane (the runtime): ``{"object", "timestamp" (ms), "type", "request": {"id",
"idempotency_key"}, "success", "error": null | {"code", "message", "data"}, "data": {...}}``.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

__all__ = [
    "RUNTIME_ERROR_CODES",
    "control_error",
    "control_success",
    "reason_phrase",
    "runtime_error",
    "runtime_success",
    "unwrap",
]

# Runtime error codes by status (docs/protocol.md §9), and the envelope ``type`` that goes with them.
RUNTIME_ERROR_CODES: dict[int, tuple[str, str]] = {
    400: ("INVALID_REQUEST", "error.validation"),
    401: ("UNAUTHORIZED", "error.authentication"),
    403: ("FORBIDDEN", "error.authorization"),
    404: ("RESOURCE_NOT_FOUND", "error.not_found"),
    405: ("METHOD_NOT_ALLOWED", "error.method_not_allowed"),
    409: ("CONFLICT", "error.conflict"),
    422: ("INVALID_PARAMS", "error.validation"),
    500: ("INTERNAL_ERROR", "error.internal"),
    501: ("METHOD_NOT_FOUND", "error.not_implemented"),
    503: ("SERVICE_UNAVAILABLE", "error.unavailable"),
}


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
    """A control-plane error body, exactly as the MUXI server shapes it."""
    return {"error": reason_phrase(status), "message": message, "code": status}


def runtime_success(
    data: dict[str, Any],
    *,
    request_id: str,
    timestamp_ms: int,
    object_type: str = "response",
    event_type: str = "response",
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """A runtime success envelope (``data`` is always an object)."""
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
    data: Any = None,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """A runtime error envelope; ``code`` defaults to the runtime's code for ``status``."""
    default_code, event_type = RUNTIME_ERROR_CODES.get(status, ("INTERNAL_ERROR", "error.internal"))
    return {
        "object": "error",
        "timestamp": timestamp_ms,
        "type": event_type,
        "request": {"id": request_id, "idempotency_key": idempotency_key},
        "success": False,
        "error": {"code": code or default_code, "message": message, "data": data},
        "data": {},
    }


def unwrap(body: Any) -> Any:
    """The payload of a success body, as the official SDK returns it.

    Envelopes (either plane) give their ``data`` object with ``request_id`` and ``timestamp``
    merged in when the envelope has them (``idempotency_key`` too); non-null values already in
    ``data`` win (the runtime's chat answer carries ``"request_id": null`` next to the real id).
    Bare objects (``/health``) and non-objects come back unchanged.
    """
    if not isinstance(body, dict) or "data" not in body:
        return body
    data = body["data"]
    if not isinstance(data, dict):
        return body if data is None else data
    out = dict(data)
    request = body.get("request")
    request_id = request.get("id") if isinstance(request, dict) else None
    if not request_id:
        request_id = body.get("request_id")
    if request_id and out.get("request_id") is None:
        out["request_id"] = request_id
    if isinstance(request, dict) and request.get("idempotency_key") and out.get("idempotency_key") is None:
        out["idempotency_key"] = request["idempotency_key"]
    if body.get("timestamp") is not None and out.get("timestamp") is None:
        out["timestamp"] = body["timestamp"]
    return out
