"""The async HTTP/1.1 transport, written once over a four-method byte stream.

:class:`H11AsyncTransport` owns the keep-alive pool, the stale-connection retry, body iteration
and cleanup; the anyio and trio transports only say how to open, read, write and close a socket
(:class:`ByteStream`). Nothing here imports an event loop library, so the trio transport runs
without anyio.
"""

from __future__ import annotations

import abc
from functools import partial
from typing import Any

from muxi_proto.http import Request, Timeout

from ._deadline import Deadline, within
from ._errors import TransportClosed, map_errors
from ._h11_exchange import END, NEED_DATA, ClientExchange, ResponseHead
from ._idle import IdlePool
from ._tls import VerifyTypes, http1_ssl_context
from .base import AsyncResponse, AsyncTransport

__all__ = ["ByteStream", "H11AsyncTransport"]


class ByteStream(abc.ABC):
    """One connected socket (plain or TLS), as the h11 transports need it."""

    __slots__ = ()

    @abc.abstractmethod
    async def receive(self, timeout: float | None) -> bytes:
        """Up to ``RECEIVE_SIZE`` bytes; ``b""`` at EOF; :class:`PhaseTimeout` ``"read"`` past ``timeout``."""

    @abc.abstractmethod
    async def send(self, data: bytes, timeout: float | None) -> None:
        """All of ``data``; :class:`PhaseTimeout` ``"write"`` past ``timeout``."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Close at once, even inside a cancelled scope; never raises."""

    @abc.abstractmethod
    def is_readable(self) -> bool:
        """True if the peer sent something (normally EOF) on an idle connection."""


class _Connection:
    __slots__ = ("exchange", "origin", "stream")

    def __init__(self, stream: ByteStream, origin: tuple[str, str, int]) -> None:
        self.stream = stream
        self.origin = origin
        self.exchange = ClientExchange()


class H11AsyncTransport(AsyncTransport):
    """Keep-alive HTTP/1.1 over h11; subclasses supply :meth:`_open_stream` (and maybe ``sleep``)."""

    def __init__(self, *, verify: VerifyTypes = True, max_idle_per_origin: int = 10, trust_env: bool = True) -> None:
        self._verify = verify
        self._trust_env = trust_env
        self._ssl_context = None if isinstance(verify, bool) else http1_ssl_context(verify)
        self._pool: IdlePool[_Connection] = IdlePool(max_idle_per_origin)
        self._active: set[_Connection] = set()
        self._closed = False

    @abc.abstractmethod
    async def _open_stream(
        self, scheme: str, host: str, port: int, ssl_ctx: Any, timeout: float | None
    ) -> ByteStream:
        """Connect (and for ``https`` finish the TLS handshake) within ``timeout`` seconds."""

    @property
    def idle_connections(self) -> int:
        """Connections parked in the keep-alive pool."""
        return len(self._pool)

    @property
    def connections(self) -> int:
        """Connections held now: idle in the pool or serving a response."""
        return len(self._pool) + len(self._active)

    async def send(self, request: Request) -> AsyncResponse:
        """Send ``request``; return once the response head is in (the body is read lazily)."""
        with map_errors(request):
            if self._closed:
                raise TransportClosed
            timeout = request.timeout
            deadline = Deadline.start(timeout)
            fresh = False
            while True:
                conn, reused = await self._acquire(request, deadline, fresh=fresh)
                try:
                    head = await self._start(conn, request, timeout, deadline)
                except Exception as exc:
                    await self._discard(conn)
                    if conn.exchange.resendable(exc, reused=reused):
                        fresh = True  # a stale keep-alive connection: once more on a new one
                        continue
                    raise
                except BaseException:
                    await self._discard(conn)  # cancelled: the connection is in an unknown state
                    raise
                body = _Body(self, conn, request, deadline)
                return AsyncResponse(head.status, head.headers, body, request=request, on_close=body.aclose)

    async def _acquire(
        self, request: Request, deadline: Deadline | None, *, fresh: bool
    ) -> tuple[_Connection, bool]:
        origin = request.origin
        while not fresh and (conn := self._pool.take(origin)) is not None:
            if not conn.stream.is_readable():
                self._active.add(conn)
                return conn, True
            await conn.stream.close()  # the server closed it while idle
        scheme, host, port = origin
        ctx = None
        if scheme == "https":
            if self._ssl_context is None:
                self._ssl_context = http1_ssl_context(self._verify, trust_env=self._trust_env)
            ctx = self._ssl_context
        stream = await within(
            deadline, request.timeout.connect, lambda limit: self._open_stream(scheme, host, port, ctx, limit)
        )
        conn = _Connection(stream, origin)
        self._active.add(conn)
        return conn, False

    @staticmethod
    async def _start(
        conn: _Connection, request: Request, timeout: Timeout, deadline: Deadline | None
    ) -> ResponseHead:
        exchange, stream = conn.exchange, conn.stream
        for part in exchange.request_bytes(request, conn.origin):
            await within(deadline, timeout.write, partial(stream.send, part))
        while True:
            head = exchange.next_head()
            if isinstance(head, ResponseHead):
                return head
            exchange.feed(await within(deadline, timeout.read, stream.receive))

    async def _release(self, conn: _Connection) -> None:
        """The body was read to the end: park the connection if both sides allow it."""
        self._active.discard(conn)
        if self._closed or not conn.exchange.reusable:
            await conn.stream.close()
            return
        conn.exchange.start_next_cycle()
        evicted = self._pool.put(conn)
        if evicted is not None:
            await evicted.stream.close()

    async def _discard(self, conn: _Connection) -> None:
        self._active.discard(conn)
        await conn.stream.close()

    async def aclose(self) -> None:
        """Close idle connections and those still serving a response; refuse further requests."""
        self._closed = True
        for conn in [*self._pool.drain(), *self._active]:
            await self._discard(conn)


class _Body:
    """The response body as an async iterator; reaching the end returns the connection to the pool."""

    __slots__ = ("_conn", "_deadline", "_read_timeout", "_request", "_transport")

    def __init__(
        self, transport: H11AsyncTransport, conn: _Connection, request: Request, deadline: Deadline | None
    ) -> None:
        self._transport = transport
        self._conn: _Connection | None = conn
        self._request = request
        self._read_timeout = request.timeout.read
        self._deadline = deadline

    def __aiter__(self) -> _Body:
        return self

    async def __anext__(self) -> bytes:
        conn = self._conn
        if conn is None:
            raise StopAsyncIteration
        exchange = conn.exchange
        try:
            with map_errors(self._request):
                chunk = exchange.next_body()
                while chunk is NEED_DATA:
                    if self._deadline is None:
                        exchange.feed(await conn.stream.receive(self._read_timeout))
                    else:
                        exchange.feed(await within(self._deadline, self._read_timeout, conn.stream.receive))
                    chunk = exchange.next_body()
        except BaseException:
            # Error or cancellation mid-body: the connection is dirty, never reuse it.
            self._conn = None
            await self._transport._discard(conn)
            raise
        if chunk is END:
            self._conn = None
            await self._transport._release(conn)
            raise StopAsyncIteration
        assert isinstance(chunk, bytes)
        return chunk

    async def aclose(self) -> None:
        """Closed before the end: close the connection rather than pool it half-read."""
        conn, self._conn = self._conn, None
        if conn is not None:
            await self._transport._discard(conn)
