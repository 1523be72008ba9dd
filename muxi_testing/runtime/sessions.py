"""Sessions (client key, ``X-Muxi-User-ID``) and the request tracker (either key).

Single-user mode -- SQLite persistent memory (the default, even with ``multi_user: true``) or none
-- keeps everything under user ``"0"``: every user sees every session and request, as recorded
(``tests/fixtures/runtime/*/user_isolation.json``). Only a multi-user store keeps users apart.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from ._base import USER_REQUIRED_CLIENT, Call, Reject, Route
from .state import BufferMessage, TrackedRequest

__all__ = ["ROUTES"]


async def list_sessions(c: Call) -> None:
    c.require_user()
    limit = c.query["limit"]
    sessions = [{"session_id": s.session_id, "user_id": s.user_id, "last_activity": s.last_activity, "active": True}
                for s in c.rt.user_sessions(c.storage_user) if s.messages][:limit]
    await c.ok({"sessions": sessions, "count": len(sessions)}, "session_list", "session.list")


async def get_session(c: Call) -> None:
    c.require_user()
    session_id = c.params["session_id"]
    session = c.rt.sessions.get((c.storage_user, session_id))
    if session is None or not session.messages:
        raise Reject(404, f"Session '{session_id}' not found", "RESOURCE_NOT_FOUND")
    await c.ok({"session_id": session_id, "user_id": session.user_id, "message_count": len(session.messages),
                "active": True, "created_at": session.messages[0].timestamp, "last_activity": session.last_activity},
               "session", "session.retrieved")


async def session_messages(c: Call) -> None:
    c.require_user()
    session_id = c.params["session_id"]
    limit = c.query["limit"]
    session = c.rt.sessions.get((c.storage_user, session_id))
    # The oldest `limit` messages: the runtime's buffer has no get_messages, so its fallback scan
    # ignores `before` (recorded: sessions.json, messages_before; docs/runtime.md).
    items = list(session.messages) if session is not None else []
    page = items[:limit]
    await c.ok({"session_id": session_id, "messages": [m.to_json() for m in page], "count": len(page),
                "has_more": len(items) > limit}, "session", "session.messages.list")


def _seconds(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


async def restore_session(c: Call) -> None:
    c.require_user()
    session_id = c.params["session_id"]
    user = c.storage_user
    loaded = 0
    session = c.rt.session(user, session_id, c.now)
    for item in c.body["messages"]:
        stamp = _seconds(item["timestamp"])
        moment = c.now if stamp is None else stamp
        meta: dict[str, Any] = {"user_id": user, "session_id": session_id, "role": item["role"], "timestamp": moment,
                                "formation_id": c.rt.spec.id}
        if item.get("agent_id"):
            meta["agent_id"] = item["agent_id"]
        session.messages.append(BufferMessage(item["content"], meta, moment))
        session.last_activity = c.now
        loaded += 1
    await c.ok({"session_id": session_id, "messages_loaded": loaded, "messages_dropped": 0,
                "message": "Session restored successfully"}, "session", "session.restored")


def _filter_user(c: Call) -> str | None:
    user = c.require_user(USER_REQUIRED_CLIENT)
    return c.storage_user if user else None


async def list_requests(c: Call) -> None:
    user = _filter_user(c)
    items = [r.to_json() for r in c.rt.requests.values() if user is None or r.user_id == user]
    await c.ok({"requests": items, "count": len(items)}, "request_list", "request.list.retrieved")


def _tracked(c: Call, not_found: tuple[str, str]) -> TrackedRequest:
    user = _filter_user(c)
    found = c.rt.requests.get(c.params["request_id"])
    if found is None:
        raise Reject(404, not_found[1], not_found[0])
    if user is not None and found.user_id != user:
        raise Reject(403, "Access denied: request belongs to another user", "FORBIDDEN")
    return found


async def get_request(c: Call) -> None:
    found = _tracked(c, ("REQUEST_NOT_FOUND", "Request not found"))
    await c.ok(found.to_json(with_result=True), "request_status", "request.status.retrieved")


async def cancel_request(c: Call) -> None:
    request_id = c.params["request_id"]
    found = _tracked(c, ("NOT_FOUND", f"Request {request_id} not found"))
    if found.status in ("completed", "failed", "cancelled"):
        raise Reject(400, f"Cannot cancel request {request_id}: already {found.status}", "OPERATION_FAILED")
    found.status = "cancelled"
    found.completed_at = c.now
    await c.ok({"request_id": request_id, "status": "cancelled", "message": f"Request {request_id} cancelled"},
               "request_status", "request.cancelled")


ROUTES = [
    Route("GET", "/v1/sessions", "client", list_sessions),
    Route("GET", "/v1/sessions/{session_id}", "client", get_session),
    Route("GET", "/v1/sessions/{session_id}/messages", "client", session_messages),
    Route("POST", "/v1/sessions/{session_id}/restore", "client", restore_session),
    Route("GET", "/v1/requests", "either", list_requests),
    Route("GET", "/v1/requests/{request_id}", "either", get_request),
    Route("DELETE", "/v1/requests/{request_id}", "either", cancel_request),
]
