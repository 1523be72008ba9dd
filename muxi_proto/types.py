"""What the methods return, as ``TypedDict``s: the keys and types of the answers users read most.

Results stay plain dicts (a ``TypedDict`` is a ``dict`` at run time); these types only tell type
checkers and IDEs which keys there are, so ``mypy --strict`` catches a misspelt key.

Where they come from:

- **formation plane**: the answers of muxi-runtime 1.20260928.0 as recorded
  (``tests/fixtures/runtime/``, ``make record-runtime``), after the client's unwrapping: the
  envelope's ``data`` with its ``request_id`` and ``timestamp`` merged in (:class:`Envelope`), and
  the idempotency key on the three routes that echo it (:class:`IdempotentEnvelope`,
  docs/protocol.md §9). ``tests/test_result_types.py`` holds every type to the recordings: each
  key the runtime sends is declared, each declared key was sent at least once, each required key
  is sent every time, and every value has the declared type. A key the runtime leaves out in
  some answers is optional (``total=False``).
- **control plane**: the MUXI server's Go handlers (``api/server_status.go``, ``list.go``,
  ``get.go``, ``deploy.go``...; docs/protocol.md §3-§4), whose ``omitempty`` fields and fields that
  differ between server releases are optional. The same test holds them to the local server's
  answers (there is no recording of the real server).

Answers whose keys are the formation file's own sections (``get_config``, ``get_formation_info``,
``get_llm_settings``, ``get_logging_config``, ``get_async_config``, ``get_a2a_config``,
``get_memory_config``, ``get_overlord_config``) and answers never recorded with content stay
``dict[str, Any]``; so do the items of lists the recordings only show empty.
"""

from __future__ import annotations

from typing import Any, TypedDict

__all__ = [
    "Agent",
    "AgentInfo",
    "AgentList",
    "ArtifactList",
    "AuditEntry",
    "AuditLog",
    "BufferCleared",
    "BufferInfo",
    "BufferList",
    "BufferStats",
    "BufferedMessage",
    "CancelledUpdate",
    "ChatMessage",
    "ChatResponse",
    "CredentialList",
    "CredentialServices",
    "Deployment",
    "Envelope",
    "FormationDetails",
    "FormationHealth",
    "FormationList",
    "FormationStatus",
    "FormationSummary",
    "FormationUpdate",
    "History",
    "IdempotentEnvelope",
    "IngestedItem",
    "IngestionItem",
    "IngestionStatus",
    "JobState",
    "KnowledgeRebuild",
    "KnowledgeTrees",
    "LifecycleResult",
    "LinkedIdentifier",
    "LinkedIdentifiers",
    "LoggingDestinations",
    "McpConfig",
    "McpServers",
    "McpTool",
    "McpTools",
    "MemoryForget",
    "MemoryIngestion",
    "MemoryJob",
    "MemoryList",
    "MemoryRebuild",
    "MessageMetadata",
    "Message",
    "OverlordSoul",
    "ProjectionReport",
    "RequestInfo",
    "RequestList",
    "RequestSummary",
    "ResolvedUser",
    "ScheduledJob",
    "ScheduledJobInfo",
    "ScheduledJobList",
    "CreatedJob",
    "SchedulerConfig",
    "Secret",
    "SecretList",
    "SecretsReload",
    "ServerHealth",
    "ServerStatus",
    "Session",
    "SessionBufferCleared",
    "SessionList",
    "SessionMessages",
    "SessionSummary",
    "Sop",
    "SopList",
    "SopSummary",
    "TokenUsage",
    "Trigger",
    "TriggerList",
    "TriggerResult",
    "Tuning",
    "TuningRun",
    "TuningWritten",
    "UserBuffer",
    "UserIdentifier",
    "UserIdentifiers",
    "VersionInfo",
]


# --- the envelope's keys, merged into every formation-plane result ---------------------------------


class Envelope(TypedDict):
    """``request_id`` (the envelope's request id unless the data has its own) and ``timestamp`` (ms)."""

    request_id: str
    timestamp: int


class IdempotentEnvelope(Envelope, total=False):
    """On ``chat``, ``fire_trigger`` and ``create_scheduler_job``: the idempotency key sent, echoed."""

    idempotency_key: str


class Message(Envelope):
    """An answer that is only a message (``create_secret``, ``update_secret``...)."""

    message: str


# --- health and status -----------------------------------------------------------------------------


class FormationHealth(TypedDict):
    """``GET /health`` of a formation (bare, not enveloped)."""

    status: str
    version: str
    uptime_seconds: int


class _StatusFormation(TypedDict):
    id: str
    name: str
    description: str
    version: str


class _CountActive(TypedDict):
    count: int
    active: int


class _StatusRunning(TypedDict):
    seconds: int
    since: int


class _StatusMemory(TypedDict):
    working_memory_mb: float
    memory_usage_mb: float


class _StatusRequests(TypedDict):
    total: int
    active: int


class _StatusStats(TypedDict):
    running: _StatusRunning
    memory: _StatusMemory
    requests: _StatusRequests
    buffer_size: int
    cpu_percent: float


class FormationStatus(Envelope):
    """``get_status``: the formation, agent and MCP counts, and running statistics."""

    formation: _StatusFormation
    agents: _CountActive
    mcp_servers: _CountActive
    stats: _StatusStats


# --- agents, MCP, overlord, logging, knowledge -----------------------------------------------------


class Agent(TypedDict):
    """One agent as the formation declares it."""

    schema: str
    id: str
    name: str
    description: str
    system_message: str
    source: str


class AgentList(Envelope):
    """``get_agents``."""

    agents: list[Agent]
    count: int


class AgentInfo(Agent, Envelope):
    """``get_agent``."""


class McpConfig(Envelope):
    """``get_mcp_config``: the runtime's MCP limits and the servers."""

    default_retry_attempts: int
    default_timeout_seconds: float
    max_tool_iterations: int
    max_tool_calls: int
    max_repeated_errors: int
    max_timeout_in_seconds: float
    max_tool_timeout_in_seconds: float
    enhance_user_prompts: bool
    servers: list[dict[str, Any]]


class McpServers(Envelope):
    """``get_mcp_servers``."""

    servers: list[dict[str, Any]]
    count: int


class McpTool(TypedDict):
    """One tool: ``parameters`` maps each parameter to ``{type, required, ...}``."""

    name: str
    description: str
    access: str
    parameters: dict[str, dict[str, Any]]


class McpTools(Envelope):
    """``get_mcp_tools``."""

    tools: list[McpTool]


class OverlordSoul(Envelope):
    """``get_overlord_soul``."""

    soul: str


class _ConversationDestinations(TypedDict):
    destinations: list[dict[str, Any]]
    count: int


class LoggingDestinations(Envelope):
    """``get_logging_destinations``: ``system`` is ``{level, destination}``."""

    system: dict[str, str]
    conversation: _ConversationDestinations


class KnowledgeTrees(TypedDict):
    """What a knowledge rebuild did for one agent."""

    rebuilt: list[Any]
    failed: list[Any]
    skipped: list[Any]


class KnowledgeRebuild(Envelope):
    """``rebuild_knowledge``: per agent id."""

    agents: dict[str, KnowledgeTrees]
    source_id: str | None


# --- secrets ---------------------------------------------------------------------------------------


class SecretList(Envelope):
    """``get_secrets``: names and masked values."""

    secrets: dict[str, str]
    count: int


class Secret(TypedDict):
    """``get_secret``: one entry of the listing (the value masked)."""

    key: str
    value: str


class SecretsReload(Envelope):
    """``reload_secrets``."""

    message: str
    added: list[str]
    overwritten: list[str]
    preserved: list[str]
    count: int


# --- chat ------------------------------------------------------------------------------------------


class ChatMessage(TypedDict):
    """The answer of a chat: ``metadata`` holds ``session_id``, or the early path's flags, or an
    ``error_code`` (an oversized message is answered, not refused: docs/local-server.md)."""

    role: str
    content: str
    artifacts: list[Any] | None
    metadata: dict[str, Any]


class ChatResponse(IdempotentEnvelope):
    """``chat`` (``stream: false``); ``session_id`` is null on the early path without a session."""

    message: ChatMessage
    user_id: str
    session_id: str | None


# --- sessions and messages -------------------------------------------------------------------------


class SessionSummary(TypedDict):
    """One session of ``get_sessions``."""

    session_id: str
    user_id: str
    last_activity: float
    active: bool


class SessionList(Envelope):
    """``get_sessions``."""

    sessions: list[SessionSummary]
    count: int


class Session(Envelope):
    """``get_session``."""

    session_id: str
    user_id: str
    message_count: int
    active: bool
    created_at: float
    last_activity: float


class _MessageMetadataRequired(TypedDict):
    role: str
    timestamp: float
    user_id: str
    session_id: str
    formation_id: str


class MessageMetadata(_MessageMetadataRequired, total=False):
    """A buffered message's metadata (``agent_id`` and ``request_id`` for chat turns)."""

    agent_id: str
    request_id: str


class BufferedMessage(TypedDict):
    """A message as the buffer keeps it: ``text``, not ``content``; the role is in ``metadata``."""

    text: str
    metadata: MessageMetadata
    timestamp: float
    namespace: str
    embedding: list[float] | None


class SessionMessages(Envelope):
    """``get_session_messages`` and ``get_all_session_messages``: the oldest messages first."""

    session_id: str
    messages: list[BufferedMessage]
    count: int
    has_more: bool


# --- requests --------------------------------------------------------------------------------------


class RequestSummary(TypedDict):
    """One tracked request."""

    request_id: str
    user_id: str
    status: str
    progress: float | None
    created_at: float
    completed_at: float | None


class RequestList(Envelope):
    """``get_requests``."""

    requests: list[RequestSummary]
    count: int


class RequestInfo(RequestSummary, Envelope, total=False):
    """``get_request_status`` and ``wait_for_request``: ``result`` once finished."""

    result: Any


# --- memory ----------------------------------------------------------------------------------------


class BufferStats(Envelope):
    """``get_buffer_stats``."""

    total_entries: int
    total_users: int
    total_sessions: int
    buffer_size_kb: float
    max_size: int
    utilization: float


class BufferInfo(TypedDict):
    """One buffer of ``get_all_buffers``."""

    total_entries: int
    max_size: int
    utilization: float
    kv_namespaces: dict[str, Any]


class BufferList(Envelope):
    """``get_all_buffers``."""

    buffers: list[BufferInfo]


class UserBuffer(Envelope):
    """``get_user_buffer``."""

    user_id: str
    total_messages: int
    sessions: list[Any]
    buffer_size_kb: float


class BufferCleared(Envelope):
    """``clear_user_buffer`` (``user_id`` is null when cleared with the admin key and no user)."""

    message: str
    user_id: str | None
    messages_cleared: int
    sessions_cleared: int


class SessionBufferCleared(Envelope):
    """``clear_session_buffer``."""

    message: str
    user_id: str
    session_id: str
    messages_cleared: int


class MemoryList(Envelope):
    """``get_memories`` (only without persistent memory: on SQLite the route fails, docs/runtime.md)."""

    memories: list[dict[str, Any]]
    count: int


class _IngestedItemRequired(TypedDict):
    status: str
    index: int


class IngestedItem(_IngestedItemRequired, total=False):
    """One item of a batch: ``accepted`` (with ``event_id``), ``duplicate`` or ``invalid`` (with ``error``)."""

    event_id: str
    error: str


class _IngestCounts(TypedDict):
    accepted: int
    duplicate: int
    invalid: int


class _MemoryIngestionRequired(Envelope):
    processing_id: str | None
    items: list[IngestedItem]
    counts: _IngestCounts


class MemoryIngestion(_MemoryIngestionRequired, total=False):
    """``ingest_memories``: ``processing_id`` and ``status_url`` when any item was accepted."""

    status_url: str


class _Classification(TypedDict):
    category: str
    margin: float


class _IngestionItemRequired(TypedDict):
    source: str
    source_id: str | None
    classification: _Classification
    filter_level: str
    tier: int
    tier_reason: str
    facts_extracted: int
    graph_extractions: int
    disposition: str
    index: int
    event_id: str


class IngestionItem(_IngestionItemRequired, total=False):
    """How one ingested item was classified and stored."""

    classify_error: str


class _IngestionCounts(TypedDict):
    stored: int
    filtered: int
    failed: int


class TokenUsage(TypedDict):
    """Model usage: ``total`` and each ``breakdown`` entry (by model) are lists in ``fields`` order."""

    fields: list[str]
    total: list[int]
    breakdown: dict[str, list[int]]


class IngestionStatus(Envelope):
    """``get_memory_ingestion_status``."""

    processing_id: str
    status: str
    created_at: float
    completed_at: str | None
    items: list[IngestionItem]
    counts: _IngestionCounts
    usage: TokenUsage


class History(Envelope):
    """``get_history``."""

    entries: list[dict[str, Any]]
    count: int


class ProjectionReport(TypedDict):
    """What a rebuild replayed for one projection."""

    events: int
    applied: int
    failed: int
    dry_run: bool


class _MemoryRebuildRequired(Envelope):
    user_id: str


class MemoryRebuild(_MemoryRebuildRequired, total=False):
    """``rebuild_memory``: the report (``dry_run``, ``projections``) inline, or a background job
    (``job_id``, ``status``, ``status_url``; HTTP 202)."""

    dry_run: bool
    projections: dict[str, ProjectionReport]
    job_id: str
    status: str
    status_url: str


class _MemoryJobRequired(Envelope):
    job_id: str
    status: str


class MemoryJob(_MemoryJobRequired, total=False):
    """``get_memory_rebuild_status`` and ``get_memory_forget_status``; ``error`` when failed."""

    error: str


class _MemoryForgetRequired(Envelope):
    user_id: str
    source: str
    deleted_events: int
    grace_period_days: int


class MemoryForget(_MemoryForgetRequired, total=False):
    """``forget_memory``: a background rebuild job (HTTP 202), or ``rebuild_required`` with
    ``rebuild=False``."""

    job_id: str
    status: str
    status_url: str
    rebuild_required: list[str]


# --- scheduler -------------------------------------------------------------------------------------


class SchedulerConfig(Envelope):
    """``get_scheduler_config``."""

    enabled: bool
    timezone: str
    check_interval_minutes: int
    max_concurrent_jobs: int
    max_failures_before_pause: int
    default_time: str


class ScheduledJob(TypedDict):
    """One job: ``cron_expression`` for recurring jobs, ``scheduled_for`` for one-time ones."""

    id: str
    user_id: str
    title: str
    original_prompt: str
    execution_prompt: str
    is_recurring: bool
    cron_expression: str | None
    scheduled_for: str | None
    exclusion_rules: list[Any]
    status: str
    created_at: str
    updated_at: str
    last_run_at: str | None
    last_run_status: str | None
    last_run_failure_message: str | None
    total_runs: int
    total_failures: int
    consecutive_failures: int
    job_metadata: dict[str, Any]


class ScheduledJobInfo(ScheduledJob, Envelope):
    """``get_scheduler_job`` and ``update_scheduler_job``."""


class CreatedJob(ScheduledJob, IdempotentEnvelope):
    """``create_scheduler_job``."""


class ScheduledJobList(Envelope):
    """``get_scheduler_jobs``."""

    jobs: list[ScheduledJob]
    count: int


class JobState(Envelope):
    """``pause_scheduler_job`` and ``resume_scheduler_job``."""

    id: str
    status: str


# --- triggers, SOPs --------------------------------------------------------------------------------


class TriggerList(Envelope):
    """``get_triggers``: the trigger names."""

    formation_id: str
    triggers: list[str]
    count: int


class Trigger(Envelope):
    """``get_trigger``: the template and the data fields it uses."""

    name: str
    content: str
    data_fields: list[str]


class _TriggerResultRequired(IdempotentEnvelope):
    status: str


class TriggerResult(_TriggerResultRequired, total=False):
    """``fire_trigger``: ``completed`` with ``content``, or ``processing`` (async)."""

    content: str


class SopSummary(TypedDict):
    """One SOP of ``get_sops``."""

    name: str
    title: str
    type: str
    steps: int
    agents_used: list[str] | None


class SopList(Envelope):
    """``get_sops``."""

    sops: list[SopSummary]
    count: int


class Sop(Envelope):
    """``get_sop``."""

    name: str
    title: str
    type: str
    content: str
    metadata: dict[str, Any]
    references: list[Any] | None
    agents_used: list[str] | None
    steps: int


# --- users, credentials, artifacts -----------------------------------------------------------------


class ResolvedUser(Envelope):
    """``resolve_user`` and ``get_user``."""

    identifier: str
    muxi_user_id: str
    internal_user_id: int


class UserIdentifier(TypedDict):
    """One identifier of a user."""

    identifier: str
    type: str
    created_at: str


class UserIdentifiers(Envelope):
    """``get_user_identifiers_for_user``."""

    muxi_user_id: str
    internal_user_id: int
    identifiers: list[UserIdentifier]
    count: int


class LinkedIdentifier(TypedDict):
    """One identifier just linked."""

    identifier: str
    type: str


class LinkedIdentifiers(Envelope):
    """``link_user_identifier``."""

    muxi_user_id: str
    identifiers: list[LinkedIdentifier]
    count: int


class CredentialServices(Envelope):
    """``list_credential_services``."""

    services: list[Any]
    count: int


class CredentialList(Envelope):
    """``list_credentials``."""

    credentials: list[dict[str, Any]]
    count: int


class ArtifactList(Envelope):
    """``get_artifacts``."""

    artifacts: list[dict[str, Any]]
    count: int
    total: int


# --- audit, tuning ---------------------------------------------------------------------------------


class AuditEntry(TypedDict):
    """One audit entry."""

    timestamp: str
    request_id: str
    action: str
    resource_type: str
    resource_id: str
    user: str
    ip: str | None
    result: str
    status_code: int
    message: str
    data: dict[str, Any]


class AuditLog(Envelope):
    """``get_audit_log``."""

    entries: list[AuditEntry]
    total_entries: int
    limit: int


class Tuning(Envelope):
    """``get_tuning`` and ``get_pending_tuning``: ``content`` is null when there is none."""

    content: str | None
    path: str | None


class TuningWritten(Envelope):
    """``update_tuning``."""

    path: str
    bytes: int


class _TuningRunRequired(Envelope):
    trigger: str
    events_read: int
    segments_read: int
    entries_written: int
    dropped_sentences: int
    spool_committed: bool
    spool_segments_kept: bool
    benchmark_suites_run: list[Any]
    duration_ms: float


class TuningRun(_TuningRunRequired, total=False):
    """``run_tuning``."""

    benchmark_skipped: str
    learnings_retired: int
    tuner_skipped: str


# --- control plane (the MUXI server) ---------------------------------------------------------------


class ServerHealth(TypedDict):
    """``ServerClient.health``."""

    success: bool
    status: str
    version: str


class _ServerInfo(TypedDict):
    id: str
    version: str
    uptime: int


class _FormationCounts(TypedDict):
    total: int
    running: int
    stopped: int
    crashed: int


class _PortPool(TypedDict):
    total: int
    available: int
    allocated: int


class _GoRuntime(TypedDict):
    goroutines: int
    go_version: str


class ServerStatus(TypedDict):
    """``ServerClient.status``."""

    server: _ServerInfo
    formations: _FormationCounts
    port_pool: _PortPool
    runtime: _GoRuntime


class VersionInfo(TypedDict, total=False):
    """Bundle hashes (``current``, ``previous``) and, in newer servers, the ``semantic`` version."""

    semantic: str
    current: str
    previous: str


class _FormationSummaryRequired(TypedDict):
    id: str
    name: str
    port: int
    status: str
    pid: int
    uptime: int
    restart_count: int
    healthy: bool | None


class FormationSummary(_FormationSummaryRequired, total=False):
    """One formation of ``list_formations`` (``healthy`` is null while starting)."""

    version: VersionInfo


class FormationList(TypedDict):
    """``list_formations``."""

    formations: list[FormationSummary]
    total: int


class _FormationDetailsRequired(TypedDict):
    id: str
    name: str
    status: str
    port: int
    pid: int
    restart_count: int
    uptime: int
    created_at: str
    deployed_at: str
    updated_at: str
    healthy: bool | None


class FormationDetails(_FormationDetailsRequired, total=False):
    """``get_formation``."""

    version: VersionInfo
    formation_version: str
    last_health_check: str


class _DeploymentRequired(TypedDict):
    formation_id: str
    port: int
    status: str


class Deployment(_DeploymentRequired, total=False):
    """``deploy_formation`` (HTTP 201)."""

    url: str
    health_url: str
    pid: int


class _FormationUpdateRequired(TypedDict):
    id: str
    status: str
    message: str


class FormationUpdate(_FormationUpdateRequired, total=False):
    """``update_formation`` (blue-green)."""

    version: int
    previous_version: int
    port: int
    pid: int
    deployment_type: str


class _LifecycleRequired(TypedDict):
    id: str
    message: str


class LifecycleResult(_LifecycleRequired, total=False):
    """``start_formation``, ``stop_formation``, ``restart_formation``, ``rollback_formation``,
    ``delete_formation``."""

    status: str
    port: int
    pid: int
    restart_count: int
    version: int
    previous_version: int


class CancelledUpdate(TypedDict):
    """``cancel_update`` (a bare object)."""

    message: str
    formation_id: str
    staging_port: int
    status: str
    current_port: int
