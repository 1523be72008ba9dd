"""Every formation method the real runtime supports, as flows (see :mod:`flows`).

Each flow asserts what the runtime really answers: the shape of a success, or the typed error the
client raises where the runtime refuses or is broken upstream (docs/runtime.md lists those, with
the evidence). ``FLOWS`` is what ``test_formation.py`` runs on every client flavour.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone
from typing import Any

from conftest import Context
from fake_llm import ANSWER
from flows import Flow, call, fails, poll, stream, wait_for
from harness import FORMATION_ID

from muxi import webhook
from muxi.errors import ConflictError, LimitExceededError, NotFoundError, ServerError, ValidationError
from tests.httpserver import HTTPTestServer

MASK = "\u2022"  # the bullet the runtime masks secret values with
WEBHOOK_TIMEOUT = 90.0


def _masked(shown: str, plain: str) -> bool:
    """The runtime shows a secret as its first characters, bullets, and its last characters."""
    return MASK in shown and shown != plain and shown[:3] == plain[:3] and shown[-3:] == plain[-3:]


def _iso_in(hours: int) -> str:
    return (datetime.now(timezone.utc) + timedelta(hours=hours)).replace(microsecond=0).isoformat()


# --- health, configuration, formation --------------------------------------------------------------


def flow_health(ctx: Context) -> Flow:
    health = yield call("health")
    assert health["status"] == "healthy"
    assert isinstance(health["uptime_seconds"], int)
    assert health["version"]


def flow_status_config_formation(ctx: Context) -> Flow:
    status = yield call("get_status")
    assert status["formation"]["id"] == FORMATION_ID
    assert status["agents"]["count"] == 1
    assert status["request_id"].startswith("req_")  # envelope request id merged in

    config = yield call("get_config")
    assert config["formation_id"] == FORMATION_ID
    assert config["agents"]["total"] == 1

    info = yield call("get_formation_info")
    assert info["id"] == FORMATION_ID
    assert info["llm"]["models"] == [{"text": ctx.llm.model}]
    # The runtime masks nothing here but never shows the server keys.
    assert ctx.runtime.admin_key not in json.dumps(info)


def flow_agents(ctx: Context) -> Flow:
    agents = yield call("get_agents")
    assert agents["count"] == 1
    assert [a["id"] for a in agents["agents"]] == ["assistant"]

    agent = yield call("get_agent", "assistant")
    assert agent["name"] == "Assistant"
    assert agent["system_message"].startswith("You are a helpful assistant")

    missing = yield fails(NotFoundError, "get_agent", "no-such-agent")
    assert missing.code == "AGENT_NOT_FOUND"
    assert missing.status_code == 404


def flow_mcp(ctx: Context) -> Flow:
    config = yield call("get_mcp_config")
    assert config["servers"] == []
    assert config["default_timeout_seconds"] > 0

    servers = yield call("get_mcp_servers")
    assert servers == {**servers, "servers": [], "count": 0}

    tools = yield call("get_mcp_tools")
    names = {tool["name"] for tool in tools["tools"]}
    assert "formation_list_agents" in names  # the runtime's built-in formation tools

    missing = yield fails(NotFoundError, "get_mcp_server", "no-such-server")
    assert missing.code == "MCP_SERVER_NOT_FOUND"


def flow_llm_overlord_soul(ctx: Context) -> Flow:
    llm = yield call("get_llm_settings")
    assert llm["models"] == [{"text": ctx.llm.model}]

    overlord = yield call("get_overlord_config")
    assert overlord["soul"].startswith("You are the overlord of muxi-client's runtime test formation")
    assert isinstance(overlord["workflow"], dict)

    soul = yield call("get_overlord_soul")
    assert soul["soul"] == overlord["soul"]


def flow_logging_async_a2a(ctx: Context) -> Flow:
    # These answer an empty ``data`` object for a formation without those sections: the client
    # hands back just the envelope's request id and timestamp.
    for method in ("get_logging_config", "get_async_config", "get_a2a_config", "get_memory_config"):
        result = yield call(method)
        assert set(result) == {"request_id", "timestamp"}, (method, result)
        assert result["request_id"].startswith("req_")

    destinations = yield call("get_logging_destinations")
    assert destinations["conversation"] == {"destinations": [], "count": 0}
    assert "level" in destinations["system"]


# --- secrets ---------------------------------------------------------------------------------------


def flow_secrets_crud(ctx: Context) -> Flow:
    key = f"MUXI_TEST_{ctx.tag.upper()}"
    other = f"MUXI_TEST_SET_{ctx.tag.upper()}"

    before = yield call("get_secrets")
    assert key not in before["secrets"]

    created = yield call("create_secret", key, "first-value")
    assert key in created["message"]

    read = yield call("get_secret", key)  # answered from the listing (there is no GET /secrets/{key})
    assert read["key"] == key
    assert _masked(read["value"], "first-value")

    dup = yield fails(ConflictError, "create_secret", key, "again")
    assert (dup.code, dup.status_code) == ("SECRET_EXISTS", 409)

    updated = yield call("update_secret", key, "second-value")
    assert "updated" in updated["message"]
    assert _masked((yield call("get_secret", key))["value"], "second-value")

    assert (yield call("set_secret", other, "created-by-set")) is None  # creates (PUT 404, then POST)
    assert (yield call("set_secret", other, "updated-by-set")) is None  # updates
    listing = yield call("get_secrets")
    assert _masked(listing["secrets"][key], "second-value")
    assert _masked(listing["secrets"][other], "updated-by-set")
    assert "first-value" not in json.dumps(listing) and "second-value" not in json.dumps(listing)

    assert (yield call("delete_secret", key)) is None
    assert (yield call("delete_secret", other)) is None

    gone = yield fails(NotFoundError, "get_secret", key)
    assert gone.code == "SECRET_NOT_FOUND"
    missing = yield fails(NotFoundError, "update_secret", key, "x")
    assert (missing.code, missing.status_code) == ("SECRET_NOT_FOUND", 404)
    yield fails(NotFoundError, "delete_secret", key)
    after = yield call("get_secrets")
    assert key not in after["secrets"] and other not in after["secrets"]


# --- chat, sessions, requests ----------------------------------------------------------------------


def flow_chat_json(ctx: Context) -> Flow:
    user, session = ctx.name("user"), ctx.name("sess")
    text = f"Please note the code word {ctx.tag} for later."
    answer = yield call("chat", {"message": text, "session_id": session}, user_id=user)
    assert answer["message"]["role"] == "assistant"
    assert answer["message"]["content"] == ANSWER
    assert answer["session_id"] == session
    assert answer["user_id"] == user
    assert answer["request_id"].startswith("req_")
    assert ctx.llm.saw(ctx.tag)  # the message really went through the runtime to the model

    bad = yield fails(ValidationError, "chat", {"session_id": session}, user_id=user)  # no message
    assert (bad.code, bad.status_code) == ("INVALID_PARAMS", 422)
    assert bad.details["error"]["data"]["validation_errors"][0]["field"] == "message"


def flow_chat_stream(ctx: Context) -> Flow:
    user, session = ctx.name("user"), ctx.name("sess")
    result = yield stream("chat_stream", {"message": f"Stream the code word {ctx.tag}.", "session_id": session},
                          user_id=user)
    assert (result.header("content-type") or "").startswith("text/event-stream")
    events = result.events
    assert events[-1].event == "done" and events[-1].json() == {"finished": True}
    tokens = [e.json()["token"] for e in events if e.event == "message"]
    assert tokens, events
    assert {t["session_id"] for t in tokens} == {session}
    completed = [t for t in tokens if t["type"] == "completed"]
    assert len(completed) == 1 and completed[0]["content"] == ANSWER
    assert ctx.llm.saw(ctx.tag)


def flow_sessions(ctx: Context) -> Flow:
    user, session = ctx.name("user"), ctx.name("sess")
    yield call("chat", {"message": f"Start a session about {ctx.tag}.", "session_id": session}, user_id=user)

    sessions = yield call("get_sessions", user)
    assert session in [s["session_id"] for s in sessions["sessions"]]
    limited = yield call("get_sessions", user, 1)
    assert len(limited["sessions"]) <= 1

    info = yield call("get_session", session, user)
    assert info["session_id"] == session
    assert info["message_count"] >= 2

    messages = yield call("get_session_messages", session, user)
    texts = [m["text"] for m in messages["messages"]]
    assert any(ctx.tag in t for t in texts) and ANSWER in texts

    restored = ctx.name("restored")
    now = datetime.now(timezone.utc).isoformat()
    history = [{"role": "user", "content": f"earlier {ctx.tag}", "timestamp": now},
               {"role": "assistant", "content": "earlier answer", "timestamp": now}]
    assert (yield call("restore_session", restored, user, history)) is None
    back = yield call("get_session_messages", restored, user)
    assert [m["text"] for m in back["messages"]] == [f"earlier {ctx.tag}", "earlier answer"]

    # Messages without a timestamp are refused by the runtime's validation (422).
    bad = yield fails(ValidationError, "restore_session", restored, user, [{"role": "user", "content": "x"}])
    assert bad.code == "INVALID_PARAMS"

    missing = yield fails(NotFoundError, "get_session", ctx.name("no-such-session"), user)
    assert missing.status_code == 404


def flow_requests(ctx: Context) -> Flow:
    user = ctx.name("user")
    yield call("chat", {"message": f"Track request {ctx.tag}.", "session_id": ctx.name("sess")}, user_id=user)
    listing = yield call("get_requests", user)
    assert listing["count"] == len(listing["requests"]) >= 1
    done = [r for r in listing["requests"] if r["status"] == "completed"]
    assert done

    status = yield call("get_request_status", done[-1]["request_id"], user)
    assert status["request_id"] == done[-1]["request_id"]
    assert status["status"] == "completed"
    assert status["result"] == ANSWER

    missing = yield fails(NotFoundError, "get_request_status", "req_doesnotexist", user)
    assert missing.code == "REQUEST_NOT_FOUND"
    # A finished request cannot be cancelled; an unknown one is 404 as well.
    yield fails(NotFoundError, "cancel_request", "req_doesnotexist", user)


# --- memory ----------------------------------------------------------------------------------------


def flow_memory(ctx: Context) -> Flow:
    user, session = ctx.name("user"), ctx.name("sess")
    stats = yield call("get_buffer_stats")
    assert {"total_entries", "total_users", "total_sessions", "buffer_size_kb"} <= set(stats)

    buffer = yield call("get_user_buffer", user)
    assert buffer["user_id"] == user
    assert isinstance(buffer["sessions"], list)

    cleared = yield call("clear_session_buffer", user, session)
    assert (cleared["user_id"], cleared["session_id"]) == (user, session)
    assert isinstance(cleared["messages_cleared"], int)

    cleared_user = yield call("clear_user_buffer", user)
    assert cleared_user["user_id"] == user
    assert isinstance(cleared_user["sessions_cleared"], int)


def flow_memory_broken_upstream(ctx: Context) -> Flow:
    # Long-term memory routes fail inside the runtime (docs/runtime.md): the client reports the
    # runtime's 500 as ServerError with its code and message.
    user = ctx.name("user")
    listed = yield fails(ServerError, "get_memories", user)
    assert (listed.code, listed.status_code) == ("INTERNAL_ERROR", 500)
    assert "list_memories" in listed.message
    added = yield fails(ServerError, "add_memory", user, "fact", f"likes tea {ctx.tag}")
    assert "external_user_id" in added.message
    deleted = yield fails(ServerError, "delete_memory", user, "mem_doesnotexist")
    assert (deleted.code, deleted.status_code) == ("INTERNAL_ERROR", 500)
    # DELETE /memory/buffers: 503 when the buffer is empty, 500 otherwise (an unknown event type).
    cleared = yield fails(ServerError, "clear_all_buffers")
    assert cleared.status_code in (500, 503)
    assert cleared.code in ("INTERNAL_ERROR", "SERVICE_UNAVAILABLE")


# --- scheduler -------------------------------------------------------------------------------------


def flow_scheduler(ctx: Context) -> Flow:
    user = ctx.name("user")
    config = yield call("get_scheduler_config")
    assert config["enabled"] is True and config["timezone"] == "UTC"

    when = _iso_in(hours=2)
    once = yield call("create_scheduler_job", "one_time", when, f"remind {ctx.tag}", user)
    assert once["id"].startswith("job_")
    assert (once["user_id"], once["is_recurring"], once["status"]) == (user, False, "ACTIVE")

    daily = yield call("create_scheduler_job", "recurring", "0 9 * * *", f"daily {ctx.tag}", user)
    assert (daily["cron_expression"], daily["is_recurring"]) == ("0 9 * * *", True)

    jobs = yield call("get_scheduler_jobs", user)
    assert {once["id"], daily["id"]} <= {job["id"] for job in jobs["jobs"]}
    assert {job["user_id"] for job in jobs["jobs"]} == {user}  # filtered by X-Muxi-User-ID

    got = yield call("get_scheduler_job", once["id"])
    assert got["original_prompt"] == f"remind {ctx.tag}"

    paused = yield call("pause_scheduler_job", once["id"])
    assert (paused["id"], paused["status"]) == (once["id"], "PAUSED")
    resumed = yield call("resume_scheduler_job", once["id"])
    assert resumed["status"] == "ACTIVE"

    # Updating a recurring job replaces it: a new id, the old one gone.
    replaced = yield call("update_scheduler_job", daily["id"], message=f"daily again {ctx.tag}")
    assert replaced["original_prompt"] == f"daily again {ctx.tag}"
    assert replaced["id"] != daily["id"]
    yield fails(NotFoundError, "get_scheduler_job", daily["id"])
    # Updating a one-time job fails inside the runtime (compares a str with a datetime).
    broken = yield fails(ServerError, "update_scheduler_job", once["id"], message="moved")
    assert broken.status_code == 500

    bad = yield fails(ValidationError, "create_scheduler_job", "one_time", "in two hours", "x", user)
    assert bad.status_code == 422

    for job_id in (once["id"], replaced["id"]):
        assert (yield call("delete_scheduler_job", job_id)) is None
        yield fails(NotFoundError, "get_scheduler_job", job_id)


# --- triggers, webhooks, SOPs ------------------------------------------------------------------------


def flow_triggers(ctx: Context) -> Flow:
    listing = yield call("get_triggers")
    assert listing["triggers"] == ["greet", "notify"] and listing["count"] == 2

    greet = yield call("get_trigger", "greet")
    assert greet["data_fields"] == ["name"]
    assert "${{ data.name }}" in greet["content"]

    missing = yield fails(NotFoundError, "get_trigger", "no-such-trigger")
    assert missing.code == "TRIGGER_NOT_FOUND"

    name = f"Ada-{ctx.tag}"
    fired = yield call("fire_trigger", "greet", {"name": name}, user_id=ctx.name("user"))
    assert fired["status"] == "completed"
    assert fired["content"] == ANSWER
    assert ctx.llm.saw(f"Greet {name} in one short sentence.")  # rendered from the template


def _webhook_for(request_id: str) -> Any:
    def seen(server: HTTPTestServer) -> bool:
        return any(_body_id(r.body) == request_id for r in server.requests)
    return seen


def _body_id(body: bytes) -> str | None:
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value.get("id") if isinstance(value, dict) else None


def flow_trigger_async_webhook(ctx: Context) -> Flow:
    source = f"ci-{ctx.tag}"
    fired = yield call("fire_trigger", "notify", {"event": "deploy", "source": source}, async_mode=True,
                       user_id=ctx.name("user"))
    assert fired["status"] == "processing"
    request_id = fired["request_id"]
    # The same result without a webhook: poll the request tracker until the request is finished.
    finished = yield call("wait_for_request", request_id, ctx.name("user"), timeout=WEBHOOK_TIMEOUT, interval=0.2)
    assert (finished["request_id"], finished["status"]) == (request_id, "completed")

    arrived = yield wait_for(ctx.webhooks, _webhook_for(request_id), WEBHOOK_TIMEOUT)
    assert arrived, f"no webhook for {request_id} within {WEBHOOK_TIMEOUT:.0f}s"
    hook = next(r for r in ctx.webhooks.requests if _body_id(r.body) == request_id)
    assert hook.method == "POST" and hook.target == "/hook"

    signature = hook.header("x-muxi-signature")
    assert signature and signature.startswith("t=")
    assert webhook.verify_signature(hook.body, signature, ctx.runtime.admin_key)
    assert not webhook.verify_signature(hook.body, signature, ctx.runtime.client_key)
    assert not webhook.verify_signature(hook.body + b" ", signature.replace("v1=", "v1=0"), ctx.runtime.admin_key)

    # The runtime signs the canonical JSON, not the bytes it sends (docs/protocol.md §12): a check over
    # the raw body alone, as the official SDK does, would reject this real webhook.
    stamp, _, digest = signature.partition(",v1=")
    raw_mac = hmac.new(ctx.runtime.admin_key.encode(), stamp[2:].encode() + b"." + hook.body, hashlib.sha256)
    assert raw_mac.hexdigest() != digest

    event = webhook.parse(hook.body)
    assert (event.request_id, event.status, event.kind) == (request_id, "completed", "response")
    assert event.text == ANSWER
    assert event.formation_id == FORMATION_ID
    assert ctx.llm.saw(source)  # the trigger's data reached the model


def flow_sops(ctx: Context) -> Flow:
    listing = yield call("get_sops")
    assert [s["name"] for s in listing["sops"]] == ["greeting"]
    assert listing["sops"][0]["steps"] == 2

    sop = yield call("get_sop", "greeting")
    assert sop["content"].startswith("# Greeting a new user")
    assert sop["steps"] == 2

    missing = yield fails(NotFoundError, "get_sop", "no-such-sop")
    assert missing.code == "SOP_NOT_FOUND"


# --- audit, credentials, users ---------------------------------------------------------------------


def flow_audit(ctx: Context) -> Flow:
    assert (yield call("clear_audit_log")) is None
    log = yield call("get_audit_log")
    actions = [entry["action"] for entry in log["entries"]]
    assert "audit.cleared" in actions
    limited = yield call("get_audit_log", limit=1)
    assert limited["limit"] == 1 and len(limited["entries"]) <= 1
    filtered = yield call("get_audit_log", action="audit.cleared")
    assert {entry["action"] for entry in filtered["entries"]} == {"audit.cleared"}


def flow_credentials(ctx: Context) -> Flow:
    user = ctx.name("user")
    services = yield call("list_credential_services")
    assert services["count"] == len(services["services"])
    creds = yield call("list_credentials", user)
    assert creds == {**creds, "credentials": [], "count": 0}

    missing = yield fails(NotFoundError, "get_credential", "cred_doesnotexist", user)
    assert missing.status_code == 404
    yield fails(NotFoundError, "delete_credential", "cred_doesnotexist", user)

    # Storing a credential fails inside the runtime (docs/runtime.md).
    broken = yield fails(ServerError, "create_credential", user,
                         {"service": "github", "name": "gh", "credential": {"token": f"t-{ctx.tag}"}})
    assert broken.code == "INTERNAL_ERROR"
    assert f"t-{ctx.tag}" not in str(broken)  # the credential is not echoed into the error


def flow_users(ctx: Context) -> Flow:
    email = f"{ctx.tag}@example.com"
    resolved = yield call("resolve_user", email)
    muxi_user = resolved["muxi_user_id"]
    assert resolved["identifier"] == email and muxi_user
    again = yield call("resolve_user", email, identifier_type="email")
    assert again["muxi_user_id"] == muxi_user  # stable

    ids = yield call("get_user_identifiers_for_user", muxi_user)
    assert [i["identifier"] for i in ids["identifiers"]] == [email]

    alias, chat = f"alt-{ctx.tag}@example.com", f"tg-{ctx.tag}"
    linked = yield call("link_user_identifier", muxi_user, [alias, {"identifier": chat, "type": "telegram"}])
    assert linked["muxi_user_id"] == muxi_user
    ids = yield call("get_user_identifiers_for_user", muxi_user)
    by_id = {i["identifier"]: i["type"] for i in ids["identifiers"]}
    assert by_id.keys() == {email, alias, chat} and by_id[chat] == "telegram"

    assert (yield call("unlink_user_identifier", alias)) is None
    ids = yield call("get_user_identifiers_for_user", muxi_user)
    assert {i["identifier"] for i in ids["identifiers"]} == {email, chat}

    yield fails(NotFoundError, "unlink_user_identifier", f"nobody-{ctx.tag}")
    unknown = yield fails(NotFoundError, "get_user_identifiers_for_user", f"no-user-{ctx.tag}")
    assert unknown.code == "RESOURCE_NOT_FOUND"
    yield fails(NotFoundError, "link_user_identifier", f"no-user-{ctx.tag}", [f"x-{ctx.tag}"])


# --- streams and audio -----------------------------------------------------------------------------


def flow_event_and_log_streams(ctx: Context) -> Flow:
    user = ctx.name("user")
    # /events and /logs open as SSE and send nothing until something matches (docs/runtime.md):
    # open, check the answer, close without reading.
    events = yield stream("stream_events", user, limit=0)
    assert (events.header("content-type") or "").startswith("text/event-stream")
    logs = yield stream("stream_logs", {"user_id": user}, limit=0)
    assert (logs.header("content-type") or "").startswith("text/event-stream")

    no_filter = yield fails(ValidationError, "stream_logs")
    assert (no_filter.code, no_filter.status_code) == ("INVALID_REQUEST", 400)

    # GET /events/{session}/{request} is broken upstream (an import error inside the runtime).
    broken = yield fails(ServerError, "stream_request", user, ctx.name("sess"), "req_doesnotexist")
    assert (broken.code, broken.status_code) == ("INTERNAL_ERROR", 500)


def flow_audio_chat_needs_files(ctx: Context) -> Flow:
    for method in ("audio_chat", "audio_chat_stream"):  # the stream's 422 arrives before any SSE
        bad = yield fails(ValidationError, method, {"message": "hello"}, user_id=ctx.name("user"))
        assert bad.code == "INVALID_PARAMS"
        assert bad.details["error"]["data"]["validation_errors"][0]["field"] == "files"


# --- operations the official SDK has no method for (docs/api-coverage.md) ----------------------------

NO_SOURCES = "Agent 'assistant' has no remote knowledge sources"
NO_DISTILLERY = "Memory distillery is not enabled for this formation (memory.distillery.enabled)"
NO_PROACTIVE = "Proactive notifications are not configured for this formation (missing 'proactive' block)"
NO_LINT = "Memory lint is not configured (declare a 'memory.lint' block)"
# The runtime's default local embedding and classifier models are not installed offline (docs/runtime.md).
NO_EMBEDDER = "Repo has no ONNX weights and sentence-transformers is not installed"
PROJECTIONS = ["artifact_metadata", "captains_log", "flat_facts", "knowledge_graph"]


def _settled(result: Any) -> bool:
    return result.get("status") not in ("queued", "processing")


def flow_knowledge(ctx: Context) -> Flow:
    for source in (None, "docs"):
        none = yield fails(ValidationError, "sync_agent_knowledge", "assistant", source_id=source)
        assert (none.code, none.status_code, none.message) == ("INVALID_REQUEST", 400, NO_SOURCES)
    missing = yield fails(NotFoundError, "sync_agent_knowledge", "no-such-agent")
    assert missing.code == "AGENT_NOT_FOUND"

    every = yield call("rebuild_knowledge")
    assert sorted(every["agents"]) == ["assistant", "muxi-generalist"] and every["source_id"] is None
    one = yield call("rebuild_knowledge", agent_id="assistant", source_id="docs")
    assert one["agents"] == {"assistant": {"rebuilt": [], "failed": [], "skipped": []}}
    assert one["source_id"] == "docs"


def flow_skills_broken_upstream(ctx: Context) -> Flow:
    # The skills routes call the runtime's response helpers with the wrong arguments (docs/runtime.md).
    for method, args in (("get_skills", ()), ("get_agent_skills", ("assistant",))):
        broken = yield fails(ServerError, method, *args)
        assert (broken.code, broken.status_code) == ("INTERNAL_ERROR", 500)
        assert "create_success_response() missing 2 required positional arguments" in broken.message
    broken = yield fails(ServerError, "get_skill", "no-such-skill")
    assert broken.message == "create_error_response() got an unexpected keyword argument 'status_code'"


def flow_secrets_reload(ctx: Context) -> Flow:
    got = yield call("reload_secrets")
    assert got["message"] == "Secrets reloaded successfully using add-or-override merge semantics"
    assert all(isinstance(got[k], list) for k in ("added", "overwritten", "preserved"))
    assert isinstance(got["count"], int)


def flow_memory_ingestion_history(ctx: Context) -> Flow:
    user = ctx.name("user")
    batch = yield call("ingest_memories", user, [
        {"content": f"Plays the viola {ctx.tag}", "source": "crm", "source_id": f"crm-{ctx.tag}"},
        {"content": "no source"},
    ])
    assert [item["status"] for item in batch["items"]] == ["accepted", "invalid"]
    assert batch["counts"] == {"accepted": 1, "duplicate": 0, "invalid": 1}
    status = yield poll("get_memory_ingestion_status", batch["processing_id"], user, until=_settled)
    assert status["status"] == "completed" and status["counts"]["stored"] == 1
    assert [(i["source"], i["source_id"]) for i in status["items"]] == [("crm", f"crm-{ctx.tag}")]
    missing = yield fails(NotFoundError, "get_memory_ingestion_status", f"ing_missing{ctx.tag}", user)
    assert missing.code == "NOT_FOUND"
    empty = yield fails(ValidationError, "ingest_memories", user, [])
    assert (empty.code, empty.status_code) == ("INVALID_PARAMS", 422)

    neither = yield fails(ValidationError, "get_memory_provenance", user)
    assert neither.message == "Provide 'entity' (a knowledge graph entity name) or 'event_id'"
    unknown = yield fails(NotFoundError, "get_memory_provenance", user, entity=f"nothing-{ctx.tag}")
    assert unknown.message == f"Unknown entity 'nothing-{ctx.tag}'"

    history = yield call("get_history", user, limit=5, include_sources=True, date_from="2020-01-01")
    assert history["count"] == len(history["entries"])
    bad = yield fails(ValidationError, "get_history", user, limit=0)
    assert bad.status_code == 422

    buffers = yield call("get_all_buffers")
    assert {"total_entries", "max_size", "utilization"} <= set(buffers["buffers"][0])


def flow_memory_maintenance(ctx: Context) -> Flow:
    user = ctx.name("user")
    dry = yield call("rebuild_memory", user, dry_run=True)
    assert dry["dry_run"] is True and sorted(dry["projections"]) == PROJECTIONS
    # A real rebuild needs the runtime's default embedding model, which the offline test machine
    # lacks: the background job fails, the inline one is a 500 (docs/runtime.md).
    job = yield call("rebuild_memory", user)
    assert (job["status"], job["status_url"]) == ("processing", f"/memory/rebuild/{job['job_id']}")
    done = yield poll("get_memory_rebuild_status", job["job_id"], until=_settled)
    assert done["status"] == "failed" and NO_EMBEDDER in done["error"]
    inline = yield fails(ServerError, "rebuild_memory", user, background=False)
    assert inline.status_code == 500 and NO_EMBEDDER in inline.message
    yield fails(NotFoundError, "get_memory_rebuild_status", f"job_missing{ctx.tag}")

    forget = yield call("forget_memory", user, "chat", reason="user_request")
    assert (forget["deleted_events"], forget["grace_period_days"], forget["status"]) == (0, 30, "processing")
    forgotten = yield poll("get_memory_forget_status", forget["job_id"], until=_settled)
    assert forgotten["status"] == "failed" and NO_EMBEDDER in forgotten["error"]
    later = yield call("forget_memory", user, "chat", rebuild=False)
    assert later["rebuild_required"] == PROJECTIONS
    waited = yield fails(ServerError, "forget_memory", user, "chat", sync=True)
    assert waited.message.startswith("Failed to forget memory source: ")
    yield fails(NotFoundError, "get_memory_forget_status", f"job_missing{ctx.tag}")

    backfill = yield fails(ServerError, "backfill_memory", user)
    assert backfill.status_code == 500 and NO_EMBEDDER in backfill.message
    lint = yield fails(ServerError, "lint_memory", user_id=user)
    assert (lint.code, lint.status_code, lint.message) == ("SERVICE_UNAVAILABLE", 503, NO_LINT)


def flow_distilleries_need_configuration(ctx: Context) -> Flow:
    # The test formation has no `memory.distillery` block: every distillery route says so (503).
    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
        ("get_distilleries", (), {}),
        ("register_distillery", (f"d-{ctx.tag}", "not-a-key"), {"trust_level": "low"}),
        ("revoke_distillery", (f"dist_{ctx.tag}",), {}),
        ("ingest_distilled_memories", (b'{"batch_id":"b1","events":[]}',),
         {"distillery_id": "d1", "signature": "c2ln", "timestamp": 1}),
        ("get_distilled_status", (f"dst_{ctx.tag}",), {}),
    ]
    for method, args, kwargs in calls:
        off = yield fails(ServerError, method, *args, **kwargs)
        assert (off.code, off.status_code, off.message) == ("SERVICE_UNAVAILABLE", 503, NO_DISTILLERY), method


def flow_user_lookup_channels_notifications(ctx: Context) -> Flow:
    email = f"look-{ctx.tag}@example.com"
    resolved = yield call("resolve_user", email, identifier_type="email")
    got = yield call("get_user", email)
    assert (got["identifier"], got["muxi_user_id"]) == (email, resolved["muxi_user_id"])
    unknown = yield fails(NotFoundError, "get_user", f"nobody-{ctx.tag}")
    assert unknown.message == f"Identifier not found: 'nobody-{ctx.tag}'"

    # The test formation has no `proactive` block (docs/runtime.md).
    user = resolved["muxi_user_id"]
    for method, args, kwargs in (
        ("get_user_channels", (user,), {}),
        ("update_user_channels", (user,), {"preferred_channel": "email", "timezone": "UTC",
                                           "channels": {"email": {"address": email}}}),
        ("send_notification", (user, f"Hello {ctx.tag}"), {"channels": ["email"]}),
    ):
        off = yield fails(ServerError, method, *args, **kwargs)
        assert (off.code, off.status_code, off.message) == ("SERVICE_UNAVAILABLE", 503, NO_PROACTIVE), method


def flow_artifacts(ctx: Context) -> Flow:
    user = ctx.name("user")
    listing = yield call("get_artifacts", user, 5)
    assert (listing["artifacts"], listing["count"], listing["total"]) == ([], 0, 0)
    for method, kwargs in (("get_artifact", {}), ("get_artifact_content", {"version": 2}),
                           ("get_artifact_versions", {})):
        missing = yield fails(NotFoundError, method, f"art_{ctx.tag}", user, **kwargs)
        assert (missing.code, missing.message) == ("NOT_FOUND", f"Artifact 'art_{ctx.tag}' not found"), method


def flow_tuning(ctx: Context) -> Flow:
    text = f"# Tuning {ctx.tag}\n\nBe brief.\n"
    written = yield call("update_tuning", text)
    assert written["path"].endswith("/MUXI.md") and written["bytes"] == len(text.encode())
    got = yield call("get_tuning")
    assert (got["content"], got["path"]) == (text.strip(), written["path"])
    pending = yield call("get_pending_tuning")
    assert pending["content"] is None and pending["path"].endswith("/PENDING-MUXI.md")
    for method, verb in (("apply_pending_tuning", "apply"), ("dismiss_pending_tuning", "dismiss")):
        none = yield fails(NotFoundError, method)
        assert (none.code, none.message) == ("TUNING_NO_PENDING", f"No pending MUXI.md suggestion to {verb}")
    run = yield call("run_tuning")
    assert run["trigger"] == "manual" and isinstance(run["duration_ms"], float)
    bad = yield fails(ValidationError, "update_tuning", None)  # content is required
    assert bad.code == "INVALID_PARAMS"


def flow_all_session_messages(ctx: Context) -> Flow:
    user, session = ctx.name("user"), ctx.name("sess")
    for n in (1, 2):
        yield call("chat", {"message": f"Message {n} about {ctx.tag}.", "session_id": session}, user_id=user)
    # The runtime writes the last answer to the buffer after the chat returns: wait for all four.
    every = yield poll("get_all_session_messages", session, user, until=lambda m: m["count"] == 4, timeout=20.0)
    assert every["has_more"] is False and every["count"] == len(every["messages"]) == 4
    assert [m["text"] for m in every["messages"]][::2] == [f"Message {n} about {ctx.tag}." for n in (1, 2)]
    # `before` is ignored by the runtime: a page "before 2000" is still the oldest message.
    page = yield call("get_session_messages", session, user, limit=1, before="2000-01-01T00:00:00Z")
    assert page["messages"] == every["messages"][:1] and page["has_more"] is True
    too_many = yield fails(LimitExceededError, "get_all_session_messages", session, user, max_messages=3)
    assert too_many.details == {"session_id": session, "limit": 3, "received": 3}


FLOWS = [
    flow_health,
    flow_status_config_formation,
    flow_agents,
    flow_mcp,
    flow_llm_overlord_soul,
    flow_logging_async_a2a,
    flow_secrets_crud,
    flow_chat_json,
    flow_chat_stream,
    flow_sessions,
    flow_requests,
    flow_memory,
    flow_memory_broken_upstream,
    flow_scheduler,
    flow_triggers,
    flow_trigger_async_webhook,
    flow_sops,
    flow_audit,
    flow_credentials,
    flow_users,
    flow_event_and_log_streams,
    flow_audio_chat_needs_files,
    flow_knowledge,
    flow_skills_broken_upstream,
    flow_secrets_reload,
    flow_memory_ingestion_history,
    flow_memory_maintenance,
    flow_distilleries_need_configuration,
    flow_user_lookup_channels_notifications,
    flow_artifacts,
    flow_tuning,
    flow_all_session_messages,
]
