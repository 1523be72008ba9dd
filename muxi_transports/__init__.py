"""muxi_transports: the I/O half of the MUXI client: transports, and the clients that drive the core over them.

The local MUXI server for tests is the separate package ``muxi_testing``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from muxi_proto.config import FormationConfig, ServerConfig
from muxi_proto.http import Timeout
from muxi_proto.version import __version__

from ._async.client import AsyncStream
from ._sync.client import Stream
from ._tls import VerifyTypes
from .anyio_transport import AnyIOTransport
from .base import AsyncResponse, AsyncTransport, SyncResponse, Transport
from .clients import AsyncFormationClient, AsyncServerClient, FormationClient, ServerClient
from .httpcore_transport import AsyncHTTPCoreTransport, HTTPCoreTransport
from .mock import AsyncMockTransport, MockTransport, StreamingResponse
from .socket_transport import SocketTransport

if TYPE_CHECKING:
    from .trio_transport import TrioTransport

__all__ = [
    "AnyIOTransport",
    "AsyncFormationClient",
    "AsyncServerClient",
    "AsyncStream",
    "FormationClient",
    "FormationConfig",
    "ServerClient",
    "ServerConfig",
    "SocketTransport",
    "Stream",
    "AsyncHTTPCoreTransport",
    "AsyncMockTransport",
    "AsyncResponse",
    "AsyncTransport",
    "HTTPCoreTransport",
    "MockTransport",
    "StreamingResponse",
    "Timeout",
    "SyncResponse",
    "Transport",
    "TrioTransport",
    "VerifyTypes",
    "__version__",
]


def __getattr__(name: str) -> Any:
    # trio is optional (the ``trio`` extra): import it only when TrioTransport is asked for.
    if name == "TrioTransport":
        from .trio_transport import TrioTransport

        return TrioTransport
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
