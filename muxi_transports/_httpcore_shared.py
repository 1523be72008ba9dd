"""What the two httpcore transports share: pool options and TLS, request and header conversion, and
what a failure means.

The transports themselves are ``_async/httpcore_transport.py`` and its generated blocking twin;
:mod:`muxi_transports.httpcore_transport` is their public home. The workarounds for httpcore itself
are in :mod:`._httpcore_compat`.
"""

from __future__ import annotations

import functools
import importlib.util
import ssl
from typing import Any, NoReturn
from urllib.parse import unquote, urlsplit

import httpcore

from muxi_proto.errors import ConfigurationError
from muxi_proto.http import Headers, Request, Timeout

from ._deadline import Attempt, Retirable
from ._errors import ClosedBeforeResponse, IncompleteBody
from ._h11_exchange import wire_headers
from ._httpcore_compat import RequestBody
from ._proxies import validate_proxy
from ._tls import HTTP1_ALPN, VerifyTypes, shared_ssl_context, ssl_context

__all__ = [
    "core_request",
    "discard",
    "has_idle",
    "origin_ssl_context",
    "pool_options",
    "pool_wait_cut",
    "raise_body_failure",
    "raise_head_failure",
    "response_headers",
]


def _proxy(url: str | None, verify: VerifyTypes, trust_env: bool) -> httpcore.Proxy | None:
    """An httpcore proxy for ``http(s)://[user:password@]host:port``; credentials move to ``auth``.

    An ``https://`` proxy is reached over TLS, verified as ``verify`` says (HTTP/1.1 only).
    """
    if url is None:
        return None
    parts = urlsplit(validate_proxy(url))
    proxy_tls = None
    if parts.scheme.lower() == "https":
        proxy_tls = origin_ssl_context(verify, False, trust_env) if isinstance(verify, bool) else ssl_context(
            verify, alpn=list(HTTP1_ALPN))
    if parts.username is None:
        return httpcore.Proxy(url, ssl_context=proxy_tls)
    auth = (unquote(parts.username), unquote(parts.password or ""))
    bare = parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()
    return httpcore.Proxy(bare, auth=auth, ssl_context=proxy_tls)


def pool_options(
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
        "ssl_context": origin_ssl_context(verify, http2, trust_env),
        "proxy": _proxy(proxy, verify, trust_env),
        "max_connections": max_connections,
        "max_keepalive_connections": max_idle_connections,
        "keepalive_expiry": keepalive_expiry,
        "http1": True,
        "http2": http2,
    }


def origin_ssl_context(verify: VerifyTypes, http2: bool, trust_env: bool = True) -> ssl.SSLContext:
    """The context for TLS to origins: for ``verify=True``/``False``, one per process and ALPN list.

    httpcore sets ``["http/1.1", "h2"]`` or ``["http/1.1"]`` on it before each connection, the very
    list the shared context was made with, so pools with either setting can share safely.
    """
    if isinstance(verify, bool):
        return shared_ssl_context(verify, ["http/1.1", "h2"] if http2 else ["http/1.1"], trust_env=trust_env)
    return ssl_context(verify)


def pool_wait_cut(timeout: Timeout) -> bool:
    """Is the pool wait limited by ``total`` rather than by ``pool``?"""
    return timeout.total is not None and (timeout.pool is None or timeout.pool > timeout.total)


def core_request(request: Request, origin: tuple[str, str, int]) -> httpcore.Request:
    timeout = request.timeout
    scheme, host, port = origin
    # httpcore's own pool queue (async transport) waits no longer than the deadline allows.
    pool = timeout.total if pool_wait_cut(timeout) else timeout.pool
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


def has_idle(pool: httpcore.ConnectionPool | httpcore.AsyncConnectionPool, origin: tuple[str, str, int]) -> bool:
    """Is there an idle keep-alive connection the request may go out on?"""
    connections = pool.connections
    if not connections:
        return False
    core_origin = _core_origin(origin)
    return any(conn.is_idle() and conn.can_handle_request(core_origin) for conn in connections)


def raise_head_failure(exc: Exception, attempt: Attempt) -> NoReturn:
    """Raise what a failure before the response head means, told by what the connection saw, not by
    the message: httpcore raises ``RemoteProtocolError`` both for a malformed head and for a server
    that closed the connection before its head was complete; only the second met the end of it."""
    if isinstance(exc, httpcore.RemoteProtocolError) and attempt.peer_closed:
        raise ClosedBeforeResponse(attempt.received) from exc
    raise exc


def raise_body_failure(exc: Exception, attempt: Attempt) -> NoReturn:
    """The same while reading the body: cut short by the end of the connection, or malformed."""
    if isinstance(exc, httpcore.RemoteProtocolError) and attempt.peer_closed:
        raise IncompleteBody("the server closed the connection before the end of the body") from exc
    raise exc


def discard(response: httpcore.Response) -> None:
    """Make the pool close ``response``'s connection when the response is closed, not reuse it."""
    stream = response.extensions.get("network_stream")
    if isinstance(stream, Retirable):
        stream.discard()


def response_headers(response: httpcore.Response) -> Headers:
    return tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers)
