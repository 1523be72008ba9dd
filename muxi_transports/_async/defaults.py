"""A client's default transport (the rule and its reasons: :mod:`muxi_transports._defaults`)."""

from __future__ import annotations

from collections.abc import Mapping

from .._defaults import given, httpcore_settings
from ..anyio_transport import AnyIOTransport  # sync: from ..socket_transport import SocketTransport
from .base import AsyncTransport
from .httpcore_transport import AsyncHTTPCoreTransport

__all__ = ["async_transport", "choose_async"]


def async_transport(
    url: str,
    *,
    proxy: str | None = None,
    trust_env: bool = True,
    http2: bool = False,
    max_connections: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> AsyncTransport:
    """The default transport of a client of ``url`` (``environ``: ``os.environ``)."""
    settings = httpcore_settings(url, proxy, trust_env, http2, max_connections, environ)
    if settings is not None:
        return AsyncHTTPCoreTransport(**settings)  # type: ignore[arg-type]
    return AnyIOTransport(trust_env=trust_env)  # sync: return SocketTransport(trust_env=trust_env)


def choose_async(
    transport: AsyncTransport | None, url: str, *, proxy: str | None, trust_env: bool, http2: bool,
    max_connections: int | None,
) -> tuple[AsyncTransport, bool]:
    """``(transport, owned)`` for a client: the one passed in (the caller's), or the default."""
    if given(transport, proxy, http2, max_connections):
        assert transport is not None
        return transport, False
    return async_transport(url, proxy=proxy, trust_env=trust_env, http2=http2, max_connections=max_connections), True
