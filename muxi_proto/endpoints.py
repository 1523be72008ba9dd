"""Every MUXI endpoint, described once.

Each method below maps the official SDK's arguments to what goes on the wire (PROTOCOL.md; where
the official package sends something else, the comment says so). The sync and async clients inherit
these classes and add only the I/O loop, so a new endpoint costs one entry here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .api import Spec, StreamSpec, endpoint, stream_endpoint
from .bundle import load_bundle
from .errors import ConfigurationError, NotFoundError
from .requests import Auth, Operation, encode_json, quote_segment
from .responses import Decode
from .sse import ServerSentEvent
from .streams import ChatStream, DeploymentStream, EventStream, LogStream

__all__ = ["FormationAPI", "ServerAPI"]

Result = dict[str, Any]
JSON_TYPE = "application/json"
GZIP_TYPE = "application/gzip"
_seg = quote_segment


def _op(
    method: str,
    path: str,
    auth: Auth,
    *,
    query: Mapping[str, Any] | None = None,
    json: Any = None,
    user_id: str | None = None,
    stream: bool = False,
    idempotent: bool = False,
) -> Operation:
    return Operation(
        method,
        path,
        auth,
        query=Operation.query_from(query) if query else (),
        body=None if json is None else encode_json(json),
        content_type=None if json is None else JSON_TYPE,
        user_id=user_id or None,
        stream=stream,
        idempotent_route=idempotent,
    )


def _json(method: str, path: str, auth: Auth, **kw: Any) -> Spec[Result]:
    return Spec(_op(method, path, auth, **kw))


def _none(method: str, path: str, auth: Auth, **kw: Any) -> Spec[None]:
    # Errors still surface; a success body of any shape is discarded.
    return Spec(_op(method, path, auth, **kw), Decode.AUTO, finish=_discard)


def _discard(_: Any) -> None:
    return None


# --- control plane ---------------------------------------------------------------------------------


class ServerAPI:
    """Control-plane endpoints (the MUXI server). HMAC-signed except ``ping`` and ``health``."""

    # Unauthenticated
    @endpoint
    def ping(self) -> Spec[str]:
        """``GET /ping``: the text ``pong``."""
        return Spec(_op("GET", "/ping", Auth.NONE), Decode.TEXT)

    @endpoint
    def health(self) -> Spec[Result]:
        """``GET /health``: ``{"success", "status", "version"}``, no auth needed."""
        return _json("GET", "/health", Auth.NONE)

    # Server
    @endpoint
    def status(self) -> Spec[Result]:
        """Server status: ``server``, ``formations``, ``port_pool``, ``runtime``."""
        return _json("GET", "/rpc/server/status", Auth.HMAC)

    @endpoint
    def get_server_logs(self, *, lines: int | None = None, limit: int | None = None) -> Spec[str]:
        """Server log lines as text (``lines``; ``limit`` is the official SDK's alias)."""
        n = lines if lines is not None else limit
        return Spec(_op("GET", "/rpc/server/logs", Auth.HMAC, query={"lines": n}), Decode.TEXT)

    # Formations
    @endpoint
    def list_formations(self) -> Spec[Result]:
        """``{"formations": [...], "total": n}``."""
        return _json("GET", "/rpc/formations", Auth.HMAC)

    @endpoint
    def get_formation(self, formation_id: str) -> Spec[Result]:
        """One formation (404 → NotFoundError)."""
        return _json("GET", f"/rpc/formations/{_seg(formation_id)}", Auth.HMAC)

    @endpoint
    def deploy_formation(
        self, formation_id: str, bundle: Any = None, *, version: str | None = None, payload: Any = None
    ) -> Spec[Result]:
        """Deploy a new formation from a directory, a ``.tar.gz`` path, bytes, or ``{"path": ...}``.

        The official SDK POSTed JSON to ``/rpc/formations/{id}/deploy``, which does not exist: the
        server takes the raw tar.gz at ``POST /rpc/formations``. ``payload=`` is the official name
        of ``bundle`` and is accepted as an alias.
        """
        return Spec(_bundle_op("POST", "/rpc/formations", formation_id, _either(bundle, payload), version))

    @stream_endpoint
    def deploy_formation_stream(
        self, formation_id: str, bundle: Any = None, *, version: str | None = None, payload: Any = None
    ) -> StreamSpec[ServerSentEvent]:
        """Deploy with progress events (``Accept: text/event-stream`` on the same endpoint)."""
        op = _bundle_op("POST", "/rpc/formations", formation_id, _either(bundle, payload), version, stream=True)
        return StreamSpec(op, DeploymentStream)

    @endpoint
    def update_formation(
        self, formation_id: str, bundle: Any = None, *, version: str | None = None, payload: Any = None
    ) -> Spec[Result]:
        """Blue-green update with a new bundle (``PUT /rpc/formations/{id}``; 409 when unchanged)."""
        path = f"/rpc/formations/{_seg(formation_id)}"
        return Spec(_bundle_op("PUT", path, formation_id, _either(bundle, payload), version))

    @stream_endpoint
    def update_formation_stream(
        self, formation_id: str, bundle: Any = None, *, version: str | None = None, payload: Any = None
    ) -> StreamSpec[ServerSentEvent]:
        """Update with progress events."""
        path = f"/rpc/formations/{_seg(formation_id)}"
        op = _bundle_op("PUT", path, formation_id, _either(bundle, payload), version, stream=True)
        return StreamSpec(op, DeploymentStream)

    @endpoint
    def delete_formation(self, formation_id: str) -> Spec[Result]:
        """Stop and remove a formation."""
        return _json("DELETE", f"/rpc/formations/{_seg(formation_id)}", Auth.HMAC)

    @endpoint
    def start_formation(self, formation_id: str) -> Spec[Result]:
        """Start a stopped formation."""
        return _json("POST", f"/rpc/formations/{_seg(formation_id)}/start", Auth.HMAC)

    @stream_endpoint
    def start_formation_stream(self, formation_id: str) -> StreamSpec[ServerSentEvent]:
        """Start with progress events (``error`` events raise typed errors)."""
        return _action_stream(formation_id, "start")

    @endpoint
    def stop_formation(self, formation_id: str) -> Spec[Result]:
        """Stop a running formation."""
        return _json("POST", f"/rpc/formations/{_seg(formation_id)}/stop", Auth.HMAC)

    @endpoint
    def restart_formation(self, formation_id: str) -> Spec[Result]:
        """Restart a formation."""
        return _json("POST", f"/rpc/formations/{_seg(formation_id)}/restart", Auth.HMAC)

    @stream_endpoint
    def restart_formation_stream(self, formation_id: str) -> StreamSpec[ServerSentEvent]:
        """Restart with progress events."""
        return _action_stream(formation_id, "restart")

    @endpoint
    def rollback_formation(self, formation_id: str) -> Spec[Result]:
        """Roll back to the previous version."""
        return _json("POST", f"/rpc/formations/{_seg(formation_id)}/rollback", Auth.HMAC)

    @stream_endpoint
    def rollback_formation_stream(self, formation_id: str) -> StreamSpec[ServerSentEvent]:
        """Roll back with progress events."""
        return _action_stream(formation_id, "rollback")

    @endpoint
    def cancel_update(self, formation_id: str) -> Spec[Result]:
        """Cancel an update in progress (the server answers a bare object)."""
        return _json("POST", f"/rpc/formations/{_seg(formation_id)}/cancel-update", Auth.HMAC)

    @endpoint
    def get_formation_logs(
        self,
        formation_id: str,
        *,
        lines: int | None = None,
        stream: str | None = None,
        limit: int | None = None,
    ) -> Spec[Any]:
        """Recent log lines; ``stream`` is ``stdout``, ``stderr`` or ``all``.

        The server reads ``lines`` (the official SDK sent ``limit``, which is kept as an alias).
        """
        n = lines if lines is not None else limit
        query = {"lines": n, "stream": stream}
        return Spec(_op("GET", f"/rpc/formations/{_seg(formation_id)}/logs", Auth.HMAC, query=query), Decode.AUTO)

    @stream_endpoint
    def stream_formation_logs(
        self, formation_id: str, *, lines: int | None = None, stream: str | None = None
    ) -> StreamSpec[ServerSentEvent]:
        """Follow a formation's logs (``connected`` then ``log`` events; never ends by itself)."""
        query = {"lines": lines, "stream": stream, "follow": True}
        op = _op("GET", f"/rpc/formations/{_seg(formation_id)}/logs", Auth.HMAC, query=query, stream=True)
        return StreamSpec(op, LogStream)

    @endpoint
    def download_formation(self, formation_id: str, *, db: bool = False) -> Spec[bytes]:
        """The deployed formation as zip bytes (``db=True`` includes its database)."""
        query = {"db": True} if db else None
        return Spec(_op("GET", f"/rpc/formations/{_seg(formation_id)}/download", Auth.HMAC, query=query),
                    Decode.BYTES)


def _bundle_op(
    method: str, path: str, formation_id: str, bundle: Any, version: str | None, *, stream: bool = False
) -> Operation:
    prepared = load_bundle(bundle, formation_id, version=version)
    return Operation(
        method,
        path,
        Auth.HMAC,
        body=prepared.data,
        content_type=GZIP_TYPE,
        headers=(("X-Formation-ID", prepared.formation_id), ("X-Formation-Version", prepared.version)),
        stream=stream,
    )


def _either(bundle: Any, payload: Any) -> Any:
    if bundle is not None and payload is not None:
        raise ConfigurationError("INVALID_ARGUMENT", "pass the bundle once (bundle or payload)")
    if bundle is None and payload is None:
        raise ConfigurationError("INVALID_ARGUMENT", "a bundle is required: a directory, a .tar.gz path or bytes")
    return bundle if bundle is not None else payload


def _action_stream(formation_id: str, action: str) -> StreamSpec[ServerSentEvent]:
    op = _op("POST", f"/rpc/formations/{_seg(formation_id)}/{action}", Auth.HMAC, stream=True)
    return StreamSpec(op, DeploymentStream)


# --- formation plane -------------------------------------------------------------------------------


def _pick_secret(key: str) -> Any:
    def pick(listing: Any) -> Result:
        secrets = listing.get("secrets", listing) if isinstance(listing, dict) else listing
        if isinstance(secrets, dict) and key in secrets:
            return {"key": key, "value": secrets[key]}
        if isinstance(secrets, list):
            for item in secrets:
                if isinstance(item, dict) and (item.get("key") == key or item.get("name") == key):
                    return dict(item)
                if item == key:
                    return {"key": key}
        raise NotFoundError("SECRET_NOT_FOUND", f"Secret '{key}' not found", 404)
    return pick


class FormationAPI:
    """Formation-plane endpoints (one runtime, key-authenticated)."""

    # Health / status / configuration ------------------------------------------------------------
    @endpoint
    def health(self) -> Spec[Result]:
        """``{"status": "healthy"|"unhealthy", "version", "uptime_seconds"}``; public."""
        return _json("GET", "/health", Auth.NONE)

    @endpoint
    def get_status(self) -> Spec[Result]:
        """Runtime status (admin)."""
        return _json("GET", "/status", Auth.ADMIN)

    @endpoint
    def get_config(self) -> Spec[Result]:
        """Formation configuration (admin)."""
        return _json("GET", "/config", Auth.ADMIN)

    @endpoint
    def get_formation_info(self) -> Spec[Result]:
        """Formation metadata (admin)."""
        return _json("GET", "/formation", Auth.ADMIN)

    @endpoint
    def get_agents(self) -> Spec[Result]:
        """Agents (admin)."""
        return _json("GET", "/agents", Auth.ADMIN)

    @endpoint
    def get_agent(self, agent_id: str) -> Spec[Result]:
        """One agent (admin)."""
        return _json("GET", f"/agents/{_seg(agent_id)}", Auth.ADMIN)

    @endpoint
    def get_mcp_config(self) -> Spec[Result]:
        """MCP configuration (admin)."""
        return _json("GET", "/mcp", Auth.ADMIN)

    @endpoint
    def get_mcp_servers(self) -> Spec[Result]:
        """MCP servers (admin)."""
        return _json("GET", "/mcp/servers", Auth.ADMIN)

    @endpoint
    def get_mcp_server(self, server_id: str) -> Spec[Result]:
        """One MCP server (admin)."""
        return _json("GET", f"/mcp/servers/{_seg(server_id)}", Auth.ADMIN)

    @endpoint
    def get_mcp_tools(self) -> Spec[Result]:
        """MCP tools (admin)."""
        return _json("GET", "/mcp/tools", Auth.ADMIN)

    @endpoint
    def get_llm_settings(self) -> Spec[Result]:
        """LLM settings (admin)."""
        return _json("GET", "/llm/settings", Auth.ADMIN)

    @endpoint
    def get_logging_config(self) -> Spec[Result]:
        """Logging configuration (admin)."""
        return _json("GET", "/logging", Auth.ADMIN)

    @endpoint
    def get_logging_destinations(self) -> Spec[Result]:
        """Logging destinations (admin)."""
        return _json("GET", "/logging/destinations", Auth.ADMIN)

    @endpoint
    def get_async_config(self) -> Spec[Result]:
        """Async processing configuration (admin)."""
        return _json("GET", "/async", Auth.ADMIN)

    @endpoint
    def get_a2a_config(self) -> Spec[Result]:
        """Agent-to-agent configuration (admin)."""
        return _json("GET", "/a2a", Auth.ADMIN)

    @endpoint
    def get_overlord_config(self) -> Spec[Result]:
        """Overlord configuration (admin)."""
        return _json("GET", "/overlord", Auth.ADMIN)

    @endpoint
    def get_overlord_soul(self) -> Spec[Result]:
        """Overlord soul (admin)."""
        return _json("GET", "/overlord/soul", Auth.ADMIN)

    # Secrets (admin) ------------------------------------------------------------------------------
    @endpoint
    def get_secrets(self) -> Spec[Result]:
        """Secret names with masked values."""
        return _json("GET", "/secrets", Auth.ADMIN)

    @endpoint
    def get_secret(self, key: str) -> Spec[Result]:
        """One secret, answered from the list (the runtime has no ``GET /secrets/{key}``)."""
        return Spec(_op("GET", "/secrets", Auth.ADMIN), finish=_pick_secret(key))

    @endpoint
    def create_secret(self, key: str, value: str) -> Spec[Result]:
        """Create a secret (``POST /secrets``; 409 ConflictError if it exists)."""
        return _json("POST", "/secrets", Auth.ADMIN, json={"key": key, "value": value})

    @endpoint
    def update_secret(self, key: str, value: str) -> Spec[Result]:
        """Update an existing secret (``PUT /secrets/{key}``; 404 if missing)."""
        return _json("PUT", f"/secrets/{_seg(key)}", Auth.ADMIN, json={"value": value})

    @endpoint
    def set_secret(self, key: str, value: str) -> Spec[None]:
        """Create or update a secret: update, and create when it does not exist yet.

        The official SDK only PUT, which fails for a new key.
        """
        create = _none("POST", "/secrets", Auth.ADMIN, json={"key": key, "value": value})
        update = _op("PUT", f"/secrets/{_seg(key)}", Auth.ADMIN, json={"value": value})
        return Spec(update, Decode.AUTO, finish=_discard, fallback=(NotFoundError, create))

    @endpoint
    def delete_secret(self, key: str) -> Spec[None]:
        """Delete a secret."""
        return _none("DELETE", f"/secrets/{_seg(key)}", Auth.ADMIN)

    # Chat (client key) ------------------------------------------------------------------------------
    @endpoint
    def chat(self, payload: dict[str, Any], *, user_id: str = "") -> Spec[Result]:
        """Send a message and wait for the whole answer (``data.message``).

        The runtime streams by default, so ``stream`` is forced to false here; the request is
        deduplicated by idempotency key, hence safe to retry.
        """
        body = {**payload, "stream": False}
        return _json("POST", "/chat", Auth.CLIENT, json=body, user_id=user_id, idempotent=True)

    @stream_endpoint
    def chat_stream(self, payload: dict[str, Any], *, user_id: str = "") -> StreamSpec[ServerSentEvent]:
        """Send a message and stream the answer: token frames, optional ``ui``, then ``done``."""
        body = {**payload, "stream": True}
        return StreamSpec(_op("POST", "/chat", Auth.CLIENT, json=body, user_id=user_id, stream=True), ChatStream)

    @endpoint
    def audio_chat(self, payload: dict[str, Any], *, user_id: str = "") -> Spec[Result]:
        """Chat with audio ``files`` (``audio/*`` content types); whole answer."""
        body = {**payload, "stream": False}
        return _json("POST", "/audiochat", Auth.CLIENT, json=body, user_id=user_id)

    @stream_endpoint
    def audio_chat_stream(self, payload: dict[str, Any], *, user_id: str = "") -> StreamSpec[ServerSentEvent]:
        """Audio chat, streamed."""
        body = {**payload, "stream": True}
        op = _op("POST", "/audiochat", Auth.CLIENT, json=body, user_id=user_id, stream=True)
        return StreamSpec(op, ChatStream)

    # Sessions (client key, user) -----------------------------------------------------------------------
    @endpoint
    def get_sessions(self, user_id: str, limit: int | None = None, *, active_only: bool | None = None
                     ) -> Spec[Result]:
        """A user's sessions (the user travels in ``X-Muxi-User-ID`` only)."""
        query = {"limit": limit, "active_only": active_only}
        return _json("GET", "/sessions", Auth.CLIENT, query=query, user_id=user_id)

    @endpoint
    def get_session(self, session_id: str, user_id: str) -> Spec[Result]:
        """One session."""
        return _json("GET", f"/sessions/{_seg(session_id)}", Auth.CLIENT, user_id=user_id)

    @endpoint
    def get_session_messages(
        self, session_id: str, user_id: str, *, limit: int | None = None, before: str | None = None
    ) -> Spec[Result]:
        """A session's messages (``limit``, ``before`` for paging)."""
        return _json("GET", f"/sessions/{_seg(session_id)}/messages", Auth.CLIENT,
                     query={"limit": limit, "before": before}, user_id=user_id)

    @endpoint
    def restore_session(self, session_id: str, user_id: str, messages: list[dict[str, Any]]) -> Spec[None]:
        """Restore a session's messages."""
        return _none("POST", f"/sessions/{_seg(session_id)}/restore", Auth.CLIENT,
                     json={"messages": messages}, user_id=user_id)

    # Requests (either key) ----------------------------------------------------------------------------
    @endpoint
    def get_requests(self, user_id: str) -> Spec[Result]:
        """A user's requests."""
        return _json("GET", "/requests", Auth.EITHER, user_id=user_id)

    @endpoint
    def get_request_status(self, request_id: str, user_id: str) -> Spec[Result]:
        """One request's status."""
        return _json("GET", f"/requests/{_seg(request_id)}", Auth.EITHER, user_id=user_id)

    @endpoint
    def cancel_request(self, request_id: str, user_id: str) -> Spec[None]:
        """Cancel a request in progress."""
        return _none("DELETE", f"/requests/{_seg(request_id)}", Auth.EITHER, user_id=user_id)

    # Memory -------------------------------------------------------------------------------------------
    @endpoint
    def get_memory_config(self) -> Spec[Result]:
        """Memory configuration (admin)."""
        return _json("GET", "/memory", Auth.ADMIN)

    @endpoint
    def get_buffer_stats(self) -> Spec[Result]:
        """Buffer statistics (admin)."""
        return _json("GET", "/memory/stats", Auth.ADMIN)

    @endpoint
    def get_memories(self, user_id: str, limit: int | None = None) -> Spec[Result]:
        """A user's long-term memories."""
        return _json("GET", "/memories", Auth.EITHER, query={"limit": limit}, user_id=user_id)

    @endpoint
    def add_memory(self, user_id: str, mem_type: str, detail: str) -> Spec[Result]:
        """Add a memory for a user."""
        return _json("POST", "/memories", Auth.EITHER, json={"type": mem_type, "detail": detail}, user_id=user_id)

    @endpoint
    def delete_memory(self, user_id: str, memory_id: str) -> Spec[None]:
        """Delete one memory."""
        return _none("DELETE", f"/memories/{_seg(memory_id)}", Auth.EITHER, user_id=user_id)

    @endpoint
    def get_user_buffer(self, user_id: str) -> Spec[Result]:
        """A user's conversation buffer."""
        return _json("GET", "/memory/buffer", Auth.EITHER, user_id=user_id)

    @endpoint
    def clear_user_buffer(self, user_id: str) -> Spec[Result]:
        """Clear a user's buffer."""
        return _json("DELETE", "/memory/buffer", Auth.EITHER, user_id=user_id)

    @endpoint
    def clear_session_buffer(self, user_id: str, session_id: str) -> Spec[Result]:
        """Clear one session's buffer."""
        return _json("DELETE", f"/memory/buffer/{_seg(session_id)}", Auth.EITHER, user_id=user_id)

    @endpoint
    def clear_all_buffers(self) -> Spec[Result]:
        """Clear every buffer (admin, ``DELETE /memory/buffers``)."""
        return _json("DELETE", "/memory/buffers", Auth.ADMIN)

    # Scheduler ----------------------------------------------------------------------------------------
    @endpoint
    def get_scheduler_config(self) -> Spec[Result]:
        """Scheduler configuration (admin)."""
        return _json("GET", "/scheduler", Auth.ADMIN)

    @endpoint
    def get_scheduler_jobs(self, user_id: str) -> Spec[Result]:
        """A user's jobs (filtered by ``X-Muxi-User-ID``; the official SDK used a query parameter)."""
        return _json("GET", "/scheduler/jobs", Auth.EITHER, user_id=user_id)

    @endpoint
    def get_scheduler_job(self, job_id: str) -> Spec[Result]:
        """One job (admin)."""
        return _json("GET", f"/scheduler/jobs/{_seg(job_id)}", Auth.ADMIN)

    @endpoint
    def create_scheduler_job(self, job_type: str, schedule: str, message: str, user_id: str) -> Spec[Result]:
        """Create a ``one_time`` or ``recurring`` job owned by ``user_id`` (sent as the user header)."""
        body = {"type": job_type, "schedule": schedule, "message": message}
        return _json("POST", "/scheduler/jobs", Auth.ADMIN, json=body, user_id=user_id, idempotent=True)

    @endpoint
    def update_scheduler_job(self, /, job_id: str, **kwargs: Any) -> Spec[Result]:
        """Update a job's fields (admin)."""
        return _json("PUT", f"/scheduler/jobs/{_seg(job_id)}", Auth.ADMIN, json=kwargs)

    @endpoint
    def delete_scheduler_job(self, job_id: str) -> Spec[None]:
        """Delete a job (admin)."""
        return _none("DELETE", f"/scheduler/jobs/{_seg(job_id)}", Auth.ADMIN)

    @endpoint
    def pause_scheduler_job(self, job_id: str) -> Spec[Result]:
        """Pause a job (admin)."""
        return _json("POST", f"/scheduler/jobs/{_seg(job_id)}/pause", Auth.ADMIN)

    @endpoint
    def resume_scheduler_job(self, job_id: str) -> Spec[Result]:
        """Resume a job (admin)."""
        return _json("POST", f"/scheduler/jobs/{_seg(job_id)}/resume", Auth.ADMIN)

    # Triggers, SOPs (client key) ------------------------------------------------------------------------
    @endpoint
    def get_triggers(self) -> Spec[Result]:
        """Triggers."""
        return _json("GET", "/triggers", Auth.CLIENT)

    @endpoint
    def get_trigger(self, name: str) -> Spec[Result]:
        """One trigger."""
        return _json("GET", f"/triggers/{_seg(name)}", Auth.CLIENT)

    @endpoint
    def fire_trigger(
        self,
        name: str,
        data: Any,
        *,
        async_mode: bool = False,
        user_id: str = "",
        session_id: str | None = None,
    ) -> Spec[Result]:
        """Fire a trigger: ``{"status": "completed", "content"}``, or ``{"status": "processing"}`` async.

        The runtime wants ``{"data": ..., "use_async": ...}`` (the official SDK sent the raw data
        and an ``?async=`` query it ignores).
        """
        body: dict[str, Any] = {"data": data, "use_async": async_mode}
        if session_id is not None:
            body["session_id"] = session_id
        return _json("POST", f"/triggers/{_seg(name)}", Auth.CLIENT, json=body, user_id=user_id, idempotent=True)

    @endpoint
    def get_sops(self) -> Spec[Result]:
        """Standard operating procedures."""
        return _json("GET", "/sops", Auth.CLIENT)

    @endpoint
    def get_sop(self, name: str) -> Spec[Result]:
        """One SOP."""
        return _json("GET", f"/sops/{_seg(name)}", Auth.CLIENT)

    # Credentials (either key, user) ------------------------------------------------------------------------
    @endpoint
    def list_credential_services(self) -> Spec[Result]:
        """Services credentials can be stored for."""
        return _json("GET", "/credentials/services", Auth.EITHER)

    @endpoint
    def list_credentials(self, user_id: str) -> Spec[Result]:
        """A user's credentials."""
        return _json("GET", "/credentials", Auth.EITHER, user_id=user_id)

    @endpoint
    def create_credential(self, user_id: str, payload: dict[str, Any]) -> Spec[Result]:
        """Store a credential: ``{"service", "name"?, "credential"}``."""
        return _json("POST", "/credentials", Auth.EITHER, json=payload, user_id=user_id)

    @endpoint
    def get_credential(self, credential_id: str, user_id: str) -> Spec[Result]:
        """One credential."""
        return _json("GET", f"/credentials/{_seg(credential_id)}", Auth.EITHER, user_id=user_id)

    @endpoint
    def delete_credential(self, credential_id: str, user_id: str) -> Spec[Result]:
        """Delete a credential."""
        return _json("DELETE", f"/credentials/{_seg(credential_id)}", Auth.EITHER, user_id=user_id)

    # Users (client key; the official SDK sent the admin key and got 401) ---------------------------------
    @endpoint
    def resolve_user(
        self, identifier: str, create_user: bool = False, *, identifier_type: str | None = None
    ) -> Spec[Result]:
        """Resolve an external identifier to a MUXI user.

        ``create_user`` is accepted for compatibility but is not a runtime field (it is not sent).
        """
        body: dict[str, Any] = {"identifier": identifier}
        if identifier_type is not None:
            body["identifier_type"] = identifier_type
        return _json("POST", "/users/resolve", Auth.CLIENT, json=body)

    @endpoint
    def get_user_identifiers_for_user(self, user_id: str) -> Spec[Result]:
        """A user's linked identifiers."""
        return _json("GET", f"/users/identifiers/{_seg(user_id)}", Auth.CLIENT)

    @endpoint
    def link_user_identifier(self, muxi_user_id: str, identifiers: list[Any]) -> Spec[Result]:
        """Link identifiers to a MUXI user."""
        body = {"muxi_user_id": muxi_user_id, "identifiers": identifiers}
        return _json("POST", "/users/identifiers", Auth.CLIENT, json=body)

    @endpoint
    def unlink_user_identifier(self, identifier: str) -> Spec[None]:
        """Unlink an identifier."""
        return _none("DELETE", f"/users/identifiers/{_seg(identifier)}", Auth.CLIENT)

    # Audit (admin) ---------------------------------------------------------------------------------------
    @endpoint
    def get_audit_log(
        self,
        *,
        limit: int | None = None,
        action: str | None = None,
        resource_type: str | None = None,
        since: str | None = None,
    ) -> Spec[Result]:
        """Audit entries, optionally filtered."""
        query = {"limit": limit, "action": action, "resource_type": resource_type, "since": since}
        return _json("GET", "/audit", Auth.ADMIN, query=query)

    @endpoint
    def clear_audit_log(self) -> Spec[None]:
        """Clear the audit log."""
        return _none("DELETE", "/audit", Auth.ADMIN, query={"confirm": "clear-audit-log"})

    # Streams ------------------------------------------------------------------------------------------
    @stream_endpoint
    def stream_events(self, user_id: str, *, session_id: str | None = None) -> StreamSpec[ServerSentEvent]:
        """A user's events (``/events`` or ``/events/{session_id}``); never ends by itself."""
        path = "/events" if session_id is None else f"/events/{_seg(session_id)}"
        return StreamSpec(_op("GET", path, Auth.EITHER, user_id=user_id, stream=True), EventStream)

    @stream_endpoint
    def stream_logs(self, filters: dict[str, Any] | None = None) -> StreamSpec[ServerSentEvent]:
        """Formation logs (admin); the runtime needs at least one filter (user_id, session_id,
        request_id, agent_id, level, event_type) and answers 400 without one."""
        return StreamSpec(_op("GET", "/logs", Auth.ADMIN, query=filters or {}, stream=True), LogStream)

    @stream_endpoint
    def stream_request(self, user_id: str, session_id: str, request_id: str) -> StreamSpec[ServerSentEvent]:
        """One request's events. Broken upstream (the runtime answers 500): raises ServerError."""
        path = f"/events/{_seg(session_id)}/{_seg(request_id)}"
        return StreamSpec(_op("GET", path, Auth.EITHER, user_id=user_id, stream=True), EventStream)
