"""Admin operations: the audit log, tuning (``MUXI.md``), knowledge rebuilds; and the skills routes.

As recorded (``tests/fixtures/runtime/*/{audit,tuning,agents}.json``): the audit log records its
own clearing (nothing else in this runtime release); tuning content lives beside the formation
(the local server keeps it in memory and never writes your directory); the skills routes fail
inside the runtime (500, its own messages).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from ._base import Call, Reject, Route
from .config import find_agent

__all__ = ["ROUTES"]

SKILLS_LIST_BUG = "create_success_response() missing 2 required positional arguments: 'object_type' and 'event_type'"
SKILL_GET_BUG = "create_error_response() got an unexpected keyword argument 'status_code'"
CONFIRM = "clear-audit-log"


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat()


async def get_audit(c: Call) -> None:
    since = c.query.get("since")
    cutoff = None
    if since:
        try:
            cutoff = datetime.fromisoformat(since.replace("Z", "+00:00"))
        except ValueError:
            raise Reject(400, f"Invalid timestamp format: {since}. Use ISO 8601 format.", "INVALID_PARAMETER"
                         ) from None
    entries = [dict(e) for e in reversed(c.rt.audit)]
    if c.query.get("action"):
        entries = [e for e in entries if e["action"] == c.query["action"]]
    if c.query.get("resource_type"):
        entries = [e for e in entries if e["resource_type"] == c.query["resource_type"]]
    if cutoff is not None:
        moment = cutoff if cutoff.tzinfo else cutoff.replace(tzinfo=timezone.utc)
        entries = [e for e in entries if datetime.fromisoformat(e["timestamp"]) >= moment]
    entries = entries[: c.query["limit"]]
    await c.ok({"entries": entries, "total_entries": len(entries), "limit": c.query["limit"]}, "audit_log",
               "audit.retrieved")


async def clear_audit(c: Call) -> None:
    if c.query.get("confirm") != CONFIRM:
        raise Reject(400, f"Confirmation required: add ?confirm={CONFIRM} to delete", "INVALID_REQUEST")
    cleared = len(c.rt.audit)
    c.rt.audit.clear()
    c.rt.audit.append({
        "timestamp": _iso(c.now), "request_id": c.request_id, "action": "audit.cleared", "resource_type": "audit_log",
        "resource_id": c.rt.spec.id, "user": "admin", "ip": None, "result": "success", "status_code": 200,
        "message": f"Audit log cleared by admin ({cleared} entries removed)",
        "data": {"previous_entries_count": cleared},
    })
    await c.ok({"previous_entries_count": cleared, "cleared_by": "admin",
                "message": f"Audit log cleared ({cleared} entries removed)"}, "audit_log", "audit.cleared")


def _tuning_path(c: Call, name: str) -> str:
    directory = c.rt.spec.directory
    return f"{directory}/{name}" if directory is not None else name


async def get_tuning(c: Call) -> None:
    content = c.rt.tuning
    await c.ok({"content": content.strip() if content is not None else None,
                "path": _tuning_path(c, "MUXI.md") if content is not None else None}, "tuning", "tuning.retrieved")


async def replace_tuning(c: Call) -> None:
    c.rt.tuning = c.body["content"]
    await c.ok({"path": _tuning_path(c, "MUXI.md"), "bytes": len(c.rt.tuning.encode())}, "tuning", "tuning.updated")


async def get_pending(c: Call) -> None:
    await c.ok({"content": None, "path": _tuning_path(c, "PENDING-MUXI.md")}, "tuning", "tuning.pending.retrieved")


async def dismiss_pending(c: Call) -> None:
    raise Reject(404, "No pending MUXI.md suggestion to dismiss", "TUNING_NO_PENDING")


async def apply_pending(c: Call) -> None:
    raise Reject(404, "No pending MUXI.md suggestion to apply", "TUNING_NO_PENDING")


async def run_tuning(c: Call) -> None:
    # Recorded: with persistent memory the run stops before the tuner; without, the tuner runs and
    # (with no real model behind it) skips its suggestion.
    tuner = not c.rt.spec.persistent_memory
    data: dict[str, Any] = {
        "trigger": "manual", "events_read": 0, "segments_read": 1, "entries_written": 0, "dropped_sentences": 0,
        "spool_committed": tuner, "spool_segments_kept": False, "benchmark_suites_run": [],
        "benchmark_skipped": "bench harness not configured ($MUXI_BENCH_ROOT)",
    }
    if tuner:
        data.update(learnings_retired=0, tuner_skipped="unparseable_response")
    data["duration_ms"] = 1.0
    await c.ok(data, "tuning_run", "tuning.run.completed")


def _knowledge_agents(c: Call) -> list[str]:
    return [str(a.get("id")) for a in c.rt.spec.agents] + ["muxi-generalist"]


async def rebuild_knowledge(c: Call) -> None:
    agent_id = c.body.get("agent_id") if isinstance(c.body, dict) else None
    if agent_id:
        find_agent(c, agent_id)
        names = [agent_id]
    else:
        names = _knowledge_agents(c)
    result: dict[str, Any] = {name: {"rebuilt": [], "failed": [], "skipped": []} for name in names}
    await c.ok({"agents": result, "source_id": c.body.get("source_id") if isinstance(c.body, dict) else None},
               "knowledge", "knowledge.trees.rebuilt")


async def sync_knowledge(c: Call) -> None:
    agent = find_agent(c, c.params["agent_id"])
    raise Reject(400, f"Agent '{agent.get('id')}' has no remote knowledge sources", "INVALID_REQUEST")


async def list_skills(c: Call) -> None:
    raise Reject(500, SKILLS_LIST_BUG, "INTERNAL_ERROR")


async def get_skill(c: Call) -> None:
    raise Reject(500, SKILL_GET_BUG, "INTERNAL_ERROR")


ROUTES = [
    Route("GET", "/v1/audit", "admin", get_audit),
    Route("DELETE", "/v1/audit", "admin", clear_audit),
    Route("GET", "/v1/tuning", "admin", get_tuning),
    Route("POST", "/v1/tuning", "admin", replace_tuning),
    Route("GET", "/v1/tuning/pending", "admin", get_pending),
    Route("DELETE", "/v1/tuning/pending", "admin", dismiss_pending),
    Route("PATCH", "/v1/tuning/pending", "admin", apply_pending),
    Route("POST", "/v1/tuning/run", "admin", run_tuning),
    Route("POST", "/v1/knowledge/rebuild", "admin", rebuild_knowledge),
    Route("POST", "/v1/agents/{agent_id}/knowledge/sync", "admin", sync_knowledge),
    Route("GET", "/v1/skills", "client", list_skills),
    Route("GET", "/v1/skills/{skill_name}", "client", get_skill),
    Route("GET", "/v1/agents/{agent_id}/skills", "client", list_skills),
]
