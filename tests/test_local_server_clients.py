"""Flows through our own clients against the local server: deploy, chat, sessions, triggers and webhooks."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ServeFactory, TransportCase
from test_local_server_support import bundle, rpc

from muxi_proto import webhook
from muxi_proto.bundle import BundleError
from muxi_proto.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    ServerError,
    StreamError,
    ValidationError,
)
from muxi_proto.streams import ChatAnswer, DeploymentStream
from muxi_testing import LocalMuxiServer, ScriptedReply
from muxi_transports import (
    AsyncFormationClient,
    AsyncServerClient,
    FormationClient,
    ServerClient,
)
from tests.httpserver import ResponseWriter, ServerRequest


@pytest.fixture
def server() -> Iterator[LocalMuxiServer]:
    with LocalMuxiServer(webhook_retry_delays=(0.01, 0.01, 0.01)) as srv:
        yield srv
        assert srv.errors == []


@pytest.fixture
def ctl(server: LocalMuxiServer) -> Iterator[ServerClient]:
    with ServerClient(server.server_config()) as client:
        yield client


@pytest.fixture
def fc(server: LocalMuxiServer) -> Iterator[FormationClient]:
    with FormationClient(server.formation_config()) as client:
        yield client


# --- control plane -----------------------------------------------------------------------------------


def test_server_basics(ctl: ServerClient, server: LocalMuxiServer) -> None:
    assert ctl.ping() == "pong"
    assert ctl.health()["status"] == "ok"
    assert ctl.status()["formations"]["running"] == 1
    assert [f["id"] for f in ctl.list_formations()["formations"]] == [server.formation_id]
    assert ctl.get_formation(server.formation_id)["status"] == "running"
    with pytest.raises(NotFoundError):
        ctl.get_formation("ghost-formation")
    assert "RPC request" in ctl.get_server_logs(lines=5)


def test_wrong_secret_is_an_authentication_error(server: LocalMuxiServer) -> None:
    with ServerClient(url=server.url, key_id=server.key_id, secret_key="sk_wrong") as client, \
            pytest.raises(AuthenticationError) as info:
        client.list_formations()
    assert info.value.message == "Invalid signature" and info.value.status_code == 401


def test_deploy_with_progress_then_use_the_new_formation(
    ctl: ServerClient, server: LocalMuxiServer, tmp_path: Path
) -> None:
    source = tmp_path / "shop-bot"
    (source / "agents").mkdir(parents=True)
    (source / "formation.afs").write_text('schema: "1.0.0"\nid: shop-bot\nversion: "1.2.0"\nname: Shop bot\n')
    (source / "agents" / "a.afs").write_text("id: a\n")
    (source / ".env").write_text("SECRET=1\n")  # left out of the bundle by the packer
    evts = list(ctl.deploy_formation_stream("shop-bot", str(source)))
    assert [e.event for e in evts][-1] == "complete"
    assert {e.json()["stage"] for e in evts if e.event == "progress"} >= {"extracting", "spawning", "health_check"}
    info = ctl.get_formation("shop-bot")
    assert (info["status"], info["formation_version"]) == ("running", "1.2.0")
    with FormationClient(server.formation_config("shop-bot")) as shop:
        assert shop.chat({"message": "order status?"}, user_id="u1")["message"]["content"] == "order status?"
    archive = zipfile.ZipFile(io.BytesIO(ctl.download_formation("shop-bot")))
    assert sorted(archive.namelist()) == ["agents/", "agents/a.afs", "formation.afs"]
    with pytest.raises(ConflictError):
        ctl.deploy_formation("shop-bot", str(source))


def test_update_rollback_and_lifecycle(ctl: ServerClient, server: LocalMuxiServer, tmp_path: Path) -> None:
    fid = server.formation_id
    evts = list(ctl.update_formation_stream(fid, bundle(tmp_path, fid, version="1.1.0"), version="1.1.0"))
    assert evts[-1].event == "complete" and evts[-1].json()["new_version"] == "2"
    with pytest.raises(ConflictError) as info:  # the same bundle again: nothing to update
        ctl.update_formation(fid, bundle(tmp_path, fid, version="1.1.0"), version="1.1.0")
    assert info.value.message.startswith("Bundle is identical")
    assert ctl.rollback_formation(fid)["version"] == 1
    assert ctl.stop_formation(fid)["status"] == "stopped"
    with pytest.raises(ConflictError):
        ctl.stop_formation(fid)
    assert [e.event for e in ctl.start_formation_stream(fid)][-1] == "complete"
    assert ctl.restart_formation(fid)["restart_count"] == 1
    with pytest.raises(NotFoundError):
        list(ctl.start_formation_stream("ghost-formation"))
    with pytest.raises(NotFoundError):
        list(ctl.restart_formation_stream("ghost-formation"))
    with pytest.raises(ValidationError):
        ctl.cancel_update(fid)  # 400: no update in progress
    assert ctl.delete_formation(fid)["id"] == fid


def test_logs_and_follow(ctl: ServerClient, server: LocalMuxiServer) -> None:
    fid = server.formation_id
    server.add_log_line("first line")
    logs = ctl.get_formation_logs(fid, lines=1, stream="stdout")
    assert logs["logs"] == {"stdout": ["first line"]}
    stream = ctl.stream_formation_logs(fid)
    with stream:
        first = next(iter(stream))
        assert first.event == "connected"
        server.add_log_line("live line")
        assert next(iter(stream)).json()["line"] == "live line"


# --- formation plane ----------------------------------------------------------------------------------


def test_chat_json_and_stream(fc: FormationClient, server: LocalMuxiServer) -> None:
    server.reply = lambda message: message.upper()
    answer = fc.chat({"message": "quiet please", "session_id": "s1"}, user_id="amy")
    assert answer["message"]["content"] == "QUIET PLEASE" and answer["session_id"] == "s1"
    text = ChatAnswer()
    shown = "".join(text.add(evt) for evt in fc.chat_stream({"message": "stream me", "session_id": "s1"},
                                                           user_id="amy"))
    assert shown == text.text == "STREAM ME" and text.completed and not text.replaced
    # Recorded (tests/fixtures/runtime/default/sessions.json): single-user mode keeps chats under user "0";
    # a session listing has no message count (the session itself has one); messages are {text, metadata}.
    sessions = fc.get_sessions("amy")
    assert [(s["session_id"], s["user_id"]) for s in sessions["sessions"]] == [("s1", "0")]
    assert fc.get_session("s1", "amy")["message_count"] == 4
    msgs = fc.get_session_messages("s1", "amy")["messages"]
    assert [m["text"] for m in msgs] == ["quiet please", "QUIET PLEASE", "stream me", "STREAM ME"]
    assert [m["metadata"]["role"] for m in msgs] == ["user", "assistant"] * 2
    requests = fc.get_requests("amy")["requests"]
    assert len(requests) == 2
    status = fc.get_request_status(requests[0]["request_id"], "amy")
    assert (status["status"], status["result"]) == ("completed", "QUIET PLEASE")


def test_chat_stream_ui_and_errors(fc: FormationClient, server: LocalMuxiServer) -> None:
    server.reply = lambda message: ScriptedReply("Choose", ui=[{"type": "buttons", "buttons": []}])
    answer = ChatAnswer()
    for evt in fc.chat_stream({"message": "x"}, user_id="u"):
        answer.add(evt)
    assert answer.ui == [{"type": "buttons", "buttons": []}]

    def broken(message: str) -> str:
        raise RuntimeError("no model today")

    server.reply = broken
    with pytest.raises(StreamError) as info:
        list(fc.chat_stream({"message": "x"}, user_id="u"))
    assert (info.value.code, info.value.message) == ("RuntimeError", "no model today")
    with pytest.raises(ServerError):
        fc.chat({"message": "x"}, user_id="u")


def test_secrets_and_admin_reads(fc: FormationClient) -> None:
    fc.set_secret("OPENAI_KEY", "sk-1234567890")
    fc.set_secret("OPENAI_KEY", "sk-0987654321")  # update path
    # Masked as recorded (default/secrets.json): a prefix and the last four characters stay visible.
    masked = "sk-09\u2022\u2022\u2022\u2022\u2022\u20224321"
    assert fc.get_secret("OPENAI_KEY") == {"key": "OPENAI_KEY", "value": masked}
    with pytest.raises(ConflictError):
        fc.create_secret("OPENAI_KEY", "x")
    fc.delete_secret("OPENAI_KEY")
    with pytest.raises(NotFoundError):
        fc.get_secret("OPENAI_KEY")
    assert fc.get_status()["formation"]["id"] == "demo-formation"
    assert fc.get_agents()["count"] == 1 and fc.get_agent("assistant")["name"] == "Assistant"
    for call in (fc.get_config, fc.get_formation_info, fc.get_mcp_servers, fc.get_mcp_tools, fc.get_llm_settings,
                 fc.get_logging_config, fc.get_logging_destinations, fc.get_async_config, fc.get_a2a_config,
                 fc.get_overlord_config, fc.get_overlord_soul, fc.get_memory_config, fc.get_buffer_stats,
                 fc.get_scheduler_config, fc.get_audit_log, fc.get_sops, fc.list_credential_services):
        assert isinstance(call(), dict), call
    assert fc.get_audit_log()["entries"] == []  # default/audit.json: secret changes are not audited


def test_user_scoped_resources(fc: FormationClient) -> None:
    # What the runtime answers for a default (SQLite, single-user) formation: default/memory.json,
    # credentials.json, scheduler.json, users.json.
    with pytest.raises(ServerError):  # the runtime's SQLite store has no list_memories
        fc.get_memories("bo")
    with pytest.raises(ServerError):
        fc.add_memory("bo", "preference", "likes tea")
    with pytest.raises(ServerError):  # ... nor a credential store
        fc.create_credential("bo", {"service": "github", "credential": {"token": "ghp_x"}})
    assert fc.list_credentials("bo")["count"] == 0
    job = fc.create_scheduler_job("recurring", "0 9 * * *", "Daily digest", "bo")
    assert fc.get_scheduler_jobs("bo")["jobs"][0]["id"] == job["id"]
    assert fc.pause_scheduler_job(job["id"])["status"] == "PAUSED"
    assert fc.resume_scheduler_job(job["id"])["status"] == "ACTIVE"
    replaced = fc.update_scheduler_job(job["id"], message="Weekly")  # a new job replaces a recurring one
    assert (replaced["original_prompt"], replaced["user_id"]) == ("Weekly", "0") and replaced["id"] != job["id"]
    fc.delete_scheduler_job(replaced["id"])
    user = fc.resolve_user("bo@example.com")["muxi_user_id"]
    linked = fc.link_user_identifier(user, ["bo-handle"])
    assert linked["identifiers"] == [{"identifier": "bo-handle", "type": "unknown"}]
    assert fc.resolve_user("bo-handle")["muxi_user_id"] == user
    assert fc.get_user_identifiers_for_user(user)["count"] == 2
    fc.unlink_user_identifier("bo-handle")
    assert fc.get_user_identifiers_for_user(user)["count"] == 1
    fc.chat({"message": "remember me", "session_id": "bs"}, user_id="bo")
    assert fc.get_user_buffer("bo")["total_messages"] == 0  # stored as user "0"...
    assert fc.get_user_buffer("0")["total_messages"] == 2  # ...where the buffer view finds them
    assert fc.clear_session_buffer("0", "bs")["messages_cleared"] == 2
    fc.restore_session("bs", "bo", [{"role": "user", "content": "again", "timestamp": "2026-01-01T00:00:00Z"}])
    assert fc.clear_user_buffer("0")["messages_cleared"] == 1
    fc.clear_audit_log()


# --- triggers and webhooks ---------------------------------------------------------------------------


class _Receiver:
    """Collects webhook POSTs; answers ``statuses`` in turn (then 200)."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.received: list[ServerRequest] = []
        self.lock = threading.Lock()

    async def __call__(self, request: ServerRequest, response: ResponseWriter) -> None:
        with self.lock:
            self.received.append(request)
            status = self.statuses.pop(0) if self.statuses else 200
        await response.respond(status, [("Content-Type", "application/json")], b'{"ok":true}')


def test_async_trigger_posts_a_webhook_signed_like_the_runtime(
    fc: FormationClient, server: LocalMuxiServer, serve: ServeFactory
) -> None:
    receiver = _Receiver()
    hook = serve(receiver)
    server.add_trigger("order-created", f"{hook.url}/hook", description="New order")
    server.reply = lambda message: f"Handled {message}"
    accepted = fc.fire_trigger("order-created", {"message": "order 42"}, async_mode=True, user_id="shop")
    assert accepted["status"] == "processing"
    assert server.wait_until(lambda s: len(s.webhooks) == 1 and s.webhooks[0].finished)
    delivery = server.webhooks[0]
    assert delivery.delivered and delivery.attempts == 1
    (posted,) = receiver.received
    raw = posted.body
    assert posted.header("content-type") == "application/json"
    header = posted.header("x-muxi-signature")
    assert header is not None and header.startswith(f"t={posted.header('x-muxi-timestamp')},v1=")
    # The wire bytes are json.dumps with default spacing, not the signed canonical form...
    assert b'", "' in raw and raw == json.dumps(json.loads(raw)).encode()
    t, v1 = header[2:].split(",v1=")
    raw_mac = hmac.new(server.admin_key.encode(), t.encode() + b"." + raw, hashlib.sha256).hexdigest()
    assert raw_mac != v1
    # ...so only a verifier that also checks the canonical JSON accepts it (as with the real runtime).
    assert webhook.verify_signature(raw, header, server.admin_key) is True
    assert webhook.verify_signature(raw, header, server.client_key) is False
    event = webhook.parse(raw)
    # default/trigger_webhook.json: single-user mode reports user "0", whoever fired the trigger.
    assert (event.status, event.text, event.user_id, event.formation_id) == (
        "completed", "Handled order 42", "0", server.formation_id)
    assert event.request_id == accepted["request_id"]
    payload = json.loads(raw)
    assert list(payload) == ["id", "object", "status", "timestamp", "formation_id", "user_id", "processing_time",
                             "processing_mode", "webhook_url", "error", "response"]
    assert payload["processing_mode"] == "async" and payload["webhook_url"] == f"{hook.url}/hook"
    assert fc.get_request_status(accepted["request_id"], "shop")["status"] == "completed"


def test_webhook_retries_on_the_runtimes_schedule(server: LocalMuxiServer, serve: ServeFactory) -> None:
    receiver = _Receiver([500, 503])
    hook = serve(receiver)
    server.add_trigger("flaky", f"{hook.url}/hook")
    with FormationClient(server.formation_config()) as fc:
        fc.fire_trigger("flaky", {"x": 1}, async_mode=True)
    assert server.wait_until(lambda s: bool(s.webhooks) and s.webhooks[0].finished)
    assert server.webhooks[0].statuses == [500, 503, 200]
    assert len(receiver.received) == 3
    signatures = {r.header("x-muxi-signature") for r in receiver.received}
    assert all(webhook.verify_signature(r.body, r.header("x-muxi-signature"), server.admin_key)
               for r in receiver.received) and len(signatures) >= 1


def test_webhook_gives_up_after_three_retries(server: LocalMuxiServer, serve: ServeFactory) -> None:
    receiver = _Receiver([503] * 10)
    hook = serve(receiver)
    server.add_trigger("down", f"{hook.url}/hook")
    with FormationClient(server.formation_config()) as fc:
        fc.fire_trigger("down", {"x": 1}, async_mode=True)
    assert server.wait_until(lambda s: bool(s.webhooks) and s.webhooks[0].finished)
    delivery = server.webhooks[0]
    assert (delivery.attempts, delivery.delivered, delivery.status) == (4, False, 503)


def test_webhook_to_a_dead_url_records_the_errors(server: LocalMuxiServer) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    server.add_trigger("dead", f"http://127.0.0.1:{dead}/hook")
    server.webhook_retry_delays = (0.0,)
    with FormationClient(server.formation_config()) as fc:
        fc.fire_trigger("dead", {}, async_mode=True)
    assert server.wait_until(lambda s: bool(s.webhooks) and s.webhooks[0].finished)
    assert server.webhooks[0].statuses == ["ConnectionError", "ConnectionError"]


def test_failed_async_trigger_sends_a_failed_webhook(server: LocalMuxiServer, serve: ServeFactory) -> None:
    receiver = _Receiver()
    hook = serve(receiver)
    server.add_trigger("boom", f"{hook.url}/hook")

    def broken(message: str) -> str:
        raise RuntimeError("no capacity")

    server.reply = broken
    with FormationClient(server.formation_config()) as fc:
        fc.fire_trigger("boom", {}, async_mode=True)
    assert server.wait_until(lambda s: bool(s.webhooks) and s.webhooks[0].finished)
    event = webhook.parse(receiver.received[0].body)
    assert event.status == "failed" and event.error is not None and event.error.message == "no capacity"


def test_sync_trigger(fc: FormationClient) -> None:
    result = fc.fire_trigger("echo", {"message": "now"})
    assert (result["status"], result["content"]) == ("completed", "now")
    assert fc.get_trigger("echo")["name"] == "echo"
    assert (fc.get_triggers()["triggers"], fc.get_triggers()["count"]) == (["echo"], 1)


# --- async clients on both loops ----------------------------------------------------------------------


@pytest.fixture
def anyio_backend(transport_case: TransportCase) -> str:
    """Each async transport on the loop it is built for."""
    return transport_case.backend


@pytest.mark.anyio
async def test_async_clients(server: LocalMuxiServer, transport_case: TransportCase, tmp_path: Path) -> None:
    transport = transport_case.make()
    try:
        async with AsyncFormationClient(server.formation_config(), transport=transport) as afc:
            answer = ChatAnswer()
            stream = await afc.chat_stream({"message": "async hello", "session_id": "as"}, user_id="zoe")
            async for evt in stream:
                answer.add(evt)
            assert answer.text == "async hello"
            assert (await afc.chat({"message": "again"}, user_id="zoe"))["message"]["content"] == "again"
            assert (await afc.get_session("as", "zoe"))["message_count"] == 2
        async with AsyncServerClient(server.server_config(), transport=transport) as actl:
            evts: list[Any] = []
            deploy = await actl.deploy_formation_stream("async-one", bundle(tmp_path, "async-one"))
            async for evt in deploy:
                evts.append(evt)
            assert evts[-1].event == "complete"
            assert (await actl.get_formation("async-one"))["status"] == "running"
            with pytest.raises(NotFoundError):
                restart = await actl.restart_formation_stream("ghost-formation")
                async for _ in restart:
                    pass
    finally:
        await transport.aclose()


def test_stream_and_json_failures_raise_the_same_error_class(ctl: ServerClient, server: LocalMuxiServer,
                                                             tmp_path: Path) -> None:
    """A rollback without a previous version and a broken bundle are 400s without a stream, so the
    stream's ``NoPreviousVersion`` / ``ExtractError`` / ``ParseError`` events raise ValidationError too."""
    fid = server.formation_id
    with pytest.raises(ValidationError):
        ctl.rollback_formation(fid)
    with pytest.raises(ValidationError) as info:
        list(ctl.rollback_formation_stream(fid))
    assert info.value.code == "NoPreviousVersion"
    broken = bundle(tmp_path, fid, version="1.0.1")[:-40]  # a truncated gzip stream
    with pytest.raises(BundleError):  # the client checks bundles before the upload...
        list(ctl.update_formation_stream(fid, broken, version="1.0.1"))
    raw = rpc(server, "PUT", f"/rpc/formations/{fid}", body=broken,  # ...so send it raw
              headers={"Content-Type": "application/gzip", "X-Formation-Version": "1.0.1",
                       "Accept": "text/event-stream"})
    machine = DeploymentStream()
    with pytest.raises(ValidationError) as extract:
        machine.feed(raw.body)
        machine.eof()
    assert extract.value.code == "ExtractError"


def test_runtime_streams_and_audio_through_the_client(fc: FormationClient, server: LocalMuxiServer) -> None:
    # default/streams.json: both streams open (200, text/event-stream) and nothing arrives.
    opened = server.traffic.total
    with fc.stream_events("kim"), fc.stream_logs({"user_id": "kim"}):
        fc.chat({"message": "tracked", "session_id": "ks"}, user_id="kim")
    assert server.traffic.total == opened + 3
    with pytest.raises(ServerError) as info:
        list(fc.stream_request("kim", "ks", "req_x"))
    assert info.value.code == "INTERNAL_ERROR"
    audio = {"files": [{"filename": "hello.wav", "content_type": "audio/wav", "data": "UklGRg=="}]}
    assert fc.audio_chat(audio, user_id="kim")["message"]["content"] == "[audio: hello.wav]"
    with pytest.raises(ValidationError):
        fc.audio_chat({"files": [{"filename": "x.txt", "content_type": "text/plain"}]}, user_id="kim")


def test_draft_mode_client(server: LocalMuxiServer) -> None:
    with FormationClient(server.formation_config(mode="draft")) as draft:
        assert draft.chat({"message": "draft"}, user_id="d")["message"]["content"] == "draft"
    assert server.traffic.count(f"/draft/{server.formation_id}/v1/chat") == 1


def test_cancel_update_through_the_client(tmp_path: Path) -> None:
    with LocalMuxiServer(step_delay=0.02, health_check_attempts=500) as server, \
            ServerClient(server.server_config()) as ctl:
        fid = server.formation_id
        stream = ctl.update_formation_stream(fid, bundle(tmp_path, fid, version="1.5.0"), version="1.5.0")
        with stream, pytest.raises(ServerError) as info:
            for evt in stream:
                if evt.json().get("stage") == "spawning_staging":
                    cancelled = ctl.cancel_update(fid)
                    assert cancelled["message"] == "Update cancelled successfully"
        assert info.value.code == "HealthCheckFailed"
        assert ctl.get_formation(fid)["formation_version"] == "1.0.0"
