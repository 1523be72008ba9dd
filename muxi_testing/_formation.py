"""The formation plane: one runtime per formation, as PROTOCOL.md §8-§12 and the captures describe.

Requests arrive through the server's proxy (``/api/{formation_id}/...`` or ``/draft/...``) with the
runtime path (``/v1/...``). Routing follows Starlette: the first route whose path and method match
wins; a path that matches only with another method answers 405; nothing matching answers 404. Then,
in the runtime's order: the key check (401), body validation (422), the ``X-Muxi-User-ID`` rule
(400), the handler. Every answer is the runtime envelope (``muxi_proto.envelopes``) except the bare
``/v1/health`` and the streams.

Known upstream breakage reproduced on purpose: ``GET /v1/events/{session}/{request}`` answers 500
``INTERNAL_ERROR`` like the real runtime (its handler imports a module that does not exist).
"""

from __future__ import annotations

import copy
import hmac
import json
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import anyio

from muxi_proto.envelopes import runtime_error, runtime_success
from muxi_proto.sse import format_event

from ._chat import (
    DONE_FRAME,
    KEEPALIVE,
    ScriptedReply,
    TokenScript,
    error_frame,
    resolve_reply,
    split_deltas,
    token_frame,
    ui_frame,
)
from ._context import ServerContext
from ._responder import Responder
from ._state import FormationRecord, RuntimeState, Subscription
from ._wire import Incoming, compact, new_id, py_json

__all__ = ["FormationPlane"]

JSON_HEADERS = (("Content-Type", "application/json"),)
SSE_HEADERS = (
    ("Content-Type", "text/event-stream; charset=utf-8"),
    ("Cache-Control", "no-cache"),
    ("Connection", "keep-alive"),
)

# The runtime's own messages (runtime-error-401.json and its siblings).
ADMIN_REQUIRED = "A valid admin API key is required. Please provide the 'X-Muxi-Admin-Key' header."
ADMIN_INVALID = "Invalid admin API key. Please check your 'X-Muxi-Admin-Key' header value."
CLIENT_REQUIRED = "A valid client API key is required. Please provide the 'X-Muxi-Client-Key' header."
CLIENT_INVALID = "Invalid client API key. Please check your 'X-Muxi-Client-Key' header value."
EITHER_REQUIRED = (
    "A valid API key is required. Please provide the 'X-Muxi-Client-Key' or 'X-Muxi-Admin-Key' header."
)
USER_REQUIRED = "X-Muxi-User-ID header is required for this endpoint"
ASYNC_UNSUPPORTED = (
    "Async mode requires webhook configuration. Use stream=true for real-time responses or mode=sync for "
    "immediate responses."
)
LOG_FILTER_REQUIRED = (
    "At least one filter parameter is required (user_id, session_id, request_id, agent_id, level, or event_type)"
)
EVENTS_BROKEN = "No module named 'muxi.runtime.formation.services'"
LOG_FILTERS = ("user_id", "session_id", "request_id", "agent_id", "level", "event_type")

AGENTS = [{
    "id": "assistant",
    "name": "Assistant",
    "description": "Answers questions.",
    "model": "ollama/fake:latest",
    "status": "active",
}]
SOPS = [{
    "name": "customer-support",
    "description": "Handle a customer support request end to end.",
    "steps": ["Greet the user", "Understand the problem", "Resolve or escalate"],
}]
CREDENTIAL_SERVICES = [
    {"id": "github", "name": "GitHub"},
    {"id": "google", "name": "Google"},
    {"id": "slack", "name": "Slack"},
]


class _Reject(Exception):
    """An error answer: status, message, optional handler code and error data."""

    def __init__(self, status: int, message: str, *, code: str | None = None, data: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.data = data


def _field_error(name: str, kind: str, error: str, msg: str) -> dict[str, Any]:
    return {"field": name, "msg": msg, "type": kind, "error": error}


def _invalid(errors: list[dict[str, Any]]) -> _Reject:
    return _Reject(422, f"Validation failed: {len(errors)} error(s)", code="INVALID_PARAMS",
                   data={"validation_errors": errors})


@dataclass(frozen=True, slots=True)
class _Route:
    auth: str  # "public" | "admin" | "client" | "either"
    user: bool  # X-Muxi-User-ID required with the client key
    handler: Callable[[_Call], Awaitable[None]]


class _Call:
    """One runtime request being handled."""

    __slots__ = ("ctx", "idem_key", "inc", "key", "out", "params", "record", "request_id", "rt", "user_id")

    def __init__(self, ctx: ServerContext, inc: Incoming, out: Responder, record: FormationRecord) -> None:
        self.ctx = ctx
        self.inc = inc
        self.out = out
        self.record = record
        self.rt: RuntimeState = record.runtime
        self.params: dict[str, str] = {}
        self.key = ""
        self.user_id: str | None = None
        self.request_id = new_id("req_")
        self.idem_key = inc.header("x-muxi-idempotency-key") or None

    @property
    def now(self) -> float:
        return self.ctx.clock()

    @property
    def user(self) -> str:
        """The end user: the header's value, else the runtime's default ``"0"``."""
        return self.user_id or "0"

    def json_object(self, *, required: bool = True) -> dict[str, Any]:
        """The body as a JSON object (422 like FastAPI when it is not one)."""
        body = self.inc.body
        if not body.strip():
            if required:
                raise _invalid([_field_error("body", "object", "missing", "Field required")])
            return {}
        try:
            value = json.loads(body)
        except (ValueError, RecursionError):
            raise _invalid([_field_error("body", "object", "json_invalid", "JSON decode error")]) from None
        if not isinstance(value, dict):
            raise _invalid([_field_error("body", "object", "model_attributes_type",
                                         "Input should be a valid dictionary or object to extract fields from")])
        return value

    def query_int(self, name: str, default: int, *, low: int = 1, high: int = 1000) -> int:
        raw = self.inc.query().get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise _invalid([_field_error(name, "integer", "int_parsing",
                                         "Input should be a valid integer, unable to parse string as an integer")]
                           ) from None
        if not low <= value <= high:
            raise _invalid([_field_error(name, "integer", "out_of_range",
                                         f"Input should be between {low} and {high}")])
        return value

    def envelope(self, data: dict[str, Any], object_type: str, event_type: str) -> bytes:
        return py_json(runtime_success(
            data, request_id=self.request_id, timestamp_ms=int(self.now * 1000), object_type=object_type,
            event_type=event_type, idempotency_key=self.idem_key,
        ))

    async def ok(
        self, data: dict[str, Any], object_type: str, event_type: str, *, status: int = 200, cache: bool = False
    ) -> None:
        """A success envelope; ``cache`` keeps it for idempotent replay (PROTOCOL.md §9)."""
        body = self.envelope(data, object_type, event_type)
        if cache and self.idem_key:
            self.rt.idempotency.put(self.inc.path, self.idem_key, status, body, self.now)
        await self.out.send(status, JSON_HEADERS, body)

    async def replay(self) -> bool:
        """Answer with the cached body of an earlier request with the same idempotency key."""
        if not self.idem_key:
            return False
        cached = self.rt.idempotency.get(self.inc.path, self.idem_key, self.now)
        if cached is None:
            return False
        await self.out.send(cached[0], JSON_HEADERS, cached[1])
        return True

    async def fail(self, status: int, message: str, *, code: str | None = None, data: Any = None) -> None:
        body = runtime_error(
            status, message, request_id=self.request_id, timestamp_ms=int(self.now * 1000), code=code,
            data=data, idempotency_key=self.idem_key,
        )
        await self.out.send(status, JSON_HEADERS, py_json(body))

    def audit(self, action: str, resource_type: str, resource_id: str) -> None:
        self.rt.audit.append({
            "id": new_id("aud_", 12), "timestamp": self.now, "action": action, "resource_type": resource_type,
            "resource_id": resource_id, "actor": self.key or "anonymous",
        })


def _mask(value: str) -> str:
    return "****" + value[-4:] if len(value) > 8 else "********"


def _need_str(body: dict[str, Any], name: str, errors: list[dict[str, Any]], *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            errors.append(_field_error(name, "string", "missing", "Field required"))
        return None
    if not isinstance(value, str):
        errors.append(_field_error(name, "string", "string_type", "Input should be a valid string"))
        return None
    return value


def _keys_equal(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


class FormationPlane:
    """Routes and handlers of the runtime API, shared by every formation on the server."""

    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        table: list[tuple[str, str, str, bool, Callable[[_Call], Awaitable[None]]]] = [
            ("GET", "/v1/health", "public", False, self.health),
            ("GET", "/v1/status", "admin", False, self.status),
            ("GET", "/v1/config", "admin", False, self.config),
            ("GET", "/v1/formation", "admin", False, self.formation_info),
            ("GET", "/v1/agents", "admin", False, self.agents),
            ("GET", "/v1/agents/{agent_id}", "admin", False, self.agent),
            ("GET", "/v1/mcp", "admin", False, self.static("mcp", "mcp.retrieved",
                                                          {"enabled": False, "servers": [], "count": 0})),
            ("GET", "/v1/mcp/servers", "admin", False, self.static("mcp_server_list", "mcp_server.list",
                                                                  {"servers": [], "count": 0})),
            ("GET", "/v1/mcp/servers/{server_id}", "admin", False, self.mcp_server),
            ("GET", "/v1/mcp/tools", "admin", False, self.static("mcp_tool_list", "mcp_tool.list",
                                                                {"tools": [], "count": 0})),
            ("GET", "/v1/llm/settings", "admin", False, self.static("llm", "llm.retrieved", {
                "models": [{"text": "ollama/fake:latest"}],
                "settings": {"temperature": 0.7, "max_tokens": 4096},
                "api_keys": {"ollama": "********"},
            })),
            ("GET", "/v1/logging", "admin", False, self.static("logging", "logging.retrieved", {
                "level": "INFO", "destinations": [{"type": "stdout", "level": "INFO", "format": "text"}]})),
            ("GET", "/v1/logging/destinations", "admin", False, self.static("logging", "logging.retrieved", {
                "destinations": [{"type": "stdout", "level": "INFO", "format": "text"}], "count": 1})),
            ("GET", "/v1/async", "admin", False, self.static("async", "async.retrieved", {
                "threshold_seconds": 30, "enable_estimation": True, "webhook_url": None})),
            ("GET", "/v1/a2a", "admin", False, self.static("a2a", "a2a.retrieved", {
                "enabled": False, "inbound": {"enabled": False}, "outbound": {"enabled": False}})),
            ("GET", "/v1/overlord", "admin", False, self.static("overlord", "overlord.retrieved", {
                "persona": "A helpful, concise assistant.", "llm": {"model": "ollama/fake:latest"},
                "clarification": {"enabled": True}})),
            ("GET", "/v1/overlord/soul", "admin", False, self.static("overlord", "overlord.retrieved", {
                "soul": "You are a helpful assistant served by the local MUXI server."})),
            ("GET", "/v1/secrets", "admin", False, self.list_secrets),
            ("POST", "/v1/secrets", "admin", False, self.create_secret),
            ("PUT", "/v1/secrets/{key}", "admin", False, self.update_secret),
            ("DELETE", "/v1/secrets/{key}", "admin", False, self.delete_secret),
            ("POST", "/v1/chat", "client", False, self.chat),
            ("POST", "/v1/audiochat", "client", False, self.audiochat),
            ("GET", "/v1/sessions", "client", True, self.list_sessions),
            ("GET", "/v1/sessions/{session_id}", "client", True, self.get_session),
            ("GET", "/v1/sessions/{session_id}/messages", "client", True, self.session_messages),
            ("POST", "/v1/sessions/{session_id}/restore", "client", True, self.restore_session),
            ("GET", "/v1/requests", "either", True, self.list_requests),
            ("GET", "/v1/requests/{request_id}", "either", True, self.get_request),
            ("DELETE", "/v1/requests/{request_id}", "either", True, self.cancel_request),
            ("GET", "/v1/memory", "admin", False, self.static("memory", "memory.retrieved", {
                "enabled": True, "buffer": {"size": 50, "multiplier": 10}, "persistent": {"enabled": False}})),
            ("GET", "/v1/memory/stats", "admin", False, self.memory_stats),
            ("GET", "/v1/memories", "either", True, self.list_memories),
            ("POST", "/v1/memories", "either", True, self.add_memory),
            ("DELETE", "/v1/memories/{memory_id}", "either", True, self.delete_memory),
            ("GET", "/v1/memory/buffer", "either", True, self.user_buffer),
            ("DELETE", "/v1/memory/buffer", "either", True, self.clear_user_buffer),
            ("DELETE", "/v1/memory/buffer/{session_id}", "either", True, self.clear_session_buffer),
            ("GET", "/v1/memory/buffers", "admin", False, self.all_buffers),
            ("DELETE", "/v1/memory/buffers", "admin", False, self.clear_all_buffers),
            ("GET", "/v1/scheduler", "admin", False, self.static("scheduler", "scheduler.retrieved", {
                "enabled": True, "timezone": "UTC", "max_jobs_per_user": 100})),
            ("GET", "/v1/scheduler/jobs", "either", True, self.list_jobs),
            ("POST", "/v1/scheduler/jobs", "admin", False, self.create_job),
            ("GET", "/v1/scheduler/jobs/{job_id}", "admin", False, self.get_job),
            ("PUT", "/v1/scheduler/jobs/{job_id}", "admin", False, self.update_job),
            ("DELETE", "/v1/scheduler/jobs/{job_id}", "admin", False, self.delete_job),
            ("POST", "/v1/scheduler/jobs/{job_id}/pause", "admin", False, self.pause_job),
            ("POST", "/v1/scheduler/jobs/{job_id}/resume", "admin", False, self.resume_job),
            ("GET", "/v1/triggers", "client", False, self.list_triggers),
            ("GET", "/v1/triggers/{name}", "client", False, self.get_trigger),
            ("POST", "/v1/triggers/{name}", "client", False, self.fire_trigger),
            ("GET", "/v1/sops", "client", False, self.list_sops),
            ("GET", "/v1/sops/{name}", "client", False, self.get_sop),
            ("GET", "/v1/credentials/services", "either", False, self.credential_services),
            ("GET", "/v1/credentials", "either", True, self.list_credentials),
            ("POST", "/v1/credentials", "either", True, self.create_credential),
            ("GET", "/v1/credentials/{credential_id}", "either", True, self.get_credential),
            ("DELETE", "/v1/credentials/{credential_id}", "either", True, self.delete_credential),
            ("POST", "/v1/users/resolve", "client", False, self.resolve_user),
            ("GET", "/v1/users/identifiers/{user_id}", "client", False, self.user_identifiers),
            ("POST", "/v1/users/identifiers", "client", False, self.link_identifiers),
            ("DELETE", "/v1/users/identifiers/{identifier}", "client", False, self.unlink_identifier),
            ("GET", "/v1/audit", "admin", False, self.get_audit),
            ("DELETE", "/v1/audit", "admin", False, self.clear_audit),
            ("GET", "/v1/events", "either", True, self.events),
            ("GET", "/v1/events/{session_id}", "either", True, self.events),
            ("GET", "/v1/events/{session_id}/{request_id}", "either", True, self.request_events),
            ("GET", "/v1/logs", "admin", False, self.logs),
        ]
        # (segments, method -> route) in registration order; "{...}" segments are parameters.
        self._routes: list[tuple[tuple[str, ...], str, _Route]] = [
            (tuple(path.strip("/").split("/")), method, _Route(auth, user, handler))
            for method, path, auth, user, handler in table
        ]

    # --- dispatch ------------------------------------------------------------------------------------

    def _match(self, method: str, path: str) -> tuple[_Route | None, dict[str, str], bool]:
        """(route, params, path_matched): Starlette's order, partial matches give 405."""
        segments = tuple(path.strip("/").split("/")) if path.strip("/") else ()
        partial = False
        for pattern, route_method, route in self._routes:
            if len(pattern) != len(segments):
                continue
            params: dict[str, str] = {}
            for want, got in zip(pattern, segments, strict=True):
                if want.startswith("{"):
                    if not got:
                        break
                    params[want[1:-1]] = got
                elif want != got:
                    break
            else:
                if route_method == method:
                    return route, params, True
                partial = True
        return None, {}, partial

    async def handle(self, inc: Incoming, out: Responder, record: FormationRecord, path: str) -> None:
        """Answer one runtime request (``path`` is the runtime path, e.g. ``/v1/chat``)."""
        call = _Call(self.ctx, inc, out, record)
        try:
            route, params, path_matched = self._match(inc.method, path)
            if route is None:
                if path_matched:
                    raise _Reject(405, "Method Not Allowed")
                raise _Reject(404, "Not Found")
            call.params = params
            self._authenticate(route, call)
            await route.handler(call)
        except _Reject as reject:
            if not out.gone:
                await call.fail(reject.status, reject.message, code=reject.code, data=reject.data)

    def _authenticate(self, route: _Route, call: _Call) -> None:
        if route.auth == "public":
            return
        ctx = self.ctx
        admin = call.inc.header("x-muxi-admin-key")
        client = call.inc.header("x-muxi-client-key")
        if route.auth == "admin":
            if not admin:
                raise _Reject(401, ADMIN_REQUIRED)
            if not _keys_equal(admin, ctx.admin_key):
                raise _Reject(401, ADMIN_INVALID)
            call.key = "admin"
        elif route.auth == "client":
            if not client:  # an admin key does not open client routes
                raise _Reject(401, CLIENT_REQUIRED)
            if not _keys_equal(client, ctx.client_key):
                raise _Reject(401, CLIENT_INVALID)
            call.key = "client"
        elif client and _keys_equal(client, ctx.client_key):
            call.key = "client"
        elif admin and _keys_equal(admin, ctx.admin_key):
            call.key = "admin"
        elif client:
            raise _Reject(401, CLIENT_INVALID)
        elif admin:
            raise _Reject(401, ADMIN_INVALID)
        else:
            raise _Reject(401, EITHER_REQUIRED)
        call.user_id = call.inc.header("x-muxi-user-id") or None
        if route.user and call.key == "client" and not call.user_id:
            raise _Reject(400, USER_REQUIRED)

    # --- health, status, configuration -------------------------------------------------------------

    async def health(self, c: _Call) -> None:
        body = {
            "status": "healthy",
            "version": self.ctx.runtime_version,
            "uptime_seconds": int(c.now - c.rt.started_at),
        }
        await c.out.send(200, JSON_HEADERS, py_json(body))

    def static(self, object_type: str, event_type: str, data: dict[str, Any]) -> Callable[[_Call], Awaitable[None]]:
        async def handler(c: _Call) -> None:
            await c.ok(copy.deepcopy(data), object_type, event_type)

        return handler

    async def status(self, c: _Call) -> None:
        rec = c.record
        await c.ok({
            "formation_id": rec.id,
            "status": "running",
            "version": rec.version,
            "runtime_version": self.ctx.runtime_version,
            "uptime_seconds": int(c.now - c.rt.started_at),
            "agents": len(AGENTS),
            "sessions": len(c.rt.sessions),
            "requests": len(c.rt.requests),
        }, "status", "status.retrieved")

    async def config(self, c: _Call) -> None:
        rec = c.record
        await c.ok({
            "formation_id": rec.id,
            "name": rec.name,
            "version": rec.version,
            "llm": {"models": [{"text": "ollama/fake:latest"}]},
            "agents": [a["id"] for a in AGENTS],
            "memory": {"buffer": {"size": 50}},
        }, "config", "config.retrieved")

    async def formation_info(self, c: _Call) -> None:
        rec = c.record
        await c.ok({
            "id": rec.id, "name": rec.name, "version": rec.version, "schema": "1.0.0",
            "description": "A formation served by the local MUXI server.",
        }, "formation_config", "config.retrieved")

    async def agents(self, c: _Call) -> None:
        await c.ok({"agents": [dict(a) for a in AGENTS], "count": len(AGENTS)}, "list", "agent.list")

    async def agent(self, c: _Call) -> None:
        agent_id = c.params["agent_id"]
        found = next((a for a in AGENTS if a["id"] == agent_id), None)
        if found is None:
            raise _Reject(404, f"Agent '{agent_id}' not found", code="AGENT_NOT_FOUND")
        await c.ok(dict(found), "agent", "agent.retrieved")

    async def mcp_server(self, c: _Call) -> None:
        raise _Reject(404, f"MCP server '{c.params['server_id']}' not found")

    # --- secrets ---------------------------------------------------------------------------------------

    async def list_secrets(self, c: _Call) -> None:
        secrets = {name: _mask(value) for name, value in sorted(c.rt.secrets.items())}
        await c.ok({"secrets": secrets, "count": len(secrets)}, "secret_list", "secret.list")

    async def create_secret(self, c: _Call) -> None:
        body = c.json_object()
        errors: list[dict[str, Any]] = []
        key = _need_str(body, "key", errors)
        value = _need_str(body, "value", errors)
        if errors or key is None or value is None:
            raise _invalid(errors)
        if key in c.rt.secrets:
            raise _Reject(409, f"Secret '{key}' already exists", code="SECRET_EXISTS")
        c.rt.secrets[key] = value
        c.audit("secret.create", "secret", key)
        await c.ok({"message": f"Secret '{key}' created successfully"}, "secret", "secret.created", status=201)

    async def update_secret(self, c: _Call) -> None:
        key = c.params["key"]
        body = c.json_object()
        errors: list[dict[str, Any]] = []
        value = _need_str(body, "value", errors)
        if errors or value is None:
            raise _invalid(errors)
        if key not in c.rt.secrets:
            raise _Reject(404, f"Secret '{key}' not found", code="SECRET_NOT_FOUND")
        c.rt.secrets[key] = value
        c.audit("secret.update", "secret", key)
        await c.ok({"message": f"Secret '{key}' updated successfully"}, "secret", "secret.updated")

    async def delete_secret(self, c: _Call) -> None:
        key = c.params["key"]
        if key not in c.rt.secrets:
            raise _Reject(404, f"Secret '{key}' not found", code="SECRET_NOT_FOUND")
        del c.rt.secrets[key]
        c.audit("secret.delete", "secret", key)
        await c.ok({"message": f"Secret '{key}' deleted successfully"}, "secret", "secret.deleted")

    # --- chat ------------------------------------------------------------------------------------------

    async def chat(self, c: _Call) -> None:
        body = c.json_object()
        errors: list[dict[str, Any]] = []
        message = _need_str(body, "message", errors)
        session_id = _need_str(body, "session_id", errors, required=False)
        request_id = _need_str(body, "request_id", errors, required=False)
        agent_id = _need_str(body, "agent_id", errors, required=False)
        stream = body.get("stream", True)
        if stream is not None and not isinstance(stream, bool):
            errors.append(_field_error("stream", "boolean", "bool_type", "Input should be a valid boolean"))
        if errors or message is None:
            raise _invalid(errors)
        if body.get("mode") == "async":
            raise _Reject(501, ASYNC_UNSUPPORTED)
        await self._converse(c, message, session_id, request_id, agent_id, stream is not False, "/v1/chat")

    async def audiochat(self, c: _Call) -> None:
        body = c.json_object()
        files = body.get("files")
        if not isinstance(files, list) or not files:
            raise _invalid([_field_error("files", "list", "missing" if files is None else "list_type",
                                         "Field required" if files is None else "Input should be a valid list")])
        for index, item in enumerate(files):
            ctype = item.get("content_type") or item.get("type") if isinstance(item, dict) else None
            if not isinstance(ctype, str) or not ctype.startswith("audio/"):
                raise _invalid([_field_error(f"files.{index}.content_type", "string", "value_error",
                                             "Value error, audiochat files must have an audio/* content type")])
        errors: list[dict[str, Any]] = []
        session_id = _need_str(body, "session_id", errors, required=False)
        request_id = _need_str(body, "request_id", errors, required=False)
        agent_id = _need_str(body, "agent_id", errors, required=False)
        if errors:
            raise _invalid(errors)
        names = ", ".join(str(f.get("filename") or f.get("name") or "audio") for f in files)
        message = body.get("message") if isinstance(body.get("message"), str) else f"[audio: {names}]"
        stream = body.get("stream", True) is not False
        await self._converse(c, str(message), session_id, request_id, agent_id, stream, "/v1/audiochat")

    async def _converse(
        self, c: _Call, message: str, session_id: str | None, request_id: str | None, agent_id: str | None,
        stream: bool, route: str,
    ) -> None:
        if request_id:
            c.request_id = request_id
        session = session_id or new_id("sess_", 16)
        if stream:
            await self._chat_stream(c, message, session, agent_id, route)
            return
        if await c.replay():
            return
        started = time.perf_counter()
        try:
            reply = resolve_reply(self.ctx.reply, message)
        except Exception as exc:  # a failing script is the formation failing: 500, as the runtime does
            self._chat_failed(c, message, session, exc)
            raise _Reject(500, str(exc) or type(exc).__name__) from None
        elapsed_ms = (time.perf_counter() - started) * 1000
        self._record_chat(c, message, session, reply, elapsed_ms, route, "sync")
        answer: dict[str, Any] = {
            "role": "assistant",
            "content": reply.text,
            "artifacts": None,
            "metadata": {
                "handled_by": "overlord_direct", "is_actionable": False, "fast_path": True,
                "early_heuristic": True, "processing_time_ms": elapsed_ms,
            },
        }
        if reply.ui:
            answer["ui"] = list(reply.ui)
        data = {"message": answer, "user_id": c.user, "session_id": session, "request_id": request_id}
        await c.ok(data, "message", "chat.completed", cache=True)

    async def _chat_stream(self, c: _Call, message: str, session: str, agent_id: str | None, route: str) -> None:
        out = c.out
        await out.open_stream(200, SSE_HEADERS)
        script = TokenScript(request_id=c.request_id, user_id=c.user, session_id=session, message=message,
                             agent_id=agent_id)

        async def produce() -> None:
            clock = self.ctx.clock
            started = time.perf_counter()
            # The runtime opens every chat stream with two keepalive comments (see the captures).
            if not await out.frame(KEEPALIVE) or not await out.frame(KEEPALIVE):
                return
            if self.ctx.stream_gate is not None and not await self._held(out):
                return
            for token in script.progress(clock()):
                if not await self._pause(out) or not await out.frame(token_frame(token)):
                    return
            try:
                reply = resolve_reply(self.ctx.reply, message)
            except Exception as exc:  # escapes the chat: an error frame and no `done`
                self._chat_failed(c, message, session, exc)
                await out.frame(error_frame(str(exc), type(exc).__name__))
                await out.close_stream()
                return
            elapsed_ms = (time.perf_counter() - started) * 1000
            self._record_chat(c, message, session, reply, elapsed_ms, route, "stream")
            for delta in split_deltas(reply.text):
                if not await self._pause(out) or not await out.frame(token_frame(script.content(delta, clock()))):
                    return
            if not await self._pause(out):
                return
            if not await out.frame(token_frame(script.completed(reply.text, clock(), int(elapsed_ms)))):
                return
            if reply.ui and not await out.frame(ui_frame(reply.ui)):
                return
            if await out.frame(DONE_FRAME):
                await out.close_stream()

        await out.guarded(produce)

    async def _held(self, out: Responder) -> bool:
        """Wait at the stream gate (``LocalMuxiServer.hold_streams``), keepalives while idle."""
        ctx = self.ctx
        ctx.held_streams += 1
        try:
            while ctx.stream_gate is not None and not ctx.stream_gate.is_set():
                with anyio.move_on_after(ctx.keepalive_interval):
                    await ctx.stream_gate.wait()
                if ctx.stream_gate is not None and not ctx.stream_gate.is_set() and not await out.frame(KEEPALIVE):
                    return False
        finally:
            ctx.held_streams -= 1
        return True

    async def _pause(self, out: Responder) -> bool:
        """Wait the configured token delay, sending ``: keepalive`` each idle interval."""
        delay = self.ctx.token_delay
        if delay <= 0:
            return True
        interval = self.ctx.keepalive_interval
        while delay >= interval > 0:
            await anyio.sleep(interval)
            delay -= interval
            if not await out.frame(KEEPALIVE):
                return False
        if delay > 0:
            await anyio.sleep(delay)
        return True

    def _record_chat(
        self, c: _Call, message: str, session_id: str, reply: ScriptedReply, elapsed_ms: float, route: str,
        mode: str,
    ) -> None:
        now = c.now
        rt = c.rt
        session = rt.session(c.user, session_id, now)
        session.messages.append({"role": "user", "content": message, "timestamp": now, "request_id": c.request_id})
        session.messages.append({"role": "assistant", "content": reply.text, "timestamp": now,
                                 "request_id": c.request_id})
        session.last_activity = now
        rt.add_request({
            "request_id": c.request_id, "user_id": c.user, "session_id": session_id, "status": "completed",
            "message": message[:200], "created_at": now, "completed_at": now,
            "processing_time_ms": round(elapsed_ms, 3), "mode": mode,
        })
        rt.events.publish({
            "type": "chat.completed", "request_id": c.request_id, "user_id": c.user, "session_id": session_id,
            "content": reply.text, "timestamp": now,
        })
        self._log_event(rt, "request.completed", c.request_id, c.user, session_id, f"Chat request completed ({mode})")
        c.record.logs.add(f'INFO:     127.0.0.1 - "POST {route} HTTP/1.1" 200 OK')

    def _chat_failed(self, c: _Call, message: str, session_id: str, exc: Exception) -> None:
        now = c.now
        c.rt.add_request({
            "request_id": c.request_id, "user_id": c.user, "session_id": session_id, "status": "failed",
            "message": message[:200], "created_at": now, "completed_at": now,
            "error": {"code": "PROCESSING_ERROR", "message": str(exc)},
        })
        self._log_event(c.rt, "request.failed", c.request_id, c.user, session_id, f"Chat request failed: {exc}",
                        level="ERROR")
        c.record.logs.add(f"ERROR:    chat request {c.request_id} failed: {type(exc).__name__}: {exc}", "stderr")

    def _log_event(
        self, rt: RuntimeState, event_type: str, request_id: str, user_id: str, session_id: str | None,
        message: str, *, level: str = "INFO",
    ) -> None:
        rt.logs.publish({
            "timestamp": self.ctx.clock(), "level": level, "event_type": event_type, "user_id": user_id,
            "session_id": session_id, "request_id": request_id, "agent_id": "assistant", "message": message,
            "data": {},
        })

    # --- sessions and requests -----------------------------------------------------------------------

    def _user_sessions(self, c: _Call) -> list[Any]:
        return sorted((s for (user, _), s in c.rt.sessions.items() if user == c.user),
                      key=lambda s: s.last_activity, reverse=True)

    async def list_sessions(self, c: _Call) -> None:
        limit = c.query_int("limit", 50)
        sessions = [s.to_json() for s in self._user_sessions(c)[:limit]]
        await c.ok({"sessions": sessions, "count": len(sessions)}, "session_list", "session.list")

    async def get_session(self, c: _Call) -> None:
        session = c.rt.sessions.get((c.user, c.params["session_id"]))
        if session is None:
            raise _Reject(404, f"Session '{c.params['session_id']}' not found")
        await c.ok(session.to_json(), "session", "session.retrieved")

    async def session_messages(self, c: _Call) -> None:
        session_id = c.params["session_id"]
        limit = c.query_int("limit", 50)
        before = c.inc.query().get("before")
        session = c.rt.sessions.get((c.user, session_id))
        messages = list(session.messages) if session else []
        if before:
            try:
                cutoff = float(before)
            except ValueError:
                cutoff = None
            if cutoff is not None:
                messages = [m for m in messages if float(m.get("timestamp", 0)) < cutoff]
        has_more = len(messages) > limit
        page = messages[-limit:] if has_more else messages
        await c.ok({"session_id": session_id, "messages": page, "count": len(page), "has_more": has_more},
                   "session", "session.messages_list")

    async def restore_session(self, c: _Call) -> None:
        body = c.json_object()
        messages = body.get("messages")
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            raise _invalid([_field_error("messages", "list", "missing" if messages is None else "list_type",
                                         "Field required" if messages is None else "Input should be a valid list")])
        session = c.rt.session(c.user, c.params["session_id"], c.now)
        session.messages.clear()
        for item in messages:
            session.messages.append(dict(item))
        session.last_activity = c.now
        await c.ok({"session_id": session.session_id, "restored": len(messages)}, "session", "session.restored")

    def _request_of(self, c: _Call) -> dict[str, Any]:
        request_id = c.params["request_id"]
        found = c.rt.requests.get(request_id)
        if found is None or (c.user_id is not None and found["user_id"] != c.user_id):
            raise _Reject(404, f"Request '{request_id}' not found")
        return found

    async def list_requests(self, c: _Call) -> None:
        items = [dict(r) for r in c.rt.requests.values() if c.user_id is None or r["user_id"] == c.user_id]
        items.reverse()
        await c.ok({"requests": items, "count": len(items)}, "list", "request.list")

    async def get_request(self, c: _Call) -> None:
        await c.ok(dict(self._request_of(c)), "request", "request.retrieved")

    async def cancel_request(self, c: _Call) -> None:
        found = self._request_of(c)
        if found["status"] in ("processing", "pending"):
            found["status"] = "cancelled"
            await c.ok({"request_id": found["request_id"], "status": "cancelled", "cancelled": True,
                        "message": "Request cancelled"}, "request", "request.cancelled")
            return
        await c.ok({"request_id": found["request_id"], "status": found["status"], "cancelled": False,
                    "message": f"Request already {found['status']}"}, "request", "request.cancelled")

    # --- memory ----------------------------------------------------------------------------------------

    async def memory_stats(self, c: _Call) -> None:
        messages = sum(len(s.messages) for s in c.rt.sessions.values())
        users = {user for user, _ in c.rt.sessions}
        await c.ok({"buffer_messages": messages, "sessions": len(c.rt.sessions), "users": len(users),
                    "memories": sum(len(v) for v in c.rt.memories.values())}, "memory", "memory.retrieved")

    async def list_memories(self, c: _Call) -> None:
        limit = c.query_int("limit", 50)
        items = [dict(m) for m in c.rt.memories.get(c.user, [])][-limit:]
        await c.ok({"memories": items, "count": len(items), "user_id": c.user}, "memory_list", "memory.list")

    async def add_memory(self, c: _Call) -> None:
        body = c.json_object()
        content = body.get("content", body.get("detail"))
        if not isinstance(content, str) or not content:
            raise _invalid([_field_error("content", "string", "missing", "Field required")])
        kind = body.get("type") if isinstance(body.get("type"), str) else "fact"
        metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
        memory = {"id": new_id("mem_", 16), "content": content, "type": kind, "metadata": metadata,
                  "user_id": c.user, "created_at": c.now}
        bucket = c.rt.memories.setdefault(c.user, [])
        bucket.append(memory)
        del bucket[:-1000]
        await c.ok(dict(memory), "memory", "memory.created", status=201)

    async def delete_memory(self, c: _Call) -> None:
        memory_id = c.params["memory_id"]
        bucket = c.rt.memories.get(c.user, [])
        for index, memory in enumerate(bucket):
            if memory["id"] == memory_id:
                del bucket[index]
                await c.ok({"message": f"Memory '{memory_id}' deleted successfully", "id": memory_id},
                           "memory", "memory.deleted")
                return
        raise _Reject(404, f"Memory '{memory_id}' not found")

    async def user_buffer(self, c: _Call) -> None:
        messages = [dict(m, session_id=s.session_id) for s in self._user_sessions(c) for m in s.messages]
        await c.ok({"user_id": c.user, "messages": messages, "count": len(messages)}, "memory", "memory.retrieved")

    def _clear(self, c: _Call, match: Callable[[str, str], bool]) -> int:
        cleared = 0
        for (user, session_id), session in c.rt.sessions.items():
            if match(user, session_id):
                cleared += len(session.messages)
                session.messages.clear()
        return cleared

    async def clear_user_buffer(self, c: _Call) -> None:
        cleared = self._clear(c, lambda user, _: user == c.user)
        await c.ok({"message": "Buffer cleared", "user_id": c.user, "messages_cleared": cleared},
                   "message", "memory.deleted")

    async def clear_session_buffer(self, c: _Call) -> None:
        session_id = c.params["session_id"]
        cleared = self._clear(c, lambda user, sid: user == c.user and sid == session_id)
        await c.ok({"message": "Session buffer cleared", "session_id": session_id, "messages_cleared": cleared},
                   "message", "memory.deleted")

    async def all_buffers(self, c: _Call) -> None:
        buffers = [{"user_id": s.user_id, "session_id": s.session_id, "message_count": len(s.messages)}
                   for s in c.rt.sessions.values()]
        await c.ok({"buffers": buffers, "count": len(buffers)}, "list", "memory.list")

    async def clear_all_buffers(self, c: _Call) -> None:
        cleared = self._clear(c, lambda _user, _sid: True)
        await c.ok({"message": "All buffers cleared", "messages_cleared": cleared}, "message", "memory.deleted")

    # --- scheduler -------------------------------------------------------------------------------------

    def _job(self, c: _Call) -> dict[str, Any]:
        job = c.rt.jobs.get(c.params["job_id"])
        if job is None:
            raise _Reject(404, f"Job '{c.params['job_id']}' not found")
        return job

    async def list_jobs(self, c: _Call) -> None:
        jobs = [dict(j) for j in c.rt.jobs.values() if c.user_id is None or j["user_id"] == c.user_id]
        await c.ok({"jobs": jobs, "count": len(jobs)}, "list", "job.list")

    async def create_job(self, c: _Call) -> None:
        body = c.json_object()
        errors: list[dict[str, Any]] = []
        kind = _need_str(body, "type", errors)
        schedule = _need_str(body, "schedule", errors)
        message = _need_str(body, "message", errors)
        if kind is not None and kind not in ("one_time", "recurring"):
            errors.append(_field_error("type", "string", "literal_error", "Input should be 'one_time' or 'recurring'"))
        if errors or kind is None or schedule is None or message is None:
            raise _invalid(errors)
        if await c.replay():
            return
        job: dict[str, Any] = {
            "id": new_id("job_", 16), "type": kind, "schedule": schedule, "message": message, "user_id": c.user,
            "status": "active", "created_at": c.now, "next_run": None, "run_count": 0,
        }
        c.rt.jobs[job["id"]] = job
        c.audit("job.create", "job", job["id"])
        await c.ok(dict(job), "job", "job.created", status=201, cache=True)

    async def get_job(self, c: _Call) -> None:
        await c.ok(dict(self._job(c)), "job", "job.retrieved")

    async def update_job(self, c: _Call) -> None:
        job = self._job(c)
        body = c.json_object()
        for name in ("schedule", "message", "type"):
            if name in body:
                if not isinstance(body[name], str):
                    raise _invalid([_field_error(name, "string", "string_type", "Input should be a valid string")])
                job[name] = body[name]
        job["updated_at"] = c.now
        await c.ok(dict(job), "job", "job.updated")

    async def delete_job(self, c: _Call) -> None:
        job = self._job(c)
        del c.rt.jobs[job["id"]]
        await c.ok({"message": f"Job '{job['id']}' deleted successfully", "id": job["id"]}, "job", "job.deleted")

    async def pause_job(self, c: _Call) -> None:
        job = self._job(c)
        job["status"] = "paused"
        await c.ok(dict(job), "job", "job.paused")

    async def resume_job(self, c: _Call) -> None:
        job = self._job(c)
        job["status"] = "active"
        await c.ok(dict(job), "job", "job.resumed")

    # --- triggers and SOPs -----------------------------------------------------------------------------

    async def list_triggers(self, c: _Call) -> None:
        triggers = [t.to_json() for t in c.rt.triggers.values()]
        await c.ok({"triggers": triggers, "count": len(triggers)}, "list", "trigger.list")

    async def get_trigger(self, c: _Call) -> None:
        name = c.params["name"]
        trigger = c.rt.triggers.get(name)
        if trigger is None:
            raise _Reject(404, f"Trigger '{name}' not found", code="TRIGGER_NOT_FOUND")
        await c.ok(trigger.to_json(), "trigger", "trigger.retrieved")

    async def fire_trigger(self, c: _Call) -> None:
        name = c.params["name"]
        trigger = c.rt.triggers.get(name)
        if trigger is None:
            raise _Reject(404, f"Trigger '{name}' not found", code="TRIGGER_NOT_FOUND")
        body = c.json_object()
        if "data" not in body:
            raise _invalid([_field_error("data", "object", "missing", "Field required")])
        use_async = body.get("use_async", True)
        if not isinstance(use_async, bool):
            raise _invalid([_field_error("use_async", "boolean", "bool_type", "Input should be a valid boolean")])
        if await c.replay():
            return
        data = body["data"]
        text = data.get("message") if isinstance(data, dict) else None
        message = text if isinstance(text, str) else compact(data)
        given_session = body.get("session_id")
        session_id = given_session if isinstance(given_session, str) and given_session else new_id("sess_", 16)
        if use_async:
            await c.ok({"status": "processing"}, "trigger_response", "trigger.processing", cache=True)
            rt, user, request_id, ctx = c.rt, c.user, c.request_id, self.ctx
            formation_id = c.record.id
            c.rt.add_request({"request_id": request_id, "user_id": user, "session_id": session_id,
                              "status": "processing", "message": message[:200], "created_at": c.now,
                              "trigger": name})

            async def complete() -> None:
                await self._complete_trigger(ctx, rt, formation_id, trigger.webhook_url, request_id, user, message)

            self.ctx.background(complete)
            return
        started = time.perf_counter()
        try:
            reply = resolve_reply(self.ctx.reply, message)
        except Exception as exc:
            self._chat_failed(c, message, session_id, exc)
            raise _Reject(500, str(exc) or type(exc).__name__) from None
        self._record_chat(c, message, session_id, reply, (time.perf_counter() - started) * 1000,
                          f"/v1/triggers/{name}", "trigger")
        await c.ok({"status": "completed", "content": reply.text}, "trigger_response", "trigger.completed",
                   cache=True)

    async def _complete_trigger(
        self, ctx: ServerContext, rt: RuntimeState, formation_id: str, webhook_url: str | None, request_id: str,
        user: str, message: str,
    ) -> None:
        started = time.perf_counter()
        error: dict[str, Any] | None = None
        response: list[dict[str, Any]] = []
        try:
            reply = resolve_reply(ctx.reply, message)
            response = [{"type": "text", "text": reply.text}]
        except Exception as exc:
            error = {"code": "PROCESSING_ERROR", "message": str(exc) or type(exc).__name__, "trace": None}
        elapsed = time.perf_counter() - started
        record = rt.requests.get(request_id)
        if record is not None:
            record.update(status="failed" if error else "completed", completed_at=ctx.clock(),
                          processing_time_ms=round(elapsed * 1000, 3))
        if webhook_url is None:
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
            "webhook_url": webhook_url,
            "error": error,
            "response": response,
        }
        await ctx.webhooks.deliver(webhook_url, payload, ctx.admin_key)

    async def list_sops(self, c: _Call) -> None:
        await c.ok({"sops": [dict(s) for s in SOPS], "count": len(SOPS)}, "list", "sop.list")

    async def get_sop(self, c: _Call) -> None:
        name = c.params["name"]
        found = next((s for s in SOPS if s["name"] == name), None)
        if found is None:
            raise _Reject(404, f"SOP '{name}' not found")
        await c.ok(dict(found), "sop", "sop.retrieved")

    # --- credentials and users -------------------------------------------------------------------------

    async def credential_services(self, c: _Call) -> None:
        await c.ok({"services": [dict(s) for s in CREDENTIAL_SERVICES], "count": len(CREDENTIAL_SERVICES)},
                   "list", "credential_service.list")

    @staticmethod
    def _public_credential(cred: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in cred.items() if k != "credential"}

    async def list_credentials(self, c: _Call) -> None:
        creds = [self._public_credential(x) for x in c.rt.credentials.get(c.user, {}).values()]
        await c.ok({"credentials": creds, "count": len(creds)}, "list", "credential.list")

    async def create_credential(self, c: _Call) -> None:
        body = c.json_object()
        errors: list[dict[str, Any]] = []
        service = _need_str(body, "service", errors)
        name = _need_str(body, "name", errors, required=False)
        if body.get("credential") is None:
            errors.append(_field_error("credential", "object", "missing", "Field required"))
        if errors or service is None:
            raise _invalid(errors)
        cred = {"id": new_id("cred_", 16), "service": service, "name": name or service, "user_id": c.user,
                "created_at": c.now, "credential": body["credential"]}
        c.rt.credentials.setdefault(c.user, {})[cred["id"]] = cred
        await c.ok(self._public_credential(cred), "credential", "credential.created", status=201)

    def _credential(self, c: _Call) -> dict[str, Any]:
        cred_id = c.params["credential_id"]
        cred = c.rt.credentials.get(c.user, {}).get(cred_id)
        if cred is None:
            raise _Reject(404, f"Credential '{cred_id}' not found")
        return cred

    async def get_credential(self, c: _Call) -> None:
        await c.ok(self._public_credential(self._credential(c)), "credential", "credential.retrieved")

    async def delete_credential(self, c: _Call) -> None:
        cred = self._credential(c)
        del c.rt.credentials[c.user][cred["id"]]
        await c.ok({"message": f"Credential '{cred['id']}' deleted successfully", "id": cred["id"]},
                   "credential", "credential.deleted")

    async def resolve_user(self, c: _Call) -> None:
        body = c.json_object()
        errors: list[dict[str, Any]] = []
        identifier = _need_str(body, "identifier", errors)
        kind = _need_str(body, "identifier_type", errors, required=False)
        if errors or identifier is None:
            raise _invalid(errors)
        found = c.rt.identifiers.get(identifier)
        created = found is None
        if found is None:
            found = c.rt.identifiers[identifier] = {
                "muxi_user_id": new_id("usr_", 16), "identifier": identifier, "identifier_type": kind or "unknown"}
        await c.ok({**found, "created": created}, "user", "user.resolved")

    async def user_identifiers(self, c: _Call) -> None:
        user_id = c.params["user_id"]
        items = [dict(i) for i in c.rt.identifiers.values() if i["muxi_user_id"] == user_id]
        await c.ok({"muxi_user_id": user_id, "identifiers": items, "count": len(items)}, "list", "user.identifiers")

    async def link_identifiers(self, c: _Call) -> None:
        body = c.json_object()
        identifiers = body.get("identifiers")
        if not isinstance(identifiers, list) or not identifiers:
            raise _invalid([_field_error("identifiers", "list", "missing", "Field required")])
        user_id = body.get("muxi_user_id") if isinstance(body.get("muxi_user_id"), str) else new_id("usr_", 16)
        linked = []
        for item in identifiers:
            if isinstance(item, str):
                identifier, kind = item, "unknown"
            elif isinstance(item, dict) and isinstance(item.get("identifier"), str):
                identifier = item["identifier"]
                kind = str(item.get("type") or item.get("identifier_type") or "unknown")
            else:
                raise _invalid([_field_error("identifiers", "list", "value_error",
                                             "Value error, an identifier is a string or {identifier, type}")])
            entry = {"muxi_user_id": user_id, "identifier": identifier, "identifier_type": kind}
            c.rt.identifiers[identifier] = entry
            linked.append(dict(entry))
        await c.ok({"muxi_user_id": user_id, "identifiers": linked, "count": len(linked)}, "list", "user.linked",
                   status=201)

    async def unlink_identifier(self, c: _Call) -> None:
        identifier = c.params["identifier"]
        if c.rt.identifiers.pop(identifier, None) is None:
            raise _Reject(404, f"Identifier '{identifier}' not found")
        await c.ok({"message": f"Identifier '{identifier}' unlinked", "identifier": identifier}, "message",
                   "user.unlinked")

    # --- audit -----------------------------------------------------------------------------------------

    async def get_audit(self, c: _Call) -> None:
        query = c.inc.query()
        limit = c.query_int("limit", 100, high=10_000)
        items = [dict(e) for e in c.rt.audit]
        if query.get("action"):
            items = [e for e in items if e["action"] == query["action"]]
        if query.get("resource_type"):
            items = [e for e in items if e["resource_type"] == query["resource_type"]]
        if query.get("since"):
            try:
                since = float(query["since"])
                items = [e for e in items if e["timestamp"] >= since]
            except ValueError:
                pass
        items = items[-limit:]
        await c.ok({"entries": items, "count": len(items)}, "list", "audit.list")

    async def clear_audit(self, c: _Call) -> None:
        if c.inc.query().get("confirm") != "clear-audit-log":
            raise _Reject(400, "Confirmation required: pass confirm=clear-audit-log")
        cleared = len(c.rt.audit)
        c.rt.audit.clear()
        await c.ok({"message": "Audit log cleared", "entries_cleared": cleared}, "message", "audit.cleared")

    # --- streams ---------------------------------------------------------------------------------------

    async def events(self, c: _Call) -> None:
        session_id = c.params.get("session_id")
        user = c.user_id

        def wanted(item: dict[str, Any]) -> bool:
            return (user is None or item.get("user_id") == user) and (
                session_id is None or item.get("session_id") == session_id)

        await self._follow(c, c.rt.events.subscribe(), wanted, lambda item: format_event(compact(item)))

    async def request_events(self, c: _Call) -> None:
        raise _Reject(500, EVENTS_BROKEN)  # reproduced upstream breakage (module docstring)

    async def logs(self, c: _Call) -> None:
        query = c.inc.query()
        filters = {name: query[name] for name in LOG_FILTERS if query.get(name)}
        if not filters:
            raise _Reject(400, LOG_FILTER_REQUIRED)

        def wanted(item: dict[str, Any]) -> bool:
            return all(str(item.get(name)) == value for name, value in filters.items())

        def encode(item: dict[str, Any]) -> bytes:
            return format_event(compact(item), event="log")

        await self._follow(c, c.rt.logs.subscribe(), wanted, encode)

    async def _follow(
        self,
        c: _Call,
        subscription: Any,
        wanted: Callable[[dict[str, Any]], bool],
        encode: Callable[[dict[str, Any]], bytes],
    ) -> None:
        """A never-ending stream of the feed's items, keepalive comments while idle."""
        out = c.out
        await out.open_stream(200, SSE_HEADERS)

        async def produce() -> None:
            with subscription as sub:
                await _stream_feed(out, sub, wanted, encode, self.ctx.keepalive_interval)

        await out.guarded(produce)


async def _stream_feed(
    out: Responder,
    sub: Subscription[dict[str, Any]],
    wanted: Callable[[dict[str, Any]], bool],
    encode: Callable[[dict[str, Any]], bytes],
    interval: float,
) -> None:
    if not await out.frame(KEEPALIVE):
        return
    while True:
        batch = await sub.next_batch(interval)
        if sub.overflowed:
            await out.frame(error_frame("the event stream fell too far behind", "StreamOverflow"))
            await out.close_stream()
            return
        frames: Iterable[bytes] = [encode(item) for item in batch if wanted(item)] or [KEEPALIVE]
        for frame in frames:
            if not await out.frame(frame):
                return
