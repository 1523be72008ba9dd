"""The default transports: httpcore connection pools, sync and async (asyncio and trio).

httpcore brings keep-alive pooling, pool limits, proxies and HTTP/2. What the two classes share
(pool options, request and header conversion) is written once as module functions; each class
keeps only its few lines of blocking or awaiting code.
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

import httpcore

from muxi_proto.errors import ConfigurationError
from muxi_proto.http import Headers, Request

from ._errors import map_errors
from ._h11_exchange import wire_headers
from ._tls import VerifyTypes, ssl_context
from .base import AsyncResponse, AsyncTransport, SyncResponse, Transport

__all__ = ["AsyncHTTPCoreTransport", "HTTPCoreTransport"]


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
        "ssl_context": ssl_context(verify),
        "proxy": _proxy(proxy),
        "max_connections": max_connections,
        "max_keepalive_connections": max_idle_connections,
        "keepalive_expiry": keepalive_expiry,
        "http1": True,
        "http2": http2,
    }


def _core_request(request: Request) -> httpcore.Request:
    timeout = request.timeout
    url = httpcore.URL(
        scheme=request.scheme.encode("ascii"),
        host=request.host.encode("ascii"),
        port=request.port,
        target=request.target.encode("ascii"),
    )
    return httpcore.Request(
        request.method.encode("ascii"),
        url,
        headers=wire_headers(request),
        content=request.body,
        extensions={
            "timeout": {
                "connect": timeout.connect,
                "read": timeout.read,
                "write": timeout.write,
                "pool": timeout.pool,
            }
        },
    )


def _headers(response: httpcore.Response) -> Headers:
    return tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers)


class HTTPCoreTransport(Transport):
    """Blocking HTTP on an httpcore connection pool (thread-safe).

    ``verify``: ``True`` (system CAs), ``False``, a CA bundle path or an :class:`ssl.SSLContext`.
    ``proxy``: an ``http://`` proxy URL. ``http2``: negotiate HTTP/2 over TLS (needs ``h2``).
    ``max_connections``: concurrent connections (more requests wait, up to the ``pool`` timeout).
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
        self._pool = httpcore.ConnectionPool(**options)

    def send(self, request: Request) -> SyncResponse:
        """Send ``request``; return once the response head is in (the body is read lazily)."""
        with map_errors(request):
            response = self._pool.handle_request(_core_request(request))
        return SyncResponse(
            response.status,
            _headers(response),
            _iter_body(response, request),
            request=request,
            on_close=response.close,
        )

    def close(self) -> None:
        """Close every pooled connection."""
        self._pool.close()

    @property
    def connections(self) -> int:
        """Connections currently held by the pool (idle or busy)."""
        return len(self._pool.connections)

    def __repr__(self) -> str:
        return f"<HTTPCoreTransport connections={self.connections}>"


def _iter_body(response: httpcore.Response, request: Request) -> Iterator[bytes]:
    # httpcore closes the connection itself when iteration fails; we only translate the error.
    # It releases a connection to the pool on close(), so close as soon as the body is done.
    with map_errors(request):
        yield from response.stream  # type: ignore[misc]
        response.close()


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
        self._pool = httpcore.AsyncConnectionPool(**options)

    async def send(self, request: Request) -> AsyncResponse:
        """Send ``request``; return once the response head is in (the body is read lazily)."""
        with map_errors(request):
            response = await self._pool.handle_async_request(_core_request(request))
        body = _AsyncBody(response, request)
        return AsyncResponse(response.status, _headers(response), body, request=request, on_close=body.aclose)

    async def aclose(self) -> None:
        """Close every pooled connection."""
        await self._pool.aclose()

    @property
    def connections(self) -> int:
        """Connections currently held by the pool (idle or busy)."""
        return len(self._pool.connections)

    def __repr__(self) -> str:
        return f"<AsyncHTTPCoreTransport connections={self.connections}>"


class _AsyncBody:
    """httpcore's body iterator with errors translated and its generator closed explicitly.

    httpcore iterates with an async generator; left to the garbage collector it would be
    finalised late (and trio warns), so :meth:`aclose` closes it before the response.
    """

    __slots__ = ("_iterator", "_request", "_response")

    def __init__(self, response: httpcore.Response, request: Request) -> None:
        self._response = response
        self._request = request
        self._iterator: AsyncIterator[bytes] | None = None

    def __aiter__(self) -> _AsyncBody:
        return self

    async def __anext__(self) -> bytes:
        if self._iterator is None:
            stream = self._response.stream
            assert hasattr(stream, "__aiter__")
            self._iterator = stream.__aiter__()
        try:
            with map_errors(self._request):
                return await self._iterator.__anext__()
        except StopAsyncIteration:
            # httpcore releases a connection to the pool on close: do it as soon as the body ends.
            await self.aclose()
            raise

    async def aclose(self) -> None:
        iterator, self._iterator = self._iterator, None
        if iterator is not None and hasattr(iterator, "aclose"):
            await iterator.aclose()
        await self._response.aclose()
