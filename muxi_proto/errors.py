"""Typed errors, shared by every layer.

The first eight classes carry the official SDK's names and attributes (``code``, ``message``,
``status_code``, ``details``, ``retry_after``) so ``except muxi.errors.NotFoundError`` keeps working.
Everything the library raises on purpose is a :class:`MuxiError`; messages never contain keys,
secrets or signatures.
"""

from __future__ import annotations

import builtins
from typing import Any

__all__ = [
    "AuthenticationError",
    "AuthorizationError",
    "BundleError",
    "CallStateError",
    "ConfigurationError",
    "ConflictError",
    "ConnectionError",
    "LimitExceededError",
    "MuxiError",
    "NotFoundError",
    "ProtocolError",
    "RateLimitError",
    "ResponseDecodeError",
    "ServerError",
    "StreamError",
    "StreamTruncatedError",
    "TLSError",
    "TimeoutError",
    "ValidationError",
    "WebhookVerificationError",
]


class MuxiError(Exception):
    """Base of every error the library raises.

    ``code`` is the runtime's machine code when the server sent one (``"SECRET_EXISTS"``), else a
    canonical constant for the HTTP status; ``status_code`` is the HTTP status or 0 when there was
    none; ``details`` the parsed error body (or other context); ``request_id`` the server's request
    id when known; ``retry_after`` seconds to wait when the server said so.
    """

    default_code = "ERROR"

    def __init__(
        self,
        code: str | None = None,
        message: str = "",
        status_code: int = 0,
        details: dict[str, Any] | None = None,
        *,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.code: str = code or self.default_code
        self.message: str = message
        self.status_code: int = status_code
        self.details: dict[str, Any] = details if details is not None else {}
        self.request_id: str | None = request_id
        self.retry_after: float | None = retry_after
        super().__init__(message or self.code)

    def __str__(self) -> str:
        # What a log line needs to act on: the status, the code, the message, the request id to
        # quote to the formation's operator, and how long the server asked to wait.
        head = f"{self.code} (HTTP {self.status_code})" if self.status_code else self.code
        text = f"{head}: {self.message}" if self.message else head
        extra = []
        if self.request_id:
            extra.append(f"request {self.request_id}")
        if self.retry_after is not None:
            extra.append(f"retry after {self.retry_after:g} s")
        return f"{text} [{', '.join(extra)}]" if extra else text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, "
            f"status_code={self.status_code!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep the keyword-only attributes through pickling (multiprocessing, caches).
        return (
            _rebuild_error,
            (type(self), self.code, self.message, self.status_code, self.details, self.request_id,
             self.retry_after),
        )


def _rebuild_error(
    cls: type[MuxiError],
    code: str,
    message: str,
    status_code: int,
    details: dict[str, Any],
    request_id: str | None,
    retry_after: float | None,
) -> MuxiError:
    err = cls.__new__(cls)
    MuxiError.__init__(
        err, code, message, status_code, details, request_id=request_id, retry_after=retry_after
    )
    return err


# --- HTTP status classes (official names) -------------------------------------------------------


class AuthenticationError(MuxiError):
    """401: missing, wrong or expired credentials."""

    default_code = "UNAUTHORIZED"


class AuthorizationError(MuxiError):
    """403: authenticated but not allowed."""

    default_code = "FORBIDDEN"


class NotFoundError(MuxiError):
    """404: unknown formation, route, secret, agent..."""

    default_code = "NOT_FOUND"


class ConflictError(MuxiError):
    """409 (or a deployment ``AlreadyRunning`` / ``NoChange`` / ``FormationExists`` event)."""

    default_code = "CONFLICT"


class ValidationError(MuxiError):
    """400 / 422: the server rejected the request's content."""

    default_code = "VALIDATION_ERROR"


class RateLimitError(MuxiError):
    """429: slow down; ``retry_after`` says for how long when the server said so."""

    default_code = "RATE_LIMITED"


class ServerError(MuxiError):
    """5xx: the server or the formation failed."""

    default_code = "SERVER_ERROR"


class ConnectionError(MuxiError, builtins.ConnectionError):
    """The request could not be completed on the network (refused, reset, DNS, early EOF...).

    Also a :class:`builtins.ConnectionError`, so generic network handlers catch it.
    """

    default_code = "CONNECTION_ERROR"


# --- What else users need ------------------------------------------------------------------------


class TimeoutError(ConnectionError, builtins.TimeoutError):
    """A connect, read, write or pool timeout fired (or an overall deadline passed)."""

    default_code = "TIMEOUT"


class TLSError(ConnectionError):
    """TLS handshake or certificate verification failed."""

    default_code = "TLS_ERROR"


class ProtocolError(ConnectionError):
    """The peer broke HTTP: malformed status line or headers, a body that ended early."""

    default_code = "PROTOCOL_ERROR"


class ConfigurationError(MuxiError, ValueError):
    """Bad configuration, found before anything is sent (also a ``ValueError``, as before)."""

    default_code = "CONFIGURATION_ERROR"


class ResponseDecodeError(MuxiError):
    """A success response whose body is not what the endpoint promises (e.g. not JSON)."""

    default_code = "DECODE_ERROR"


class LimitExceededError(MuxiError):
    """Input larger than a configured bound (SSE line, response body, bundle)."""

    default_code = "LIMIT_EXCEEDED"


class StreamError(MuxiError):
    """A stream failed: an ``event: error`` frame, or a frame that cannot be decoded."""

    default_code = "STREAM_ERROR"


class StreamTruncatedError(StreamError):
    """A stream ended without its terminal event (``done``, ``complete`` or ``error``)."""

    default_code = "STREAM_TRUNCATED"


class WebhookVerificationError(MuxiError, ValueError):
    """A webhook payload or secret cannot be used (bad JSON, not an object, empty secret)."""

    default_code = "WEBHOOK_INVALID"


class BundleError(ValidationError):
    """A deployment bundle is unusable: missing formation file, unsafe path, too large."""

    default_code = "INVALID_BUNDLE"


class CallStateError(MuxiError, RuntimeError):
    """A driver fed a :class:`~muxi_proto.call.CallMachine` an event its state does not accept
    (out of order, twice, or after the call ended): a bug in the driver, never a network failure."""

    default_code = "CALL_STATE_ERROR"
