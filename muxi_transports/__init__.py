"""muxi_transports: the I/O half of the MUXI client (transports, clients, local test server)."""

from muxi_proto._version import __version__

from .base import AsyncResponse, AsyncTransport, SyncResponse, Transport

__all__ = ["AsyncResponse", "AsyncTransport", "SyncResponse", "Transport", "__version__"]
