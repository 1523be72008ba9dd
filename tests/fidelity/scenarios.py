"""What the fidelity suite sends: every operation of the runtime's OpenAPI, success and error paths.

A :class:`Scenario` is a list of steps played in order against one formation (see
:mod:`tests.fidelity.wire`). Strings may hold ``<<name>>`` placeholders: the scenario's variables
(made unique per run from ``<<tag>>``) and values captured from earlier answers (a job id, a
request id). Recordings keep the placeholders, so a re-recording differs only where the runtime did.

Formations (``tests/runtime/formations/``):

- ``default``: SQLite persistent memory (the runtime's default, single-user), a scheduler, two
  triggers (one with a webhook), one SOP, one agent;
- ``bare``: ``memory.persistent: false``, no scheduler section, ``async`` / ``a2a`` / ``logging``
  sections, two agents, one trigger;
- ``multiuser``: SQLite persistent memory with ``multi_user: true``.

Each step says how its answer is compared with the local server's (``compare``): ``"shape"`` (key
paths and types, envelope ``object``/``type``, error code and message) or ``"values"`` (the whole
normalised body). ``differs`` marks a step whose local answer is known to differ, with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .wire import Exchange

__all__ = ["NO_BODY", "SCENARIOS", "Hook", "Poll", "Raw", "Req", "Scenario", "Step", "scenarios_for"]


class _NoBody:
    def __repr__(self) -> str:
        return "NO_BODY"


NO_BODY: Any = _NoBody()


@dataclass(frozen=True)
class Raw:
    """A body sent as these exact bytes."""

    data: bytes
    content_type: str = "application/json"


Capture = Callable[["Exchange"], Any]


@dataclass(frozen=True)
class Req:
    """One HTTP request. ``key``: admin | client | both | none | wrong-admin | wrong-client."""

    name: str
    method: str
    path: str
    key: str = "admin"
    user: str | None = None
    body: Any = NO_BODY
    headers: Mapping[str, str] = field(default_factory=dict)
    accept: str | None = None
    capture: Mapping[str, Capture] = field(default_factory=dict)
    stream_seconds: float = 60.0
    """How long to read an SSE answer at most (never-ending streams stop here)."""
    stream_until: tuple[str, ...] = ("done", "error")
    timeout: float = 60.0
    compare: str = "shape"
    differs: str | None = None


@dataclass(frozen=True)
class Poll:
    """Repeat ``req`` until ``until(exchange)`` holds (or ``timeout``); the last answer is recorded."""

    req: Req
    until: Callable[[Exchange], bool]
    timeout: float = 60.0
    interval: float = 0.2

    @property
    def name(self) -> str:
        return self.req.name


@dataclass(frozen=True)
class Hook:
    """Wait for a webhook whose JSON ``match(payload, variables)`` accepts; records headers and body."""

    name: str
    match: Callable[[Any, dict[str, str]], bool]
    timeout: float = 90.0
    headers: tuple[str, ...] = ("content-type", "x-muxi-signature", "x-muxi-timestamp")
    compare: str = "shape"
    differs: str | None = None


Step = Req | Poll | Hook


@dataclass(frozen=True)
class Scenario:
    """Steps played in order on one formation; ``variables`` are templates over ``{tag}``."""

    name: str
    steps: tuple[Step, ...]
    formations: tuple[str, ...] = ("default",)
    variables: Mapping[str, str] = field(default_factory=dict)


# --- helpers ---------------------------------------------------------------------------------------


def get(name: str, path: str, **kw: Any) -> Req:
    return Req(name, "GET", path, **kw)


def listen(name: str, path: str, **kw: Any) -> Req:
    """A never-ending stream, read for 1.5 s (the events that arrive meanwhile are recorded)."""
    return Req(name, "GET", path, stream_seconds=1.5, stream_until=("never",), **kw)


def post(name: str, path: str, body: Any = NO_BODY, **kw: Any) -> Req:
    return Req(name, "POST", path, body=body, **kw)


def put(name: str, path: str, body: Any = NO_BODY, **kw: Any) -> Req:
    return Req(name, "PUT", path, body=body, **kw)


def delete(name: str, path: str, **kw: Any) -> Req:
    return Req(name, "DELETE", path, **kw)


def data(*path: str | int) -> Capture:
    """Capture ``body["data"][path...]``."""

    def getter(exchange: Exchange) -> Any:
        value: Any = exchange.body["data"]
        for part in path:
            value = value[part]
        return value

    return getter


def token(field_name: str) -> Capture:
    """Capture a field of the first ``token`` frame of a chat stream."""

    def getter(exchange: Exchange) -> Any:
        for item in exchange.events or []:
            payload = item.get("data")
            if isinstance(payload, dict) and isinstance(payload.get("token"), dict):
                return payload["token"][field_name]
        raise KeyError("no token frame")

    return getter


def _status_is(*statuses: str) -> Callable[[Exchange], bool]:
    def until(exchange: Exchange) -> bool:
        try:
            return exchange.body["data"]["status"] in statuses
        except (KeyError, TypeError):
            return False

    return until


def _future(days: int) -> str:
    moment = datetime.now(timezone.utc) + timedelta(days=days)
    return moment.replace(hour=9, minute=0, second=0, microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


FUTURE = _future(30)  # recordings normalise ISO datetimes, so the date itself never shows
PAST = "2020-01-01T09:00:00Z"
USER = {"user": "alice-{tag}", "other": "bob-{tag}"}
BIG_MESSAGE = "x" * 100_001


# --- health, root, routing, keys -------------------------------------------------------------------

HEALTH = Scenario("health_and_routing", (
    get("health", "/v1/health", key="none", compare="values"),
    get("health_with_key", "/v1/health"),
    get("root_v1", "/v1/", key="none"),
    get("root_v1_v1", "/v1/v1", key="none"),
    get("unknown_route", "/v1/no-such-route"),
    get("unknown_route_no_key", "/v1/no-such-route", key="none"),
    Req("wrong_method_health", "POST", "/v1/health", key="none"),
    Req("wrong_method_secrets", "PATCH", "/v1/secrets"),
    get("openapi", "/openapi.json", key="none", compare="openapi"),
))

KEYS = Scenario("keys", (
    get("admin_route_no_key", "/v1/status", key="none"),
    get("admin_route_wrong_key", "/v1/status", key="wrong-admin"),
    get("admin_route_client_key", "/v1/status", key="client"),
    post("client_route_no_key", "/v1/chat", {"message": "hi", "stream": False}, key="none"),
    post("client_route_admin_key", "/v1/chat", {"message": "hi", "stream": False}, key="admin"),
    post("client_route_wrong_key", "/v1/chat", {"message": "hi", "stream": False}, key="wrong-client"),
    get("either_route_no_key", "/v1/requests", key="none"),
    get("either_route_wrong_client", "/v1/requests", key="wrong-client"),
    get("either_route_wrong_admin", "/v1/requests", key="wrong-admin"),
    get("either_route_client_no_user", "/v1/requests", key="client"),
    get("either_route_admin_no_user", "/v1/requests"),
    get("client_route_no_user", "/v1/sessions", key="client"),
    get("scheduler_jobs_client_no_user", "/v1/scheduler/jobs", key="client"),
    get("scheduler_jobs_no_key", "/v1/scheduler/jobs", key="none"),
    post("body_not_json_no_key", "/v1/secrets", Raw(b"{not json"), key="none"),
    post("body_missing_field_no_key", "/v1/secrets", {"key": "K"}, key="none"),
    post("body_not_json_wrong_key", "/v1/chat", Raw(b"nope"), key="wrong-client"),
    post("scheduler_create_client_key", "/v1/scheduler/jobs",
         {"type": "recurring", "schedule": "0 9 * * 1", "message": "m"}, key="client", user="<<user>>"),
), variables=USER)

# --- configuration -----------------------------------------------------------------------------------

CONFIG = Scenario("configuration", (
    get("status", "/v1/status"),
    get("config", "/v1/config", compare="values"),
    get("formation", "/v1/formation", compare="values"),
    get("overlord", "/v1/overlord", compare="values"),
    get("overlord_soul", "/v1/overlord/soul", compare="values"),
    get("llm_settings", "/v1/llm/settings", compare="values"),
    get("mcp", "/v1/mcp", compare="values"),
    get("mcp_servers", "/v1/mcp/servers", compare="values"),
    get("mcp_server_missing", "/v1/mcp/servers/no-such-server"),
    get("mcp_tools", "/v1/mcp/tools", compare="values"),
    get("logging", "/v1/logging", compare="values"),
    get("logging_destinations", "/v1/logging/destinations", compare="values"),
    get("async", "/v1/async", compare="values"),
    get("a2a", "/v1/a2a", compare="values"),
    get("memory", "/v1/memory", compare="values"),
    get("scheduler", "/v1/scheduler", compare="values"),
), formations=("default", "bare", "multiuser"))

AGENTS = Scenario("agents", (
    get("list", "/v1/agents", compare="values"),
    get("one", "/v1/agents/assistant", compare="values"),
    get("missing", "/v1/agents/no-such-agent"),
    post("knowledge_sync", "/v1/agents/assistant/knowledge/sync", {}),
    post("knowledge_sync_missing", "/v1/agents/no-such-agent/knowledge/sync", {}),
    post("knowledge_sync_source", "/v1/agents/assistant/knowledge/sync", {"source_id": "docs"}),
    post("knowledge_rebuild_source", "/v1/knowledge/rebuild", {"agent_id": "assistant", "source_id": "docs"}),
    post("knowledge_rebuild", "/v1/knowledge/rebuild", {}),
    post("knowledge_rebuild_agent", "/v1/knowledge/rebuild", {"agent_id": "assistant"}),
    get("skills", "/v1/skills", key="client"),
    get("skill_missing", "/v1/skills/no-such-skill", key="client"),
    get("agent_skills", "/v1/agents/assistant/skills", key="client"),
    get("agent_skills_missing", "/v1/agents/no-such-agent/skills", key="client"),
), formations=("default", "bare"))

SECRETS = Scenario("secrets", (
    get("list_before", "/v1/secrets"),
    post("create", "/v1/secrets", {"key": "<<secret>>", "value": "first-value"}),
    post("create_again", "/v1/secrets", {"key": "<<secret>>", "value": "other"}),
    post("create_missing_value", "/v1/secrets", {"key": "<<secret>>_2"}),
    post("create_not_json", "/v1/secrets", Raw(b"{not json")),
    post("create_no_body", "/v1/secrets"),
    get("list_after", "/v1/secrets"),
    get("get_one", "/v1/secrets/<<secret>>"),
    put("update", "/v1/secrets/<<secret>>", {"value": "second-value"}),
    put("update_missing", "/v1/secrets/<<secret>>_NONE", {"value": "x"}),
    put("update_no_value", "/v1/secrets/<<secret>>", {}),
    post("reload", "/v1/secrets/reload"),
    delete("delete", "/v1/secrets/<<secret>>"),
    delete("delete_again", "/v1/secrets/<<secret>>"),
), variables={"secret": "FIDELITY_{tag_upper}"})

# --- chat, sessions, requests ------------------------------------------------------------------------

CHAT = Scenario("chat", (
    post("json", "/v1/chat", {"message": "What is the capital of France?", "stream": False,
                              "session_id": "<<session>>"}, key="client", user="<<user>>",
         headers={"X-Muxi-Idempotency-Key": "idem-chat-<<tag>>"}),
    # Other routes do not echo an idempotency key (formation/server/idempotency.py).
    get("sessions_with_key", "/v1/sessions", key="client", user="<<user>>",
        headers={"X-Muxi-Idempotency-Key": "idem-list-<<tag>>"}),
    post("stream", "/v1/chat", {"message": "Tell me about the weather in Paris", "session_id": "<<session>>"},
         key="client", user="<<user>>", capture={"stream_request": token("request_id")}),
    post("json_greeting", "/v1/chat", {"message": "hi", "stream": False, "session_id": "<<session>>-hi"},
         key="client", user="<<user>>"),
    post("json_thanks", "/v1/chat", {"message": "thanks", "stream": False}, key="client", user="<<user>>"),
    post("stream_greeting", "/v1/chat", {"message": "hello", "session_id": "<<session>>-hello"},
         key="client", user="<<user>>"),
    post("json_with_request_id", "/v1/chat", {"message": "Which planet is the largest?", "stream": False,
                                              "session_id": "<<session>>", "request_id": "req_given_<<tag>>"},
         key="client", user="<<user>>"),
    get("request_given_json", "/v1/requests/req_given_<<tag>>", key="client", user="<<user>>"),
    post("stream_with_request_id", "/v1/chat", {"message": "Which ocean is the deepest?", "session_id": "<<session>>",
                                                "request_id": "req_streamed_<<tag>>"}, key="client", user="<<user>>"),
    get("request_given_stream", "/v1/requests/req_streamed_<<tag>>", key="client", user="<<user>>"),
    post("json_no_session", "/v1/chat", {"message": "Describe a quiet morning by the sea.", "stream": False},
         key="client", user="<<user>>"),
    post("json_no_user", "/v1/chat", {"message": "Describe a quiet evening in a forest.", "stream": False,
                                      "session_id": "<<session>>-nouser"}, key="client"),
    post("missing_message", "/v1/chat", {"stream": False}, key="client", user="<<user>>"),
    post("message_not_string", "/v1/chat", {"message": 42, "stream": False}, key="client", user="<<user>>"),
    post("stream_not_bool", "/v1/chat", {"message": "hi", "stream": "yes"}, key="client", user="<<user>>"),
    post("oversized", "/v1/chat", {"message": BIG_MESSAGE, "stream": False}, key="client", user="<<user>>"),
    post("oversized_stream", "/v1/chat", {"message": BIG_MESSAGE}, key="client", user="<<user>>"),
    post("empty_message", "/v1/chat", {"message": "", "stream": False}, key="client", user="<<user>>"),
    post("async_mode", "/v1/chat", {"message": "hello there", "mode": "async", "stream": False},
         key="client", user="<<user>>"),
    post("not_json", "/v1/chat", Raw(b"not json"), key="client", user="<<user>>"),
    post("no_body", "/v1/chat", key="client", user="<<user>>"),
    post("audio_no_files", "/v1/audiochat", {"stream": False}, key="client", user="<<user>>"),
    post("audio_not_audio", "/v1/audiochat", {"files": [{"filename": "a.txt", "content_type": "text/plain",
                                                         "data": "aGVsbG8="}], "stream": False},
         key="client", user="<<user>>"),
), variables={**USER, "session": "sess-{tag}"}, formations=("default", "bare"))

SESSIONS = Scenario("sessions", (
    post("chat", "/v1/chat", {"message": "Name three colours of the rainbow.", "stream": False,
                              "session_id": "<<session>>"}, key="client", user="<<user>>"),
    get("list", "/v1/sessions", key="client", user="<<user>>"),
    get("list_limit", "/v1/sessions?limit=1", key="client", user="<<user>>"),
    get("list_bad_limit", "/v1/sessions?limit=abc", key="client", user="<<user>>"),
    get("list_active_only", "/v1/sessions?active_only=true", key="client", user="<<user>>"),
    get("list_admin_key", "/v1/sessions", user="<<user>>"),
    get("one", "/v1/sessions/<<session>>", key="client", user="<<user>>"),
    get("one_missing", "/v1/sessions/no-such-session-<<tag>>", key="client", user="<<user>>"),
    get("messages", "/v1/sessions/<<session>>/messages", key="client", user="<<user>>"),
    get("messages_limit", "/v1/sessions/<<session>>/messages?limit=1", key="client", user="<<user>>"),
    get("messages_missing", "/v1/sessions/no-such-session-<<tag>>/messages", key="client", user="<<user>>"),
    # `before` is not honoured (the buffer has no get_messages; docs/runtime.md): the oldest message again.
    get("messages_before", "/v1/sessions/<<session>>/messages?limit=1&before=2000-01-01T00:00:00Z",
        key="client", user="<<user>>"),
    get("messages_max", "/v1/sessions/<<session>>/messages?limit=1000", key="client", user="<<user>>"),
    get("messages_over_max", "/v1/sessions/<<session>>/messages?limit=1001", key="client", user="<<user>>"),
    post("restore", "/v1/sessions/<<session>>-restored/restore", {"messages": [
        {"role": "user", "content": "Remember the number seven.", "timestamp": "2026-01-01T10:00:00Z"},
        {"role": "assistant", "content": "I will remember seven.", "timestamp": "2026-01-01T10:00:01Z"},
    ]}, key="client", user="<<user>>"),
    get("restored_messages", "/v1/sessions/<<session>>-restored/messages", key="client", user="<<user>>"),
    post("restore_no_timestamp", "/v1/sessions/<<session>>-x/restore",
         {"messages": [{"role": "user", "content": "x"}]}, key="client", user="<<user>>"),
    post("restore_no_messages", "/v1/sessions/<<session>>-x/restore", {}, key="client", user="<<user>>"),
    post("restore_empty", "/v1/sessions/<<session>>-y/restore", {"messages": []}, key="client", user="<<user>>"),
), variables={**USER, "session": "sess-{tag}"}, formations=("default", "bare", "multiuser"))

MULTIUSER = Scenario("user_isolation", (
    post("chat_user", "/v1/chat", {"message": "Say something about owls.", "stream": False,
                                   "session_id": "<<session>>"}, key="client", user="<<user>>"),
    get("sessions_user", "/v1/sessions", key="client", user="<<user>>"),
    get("sessions_other", "/v1/sessions", key="client", user="<<other>>"),
    get("session_other", "/v1/sessions/<<session>>", key="client", user="<<other>>"),
    get("messages_other", "/v1/sessions/<<session>>/messages", key="client", user="<<other>>"),
    get("requests_user", "/v1/requests", key="client", user="<<user>>"),
    get("requests_other", "/v1/requests", key="client", user="<<other>>"),
    get("buffer_user", "/v1/memory/buffer", key="client", user="<<user>>"),
    get("buffer_other", "/v1/memory/buffer", key="client", user="<<other>>"),
    post("stream_user", "/v1/chat", {"message": "Say something about foxes.", "session_id": "<<session>>"},
         key="client", user="<<user>>"),
), variables={**USER, "session": "sess-{tag}"}, formations=("default", "multiuser"))

REQUESTS = Scenario("requests", (
    post("chat", "/v1/chat", {"message": "Count from one to three.", "stream": False, "session_id": "<<session>>"},
         key="client", user="<<user>>", capture={"chat_request": lambda e: e.body["request"]["id"]}),
    get("list", "/v1/requests", key="client", user="<<user>>",
        capture={"listed": data("requests", -1, "request_id")}),
    get("list_admin", "/v1/requests"),
    get("one", "/v1/requests/<<listed>>", key="client", user="<<user>>"),
    get("one_admin", "/v1/requests/<<listed>>"),
    get("chat_answer_request_id", "/v1/requests/<<chat_request>>", key="client", user="<<user>>"),
    get("missing", "/v1/requests/req_missing_<<tag>>", key="client", user="<<user>>"),
    delete("cancel_completed", "/v1/requests/<<listed>>", key="client", user="<<user>>"),
    delete("cancel_missing", "/v1/requests/req_missing_<<tag>>", key="client", user="<<user>>"),
), variables={**USER, "session": "sess-{tag}"}, formations=("default", "bare"))

# --- memory ------------------------------------------------------------------------------------------

MEMORY = Scenario("memory", (
    post("chat", "/v1/chat", {"message": "My favourite fruit is the mango.", "stream": False,
                              "session_id": "<<session>>"}, key="client", user="<<user>>"),
    get("stats", "/v1/memory/stats"),
    get("buffer", "/v1/memory/buffer", key="client", user="<<user>>"),
    get("buffer_admin", "/v1/memory/buffer"),
    get("buffer_user_zero", "/v1/memory/buffer", key="client", user="0"),
    get("buffers", "/v1/memory/buffers"),
    get("memories", "/v1/memories", key="client", user="<<user>>"),
    get("memories_limit", "/v1/memories?limit=5", key="client", user="<<user>>"),
    post("add_memory", "/v1/memories", {"content": "Likes mangoes", "type": "preference"},
         key="client", user="<<user>>"),
    post("add_memory_detail", "/v1/memories", {"detail": "Lives in Lisbon"}, key="client", user="<<user>>"),
    post("add_memory_empty", "/v1/memories", {}, key="client", user="<<user>>"),
    delete("delete_memory", "/v1/memories/mem_missing_<<tag>>", key="client", user="<<user>>"),
    post("batch", "/v1/memories/batch", {"items": [{"content": "Plays the cello"}]}, key="client", user="<<user>>"),
    post("batch_sourced", "/v1/memories/batch",
         {"items": [{"content": "Plays the viola", "source": "gmail", "source_id": "msg-<<tag>>"}]},
         key="client", user="<<user>>", capture={"ingestion": data("processing_id")}),
    Poll(get("ingestion_status", "/v1/memories/ingestion/<<ingestion>>", key="client", user="<<user>>"),
         until=lambda e: e.status != 200 or e.body["data"].get("status") not in ("queued", "processing")),
    post("batch_empty", "/v1/memories/batch", {"items": []}, key="client", user="<<user>>"),
    post("batch_missing", "/v1/memories/batch", {}, key="client", user="<<user>>"),
    get("ingestion_missing", "/v1/memories/ingestion/proc_missing_<<tag>>", key="client", user="<<user>>"),
    get("provenance", "/v1/memories/provenance", key="client", user="<<user>>"),
    get("provenance_entity", "/v1/memories/provenance?entity=mango", key="client", user="<<user>>"),
    get("provenance_event", "/v1/memories/provenance?event_id=evt_missing_<<tag>>", key="client", user="<<user>>"),
    post("distilled", "/v1/memories/distilled", {"items": []}, key="client", user="<<user>>"),
    get("distilled_missing", "/v1/memories/distilled/proc_missing_<<tag>>", key="client", user="<<user>>"),
    get("history", "/v1/history", key="client", user="<<user>>"),
    get("history_limit", "/v1/history?limit=2", key="client", user="<<user>>"),
    get("history_sources", "/v1/history?include_sources=true&date_from=2020-01-01&date_to=2099-01-01",
        key="client", user="<<user>>"),
    delete("clear_session_buffer", "/v1/memory/buffer/<<session>>", key="client", user="<<user>>"),
    delete("clear_user_buffer", "/v1/memory/buffer", key="client", user="<<user>>"),
    delete("clear_buffer_admin", "/v1/memory/buffer"),
    delete("clear_buffers", "/v1/memory/buffers"),
    get("buffer_after", "/v1/memory/buffer", key="client", user="<<user>>"),
), variables={**USER, "session": "sess-{tag}"}, formations=("default", "bare"))

MEMORY_ADMIN = Scenario("memory_admin", (
    post("rebuild", "/v1/memory/rebuild", {"user_id": "<<user>>", "dry_run": True}),
    post("rebuild_missing_user", "/v1/memory/rebuild", {}),
    post("rebuild_background", "/v1/memory/rebuild", {"user_id": "<<user>>"},
         capture={"rebuild_job": data("job_id")}),
    Poll(get("rebuild_status", "/v1/memory/rebuild/<<rebuild_job>>"),
         until=lambda e: e.status != 200 or e.body["data"].get("status") != "processing"),
    post("rebuild_inline", "/v1/memory/rebuild", {"user_id": "<<user>>", "background": False}),
    get("rebuild_status_missing", "/v1/memory/rebuild/job_missing_<<tag>>"),
    post("lint", "/v1/memory/lint", {}),
    post("lint_user", "/v1/memory/lint", {"user_id": "<<user>>"}),
    post("backfill", "/v1/memory/backfill", {"user_id": "<<user>>"}),
    post("backfill_missing_user", "/v1/memory/backfill", {}),
    post("forget", "/v1/memory/forget", {"user_id": "<<user>>", "source": "chat"},
         capture={"forget_job": data("job_id")}),
    Poll(get("forget_status", "/v1/memory/forget/<<forget_job>>"),
         until=lambda e: e.status != 200 or e.body["data"].get("status") != "processing"),
    post("forget_sync", "/v1/memory/forget?sync=true", {"user_id": "<<user>>", "source": "chat"}),
    post("forget_no_rebuild", "/v1/memory/forget", {"user_id": "<<user>>", "source": "chat", "rebuild": False}),
    post("forget_missing_source", "/v1/memory/forget", {"user_id": "<<user>>"}),
    get("forget_status_missing", "/v1/memory/forget/job_missing_<<tag>>"),
    get("distilleries", "/v1/memory/distilleries"),
    post("distillery_register", "/v1/memory/distilleries", {"name": "d-<<tag>>", "public_key": "not-a-key"}),
    post("distillery_missing_key", "/v1/memory/distilleries", {"name": "d-<<tag>>"}),
    delete("distillery_revoke_missing", "/v1/memory/distilleries/dist_missing_<<tag>>"),
), variables=USER, formations=("default", "bare"))

# --- scheduler ---------------------------------------------------------------------------------------

SCHEDULER = Scenario("scheduler", (
    get("config", "/v1/scheduler", compare="values"),
    get("jobs_before", "/v1/scheduler/jobs", key="client", user="<<user>>"),
    post("create_recurring", "/v1/scheduler/jobs",
         {"type": "recurring", "schedule": "0 9 * * 1", "message": "Weekly summary for <<tag>>"},
         user="<<user>>", capture={"recurring": data("id")}, headers={"X-Muxi-Idempotency-Key": "idem-job-<<tag>>"}),
    post("create_one_time", "/v1/scheduler/jobs",
         {"type": "one_time", "schedule": FUTURE, "message": "Reminder for <<tag>>"},
         user="<<user>>", capture={"one_time": data("id")}),
    post("create_no_user", "/v1/scheduler/jobs",
         {"type": "recurring", "schedule": "30 8 * * *", "message": "Daily for <<tag>>"},
         capture={"no_user": data("id")}),
    post("create_bad_cron", "/v1/scheduler/jobs",
         {"type": "recurring", "schedule": "not a cron", "message": "m"}, user="<<user>>"),
    post("create_bad_cron_field", "/v1/scheduler/jobs",
         {"type": "recurring", "schedule": "61 9 * * 1", "message": "m"}, user="<<user>>"),
    post("create_past", "/v1/scheduler/jobs",
         {"type": "one_time", "schedule": PAST, "message": "m"}, user="<<user>>"),
    post("create_bad_date", "/v1/scheduler/jobs",
         {"type": "one_time", "schedule": "tomorrow morning", "message": "m"}, user="<<user>>"),
    post("create_bad_type", "/v1/scheduler/jobs",
         {"type": "weekly", "schedule": "0 9 * * 1", "message": "m"}, user="<<user>>"),
    post("create_missing_fields", "/v1/scheduler/jobs", {"type": "recurring"}, user="<<user>>"),
    get("jobs_user", "/v1/scheduler/jobs", key="client", user="<<user>>"),
    get("jobs_admin_user", "/v1/scheduler/jobs", user="<<user>>"),
    get("jobs_admin_all", "/v1/scheduler/jobs"),
    get("job", "/v1/scheduler/jobs/<<recurring>>"),
    get("job_client_key", "/v1/scheduler/jobs/<<recurring>>", key="client", user="<<user>>"),
    get("job_missing", "/v1/scheduler/jobs/job_missing_<<tag>>"),
    post("pause", "/v1/scheduler/jobs/<<recurring>>/pause"),
    post("pause_again", "/v1/scheduler/jobs/<<recurring>>/pause"),
    get("job_paused", "/v1/scheduler/jobs/<<recurring>>"),
    post("resume", "/v1/scheduler/jobs/<<recurring>>/resume"),
    post("pause_missing", "/v1/scheduler/jobs/job_missing_<<tag>>/pause"),
    post("resume_missing", "/v1/scheduler/jobs/job_missing_<<tag>>/resume"),
    put("update_one_time", "/v1/scheduler/jobs/<<one_time>>", {"message": "Changed reminder <<tag>>"}),
    put("update_recurring", "/v1/scheduler/jobs/<<recurring>>", {"message": "Changed weekly <<tag>>"},
        capture={"replacement": data("id")}),
    get("replaced_old", "/v1/scheduler/jobs/<<recurring>>"),
    put("update_missing", "/v1/scheduler/jobs/job_missing_<<tag>>", {"message": "x"}),
    put("update_bad_cron", "/v1/scheduler/jobs/<<replacement>>", {"schedule": "bad cron"}),
    delete("delete", "/v1/scheduler/jobs/<<replacement>>"),
    delete("delete_one_time", "/v1/scheduler/jobs/<<one_time>>"),
    delete("delete_no_user", "/v1/scheduler/jobs/<<no_user>>"),
    delete("delete_again", "/v1/scheduler/jobs/<<replacement>>"),
    get("jobs_after", "/v1/scheduler/jobs", key="client", user="<<user>>"),
), variables=USER)

SCHEDULER_OFF = Scenario("scheduler_absent", (
    get("jobs", "/v1/scheduler/jobs"),
    get("jobs_client", "/v1/scheduler/jobs", key="client", user="<<user>>"),
    post("create", "/v1/scheduler/jobs", {"type": "recurring", "schedule": "0 9 * * 1", "message": "m"},
         user="<<user>>"),
    post("create_bad_cron", "/v1/scheduler/jobs", {"type": "recurring", "schedule": "nope", "message": "m"},
         user="<<user>>"),
    get("job", "/v1/scheduler/jobs/job_missing_<<tag>>"),
    put("update", "/v1/scheduler/jobs/job_missing_<<tag>>", {"message": "x"}),
    delete("delete", "/v1/scheduler/jobs/job_missing_<<tag>>"),
    post("pause", "/v1/scheduler/jobs/job_missing_<<tag>>/pause"),
    post("resume", "/v1/scheduler/jobs/job_missing_<<tag>>/resume"),
), variables=USER, formations=("bare", "multiuser"))

# --- triggers, SOPs ----------------------------------------------------------------------------------

TRIGGERS = Scenario("triggers", (
    get("list", "/v1/triggers", key="client", compare="values"),
    get("one", "/v1/triggers/greet", key="client", compare="values"),
    get("missing", "/v1/triggers/no-such-trigger", key="client"),
    get("admin_key", "/v1/triggers", key="admin"),
    post("fire_sync", "/v1/triggers/greet", {"data": {"name": "Ada <<tag>>"}, "use_async": False},
         key="client", user="<<user>>", headers={"X-Muxi-Idempotency-Key": "idem-fire-<<tag>>"}),
    post("fire_missing_data", "/v1/triggers/greet", {"use_async": False}, key="client", user="<<user>>"),
    post("fire_data_not_object", "/v1/triggers/greet", {"data": "text", "use_async": False},
         key="client", user="<<user>>"),
    post("fire_missing", "/v1/triggers/no-such-trigger", {"data": {}}, key="client", user="<<user>>"),
    post("fire_no_user", "/v1/triggers/greet", {"data": {"name": "Grace <<tag>>"}, "use_async": False},
         key="client"),
), variables=USER, formations=("default", "bare"))

TRIGGER_WEBHOOK = Scenario("trigger_webhook", (
    get("one", "/v1/triggers/notify", key="client", compare="values"),
    post("fire_async", "/v1/triggers/notify", {"data": {"event": "deploy-<<tag>>", "source": "ci"}},
         key="client", user="<<user>>", capture={"fired": lambda e: e.body["request"]["id"]}),
    Hook("webhook", lambda payload, v: v["tag"] in str(payload) or payload.get("status") in ("completed", "failed")),
    Poll(get("requests", "/v1/requests", key="client", user="<<user>>"),
         until=lambda e: all(r.get("status") != "processing" for r in e.body["data"]["requests"])),
), variables=USER)

SOPS = Scenario("sops", (
    get("list", "/v1/sops", key="client", compare="values"),
    get("one", "/v1/sops/greeting", key="client", compare="values"),
    get("missing", "/v1/sops/no-such-sop", key="client"),
    get("admin_key", "/v1/sops"),
), formations=("default", "bare"))

# --- users, notifications, credentials ------------------------------------------------------------

USERS = Scenario("users", (
    post("resolve", "/v1/users/resolve", {"identifier": "<<email>>", "identifier_type": "email"}, key="client",
         capture={"muxi_user": data("muxi_user_id")}),
    post("resolve_again", "/v1/users/resolve", {"identifier": "<<email>>"}, key="client"),
    post("resolve_missing", "/v1/users/resolve", {}, key="client"),
    post("resolve_no_body", "/v1/users/resolve", key="client"),
    post("resolve_admin_key", "/v1/users/resolve", {"identifier": "<<email>>"}),
    get("identifiers", "/v1/users/identifiers/<<muxi_user>>", key="client"),
    get("identifiers_unknown", "/v1/users/identifiers/nobody-<<tag>>", key="client"),
    post("link", "/v1/users/identifiers", {"muxi_user_id": "<<muxi_user>>", "identifiers": ["<<handle>>"]},
         key="client"),
    post("link_typed", "/v1/users/identifiers",
         {"muxi_user_id": "<<muxi_user>>", "identifiers": [{"identifier": "<<phone>>", "type": "phone"}]},
         key="client"),
    post("link_pair", "/v1/users/identifiers",
         {"muxi_user_id": "<<muxi_user>>", "identifiers": [["<<handle>>-slack", "slack"]]}, key="client"),
    post("link_unknown_user", "/v1/users/identifiers", {"muxi_user_id": "nobody-<<tag>>", "identifiers": ["x"]},
         key="client"),
    post("link_no_user", "/v1/users/identifiers", {"identifiers": ["<<handle>>-2"]}, key="client"),
    post("link_missing", "/v1/users/identifiers", {"muxi_user_id": "<<muxi_user>>"}, key="client"),
    get("identifiers_after", "/v1/users/identifiers/<<muxi_user>>", key="client"),
    get("lookup", "/v1/users/<<handle>>", key="client"),
    get("lookup_email", "/v1/users/<<email>>", key="client"),
    get("lookup_missing", "/v1/users/nobody-<<tag>>", key="client"),
    delete("unlink", "/v1/users/identifiers/<<handle>>", key="client"),
    delete("unlink_again", "/v1/users/identifiers/<<handle>>", key="client"),
    get("identifiers_unlinked", "/v1/users/identifiers/<<muxi_user>>", key="client"),
    get("channels", "/v1/users/<<muxi_user>>/channels", key="client"),
    put("channels_update", "/v1/users/<<muxi_user>>/channels",
        {"preferred_channel": "email", "channels": {"email": {"address": "<<email>>"}}, "timezone": "UTC"},
        key="client"),
    put("channels_bad", "/v1/users/<<muxi_user>>/channels", {"channels": "email"}, key="client"),
    post("notify", "/v1/notifications", {"user_id": "<<muxi_user>>", "message": "Hello <<tag>>"}, key="client"),
    post("notify_missing", "/v1/notifications", {"user_id": "<<muxi_user>>"}, key="client"),
), variables={"email": "ada-{tag}@example.com", "handle": "ada-{tag}", "phone": "+1555{tag}"},
   formations=("default", "bare"))

CREDENTIALS = Scenario("credentials", (
    get("services", "/v1/credentials/services", key="client", user="<<user>>"),
    get("services_admin", "/v1/credentials/services"),
    get("list", "/v1/credentials", key="client", user="<<user>>"),
    get("list_no_user", "/v1/credentials", key="client"),
    post("create", "/v1/credentials", {"service": "github", "name": "work", "credential": {"token": "ghp_x"}},
         key="client", user="<<user>>"),
    post("create_missing", "/v1/credentials", {"service": "github"}, key="client", user="<<user>>"),
    get("one_missing", "/v1/credentials/cred_missing_<<tag>>", key="client", user="<<user>>"),
    delete("delete_missing", "/v1/credentials/cred_missing_<<tag>>", key="client", user="<<user>>"),
), variables=USER, formations=("default", "bare"))

# --- audit, tuning, artifacts, a2a/async ----------------------------------------------------------

AUDIT = Scenario("audit", (
    get("list", "/v1/audit"),
    get("list_filtered", "/v1/audit?limit=5&action=secret.create"),
    get("list_bad_limit", "/v1/audit?limit=abc"),
    delete("clear_unconfirmed", "/v1/audit"),
    delete("clear_wrong_confirm", "/v1/audit?confirm=yes"),
    delete("clear", "/v1/audit?confirm=clear-audit-log"),
    get("list_after", "/v1/audit"),
))

TUNING = Scenario("tuning", (
    get("get", "/v1/tuning", compare="values"),
    get("pending", "/v1/tuning/pending"),
    post("replace_missing", "/v1/tuning", {}),
    post("replace", "/v1/tuning", {"content": "# Tuning <<tag>>\n\nBe brief.\n"}),
    get("after_replace", "/v1/tuning"),
    Req("apply_pending", "PATCH", "/v1/tuning/pending"),
    delete("dismiss_pending", "/v1/tuning/pending"),
    post("run", "/v1/tuning/run"),
), formations=("default", "bare"))

ARTIFACTS = Scenario("artifacts", (
    get("list", "/v1/artifacts", key="client", user="<<user>>"),
    get("list_limit", "/v1/artifacts?limit=5", key="client", user="<<user>>"),
    get("one_missing", "/v1/artifacts/art_missing_<<tag>>", key="client", user="<<user>>"),
    get("content_missing", "/v1/artifacts/art_missing_<<tag>>/content", key="client", user="<<user>>"),
    get("versions_missing", "/v1/artifacts/art_missing_<<tag>>/versions", key="client", user="<<user>>"),
    get("content_version_missing", "/v1/artifacts/art_missing_<<tag>>/content?version=2", key="client",
        user="<<user>>"),
    get("list_admin", "/v1/artifacts", user="<<user>>"),
    get("list_no_user", "/v1/artifacts", key="client"),
), variables=USER, formations=("default", "bare"))

# --- streams ---------------------------------------------------------------------------------------

STREAMS = Scenario("streams", (
    get("logs_no_filter", "/v1/logs"),
    listen("logs_user", "/v1/logs?user_id=<<user>>"),
    get("logs_client_key", "/v1/logs?user_id=<<user>>", key="client"),
    listen("events", "/v1/events", key="client", user="<<user>>"),
    listen("events_admin", "/v1/events"),
    get("events_no_user", "/v1/events", key="client"),
    listen("session_events", "/v1/events/sess-<<tag>>", key="client", user="<<user>>"),
    listen("request_events", "/v1/events/sess-<<tag>>/req_<<tag>>", key="client", user="<<user>>"),
), variables=USER, formations=("default", "bare"))


SCENARIOS: tuple[Scenario, ...] = (
    HEALTH, KEYS, CONFIG, AGENTS, SECRETS, CHAT, SESSIONS, MULTIUSER, REQUESTS, MEMORY, MEMORY_ADMIN,
    SCHEDULER, SCHEDULER_OFF, TRIGGERS, TRIGGER_WEBHOOK, SOPS, USERS, CREDENTIALS, AUDIT, TUNING, ARTIFACTS,
    STREAMS,
)


def scenarios_for(formation: str) -> list[Scenario]:
    """The scenarios that run on ``formation``, in suite order."""
    return [s for s in SCENARIOS if formation in s.formations]
