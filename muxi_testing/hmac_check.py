"""The MUXI server's check of a control-plane request's ``Authorization`` header (docs/protocol.md §2).

Written from the server's rules, not shared with the client's signer (``muxi_proto.auth``), so
that a bug in the client shows up as a refusal here instead of being mirrored. The checks, in the
server's order, each with the server's reason:

1. no header -> ``Missing authorization header``;
2. not ``MUXI-HMAC key=<id>, timestamp=<unix s>, signature=<base64>`` (parameters separated by
   exactly ``", "``, unquoted, each once) -> ``Invalid authorization header format``;
3. another key id -> ``Invalid key``;
4. ``|now - timestamp| > tolerance`` seconds -> ``Request expired (timestamp too old or in future)``;
5. the signature is not base64 HMAC-SHA256, keyed with the secret's UTF-8 bytes, of
   ``"<timestamp>;<METHOD>;<path without query>"`` -> ``Invalid signature``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

__all__ = ["HMACRefused", "check_authorization"]

_PREFIX = "MUXI-HMAC "
_TIMESTAMP = re.compile(r"-?[0-9]{1,18}")
_NAMES = frozenset({"key", "timestamp", "signature"})


class HMACRefused(Exception):
    """The request is refused: ``reason`` is the server's message (answered with 401)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _parameters(header: str) -> dict[str, str]:
    """``key``, ``timestamp`` and ``signature``, each exactly once, in any order."""
    if not header.startswith(_PREFIX):
        raise HMACRefused("Invalid authorization header format")
    params: dict[str, str] = {}
    for part in header[len(_PREFIX):].split(", "):
        name, sep, value = part.partition("=")
        if not sep or not name or not value or name in params or name not in _NAMES:
            raise HMACRefused("Invalid authorization header format")
        params[name] = value
    if len(params) != len(_NAMES) or _TIMESTAMP.fullmatch(params["timestamp"]) is None:
        raise HMACRefused("Invalid authorization header format")
    return params


def check_authorization(
    header: str | None, method: str, path: str, *, key_id: str, secret: str, now: float, tolerance: int = 300
) -> None:
    """Return when the header authorises ``METHOD path``; raise :class:`HMACRefused` otherwise."""
    if not header:
        raise HMACRefused("Missing authorization header")
    params = _parameters(header)
    given_key, stamp, signature = params["key"], params["timestamp"], params["signature"]
    if not hmac.compare_digest(given_key.encode(), key_id.encode()):
        raise HMACRefused("Invalid key")
    timestamp = int(stamp)
    if abs(int(now) - timestamp) > tolerance:
        raise HMACRefused("Request expired (timestamp too old or in future)")
    message = f"{timestamp};{method.upper()};{path.split('?', 1)[0]}".encode()
    expected = base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()
    if not hmac.compare_digest(signature.encode(), expected.encode()):
        raise HMACRefused("Invalid signature")
