"""httpcore connection pools, sync and async (asyncio and trio): the transports for proxies, HTTP/2
and a cap on connections in flight, which the clients pick for those (see :mod:`._defaults`).

Under asyncio httpcore's sockets and TLS go through :mod:`._asyncio_net` (asyncio's own socket
calls) instead of anyio, which is cheaper per request; under trio, through httpcore's trio backend.
The transport is written once, async, in ``_async/httpcore_transport.py``; the blocking
:class:`HTTPCoreTransport` is generated from it. What needs neither blocking nor awaiting (pool
options, request and header conversion, what a failure means) is in :mod:`._httpcore_shared`, the
workarounds for httpcore itself in :mod:`._httpcore_compat`.
"""

from __future__ import annotations

from ._async.httpcore_transport import AsyncHTTPCoreTransport
from ._sync.httpcore_transport import HTTPCoreTransport

__all__ = ["AsyncHTTPCoreTransport", "HTTPCoreTransport"]
