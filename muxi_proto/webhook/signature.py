"""Webhook signatures: the ``X-Muxi-Signature`` header, signing, and checking one.

The header is ``t=<unix s>,v1=<hex>``, the hex being HMAC-SHA256(secret, ``f"{t}."`` + the signed
bytes). The runtime signs the canonical JSON of the payload but, for completion and clarification
webhooks, sends other bytes (``json.dumps`` spacing and ``\\uXXXX`` escapes), so a signature counts
when it covers the raw body **or** a canonical re-serialisation of it (docs/protocol.md §12).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigurationError, WebhookVerificationError
from .body import JSONObject, Payload, body_bytes
from .canonical import canonical_json, canonical_variants

__all__ = [
    "DEFAULT_TOLERANCE",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "sign",
    "verify_signature",
]

SIGNATURE_HEADER = "X-Muxi-Signature"
TIMESTAMP_HEADER = "X-Muxi-Timestamp"
DEFAULT_TOLERANCE = 300
"""Seconds a signature timestamp may differ from the clock, in the past or the future."""

_MAX_HEADER_CHARS = 8192  # bounds the parsing work an attacker can ask for
_MAX_T_DIGITS = 15
_DIGEST_HEX_CHARS = 64
_RUNTIME_HEADER = re.compile(r"t=([0-9]{1,15}),v1=([0-9a-f]{64})").fullmatch  # exactly what the runtime sends


def sign(payload: Payload | JSONObject, secret: str | bytes, *, timestamp: int) -> str:
    """The ``X-Muxi-Signature`` value the runtime would send for ``payload`` at ``timestamp``.

    Bytes and str payloads are signed as given; a dict is signed in its :func:`canonical_json` form
    (send it in any JSON spelling). ``timestamp`` is Unix seconds.
    """
    key = secret_bytes(secret)
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise ConfigurationError(message="timestamp must be a non-negative int (Unix seconds)")
    body = canonical_json(payload) if isinstance(payload, Mapping) else body_bytes(payload)
    digest = hmac.new(key, b"%d." % timestamp + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(
    payload: Payload,
    signature_header: str | bytes | None,
    secret: str | bytes,
    tolerance: float = DEFAULT_TOLERANCE,
    *,
    tolerance_seconds: float | None = None,
    now: float | None = None,
) -> bool:
    """True when ``signature_header`` is a valid, fresh signature of ``payload`` by ``secret``.

    ``payload`` is the raw request body. The header is ``t=<unix s>,v1=<hex>`` (more ``v1`` entries
    allowed, other schemes ignored, spaces after commas tolerated). ``|now - t|`` must be at most
    ``tolerance`` seconds (``tolerance_seconds=`` is the official SDK's name for it); ``now``
    defaults to the real clock. Returns False for a missing, empty or malformed header. Raises
    :class:`WebhookVerificationError` for an empty secret (checked first, so a misconfiguration shows
    on the first request) or a payload that is not bytes/str, and :class:`ConfigurationError` for a
    negative tolerance or two different tolerances.
    """
    # The common call (str secret, default tolerance, the runtime's header shape, a bytes body
    # signed as sent) is done inline: this runs per request. Everything else takes find_signature.
    key = (
        secret.encode("utf-8", "surrogatepass")
        if isinstance(secret, str) and secret
        else secret_bytes(secret)
    )
    if tolerance_seconds is not None or type(tolerance) is not int or tolerance < 0:
        tolerance = check_tolerance(tolerance, tolerance_seconds)
    clock_now = time.time() if now is None else now
    if type(payload) is bytes and type(signature_header) is str:
        exact = _RUNTIME_HEADER(signature_header)
        if exact is not None:
            t = int(exact[1])
            if not abs(clock_now - t) <= tolerance:  # written so that a NaN clock fails closed
                return False
            candidate = bytes.fromhex(exact[2])
            mac = _keyed(key)
            mac.update(b"%d." % t + payload)
            if hmac.compare_digest(mac.digest(), candidate):
                return True
            return _match_canonical(payload, t, (key,), [candidate]) is not None
    return find_signature(payload, signature_header, (key,), tolerance, clock_now) is not None


def find_signature(
    payload: Payload,
    header: str | bytes | None,
    keys: tuple[bytes, ...],
    tolerance: float,
    now: float,
) -> tuple[int, bytes] | None:
    """The timestamp and the matching digest of a valid, fresh signature by one of ``keys``, or None.

    The one implementation behind :func:`verify_signature` and ``WebhookVerifier``.
    """
    body = payload if type(payload) is bytes else body_bytes(payload)
    parsed = _parse_header(header)
    if parsed is None:
        return None
    t, candidates = parsed
    if not abs(now - t) <= tolerance:  # written so that a NaN clock fails closed
        return None
    # The raw body first: it is what a well-behaved sender signs, and costs no JSON work.
    digest = _match(b"%d." % t + body, keys, candidates)
    if digest is not None:
        return t, digest
    return _match_canonical(body, t, keys, candidates)


def _match_canonical(
    body: bytes, t: int, keys: tuple[bytes, ...], candidates: list[bytes]
) -> tuple[int, bytes] | None:
    """A signature over a canonical re-serialisation of ``body`` (the raw body did not match)."""
    prefix = b"%d." % t
    for canonical in canonical_variants(body):
        digest = _match(prefix + canonical, keys, candidates)
        if digest is not None:
            return t, digest
    return None


def _match(message: bytes, keys: tuple[bytes, ...], candidates: list[bytes]) -> bytes | None:
    for key in keys:
        mac = _keyed(key)
        mac.update(message)
        digest = mac.digest()
        for candidate in candidates:
            if hmac.compare_digest(digest, candidate):
                return digest
    return None


# HMAC objects already keyed, per secret: copying one skips the key set-up (a third of the cost of
# a 350-byte webhook). A handful of secrets at most, so the cache is small and simply reset.
_KEYED_MAX = 16
_keyed_cache: dict[bytes, hmac.HMAC] = {}


def _keyed(key: bytes) -> hmac.HMAC:
    """A fresh HMAC-SHA256 object for ``key``, ready for ``update``."""
    base = _keyed_cache.get(key)
    if base is None:
        if len(_keyed_cache) >= _KEYED_MAX:
            _keyed_cache.clear()
        base = _keyed_cache[key] = hmac.new(key, digestmod=hashlib.sha256)
    return base.copy()


def _parse_header(header: str | bytes | None) -> tuple[int, list[bytes]] | None:
    """``(t, [v1 digests])`` from ``t=<s>,v1=<hex>[,...]``, or None when malformed."""
    if isinstance(header, (bytes, bytearray)):
        header = header.decode("latin-1")  # ASGI/WSGI header bytes; every byte decodes
    if not isinstance(header, str) or not header or len(header) > _MAX_HEADER_CHARS:
        return None
    exact = _RUNTIME_HEADER(header)
    if exact is not None:  # the common case, without the general loop below
        return int(exact[1]), [bytes.fromhex(exact[2])]
    t: int | None = None
    candidates: list[bytes] = []
    for part in header.split(","):
        name, sep, value = part.partition("=")
        if not sep:
            return None
        name, value = name.strip(), value.strip()
        if name == "t":
            if t is not None or not (value.isascii() and value.isdigit()) or len(value) > _MAX_T_DIGITS:
                return None
            t = int(value)
        elif name == "v1" and len(value) == _DIGEST_HEX_CHARS:
            try:
                digest = bytes.fromhex(value)
            except ValueError:
                continue  # not hex: it can never match; another v1 still may
            if len(digest) == _DIGEST_HEX_CHARS // 2:  # fromhex skips whitespace; insist on 64 hex
                candidates.append(digest)
        # Other schemes (v0, future ones) are ignored, as are v1 values of the wrong length.
    if t is None or not candidates:
        return None
    return t, candidates


def secret_bytes(secret: Any) -> bytes:
    """A webhook secret as bytes; :class:`WebhookVerificationError` when empty or not str/bytes."""
    if isinstance(secret, str) and secret:
        return secret.encode("utf-8", "surrogatepass")
    if isinstance(secret, (bytes, bytearray)) and secret:
        return bytes(secret)
    raise WebhookVerificationError(message="a non-empty webhook secret (str or bytes) is required")


def check_tolerance(tolerance: float, tolerance_seconds: float | None) -> float:
    """The tolerance in force, given both spellings; :class:`ConfigurationError` when unusable."""
    if tolerance_seconds is not None:
        if tolerance not in (DEFAULT_TOLERANCE, tolerance_seconds):
            raise ConfigurationError(message="give tolerance or tolerance_seconds, not both")
        tolerance = tolerance_seconds
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not tolerance >= 0:
        raise ConfigurationError(message="tolerance must be a non-negative number of seconds")
    return tolerance
