"""The default transports: httpcore connection pools, sync and async (asyncio and trio).

httpcore brings keep-alive pooling, pool limits, proxies and HTTP/2. Under asyncio its sockets and
TLS go through :mod:`._asyncio_net` (asyncio's own socket calls) instead of anyio, which saves about
90 µs of httpcore's 330 µs per request on loopback; under trio, through httpcore's trio backend.
What the two classes share (pool options, request and header conversion) is written once as module
functions; each class keeps only its few lines of blocking or awaiting code.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import ssl
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

import httpcore

from muxi_proto.errors import ConfigurationError
from muxi_proto.http import Headers, Request, Timeout

from ._deadline import (
    AsyncDeadlineBackend,
    AsyncNetworkStream,
    Deadline,
    DeadlineBackend,
    NetworkStream,
    current_deadline,
)
from ._errors import PhaseTimeout, TransportClosed, map_errors
from ._h11_exchange import wire_headers
from ._tls import VerifyTypes, shared_ssl_context, ssl_context
from .base import AsyncResponse, AsyncTransport, SyncResponse, Transport

__all__ = ["AsyncHTTPCoreTransport", "HTTPCoreTransport"]

#: Chunks already buffered by h11 that an abandoned body may still yield before its read fails.
_DRAIN_LIMIT = 10_000


def _proxy(url: str | None) -> httpcore.Proxy | None:
    """An httpcore proxy for ``http://[user:password@]host:port``; credentials move to ``auth``."""
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError("INVALID_PROXY", "proxy must be an http(s) URL")
    if parts.username is None:
        return httpcore.Proxy(url)
    auth = (unquote(parts.username), unquote(parts.password or ""))
    bare = parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()
    return httpcore.Proxy(bare, auth=auth)


def _pool_options(
    verify: VerifyTypes,
    proxy: str | None,
    http2: bool,
    max_connections: int | None,
    max_idle_connections: int | None,
    keepalive_expiry: float | None,
) -> dict[str, Any]:
    if http2 and importlib.util.find_spec("h2") is None:
        raise ConfigurationError(
            "HTTP2_UNAVAILABLE", "http2=True needs the h2 package (pip install muxi-client[http2])"
        )
    return {
        "ssl_context": _origin_ssl_context(verify, http2),
        "proxy": _proxy(proxy),
        "max_connections": max_connections,
        "max_keepalive_connections": max_idle_connections,
        "keepalive_expiry": keepalive_expiry,
        "http1": True,
        "http2": http2,
    }


def _origin_ssl_context(verify: VerifyTypes, http2: bool) -> ssl.SSLContext:
    """The context for TLS to origins: for ``verify=True``/``False``, one per process and ALPN list.

    httpcore sets ``["http/1.1", "h2"]`` or ``["http/1.1"]`` on it before each connection, the very
    list the shared context was made with, so pools with either setting can share safely.
    """
    if isinstance(verify, bool):
        return shared_ssl_context(verify, ["http/1.1", "h2"] if http2 else ["http/1.1"])
    return ssl_context(verify)


class _Body:
    """The request body for httpcore, iterable again for a retry.

    Not ``bytes``: httpcore would wrap those in an async generator, which a failed write leaves
    unfinished for the garbage collector (and trio warns). This iterates without generators.
    """

    __slots__ = ("_data",)

    def __init__(self, data: bytes) -> None:
        self._data = data

    def __iter__(self) -> Iterator[bytes]:
        return iter((self._data,))

    def __aiter__(self) -> _OneChunk:
        return _OneChunk(self._data)


class _OneChunk:
    __slots__ = ("_data",)

    def __init__(self, data: bytes | None) -> None:
        self._data = data

    async def __anext__(self) -> bytes:
        data, self._data = self._data, None
        if data is None:
            raise StopAsyncIteration
        return data


def _pool_wait_cut(timeout: Timeout) -> bool:
    """Is the pool wait limited by ``total`` rather than by ``pool``?"""
    return timeout.total is not None and (timeout.pool is None or timeout.pool > timeout.total)


def _core_request(request: Request, origin: tuple[str, str, int]) -> httpcore.Request:
    timeout = request.timeout
    scheme, host, port = origin
    # httpcore's own pool queue (async transport) waits no longer than the deadline allows.
    pool = timeout.total if _pool_wait_cut(timeout) else timeout.pool
    url = httpcore.URL(
        scheme=scheme.encode("ascii"),
        host=host.encode("ascii"),
        port=port,
        target=request.target.encode("ascii"),
    )
    return httpcore.Request(
        request.method.encode("ascii"),
        url,
        headers=wire_headers(request, origin),
        content=_Body(request.body),
        extensions={
            "timeout": {
                "connect": timeout.connect,
                "read": timeout.read,
                "write": timeout.write,
                "pool": pool,
            }
        },
    )


@functools.lru_cache(maxsize=256)
def _core_origin(origin: tuple[str, str, int]) -> httpcore.Origin:
    scheme, host, port = origin
    return httpcore.Origin(scheme.encode("ascii"), host.encode("ascii"), port)


def _has_idle(pool: httpcore.ConnectionPool | httpcore.AsyncConnectionPool, origin: tuple[str, str, int]) -> bool:
    """Is there an idle keep-alive connection the request may go out on?"""
    connections = pool.connections
    if not connections:
        return False
    core_origin = _core_origin(origin)
    return any(conn.is_idle() and conn.can_handle_request(core_origin) for conn in connections)


def _stale(exc: Exception) -> bool:
    """Does ``exc`` look like a server that dropped an idle keep-alive connection?

    httpcore retries only when it knows a connection is unusable before sending; a server that
    closed the connection just as the request went out shows up as one of these instead.
    """
    if isinstance(exc, httpcore.RemoteProtocolError):
        return "without sending a response" in str(exc)
    return isinstance(exc, httpcore.ReadError | httpcore.WriteError)


def _leftover_bytes(response: httpcore.Response) -> bool:
    """Did the server send bytes past the end of this complete HTTP/1.1 response?

    They would be read as the answer to the next request on the connection (a desynchronised or
    forged response), yet httpcore 1.0 pools such a connection. Its h11 state is private: anything
    not shaped as expected (HTTP/2, another httpcore) reads as "no".
    """
    stream = getattr(response.stream, "_stream", None)
    h11_state = getattr(getattr(stream, "_connection", None), "_h11_state", None)
    trailing = getattr(h11_state, "trailing_data", None)
    return isinstance(trailing, tuple) and bool(trailing[0])


def _discard(response: httpcore.Response) -> None:
    """Make the pool close ``response``'s connection when the response is closed, not reuse it."""
    stream = response.extensions.get("network_stream")
    if isinstance(stream, NetworkStream | AsyncNetworkStream):
        stream.discard()


def _headers(response: httpcore.Response) -> Headers:
    return tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers)


class HTTPCoreTransport(Transport):
    """Blocking HTTP on an httpcore connection pool (thread-safe).

    ``verify``: ``True`` (system CAs), ``False``, a CA bundle path or an :class:`ssl.SSLContext`.
    ``proxy``: an ``http://`` proxy URL. ``http2``: negotiate HTTP/2 over TLS (needs ``h2``).
    ``max_connections``: requests in flight at once (more wait, up to the ``pool`` timeout);
    ``max_idle_connections``: keep-alive connections kept; ``keepalive_expiry``: idle seconds.
    """

    def __init__(
        self,
        *,
        verify: VerifyTypes = True,
        proxy: str | None = None,
        http2: bool = False,
        max_connections: int | None = 100,
        max_idle_connections: int | None = 20,
        keepalive_expiry: float | None = 60.0,
    ) -> None:
        # httpcore 1.0.9's sync pool can close a connection it has just handed to a waiting
        # thread (encode/httpcore#1110: EBADF or a hang until the read timeout). We keep its
        # queue empty: our own semaphore bounds requests in flight, httpcore's limit is off, and
        # it may keep as many idle connections as can be busy, so it never trims one in use.
        idle = max_connections if max_connections is not None else max_idle_connections
        options = _pool_options(verify, proxy, http2, None, idle, keepalive_expiry)
        self._pool = httpcore.ConnectionPool(**options, network_backend=DeadlineBackend())
        self._slots = threading.BoundedSemaphore(max_connections) if max_connections else None
        self._closed = False

    def send(self, request: Request) -> SyncResponse:
        """Send ``request``; return once the response head is in (the body is read lazily)."""
        deadline = Deadline.start(request.timeout)
        with map_errors(request):
            if self._closed:
                raise TransportClosed
            slot = self._take_slot(request.timeout.pool, deadline)
            token = current_deadline.set(deadline) if deadline is not None else None
            try:
                response = self._send(request)
            except BaseException:
                slot.release()
                raise
            finally:
                if token is not None:
                    current_deadline.reset(token)

        def close() -> None:
            try:
                response.close()
            finally:
                slot.release()

        body = _iter_body(response, request, close, deadline)
        return SyncResponse(response.status, _headers(response), body, request=request, on_close=close)

    def _take_slot(self, timeout: float | None, deadline: Deadline | None) -> _Slot:
        if self._slots is None:
            return _Slot(None)
        limit, cut = (timeout, False) if deadline is None else deadline.limit(timeout)
        if not self._slots.acquire(timeout=limit):
            raise PhaseTimeout("total" if cut else "pool")
        return _Slot(self._slots)

    def _send(self, request: Request) -> httpcore.Response:
        origin = request.origin
        reused = _has_idle(self._pool, origin)
        try:
            return self._pool.handle_request(_core_request(request, origin))
        except Exception as exc:
            if not (reused and _stale(exc)):
                raise
            return self._pool.handle_request(_core_request(request, origin))  # once, on a new connection

    def close(self) -> None:
        """Close every pooled connection; later requests fail."""
        self._closed = True
        self._pool.close()

    @property
    def connections(self) -> int:
        """Connections currently held by the pool (idle or busy)."""
        return len(self._pool.connections)

    def __repr__(self) -> str:
        return f"<HTTPCoreTransport connections={self.connections}>"


class _Slot:
    """A permit of :class:`HTTPCoreTransport`'s semaphore, released exactly once."""

    __slots__ = ("_semaphore",)

    def __init__(self, semaphore: threading.BoundedSemaphore | None) -> None:
        self._semaphore = semaphore

    def release(self) -> None:
        semaphore, self._semaphore = self._semaphore, None
        if semaphore is not None:
            semaphore.release()


def _iter_body(
    response: httpcore.Response, request: Request, close: Callable[[], None], deadline: Deadline | None
) -> Iterator[bytes]:
    # httpcore closes the connection itself when iteration fails; we only translate the error.
    # It releases a connection to the pool on close(), so close as soon as the body is done.
    with map_errors(request):
        if deadline is None:
            yield from response.stream  # type: ignore[misc]
        else:
            yield from _within_deadline(response.stream, deadline)  # type: ignore[arg-type]
        if _leftover_bytes(response):
            _discard(response)
        close()


def _within_deadline(stream: Iterable[bytes], deadline: Deadline) -> Iterator[bytes]:
    """``stream`` with each read bounded by ``deadline`` (set for the read only, not while yielding)."""
    chunks = iter(stream)
    while True:
        token = current_deadline.set(deadline)
        try:
            chunk = next(chunks, None)
        finally:
            current_deadline.reset(token)
        if chunk is None:
            return
        yield chunk


class AsyncHTTPCoreTransport(AsyncTransport):
    """Async HTTP on an httpcore connection pool; works under asyncio and trio.

    Same options as :class:`HTTPCoreTransport`.
    """

    def __init__(
        self,
        *,
        verify: VerifyTypes = True,
        proxy: str | None = None,
        http2: bool = False,
        max_connections: int | None = 100,
        max_idle_connections: int | None = 20,
        keepalive_expiry: float | None = 60.0,
    ) -> None:
        options = _pool_options(verify, proxy, http2, max_connections, max_idle_connections, keepalive_expiry)
        self._pool = httpcore.AsyncConnectionPool(**options, network_backend=AsyncDeadlineBackend())
        self._closed = False

    async def send(self, request: Request) -> AsyncResponse:
        """Send ``request``; return once the response head is in (the body is read lazily)."""
        deadline = Deadline.start(request.timeout)
        with map_errors(request):
            if self._closed:
                raise TransportClosed
            token = current_deadline.set(deadline) if deadline is not None else None
            try:
                response = await self._send(request)
            except httpcore.PoolTimeout:
                if _pool_wait_cut(request.timeout):
                    raise PhaseTimeout("total") from None
                raise
            finally:
                if token is not None:
                    current_deadline.reset(token)
        body = _AsyncBody(response, request, deadline)
        return AsyncResponse(response.status, _headers(response), body, request=request, on_close=body.aclose)

    async def _send(self, request: Request) -> httpcore.Response:
        origin = request.origin
        reused = _has_idle(self._pool, origin)
        try:
            return await self._pool.handle_async_request(_core_request(request, origin))
        except Exception as exc:
            if not (reused and _stale(exc)):
                raise
            # once, on a new connection
            return await self._pool.handle_async_request(_core_request(request, origin))

    async def aclose(self) -> None:
        """Close every pooled connection; later requests fail."""
        self._closed = True
        await self._pool.aclose()

    @property
    def connections(self) -> int:
        """Connections currently held by the pool (idle or busy)."""
        return len(self._pool.connections)

    def __repr__(self) -> str:
        return f"<AsyncHTTPCoreTransport connections={self.connections}>"


class _AsyncBody:
    """httpcore's body iterator with errors translated and its generators ended explicitly.

    httpcore iterates a body through a chain of async generators. One abandoned half-way is
    finalised later by the garbage collector, and trio warns about each (``ResourceWarning``),
    so :meth:`aclose` ends the chain itself.
    """

    __slots__ = ("_deadline", "_iterator", "_request", "_response")

    def __init__(self, response: httpcore.Response, request: Request, deadline: Deadline | None) -> None:
        self._response = response
        self._request = request
        self._deadline = deadline
        self._iterator: AsyncIterator[bytes] | None = None

    def __aiter__(self) -> _AsyncBody:
        return self

    async def __anext__(self) -> bytes:
        if self._iterator is None:
            stream = self._response.stream
            assert hasattr(stream, "__aiter__")
            self._iterator = stream.__aiter__()
        token = current_deadline.set(self._deadline) if self._deadline is not None else None
        try:
            with map_errors(self._request):
                return await self._iterator.__anext__()
        except StopAsyncIteration:
            # httpcore releases a connection to the pool on close: do it as soon as the body ends.
            self._iterator = None
            if _leftover_bytes(self._response):
                _discard(self._response)
            await self._response.aclose()
            raise
        except BaseException:
            self._iterator = None  # the exception has ended httpcore's generators already
            raise
        finally:
            if token is not None:
                current_deadline.reset(token)

    async def aclose(self) -> None:
        iterator, self._iterator = self._iterator, None
        # Closing an unfinished response closes its connection (never pooled half-read).
        await self._response.aclose()
        if iterator is not None:
            # With the connection closed, resuming the generators makes the innermost read fail
            # at once, which ends every generator of the chain now: nothing left for the GC.
            with contextlib.suppress(Exception):
                for _ in range(_DRAIN_LIMIT):
                    await iterator.__anext__()
