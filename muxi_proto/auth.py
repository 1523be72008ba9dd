"""MUXI-HMAC request signing for the control plane, and the server's own verification.

The server signs nothing but ``f"{timestamp};{METHOD};{path}"`` (no query, no body) with
HMAC-SHA256 keyed by the secret's UTF-8 bytes, base64 with padding. :func:`verify_request`
reproduces the server's checks in the server's order, with its exact failure messages, for users'
own servers and tests. (The local server has a check of its own, ``muxi_testing.hmac_check``, so a
bug here is refused there rather than mirrored.)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from .errors import AuthenticationError

__all__ = [
    "SCHEME",
    "compute_signature",
    "parse_authorization",
    "sign_request",
    "verify_request",
]

SCHEME = "MUXI-HMAC"

# The server's failure reasons, in the order it checks them (docs/protocol.md §2).
MISSING_HEADER = "Missing authorization header"
INVALID_FORMAT = "Invalid authorization header format"
INVALID_KEY = "Invalid key"
EXPIRED = "Request expired (timestamp too old or in future)"
INVALID_SIGNATURE = "Invalid signature"

_TIMESTAMP = re.compile(r"-?[0-9]{1,18}")


def _strip_query(path: str) -> str:
    return path.split("?", 1)[0]


def compute_signature(secret_key: str, timestamp: int | str, method: str, path: str) -> str:
    """Base64 HMAC-SHA256 of ``"{timestamp};{METHOD};{path}"`` (query removed)."""
    message = f"{timestamp};{method.upper()};{_strip_query(path)}".encode()
    digest = hmac.new(secret_key.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def sign_request(method: str, path: str, *, key_id: str, secret_key: str, timestamp: int) -> str:
    """The ``Authorization`` header value for one attempt of a control-plane request.

    Sign every attempt afresh (retries included): the server rejects timestamps more than five
    minutes away from its clock.
    """
    signature = compute_signature(secret_key, int(timestamp), method, path)
    return f"{SCHEME} key={key_id}, timestamp={int(timestamp)}, signature={signature}"


def parse_authorization(authorization: str) -> dict[str, str]:
    """Split ``MUXI-HMAC key=..., timestamp=..., signature=...`` into its parameters.

    Raises :class:`AuthenticationError` (``Invalid authorization header format``) for anything that
    is not exactly that shape: parameters are separated by ``", "`` and values are unquoted.
    """
    prefix = SCHEME + " "
    if not authorization.startswith(prefix):
        raise _unauthorized(INVALID_FORMAT)
    params: dict[str, str] = {}
    for part in authorization[len(prefix):].split(", "):
        name, sep, value = part.partition("=")
        if not sep or not name or not value or name in params:
            raise _unauthorized(INVALID_FORMAT)
        params[name] = value
    if set(params) != {"key", "timestamp", "signature"}:
        raise _unauthorized(INVALID_FORMAT)
    if _TIMESTAMP.fullmatch(params["timestamp"]) is None:
        raise _unauthorized(INVALID_FORMAT)
    return params


def verify_request(
    authorization: str | None,
    method: str,
    path: str,
    *,
    key_id: str,
    secret_key: str,
    now: float,
    tolerance: int = 300,
) -> None:
    """Check a request's ``Authorization`` header as the MUXI server does.

    Returns None when valid; raises :class:`AuthenticationError` whose message is the server's
    reason: missing header, bad format, unknown key, timestamp outside ``±tolerance`` seconds of
    ``now`` (inclusive), wrong signature. ``path`` may include a query; it is not signed.
    """
    if not authorization:
        raise _unauthorized(MISSING_HEADER)
    params = parse_authorization(authorization)
    if not hmac.compare_digest(params["key"].encode(), key_id.encode()):
        raise _unauthorized(INVALID_KEY)
    timestamp = int(params["timestamp"])
    if abs(int(now) - timestamp) > tolerance:
        raise _unauthorized(EXPIRED)
    expected = compute_signature(secret_key, timestamp, method, path)
    if not hmac.compare_digest(params["signature"].encode(), expected.encode()):
        raise _unauthorized(INVALID_SIGNATURE)


def _unauthorized(reason: str) -> AuthenticationError:
    return AuthenticationError(
        "UNAUTHORIZED",
        reason,
        401,
        {"error": "Unauthorized", "message": reason, "code": 401},
    )
