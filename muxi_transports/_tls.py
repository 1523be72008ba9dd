"""TLS settings shared by every transport: one ``verify=`` vocabulary, one SSL context builder.

Building a context with the system CAs takes milliseconds (loading and parsing them), so
``verify=True`` and ``verify=False`` (the two forms that cannot differ between transports) use one
process-wide context per ALPN list, made on first need (:func:`shared_ssl_context`). A CA path or
a context of the caller's is used per transport, as given.

``verify=True`` trusts the system's CAs, or, as with httpx, those of ``SSL_CERT_FILE`` (a PEM
bundle, then the only CAs) or else ``SSL_CERT_DIR`` (a hashed directory), read when a transport
makes its context (``trust_env=False``: neither is read).
"""

from __future__ import annotations

import os
import ssl
import threading
from collections.abc import Sequence
from typing import Final, Union

from muxi_proto.errors import ConfigurationError

from ._httpcore_compat import pin_alpn

__all__ = ["CA_VARIABLES", "HTTP1_ALPN", "VerifyTypes", "http1_ssl_context", "shared_ssl_context", "ssl_context"]

#: The environment variables ``verify=True`` reads (when ``trust_env``), in the order it tries them.
CA_VARIABLES: Final = ("SSL_CERT_FILE", "SSL_CERT_DIR")

#: What the h11 transports (HTTP/1.1 only) offer in the TLS handshake.
HTTP1_ALPN: Final = ("http/1.1",)

#: ``True`` (system CAs, the default), ``False`` (no verification: tests only), a CA bundle file
#: or directory path, or a ready :class:`ssl.SSLContext` (used as is).
VerifyTypes = Union[bool, str, "os.PathLike[str]", ssl.SSLContext]


def _ca_source(trust_env: bool) -> tuple[str | None, str | None]:
    """``(cafile, capath)`` for ``verify=True``: the environment's, or ``(None, None)`` for the system's."""
    file, directory = (os.environ.get(name) or None for name in CA_VARIABLES)
    if trust_env:
        return (file, None) if file else (None, directory)
    if file or directory:
        # OpenSSL's own default paths honour these variables too: name the built-in paths instead.
        # (Where neither exists, the system store is all there is, variables included.)
        paths = ssl.get_default_verify_paths()
        cafile = paths.openssl_cafile if os.path.isfile(paths.openssl_cafile) else None
        capath = paths.openssl_capath if os.path.isdir(paths.openssl_capath) else None
        return cafile, capath
    return None, None


def _verifying_context(source: tuple[str | None, str | None]) -> ssl.SSLContext:
    cafile, capath = source
    if cafile is None and capath is None:
        return ssl.create_default_context()
    try:
        return ssl.create_default_context(cafile=cafile, capath=capath)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(
            "INVALID_VERIFY", f"cannot load the CA certificates of {cafile or capath} ({exc})"
        ) from exc


def ssl_context(
    verify: VerifyTypes = True, *, alpn: list[str] | None = None, trust_env: bool = True
) -> ssl.SSLContext:
    """A client SSL context for ``verify``; ``alpn`` protocols are set on contexts we create.

    A fresh context per call (a caller's own context is returned as it is); for contexts shared
    between transports see :func:`shared_ssl_context`. ``trust_env``: ``verify=True`` takes the
    CAs of ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when set.
    """
    if isinstance(verify, ssl.SSLContext):
        return verify
    if verify is True:
        ctx = _verifying_context(_ca_source(trust_env))
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


_shared: dict[tuple[bool, tuple[str, ...], tuple[str | None, str | None]], ssl.SSLContext] = {}
_shared_lock = threading.Lock()


def shared_ssl_context(verify: bool, alpn: Sequence[str], *, trust_env: bool = True) -> ssl.SSLContext:
    """The process-wide client context for ``verify=True``/``False`` offering ``alpn``, made on first use.

    One per ALPN list and, for ``verify=True``, per CA source (the environment's CA variables as
    they are now, or the system store). Its ALPN list is fixed (:func:`~._httpcore_compat.pin_alpn`):
    setting the same list again changes nothing, another list raises :class:`ConfigurationError`.
    """
    key = (verify, tuple(alpn), _ca_source(trust_env) if verify else (None, None))
    ctx = _shared.get(key)
    if ctx is None:
        with _shared_lock:  # two transports made at once build one context, not two
            ctx = _shared.get(key)
            if ctx is None:
                ctx = pin_alpn(ssl_context(verify, alpn=list(alpn), trust_env=trust_env), alpn)
                _shared[key] = ctx
    return ctx


def http1_ssl_context(verify: VerifyTypes, *, trust_env: bool = True) -> ssl.SSLContext:
    """The context of a transport that offers HTTP/1.1 only (socket, anyio, trio).

    ``True`` and ``False`` give the process-wide context; such transports ask for it at their first
    TLS connection, so plain HTTP never pays for loading CAs. A CA path or a caller's context gives a
    context of its own; they ask for it when made, so a bad path fails at once.
    """
    if isinstance(verify, bool):
        return shared_ssl_context(verify, HTTP1_ALPN, trust_env=trust_env)
    return ssl_context(verify, alpn=list(HTTP1_ALPN))
