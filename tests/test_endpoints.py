"""Every endpoint, sync and async, through a mock transport: the exact request and the decoded result.

The expected wire format below is transcribed from docs/official-api.md (what we send where the official SDK is
wrong) and docs/protocol.md; the test fails if an endpoint exists without an entry here, so a new endpoint
is tested by construction.
"""

from __future__ import annotations

import inspect
import io
import json
import re
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from muxi_proto import auth
from muxi_proto.api import Endpoint, StreamEndpoint
from muxi_proto.config import FormationConfig, ServerConfig
from muxi_proto.endpoints import FormationAPI, ServerAPI
from muxi_proto.errors import ConfigurationError
from muxi_proto.http import Request, Response
from muxi_proto.options import CallOptions
from muxi_proto.requests import Auth
from muxi_testing.envelopes import control_success, runtime_success
from muxi_transports import (
    AsyncFormationClient,
    AsyncMockTransport,
    AsyncServerClient,
    FormationClient,
    MockTransport,
    ServerClient,
    StreamingResponse,
)

NOW = 1_800_000_000
KEY_ID, SECRET = "MUXI_0123456789abcdef", "sk_" + "b" * 64
FID = "demo-formation"
BASE = f"/api/{FID}/v1"
EXAMPLE_FORMATION = Path(__file__).resolve().parent.parent / "examples" / "formation"

# name -> (method, path, credential, user header sent, query, body)
# credential: "hmac" | "admin" | "client" | "either" | None (public)
S = "hmac"
SERVER_WIRE: dict[str, tuple[Any, ...]] = {
    "ping": ("GET", "/ping", None, None, {}, None),
    "health": ("GET", "/health", None, None, {}, None),
    "status": ("GET", "/rpc/server/status", S, None, {}, None),
    "get_server_logs": ("GET", "/rpc/server/logs", S, None, {"lines": "50"}, None),
    "list_formations": ("GET", "/rpc/formations", S, None, {}, None),
    "get_formation": ("GET", f"/rpc/formations/{FID}", S, None, {}, None),
    "deploy_formation": ("POST", "/rpc/formations", S, None, {}, "bundle"),
    "deploy_formation_stream": ("POST", "/rpc/formations", S, None, {}, "bundle"),
    "update_formation": ("PUT", f"/rpc/formations/{FID}", S, None, {}, "bundle"),
    "update_formation_stream": ("PUT", f"/rpc/formations/{FID}", S, None, {}, "bundle"),
    "delete_formation": ("DELETE", f"/rpc/formations/{FID}", S, None, {}, None),
    "start_formation": ("POST", f"/rpc/formations/{FID}/start", S, None, {}, None),
    "start_formation_stream": ("POST", f"/rpc/formations/{FID}/start", S, None, {}, None),
    "stop_formation": ("POST", f"/rpc/formations/{FID}/stop", S, None, {}, None),
    "restart_formation": ("POST", f"/rpc/formations/{FID}/restart", S, None, {}, None),
    "restart_formation_stream": ("POST", f"/rpc/formations/{FID}/restart", S, None, {}, None),
    "rollback_formation": ("POST", f"/rpc/formations/{FID}/rollback", S, None, {}, None),
    "rollback_formation_stream": ("POST", f"/rpc/formations/{FID}/rollback", S, None, {}, None),
    "cancel_update": ("POST", f"/rpc/formations/{FID}/cancel-update", S, None, {}, None),
    "get_formation_logs": ("GET", f"/rpc/formations/{FID}/logs", S, None, {"lines": "50"}, None),
    "stream_formation_logs": ("GET", f"/rpc/formations/{FID}/logs", S, None, {"follow": "true"}, None),
    "download_formation": ("GET", f"/rpc/formations/{FID}/download", S, None, {}, None),
}
A, C, E = "admin", "client", "either"
U = "alice"
AUDIO = {"files": [{"filename": "note.ogg", "content_type": "audio/ogg", "data": "T2dnUw=="}]}
MESSAGE = {"role": "user", "content": "x", "timestamp": "2026-01-01T10:00:00Z"}
SIGNED = b'{"batch_id":"b1","events":[]}'
FORMATION_WIRE: dict[str, tuple[Any, ...]] = {
    "health": ("GET", "/health", None, None, {}, None),
    "get_status": ("GET", "/status", A, None, {}, None),
    "get_config": ("GET", "/config", A, None, {}, None),
    "get_formation_info": ("GET", "/formation", A, None, {}, None),
    "get_agents": ("GET", "/agents", A, None, {}, None),
    "get_agent": ("GET", "/agents/agent%201%2Fx", A, None, {}, None),
    "get_mcp_config": ("GET", "/mcp", A, None, {}, None),
    "get_mcp_servers": ("GET", "/mcp/servers", A, None, {}, None),
    "get_mcp_server": ("GET", "/mcp/servers/srv-1", A, None, {}, None),
    "get_mcp_tools": ("GET", "/mcp/tools", A, None, {}, None),
    "get_llm_settings": ("GET", "/llm/settings", A, None, {}, None),
    "get_logging_config": ("GET", "/logging", A, None, {}, None),
    "get_logging_destinations": ("GET", "/logging/destinations", A, None, {}, None),
    "get_async_config": ("GET", "/async", A, None, {}, None),
    "get_a2a_config": ("GET", "/a2a", A, None, {}, None),
    "get_overlord_config": ("GET", "/overlord", A, None, {}, None),
    "get_overlord_soul": ("GET", "/overlord/soul", A, None, {}, None),
    "get_secrets": ("GET", "/secrets", A, None, {}, None),
    "get_secret": ("GET", "/secrets", A, None, {}, None),
    "create_secret": ("POST", "/secrets", A, None, {}, {"key": "API_TOKEN", "value": "v@lue"}),
    "update_secret": ("PUT", "/secrets/API_TOKEN", A, None, {}, {"value": "v@lue"}),
    "set_secret": ("PUT", "/secrets/API_TOKEN", A, None, {}, {"value": "v@lue"}),
    "delete_secret": ("DELETE", "/secrets/API_TOKEN", A, None, {}, None),
    "chat": ("POST", "/chat", C, U, {}, {"message": "hi", "stream": False}),
    "chat_stream": ("POST", "/chat", C, U, {}, {"message": "hi", "stream": True}),
    "audio_chat": ("POST", "/audiochat", C, U, {}, {**AUDIO, "stream": False}),
    "audio_chat_stream": ("POST", "/audiochat", C, U, {}, {**AUDIO, "stream": True}),
    "get_sessions": ("GET", "/sessions", C, U, {"limit": "10"}, None),
    "get_session": ("GET", "/sessions/sess-1", C, U, {}, None),
    "get_session_messages": ("GET", "/sessions/sess-1/messages", C, U, {}, None),
    "restore_session": ("POST", "/sessions/sess-1/restore", C, U, {}, {"messages": [MESSAGE]}),
    "get_requests": ("GET", "/requests", E, U, {}, None),
    "get_request_status": ("GET", "/requests/req-1", E, U, {}, None),
    "cancel_request": ("DELETE", "/requests/req-1", E, U, {}, None),
    "get_memory_config": ("GET", "/memory", A, None, {}, None),
    "get_buffer_stats": ("GET", "/memory/stats", A, None, {}, None),
    "get_memories": ("GET", "/memories", E, U, {"limit": "10"}, None),
    "add_memory": ("POST", "/memories", E, U, {}, {"type": "fact", "detail": "likes tea"}),
    "delete_memory": ("DELETE", "/memories/mem-1", E, U, {}, None),
    "get_user_buffer": ("GET", "/memory/buffer", E, U, {}, None),
    "clear_user_buffer": ("DELETE", "/memory/buffer", E, U, {}, None),
    "clear_session_buffer": ("DELETE", "/memory/buffer/sess-1", E, U, {}, None),
    "clear_all_buffers": ("DELETE", "/memory/buffers", A, None, {}, None),
    "get_scheduler_config": ("GET", "/scheduler", A, None, {}, None),
    "get_scheduler_jobs": ("GET", "/scheduler/jobs", E, U, {}, None),
    "get_scheduler_job": ("GET", "/scheduler/jobs/job-1", A, None, {}, None),
    "create_scheduler_job": ("POST", "/scheduler/jobs", A, U, {}, {"type": "one_time", "schedule": "in 5m",
                                                                    "message": "ping me"}),
    "update_scheduler_job": ("PUT", "/scheduler/jobs/job-1", A, None, {}, {"schedule": "0 9 * * *"}),
    "delete_scheduler_job": ("DELETE", "/scheduler/jobs/job-1", A, None, {}, None),
    "pause_scheduler_job": ("POST", "/scheduler/jobs/job-1/pause", A, None, {}, None),
    "resume_scheduler_job": ("POST", "/scheduler/jobs/job-1/resume", A, None, {}, None),
    "get_triggers": ("GET", "/triggers", C, None, {}, None),
    "get_trigger": ("GET", "/triggers/new-order", C, None, {}, None),
    "fire_trigger": ("POST", "/triggers/new-order", C, U, {}, {"data": {"order": 7}, "use_async": True}),
    "get_sops": ("GET", "/sops", C, None, {}, None),
    "get_sop": ("GET", "/sops/refunds", C, None, {}, None),
    "list_credential_services": ("GET", "/credentials/services", E, None, {}, None),
    "list_credentials": ("GET", "/credentials", E, U, {}, None),
    "create_credential": ("POST", "/credentials", E, U, {}, {"service": "github", "credential": {"token": "t"}}),
    "get_credential": ("GET", "/credentials/cred-1", E, U, {}, None),
    "delete_credential": ("DELETE", "/credentials/cred-1", E, U, {}, None),
    "resolve_user": ("POST", "/users/resolve", C, None, {}, {"identifier": "alice@example.com"}),
    "get_user_identifiers_for_user": ("GET", "/users/identifiers/alice", C, None, {}, None),
    "link_user_identifier": ("POST", "/users/identifiers", C, None, {}, {"muxi_user_id": "alice",
                                                                          "identifiers": ["a@x.io"]}),
    "unlink_user_identifier": ("DELETE", "/users/identifiers/a%40x.io", C, None, {}, None),
    "get_audit_log": ("GET", "/audit", A, None, {}, None),
    "clear_audit_log": ("DELETE", "/audit", A, None, {"confirm": "clear-audit-log"}, None),
    # Operations the official SDK has no method for (docs/api-coverage.md).
    "sync_agent_knowledge": ("POST", "/agents/assistant/knowledge/sync", A, None, {}, {"source_id": "docs"}),
    "rebuild_knowledge": ("POST", "/knowledge/rebuild", A, None, {}, {"agent_id": "assistant"}),
    "get_skills": ("GET", "/skills", C, None, {}, None),
    "get_skill": ("GET", "/skills/pdf", C, None, {}, None),
    "get_agent_skills": ("GET", "/agents/assistant/skills", C, None, {}, None),
    "reload_secrets": ("POST", "/secrets/reload", A, None, {}, None),
    "get_all_buffers": ("GET", "/memory/buffers", A, None, {}, None),
    "ingest_memories": ("POST", "/memories/batch", E, U, {}, {"items": [{"content": "likes tea", "source": "crm"}]}),
    "get_memory_ingestion_status": ("GET", "/memories/ingestion/ing_1", E, U, {}, None),
    "get_memory_provenance": ("GET", "/memories/provenance", E, U, {"entity": "tea"}, None),
    "ingest_distilled_memories": ("POST", "/memories/distilled", E, None, {}, SIGNED),
    "get_distilled_status": ("GET", "/memories/distilled/dst_1", E, None, {}, None),
    "get_history": ("GET", "/history", E, U, {"limit": "5", "include_sources": "true"}, None),
    "rebuild_memory": ("POST", "/memory/rebuild", A, None, {}, {"user_id": U, "dry_run": True}),
    "get_memory_rebuild_status": ("GET", "/memory/rebuild/job-1", A, None, {}, None),
    "lint_memory": ("POST", "/memory/lint", A, None, {}, {}),
    "backfill_memory": ("POST", "/memory/backfill", A, None, {}, {"user_id": U}),
    "forget_memory": ("POST", "/memory/forget", A, None, {"sync": "true"}, {"user_id": U, "source": "gmail"}),
    "get_memory_forget_status": ("GET", "/memory/forget/job-1", A, None, {}, None),
    "get_distilleries": ("GET", "/memory/distilleries", A, None, {}, None),
    "register_distillery": ("POST", "/memory/distilleries", A, None, {}, {"name": "d1", "public_key": "pk"}),
    "revoke_distillery": ("DELETE", "/memory/distilleries/dist-1", A, None, {}, None),
    "get_user": ("GET", "/users/a%40x.io", C, None, {}, None),
    "get_user_channels": ("GET", "/users/usr_1/channels", C, None, {}, None),
    "update_user_channels": ("PUT", "/users/usr_1/channels", C, None, {}, {"preferred_channel": "email",
                                                                           "channels": {"email": {"to": "a@x.io"}}}),
    "send_notification": ("POST", "/notifications", C, None, {}, {"user_id": "usr_1", "message": "hello"}),
    "get_artifacts": ("GET", "/artifacts", E, U, {"limit": "5"}, None),
    "get_artifact": ("GET", "/artifacts/art-1", E, U, {}, None),
    "get_artifact_content": ("GET", "/artifacts/art-1/content", E, U, {"version": "2"}, None),
    "get_artifact_versions": ("GET", "/artifacts/art-1/versions", E, U, {}, None),
    "get_tuning": ("GET", "/tuning", A, None, {}, None),
    "update_tuning": ("POST", "/tuning", A, None, {}, {"content": "# Be brief"}),
    "get_pending_tuning": ("GET", "/tuning/pending", A, None, {}, None),
    "apply_pending_tuning": ("PATCH", "/tuning/pending", A, None, {}, None),
    "dismiss_pending_tuning": ("DELETE", "/tuning/pending", A, None, {}, None),
    "run_tuning": ("POST", "/tuning/run", A, None, {}, None),
    "stream_events": ("GET", "/events", E, U, {}, None),
    "stream_logs": ("GET", "/logs", A, None, {"level": "error"}, None),
    "stream_request": ("GET", "/events/sess-1/req-1", E, U, {}, None),
}

# Sample call arguments per endpoint (positional, keyword), following the official signatures.
ARGS: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {
    "get_server_logs": ((), {"limit": 50}),
    "get_formation_logs": ((FID,), {"limit": 50}),
    "get_agent": (("agent 1/x",), {}),
    "get_mcp_server": (("srv-1",), {}),
    "get_secret": (("API_TOKEN",), {}),
    "create_secret": (("API_TOKEN", "v@lue"), {}),
    "update_secret": (("API_TOKEN", "v@lue"), {}),
    "set_secret": (("API_TOKEN", "v@lue"), {}),
    "delete_secret": (("API_TOKEN",), {}),
    "chat": (({"message": "hi"},), {"user_id": U}),
    "chat_stream": (({"message": "hi"},), {"user_id": U}),
    "audio_chat": ((AUDIO,), {"user_id": U}),
    "audio_chat_stream": ((AUDIO,), {"user_id": U}),
    "get_sessions": ((U, 10), {}),
    "get_session": (("sess-1", U), {}),
    "get_session_messages": (("sess-1", U), {}),
    "restore_session": (("sess-1", U, [MESSAGE]), {}),
    "get_requests": ((U,), {}),
    "get_request_status": (("req-1", U), {}),
    "cancel_request": (("req-1", U), {}),
    "get_memories": ((U, 10), {}),
    "add_memory": ((U, "fact", "likes tea"), {}),
    "delete_memory": ((U, "mem-1"), {}),
    "get_user_buffer": ((U,), {}),
    "clear_user_buffer": ((U,), {}),
    "clear_session_buffer": ((U, "sess-1"), {}),
    "get_scheduler_jobs": ((U,), {}),
    "get_scheduler_job": (("job-1",), {}),
    "create_scheduler_job": (("one_time", "in 5m", "ping me", U), {}),
    "update_scheduler_job": (("job-1",), {"schedule": "0 9 * * *"}),
    "delete_scheduler_job": (("job-1",), {}),
    "pause_scheduler_job": (("job-1",), {}),
    "resume_scheduler_job": (("job-1",), {}),
    "get_trigger": (("new-order",), {}),
    "fire_trigger": (("new-order", {"order": 7}), {"async_mode": True, "user_id": U}),
    "get_sop": (("refunds",), {}),
    "list_credentials": ((U,), {}),
    "create_credential": ((U, {"service": "github", "credential": {"token": "t"}}), {}),
    "get_credential": (("cred-1", U), {}),
    "delete_credential": (("cred-1", U), {}),
    "resolve_user": (("alice@example.com",), {}),
    "get_user_identifiers_for_user": ((U,), {}),
    "link_user_identifier": (("alice", ["a@x.io"]), {}),
    "unlink_user_identifier": (("a@x.io",), {}),
    "sync_agent_knowledge": (("assistant",), {"source_id": "docs"}),
    "rebuild_knowledge": ((), {"agent_id": "assistant"}),
    "get_skill": (("pdf",), {}),
    "get_agent_skills": (("assistant",), {}),
    "ingest_memories": ((U, [{"content": "likes tea", "source": "crm"}]), {}),
    "get_memory_ingestion_status": (("ing_1", U), {}),
    "get_memory_provenance": ((U,), {"entity": "tea"}),
    "ingest_distilled_memories": ((SIGNED,), {"distillery_id": "dist-1", "signature": "c2ln", "timestamp": NOW}),
    "get_distilled_status": (("dst_1",), {}),
    "get_history": ((U,), {"limit": 5, "include_sources": True}),
    "rebuild_memory": ((U,), {"dry_run": True}),
    "get_memory_rebuild_status": (("job-1",), {}),
    "backfill_memory": ((U,), {}),
    "forget_memory": ((U, "gmail"), {"sync": True}),
    "get_memory_forget_status": (("job-1",), {}),
    "register_distillery": (("d1", "pk"), {}),
    "revoke_distillery": (("dist-1",), {}),
    "get_user": (("a@x.io",), {}),
    "get_user_channels": (("usr_1",), {}),
    "update_user_channels": (("usr_1",), {"preferred_channel": "email", "channels": {"email": {"to": "a@x.io"}}}),
    "send_notification": (("usr_1", "hello"), {}),
    "get_artifacts": ((U, 5), {}),
    "get_artifact": (("art-1", U), {}),
    "get_artifact_content": (("art-1", U), {"version": 2}),
    "get_artifact_versions": (("art-1", U), {}),
    "update_tuning": (("# Be brief",), {}),
    "stream_events": ((U,), {}),
    "stream_logs": (({"level": "error"},), {}),
    "stream_request": ((U, "sess-1", "req-1"), {}),
    "deploy_formation": ((FID, EXAMPLE_FORMATION), {}),
    "deploy_formation_stream": ((FID, EXAMPLE_FORMATION), {}),
    "update_formation": ((FID, EXAMPLE_FORMATION), {}),
    "update_formation_stream": ((FID, EXAMPLE_FORMATION), {}),
}

OFFICIAL_SERVER_METHODS = 21
OFFICIAL_FORMATION_METHODS = 67
EXTRA = {"download_formation", "get_mcp_config", "create_secret", "update_secret"}
# Operations of the runtime the official SDK has no method for (docs/api-coverage.md).
NEW = 36


def _endpoints(api: type[ServerAPI] | type[FormationAPI]) -> dict[str, Endpoint[Any, Any] | StreamEndpoint[Any, Any]]:
    return dict(api.endpoints)


def test_every_endpoint_has_a_wire_entry_and_the_official_count() -> None:
    server, formation = _endpoints(ServerAPI), _endpoints(FormationAPI)
    assert set(server) == set(SERVER_WIRE)
    assert set(formation) == set(FORMATION_WIRE)
    assert len(set(server) - EXTRA) == OFFICIAL_SERVER_METHODS
    assert len(set(formation) - EXTRA) == OFFICIAL_FORMATION_METHODS + NEW


def _args(name: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
    if name in ARGS:
        return ARGS[name]
    if name in SERVER_WIRE and "{" not in name and FID in SERVER_WIRE[name][1]:
        return (FID,), {}
    return (), {}


def _answer(request: Request, *, stream: bool, name: str) -> Response | StreamingResponse:
    if stream:
        if name.startswith(("deploy", "update", "start", "restart", "rollback")):
            frames = [b'event: progress\ndata: {"stage":"x","message":"m"}\n\n',
                      b'event: complete\ndata: {"formation_id":"demo-formation","status":"running"}\n\n']
        elif name.startswith(("chat", "audio")):
            frames = [b": keepalive\n\n", b'data: {"token":{"type":"content","content":"Hi"}}\n\n',
                      b'event: done\ndata: {"finished":true}\n\n']
        else:
            frames = [b'event: connected\ndata: {"formation_id":"demo-formation"}\n\n',
                      b'event: log\ndata: {"line":"hello"}\n\n']
        return StreamingResponse(200, (("Content-Type", "text/event-stream"),), frames)
    path = urlsplit(request.url).path
    if path == "/ping":
        return Response(200, (("Content-Type", "text/plain"),), b"pong")
    if path.endswith("/content"):
        return Response(200, (("Content-Type", "text/markdown"),), b"# Report\n")
    if path.endswith("/download"):
        return Response(200, (("Content-Type", "application/zip"),), b"PK\x03\x04zip")
    if path.startswith("/rpc/server/logs"):
        return Response(200, (("Content-Type", "text/plain"),), b"line 1\nline 2\n")
    if path.startswith("/rpc"):
        return Response(200, (("Content-Type", "application/json"),),
                        json.dumps(control_success({"ok": True})).encode())
    data: dict[str, Any] = {"ok": True}
    if path.endswith("/secrets"):
        data = {"secrets": {"API_TOKEN": "v***"}}
    return Response(200, (("Content-Type", "application/json"),),
                    json.dumps(runtime_success(data, request_id="req_abc", timestamp_ms=NOW * 1000)).encode())


def _check_request(request: Request, wire: tuple[Any, ...], base: str) -> None:
    method, path, cred, user, query, body = wire
    parts = urlsplit(request.url)
    assert request.method == method
    assert parts.path == base + path
    assert dict(parse_qsl(parts.query)) == {**dict(parse_qsl(parts.query)), **query}
    for k, v in query.items():
        assert dict(parse_qsl(parts.query))[k] == v
    assert "user_id" not in dict(parse_qsl(parts.query))  # the user travels in the header only
    assert request.header("X-Muxi-Idempotency-Key")
    assert request.header("X-Muxi-SDK", ).startswith("python/")  # type: ignore[union-attr]
    admin, client = request.header("X-MUXI-ADMIN-KEY"), request.header("X-MUXI-CLIENT-KEY")
    authz = request.header("Authorization")
    if cred == "hmac":
        auth.verify_request(authz, method, parts.path, key_id=KEY_ID, secret_key=SECRET, now=NOW)
    else:
        assert authz is None
    assert admin == ("adm-key" if cred == "admin" else None)
    assert client == ("cli-key" if cred in ("client", "either") else None)
    assert request.header("X-Muxi-User-ID") == user
    if body == "bundle":
        assert request.header("Content-Type") == "application/gzip"
        assert request.header("X-Formation-ID") == FID
        assert request.header("X-Formation-Version") == "1.0.0"
        with tarfile.open(fileobj=io.BytesIO(request.body), mode="r:gz") as tar:
            names = tar.getnames()
        assert names and all(n == FID or n.startswith(FID + "/") for n in names)
        assert f"{FID}/formation.afs" in names
    elif body is None:
        assert request.body == b""
    elif isinstance(body, bytes):
        assert request.body == body
    else:
        assert request.header("Content-Type") == "application/json"
        assert json.loads(request.body) == body


def _clients() -> tuple[ServerConfig, FormationConfig]:
    return (ServerConfig("http://127.0.0.1:7890", KEY_ID, SECRET),
            FormationConfig(server_url="http://127.0.0.1:7890", formation_id=FID, admin_key="adm-key",
                            client_key="cli-key"))


CASES = [("server", n) for n in SERVER_WIRE] + [("formation", n) for n in FORMATION_WIRE]


def _expected_result(name: str) -> Callable[[Any], None]:
    def check(result: Any) -> None:
        if name == "ping":
            assert result == "pong"
        elif name == "get_artifact_content":
            assert result == b"# Report\n"
        elif name == "download_formation":
            assert result == b"PK\x03\x04zip"
        elif name == "get_server_logs":
            assert result == "line 1\nline 2\n"
        elif name == "get_secret":
            assert result == {"key": "API_TOKEN", "value": "v***"}
        elif name in ("delete_secret", "set_secret", "restore_session", "cancel_request", "delete_memory",
                      "delete_scheduler_job", "unlink_user_identifier", "clear_audit_log"):
            assert result is None
        elif name == "health":
            assert isinstance(result, dict)
        elif name in SERVER_WIRE:
            assert result == {"ok": True}
        else:
            assert result["request_id"] == "req_abc" and result["timestamp"] == NOW * 1000
    return check


@pytest.mark.parametrize(("plane", "name"), CASES)
def test_sync_endpoint_wire_and_result(plane: str, name: str) -> None:
    server_cfg, formation_cfg = _clients()
    is_stream = isinstance(vars(ServerAPI if plane == "server" else FormationAPI)[name], StreamEndpoint)
    transport = MockTransport(lambda r: _answer(r, stream=is_stream, name=name))
    client: Any = (ServerClient(server_cfg, transport=transport, clock=lambda: NOW) if plane == "server"
                   else FormationClient(formation_cfg, transport=transport, clock=lambda: NOW))
    args, kwargs = _args(name)
    with client:
        result = getattr(client, name)(*args, **kwargs)
        if is_stream:
            with result:
                events = list(result)
            assert events and all("event" in e and "data" in e for e in events)
        else:
            _expected_result(name)(result)
    assert len(transport.requests) == 1
    wire = (SERVER_WIRE if plane == "server" else FORMATION_WIRE)[name]
    _check_request(transport.requests[0], wire, "" if plane == "server" else BASE)
    assert transport.requests[0].stream is is_stream
    if is_stream:
        assert transport.requests[0].header("Accept") == "text/event-stream"
    assert transport.open_responses == 0


@pytest.mark.anyio
@pytest.mark.parametrize(("plane", "name"), CASES)
async def test_async_endpoint_wire_and_result(plane: str, name: str) -> None:
    server_cfg, formation_cfg = _clients()
    is_stream = isinstance(vars(ServerAPI if plane == "server" else FormationAPI)[name], StreamEndpoint)
    transport = AsyncMockTransport(lambda r: _answer(r, stream=is_stream, name=name))
    client: Any = (AsyncServerClient(server_cfg, transport=transport, clock=lambda: NOW) if plane == "server"
                   else AsyncFormationClient(formation_cfg, transport=transport, clock=lambda: NOW))
    args, kwargs = _args(name)
    async with client:
        result = await getattr(client, name)(*args, **kwargs)
        if is_stream:
            async with result:
                events = [e async for e in result]
            assert events
        else:
            _expected_result(name)(result)
    wire = (SERVER_WIRE if plane == "server" else FORMATION_WIRE)[name]
    assert len(transport.requests) == 1
    _check_request(transport.requests[0], wire, "" if plane == "server" else BASE)
    assert transport.open_responses == 0


def test_signatures_keep_the_official_positional_parameters() -> None:
    # Official positional parameter names (docs/official-api.md) for the methods whose names matter to callers.
    official = {
        "deploy_formation": ["formation_id", "bundle"],
        "get_formation_logs": ["formation_id"],
        "fire_trigger": ["name", "data"],
        "create_scheduler_job": ["job_type", "schedule", "message", "user_id"],
        "get_sessions": ["user_id", "limit"],
        "resolve_user": ["identifier", "create_user"],
        "add_memory": ["user_id", "mem_type", "detail"],
        "restore_session": ["session_id", "user_id", "messages"],
        "clear_session_buffer": ["user_id", "session_id"],
        "link_user_identifier": ["muxi_user_id", "identifiers"],
        "stream_request": ["user_id", "session_id", "request_id"],
    }
    for name, params in official.items():
        ep = vars(ServerAPI).get(name) or vars(FormationAPI)[name]
        sig = inspect.signature(ep._build)
        positional = [p.name for p in sig.parameters.values()
                      if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD][1:]
        assert positional == params, name


_AUTH = {"hmac": Auth.HMAC, "admin": Auth.ADMIN, "client": Auth.CLIENT, "either": Auth.EITHER, None: Auth.NONE}


def _template_matches(template: str, path: str) -> bool:
    pattern = re.sub(r"\\{[a-z_]+\\}", "[^/]+", re.escape(template))
    return re.fullmatch(pattern, path) is not None


@pytest.mark.parametrize(("plane", "name"), CASES)
def test_the_registry_says_what_goes_on_the_wire(plane: str, name: str) -> None:
    api = ServerAPI if plane == "server" else FormationAPI
    ep = api.endpoints[name]
    method, path, cred, _, _, _ = (SERVER_WIRE if plane == "server" else FORMATION_WIRE)[name]
    assert ep.name == name and ep.plane == plane
    assert ep is getattr(api, name)  # by attribute and by name
    assert any(r.method == method and _template_matches(r.path, path) for r in ep.routes), ep
    assert {r.auth for r in ep.routes} == {_AUTH[cred]}
    assert ep.stream is isinstance(ep, StreamEndpoint) is all(r.stream for r in ep.routes)
    client_class = ServerClient if plane == "server" else FormationClient
    assert "route" not in inspect.signature(getattr(client_class, name)).parameters
    args, kwargs = _args(name)
    op = ep.spec(*args, **kwargs).operation  # what the call builds comes from one of its routes
    assert any(r.method == op.method and _template_matches(r.path, op.path) for r in ep.routes), op


def test_prepare_from_a_config_or_an_api_gives_the_same_request() -> None:
    server_cfg, formation_cfg = _clients()
    from muxi_proto.call import Send

    machine = FormationAPI.get_agent.prepare(formation_cfg, "a1")
    first = machine.start()
    assert isinstance(first, Send) and first.request.url.endswith("/agents/a1")
    api = FormationAPI(formation_cfg)
    again = api.get_agent("a1").start()
    assert again.request.url == first.request.url and again.request.method == "GET"
    assert FormationAPI.get_agent(api, "a1").start().request.url == first.request.url
    assert list(inspect.signature(api.get_agent).parameters) == ["agent_id", *CallOptions.__annotations__]
    with pytest.raises(ConfigurationError):
        FormationAPI.get_agent.prepare(server_cfg, "a1")  # a control-plane config for a formation route
    with pytest.raises(ConfigurationError):
        FormationAPI.get_agent.prepare("not a config", "a1")  # type: ignore[arg-type]
    stream = ServerAPI(server_cfg).start_formation_stream(FID).start()
    assert stream.request.header("Accept") == "text/event-stream"


def test_sans_io_api_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUXI_FORMATION_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("MUXI_ADMIN_KEY", "adm-key")
    api = FormationAPI()
    assert api.get_status().start().request.url == "http://127.0.0.1:9/v1/status"
    assert repr(api) == "<FormationAPI http://127.0.0.1:9/v1>"


def test_a_distilled_batch_goes_out_as_the_signed_bytes_with_its_headers() -> None:
    op = FormationAPI.ingest_distilled_memories.spec(
        SIGNED, distillery_id="dist-1", signature="c2ln", timestamp=NOW).operation
    assert op.body == SIGNED and op.content_type == "application/json"
    assert dict(op.headers) == {"X-Distillery-ID": "dist-1", "X-Distillery-Signature": "c2ln",
                                "X-Distillery-Timestamp": str(NOW)}


def test_optional_fields_left_at_none_are_not_sent() -> None:
    op = FormationAPI.forget_memory.spec(U, "gmail").operation
    assert json.loads(op.body or b"") == {"user_id": U, "source": "gmail"} and op.query == ()
    op = FormationAPI.forget_memory.spec(U, "gmail", rebuild=False, sync=False).operation
    assert json.loads(op.body or b"") == {"user_id": U, "source": "gmail", "rebuild": False}
    assert dict(op.query) == {"sync": "false"}
    assert json.loads(FormationAPI.sync_agent_knowledge.spec("a").operation.body or b"") == {}
