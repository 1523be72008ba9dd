"""The scheduler: its configuration and jobs (``GET /scheduler/jobs`` takes either key, the rest admin).

As recorded (``tests/fixtures/runtime/*/scheduler*.json``) and in the runtime's order: the admin key
check (401 ``Admin API key required for this endpoint``), the job type (400 ``VALIDATION_ERROR``),
the schedule -- a cron expression for ``recurring``, a future ISO 8601 datetime for ``one_time``
(422 ``VALIDATION_ERROR`` with ``{field, value, expected, error}``) -- then persistent memory (422
``UNPROCESSABLE_ENTITY``) and the scheduler service, which runs only when the formation says
``scheduler.enabled: true`` (503 otherwise). Updating a one-time job fails inside the runtime
(500); updating a recurring one replaces it with a new job owned by ``"0"``.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from .._wire import new_id
from ._base import USER_REQUIRED_CLIENT, Call, Reject, Route

__all__ = ["ROUTES", "cron_error"]

UNAVAILABLE = "Scheduler is not available or not enabled"
CRON_EXAMPLE = "Valid cron expression (e.g., '0 9 * * 1')"
ISO_EXAMPLE = "ISO 8601 datetime (e.g., '2025-10-25T14:00:00Z')"
COLUMNS = "Exactly 5, 6 or 7 columns has to be specified for iterator expression."
_NAMES = {
    3: {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                                    "dec"), start=1)},
    4: {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))},
}
# minute, hour, day of month, month, day of week, then croniter's optional second and year columns.
_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7), (0, 59), (1970, 2099))
_TOKEN = re.compile(r"^(\*|\?|[0-9a-z]+(?:-[0-9a-z]+)?)(?:/([0-9]+))?$")


def _number(text: str, index: int) -> int | None:
    if text.isdigit():
        return int(text)
    return _NAMES.get(index, {}).get(text)


def cron_error(expression: str) -> str | None:
    """What croniter says about ``expression`` (the texts the runtime puts in ``error``), None when valid."""
    fields = expression.split()
    if len(fields) not in (5, 6, 7):
        return COLUMNS
    for index, field in enumerate(fields):
        low, high = _RANGES[index]
        for part in field.lower().split(","):
            match = _TOKEN.match(part)
            if match is None:
                return f"[{expression}] is not acceptable"
            base, step = match.group(1), match.group(2)
            if step is not None and int(step) == 0:
                return f"[{expression}] is not acceptable"
            if base in ("*", "?"):
                continue
            bounds = [_number(piece, index) for piece in base.split("-")]
            if any(b is None for b in bounds):
                return f"[{expression}] is not acceptable"
            if any(not low <= b <= high for b in bounds if b is not None):
                return f"[{expression}] is not acceptable, out of range"
    return None


def _iso(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _go_time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat()


def _service(c: Call) -> None:
    section = c.rt.spec.config.get("scheduler")
    enabled = isinstance(section, dict) and section.get("enabled") is True
    if not (enabled and c.rt.spec.persistent_memory):
        raise Reject(503, UNAVAILABLE, "SERVICE_UNAVAILABLE")


def _job(c: Call) -> dict[str, Any]:
    _service(c)
    job = c.rt.jobs.get(c.params["job_id"])
    if job is None:
        raise Reject(404, f"Scheduled job '{c.params['job_id']}' not found", "RESOURCE_NOT_FOUND")
    return job


async def list_jobs(c: Call) -> None:
    user = c.require_user(USER_REQUIRED_CLIENT)
    jobs = [dict(j) for j in reversed(c.rt.jobs.values()) if user is None or j["user_id"] == user]
    await c.ok({"jobs": jobs, "count": len(jobs)}, "scheduled_job_list", "scheduler.jobs.list")


def _new_job(c: Call, user: str, title: str, prompt: str, cron: str | None, at: datetime | None) -> dict[str, Any]:
    now = _go_time(datetime.fromtimestamp(c.now, tz=timezone.utc))
    return {
        "id": new_id("job_", 16), "user_id": user, "title": title, "original_prompt": prompt,
        "execution_prompt": prompt, "is_recurring": cron is not None, "cron_expression": cron,
        "scheduled_for": None if at is None else _go_time(at), "exclusion_rules": [], "status": "ACTIVE",
        "created_at": now, "updated_at": now, "last_run_at": None, "last_run_status": None,
        "last_run_failure_message": None, "total_runs": 0, "total_failures": 0, "consecutive_failures": 0,
        "job_metadata": {},
    }


async def create_job(c: Call) -> None:
    c.require_admin()
    if await c.replay():
        return
    kind, schedule, message = c.body["type"], c.body["schedule"], c.body["message"]
    user = c.user_id or "0"
    if kind not in ("one_time", "recurring"):
        raise Reject(400, f"Invalid job type '{kind}'. Must be 'one_time' or 'recurring'", "VALIDATION_ERROR")
    at = None
    if kind == "recurring":
        problem = cron_error(schedule)
        if problem is not None:
            raise Reject(422, "Invalid cron expression for recurring job", "VALIDATION_ERROR",
                         {"field": "schedule", "value": schedule, "expected": CRON_EXAMPLE, "error": problem})
    else:
        try:
            at = _iso(schedule)
        except ValueError as exc:
            raise Reject(422, "Invalid datetime format for one_time job", "VALIDATION_ERROR",
                         {"field": "schedule", "value": schedule, "expected": ISO_EXAMPLE, "error": str(exc)}) from None
        if at.timestamp() <= c.now:
            raise Reject(422, "Schedule datetime must be in the future", "VALIDATION_ERROR",
                         {"field": "schedule", "value": schedule, "expected": "Future ISO 8601 datetime"})
    if not c.rt.spec.persistent_memory:
        raise Reject(422, "Scheduler jobs require persistent memory", "UNPROCESSABLE_ENTITY", {
            "reason": "Formation has no persistent memory configured",
            "required": "Configure memory.persistent in formation (PostgreSQL or MySQL)"})
    _service(c)
    job = _new_job(c, user, message[:500], message, schedule if kind == "recurring" else None, at)
    c.rt.add_job(job)
    await c.ok(dict(job), "scheduled_job", "scheduler.job.created", status=201, cache=True)


async def get_job(c: Call) -> None:
    c.require_admin()
    await c.ok(dict(_job(c)), "scheduled_job", "scheduler.job.retrieved")


async def update_job(c: Call) -> None:
    c.require_admin()
    old = _job(c)
    if not old["is_recurring"]:  # the runtime compares the stored text with a datetime
        raise Reject(500, "Failed to update scheduled job: '<=' not supported between instances of 'str' and "
                     "'datetime.datetime'", "INTERNAL_ERROR")
    schedule = c.body.get("schedule") or old["cron_expression"]
    problem = cron_error(schedule)
    if problem is not None:
        raise Reject(500, f"Failed to update scheduled job: Invalid cron expression: {problem}", "INTERNAL_ERROR")
    message = c.body.get("message") or old["original_prompt"]
    title = c.body.get("title") or f"Updated: {old['title']}"
    del c.rt.jobs[old["id"]]
    job = _new_job(c, "0", title, message, schedule, None)
    c.rt.add_job(job)
    await c.ok(dict(job), "scheduled_job", "scheduler.job.updated")


async def delete_job(c: Call) -> None:
    c.require_admin()
    job = _job(c)
    del c.rt.jobs[job["id"]]
    await c.ok({"message": f"Scheduled job '{job['id']}' removed successfully"}, "message", "scheduler.job.deleted")


async def _transition(c: Call, want: str, to: str, event: str) -> None:
    c.require_admin()
    _service(c)
    job_id = c.params["job_id"]
    job = c.rt.jobs.get(job_id)
    if job is None or job["status"] != want:
        raise Reject(404, f"Scheduled job '{job_id}' not found or not in {want} state", "RESOURCE_NOT_FOUND")
    job["status"] = to
    await c.ok({"id": job_id, "status": to}, "scheduled_job", event)


async def pause_job(c: Call) -> None:
    await _transition(c, "ACTIVE", "PAUSED", "scheduler.job.paused")


async def resume_job(c: Call) -> None:
    await _transition(c, "PAUSED", "ACTIVE", "scheduler.job.resumed")


ROUTES = [
    Route("GET", "/v1/scheduler/jobs", "either", list_jobs),
    Route("POST", "/v1/scheduler/jobs", "either", create_job),
    Route("GET", "/v1/scheduler/jobs/{job_id}", "either", get_job),
    Route("PUT", "/v1/scheduler/jobs/{job_id}", "either", update_job),
    Route("DELETE", "/v1/scheduler/jobs/{job_id}", "either", delete_job),
    Route("POST", "/v1/scheduler/jobs/{job_id}/pause", "either", pause_job),
    Route("POST", "/v1/scheduler/jobs/{job_id}/resume", "either", resume_job),
]
