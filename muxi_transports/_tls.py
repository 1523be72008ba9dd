"""TLS settings shared by every transport: one ``verify=`` vocabulary, one SSL context builder.

Building a context with the system CAs costs about 20 ms, so ``verify=True`` and ``verify=False``
(the two forms that cannot differ between transports) use one process-wide context per ALPN list,
made on first need (:func:`shared_ssl_context`). A CA path or a context of the caller's is used per
transport, as given.
"""

from __future__ import annotations

import os
import ssl
import threading
from collections.abc import Iterable, Sequence
from typing import Final, Union

from muxi_proto.errors import ConfigurationError

__all__ = ["HTTP1_ALPN", "VerifyTypes", "http1_ssl_context", "shared_ssl_context", "ssl_context"]

#: What the h11 transports (HTTP/1.1 only) offer in the TLS handshake.
HTTP1_ALPN: Final = ("http/1.1",)

#: ``True`` (system CAs, the default), ``False`` (no verification: tests only), a CA bundle file
#: or directory path, or a ready :class:`ssl.SSLContext` (used as is).
VerifyTypes = Union[bool, str, "os.PathLike[str]", ssl.SSLContext]


def ssl_context(verify: VerifyTypes = True, *, alpn: list[str] | None = None) -> ssl.SSLContext:
    """A client SSL context for ``verify``; ``alpn`` protocols are set on contexts we create.

    A fresh context per call (a caller's own context is returned as it is); for contexts shared
    between transports see :func:`shared_ssl_context`.
    """
    if isinstance(verify, ssl.SSLContext):
        return verify
    if verify is True:
        ctx = ssl.create_default_context()
    elif verify is False:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif isinstance(verify, str | os.PathLike):
        path = os.fspath(verify)
        if os.path.isdir(path):
            ctx = ssl.create_default_context(capath=path)
        elif os.path.isfile(path):
            ctx = ssl.create_default_context(cafile=path)
        else:
            raise ConfigurationError("INVALID_VERIFY", f"CA bundle not found: {path}")
    else:  # untyped callers
        kind = type(verify).__name__  # type: ignore[unreachable]
        raise ConfigurationError(
            "INVALID_VERIFY", f"verify must be a bool, a CA bundle path or an ssl.SSLContext, not {kind}"
        )
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


class _PinnedALPN(ssl.SSLContext):
    """A context whose ALPN protocols were fixed when it was made: it is shared, so it never changes.

    httpcore calls ``set_alpn_protocols`` on its context before every TLS connection. On a shared
    context that would be a write racing other threads' handshakes (CPython creates each connection's
    SSL object from the context without holding the GIL), and a different list would leak from one
    transport to another. Here the list it was made with is accepted and changes nothing.
    """

    _muxi_alpn: list[str]

    def set_alpn_protocols(self, alpn_protocols: Iterable[str]) -> None:
        if list(alpn_protocols) != self._muxi_alpn:
            raise ConfigurationError(
                "SHARED_SSL_CONTEXT", "the ALPN protocols of a shared SSL context cannot change"
            )


_shared: dict[tuple[bool, tuple[str, ...]], ssl.SSLContext] = {}
_shared_lock = threading.Lock()


def shared_ssl_context(verify: bool, alpn: Sequence[str]) -> ssl.SSLContext:
    """The process-wide client context for ``verify=True``/``False`` offering ``alpn``, made on first use.

    Its ALPN list is fixed: setting the same list again changes nothing, another list raises
    :class:`ConfigurationError`. Transports that would set different lists get different contexts.
    """
    key = (verify, tuple(alpn))
    ctx = _shared.get(key)
    if ctx is None:
        with _shared_lock:  # two transports made at once build one context, not two
            ctx = _shared.get(key)
            if ctx is None:
                ctx = ssl_context(verify, alpn=list(alpn))
                # The stdlib's defaults exactly as create_default_context made them (they vary by Python
                # version); only set_alpn_protocols changes.
                ctx.__class__ = _PinnedALPN
                assert isinstance(ctx, _PinnedALPN)
                ctx._muxi_alpn = list(alpn)
                _shared[key] = ctx
    return ctx


def http1_ssl_context(verify: VerifyTypes) -> ssl.SSLContext:
    """The context of a transport that offers HTTP/1.1 only (socket, anyio, trio).

    ``True`` and ``False`` give the process-wide context; such transports ask for it at their first
    TLS connection, so plain HTTP never pays for loading CAs. A CA path or a caller's context gives a
    context of its own; they ask for it when made, so a bad path fails at once.
    """
    if isinstance(verify, bool):
        return shared_ssl_context(verify, HTTP1_ALPN)
    return ssl_context(verify, alpn=list(HTTP1_ALPN))
