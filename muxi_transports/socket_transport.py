"""Blocking HTTP/1.1 over the standard library's ``socket`` and ``ssl`` (h11 underneath).

The sync twin of the anyio and trio transports: the same :class:`~._h11_exchange.ClientExchange`
decides what the bytes mean, this module only moves them. Without a connection-pool framework in
between, a request costs about half of what it costs through httpcore.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Final

from muxi_proto.http import Request, Timeout

from ._deadline import Deadline, cut_to
from ._errors import PhaseTimeout, TransportClosed, chainable, map_exception
from ._h11_exchange import END, NEED_DATA, RECEIVE_SIZE, ClientExchange, ResponseHead
from ._idle import IdlePool, socket_is_readable
from ._tls import VerifyTypes, http1_ssl_context
from .base import SyncResponse, Transport

__all__ = ["SocketTransport"]

_UNSET: Final = -1.0  # no timeout set on a socket yet (None means "wait for ever")


class _Connection:
    """One socket, its h11 exchange, and the timeout currently set on it."""

    __slots__ = ("exchange", "origin", "sock", "timeout")

    def __init__(self, sock: socket.socket, origin: tuple[str, str, int]) -> None:
        self.sock = sock
        self.origin = origin
        self.exchange = ClientExchange()
        self.timeout: float | None = _UNSET

    def settimeout(self, timeout: float | None) -> None:
        # Only when it changes: switching between blocking and not costs a system call.
        if timeout != self.timeout:
            self.sock.settimeout(timeout)
            self.timeout = timeout

    def send(self, data: bytes, timeout: float | None) -> None:
        self.settimeout(timeout)
        try:
            self.sock.sendall(data)
        except TimeoutError as exc:
            if exc.errno is not None:
                raise  # the OS's own ETIMEDOUT, not our deadline
            raise PhaseTimeout("write") from None

    def receive(self, timeout: float | None) -> bytes:
        self.settimeout(timeout)
        try:
            return self.sock.recv(RECEIVE_SIZE)
        except TimeoutError as exc:
            if exc.errno is not None:
                raise
            raise PhaseTimeout("read") from None

    def close(self) -> None:
        # shutdown() first: it wakes a thread blocked in recv() on this socket, close() alone
        # does not (Linux).
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


class SocketTransport(Transport):
    """Keep-alive HTTP/1.1 on plain sockets, blocking and thread-safe.

    ``verify``: ``True`` (system CAs, or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` unless ``trust_env``
    is off), ``False``, a CA bundle path or an :class:`ssl.SSLContext`. ``max_idle_per_origin``:
    keep-alive connections kept per ``(scheme, host, port)``. There is no limit on connections in
    use at once (one per thread sending); no proxies, no HTTP/2 (:class:`HTTPCoreTransport` has
    those, and the clients switch to it when asked for them).
    """

    def __init__(self, *, verify: VerifyTypes = True, max_idle_per_origin: int = 10, trust_env: bool = True) -> None:
        self._verify = verify
        self._trust_env = trust_env
        self._ssl_context = None if isinstance(verify, bool) else http1_ssl_context(verify)
        self._pool: IdlePool[_Connection] = IdlePool(max_idle_per_origin)
        self._active: set[_Connection] = set()
        self._lock = threading.Lock()
        self._closed = False

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

    def send(self, request: Request) -> SyncResponse:
        """Send ``request``; return once the response head is in (the body is read lazily)."""
        try:
            if self._closed:
                raise TransportClosed
            timeout = request.timeout
            deadline = Deadline.start(timeout)  # one for the attempt, stale-connection resend included
            origin = request.origin
            fresh = False
            while True:
                conn, reused = self._acquire(origin, timeout.connect, deadline, fresh=fresh)
                try:
                    head = self._start(conn, request, timeout, deadline)
                except Exception as exc:
                    self._discard(conn)
                    if conn.exchange.resendable(exc, reused=reused):
                        fresh = True  # a stale keep-alive connection: once more on a new one
                        continue
                    raise
                except BaseException:
                    self._discard(conn)
                    raise
                body = _Body(self, conn, request, deadline)
                return SyncResponse(head.status, head.headers, body, request=request, on_close=body.close)
        except Exception as exc:
            mapped = map_exception(exc, request)
            if mapped is None:
                raise
            raise mapped from chainable(exc, request)

    def _acquire(
        self, origin: tuple[str, str, int], connect_timeout: float | None, deadline: Deadline | None, *, fresh: bool
    ) -> tuple[_Connection, bool]:
        while not fresh:
            with self._lock:
                conn = self._pool.take(origin)
                if conn is not None:
                    self._active.add(conn)
            if conn is None:
                break
            if not socket_is_readable(conn.sock):
                return conn, True
            self._discard(conn)  # the server closed it while idle
        conn = _Connection(self._connect(origin, connect_timeout, deadline), origin)
        with self._lock:
            if self._closed:
                conn.close()
                raise TransportClosed
            self._active.add(conn)
        return conn, False

    def _connect(
        self, origin: tuple[str, str, int], timeout: float | None, deadline: Deadline | None
    ) -> socket.socket:
        scheme, host, port = origin
        limit, scope = cut_to(deadline, timeout)
        with scope:
            try:
                sock = socket.create_connection((host, port), timeout=limit)
            except TimeoutError as exc:
                if exc.errno is not None:
                    raise
                raise PhaseTimeout("connect") from None
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme == "https":
                if self._ssl_context is None:
                    self._ssl_context = http1_ssl_context(self._verify, trust_env=self._trust_env)
                # The handshake is a step of its own: the connect timeout again, cut to the time left.
                # A peer that closes without close_notify ends the stream (HTTP frames its own bodies).
                limit, scope = cut_to(deadline, timeout)
                with scope:
                    sock.settimeout(limit)
                    try:
                        sock = self._ssl_context.wrap_socket(sock, server_hostname=host)
                    except TimeoutError as exc:
                        if exc.errno is not None:
                            raise
                        raise PhaseTimeout("connect") from None
        except BaseException:
            sock.close()
            raise
        return sock

    @staticmethod
    def _start(conn: _Connection, request: Request, timeout: Timeout, deadline: Deadline | None) -> ResponseHead:
        exchange = conn.exchange
        for part in exchange.request_bytes(request, conn.origin):
            limit, scope = cut_to(deadline, timeout.write)
            with scope:
                conn.send(part, limit)
        while True:
            head = exchange.next_head()
            if isinstance(head, ResponseHead):
                return head
            limit, scope = cut_to(deadline, timeout.read)
            with scope:
                data = conn.receive(limit)
            exchange.feed(data)

    def _release(self, conn: _Connection) -> None:
        """The body was read to the end: park the connection if both sides allow it."""
        evicted = None
        with self._lock:
            self._active.discard(conn)
            keep = not self._closed and conn.exchange.reusable
            if keep:
                conn.exchange.start_next_cycle()
                evicted = self._pool.put(conn)
        if not keep:
            conn.close()
        elif evicted is not None:
            evicted.close()

    def _discard(self, conn: _Connection) -> None:
        with self._lock:
            self._active.discard(conn)
        conn.close()

    def close(self) -> None:
        """Close idle connections and those still serving a response; refuse further requests."""
        with self._lock:
            self._closed = True
            conns = [*self._pool.drain(), *self._active]
            self._active.clear()
        for conn in conns:
            conn.close()

    def __repr__(self) -> str:
        return f"<SocketTransport connections={self.connections}>"


class _Body:
    """The response body as an iterator; reaching the end returns the connection to the pool."""

    __slots__ = ("_conn", "_deadline", "_read_timeout", "_request", "_transport")

    def __init__(
        self, transport: SocketTransport, conn: _Connection, request: Request, deadline: Deadline | None
    ) -> None:
        self._transport = transport
        self._conn: _Connection | None = conn
        self._request = request
        self._read_timeout = request.timeout.read
        self._deadline = deadline

    def __iter__(self) -> _Body:
        return self

    def __next__(self) -> bytes:
        conn = self._conn
        if conn is None:
            raise StopIteration
        exchange = conn.exchange
        try:
            chunk = exchange.next_body()
            while chunk is NEED_DATA:
                if self._deadline is None:  # streams, and calls without a deadline
                    exchange.feed(conn.receive(self._read_timeout))
                else:
                    limit, scope = cut_to(self._deadline, self._read_timeout)
                    with scope:
                        data = conn.receive(limit)
                    exchange.feed(data)
                chunk = exchange.next_body()
        except BaseException as exc:
            # Error or interruption mid-body: the connection is dirty, never reuse it.
            self._conn = None
            self._transport._discard(conn)
            mapped = map_exception(exc, self._request)
            if mapped is None:
                raise
            raise mapped from chainable(exc, self._request)
        if chunk is END:
            self._conn = None
            self._transport._release(conn)
            raise StopIteration
        assert isinstance(chunk, bytes)
        return chunk

    def close(self) -> None:
        """Closed before the end: close the connection rather than pool it half-read."""
        conn, self._conn = self._conn, None
        if conn is not None:
            self._transport._discard(conn)

