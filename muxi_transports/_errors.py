"""The one place where library exceptions become :mod:`muxi_proto.errors` types.

httpcore, h11, anyio, trio, ``ssl`` and ``socket`` each raise their own exceptions; callers of a
transport see only :class:`~muxi_proto.errors.ConnectionError` and its subclasses
(``TimeoutError``, ``TLSError``, ``ProtocolError``), with a message naming method and URL and the
original kept as ``__cause__``. Messages never include headers (they carry keys and signatures).

Request header values (keys, signatures) never reach a message or a traceback: a library error
whose text quotes one (h11 quotes a header value it refuses to encode; a hostile server can echo a
header back in a line h11 quotes) is redacted in our message and not chained as ``__cause__``.

Cancellation (``asyncio.CancelledError``, ``trio.Cancelled``) derives from ``BaseException`` and is
never caught here: it must propagate unchanged. Exceptions this module does not recognise (bugs)
propagate unchanged too, rather than being disguised as network errors.
"""

from __future__ import annotations

import builtins
import re
import socket
import ssl
import sys

import h11
import httpcore

from muxi_proto.errors import (
    ConfigurationError,
    ConnectionError,
    MuxiError,
    ProtocolError,
    TimeoutError,
    TLSError,
)
from muxi_proto.http import Request, without_userinfo

__all__ = [
    "ClosedBeforeResponse",
    "IncompleteBody",
    "PhaseTimeout",
    "TransportClosed",
    "chainable",
    "map_errors",
    "map_exception",
]

_MAX_DETAIL = 200
_MIN_SECRET = 8  # shorter header values ("1", "gzip") are no secrets and would blank ordinary words
_VALUE_PIECES = re.compile(r"[\s,;]+")
_PLAIN_HEADERS = frozenset({"content-type", "accept"})  # never secret, often quoted by parsers


class PhaseTimeout(Exception):
    """Raised by our own I/O code when the ``connect``/``read``/``write``/``pool`` limit passes."""

    def __init__(self, phase: str) -> None:
        super().__init__(f"{phase} timed out")
        self.phase = phase


class ClosedBeforeResponse(Exception):
    """The server closed the connection before the response head was complete (``received`` bytes of
    it had come, maybe none).

    A :class:`~muxi_proto.errors.ConnectionError`, not a ``ProtocolError``, on every transport:
    nothing of the response reached the caller, and what came was a valid beginning, so this is a
    connection that ended (a restart, a proxy or load balancer dropping it), the same failure as a
    close before the first byte or a reset mid-head; a retry on a new connection can succeed, where
    a malformed response would fail again.
    """

    def __init__(self, received: int = 0) -> None:
        super().__init__(f"after {received} bytes of the response head" if received else "before any byte")
        self.received = received


class IncompleteBody(Exception):
    """The connection ended before the response body was complete."""


class TransportClosed(Exception):
    """A request was sent on a transport after ``close()``."""


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc``, its causes/contexts and exception-group members, breadth first, no repeats."""
    out: list[BaseException] = []
    seen: set[int] = set()
    todo = [exc]
    while todo and len(out) < 32:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        out.append(current)
        members = getattr(current, "exceptions", None)  # exception groups (3.11+ or the backport)
        if isinstance(members, tuple | list):
            todo.extend(m for m in members if isinstance(m, BaseException))
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                todo.append(linked)
    return out


_HTTPCORE_TIMEOUT_PHASES: dict[type[Exception], str] = {
    httpcore.ConnectTimeout: "connect",
    httpcore.ReadTimeout: "read",
    httpcore.WriteTimeout: "write",
    httpcore.PoolTimeout: "pool",
}


def _timeout_phase(exc: BaseException) -> str | None:
    if isinstance(exc, PhaseTimeout):
        return exc.phase
    for cls, phase in _HTTPCORE_TIMEOUT_PHASES.items():
        if isinstance(exc, cls):
            return phase
    if isinstance(exc, builtins.TimeoutError | socket.timeout):
        return ""
    trio = sys.modules.get("trio")
    if trio is not None and isinstance(exc, trio.TooSlowError):
        return ""
    return None


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 3] + "..."


def _is_known(exc: BaseException) -> bool:
    ours = PhaseTimeout | ClosedBeforeResponse | IncompleteBody | TransportClosed
    if isinstance(exc, OSError | h11.ProtocolError | ours):
        return True
    if type(exc).__module__.startswith("httpcore"):
        return True
    # anyio and trio are looked up, not imported: the trio transport must run without anyio.
    anyio = sys.modules.get("anyio")
    if anyio is not None and isinstance(
        exc,
        anyio.BrokenResourceError | anyio.ClosedResourceError | anyio.EndOfStream | anyio.BusyResourceError,
    ):
        return True
    trio = sys.modules.get("trio")
    return trio is not None and isinstance(
        exc, trio.BrokenResourceError | trio.ClosedResourceError | trio.TooSlowError | trio.BusyResourceError
    )


def _classify(exc: BaseException) -> tuple[type[MuxiError], str]:
    """The error class and a short reason for a recognised library exception."""
    chain = _chain(exc)
    for item in chain:
        phase = _timeout_phase(item)
        if phase is not None:
            return TimeoutError, f"{phase} timed out" if phase else "timed out"
    if isinstance(exc, httpcore.UnsupportedProtocol):
        return ConfigurationError, f"unsupported URL ({_short(exc)})"
    if isinstance(exc, TransportClosed):
        return ConnectionError, "transport is closed"
    for item in chain:
        if isinstance(item, ssl.SSLEOFError | ssl.SSLZeroReturnError):
            return ConnectionError, "connection closed by peer during TLS"
        if isinstance(item, ssl.SSLCertVerificationError):
            return TLSError, f"TLS certificate verification failed ({item.verify_message})"
        if isinstance(item, ssl.SSLError | ssl.CertificateError):
            return TLSError, f"TLS handshake failed ({item.reason or _short(item)})"
    for item in chain:
        if isinstance(item, IncompleteBody):
            return ProtocolError, f"response body ended early ({_short(item)})"
        if isinstance(item, ClosedBeforeResponse):
            if item.received:
                return ConnectionError, (
                    f"server closed the connection before the response head was complete ({item.received} bytes)"
                )
            return ConnectionError, "server closed the connection without sending a response"
        if isinstance(item, h11.LocalProtocolError | httpcore.LocalProtocolError):
            # h11's text can quote header values, which may be secrets: keep it out.
            return ProtocolError, "request rejected by the HTTP encoder (invalid method, target or header)"
        if isinstance(item, h11.RemoteProtocolError | httpcore.RemoteProtocolError):
            # A response cut short by the end of the connection was told apart where it was read
            # (IncompleteBody, ClosedBeforeResponse above): what reaches here is malformed.
            return ProtocolError, f"malformed response ({_short(item)})"
    for item in chain:
        if isinstance(item, socket.gaierror):
            return ConnectionError, f"name resolution failed ({_short(item)})"
        if isinstance(item, builtins.ConnectionRefusedError):
            return ConnectionError, "connection refused"
        if isinstance(item, builtins.ConnectionResetError | builtins.ConnectionAbortedError):
            return ConnectionError, "connection reset by peer"
        if isinstance(item, builtins.BrokenPipeError):
            return ConnectionError, "connection closed by peer while sending"
    if isinstance(exc, httpcore.ProxyError):
        return ConnectionError, f"proxy error ({_short(exc)})"
    anyio = sys.modules.get("anyio")
    if anyio is not None and isinstance(exc, anyio.EndOfStream):
        return ConnectionError, "connection closed by peer"
    for item in chain:
        if isinstance(item, OSError):
            return ConnectionError, f"network error ({item.strerror or _short(item)})"
    if isinstance(exc, httpcore.ConnectError):
        return ConnectionError, "connect failed"
    if isinstance(exc, httpcore.ReadError | httpcore.WriteError):
        return ConnectionError, "connection lost"
    return ConnectionError, f"connection lost ({type(exc).__name__})"


def map_exception(exc: BaseException, request: Request) -> MuxiError | None:
    """The typed error for ``exc`` raised while performing ``request``, or None if not ours to map."""
    if isinstance(exc, MuxiError) or not isinstance(exc, Exception) or not _is_known(exc):
        return None
    cls, reason = _classify(exc)
    url = without_userinfo(request.url)
    details: dict[str, object] = {"method": request.method, "url": url}
    if cls is TimeoutError:
        details["phase"] = reason.split(" ", 1)[0] if reason != "timed out" else ""
    elif _never_sent(exc):
        # The retry policy may replay any method after these: the request provably never left.
        details["phase"] = "connect"
    return cls(message=_redact(f"{request.method} {url}: {reason}", _secrets(request)), details=details)


def _secrets(request: Request) -> list[str]:
    """Header values of ``request`` (and their long pieces, e.g. the signature in ``Authorization``)."""
    out: list[str] = []
    for name, value in request.headers:
        if len(value) >= _MIN_SECRET and name.lower() not in _PLAIN_HEADERS:
            out.append(value)
            out.extend(piece for piece in _VALUE_PIECES.split(value) if len(piece) >= _MIN_SECRET)
            out.extend(piece.split("=", 1)[1] for piece in _VALUE_PIECES.split(value)
                       if "=" in piece and len(piece.split("=", 1)[1]) >= _MIN_SECRET)
    return sorted(set(out), key=len, reverse=True)  # longest first: a piece never splits a whole


def _redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, "***")
    return text


def _quotes_secrets(exc: BaseException, secrets: list[str]) -> bool:
    """Could ``exc``'s traceback show a header value (then it is not chained)?"""
    for item in _chain(exc):
        if isinstance(item, h11.LocalProtocolError | httpcore.LocalProtocolError):
            return True
        text = str(item)
        if any(secret in text for secret in secrets):
            return True
    return False


def _never_sent(exc: BaseException) -> bool:
    """Whether ``exc`` happened while connecting (refused, DNS, TLS verification, connect error)."""
    return any(
        isinstance(item, httpcore.ConnectError | socket.gaierror | builtins.ConnectionRefusedError
                   | ssl.SSLCertVerificationError)
        for item in _chain(exc)
    )


def chainable(exc: BaseException, request: Request) -> BaseException | None:
    """What the mapped error of ``exc`` may be raised ``from``: ``exc``, or None when its traceback
    could show a header value of ``request``."""
    return None if _quotes_secrets(exc, _secrets(request)) else exc


class map_errors:  # (lower case: used like a function, ``with map_errors(request):``)
    """Re-raise library exceptions from the block as typed errors (``from`` the original).

    A plain context manager: it wraps ``await`` expressions just as well, and never touches
    cancellation, which is a ``BaseException``. A class rather than ``@contextmanager``: it runs
    several times per request, and a generator per use costs more than the rest of it.
    """

    __slots__ = ("_request",)

    def __init__(self, request: Request) -> None:
        self._request = request

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is None or exc_type is StopAsyncIteration or exc_type is StopIteration or not isinstance(exc, Exception):
            return
        mapped = map_exception(exc, self._request)
        if mapped is not None:
            raise mapped from chainable(exc, self._request)
