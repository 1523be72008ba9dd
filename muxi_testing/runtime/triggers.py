"""Triggers and SOPs (client key): the formation's ``triggers/*.md`` and ``sops/*.md``.

``POST /triggers/{name}`` renders the template with the request's ``data`` and answers it with the
chat script: at once (``use_async: false``: ``{status: completed, content}``) or in the background
(``{status: processing}``), then a signed webhook to the trigger's ``webhook:`` URL whose ``id`` is
the firing request's id (``request.id`` of the answer), as recorded
(``tests/fixtures/runtime/default/trigger_webhook.json``).
"""

from __future__ import annotations

import re
import time
from typing import Any

from .._chat import ScriptedReply, resolve_reply
from .._context import ServerContext
from ..formation import Trigger
from ._base import Call, Reject, Route
from .chat import answer, record_exchange
from .state import RuntimeState, TrackedRequest

__all__ = ["ROUTES"]

_SOP_NAME = re.compile(r"^[a-zA-Z0-9_-]+$")


async def list_triggers(c: Call) -> None:
    names = sorted(c.rt.triggers)
    await c.ok({"formation_id": c.rt.spec.id, "triggers": names, "count": len(names)}, "list", "list.retrieved")


async def get_trigger(c: Call) -> None:
    name = c.params["trigger_name"]
    trigger = c.rt.triggers.get(name)
    if trigger is None:
        raise Reject(404, f"Trigger '{name}' not found", "TRIGGER_NOT_FOUND")
    await c.ok({"name": name, "content": trigger.content, "data_fields": trigger.data_fields}, "trigger",
               "trigger.retrieved")


def _missing_template(c: Call, name: str) -> Reject:
    directory = c.rt.spec.directory
    where = f"{directory}/triggers/{name}.md" if directory is not None else f"triggers/{name}.md"
    return Reject(404, f"Trigger template '{name}' not found at: {where}", "RESOURCE_NOT_FOUND")


async def fire_trigger(c: Call) -> None:
    name = c.params["trigger_name"]
    trigger = c.rt.triggers.get(name)
    if trigger is None:
        raise _missing_template(c, name)
    if await c.replay():
        return
    message = trigger.render(c.body["data"])
    session_id = c.body.get("session_id")
    if c.body.get("use_async") is not False:
        await c.ok({"status": "processing"}, "request", "request.processing", cache=True)
        tracked = c.rt.track(TrackedRequest(c.request_id, c.storage_user, "processing", c.now))
        ctx, rt, request_id, formation_id = c.ctx, c.rt, c.request_id, c.record.id
        user, admin_key = c.storage_user, c.ctx.admin_key_for(c.record.id)

        async def complete() -> None:
            await _complete(ctx, rt, formation_id, admin_key, trigger, tracked, request_id, user, message)

        c.ctx.background(complete)
        return
    reply = answer(c, message)
    record_exchange(c, message, session_id, reply, c.request_id)
    await c.ok({"status": "completed", "content": reply.text}, "request", "request.completed", cache=True)


async def _complete(
    ctx: ServerContext, rt: RuntimeState, formation_id: str, admin_key: str, trigger: Trigger,
    tracked: TrackedRequest, request_id: str, user: str, message: str,
) -> None:
    started = time.perf_counter()
    error: dict[str, Any] | None = None
    response: list[dict[str, Any]] = []
    reply: ScriptedReply | None = None
    try:
        reply = resolve_reply(ctx.reply, message)
        response = [{"type": "text", "text": reply.text}]
    except Exception as exc:
        error = {"code": "PROCESSING_ERROR", "message": str(exc) or type(exc).__name__, "trace": None}
    elapsed = time.perf_counter() - started
    tracked.status = "failed" if error else "completed"
    tracked.completed_at = ctx.clock()
    tracked.result = reply.text if reply is not None else None
    if trigger.webhook_url is None:
        return
    payload = {
        "id": request_id,
        "object": "response",
        "status": "failed" if error else "completed",
        "timestamp": int(ctx.clock() * 1000),
        "formation_id": formation_id,
        "user_id": user,
        "processing_time": elapsed,
        "processing_mode": "async",
        "webhook_url": trigger.webhook_url,
        "error": error,
        "response": response,
    }
    await ctx.webhooks.deliver(trigger.webhook_url, payload, admin_key)


def _steps(content: str) -> int | None:
    count = sum(1 for line in content.split("\n") if line.strip()[:1].isdigit())
    return count or None


def _agents_used(content: str) -> list[str] | None:
    found: list[str] = []
    for line in content.split("\n"):
        match = re.match(r"^\s*agent:\s*(.+?)\s*$", line, re.IGNORECASE)
        if match and re.match(r"^[a-zA-Z0-9_-]+$", match.group(1)) and match.group(1) not in found:
            found.append(match.group(1))
    return found or None


async def list_sops(c: Call) -> None:
    sops = [{"name": name, "title": name, "type": "template", "steps": _steps(sop.content),
             "agents_used": _agents_used(sop.content)} for name, sop in c.rt.spec.sops.items()]
    await c.ok({"sops": sops, "count": len(sops)}, "sop_list", "sops.list")


async def get_sop(c: Call) -> None:
    name = c.params["sop_name"]
    if not _SOP_NAME.match(name):
        raise Reject(400, f"Invalid SOP name {name!r}: must contain only letters, numbers, hyphens, and underscores",
                     "INVALID_REQUEST")
    sop = c.rt.spec.sops.get(name)
    if sop is None:
        raise Reject(404, f"SOP '{name}' not found", "SOP_NOT_FOUND")
    await c.ok({"name": name, "title": name, "type": "template", "content": sop.content, "metadata": {},
                "references": None, "agents_used": _agents_used(sop.content), "steps": _steps(sop.content)},
               "sop", "sop.retrieved")


ROUTES = [
    Route("GET", "/v1/triggers", "client", list_triggers),
    Route("GET", "/v1/triggers/{trigger_name}", "client", get_trigger),
    Route("POST", "/v1/triggers/{trigger_name}", "client", fire_trigger),
    Route("GET", "/v1/sops", "client", list_sops),
    Route("GET", "/v1/sops/{sop_name}", "client", get_sop),
]
