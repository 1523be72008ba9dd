"""muxi_proto: the sans-IO core of the MUXI client.

Pure Python: it builds and signs requests, runs the logic of each call (retries, limits,
decoding, stream hand-off) as a state machine, decodes event streams and verifies webhooks, but
never opens a socket, starts an event loop or sleeps. Clocks, randomness and ids are injected, so
every piece is deterministic under test and usable from any I/O stack.

Driving it with your own I/O (docs/drivers.md)::

    from muxi_proto import FormationAPI, FormationConfig, Send, ReadBody, Sleep, Done, OpenStream

    api = FormationAPI(FormationConfig(url="http://127.0.0.1:8271", admin_key="..."))
    machine = api.get_agents()          # a CallMachine; nothing has been sent
    step = machine.start()              # Send(request): your I/O sends it ...

Everything an integrator needs is importable from here; ``__all__`` lists it.
"""

from . import errors, schemas, types, webhook
from .api import AsyncEventIterator, AsyncInvoker, CallFactory, Endpoint, EventIterator, StreamEndpoint, SyncInvoker
from .auth import sign_request, verify_request
from .bundle import PreparedBundle, load_bundle, pack_directory, read_bundle
from .call import (
    DEFAULT_MAX_BODY,
    NOT_SENT_PHASES,
    READ_BODY,
    CallMachine,
    CallSettings,
    CallState,
    Done,
    Fail,
    OpenStream,
    ReadBody,
    Send,
    Sleep,
    Step,
    reached_server,
    transport_error,
)
from .config import FormationConfig, ServerConfig
from .endpoints import FormationAPI, ServerAPI
from .errors import (
    AuthenticationError,
    AuthorizationError,
    BundleError,
    CallStateError,
    ConfigurationError,
    ConflictError,
    ConnectionError,
    LimitExceededError,
    MuxiError,
    NotFoundError,
    ProtocolError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
    StreamError,
    StreamTruncatedError,
    TimeoutError,
    TLSError,
    ValidationError,
    WebhookVerificationError,
)
from .http import Headers, Request, Response, Timeout, get_header
from .options import CallOptions
from .requests import Auth, Operation, RequestBuilder
from .retry import Failure, Received, RetryDecision, RetryPolicy
from .specs import Route, Spec, StreamMachine, StreamSpec
from .sse import ServerSentEvent, SSEDecoder, format_comment, format_event
from .streams import (
    ChatAnswer,
    ChatStream,
    ChatToken,
    DeploymentStream,
    EventStream,
    LogStream,
    MuxiStream,
    chat_token,
    ui_widgets,
)
from .types import (
    AgentInfo,
    AgentList,
    BufferedMessage,
    ChatResponse,
    CreatedJob,
    Deployment,
    Envelope,
    FormationDetails,
    FormationHealth,
    FormationList,
    FormationStatus,
    LifecycleResult,
    RequestInfo,
    RequestList,
    ResolvedUser,
    ScheduledJob,
    ScheduledJobInfo,
    ScheduledJobList,
    SecretList,
    ServerHealth,
    ServerStatus,
    Session,
    SessionList,
    SessionMessages,
    TriggerList,
    TriggerResult,
    UserIdentifiers,
)
from .version import __version__

__all__ = [
    # configuration and HTTP values
    "FormationConfig",
    "Headers",
    "Request",
    "Response",
    "ServerConfig",
    "Timeout",
    "get_header",
    # the call machine and its instructions
    "DEFAULT_MAX_BODY",
    "NOT_SENT_PHASES",
    "READ_BODY",
    "CallMachine",
    "CallOptions",
    "CallSettings",
    "CallState",
    "Done",
    "Fail",
    "OpenStream",
    "ReadBody",
    "Send",
    "Sleep",
    "Step",
    "reached_server",
    "transport_error",
    # endpoints and the sans-IO APIs
    "AsyncEventIterator",
    "AsyncInvoker",
    "Auth",
    "CallFactory",
    "Endpoint",
    "EventIterator",
    "FormationAPI",
    "Operation",
    "RequestBuilder",
    "Route",
    "ServerAPI",
    "Spec",
    "StreamEndpoint",
    "StreamMachine",
    "StreamSpec",
    "SyncInvoker",
    # retries
    "Failure",
    "Received",
    "RetryDecision",
    "RetryPolicy",
    # event streams
    "ChatAnswer",
    "ChatStream",
    "ChatToken",
    "DeploymentStream",
    "EventStream",
    "LogStream",
    "MuxiStream",
    "SSEDecoder",
    "ServerSentEvent",
    "chat_token",
    "format_comment",
    "format_event",
    "ui_widgets",
    # signing, webhooks, bundles
    "PreparedBundle",
    "load_bundle",
    "pack_directory",
    "read_bundle",
    "sign_request",
    "verify_request",
    "webhook",
    # results (TypedDicts; every one in muxi_proto.types) and request bodies (muxi_proto.schemas)
    "AgentInfo",
    "AgentList",
    "BufferedMessage",
    "ChatResponse",
    "CreatedJob",
    "Deployment",
    "Envelope",
    "FormationDetails",
    "FormationHealth",
    "FormationList",
    "FormationStatus",
    "LifecycleResult",
    "RequestInfo",
    "RequestList",
    "ResolvedUser",
    "ScheduledJob",
    "ScheduledJobInfo",
    "ScheduledJobList",
    "SecretList",
    "ServerHealth",
    "ServerStatus",
    "Session",
    "SessionList",
    "SessionMessages",
    "TriggerList",
    "TriggerResult",
    "UserIdentifiers",
    "schemas",
    "types",
    # errors
    "AuthenticationError",
    "AuthorizationError",
    "BundleError",
    "CallStateError",
    "ConfigurationError",
    "ConflictError",
    "ConnectionError",
    "LimitExceededError",
    "MuxiError",
    "NotFoundError",
    "ProtocolError",
    "RateLimitError",
    "ResponseDecodeError",
    "ServerError",
    "StreamError",
    "StreamTruncatedError",
    "TLSError",
    "TimeoutError",
    "ValidationError",
    "WebhookVerificationError",
    "errors",
    # version
    "__version__",
]
