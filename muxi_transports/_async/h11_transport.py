"""Keep-alive HTTP/1.1 (h11's rules), written once over a small byte-stream interface.

The transport class here owns what every h11 transport shares: the keep-alive pool, the
stale-connection resend, the deadline of each attempt (``Timeout.total``), body iteration, error
mapping and cleanup; what the bytes mean is :class:`~muxi_transports._h11_exchange.ClientExchange`'s.
A backend subclass only connects, starts TLS and gives a :class:`AsyncByteStream` (read, write,
close, idle check): anyio or trio under the async class (``anyio_transport``, ``trio_transport``),
the standard library's ``socket`` and ``ssl`` under the blocking one (``socket_transport``).
Nothing here imports an event loop library, so the trio transport runs without anyio.

The bookkeeping (pool, connections in use, closed flag) is under a lock, never held across I/O, so
one transport serves many threads.
"""

from __future__ import annotations

import abc
import ssl
import threading

from muxi_proto.http import Request, Timeout

from .._deadline import Deadline, cut_to
from .._errors import TransportClosed, chainable, map_exception
from .._h11_exchange import END, NEED_DATA, ClientExchange, ResponseHead
from .._idle import IdlePool
from .._tls import VerifyTypes, http1_ssl_context
from .base import AsyncResponse, AsyncTransport

__all__ = ["AsyncByteStream", "AsyncH11Transport"]


class AsyncByteStream(abc.ABC):
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
        """Close at once (even inside a cancelled scope); never raises."""

    @abc.abstractmethod
    def is_readable(self) -> bool:
        """True if the peer sent something (normally EOF) on an idle connection."""


class _Connection:
    """One byte stream, the origin it is connected to, and its h11 exchange."""

    __slots__ = ("exchange", "origin", "stream")

    def __init__(self, stream: AsyncByteStream, origin: tuple[str, str, int]) -> None:
        self.stream = stream
        self.origin = origin
        self.exchange = ClientExchange()


class AsyncH11Transport(AsyncTransport):
    """Keep-alive HTTP/1.1 over h11; a subclass supplies :meth:`_connect` and :meth:`_start_tls`."""

    def __init__(self, *, verify: VerifyTypes = True, max_idle_per_origin: int = 10, trust_env: bool = True) -> None:
        self._verify = verify
        self._trust_env = trust_env
        self._ssl_context = None if isinstance(verify, bool) else http1_ssl_context(verify)
        self._pool: IdlePool[_Connection] = IdlePool(max_idle_per_origin)
        self._active: set[_Connection] = set()
        self._lock = threading.Lock()
        self._closed = False

    @abc.abstractmethod
    async def _connect(self, host: str, port: int, timeout: float | None) -> AsyncByteStream:
        """A TCP connection to ``host:port``; ``PhaseTimeout("connect")`` past ``timeout`` seconds."""

    @abc.abstractmethod
    async def _start_tls(
        self, stream: AsyncByteStream, ssl_ctx: ssl.SSLContext, host: str, timeout: float | None
    ) -> AsyncByteStream:
        """TLS over ``stream`` (one of :meth:`_connect`'s), handshake done; ``PhaseTimeout("connect")``
        past ``timeout`` seconds. The caller closes ``stream`` if this fails."""

    @property
    def idle_connections(self) -> int:
        """Connections parked in the keep-alive pool."""
        with self._lock:
            return len(self._pool)

    @property
    def connections(self) -> int:
        """Connections held now: idle in the pool or serving a response."""
        with self._lock:
            return len(self._pool) + len(self._active)

    async def send(self, request: Request) -> AsyncResponse:
        """Send ``request``; return once the response head is in (the body is read lazily)."""
        try:
            if self._closed:
                raise TransportClosed
            timeout = request.timeout
            deadline = Deadline.start(timeout)  # one for the attempt, stale-connection resend included
            origin = request.origin
            fresh = False
            while True:
                conn, reused = await self._acquire(origin, timeout.connect, deadline, fresh=fresh)
                try:
                    head = await self._start(conn, request, timeout, deadline)
                except Exception as exc:
                    await self._discard(conn)
                    if conn.exchange.resendable(exc, reused=reused):
                        fresh = True  # a stale keep-alive connection: once more on a new one
                        continue
                    raise
                except BaseException:
                    await self._discard(conn)  # interrupted: the connection is in an unknown state
                    raise
                body = _Body(self, conn, request, deadline)
                return AsyncResponse(head.status, head.headers, body, request=request, on_close=body.aclose)
        except Exception as exc:
            # Mapped here rather than with `map_errors`: a `try` costs nothing until it catches.
            mapped = map_exception(exc, request)
            if mapped is None:
                raise
            raise mapped from chainable(exc, request)

    async def _acquire(
        self, origin: tuple[str, str, int], connect_timeout: float | None, deadline: Deadline | None, *, fresh: bool
    ) -> tuple[_Connection, bool]:
        while not fresh:
            with self._lock:
                conn = self._pool.take(origin)
                if conn is not None:
                    self._active.add(conn)
            if conn is None:
                break
            if not conn.stream.is_readable():
                return conn, True
            await self._discard(conn)  # the server closed it while idle
        conn = _Connection(await self._open(origin, connect_timeout, deadline), origin)
        with self._lock:
            closed = self._closed
            if not closed:
                self._active.add(conn)
        if closed:  # closed while this connection was being made
            await conn.stream.close()
            raise TransportClosed
        return conn, False

    async def _open(
        self, origin: tuple[str, str, int], timeout: float | None, deadline: Deadline | None
    ) -> AsyncByteStream:
        scheme, host, port = origin
        limit, scope = cut_to(deadline, timeout)
        with scope:
            stream = await self._connect(host, port, limit)
        if scheme != "https":
            return stream
        try:
            if self._ssl_context is None:
                self._ssl_context = http1_ssl_context(self._verify, trust_env=self._trust_env)
            # The handshake is a step of its own: the connect timeout again, cut to the time left.
            limit, scope = cut_to(deadline, timeout)
            with scope:
                return await self._start_tls(stream, self._ssl_context, host, limit)
        except BaseException:
            await stream.close()
            raise

    @staticmethod
    async def _start(
        conn: _Connection, request: Request, timeout: Timeout, deadline: Deadline | None
    ) -> ResponseHead:
        exchange, stream = conn.exchange, conn.stream
        for part in exchange.request_bytes(request, conn.origin):
            limit, scope = cut_to(deadline, timeout.write)
            with scope:
                await stream.send(part, limit)
        while True:
            head = exchange.next_head()
            if isinstance(head, ResponseHead):
                return head
            limit, scope = cut_to(deadline, timeout.read)
            with scope:
                data = await stream.receive(limit)
            exchange.feed(data)

    async def _release(self, conn: _Connection) -> None:
        """The body was read to the end: park the connection if both sides allow it."""
        evicted = None
        with self._lock:
            self._active.discard(conn)
            keep = not self._closed and conn.exchange.reusable
            if keep:
                conn.exchange.start_next_cycle()
                evicted = self._pool.put(conn)
        if not keep:
            await conn.stream.close()
        elif evicted is not None:
            await evicted.stream.close()

    async def _discard(self, conn: _Connection) -> None:
        with self._lock:
            self._active.discard(conn)
        await conn.stream.close()

    async def aclose(self) -> None:
        """Close idle connections and those still serving a response; refuse further requests."""
        with self._lock:
            self._closed = True
            conns = [*self._pool.drain(), *self._active]
            self._active.clear()
        for conn in conns:
            await conn.stream.close()


class _Body:
    """The response body as an iterator; reaching the end returns the connection to the pool."""

    __slots__ = ("_conn", "_deadline", "_read_timeout", "_request", "_transport")

    def __init__(
        self, transport: AsyncH11Transport, conn: _Connection, request: Request, deadline: Deadline | None
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
            chunk = exchange.next_body()
            while chunk is NEED_DATA:
                if self._deadline is None:  # streams, and calls without a deadline
                    exchange.feed(await conn.stream.receive(self._read_timeout))
                else:
                    limit, scope = cut_to(self._deadline, self._read_timeout)
                    with scope:
                        data = await conn.stream.receive(limit)
                    exchange.feed(data)
                chunk = exchange.next_body()
        except BaseException as exc:
            # Error or interruption mid-body: the connection is dirty, never reuse it.
            self._conn = None
            await self._transport._discard(conn)
            mapped = map_exception(exc, self._request)
            if mapped is None:
                raise
            raise mapped from chainable(exc, self._request)
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
