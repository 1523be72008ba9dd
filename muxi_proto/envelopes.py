"""The two JSON envelopes MUXI speaks, unwrapped into results (docs/protocol.md §3, §9).

Only the client's half lives here; the local server builds envelopes with its own code
(``muxi_testing.envelopes``), so a mistake in one cannot hide in the other.

Control plane (the MUXI server): ``{"success": true, "data": {...}}`` and errors
``{"error": "<reason phrase>", "message": "...", "code": <status int>}``.

Formation plane (the runtime): ``{"object", "timestamp" (ms), "type", "request": {"id",
"idempotency_key"}, "success", "error": null | {"code", "message", "data"}, "data": {...}}``.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

__all__ = [
    "reason_phrase",
    "unwrap",
]

def reason_phrase(status: int) -> str:
    """The standard reason phrase for ``status`` (``"Error"`` when unknown)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


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
