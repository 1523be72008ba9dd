"""Artifacts (either key, user-scoped) and the observability streams ``/events`` and ``/logs``.

The streams open as on the runtime (200, ``text/event-stream``) and then stay silent: in every
recording no event arrived (``tests/fixtures/runtime/*/streams.json``; the runtime's ``/events``
would also write a literal backslash-n instead of line breaks, so no SSE parser could dispatch
its frames). ``/events/{session}/{request}`` fails inside the runtime (500), reproduced.
"""

from __future__ import annotations

import anyio

from ._base import SSE_HEADERS, USER_REQUIRED_CLIENT, Call, Reject, Route

__all__ = ["ROUTES"]

LOG_FILTERS = ("user_id", "session_id", "request_id", "agent_id", "level", "event_type")
LOG_FILTER_REQUIRED = (
    "At least one filter parameter is required (user_id, session_id, request_id, agent_id, level, or event_type)"
)
EVENTS_BROKEN = "No module named 'muxi.runtime.formation.services'"


async def _silent_stream(c: Call) -> None:
    """200 with the stream's head, then nothing until the client leaves (or the server stops)."""
    await c.out.open_stream(200, SSE_HEADERS)
    await c.out.guarded(anyio.sleep_forever)


async def events(c: Call) -> None:
    c.require_user(USER_REQUIRED_CLIENT)
    await _silent_stream(c)


async def request_events(c: Call) -> None:
    c.require_user(USER_REQUIRED_CLIENT)
    raise Reject(500, EVENTS_BROKEN, "INTERNAL_ERROR")


async def logs(c: Call) -> None:
    if not any(c.query.get(name) for name in LOG_FILTERS):
        raise Reject(400, LOG_FILTER_REQUIRED, "INVALID_REQUEST")
    await _silent_stream(c)


async def list_artifacts(c: Call) -> None:
    c.require_user(admin_too=True)
    await c.ok({"artifacts": [], "count": 0, "total": 0}, "artifact_list", "artifact.list")


async def artifact(c: Call) -> None:
    c.require_user(admin_too=True)
    raise Reject(404, f"Artifact '{c.params['artifact_id']}' not found", "NOT_FOUND")


ROUTES = [
    Route("GET", "/v1/events", "either", events),
    Route("GET", "/v1/events/{session_id}", "either", events),
    Route("GET", "/v1/events/{session_id}/{request_id}", "either", request_events),
    Route("GET", "/v1/logs", "admin", logs),
    Route("GET", "/v1/artifacts", "either", list_artifacts),
    Route("GET", "/v1/artifacts/{artifact_id}", "either", artifact),
    Route("GET", "/v1/artifacts/{artifact_id}/content", "either", artifact),
    Route("GET", "/v1/artifacts/{artifact_id}/versions", "either", artifact),
]
