"""What one formation's runtime holds, in memory: its formation, secrets, buffer, requests, jobs, users.

Touched only on the server's event loop (no locks). Every collection is bounded, like the
runtime's own buffers, so a long benchmark cannot grow the server without limit. Where the
runtime stores data under user ``"0"`` (single-user mode, docs/runtime.md) so does this: the
*storage* user of a call is :attr:`Call.storage_user`.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from .._state import Feed, IdempotencyCache
from ..formation import FormationSpec

__all__ = ["BufferMessage", "IdentifierRecord", "RuntimeState", "Session", "TrackedRequest", "UserRecord"]

MAX_SESSION_MESSAGES = 1_000
MAX_REQUESTS = 10_000
MAX_SESSIONS = 10_000
MAX_AUDIT = 1_000
MAX_JOBS = 10_000


@dataclass
class BufferMessage:
    """One buffer entry, as ``GET /sessions/{id}/messages`` lists it."""

    text: str
    metadata: dict[str, Any]
    timestamp: float

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "metadata": dict(self.metadata), "timestamp": self.timestamp,
                "namespace": "buffer", "embedding": None}


@dataclass
class Session:
    """A conversation: the buffer messages of one (storage user, session id)."""

    session_id: str
    user_id: str
    created_at: float
    last_activity: float
    messages: deque[BufferMessage] = field(default_factory=lambda: deque(maxlen=MAX_SESSION_MESSAGES))


@dataclass
class TrackedRequest:
    """The request tracker's record of one chat or trigger."""

    request_id: str
    user_id: str
    status: str
    created_at: float
    completed_at: float | None = None
    result: Any = None
    progress: Any = None

    def to_json(self, *, with_result: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"request_id": self.request_id, "user_id": self.user_id, "status": self.status,
                               "progress": self.progress, "created_at": self.created_at,
                               "completed_at": self.completed_at}
        if with_result:
            out["result"] = self.result
        return out


@dataclass
class IdentifierRecord:
    identifier: str
    type: str
    created_at: str


@dataclass
class UserRecord:
    muxi_user_id: str
    internal_user_id: int
    identifiers: list[IdentifierRecord] = field(default_factory=list)


class RuntimeState:
    """One formation's runtime data."""

    def __init__(self, spec: FormationSpec, started_at: float) -> None:
        self.spec = spec
        self.started_at = started_at
        self.secrets: dict[str, str] = {}
        self.sessions: OrderedDict[tuple[str, str], Session] = OrderedDict()  # least recently used first
        self.requests: OrderedDict[str, TrackedRequest] = OrderedDict()
        self.jobs: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.users: dict[str, UserRecord] = {}
        self.identifiers: dict[str, str] = {}  # identifier -> muxi_user_id
        self.next_internal_user = 2  # user 1 is the single-user "0"
        self.audit: deque[dict[str, Any]] = deque(maxlen=MAX_AUDIT)
        self.tuning: str | None = None
        self.forget_jobs: dict[str, dict[str, Any]] = {}
        self.rebuild_jobs: dict[str, dict[str, Any]] = {}
        self.ingestions: dict[str, dict[str, Any]] = {}
        self.idempotency = IdempotencyCache()
        self.events: Feed[dict[str, Any]] = Feed()
        self.logs: Feed[dict[str, Any]] = Feed()
        self.triggers = dict(spec.triggers)

    def serve(self, spec: FormationSpec) -> None:
        """Serve another version of the formation (an update or a rollback): its agents, triggers, SOPs."""
        self.spec = spec
        self.triggers = dict(spec.triggers)

    # --- buffer ----------------------------------------------------------------------------------

    def session(self, user_id: str, session_id: str, now: float) -> Session:
        """The session, created when new; the least recently used go beyond ``MAX_SESSIONS``."""
        key = (user_id, session_id)
        found = self.sessions.get(key)
        if found is None:
            found = self.sessions[key] = Session(session_id, user_id, now, now)
            while len(self.sessions) > MAX_SESSIONS:
                self.sessions.popitem(last=False)
        else:
            self.sessions.move_to_end(key)
        return found

    def user_sessions(self, user_id: str) -> list[Session]:
        """A user's sessions, most recent activity first."""
        return sorted((s for (user, _), s in self.sessions.items() if user == user_id),
                      key=lambda s: s.last_activity, reverse=True)

    def buffer_size(self) -> int:
        return sum(len(s.messages) for s in self.sessions.values())

    # --- requests --------------------------------------------------------------------------------

    def track(self, record: TrackedRequest) -> TrackedRequest:
        self.requests[record.request_id] = record
        while len(self.requests) > MAX_REQUESTS:
            self.requests.popitem(last=False)
        return record

    def add_job(self, job: dict[str, Any]) -> None:
        self.jobs[job["id"]] = job
        while len(self.jobs) > MAX_JOBS:
            self.jobs.popitem(last=False)
