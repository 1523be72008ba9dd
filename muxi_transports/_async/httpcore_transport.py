"""An httpcore connection pool as a transport: proxies, HTTP/2, a cap on connections in flight.

The clients pick it for those (see :mod:`muxi_transports._defaults`). httpcore's sockets and TLS go
through the deadline backend of ``network.py`` beside this module (each operation cut to the
attempt's deadline): under asyncio on asyncio's own socket calls, under trio on httpcore's trio
backend, blocking on httpcore's own. What does not depend on blocking or awaiting is in
:mod:`muxi_transports._httpcore_shared`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpcore

from muxi_proto.http import Request

from .._deadline import Attempt, Deadline, current_attempt
from .._errors import PhaseTimeout, TransportClosed, map_errors
from .._httpcore_compat import AsyncInFlightLimit, Permit, end_body, leftover_bytes, stale_connection
from .._httpcore_shared import (
    core_request,
    discard,
    has_idle,
    pool_options,
    pool_wait_cut,
    raise_body_failure,
    raise_head_failure,
    response_headers,
)
from .._tls import VerifyTypes
from .base import AsyncResponse, AsyncTransport
from .network import AsyncDeadlineBackend

__all__ = ["AsyncHTTPCoreTransport"]


class AsyncHTTPCoreTransport(AsyncTransport):
    """HTTP on an httpcore connection pool (the async one runs under asyncio and trio; the blocking
    one is thread-safe).

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
        limit, idle = AsyncInFlightLimit.pool_limits(max_connections, max_idle_connections)
        options = pool_options(verify, proxy, http2, limit, idle, keepalive_expiry, trust_env)
        self._pool = httpcore.AsyncConnectionPool(**options, network_backend=AsyncDeadlineBackend())
        self._in_flight = AsyncInFlightLimit(max_connections)
        self._closed = False

    async def send(self, request: Request) -> AsyncResponse:
        """Send ``request``; return once the response head is in (the body is read lazily)."""
        deadline = Deadline.start(request.timeout)
        with map_errors(request):
            if self._closed:
                raise TransportClosed
            permit = self._in_flight.enter(request.timeout.pool, deadline)
            try:
                response, attempt = await self._send(request, deadline)
            except BaseException as exc:
                permit.release()
                if isinstance(exc, httpcore.PoolTimeout) and pool_wait_cut(request.timeout):
                    raise PhaseTimeout("total") from None  # httpcore's queue waited out the deadline
                raise
        body = _Body(response, request, attempt, permit)
        return AsyncResponse(response.status, response_headers(response), body, request=request, on_close=body.aclose)

    async def _send(self, request: Request, deadline: Deadline | None) -> tuple[httpcore.Response, Attempt]:
        origin = request.origin
        reused = has_idle(self._pool, origin)
        attempt = Attempt(deadline)
        token = current_attempt.set(attempt)
        try:
            try:
                return await self._pool.handle_async_request(core_request(request, origin)), attempt
            except Exception as exc:
                if not stale_connection(exc, reused=reused, received=attempt.received,
                                        peer_closed=attempt.peer_closed):
                    raise_head_failure(exc, attempt)
            attempt = Attempt(deadline)  # once more, on a new connection
            current_attempt.set(attempt)
            try:
                return await self._pool.handle_async_request(core_request(request, origin)), attempt
            except Exception as exc:
                raise_head_failure(exc, attempt)
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
        return f"<{type(self).__name__} connections={self.connections}>"


class _Body:
    """httpcore's body iterator, each read made for the request's attempt, errors translated; the
    response closed (its connection back to the pool) as soon as the body ends."""

    __slots__ = ("_attempt", "_done", "_iterator", "_permit", "_request", "_response")

    def __init__(self, response: httpcore.Response, request: Request, attempt: Attempt, permit: Permit) -> None:
        self._response = response
        self._request = request
        self._attempt = attempt
        self._permit = permit
        self._iterator: AsyncIterator[bytes] | None = None
        self._done = False

    def __aiter__(self) -> _Body:
        return self

    async def __anext__(self) -> bytes:
        iterator = self._iterator
        if iterator is None:
            if self._done:
                raise StopAsyncIteration
            stream = self._response.stream
            assert hasattr(stream, "__aiter__")
            iterator = self._iterator = stream.__aiter__()
        token = current_attempt.set(self._attempt)  # reads made for this attempt, not while the caller works
        try:
            with map_errors(self._request):
                try:
                    return await iterator.__anext__()
                except StopAsyncIteration:
                    raise
                except Exception as exc:
                    raise_body_failure(exc, self._attempt)
        except StopAsyncIteration:
            self._iterator = None
            if leftover_bytes(self._response):
                discard(self._response)
            await self.aclose()  # httpcore releases a connection to the pool on close: at once
            raise
        except BaseException:
            # The exception has ended httpcore's generators already; the response's close releases.
            self._iterator = None
            self._done = True
            raise
        finally:
            current_attempt.reset(token)

    async def aclose(self) -> None:
        iterator, self._iterator = self._iterator, None  # sync: self._iterator = None
        self._done = True
        try:
            await self._response.aclose()  # closing an unfinished response closes its connection
        finally:
            self._permit.release()
        if iterator is not None:  # async only
            await end_body(iterator)  # async only
