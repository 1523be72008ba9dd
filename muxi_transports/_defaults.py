"""The clients' default transport: the fastest one that can serve the configuration.

- Blocking clients: :class:`~.socket_transport.SocketTransport`; async clients (asyncio and trio
  alike): :class:`~.anyio_transport.AnyIOTransport`. Our own HTTP/1.1 (h11's rules, a fast path
  for plain responses), the fastest per call and per streamed event in ``make bench``.
- httpcore's :class:`~.httpcore_transport.HTTPCoreTransport` /
  :class:`~.httpcore_transport.AsyncHTTPCoreTransport` instead, with the same settings, wherever
  only they can serve: a proxy (``proxy=``, or from the environment: see :mod:`._proxies`),
  ``http2=True``, or a cap on connections in flight (``max_connections=``).

The choice is made once, when the client is made: a client talks to one origin, so its proxy is
known then, and ``AnyIOTransport`` runs under whichever event loop the requests come from (asyncio
or trio), so a client made outside any loop is served as well as one made inside. A client given a
``transport=`` uses that one and reads no proxy variables.

To choose httpcore yourself, pass it: ``FormationClient(transport=HTTPCoreTransport())``.

The rule is written once here; ``_async/defaults.py`` (and the blocking ``_sync/defaults.py``
generated from it) applies it with each side's transports.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from muxi_proto.errors import ConfigurationError

from ._proxies import select_proxy

__all__ = ["given", "httpcore_settings"]

_HTTPCORE_CAP = 100  # httpcore transports' own default for max_connections


def httpcore_settings(
    url: str, proxy: str | None, trust_env: bool, http2: bool, max_connections: int | None,
    environ: Mapping[str, str] | None,
) -> dict[str, object] | None:
    """The httpcore transport's settings when only httpcore can serve, else None."""
    chosen = select_proxy(url, proxy=proxy, trust_env=trust_env, environ=os.environ if environ is None else environ)
    if chosen is None and not http2 and max_connections is None:
        return None
    cap = _HTTPCORE_CAP if max_connections is None else max_connections
    return {"proxy": chosen, "http2": http2, "max_connections": cap, "trust_env": trust_env}


def given(transport: object, proxy: str | None, http2: bool, max_connections: int | None) -> bool:
    """Is ``transport`` the caller's? (Then transport settings on the client would go unused.)"""
    if transport is None:
        return False
    if proxy is not None or http2 or max_connections is not None:
        raise ConfigurationError(
            "INVALID_CONFIG", "proxy=, http2= and max_connections= configure the default transport: "
            "give them to the transport you pass instead"
        )
    return True
