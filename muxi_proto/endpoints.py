"""Every MUXI endpoint, described once: its route and how its arguments become the request.

Each function below is one endpoint. Its decorator declares the route (method, path template,
credential; for streams, the stream machine) and the function maps the official SDK's arguments to
what goes on the wire (docs/protocol.md; where the official package sends something else, the
docstring says so, see docs/official-api.md). The route is the only way a function can make a
request, so the registry (``FormationAPI.endpoints``) is exactly what is sent.

``ServerAPI(cfg)`` and ``FormationAPI(cfg)`` are the sans-IO APIs: their methods return call
machines (:mod:`muxi_proto.call`). The clients in ``muxi_transports`` derive from them and run the
machines over a transport.

Every endpoint function ends with ``**options: Unpack[CallOptions]``: the per-call options
(``timeout=``, ``extra_headers=``, ``idempotency_key=``, ``max_retries=``) are part of each
method's signature, for type checkers and ``help()``. The machinery takes them out before it
calls the function (it never sees them) and gives them to the call machine.

Adding an endpoint: one entry here. Then ``tests/test_endpoints.py`` fails until its expected wire
request is listed there, ``tests/test_all_methods_local.py`` until it has a scenario against the
local server (which must serve the route), and ``tests/test_facade.py`` checks the official names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from .api import CallFactory, endpoint, helper, stream_endpoint
from .bundle import load_bundle
from .config import FormationConfig, ServerConfig
from .errors import ConfigurationError, NotFoundError
from .options import CallOptions, Unpack
from .paging import MAX_SESSION_MESSAGES, SessionMessagesMachine
from .polling import PollMachine, request_finished
from .requests import Auth
from .schemas import AudioChatRequest, ChatRequest, CredentialCreate, MemoryCreate, ScheduledJobUpdate, SessionMessage
from .specs import JSON_TYPE, Result, Route, Spec, StreamSpec
from .sse import ServerSentEvent
from .streams import ChatStream, DeploymentStream, EventStream, LogStream
from .types import (
    AgentInfo,
    AgentList,
    ArtifactList,
    AuditLog,
    BufferCleared,
    BufferList,
    BufferStats,
    CancelledUpdate,
    ChatResponse,
    CreatedJob,
    CredentialList,
    CredentialServices,
    Deployment,
    FormationDetails,
    FormationHealth,
    FormationList,
    FormationStatus,
    FormationUpdate,
    History,
    IngestionStatus,
    JobState,
    KnowledgeRebuild,
    LifecycleResult,
    LinkedIdentifiers,
    LoggingDestinations,
    McpConfig,
    McpServers,
    McpTools,
    MemoryForget,
    MemoryIngestion,
    MemoryJob,
    MemoryList,
    MemoryRebuild,
    Message,
    OverlordSoul,
    RequestInfo,
    RequestList,
    ResolvedUser,
    ScheduledJobInfo,
    ScheduledJobList,
    SchedulerConfig,
    Secret,
    SecretList,
    SecretsReload,
    ServerHealth,
    ServerStatus,
    Session,
    SessionBufferCleared,
    SessionList,
    SessionMessages,
    Sop,
    SopList,
    Trigger,
    TriggerList,
    TriggerResult,
    Tuning,
    TuningRun,
    TuningWritten,
    UserBuffer,
    UserIdentifiers,
)

__all__ = ["FormationAPI", "ServerAPI"]

GZIP_TYPE = "application/gzip"
#: How long ``wait_for_request`` takes a 404 for "not tracked yet" (docs/runtime.md).
UNTRACKED_SECONDS = 10.0
NONE, HMAC, ADMIN, CLIENT, EITHER = Auth.NONE, Auth.HMAC, Auth.ADMIN, Auth.CLIENT, Auth.EITHER


# --- control plane ---------------------------------------------------------------------------------


class ServerAPI(CallFactory):
    """Control-plane endpoints (the MUXI server). HMAC-signed except ``ping`` and ``health``."""

    _config_type: ClassVar[type[ServerConfig]] = ServerConfig
    plane: ClassVar[str] = "server"
    config: ServerConfig

    # Unauthenticated
    @endpoint("GET", "/ping", NONE)
    def ping(route: Route, **options: Unpack[CallOptions]) -> Spec[str]:
        """``GET /ping``: the text ``pong``."""
        return route.text()

    @endpoint("GET", "/health", NONE)
    def health(route: Route, **options: Unpack[CallOptions]) -> Spec[ServerHealth]:
        """``GET /health``: ``{"success", "status", "version"}``, no auth needed."""
        return route.json()

    # Server
    @endpoint("GET", "/rpc/server/status", HMAC)
    def status(route: Route, **options: Unpack[CallOptions]) -> Spec[ServerStatus]:
        """Server status: ``server``, ``formations``, ``port_pool``, ``runtime``."""
        return route.json()

    @endpoint("GET", "/rpc/server/logs", HMAC)
    def get_server_logs(
        route: Route, *, lines: int | None = None, limit: int | None = None, **options: Unpack[CallOptions]
    ) -> Spec[str]:
        """Server log lines as text (``lines``; ``limit`` is the official SDK's alias)."""
        return route.text(query={"lines": lines if lines is not None else limit})

    # Formations
    @endpoint("GET", "/rpc/formations", HMAC)
    def list_formations(route: Route, **options: Unpack[CallOptions]) -> Spec[FormationList]:
        """``{"formations": [...], "total": n}``."""
        return route.json()

    @endpoint("GET", "/rpc/formations/{formation_id}", HMAC)
    def get_formation(route: Route, formation_id: str, **options: Unpack[CallOptions]) -> Spec[FormationDetails]:
        """One formation (404 → NotFoundError)."""
        return route.json(formation_id=formation_id)

    @endpoint("POST", "/rpc/formations", HMAC)
    def deploy_formation(
        route: Route, formation_id: str, bundle: Any = None, *, version: str | None = None, payload: Any = None,
        **options: Unpack[CallOptions],
    ) -> Spec[Deployment]:
        """Deploy a new formation from a directory, a ``.tar.gz`` path, bytes, or ``{"path": ...}``.

        The official SDK POSTed JSON to ``/rpc/formations/{id}/deploy``, which does not exist: the
        server takes the raw tar.gz at ``POST /rpc/formations``. ``payload=`` is the official name
        of ``bundle`` and is accepted as an alias.
        """
        return route.json(**_bundle(formation_id, _either(bundle, payload), version))

    @stream_endpoint("POST", "/rpc/formations", HMAC, DeploymentStream)
    def deploy_formation_stream(
        route: Route, formation_id: str, bundle: Any = None, *, version: str | None = None, payload: Any = None,
        **options: Unpack[CallOptions],
    ) -> StreamSpec[ServerSentEvent]:
        """Deploy with progress events (``Accept: text/event-stream`` on the same endpoint)."""
        return route.events(**_bundle(formation_id, _either(bundle, payload), version))

    @endpoint("PUT", "/rpc/formations/{formation_id}", HMAC)
    def update_formation(
        route: Route, formation_id: str, bundle: Any = None, *, version: str | None = None, payload: Any = None,
        **options: Unpack[CallOptions],
    ) -> Spec[FormationUpdate]:
        """Blue-green update with a new bundle (``PUT /rpc/formations/{id}``; 409 when unchanged)."""
        return route.json(formation_id=formation_id, **_bundle(formation_id, _either(bundle, payload), version))

    @stream_endpoint("PUT", "/rpc/formations/{formation_id}", HMAC, DeploymentStream)
    def update_formation_stream(
        route: Route, formation_id: str, bundle: Any = None, *, version: str | None = None, payload: Any = None,
        **options: Unpack[CallOptions],
    ) -> StreamSpec[ServerSentEvent]:
        """Update with progress events."""
        return route.events(formation_id=formation_id, **_bundle(formation_id, _either(bundle, payload), version))

    @endpoint("DELETE", "/rpc/formations/{formation_id}", HMAC)
    def delete_formation(route: Route, formation_id: str, **options: Unpack[CallOptions]) -> Spec[LifecycleResult]:
        """Stop and remove a formation."""
        return route.json(formation_id=formation_id)

    @endpoint("POST", "/rpc/formations/{formation_id}/start", HMAC)
    def start_formation(route: Route, formation_id: str, **options: Unpack[CallOptions]) -> Spec[LifecycleResult]:
        """Start a stopped formation."""
        return route.json(formation_id=formation_id)

    @stream_endpoint("POST", "/rpc/formations/{formation_id}/start", HMAC, DeploymentStream)
    def start_formation_stream(
        route: Route, formation_id: str, **options: Unpack[CallOptions]
    ) -> StreamSpec[ServerSentEvent]:
        """Start with progress events (``error`` events raise typed errors)."""
        return route.events(formation_id=formation_id)

    @endpoint("POST", "/rpc/formations/{formation_id}/stop", HMAC)
    def stop_formation(route: Route, formation_id: str, **options: Unpack[CallOptions]) -> Spec[LifecycleResult]:
        """Stop a running formation."""
        return route.json(formation_id=formation_id)

    @endpoint("POST", "/rpc/formations/{formation_id}/restart", HMAC)
    def restart_formation(route: Route, formation_id: str, **options: Unpack[CallOptions]) -> Spec[LifecycleResult]:
        """Restart a formation."""
        return route.json(formation_id=formation_id)

    @stream_endpoint("POST", "/rpc/formations/{formation_id}/restart", HMAC, DeploymentStream)
    def restart_formation_stream(
        route: Route, formation_id: str, **options: Unpack[CallOptions]
    ) -> StreamSpec[ServerSentEvent]:
        """Restart with progress events."""
        return route.events(formation_id=formation_id)

    @endpoint("POST", "/rpc/formations/{formation_id}/rollback", HMAC)
    def rollback_formation(route: Route, formation_id: str, **options: Unpack[CallOptions]) -> Spec[LifecycleResult]:
        """Roll back to the previous version."""
        return route.json(formation_id=formation_id)

    @stream_endpoint("POST", "/rpc/formations/{formation_id}/rollback", HMAC, DeploymentStream)
    def rollback_formation_stream(
        route: Route, formation_id: str, **options: Unpack[CallOptions]
    ) -> StreamSpec[ServerSentEvent]:
        """Roll back with progress events."""
        return route.events(formation_id=formation_id)

    @endpoint("POST", "/rpc/formations/{formation_id}/cancel-update", HMAC)
    def cancel_update(route: Route, formation_id: str, **options: Unpack[CallOptions]) -> Spec[CancelledUpdate]:
        """Cancel an update in progress (the server answers a bare object)."""
        return route.json(formation_id=formation_id)

    @endpoint("GET", "/rpc/formations/{formation_id}/logs", HMAC)
    def get_formation_logs(
        route: Route,
        formation_id: str,
        *,
        lines: int | None = None,
        stream: str | None = None,
        limit: int | None = None,
        **options: Unpack[CallOptions],
    ) -> Spec[Any]:
        """Recent log lines; ``stream`` is ``stdout``, ``stderr`` or ``all``.

        The server reads ``lines`` (the official SDK sent ``limit``, which is kept as an alias).
        """
        n = lines if lines is not None else limit
        return route.auto(formation_id=formation_id, query={"lines": n, "stream": stream})

    @stream_endpoint("GET", "/rpc/formations/{formation_id}/logs", HMAC, LogStream)
    def stream_formation_logs(
        route: Route, formation_id: str, *, lines: int | None = None, stream: str | None = None,
        **options: Unpack[CallOptions],
    ) -> StreamSpec[ServerSentEvent]:
        """Follow a formation's logs (``connected`` then ``log`` events; never ends by itself)."""
        return route.events(formation_id=formation_id, query={"lines": lines, "stream": stream, "follow": True})

    @endpoint("GET", "/rpc/formations/{formation_id}/download", HMAC)
    def download_formation(
        route: Route, formation_id: str, *, db: bool = False, **options: Unpack[CallOptions]
    ) -> Spec[bytes]:
        """The deployed formation as zip bytes (``db=True`` includes its database)."""
        return route.raw(formation_id=formation_id, query={"db": True} if db else None)


def _bundle(formation_id: str, bundle: Any, version: str | None) -> dict[str, Any]:
    """The body and headers of a deploy or update: the tar.gz bundle and its id and version."""
    prepared = load_bundle(bundle, formation_id, version=version)
    return {
        "body": prepared.data,
        "content_type": GZIP_TYPE,
        "headers": (("X-Formation-ID", prepared.formation_id), ("X-Formation-Version", prepared.version)),
    }


def _either(bundle: Any, payload: Any) -> Any:
    if bundle is not None and payload is not None:
        raise ConfigurationError("INVALID_ARGUMENT", "pass the bundle once (bundle or payload)")
    if bundle is None and payload is None:
        raise ConfigurationError("INVALID_ARGUMENT", "a bundle is required: a directory, a .tar.gz path or bytes")
    return bundle if bundle is not None else payload


# --- formation plane -------------------------------------------------------------------------------


class JobUpdateCall(ScheduledJobUpdate, CallOptions, total=False):
    """``update_scheduler_job``'s keywords: the job's fields and the per-call options."""


def _fields(**fields: Any) -> dict[str, Any]:
    """A JSON body of the given fields, without those left at None (the runtime's defaults apply)."""
    return {name: value for name, value in fields.items() if value is not None}



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


class FormationAPI(CallFactory):
    """Formation-plane endpoints (one runtime, key-authenticated)."""

    _config_type: ClassVar[type[FormationConfig]] = FormationConfig
    plane: ClassVar[str] = "formation"
    config: FormationConfig

    # Health / status / configuration ------------------------------------------------------------
    @endpoint("GET", "/health", NONE)
    def health(route: Route, **options: Unpack[CallOptions]) -> Spec[FormationHealth]:
        """``{"status": "healthy"|"unhealthy", "version", "uptime_seconds"}``; public."""
        return route.json()

    @endpoint("GET", "/status", ADMIN)
    def get_status(route: Route, **options: Unpack[CallOptions]) -> Spec[FormationStatus]:
        """Runtime status (admin)."""
        return route.json()

    @endpoint("GET", "/config", ADMIN)
    def get_config(route: Route, **options: Unpack[CallOptions]) -> Spec[Result]:
        """Formation configuration (admin)."""
        return route.json()

    @endpoint("GET", "/formation", ADMIN)
    def get_formation_info(route: Route, **options: Unpack[CallOptions]) -> Spec[Result]:
        """Formation metadata (admin)."""
        return route.json()

    @endpoint("GET", "/agents", ADMIN)
    def get_agents(route: Route, **options: Unpack[CallOptions]) -> Spec[AgentList]:
        """Agents (admin)."""
        return route.json()

    @endpoint("GET", "/agents/{agent_id}", ADMIN)
    def get_agent(route: Route, agent_id: str, **options: Unpack[CallOptions]) -> Spec[AgentInfo]:
        """One agent (admin)."""
        return route.json(agent_id=agent_id)

    @endpoint("POST", "/agents/{agent_id}/knowledge/sync", ADMIN)
    def sync_agent_knowledge(
        route: Route, agent_id: str, *, source_id: str | None = None, **options: Unpack[CallOptions]
    ) -> Spec[Result]:
        """Sync an agent's remote knowledge sources (all, or ``source_id``); admin.

        400 ``INVALID_REQUEST`` for an agent without remote sources, 404 ``AGENT_NOT_FOUND``.
        """
        return route.json(agent_id=agent_id, json=_fields(source_id=source_id))

    @endpoint("POST", "/knowledge/rebuild", ADMIN)
    def rebuild_knowledge(
        route: Route, *, agent_id: str | None = None, source_id: str | None = None,
        **options: Unpack[CallOptions],
    ) -> Spec[KnowledgeRebuild]:
        """Rebuild the knowledge trees of every agent, or of ``agent_id`` (admin)."""
        return route.json(json=_fields(agent_id=agent_id, source_id=source_id))

    @endpoint("GET", "/skills", CLIENT)
    def get_skills(route: Route, **options: Unpack[CallOptions]) -> Spec[Result]:
        """The formation's skills. Broken upstream (500, docs/runtime.md): raises ServerError."""
        return route.json()

    @endpoint("GET", "/skills/{skill_name}", CLIENT)
    def get_skill(route: Route, skill_name: str, **options: Unpack[CallOptions]) -> Spec[Result]:
        """One skill. Broken upstream (500, docs/runtime.md): raises ServerError."""
        return route.json(skill_name=skill_name)

    @endpoint("GET", "/agents/{agent_id}/skills", CLIENT)
    def get_agent_skills(route: Route, agent_id: str, **options: Unpack[CallOptions]) -> Spec[Result]:
        """An agent's skills. Broken upstream (500, docs/runtime.md): raises ServerError."""
        return route.json(agent_id=agent_id)

    @endpoint("GET", "/mcp", ADMIN)
    def get_mcp_config(route: Route, **options: Unpack[CallOptions]) -> Spec[McpConfig]:
        """MCP configuration (admin)."""
        return route.json()

    @endpoint("GET", "/mcp/servers", ADMIN)
    def get_mcp_servers(route: Route, **options: Unpack[CallOptions]) -> Spec[McpServers]:
        """MCP servers (admin)."""
        return route.json()

    @endpoint("GET", "/mcp/servers/{server_id}", ADMIN)
    def get_mcp_server(route: Route, server_id: str, **options: Unpack[CallOptions]) -> Spec[Result]:
        """One MCP server (admin)."""
        return route.json(server_id=server_id)

    @endpoint("GET", "/mcp/tools", ADMIN)
    def get_mcp_tools(route: Route, **options: Unpack[CallOptions]) -> Spec[McpTools]:
        """MCP tools (admin)."""
        return route.json()

    @endpoint("GET", "/llm/settings", ADMIN)
    def get_llm_settings(route: Route, **options: Unpack[CallOptions]) -> Spec[Result]:
        """LLM settings (admin)."""
        return route.json()

    @endpoint("GET", "/logging", ADMIN)
    def get_logging_config(route: Route, **options: Unpack[CallOptions]) -> Spec[Result]:
        """Logging configuration (admin)."""
        return route.json()

    @endpoint("GET", "/logging/destinations", ADMIN)
    def get_logging_destinations(route: Route, **options: Unpack[CallOptions]) -> Spec[LoggingDestinations]:
        """Logging destinations (admin)."""
        return route.json()

    @endpoint("GET", "/async", ADMIN)
    def get_async_config(route: Route, **options: Unpack[CallOptions]) -> Spec[Result]:
        """Async processing configuration (admin)."""
        return route.json()

    @endpoint("GET", "/a2a", ADMIN)
    def get_a2a_config(route: Route, **options: Unpack[CallOptions]) -> Spec[Result]:
        """Agent-to-agent configuration (admin)."""
        return route.json()

    @endpoint("GET", "/overlord", ADMIN)
    def get_overlord_config(route: Route, **options: Unpack[CallOptions]) -> Spec[Result]:
        """Overlord configuration (admin)."""
        return route.json()

    @endpoint("GET", "/overlord/soul", ADMIN)
    def get_overlord_soul(route: Route, **options: Unpack[CallOptions]) -> Spec[OverlordSoul]:
        """Overlord soul (admin)."""
        return route.json()

    # Secrets (admin) ------------------------------------------------------------------------------
    @endpoint("GET", "/secrets", ADMIN)
    def get_secrets(route: Route, **options: Unpack[CallOptions]) -> Spec[SecretList]:
        """Secret names with masked values."""
        return route.json()

    @endpoint("GET", "/secrets", ADMIN)
    def get_secret(route: Route, key: str, **options: Unpack[CallOptions]) -> Spec[Secret]:
        """One secret, answered from the list (the runtime has no ``GET /secrets/{key}``)."""
        return Spec(route.operation(), finish=_pick_secret(key))

    @endpoint("POST", "/secrets", ADMIN)
    def create_secret(route: Route, key: str, value: str, **options: Unpack[CallOptions]) -> Spec[Message]:
        """Create a secret (``POST /secrets``; 409 ConflictError if it exists)."""
        return route.json(json={"key": key, "value": value})

    @endpoint("PUT", "/secrets/{key}", ADMIN)
    def update_secret(route: Route, key: str, value: str, **options: Unpack[CallOptions]) -> Spec[Message]:
        """Update an existing secret (``PUT /secrets/{key}``; 404 if missing)."""
        return route.json(key=key, json={"value": value})

    @endpoint("PUT", "/secrets/{key}", ADMIN, also=(("POST", "/secrets"),))
    def set_secret(route: Route, key: str, value: str, **options: Unpack[CallOptions]) -> Spec[None]:
        """Create or update a secret: update, and create when it does not exist yet.

        The official SDK only PUT, which fails for a new key.
        """
        create = route.also[0].nothing(json={"key": key, "value": value})
        update = route.nothing(key=key, json={"value": value})
        return Spec(update.operation, update.decode, update.finish, fallback=(NotFoundError, create))

    @endpoint("DELETE", "/secrets/{key}", ADMIN)
    def delete_secret(route: Route, key: str, **options: Unpack[CallOptions]) -> Spec[None]:
        """Delete a secret."""
        return route.nothing(key=key)

    @endpoint("POST", "/secrets/reload", ADMIN)
    def reload_secrets(route: Route, **options: Unpack[CallOptions]) -> Spec[SecretsReload]:
        """Reload the secrets file (add-or-override): ``added``, ``overwritten``, ``preserved``, ``count``."""
        return route.json()

    # Chat (client key) ------------------------------------------------------------------------------
    @endpoint("POST", "/chat", CLIENT, idempotent=True)
    def chat(
        route: Route, payload: ChatRequest | Mapping[str, Any], *, user_id: str = "", **options: Unpack[CallOptions]
    ) -> Spec[ChatResponse]:
        """Send a message and wait for the whole answer (``data.message``).

        The runtime streams by default, so ``stream`` is forced to false here; the request is
        deduplicated by idempotency key, hence safe to retry.
        """
        return route.json(json={**payload, "stream": False}, end_user=user_id)

    @stream_endpoint("POST", "/chat", CLIENT, ChatStream)
    def chat_stream(
        route: Route, payload: ChatRequest | Mapping[str, Any], *, user_id: str = "", **options: Unpack[CallOptions]
    ) -> StreamSpec[ServerSentEvent]:
        """Send a message and stream the answer: token frames, optional ``ui``, then ``done``."""
        return route.events(json={**payload, "stream": True}, end_user=user_id)

    @endpoint("POST", "/audiochat", CLIENT)
    def audio_chat(
        route: Route, payload: AudioChatRequest | Mapping[str, Any], *, user_id: str = "",
        **options: Unpack[CallOptions],
    ) -> Spec[Result]:
        """Chat with audio ``files`` (``audio/*`` content types); whole answer."""
        return route.json(json={**payload, "stream": False}, end_user=user_id)

    @stream_endpoint("POST", "/audiochat", CLIENT, ChatStream)
    def audio_chat_stream(
        route: Route, payload: AudioChatRequest | Mapping[str, Any], *, user_id: str = "",
        **options: Unpack[CallOptions],
    ) -> StreamSpec[ServerSentEvent]:
        """Audio chat, streamed."""
        return route.events(json={**payload, "stream": True}, end_user=user_id)

    # Sessions (client key, user) -----------------------------------------------------------------------
    @endpoint("GET", "/sessions", CLIENT)
    def get_sessions(
        route: Route, user_id: str, limit: int | None = None, *, active_only: bool | None = None,
        **options: Unpack[CallOptions],
    ) -> Spec[SessionList]:
        """A user's sessions (the user travels in ``X-Muxi-User-ID`` only)."""
        return route.json(query={"limit": limit, "active_only": active_only}, end_user=user_id)

    @endpoint("GET", "/sessions/{session_id}", CLIENT)
    def get_session(route: Route, session_id: str, user_id: str, **options: Unpack[CallOptions]) -> Spec[Session]:
        """One session."""
        return route.json(session_id=session_id, end_user=user_id)

    @endpoint("GET", "/sessions/{session_id}/messages", CLIENT)
    def get_session_messages(
        route: Route, session_id: str, user_id: str, *, limit: int | None = None, before: str | None = None,
        **options: Unpack[CallOptions],
    ) -> Spec[SessionMessages]:
        """A session's messages (``limit``, ``before`` for paging)."""
        return route.json(session_id=session_id, query={"limit": limit, "before": before}, end_user=user_id)

    @endpoint("POST", "/sessions/{session_id}/restore", CLIENT)
    def restore_session(
        route: Route, session_id: str, user_id: str, messages: Sequence[SessionMessage | Mapping[str, Any]],
        **options: Unpack[CallOptions],
    ) -> Spec[None]:
        """Restore a session's messages (``SessionMessage``: ``role``, ``content``, ``timestamp``
        in ISO 8601 -- the runtime answers 422 without it -- and optional ``agent_id``, ``metadata``)."""
        body = {"messages": [dict(message) for message in messages]}
        return route.nothing(session_id=session_id, json=body, end_user=user_id)

    # Requests (either key) ----------------------------------------------------------------------------
    @endpoint("GET", "/requests", EITHER)
    def get_requests(route: Route, user_id: str, **options: Unpack[CallOptions]) -> Spec[RequestList]:
        """A user's requests."""
        return route.json(end_user=user_id)

    @endpoint("GET", "/requests/{request_id}", EITHER)
    def get_request_status(
        route: Route, request_id: str, user_id: str, **options: Unpack[CallOptions]
    ) -> Spec[RequestInfo]:
        """One request's status."""
        return route.json(request_id=request_id, end_user=user_id)

    @endpoint("DELETE", "/requests/{request_id}", EITHER)
    def cancel_request(route: Route, request_id: str, user_id: str, **options: Unpack[CallOptions]) -> Spec[None]:
        """Cancel a request in progress."""
        return route.nothing(request_id=request_id, end_user=user_id)

    # Memory -------------------------------------------------------------------------------------------
    @endpoint("GET", "/memory", ADMIN)
    def get_memory_config(route: Route, **options: Unpack[CallOptions]) -> Spec[Result]:
        """Memory configuration (admin)."""
        return route.json()

    @endpoint("GET", "/memory/stats", ADMIN)
    def get_buffer_stats(route: Route, **options: Unpack[CallOptions]) -> Spec[BufferStats]:
        """Buffer statistics (admin)."""
        return route.json()

    @endpoint("GET", "/memories", EITHER)
    def get_memories(
        route: Route, user_id: str, limit: int | None = None, *, offset: int | None = None,
        scopes: str | None = None, **options: Unpack[CallOptions],
    ) -> Spec[MemoryList]:
        """A user's long-term memories (``limit`` 1-100, ``offset``, ``scopes`` comma-separated)."""
        return route.json(query={"limit": limit, "offset": offset, "scopes": scopes}, end_user=user_id)

    @endpoint("POST", "/memories", EITHER)
    def add_memory(
        route: Route, user_id: str, mem_type: str, detail: str, **options: Unpack[CallOptions]
    ) -> Spec[Result]:
        """Add a memory for a user."""
        return route.json(json={"type": mem_type, "detail": detail}, end_user=user_id)

    @endpoint("DELETE", "/memories/{memory_id}", EITHER)
    def delete_memory(route: Route, user_id: str, memory_id: str, **options: Unpack[CallOptions]) -> Spec[None]:
        """Delete one memory."""
        return route.nothing(memory_id=memory_id, end_user=user_id)

    @endpoint("GET", "/memory/buffer", EITHER)
    def get_user_buffer(route: Route, user_id: str, **options: Unpack[CallOptions]) -> Spec[UserBuffer]:
        """A user's conversation buffer."""
        return route.json(end_user=user_id)

    @endpoint("DELETE", "/memory/buffer", EITHER)
    def clear_user_buffer(route: Route, user_id: str, **options: Unpack[CallOptions]) -> Spec[BufferCleared]:
        """Clear a user's buffer."""
        return route.json(end_user=user_id)

    @endpoint("DELETE", "/memory/buffer/{session_id}", EITHER)
    def clear_session_buffer(
        route: Route, user_id: str, session_id: str, **options: Unpack[CallOptions]
    ) -> Spec[SessionBufferCleared]:
        """Clear one session's buffer."""
        return route.json(session_id=session_id, end_user=user_id)

    @endpoint("DELETE", "/memory/buffers", ADMIN)
    def clear_all_buffers(route: Route, **options: Unpack[CallOptions]) -> Spec[Result]:
        """Clear every buffer (admin, ``DELETE /memory/buffers``)."""
        return route.json()

    @endpoint("GET", "/memory/buffers", ADMIN)
    def get_all_buffers(route: Route, **options: Unpack[CallOptions]) -> Spec[BufferList]:
        """Every buffer's statistics (admin; the runtime marks the route deprecated)."""
        return route.json()

    @endpoint("POST", "/memories/batch", EITHER)
    def ingest_memories(
        route: Route, user_id: str, items: Sequence[MemoryCreate | Mapping[str, Any]],
        **options: Unpack[CallOptions],
    ) -> Spec[MemoryIngestion]:
        """Ingest a batch of memories (``MemoryIngestBatch``); each item needs a ``source``.

        Items are judged one by one: the answer lists each item's status (``accepted``,
        ``duplicate``, ``invalid``) and a ``processing_id`` to poll when any was accepted.
        """
        return route.json(json={"items": [dict(item) for item in items]}, end_user=user_id)

    @endpoint("GET", "/memories/ingestion/{processing_id}", EITHER)
    def get_memory_ingestion_status(
        route: Route, processing_id: str, user_id: str, **options: Unpack[CallOptions]
    ) -> Spec[IngestionStatus]:
        """The status of a batch ingestion (results are kept for 5 minutes after completion)."""
        return route.json(processing_id=processing_id, end_user=user_id)

    @endpoint("GET", "/memories/provenance", EITHER)
    def get_memory_provenance(
        route: Route, user_id: str, *, entity: str | None = None, event_id: str | None = None,
        **options: Unpack[CallOptions],
    ) -> Spec[Result]:
        """Where a knowledge-graph ``entity`` or an ``event_id`` came from (one is required: 422)."""
        return route.json(query={"entity": entity, "event_id": event_id}, end_user=user_id)

    @endpoint("POST", "/memories/distilled", EITHER)
    def ingest_distilled_memories(
        route: Route, batch: bytes, *, distillery_id: str, signature: str, timestamp: int | str,
        **options: Unpack[CallOptions],
    ) -> Spec[Result]:
        """Submit a signed batch from a registered distillery, sent as these exact bytes.

        The Ed25519 ``signature`` (base64) covers the raw body bound to ``distillery_id`` and
        ``timestamp`` (unix seconds), so the batch is passed already encoded; the runtime has no
        request model for it. 503 unless ``memory.distillery.enabled``.
        """
        headers = (("X-Distillery-ID", distillery_id), ("X-Distillery-Signature", signature),
                   ("X-Distillery-Timestamp", str(timestamp)))
        return route.json(body=bytes(batch), content_type=JSON_TYPE, headers=headers)

    @endpoint("GET", "/memories/distilled/{processing_id}", EITHER)
    def get_distilled_status(route: Route, processing_id: str, **options: Unpack[CallOptions]) -> Spec[Result]:
        """The projection job of a distilled batch (``queued``, ``processing``, ``completed``, ``failed``)."""
        return route.json(processing_id=processing_id)

    @endpoint("GET", "/history", EITHER)
    def get_history(
        route: Route, user_id: str, *, limit: int | None = None, date_from: str | None = None,
        date_to: str | None = None, include_sources: bool | None = None, **options: Unpack[CallOptions],
    ) -> Spec[History]:
        """A user's history log entries (``limit`` 1-100; ISO dates; ``include_sources`` for lineage)."""
        query = {"limit": limit, "date_from": date_from, "date_to": date_to, "include_sources": include_sources}
        return route.json(query=query, end_user=user_id)

    # Memory maintenance (admin) -------------------------------------------------------------------
    @endpoint("POST", "/memory/rebuild", ADMIN)
    def rebuild_memory(
        route: Route, user_id: str, *, projection: str | None = None, dry_run: bool | None = None,
        background: bool | None = None, backfill: bool | None = None, **options: Unpack[CallOptions],
    ) -> Spec[MemoryRebuild]:
        """Rebuild a user's memory projections from the event log (``MemoryRebuildRequest``).

        In the background by default (HTTP 202, a ``job_id`` for :meth:`get_memory_rebuild_status`);
        ``dry_run`` or ``background=False`` answer the report inline.
        """
        body = _fields(user_id=user_id, projection=projection, dry_run=dry_run, background=background,
                       backfill=backfill)
        return route.json(json=body)

    @endpoint("GET", "/memory/rebuild/{job_id}", ADMIN)
    def get_memory_rebuild_status(route: Route, job_id: str, **options: Unpack[CallOptions]) -> Spec[MemoryJob]:
        """A background rebuild's status (404 ``NOT_FOUND`` when unknown or expired)."""
        return route.json(job_id=job_id)

    @endpoint("POST", "/memory/lint", ADMIN)
    def lint_memory(route: Route, *, user_id: str | None = None, **options: Unpack[CallOptions]) -> Spec[Result]:
        """Run the memory lint audit for one user or every user (503 without a ``memory.lint`` block)."""
        return route.json(json=_fields(user_id=user_id))

    @endpoint("POST", "/memory/backfill", ADMIN)
    def backfill_memory(route: Route, user_id: str, **options: Unpack[CallOptions]) -> Spec[Result]:
        """Backfill a user's memory events from the stored memories (``MemoryBackfillRequest``)."""
        return route.json(json={"user_id": user_id})

    @endpoint("POST", "/memory/forget", ADMIN)
    def forget_memory(
        route: Route, user_id: str, source: str, *, reason: str | None = None, rebuild: bool | None = None,
        background: bool | None = None, sync: bool | None = None, **options: Unpack[CallOptions],
    ) -> Spec[MemoryForget]:
        """Forget every memory a user got from ``source`` (``MemoryForgetRequest``; GDPR).

        The soft delete runs at once (``deleted_events``); the rebuild that follows runs in the
        background by default (HTTP 202, a ``job_id`` for :meth:`get_memory_forget_status`).
        ``sync=True`` (the query) or ``background=False`` wait for it.
        """
        body = _fields(user_id=user_id, source=source, reason=reason, rebuild=rebuild, background=background)
        return route.json(json=body, query={"sync": sync})

    @endpoint("GET", "/memory/forget/{job_id}", ADMIN)
    def get_memory_forget_status(route: Route, job_id: str, **options: Unpack[CallOptions]) -> Spec[MemoryJob]:
        """A forget job's status (``processing``, ``completed``, ``failed`` with ``error``)."""
        return route.json(job_id=job_id)

    @endpoint("GET", "/memory/distilleries", ADMIN)
    def get_distilleries(route: Route, **options: Unpack[CallOptions]) -> Spec[Result]:
        """Registered distilleries (503 unless ``memory.distillery.enabled``)."""
        return route.json()

    @endpoint("POST", "/memory/distilleries", ADMIN)
    def register_distillery(
        route: Route, name: str, public_key: str, *, description: str | None = None,
        scope: Mapping[str, Any] | None = None, trust_level: str | None = None, **options: Unpack[CallOptions],
    ) -> Spec[Result]:
        """Register an on-premises distillery by its Ed25519 public key (``DistilleryRegistration``)."""
        body = _fields(name=name, public_key=public_key, description=description,
                       scope=dict(scope) if scope is not None else None, trust_level=trust_level)
        return route.json(json=body)

    @endpoint("DELETE", "/memory/distilleries/{distillery_id}", ADMIN)
    def revoke_distillery(route: Route, distillery_id: str, **options: Unpack[CallOptions]) -> Spec[Result]:
        """Revoke a distillery: its later batches are refused (410)."""
        return route.json(distillery_id=distillery_id)

    # Scheduler ----------------------------------------------------------------------------------------
    @endpoint("GET", "/scheduler", ADMIN)
    def get_scheduler_config(route: Route, **options: Unpack[CallOptions]) -> Spec[SchedulerConfig]:
        """Scheduler configuration (admin)."""
        return route.json()

    @endpoint("GET", "/scheduler/jobs", EITHER)
    def get_scheduler_jobs(route: Route, user_id: str, **options: Unpack[CallOptions]) -> Spec[ScheduledJobList]:
        """A user's jobs (filtered by ``X-Muxi-User-ID``; the official SDK used a query parameter)."""
        return route.json(end_user=user_id)

    @endpoint("GET", "/scheduler/jobs/{job_id}", ADMIN)
    def get_scheduler_job(route: Route, job_id: str, **options: Unpack[CallOptions]) -> Spec[ScheduledJobInfo]:
        """One job (admin)."""
        return route.json(job_id=job_id)

    @endpoint("POST", "/scheduler/jobs", ADMIN, idempotent=True)
    def create_scheduler_job(
        route: Route, job_type: str, schedule: str, message: str, user_id: str, **options: Unpack[CallOptions]
    ) -> Spec[CreatedJob]:
        """Create a ``one_time`` or ``recurring`` job owned by ``user_id`` (sent as the user header)."""
        return route.json(json={"type": job_type, "schedule": schedule, "message": message}, end_user=user_id)

    @endpoint("PUT", "/scheduler/jobs/{job_id}", ADMIN)
    def update_scheduler_job(route: Route, /, job_id: str, **fields: Unpack[JobUpdateCall]) -> Spec[ScheduledJobInfo]:
        """Update a job's ``message``, ``schedule`` or ``title`` (``ScheduledJobUpdate``; admin).

        A recurring job is replaced: the answer is a new job, with a new id (docs/runtime.md).
        """
        return route.json(job_id=job_id, json=dict(fields))

    @endpoint("DELETE", "/scheduler/jobs/{job_id}", ADMIN)
    def delete_scheduler_job(route: Route, job_id: str, **options: Unpack[CallOptions]) -> Spec[None]:
        """Delete a job (admin)."""
        return route.nothing(job_id=job_id)

    @endpoint("POST", "/scheduler/jobs/{job_id}/pause", ADMIN)
    def pause_scheduler_job(route: Route, job_id: str, **options: Unpack[CallOptions]) -> Spec[JobState]:
        """Pause a job (admin)."""
        return route.json(job_id=job_id)

    @endpoint("POST", "/scheduler/jobs/{job_id}/resume", ADMIN)
    def resume_scheduler_job(route: Route, job_id: str, **options: Unpack[CallOptions]) -> Spec[JobState]:
        """Resume a job (admin)."""
        return route.json(job_id=job_id)

    # Triggers, SOPs (client key) ------------------------------------------------------------------------
    @endpoint("GET", "/triggers", CLIENT)
    def get_triggers(route: Route, **options: Unpack[CallOptions]) -> Spec[TriggerList]:
        """Triggers."""
        return route.json()

    @endpoint("GET", "/triggers/{name}", CLIENT)
    def get_trigger(route: Route, name: str, **options: Unpack[CallOptions]) -> Spec[Trigger]:
        """One trigger."""
        return route.json(name=name)

    @endpoint("POST", "/triggers/{name}", CLIENT, idempotent=True)
    def fire_trigger(
        route: Route,
        name: str,
        data: Any,
        *,
        async_mode: bool = False,
        user_id: str = "",
        session_id: str | None = None,
        **options: Unpack[CallOptions],
    ) -> Spec[TriggerResult]:
        """Fire a trigger: ``{"status": "completed", "content"}``, or ``{"status": "processing"}`` async.

        The runtime wants ``{"data": ..., "use_async": ...}`` (the official SDK sent the raw data
        and an ``?async=`` query it ignores).
        """
        body: dict[str, Any] = {"data": data, "use_async": async_mode}
        if session_id is not None:
            body["session_id"] = session_id
        return route.json(name=name, json=body, end_user=user_id)

    @endpoint("GET", "/sops", CLIENT)
    def get_sops(route: Route, **options: Unpack[CallOptions]) -> Spec[SopList]:
        """Standard operating procedures."""
        return route.json()

    @endpoint("GET", "/sops/{name}", CLIENT)
    def get_sop(route: Route, name: str, **options: Unpack[CallOptions]) -> Spec[Sop]:
        """One SOP."""
        return route.json(name=name)

    # Credentials (either key, user) ------------------------------------------------------------------------
    @endpoint("GET", "/credentials/services", EITHER)
    def list_credential_services(route: Route, **options: Unpack[CallOptions]) -> Spec[CredentialServices]:
        """Services credentials can be stored for."""
        return route.json()

    @endpoint("GET", "/credentials", EITHER)
    def list_credentials(route: Route, user_id: str, **options: Unpack[CallOptions]) -> Spec[CredentialList]:
        """A user's credentials."""
        return route.json(end_user=user_id)

    @endpoint("POST", "/credentials", EITHER)
    def create_credential(
        route: Route, user_id: str, payload: CredentialCreate | Mapping[str, Any], **options: Unpack[CallOptions]
    ) -> Spec[Result]:
        """Store a credential: ``{"service", "name"?, "credential"}``. Broken upstream (500, docs/runtime.md)."""
        return route.json(json=dict(payload), end_user=user_id)

    @endpoint("GET", "/credentials/{credential_id}", EITHER)
    def get_credential(route: Route, credential_id: str, user_id: str, **options: Unpack[CallOptions]) -> Spec[Result]:
        """One credential."""
        return route.json(credential_id=credential_id, end_user=user_id)

    @endpoint("DELETE", "/credentials/{credential_id}", EITHER)
    def delete_credential(
        route: Route, credential_id: str, user_id: str, **options: Unpack[CallOptions]
    ) -> Spec[Result]:
        """Delete a credential."""
        return route.json(credential_id=credential_id, end_user=user_id)

    # Users (client key; the official SDK sent the admin key and got 401) ---------------------------------
    @endpoint("POST", "/users/resolve", CLIENT)
    def resolve_user(
        route: Route, identifier: str, create_user: bool = False, *, identifier_type: str | None = None,
        **options: Unpack[CallOptions],
    ) -> Spec[ResolvedUser]:
        """Resolve an external identifier to a MUXI user.

        ``create_user`` is accepted for compatibility but is not a runtime field (it is not sent).
        """
        body: dict[str, Any] = {"identifier": identifier}
        if identifier_type is not None:
            body["identifier_type"] = identifier_type
        return route.json(json=body)

    @endpoint("GET", "/users/identifiers/{user_id}", CLIENT)
    def get_user_identifiers_for_user(
        route: Route, user_id: str, **options: Unpack[CallOptions]
    ) -> Spec[UserIdentifiers]:
        """A user's linked identifiers (the user is in the path here, not in the user header)."""
        return route.json(user_id=user_id)

    @endpoint("POST", "/users/identifiers", CLIENT)
    def link_user_identifier(
        route: Route, muxi_user_id: str, identifiers: list[Any], **options: Unpack[CallOptions]
    ) -> Spec[LinkedIdentifiers]:
        """Link identifiers to a MUXI user."""
        return route.json(json={"muxi_user_id": muxi_user_id, "identifiers": identifiers})

    @endpoint("DELETE", "/users/identifiers/{identifier}", CLIENT)
    def unlink_user_identifier(route: Route, identifier: str, **options: Unpack[CallOptions]) -> Spec[None]:
        """Unlink an identifier."""
        return route.nothing(identifier=identifier)

    @endpoint("GET", "/users/{identifier}", CLIENT)
    def get_user(route: Route, identifier: str, **options: Unpack[CallOptions]) -> Spec[ResolvedUser]:
        """The MUXI user an identifier belongs to (404 when unknown; nothing is created)."""
        return route.json(identifier=identifier)

    @endpoint("GET", "/users/{user_id}/channels", CLIENT)
    def get_user_channels(route: Route, user_id: str, **options: Unpack[CallOptions]) -> Spec[Result]:
        """A user's notification channels (503 without a ``proactive`` block in the formation)."""
        return route.json(user_id=user_id)

    @endpoint("PUT", "/users/{user_id}/channels", CLIENT)
    def update_user_channels(
        route: Route, user_id: str, *, preferred_channel: str | None = None,
        channels: Mapping[str, Mapping[str, Any]] | None = None, timezone: str | None = None,
        **options: Unpack[CallOptions],
    ) -> Spec[Result]:
        """Set a user's notification channels (``UpdateChannelsRequest``; fields left out stay)."""
        body = _fields(preferred_channel=preferred_channel, timezone=timezone,
                       channels={k: dict(v) for k, v in channels.items()} if channels is not None else None)
        return route.json(user_id=user_id, json=body)

    # Notifications (client key) -------------------------------------------------------------------
    @endpoint("POST", "/notifications", CLIENT)
    def send_notification(
        route: Route, user_id: str, message: str, *, channels: Sequence[str] | None = None,
        **options: Unpack[CallOptions],
    ) -> Spec[Result]:
        """Send a proactive notification (``NotificationRequest``; 503 without a ``proactive`` block)."""
        body = _fields(user_id=user_id, message=message, channels=list(channels) if channels is not None else None)
        return route.json(json=body)

    # Artifacts (either key, user) ------------------------------------------------------------------
    @endpoint("GET", "/artifacts", EITHER)
    def get_artifacts(
        route: Route, user_id: str, limit: int | None = None, **options: Unpack[CallOptions]
    ) -> Spec[ArtifactList]:
        """A user's artifacts, latest versions, most recently used first (``limit`` 1-100)."""
        return route.json(query={"limit": limit}, end_user=user_id)

    @endpoint("GET", "/artifacts/{artifact_id}", EITHER)
    def get_artifact(route: Route, artifact_id: str, user_id: str, **options: Unpack[CallOptions]) -> Spec[Result]:
        """One artifact's metadata and summary (404 ``NOT_FOUND``)."""
        return route.json(artifact_id=artifact_id, end_user=user_id)

    @endpoint("GET", "/artifacts/{artifact_id}/content", EITHER)
    def get_artifact_content(
        route: Route, artifact_id: str, user_id: str, *, version: int | None = None,
        **options: Unpack[CallOptions],
    ) -> Spec[bytes]:
        """An artifact's content as bytes, in its own content type (``version``: an older one)."""
        return route.raw(artifact_id=artifact_id, query={"version": version}, end_user=user_id)

    @endpoint("GET", "/artifacts/{artifact_id}/versions", EITHER)
    def get_artifact_versions(
        route: Route, artifact_id: str, user_id: str, **options: Unpack[CallOptions]
    ) -> Spec[Result]:
        """An artifact's version chain."""
        return route.json(artifact_id=artifact_id, end_user=user_id)

    # Audit (admin) ---------------------------------------------------------------------------------------
    @endpoint("GET", "/audit", ADMIN)
    def get_audit_log(
        route: Route,
        *,
        limit: int | None = None,
        action: str | None = None,
        resource_type: str | None = None,
        since: str | None = None,
        **options: Unpack[CallOptions],
    ) -> Spec[AuditLog]:
        """Audit entries, optionally filtered."""
        return route.json(query={"limit": limit, "action": action, "resource_type": resource_type, "since": since})

    @endpoint("DELETE", "/audit", ADMIN)
    def clear_audit_log(route: Route, **options: Unpack[CallOptions]) -> Spec[None]:
        """Clear the audit log."""
        return route.nothing(query={"confirm": "clear-audit-log"})

    # Tuning (admin): the formation's MUXI.md -------------------------------------------------------
    @endpoint("GET", "/tuning", ADMIN)
    def get_tuning(route: Route, **options: Unpack[CallOptions]) -> Spec[Tuning]:
        """The formation's ``MUXI.md``: ``content`` and ``path`` (both null before the first update)."""
        return route.json()

    @endpoint("POST", "/tuning", ADMIN)
    def update_tuning(route: Route, content: str, **options: Unpack[CallOptions]) -> Spec[TuningWritten]:
        """Replace ``MUXI.md`` (``TuningUpdate``): ``path`` and ``bytes`` written."""
        return route.json(json={"content": content})

    @endpoint("GET", "/tuning/pending", ADMIN)
    def get_pending_tuning(route: Route, **options: Unpack[CallOptions]) -> Spec[Tuning]:
        """The pending ``MUXI.md`` suggestion, if any (``content`` null when none)."""
        return route.json()

    @endpoint("PATCH", "/tuning/pending", ADMIN)
    def apply_pending_tuning(route: Route, **options: Unpack[CallOptions]) -> Spec[Result]:
        """Apply the pending suggestion (404 ``TUNING_NO_PENDING`` when there is none)."""
        return route.json()

    @endpoint("DELETE", "/tuning/pending", ADMIN)
    def dismiss_pending_tuning(route: Route, **options: Unpack[CallOptions]) -> Spec[Result]:
        """Dismiss the pending suggestion (404 ``TUNING_NO_PENDING`` when there is none)."""
        return route.json()

    @endpoint("POST", "/tuning/run", ADMIN)
    def run_tuning(route: Route, **options: Unpack[CallOptions]) -> Spec[TuningRun]:
        """Run a tuning pass now: what it read, wrote and benchmarked."""
        return route.json()

    # Helpers (several calls) ---------------------------------------------------------------------------
    @helper
    def wait_for_request(
        self, request_id: str, user_id: str = "", *, timeout: float = 300.0, interval: float = 1.0
    ) -> PollMachine[RequestInfo]:
        """Poll a request until it is finished (``completed``, ``failed``, ``cancelled`` or
        ``awaiting_clarification``) and return its last status: the way to get the result of an
        async chat or trigger without a public webhook URL. ``TimeoutError`` after ``timeout`` s.

        For its first 10 seconds a 404 is polled again: the runtime tracks an async request only
        once its background task starts, after answering (docs/runtime.md).
        """
        return PollMachine(
            lambda: FormationAPI.get_request_status.prepare(self, request_id, user_id),
            request_finished, settings=self.settings, timeout=timeout, interval=interval,
            what=f"request {request_id}", unknown_for=UNTRACKED_SECONDS,
        )

    @helper
    def get_all_session_messages(
        self, session_id: str, user_id: str, *, max_messages: int = MAX_SESSION_MESSAGES
    ) -> SessionMessagesMachine[SessionMessages]:
        """Every message of a session, oldest first, in one ``GET /sessions/{id}/messages``.

        The runtime answers the oldest ``limit`` messages and ignores ``before``, so it cannot be
        paged; this asks for up to ``max_messages`` (at most 1000, the runtime's bound) and raises
        ``LimitExceededError`` when the session has more, rather than returning a truncated list
        (docs/runtime.md).
        """
        return SessionMessagesMachine(
            lambda limit: FormationAPI.get_session_messages.prepare(self, session_id, user_id, limit=limit),
            session_id=session_id, max_messages=max_messages, settings=self.settings,
        )

    # Streams ------------------------------------------------------------------------------------------
    @stream_endpoint("GET", "/events", EITHER, EventStream, also=(("GET", "/events/{session_id}"),))
    def stream_events(
        route: Route, user_id: str, *, session_id: str | None = None, **options: Unpack[CallOptions]
    ) -> StreamSpec[ServerSentEvent]:
        """A user's events (``/events`` or ``/events/{session_id}``); never ends by itself."""
        if session_id is None:
            return route.events(end_user=user_id)
        return route.also[0].events(session_id=session_id, end_user=user_id)

    @stream_endpoint("GET", "/logs", ADMIN, LogStream)
    def stream_logs(
        route: Route, filters: dict[str, Any] | None = None, **options: Unpack[CallOptions]
    ) -> StreamSpec[ServerSentEvent]:
        """Formation logs (admin); the runtime needs at least one filter (user_id, session_id,
        request_id, agent_id, level, event_type) and answers 400 without one."""
        return route.events(query=filters or {})

    @stream_endpoint("GET", "/events/{session_id}/{request_id}", EITHER, EventStream)
    def stream_request(
        route: Route, user_id: str, session_id: str, request_id: str,
        **options: Unpack[CallOptions],
    ) -> StreamSpec[ServerSentEvent]:
        """One request's events. Broken upstream (the runtime answers 500): raises ServerError."""
        return route.events(session_id=session_id, request_id=request_id, end_user=user_id)
