"""Turning a complete HTTP response into a result or a typed error.

Errors branch on the HTTP status first (docs/protocol.md §9), then take what the body offers: the
runtime's ``error.code`` string and message, the control plane's message, a FastAPI ``detail``, or
an excerpt of a non-JSON page. Every failure is a :class:`MuxiError` subclass; nothing else escapes,
whatever the bytes.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any

from .envelopes import reason_phrase, unwrap
from .errors import (
    AuthenticationError,
    AuthorizationError,
    ConflictError,
    MuxiError,
    NotFoundError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
    ValidationError,
)
from .http import Headers, Response, get_header, without_userinfo

__all__ = [
    "Decode",
    "decode_answer",
    "decode_response",
    "error_class_for_status",
    "error_from_response",
    "parse_json",
    "parse_retry_after",
]

_EXCERPT = 200
_WS = re.compile(r"\s+")
_TAGS = re.compile(r"<[^>]{0,200}>")
_DIGITS = re.compile(r"[0-9]+")


class Decode(enum.Enum):
    """What a successful answer is: a JSON envelope/object, text, raw bytes, or JSON-if-JSON."""

    JSON = "json"
    TEXT = "text"
    BYTES = "bytes"
    AUTO = "auto"  # JSON when it says or looks so, else text (routes whose format varies)


# The class for each HTTP error status the server or runtime uses; the code that goes with it is
# the class's ``default_code``. Other 5xx are ServerError, anything else the base class.
_CLASS_BY_STATUS: dict[int, type[MuxiError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: AuthorizationError,
    404: NotFoundError,
    409: ConflictError,
    422: ValidationError,
    429: RateLimitError,
}


def error_class_for_status(status: int) -> tuple[type[MuxiError], str]:
    """The error class for an HTTP error status, and its canonical code (the class's ``default_code``)."""
    cls = _CLASS_BY_STATUS.get(status) or (ServerError if 500 <= status <= 599 else MuxiError)
    return cls, cls.default_code


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or HTTP-date), or None.

    A date in the past gives 0; anything unparseable gives None (ignored). Capping is the retry
    policy's job.
    """
    if value is None:
        return None
    value = value.strip()
    if _DIGITS.fullmatch(value):
        return float(value) if len(value) <= 12 else float("inf")
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None or when.tzinfo is None:  # RFC 9110 dates are always GMT
        return None
    return max(0.0, when.timestamp() - now)


_decode_json = json.JSONDecoder().decode


def parse_json(body: bytes) -> Any:
    """``json.loads`` that raises :class:`ResponseDecodeError` instead of library errors."""
    try:
        if body[:1] == b"{" and body[1:2] not in (b"", b"\x00"):
            # Certainly UTF-8 (json.loads would work that out byte by byte first): decode directly.
            return _decode_json(body.decode("utf-8", "surrogatepass"))
        return json.loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ResponseDecodeError(message=f"response is not valid JSON: {_excerpt(body)!r}") from exc


def _excerpt(body: bytes) -> str:
    text = body[: _EXCERPT * 4].decode("utf-8", "replace")
    text = _WS.sub(" ", _TAGS.sub(" ", text)).strip()
    return text[:_EXCERPT] + ("..." if len(text) > _EXCERPT else "")


def _without_userinfo(url: str) -> str:
    """``url`` cut to an excerpt, without any ``user:password@`` part."""
    return without_userinfo(url.strip())[:_EXCERPT]


def _looks_json(headers: Headers, body: bytes) -> bool:
    ctype = (get_header(headers, "content-type") or "").lower()
    if "json" in ctype:
        return True
    head = body.lstrip()[:1]
    return head in (b"{", b"[")


def error_from_response(response: Response, *, now: float) -> MuxiError:
    """The typed error for a non-2xx response (any body, never raises)."""
    status = response.status
    cls, canonical = error_class_for_status(status)
    retry_after = parse_retry_after(get_header(response.headers, "retry-after"), now=now)
    body = response.body
    payload: Any = None
    if body and _looks_json(response.headers, body):
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):
            payload = None

    code: str = canonical
    message = ""
    request_id: str | None = None
    details: dict[str, Any]
    if isinstance(payload, dict):
        details = payload
        err = payload.get("error")
        if isinstance(err, dict):  # runtime envelope
            if isinstance(err.get("code"), str) and err["code"]:
                code = err["code"]
            if isinstance(err.get("message"), str):
                message = err["message"]
        if not message:
            for key in ("message", "detail", "error"):
                value = payload.get(key)
                if isinstance(value, str) and value:
                    message = value
                    break
        request = payload.get("request")
        if isinstance(request, dict) and isinstance(request.get("id"), str):
            request_id = request["id"]
        elif isinstance(payload.get("request_id"), str):
            request_id = payload["request_id"]
    elif payload is not None:
        details = {"body": payload}
    elif body:
        excerpt = _excerpt(body)
        details = {"body": excerpt}
        message = excerpt
    else:
        details = {}
    if not message:
        message = reason_phrase(status)
    location = get_header(response.headers, "location") if 300 <= status <= 399 else None
    if location:  # never followed: a redirect could carry keys and signatures to another origin
        shown = _without_userinfo(location)
        details = {**details, "location": shown}
        message = f"{message} (redirect to {shown} not followed)"
    request_id = request_id or get_header(response.headers, "x-request-id")
    return cls(code, message, status, details, request_id=request_id, retry_after=retry_after)


def decode_answer(status: int, headers: Headers, body: bytes, decode: Decode, clock: Callable[[], float]) -> Any:
    """:func:`decode_response` for a response in pieces (the call machine's path: no
    :class:`Response` is built for a success, and the clock is read only for an error)."""
    if 200 <= status <= 299 and decode is Decode.JSON and body[:1] == b"{":
        parsed = parse_json(body)
        if type(parsed) is dict and parsed.get("success") is not False:
            return unwrap(parsed)
    return decode_response(Response(status, headers, body), decode=decode, now=clock())


def decode_response(response: Response, *, decode: Decode = Decode.JSON, now: float = 0.0) -> Any:
    """The result of a response: unwrapped JSON, text or bytes; raises the typed error for non-2xx.

    JSON results follow the official SDK: the envelope's ``data`` with ``request_id`` and
    ``timestamp`` merged in; an empty body is ``None``. A 2xx envelope that says
    ``"success": false`` with an error is raised, not returned.
    """
    if not 200 <= response.status <= 299:
        raise error_from_response(response, now=now)
    body = response.body
    if decode is Decode.BYTES:
        return body
    if decode is Decode.TEXT or (decode is Decode.AUTO and not _looks_json(response.headers, body)):
        return body.decode("utf-8", "replace")
    if not body.strip():
        return None
    parsed = parse_json(body)
    if isinstance(parsed, dict) and parsed.get("success") is False and parsed.get("error"):
        err = error_from_response(Response(500, response.headers, body), now=now)
        raise MuxiError(err.code, err.message, response.status, err.details, request_id=err.request_id)
    return unwrap(parsed)
