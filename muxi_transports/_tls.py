"""TLS settings shared by every transport: one ``verify=`` vocabulary, one SSL context builder."""

from __future__ import annotations

import os
import ssl
from typing import Union

from muxi_proto.errors import ConfigurationError

__all__ = ["VerifyTypes", "ssl_context"]

#: ``True`` (system CAs, the default), ``False`` (no verification: tests only), a CA bundle file
#: or directory path, or a ready :class:`ssl.SSLContext` (used as is).
VerifyTypes = Union[bool, str, "os.PathLike[str]", ssl.SSLContext]


def ssl_context(verify: VerifyTypes = True, *, alpn: list[str] | None = None) -> ssl.SSLContext:
    """A client SSL context for ``verify``; ``alpn`` protocols are set on contexts we create.

    A fresh context per call: httpcore sets ALPN on the context it is given, so sharing one
    between transports would let one transport's settings leak into another's.
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
