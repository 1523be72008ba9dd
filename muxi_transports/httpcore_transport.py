"""httpcore connection pools, sync and async (asyncio and trio): the transports for proxies, HTTP/2
and a cap on connections in flight, which the clients pick for those (see :mod:`._defaults`).

Under asyncio httpcore's sockets and TLS go through :mod:`._asyncio_net` (asyncio's own socket
calls) instead of anyio, which is cheaper per request; under trio, through httpcore's trio backend.
What the two classes share (pool options, request and header conversion, error translation) is
written once as module functions; each class keeps only its few lines of blocking or awaiting code.
The workarounds for httpcore itself are in :mod:`._httpcore_compat`.
"""

from __future__ import annotations

import functools
import importlib.util
import ssl
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any, NoReturn
from urllib.parse import unquote, urlsplit

import httpcore

from muxi_proto.errors import ConfigurationError
from muxi_proto.http import Headers, Request, Timeout

from ._deadline import (
    AsyncDeadlineBackend,
    AsyncNetworkStream,
    Attempt,
    Deadline,
    DeadlineBackend,
    NetworkStream,
    current_attempt,
)
from ._errors import ClosedBeforeResponse, IncompleteBody, PhaseTimeout, TransportClosed, map_errors
from ._h11_exchange import wire_headers
from ._httpcore_compat import InFlightLimit, RequestBody, end_body, leftover_bytes, stale_connection
from ._proxies import validate_proxy
from ._tls import HTTP1_ALPN, VerifyTypes, shared_ssl_context, ssl_context
from .base import AsyncResponse, AsyncTransport, SyncResponse, Transport

__all__ = ["AsyncHTTPCoreTransport", "HTTPCoreTransport"]


def _proxy(url: str | None, verify: VerifyTypes, trust_env: bool) -> httpcore.Proxy | None:
    """An httpcore proxy for ``http(s)://[user:password@]host:port``; credentials move to ``auth``.

    An ``https://`` proxy is reached over TLS, verified as ``verify`` says (HTTP/1.1 only).
    """
    if url is None:
        return None
    parts = urlsplit(validate_proxy(url))
    proxy_tls = None
    if parts.scheme.lower() == "https":
        proxy_tls = _origin_ssl_context(verify, False, trust_env) if isinstance(verify, bool) else ssl_context(
            verify, alpn=list(HTTP1_ALPN))
    if parts.username is None:
        return httpcore.Proxy(url, ssl_context=proxy_tls)
    auth = (unquote(parts.username), unquote(parts.password or ""))
    bare = parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()
    return httpcore.Proxy(bare, auth=auth, ssl_context=proxy_tls)


def _pool_options(
    verify: VerifyTypes,
    proxy: str | None,
    http2: bool,
    max_connections: int | None,
    max_idle_connections: int | None,
    keepalive_expiry: float | None,
    trust_env: bool,
) -> dict[str, Any]:
    if http2 and importlib.util.find_spec("h2") is None:
        raise ConfigurationError(
            "HTTP2_UNAVAILABLE", "http2=True needs the h2 package (pip install muxi-client[http2])"
        )
    return {
        "ssl_context": _origin_ssl_context(verify, http2, trust_env),
        "proxy": _proxy(proxy, verify, trust_env),
        "max_connections": max_connections,
        "max_keepalive_connections": max_idle_connections,
        "keepalive_expiry": keepalive_expiry,
        "http1": True,
        "http2": http2,
    }


def _origin_ssl_context(verify: VerifyTypes, http2: bool, trust_env: bool = True) -> ssl.SSLContext:
    """The context for TLS to origins: for ``verify=True``/``False``, one per process and ALPN list.

    httpcore sets ``["http/1.1", "h2"]`` or ``["http/1.1"]`` on it before each connection, the very
    list the shared context was made with, so pools with either setting can share safely.
    """
    if isinstance(verify, bool):
        return shared_ssl_context(verify, ["http/1.1", "h2"] if http2 else ["http/1.1"], trust_env=trust_env)
    return ssl_context(verify)


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
        content=RequestBody(request.body),
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


def _raise_head_failure(exc: Exception, attempt: Attempt) -> NoReturn:
    """Raise what a failure before the response head means, told by what the connection saw, not by
    the message: httpcore raises ``RemoteProtocolError`` both for a malformed head and for a server
    that closed the connection before its head was complete; only the second met the end of it."""
    if isinstance(exc, httpcore.RemoteProtocolError) and attempt.peer_closed:
        raise ClosedBeforeResponse(attempt.received) from exc
    raise exc


def _raise_body_failure(exc: Exception, attempt: Attempt) -> NoReturn:
    """The same while reading the body: cut short by the end of the connection, or malformed."""
    if isinstance(exc, httpcore.RemoteProtocolError) and attempt.peer_closed:
        raise IncompleteBody("the server closed the connection before the end of the body") from exc
    raise exc


def _discard(response: httpcore.Response) -> None:
    """Make the pool close ``response``'s connection when the response is closed, not reuse it."""
    stream = response.extensions.get("network_stream")
    if isinstance(stream, NetworkStream | AsyncNetworkStream):
        stream.discard()


def _headers(response: httpcore.Response) -> Headers:
    return tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers)


class HTTPCoreTransport(Transport):
    """Blocking HTTP on an httpcore connection pool (thread-safe).

    ``verify``: ``True`` (system CAs, or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` unless ``trust_env``
    is off), ``False``, a CA bundle path or an :class:`ssl.SSLContext`. ``proxy``: an ``http://``
    or ``https://`` proxy URL (``https://`` origins go through it with ``CONNECT``; the environment's
    proxy variables are the clients' business, not the transport's). ``http2``: negotiate HTTP/2
    over TLS (needs ``h2``). ``max_connections``: requests in flight at once (more wait, up to the
    ``pool`` timeout); ``max_idle_connections``: keep-alive connections kept; ``keepalive_expiry``:
    idle seconds.
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
        trust_env: bool = True,
    ) -> None:
        limit, idle = InFlightLimit.pool_limits(max_connections, max_idle_connections)
        options = _pool_options(verify, proxy, http2, limit, idle, keepalive_expiry, trust_env)
        self._pool = httpcore.ConnectionPool(**options, network_backend=DeadlineBackend())
        self._in_flight = InFlightLimit(max_connections)
        self._closed = False

    def send(self, request: Request) -> SyncResponse:
        """Send ``request``; return once the response head is in (the body is read lazily)."""
        deadline = Deadline.start(request.timeout)
        with map_errors(request):
            if self._closed:
                raise TransportClosed
            timeout = request.timeout.pool
            limit, cut = (timeout, False) if deadline is None else deadline.limit(timeout)
            permit = self._in_flight.take(limit)
            if permit is None:
                raise PhaseTimeout("total" if cut else "pool")
            try:
                response, attempt = self._send(request, deadline)
            except BaseException:
                permit.release()
                raise

        def close() -> None:
            try:
                response.close()
            finally:
                permit.release()

        body = _iter_body(response, request, close, attempt)
        return SyncResponse(response.status, _headers(response), body, request=request, on_close=close)

    def _send(self, request: Request, deadline: Deadline | None) -> tuple[httpcore.Response, Attempt]:
        origin = request.origin
        reused = _has_idle(self._pool, origin)
        attempt = Attempt(deadline)
        token = current_attempt.set(attempt)
        try:
            try:
                return self._pool.handle_request(_core_request(request, origin)), attempt
            except Exception as exc:
                if not stale_connection(exc, reused=reused, received=attempt.received,
                                        peer_closed=attempt.peer_closed):
                    _raise_head_failure(exc, attempt)
            attempt = Attempt(deadline)  # once more, on a new connection
            current_attempt.set(attempt)
            try:
                return self._pool.handle_request(_core_request(request, origin)), attempt
            except Exception as exc:
                _raise_head_failure(exc, attempt)
        finally:
            current_attempt.reset(token)

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


def _iter_body(
    response: httpcore.Response, request: Request, close: Callable[[], None], attempt: Attempt
) -> Iterator[bytes]:
    # httpcore closes the connection itself when iteration fails; we only translate the error.
    # It releases a connection to the pool on close(), so close as soon as the body is done.
    with map_errors(request):
        yield from _observed(response.stream, attempt)  # type: ignore[arg-type]
        if leftover_bytes(response):
            _discard(response)
        close()


def _observed(stream: Iterable[bytes], attempt: Attempt) -> Iterator[bytes]:
    """``stream`` with each read made for ``attempt`` (its deadline; what it sees), not while yielding."""
    chunks = iter(stream)
    while True:
        token = current_attempt.set(attempt)
        try:
            chunk = next(chunks, None)
        except Exception as exc:
            _raise_body_failure(exc, attempt)
        finally:
            current_attempt.reset(token)
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
        trust_env: bool = True,
    ) -> None:
        options = _pool_options(
            verify, proxy, http2, max_connections, max_idle_connections, keepalive_expiry, trust_env
        )
        self._pool = httpcore.AsyncConnectionPool(**options, network_backend=AsyncDeadlineBackend())
        self._closed = False

    async def send(self, request: Request) -> AsyncResponse:
        """Send ``request``; return once the response head is in (the body is read lazily)."""
        deadline = Deadline.start(request.timeout)
        with map_errors(request):
            if self._closed:
                raise TransportClosed
            try:
                response, attempt = await self._send(request, deadline)
            except httpcore.PoolTimeout:
                if _pool_wait_cut(request.timeout):
                    raise PhaseTimeout("total") from None
                raise
        body = _AsyncBody(response, request, attempt)
        return AsyncResponse(response.status, _headers(response), body, request=request, on_close=body.aclose)

    async def _send(self, request: Request, deadline: Deadline | None) -> tuple[httpcore.Response, Attempt]:
        origin = request.origin
        reused = _has_idle(self._pool, origin)
        attempt = Attempt(deadline)
        token = current_attempt.set(attempt)
        try:
            try:
                return await self._pool.handle_async_request(_core_request(request, origin)), attempt
            except Exception as exc:
                if not stale_connection(exc, reused=reused, received=attempt.received,
                                        peer_closed=attempt.peer_closed):
                    _raise_head_failure(exc, attempt)
            attempt = Attempt(deadline)  # once more, on a new connection
            current_attempt.set(attempt)
            try:
                return await self._pool.handle_async_request(_core_request(request, origin)), attempt
            except Exception as exc:
                _raise_head_failure(exc, attempt)
        finally:
            current_attempt.reset(token)

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
    """httpcore's body iterator with errors translated and its generators ended explicitly
    (:func:`~._httpcore_compat.end_body`)."""

    __slots__ = ("_attempt", "_iterator", "_request", "_response")

    def __init__(self, response: httpcore.Response, request: Request, attempt: Attempt) -> None:
        self._response = response
        self._request = request
        self._attempt = attempt
        self._iterator: AsyncIterator[bytes] | None = None

    def __aiter__(self) -> _AsyncBody:
        return self

    async def __anext__(self) -> bytes:
        if self._iterator is None:
            stream = self._response.stream
            assert hasattr(stream, "__aiter__")
            self._iterator = stream.__aiter__()
        token = current_attempt.set(self._attempt)
        try:
            with map_errors(self._request):
                try:
                    return await self._iterator.__anext__()
                except StopAsyncIteration:
                    raise
                except Exception as exc:
                    _raise_body_failure(exc, self._attempt)
        except StopAsyncIteration:
            # httpcore releases a connection to the pool on close: do it as soon as the body ends.
            self._iterator = None
            if leftover_bytes(self._response):
                _discard(self._response)
            await self._response.aclose()
            raise
        except BaseException:
            self._iterator = None  # the exception has ended httpcore's generators already
            raise
        finally:
            current_attempt.reset(token)

    async def aclose(self) -> None:
        iterator, self._iterator = self._iterator, None
        # Closing an unfinished response closes its connection (never pooled half-read).
        await self._response.aclose()
        if iterator is not None:
            await end_body(iterator)
