"""The suite's scriptable HTTP/1.1 server: the local server's h11 layer plus what transport tests need.

On top of :class:`muxi_testing._http.HTTPServer` (real sockets on 127.0.0.1, its own event loop in a
background thread): TLS (``ssl_context``), every request kept (:attr:`HTTPTestServer.requests`),
a callback per closed connection, deliberate slowness and silence on the writer, and waiting on the
connection counters with a deadline instead of sleeping::

    async def handler(request: ServerRequest, response: ResponseWriter) -> None:
        await response.respond(200, [("Content-Type", "text/plain")], b"hello")

    with HTTPTestServer(handler) as server:
        ...  # talk to server.url
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable

import anyio
import anyio.abc
from anyio.streams.tls import TLSStream

from muxi_testing import _http
from muxi_testing._http import CLIENT_GONE, Handler, ServerRequest
from tests.waiting import Waitable

__all__ = ["HTTPTestServer", "Handler", "ResponseWriter", "ServerRequest"]


class ResponseWriter(_http.ResponseWriter):
    """The local server's writer, plus slowness and silence on purpose."""

    async def write_slowly(self, data: bytes, chunk_size: int = 1, delay: float = 0.0) -> None:
        """``data`` in ``chunk_size`` pieces, each sent on its own, ``delay`` seconds apart."""
        for i in range(0, len(data), chunk_size):
            await self.write(data[i : i + chunk_size])
            await anyio.sleep(delay)

    async def stay_silent(self) -> None:
        """Send nothing more until the client disconnects (or the server stops)."""
        await self.guarded(self._conn.disconnected.wait)


class HTTPTestServer(Waitable, _http.HTTPServer):
    """An HTTP/1.1 (optionally TLS) server on 127.0.0.1 in a background thread.

    Options beyond :class:`muxi_testing._http.HTTPServer`'s: ``ssl_context`` (a server
    :class:`ssl.SSLContext` for HTTPS), ``on_disconnect(connection_id)``, ``record_requests=False``
    (:attr:`requests` stays empty; memory stays flat under load).
    """

    writer_class = ResponseWriter

    def __init__(
        self,
        handler: Handler | None = None,
        *,
        ssl_context: ssl.SSLContext | None = None,
        on_disconnect: Callable[[int], None] | None = None,
        record_requests: bool = True,
        **options: object,
    ) -> None:
        super().__init__(handler, **options)  # type: ignore[arg-type]
        self.ssl_context = ssl_context
        self.on_disconnect = on_disconnect
        self.record_requests = record_requests
        self._requests: list[ServerRequest] = []
        self._tls_failures = 0
        if ssl_context is not None:
            self.scheme = "https"

    async def wrap_stream(self, stream: anyio.abc.SocketStream) -> anyio.abc.ByteStream | None:
        if self.ssl_context is None:
            return stream
        try:
            with anyio.fail_after(10):
                return await TLSStream.wrap(stream, server_side=True, ssl_context=self.ssl_context,
                                            standard_compatible=False)
        except (ssl.SSLError, TimeoutError, *CLIENT_GONE):
            with self._cond:
                self._tls_failures += 1
                self._cond.notify_all()
            return None

    def on_request(self, request: ServerRequest) -> None:
        if self.record_requests:
            with self._cond:
                self._requests.append(request)
                self._cond.notify_all()

    def on_closed(self, conn_id: int) -> None:
        if self.on_disconnect is not None:
            self.on_disconnect(conn_id)

    @property
    def requests(self) -> list[ServerRequest]:
        """Every complete request received, in order."""
        with self._cond:
            return list(self._requests)

    @property
    def tls_failures(self) -> int:
        """TLS handshakes that failed (e.g. the client rejected our certificate)."""
        return self._tls_failures

    async def wait_until_async(
        self, predicate: Callable[[HTTPTestServer], bool], timeout: float = 5.0, poll: float = 0.002
    ) -> bool:
        """:meth:`wait_until` for async tests (asyncio or trio): polls without blocking the loop."""
        deadline = time.monotonic() + timeout
        while not predicate(self):
            if time.monotonic() >= deadline:
                return False
            await anyio.sleep(poll)
        return True
