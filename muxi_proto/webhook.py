"""MUXI webhooks: signature verification, signing and typed parsing.

The runtime POSTs a JSON body with ``X-Muxi-Signature: t=<unix s>,v1=<hex>``, where the hex is
HMAC-SHA256(secret, ``f"{t}."`` + canonical JSON of the payload). It signs the *canonical* form
(compact, sorted keys, UTF-8) but, for completion and clarification webhooks, sends the body with
``json.dumps`` defaults (spaces, ``\\uXXXX`` escapes). So a signature is accepted when it matches
the raw body **or** the canonical re-serialisation of the parsed body (PROTOCOL.md section 12)::

    from muxi import webhook

    if not webhook.verify_signature(payload, signature, WEBHOOK_SECRET):
        ...  # reject with 401
    event = webhook.parse(payload)

Pure: no I/O. The clock is read with :func:`time.time` unless one is injected (``now=``, or the
``clock`` of a :class:`WebhookVerifier`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from heapq import heappop, heappush
from typing import Any, Protocol, TypeAlias

from .errors import ConfigurationError, WebhookVerificationError

__all__ = [
    "DEFAULT_TOLERANCE",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "Clarification",
    "ContentItem",
    "ErrorDetails",
    "MemoryReplayStore",
    "ReplayStore",
    "WebhookEvent",
    "WebhookVerificationError",
    "WebhookVerifier",
    "canonical_json",
    "parse",
    "sign",
    "verify_signature",
]

SIGNATURE_HEADER = "X-Muxi-Signature"
TIMESTAMP_HEADER = "X-Muxi-Timestamp"
DEFAULT_TOLERANCE = 300
"""Seconds a signature timestamp may differ from the clock, in the past or the future."""

Payload: TypeAlias = "bytes | bytearray | memoryview | str"
JSONObject: TypeAlias = "Mapping[str, Any]"

_MAX_HEADER_CHARS = 8192  # bounds the parsing work an attacker can ask for
_MAX_T_DIGITS = 15
_DIGEST_HEX_CHARS = 64
_RUNTIME_HEADER = re.compile(r"t=([0-9]{1,15}),v1=([0-9a-f]{64})").fullmatch  # exactly what the runtime sends
_MS_THRESHOLD = 100_000_000_000  # 1e11: as seconds that is the year 5138, as milliseconds 1973


# --- typed event --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContentItem:
    """One item of a completed response: ``type`` is ``"text"`` (``text`` set) or ``"file"``."""

    type: str
    text: str | None = None
    file: dict[str, Any] | None = None
    raw: Any = None
    """The item as received (a dict, or whatever the runtime sent)."""

    @classmethod
    def from_dict(cls, data: Any) -> ContentItem:
        """Build from one element of the payload's ``response`` list (never raises)."""
        if isinstance(data, str):  # a bare string is a text item; keep it rather than drop it
            return cls(type="text", text=data, raw=data)
        if not isinstance(data, Mapping):
            return cls(type="unknown", raw=data)
        kind = data.get("type")
        text = data.get("text")
        file = data.get("file")
        return cls(
            type=kind if isinstance(kind, str) else "text",
            text=text if isinstance(text, str) else None,
            file=dict(file) if isinstance(file, Mapping) else None,
            raw=data,
        )


@dataclass(frozen=True)
class ErrorDetails:
    """Why a request failed (``status == "failed"``)."""

    code: str
    message: str
    trace: str | None = None

    @classmethod
    def from_dict(cls, data: Any) -> ErrorDetails:
        """Build from the payload's ``error`` value (an object, or a bare message string)."""
        if not isinstance(data, Mapping):
            return cls(code="unknown", message=str(data))
        code, message, trace = data.get("code"), data.get("message"), data.get("trace")
        return cls(
            code=_text(code) or "unknown",
            message=_text(message) or "Unknown error",
            trace=_text(trace),
        )


@dataclass(frozen=True)
class Clarification:
    """The question of an ``awaiting_clarification`` webhook."""

    question: str
    clarification_request_id: str | None = None
    original_message: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Clarification:
        """Build from the whole clarification payload (its keys are top-level)."""
        return cls(
            question=_text(data.get("clarification_question")) or "",
            clarification_request_id=_text(data.get("clarification_request_id")),
            original_message=_text(data.get("original_message")),
        )


@dataclass(frozen=True)
class WebhookEvent:
    """A parsed webhook, whichever of the runtime's three shapes it came in.

    - completion (``kind == "response"``): ``status`` ``"completed"`` or ``"failed"``, ``content``
      from ``response``, ``error``, ``processing_time``...;
    - clarification (``kind == "clarification"``): ``status == "awaiting_clarification"`` and
      ``clarification``;
    - retry escalation (``kind == "escalation"``): ``state`` (``"achieved"``, ``"impossible"``,
      ``"stuck"``, ...), ``attempts``, and ``result`` or ``report``; it has no ``status`` key, so
      ``status`` holds the state.

    ``timestamp`` is always whole **Unix seconds** (0 when absent or unreadable), whether the
    runtime sent milliseconds (completions), float seconds (clarifications, escalations) or an ISO
    string; ``timestamp_raw`` is the value as sent and :attr:`occurred_at` keeps sub-second
    precision. ``raw`` is the whole payload.
    """

    request_id: str
    status: str
    timestamp: int
    content: list[ContentItem] = field(default_factory=list)
    error: ErrorDetails | None = None
    clarification: Clarification | None = None
    formation_id: str | None = None
    user_id: str | None = None
    processing_time: float | None = None
    processing_mode: str = "async"
    webhook_url: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    timestamp_raw: Any = None
    kind: str = "response"
    state: str | None = None
    attempts: int | None = None
    result: Any = None
    report: Any = None

    @property
    def occurred_at(self) -> datetime | None:
        """The timestamp as an aware UTC datetime (sub-second precision), or None."""
        seconds = _timestamp_seconds(self.timestamp_raw)
        if seconds is None:
            return None
        try:
            return datetime.fromtimestamp(seconds, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None

    @property
    def text(self) -> str:
        """All text items of ``content`` joined (``""`` when there are none)."""
        return "".join(item.text for item in self.content if item.type == "text" and item.text)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WebhookEvent:
        """Build from a decoded payload; never raises for any JSON object."""
        raw = data if isinstance(data, dict) else dict(data)
        state = _text(raw.get("state"))
        status = _text(raw.get("status")) or state or "unknown"
        if status == "awaiting_clarification" or "clarification_question" in raw:
            kind = "clarification"
        elif "status" not in raw and "state" in raw:
            kind = "escalation"
        else:
            kind = "response"

        error = raw.get("error")
        attempts = raw.get("attempts")
        timestamp_raw = raw.get("timestamp")
        seconds = _timestamp_seconds(timestamp_raw)
        mode = raw.get("processing_mode")
        return cls(
            request_id=_text(raw.get("request_id")) or _text(raw.get("id")) or "",
            status=status,
            timestamp=math.floor(seconds) if seconds is not None else 0,
            content=_content(raw.get("response")),
            error=ErrorDetails.from_dict(error) if error else None,
            clarification=Clarification.from_dict(raw) if kind == "clarification" else None,
            formation_id=_text(raw.get("formation_id")),
            user_id=_text(raw.get("user_id")),
            processing_time=_number(raw.get("processing_time")),
            processing_mode=mode if isinstance(mode, str) else "async",
            webhook_url=_text(raw.get("webhook_url")),
            raw=raw,
            timestamp_raw=timestamp_raw,
            kind=kind,
            state=state,
            attempts=attempts if isinstance(attempts, int) and not isinstance(attempts, bool) else None,
            result=raw.get("result"),
            report=raw.get("report"),
        )


def parse(payload: Payload | JSONObject) -> WebhookEvent:
    """Parse a webhook body (bytes, str, or an already decoded dict) into a :class:`WebhookEvent`.

    Raises :class:`WebhookVerificationError` when the body is not UTF-8, not JSON, or not a JSON
    object. Parse only what :func:`verify_signature` accepted.
    """
    if isinstance(payload, Mapping):
        return WebhookEvent.from_dict(payload)
    body = _body_bytes(payload)
    try:
        data = _loads(body)
    except UnicodeDecodeError as exc:
        raise WebhookVerificationError(
            message=f"webhook payload is not UTF-8 (byte {exc.start})"
        ) from None
    except ValueError as exc:  # json.JSONDecodeError, or int/str conversion limits
        raise WebhookVerificationError(message=f"webhook payload is not valid JSON: {exc}") from None
    except RecursionError:
        raise WebhookVerificationError(message="webhook payload is nested too deeply") from None
    if not isinstance(data, dict):
        raise WebhookVerificationError(
            message=f"webhook payload must be a JSON object, not {type(data).__name__}"
        )
    return WebhookEvent.from_dict(data)


# --- signing ------------------------------------------------------------------------------------


def canonical_json(payload: Any) -> bytes:
    """The bytes the runtime signs for ``payload``: compact, sorted keys, UTF-8, non-ASCII as is.

    Floats are spelled as Python's ``json`` does; the verifier also accepts the spellings of the
    runtime's orjson (``1e-7``, ``1e16``) so the difference never rejects a real webhook.
    """
    try:
        return _dumps(payload).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:
        raise WebhookVerificationError(message=f"payload cannot be serialised as JSON: {exc}") from None


def sign(payload: Payload | JSONObject, secret: str | bytes, *, timestamp: int) -> str:
    """The ``X-Muxi-Signature`` value the runtime would send for ``payload`` at ``timestamp``.

    Bytes and str payloads are signed as given; a dict is signed in its :func:`canonical_json` form
    (send it in any JSON spelling). ``timestamp`` is Unix seconds.
    """
    key = _secret_bytes(secret)
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise ConfigurationError(message="timestamp must be a non-negative int (Unix seconds)")
    body = canonical_json(payload) if isinstance(payload, Mapping) else _body_bytes(payload)
    digest = hmac.new(key, b"%d." % timestamp + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


# --- verification -------------------------------------------------------------------------------


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
    # signed as sent) is done inline: this runs per request. Everything else takes _verify.
    key = (
        secret.encode("utf-8", "surrogatepass")
        if isinstance(secret, str) and secret
        else _secret_bytes(secret)
    )
    if tolerance_seconds is not None or type(tolerance) is not int or tolerance < 0:
        tolerance = _tolerance(tolerance, tolerance_seconds)
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
            return _verify_canonical(payload, t, (key,), [candidate]) is not None
    return _verify(payload, signature_header, (key,), tolerance, clock_now) is not None


class ReplayStore(Protocol):
    """Remembers accepted signatures until they expire (bring your own to share across processes)."""

    def check_and_record(self, key: bytes, expires_at: float, now: float) -> bool:
        """Record ``key`` and return True if it is new; return False if it is already recorded."""
        ...


class MemoryReplayStore:
    """An in-process :class:`ReplayStore` holding at most ``max_entries`` keys.

    Keys are dropped once expired (a replay of them fails the timestamp check anyway). When full of
    unexpired keys, the one closest to expiry is evicted, so memory stays bounded under any load.
    Not locked: share one between threads only under a lock of your own.
    """

    def __init__(self, max_entries: int = 10_000) -> None:
        if max_entries < 1:
            raise ConfigurationError(message="max_entries must be at least 1")
        self.max_entries = max_entries
        self._expiry: dict[bytes, float] = {}
        self._heap: list[tuple[float, bytes]] = []

    def __len__(self) -> int:
        return len(self._expiry)

    def __repr__(self) -> str:
        return f"MemoryReplayStore(entries={len(self)}, max_entries={self.max_entries})"

    def check_and_record(self, key: bytes, expires_at: float, now: float) -> bool:
        """Record ``key`` (valid until ``expires_at``); False if it is already recorded."""
        heap, expiry = self._heap, self._expiry
        while heap and heap[0][0] < now:
            expiry.pop(heappop(heap)[1], None)
        if key in expiry:
            return False
        while len(expiry) >= self.max_entries:
            expiry.pop(heappop(heap)[1], None)
        expiry[key] = expires_at
        heappush(heap, (expires_at, key))
        return True


class WebhookVerifier:
    """:func:`verify_signature` for applications that want more.

    - several secrets (key rotation): a signature by any of them is accepted;
    - an injected ``clock`` (a callable returning Unix seconds);
    - replay protection: an accepted ``(t, signature)`` pair is refused the next time. The runtime
      re-signs each delivery attempt of completion and clarification webhooks, so its retries are
      not replays; a retried escalation webhook carries the same signature and is refused.

    Pass ``replay_store=None`` to switch replay protection off, or a shared :class:`ReplayStore`
    when several processes receive webhooks.
    """

    _DEFAULT_STORE: Any = object()

    def __init__(
        self,
        secrets: str | bytes | Sequence[str | bytes],
        *,
        tolerance: float = DEFAULT_TOLERANCE,
        clock: Callable[[], float] = time.time,
        replay_store: ReplayStore | None = _DEFAULT_STORE,
    ) -> None:
        if isinstance(secrets, (str, bytes)):
            secrets = [secrets]
        keys = tuple(_secret_bytes(s) for s in secrets)
        if not keys:
            raise WebhookVerificationError(message="at least one webhook secret is required")
        self._keys = keys
        self.tolerance = _tolerance(tolerance, None)
        self.clock = clock
        self.replay_store: ReplayStore | None = (
            MemoryReplayStore() if replay_store is self._DEFAULT_STORE else replay_store
        )

    def __repr__(self) -> str:
        return (
            f"WebhookVerifier(secrets=<{len(self._keys)} hidden>, tolerance={self.tolerance!r}, "
            f"replay_store={self.replay_store!r})"
        )

    def verify(self, payload: Payload, signature_header: str | bytes | None) -> bool:
        """True for a valid, fresh signature by one of the secrets that was not seen before."""
        now = self.clock()
        match = _verify(payload, signature_header, self._keys, self.tolerance, now)
        if match is None:
            return False
        if self.replay_store is None:
            return True
        t, digest = match
        return self.replay_store.check_and_record(b"%d." % t + digest, t + self.tolerance, now)

    def verify_and_parse(self, payload: Payload, signature_header: str | bytes | None) -> WebhookEvent:
        """:meth:`verify` then :func:`parse`; an invalid signature raises WebhookVerificationError."""
        if not self.verify(payload, signature_header):
            raise WebhookVerificationError(message="webhook signature is invalid, stale or replayed")
        return parse(payload)


# --- the one implementation behind both verifiers ------------------------------------------------


def _verify(
    payload: Payload,
    header: str | bytes | None,
    keys: tuple[bytes, ...],
    tolerance: float,
    now: float,
) -> tuple[int, bytes] | None:
    """The timestamp and the matching digest of a valid signature, or None."""
    body = payload if type(payload) is bytes else _body_bytes(payload)
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
    return _verify_canonical(body, t, keys, candidates)


def _verify_canonical(
    body: bytes, t: int, keys: tuple[bytes, ...], candidates: list[bytes]
) -> tuple[int, bytes] | None:
    """A signature over a canonical re-serialisation of ``body`` (the raw body did not match)."""
    prefix = b"%d." % t
    for canonical in _canonical_variants(body):
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


# --- canonical JSON -----------------------------------------------------------------------------

_FLOAT_NEEDS_ORJSON = 1  # NaN/Infinity, or an exponent from -5 to -9: orjson differs from json
_FLOAT_POSITIVE_EXP = 2  # orjson before 3.11.7 writes 1e16 where json (and newer orjson) write 1e+16


# Built once: json.dumps with non-default options would build an encoder on every call.
_dumps: Callable[[Any], str] = json.JSONEncoder(
    separators=(",", ":"), sort_keys=True, ensure_ascii=False
).encode


def _canonical_variants(body: bytes) -> Iterator[bytes]:
    """The canonical forms the runtime may have signed for ``body``, most likely first.

    The runtime serialises with orjson, which spells some floats differently from Python's ``json``
    (``1e-7`` / ``1e-07``, ``0.00001`` / ``1e-05``, ``null`` / ``NaN``, and before orjson 3.11.7
    ``1e16`` / ``1e+16``); the extra spellings are tried only when such a float is present.
    """
    try:
        value = _loads(body)
        canonical = _dumps(value).encode("utf-8")
        if canonical != body:  # equal means the raw check already covered it
            yield canonical
        flags = _float_flags(value)
        if flags & _FLOAT_NEEDS_ORJSON:
            yield _dumps_orjson_style(value, plus=True)
        if flags & _FLOAT_POSITIVE_EXP:
            yield _dumps_orjson_style(value, plus=False)
    except (ValueError, RecursionError):
        # Not JSON (UnicodeDecodeError and JSONDecodeError are ValueErrors), nested beyond the
        # interpreter's depth, or text with lone surrogates that no signer could have encoded.
        return


def _float_flags(value: Any) -> int:
    flags = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float):
            text = repr(item)
            if not math.isfinite(item) or "e-0" in text:
                flags |= _FLOAT_NEEDS_ORJSON
            elif "e+" in text:
                flags |= _FLOAT_POSITIVE_EXP
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return flags


def _orjson_float(value: float, plus: bool) -> str:
    """``value`` as orjson writes it; Python's repr has the same shortest digits."""
    if not math.isfinite(value):
        return "null"
    text = repr(value)
    mantissa, e, exponent = text.partition("e")
    if not e:
        return text
    exp = int(exponent)
    if exp == -5:  # orjson writes 1e-05 as 0.00001
        sign = "-" if mantissa.startswith("-") else ""
        return sign + "0.0000" + mantissa.lstrip("-").replace(".", "")
    return f"{mantissa}e{'+' if plus and exp > 0 else ''}{exp}"


_encode_str = json.JSONEncoder(ensure_ascii=False).encode


def _dumps_orjson_style(value: Any, *, plus: bool) -> bytes:
    out: list[str] = []

    def emit(item: Any) -> None:
        if isinstance(item, str):
            out.append(_encode_str(item))
        elif item is None:
            out.append("null")
        elif item is True:
            out.append("true")
        elif item is False:
            out.append("false")
        elif isinstance(item, int):
            out.append(int.__repr__(item))
        elif isinstance(item, float):
            out.append(_orjson_float(item, plus))
        elif isinstance(item, list):
            out.append("[")
            for index, element in enumerate(item):
                if index:
                    out.append(",")
                emit(element)
            out.append("]")
        else:  # dict: the only other thing json.loads produces
            out.append("{")
            for index, key in enumerate(sorted(item)):
                if index:
                    out.append(",")
                out.append(_encode_str(key))
                out.append(":")
                emit(item[key])
            out.append("}")

    emit(value)
    return "".join(out).encode("utf-8")


# --- small helpers ------------------------------------------------------------------------------


def _loads(body: bytes) -> Any:
    # utf-8-sig: a leading BOM is tolerated; anything not UTF-8 raises UnicodeDecodeError.
    return json.loads(body.decode("utf-8-sig"))


def _body_bytes(payload: Any) -> bytes:
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        # surrogatepass: a str with lone surrogates still gets bytes (that no signer produced).
        return payload.encode("utf-8", "surrogatepass")
    if isinstance(payload, (bytearray, memoryview)):
        return bytes(payload)
    raise WebhookVerificationError(
        message=f"webhook payload must be the raw body as bytes or str, not {type(payload).__name__}"
    )


def _secret_bytes(secret: Any) -> bytes:
    if isinstance(secret, str) and secret:
        return secret.encode("utf-8", "surrogatepass")
    if isinstance(secret, (bytes, bytearray)) and secret:
        return bytes(secret)
    raise WebhookVerificationError(message="a non-empty webhook secret (str or bytes) is required")


def _tolerance(tolerance: float, tolerance_seconds: float | None) -> float:
    if tolerance_seconds is not None:
        if tolerance not in (DEFAULT_TOLERANCE, tolerance_seconds):
            raise ConfigurationError(message="give tolerance or tolerance_seconds, not both")
        tolerance = tolerance_seconds
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not tolerance >= 0:
        raise ConfigurationError(message="tolerance must be a non-negative number of seconds")
    return tolerance


def _text(value: Any) -> str | None:
    """A string field: str as is, numbers as their text (``user_id: 0``), anything else None."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:  # an int too large for a float
            return None
        return number if math.isfinite(number) else None
    return None


def _timestamp_seconds(value: Any) -> float | None:
    """Unix seconds from milliseconds, seconds or an ISO 8601 string; None when unreadable."""
    if isinstance(value, str):
        try:
            number: float | None = float(value)
        except ValueError:
            number = _iso_seconds(value)
    else:
        number = _number(value)
    if number is None or not math.isfinite(number):
        return None
    return number / 1000 if abs(number) >= _MS_THRESHOLD else number


def _iso_seconds(value: str) -> float | None:
    text = value.strip()
    if text.endswith(("Z", "z")):  # fromisoformat accepts "Z" only from Python 3.11
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    try:
        return moment.timestamp()
    except (OverflowError, OSError, ValueError):
        return None


def _content(value: Any) -> list[ContentItem]:
    if value is None:
        return []
    if isinstance(value, list):
        return [ContentItem.from_dict(item) for item in value]
    return [ContentItem.from_dict(value)]  # a lone item instead of a list: keep it
