"""Memory: the buffer (client and admin views), long-term memories, ingestion, history, maintenance.

The runtime's answers depend on the formation's persistent memory, and that is what decides here:

- no persistent memory (``memory.persistent: false``): memories list empty, writes 503
  ``Persistent memory not configured``, the event substrate (provenance, rebuild, backfill,
  forget) 503;
- SQLite (the default): the memory routes fail inside the runtime (500, its own messages, as
  recorded -- docs/runtime.md lists them) while batch ingestion, provenance and forget work.

Most of these routes want ``X-Muxi-User-ID`` whatever the key (400 ``X-Muxi-User-ID header is
required``); clearing a buffer wants it only with the client key. The user buffer view reads the
header's user while chats are stored under ``"0"`` in single-user mode, so a user other than
``"0"`` sees an empty buffer, as on the runtime.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from .._wire import new_id
from ._base import USER_REQUIRED, USER_REQUIRED_CLIENT, Call, Reject, Route

__all__ = ["ROUTES"]

NO_PERSISTENT = "Persistent memory not configured"
NO_SUBSTRATE = "Memory event substrate is not available"
NO_DISTILLERY = "Memory distillery is not enabled for this formation (memory.distillery.enabled)"
NO_LINT = "Memory lint is not configured (declare a 'memory.lint' block)"
# What the runtime's SQLite store answers (its own bugs; docs/runtime.md).
SQLITE_LIST = "Failed to retrieve memories: 'SQLiteMemory' object has no attribute 'list_memories'"
SQLITE_ADD = "Failed to create memory: SQLiteMemory.add() got an unexpected keyword argument 'external_user_id'"
SQLITE_DELETE = "Failed to delete memory: 'SQLiteMemory' object has no attribute 'delete'"
EMBEDDING_MISSING = (
    "[local/nomic-ai/nomic-embed-text-v1.5] Repo has no ONNX weights and sentence-transformers is not installed. "
    "Either pick a model that ships ONNX weights (e.g. local/nomic-ai/nomic-embed-text-v1.5) or install the "
    "PyTorch fallback: pip install 'onellm[local-pytorch]' (Provider: local)"
)
PROJECTIONS = ("artifact_metadata", "captains_log", "flat_facts", "knowledge_graph")
# The classifier of batch ingestion loads another local model, which is missing offline as well.
CLASSIFIER_MISSING = EMBEDDING_MISSING.replace("[local/nomic-ai/nomic-embed-text-v1.5]",
                                               "[local/Xenova/multilingual-e5-small]", 1)
USAGE_FIELDS = ["total", "in", "out", "total_cached", "in_cached", "out_cached"]
USAGE = [10, 770, 10, 0, 0, 0]  # as recorded for one item with the fake model


def _persistent(c: Call, message: str = NO_PERSISTENT) -> None:
    if not c.rt.spec.persistent_memory:
        raise Reject(503, message, "SERVICE_UNAVAILABLE")


def _distillery(c: Call) -> None:
    memory = c.rt.spec.config.get("memory")
    distillery = memory.get("distillery") if isinstance(memory, dict) else None
    if not (isinstance(distillery, dict) and distillery.get("enabled")):
        raise Reject(503, NO_DISTILLERY, "SERVICE_UNAVAILABLE")


# --- buffer --------------------------------------------------------------------------------------


async def stats(c: Call) -> None:
    sessions = [s for s in c.rt.sessions.values() if s.messages]
    users = {s.user_id for s in sessions}
    await c.ok({"total_entries": c.rt.buffer_size(), "total_users": max(1, len(users)),
                "total_sessions": len(sessions), "buffer_size_kb": 0.0, "max_size": 0, "utilization": 0.0},
               "memory", "memory.retrieved")


async def user_buffer(c: Call) -> None:
    user = c.require_user(USER_REQUIRED, admin_too=True)
    assert user is not None
    total = sum(len(s.messages) for (owner, _), s in c.rt.sessions.items() if owner == user)
    await c.ok({"user_id": user, "total_messages": total, "sessions": [], "buffer_size_kb": round(total * 0.2, 2)},
               "memory", "memory.buffer.status")


def _clear(c: Call, user: str | None, session_id: str | None = None) -> tuple[int, int]:
    messages = sessions = 0
    for (owner, sid), session in c.rt.sessions.items():
        if owner == user and (session_id is None or sid == session_id) and session.messages:
            messages += len(session.messages)
            sessions += 1
            session.messages.clear()
    return messages, sessions


async def clear_user_buffer(c: Call) -> None:
    user = c.require_user(USER_REQUIRED_CLIENT)
    messages, sessions = _clear(c, user)
    await c.ok({"message": "Buffer cleared successfully", "user_id": user, "messages_cleared": messages,
                "sessions_cleared": sessions}, "message", "memory.buffer.user.cleared")


async def clear_session_buffer(c: Call) -> None:
    user = c.require_user(USER_REQUIRED_CLIENT)
    session_id = c.params["session_id"]
    messages, _ = _clear(c, user, session_id)
    await c.ok({"message": "Session buffer cleared successfully", "user_id": user, "session_id": session_id,
                "messages_cleared": messages}, "message", "memory.buffer.session.cleared")


async def all_buffers(c: Call) -> None:
    await c.ok({"buffers": [{"total_entries": c.rt.buffer_size(), "max_size": 0, "utilization": 0,
                             "kv_namespaces": {}}]}, "list", "memory.list")


async def clear_all_buffers(c: Call) -> None:
    if not c.rt.buffer_size():  # an empty buffer is falsy to the runtime's handler
        raise Reject(503, "Buffer memory is not available", "SERVICE_UNAVAILABLE")
    raise Reject(500, "MEMORY_BUFFER_CLEARED", "INTERNAL_ERROR")  # it names an event type that does not exist


# --- long-term memories ----------------------------------------------------------------------------


async def list_memories(c: Call) -> None:
    c.require_user(admin_too=True)
    if c.rt.spec.persistent_memory:
        raise Reject(500, SQLITE_LIST, "INTERNAL_ERROR")
    await c.ok({"memories": [], "count": 0}, "memory_list", "memory.list")


async def add_memory(c: Call) -> None:
    c.require_user(admin_too=True)
    _persistent(c)
    if not c.body.get("content") and not c.body.get("detail"):
        raise Reject(422, "Either 'content' or 'detail' must be provided", "INVALID_PARAMS")
    raise Reject(500, SQLITE_ADD, "INTERNAL_ERROR")


async def delete_memory(c: Call) -> None:
    c.require_user(admin_too=True)
    _persistent(c)
    raise Reject(500, SQLITE_DELETE, "INTERNAL_ERROR")


async def ingest_batch(c: Call) -> None:
    c.require_user(admin_too=True)
    _persistent(c)
    items = c.body["items"]
    if not items:
        raise Reject(422, "'items' must contain at least one item", "INVALID_PARAMS")
    results: list[dict[str, Any]] = []
    counts = {"accepted": 0, "duplicate": 0, "invalid": 0}
    for index, item in enumerate(items):
        source = item.get("source") if isinstance(item, dict) else None
        if not isinstance(source, str) or not source:
            results.append({"status": "invalid", "error": "'source' is required and must be a non-empty string "
                            "(e.g. \"gmail\")", "index": index})
            counts["invalid"] += 1
        else:
            results.append({"status": "accepted", "event_id": new_id("", 21), "index": index})
            counts["accepted"] += 1
    data: dict[str, Any] = {"processing_id": None, "items": results, "counts": counts}
    if counts["accepted"]:
        processing_id = new_id("ing_")
        data["processing_id"] = processing_id
        data["status_url"] = f"/v1/memories/ingestion/{processing_id}"
        c.rt.ingestions[processing_id] = _ingested(c, processing_id, items, results)
    await c.ok(data, "memory_ingestion", "memory.ingestion.accepted")


def _ingested(c: Call, processing_id: str, items: list[Any], results: list[dict[str, Any]]) -> dict[str, Any]:
    """The finished ingestion job, as recorded: items classified (the classifier model is missing
    offline, so every item is ``unknown`` and stored), one model call per item."""
    done = [r for r in results if r["status"] == "accepted"]
    model = _text_model(c)
    usage = [n * len(done) for n in USAGE]
    return {
        "processing_id": processing_id, "status": "completed", "created_at": c.now,
        "completed_at": datetime.fromtimestamp(c.now, tz=timezone.utc).isoformat(),
        "items": [{
            "source": items[r["index"]].get("source"), "source_id": items[r["index"]].get("source_id"),
            "classify_error": CLASSIFIER_MISSING, "classification": {"category": "unknown", "margin": 0.0},
            "filter_level": "strict", "tier": 2, "tier_reason": "category:unknown", "facts_extracted": 0,
            "graph_extractions": 0, "disposition": "stored", "index": r["index"], "event_id": r["event_id"],
        } for r in done],
        "counts": {"stored": len(done), "filtered": 0, "failed": 0},
        "usage": {"fields": USAGE_FIELDS, "total": usage, "breakdown": {model: usage}},
    }


def _text_model(c: Call) -> str:
    llm = c.rt.spec.config.get("llm")
    models = llm.get("models") if isinstance(llm, dict) else None
    for entry in models if isinstance(models, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("text"), str):
            return str(entry["text"])
    return "openai/gpt-4o-mini"


async def ingestion_status(c: Call) -> None:
    c.require_user()
    processing_id = c.params["processing_id"]
    job = c.rt.ingestions.get(processing_id)
    if job is not None:
        await c.ok(dict(job), "memory_ingestion", "memory.ingestion.status")
        return
    raise Reject(404, f"Unknown or expired processing_id '{processing_id}' (completed results are retained for 5 "
                 "minutes)", "NOT_FOUND")


async def provenance(c: Call) -> None:
    c.require_user(admin_too=True)
    entity, event_id = c.query.get("entity"), c.query.get("event_id")
    if not entity and not event_id:
        raise Reject(422, "Provide 'entity' (a knowledge graph entity name) or 'event_id'", "INVALID_PARAMS")
    _persistent(c, NO_SUBSTRATE)
    if event_id:
        raise Reject(404, f"Unknown event '{event_id}'", "NOT_FOUND")
    raise Reject(404, f"Unknown entity '{entity}'", "NOT_FOUND")


async def history(c: Call) -> None:
    c.require_user(admin_too=True)
    await c.ok({"entries": [], "count": 0}, "memory", "memory.retrieved")


async def distilled(c: Call) -> None:
    _distillery(c)
    raise Reject(422, "'items' must contain at least one item", "INVALID_PARAMS")


async def distilled_status(c: Call) -> None:
    _distillery(c)
    raise Reject(404, f"Unknown or expired processing_id '{c.params['processing_id']}'", "NOT_FOUND")


# --- maintenance (admin) ---------------------------------------------------------------------------


async def rebuild(c: Call) -> None:
    _persistent(c, NO_SUBSTRATE)
    dry_run = bool(c.body.get("dry_run"))
    user_id = c.body["user_id"]
    if not dry_run and c.body.get("background", True):
        # As recorded: a background job that fails once it needs the embedding model.
        job_id = new_id("rebuild_")
        c.rt.rebuild_jobs[job_id] = {"job_id": job_id, "status": "failed", "error": EMBEDDING_MISSING}
        await c.ok({"user_id": user_id, "job_id": job_id, "status": "processing",
                    "status_url": f"/memory/rebuild/{job_id}"}, "memory", "memory.retrieved", status=202)
        return
    if not dry_run:
        raise Reject(500, f"Failed to rebuild projections: {EMBEDDING_MISSING}", "INTERNAL_ERROR")
    await c.ok({"user_id": c.body["user_id"], "dry_run": dry_run, "projections": {
        name: {"events": 0, "applied": 0, "failed": 0, "dry_run": dry_run} for name in PROJECTIONS}},
        "memory", "memory.retrieved")


async def rebuild_status(c: Call) -> None:
    job = c.rt.rebuild_jobs.get(c.params["job_id"])
    if job is not None:
        await c.ok(dict(job), "memory", "memory.retrieved")
        return
    raise Reject(404, f"Unknown or expired rebuild job '{c.params['job_id']}'", "NOT_FOUND")


async def lint(c: Call) -> None:
    raise Reject(503, NO_LINT, "SERVICE_UNAVAILABLE")


async def backfill(c: Call) -> None:
    _persistent(c, NO_SUBSTRATE)
    # Backfilling embeds events; the runtime's default local embedding model is not available offline.
    raise Reject(500, f"Failed to backfill memory events: {EMBEDDING_MISSING}", "INTERNAL_ERROR")


async def forget(c: Call) -> None:
    _persistent(c, NO_SUBSTRATE)
    done = {"user_id": c.body["user_id"], "source": c.body["source"], "deleted_events": 0, "grace_period_days": 30}
    if c.body.get("rebuild") is False:
        await c.ok({**done, "rebuild_required": list(PROJECTIONS)}, "memory", "memory.deleted")
        return
    if c.query.get("sync") or c.body.get("background") is False:
        raise Reject(500, f"Failed to forget memory source: {EMBEDDING_MISSING}", "INTERNAL_ERROR")
    job_id = new_id("forget_")
    c.rt.forget_jobs[job_id] = {"job_id": job_id, "status": "failed", "error": EMBEDDING_MISSING}
    await c.ok({"user_id": c.body["user_id"], "source": c.body["source"], "deleted_events": 0,
                "grace_period_days": 30, "job_id": job_id, "status": "processing",
                "status_url": f"/memory/forget/{job_id}"}, "memory", "memory.deleted", status=202)


async def forget_status(c: Call) -> None:
    job = c.rt.forget_jobs.get(c.params["job_id"])
    if job is None:
        raise Reject(404, f"Unknown or expired forget job '{c.params['job_id']}'", "NOT_FOUND")
    await c.ok(dict(job), "memory", "memory.retrieved")


async def distilleries(c: Call) -> None:
    _distillery(c)
    await c.ok({"distilleries": [], "count": 0}, "list", "memory.list")


async def register_distillery(c: Call) -> None:
    _distillery(c)
    raise Reject(422, "Invalid public key", "INVALID_PARAMS")


async def revoke_distillery(c: Call) -> None:
    _distillery(c)
    raise Reject(404, f"Distillery '{c.params['distillery_id']}' not found", "NOT_FOUND")


ROUTES = [
    Route("GET", "/v1/memory/stats", "admin", stats),
    Route("POST", "/v1/memory/rebuild", "admin", rebuild),
    Route("POST", "/v1/memory/lint", "admin", lint),
    Route("GET", "/v1/memory/rebuild/{job_id}", "admin", rebuild_status),
    Route("GET", "/v1/memory/forget/{job_id}", "admin", forget_status),
    Route("POST", "/v1/memory/backfill", "admin", backfill),
    Route("POST", "/v1/memory/forget", "admin", forget),
    Route("GET", "/v1/memory/distilleries", "admin", distilleries),
    Route("POST", "/v1/memory/distilleries", "admin", register_distillery),
    Route("DELETE", "/v1/memory/distilleries/{distillery_id}", "admin", revoke_distillery),
    Route("GET", "/v1/memory/buffers", "admin", all_buffers),
    Route("DELETE", "/v1/memory/buffers", "admin", clear_all_buffers),
    Route("GET", "/v1/memories", "either", list_memories),
    Route("POST", "/v1/memories", "either", add_memory),
    Route("POST", "/v1/memories/batch", "either", ingest_batch),
    Route("GET", "/v1/memories/ingestion/{processing_id}", "either", ingestion_status),
    Route("GET", "/v1/memories/provenance", "either", provenance),
    Route("DELETE", "/v1/memories/{memory_id}", "either", delete_memory),
    Route("GET", "/v1/history", "either", history),
    Route("GET", "/v1/memory/buffer", "either", user_buffer),
    Route("DELETE", "/v1/memory/buffer", "either", clear_user_buffer),
    Route("DELETE", "/v1/memory/buffer/{session_id}", "either", clear_session_buffer),
    Route("POST", "/v1/memories/distilled", "either", distilled),
    Route("GET", "/v1/memories/distilled/{processing_id}", "either", distilled_status),
]
