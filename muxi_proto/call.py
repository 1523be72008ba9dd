"""One logical call as a sans-IO state machine: events in, instructions out (docs/drivers.md).

A :class:`CallMachine` owns everything between the I/O steps of one call: the request of each
attempt (signed afresh), the retry and fallback decisions, ``Retry-After``, the body limit, decoding
into the result or a typed error, the hand-off of an event stream to its stream machine, the debug
log records and the SDK-latest notice. A driver only moves bytes, sleeps and closes::

    step = machine.start()
    while True:
        if isinstance(step, Send):      # open a connection, send step.request, read the head
            step = machine.head(status, headers)        # or machine.failed(exc, phase=...)
        elif isinstance(step, ReadBody):                # read the body
            step = machine.data(chunk)  # per chunk; then machine.end() at its end
        elif isinstance(step, Sleep):                   # close the response, wait, then
            step = machine.resume()
        elif isinstance(step, OpenStream):              # feed the body to step.decoder
            ...
        elif isinstance(step, Done):
            return step.result
        else:                                           # Fail
            raise step.error

Why an object with one method per event rather than a generator of effects: the drivers this has
to serve include callback loops (Twisted protocols, ``selectors`` handlers) where each event arrives
in a different callback. A method per event is natural there, its arguments are typed, and the
machine can check every input against its explicit state, so a driver that feeds it out of order
gets a :class:`~muxi_proto.errors.CallStateError` at once, not a silently wrong call. The states
are listed in :class:`CallState`.
"""

from __future__ import annotations

import builtins
import enum
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Generic, Literal, NoReturn, Protocol, TypeVar

from .config import FormationConfig, ServerConfig, env_flag
from .errors import (
    CallStateError,
    ConnectionError,
    LimitExceededError,
    MuxiError,
    ProtocolError,
    ResponseDecodeError,
    TimeoutError,
    TLSError,
)
from .http import Headers, Request, Response, Timeout, get_header
from .options import CallOptions, check_options, headers_of, merge_options
from .requests import RequestBuilder
from .responses import decode_answer, error_from_response
from .retry import Failure, Received, RetryPolicy
from .specs import Spec, StreamMachine, StreamSpec
from .version import __version__, is_newer

__all__ = [
    "DEFAULT_MAX_BODY",
    "NOT_SENT_PHASES",
    "CallMachine",
    "CallSettings",
    "CallState",
    "Done",
    "Machine",
    "Fail",
    "OpenStream",
    "READ_BODY",
    "ReadBody",
    "Send",
    "Sleep",
    "Step",
    "reached_server",
    "transport_error",
]

R = TypeVar("R")

NO_OPTIONS: CallOptions = {}  # shared, never mutated (merging makes new dicts)
DEFAULT_MAX_BODY = 64 * 1024 * 1024  # a JSON answer larger than this is an error, not an OOM

#: Failure phases that prove the request never left (docs/drivers.md, "Failures"): a failure while
#: waiting for a pooled connection or while connecting (refused, DNS, TLS handshake, connect
#: timeout). Every other phase (``send``, ``read``, ``write``, ``body``, ``total``...) may have
#: reached the server, so only replay-safe requests are retried after it.
NOT_SENT_PHASES = frozenset({"pool", "connect"})


# --- instructions (what the driver does next) ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Send:
    """Send ``request`` (on a pooled or new connection); then feed :meth:`CallMachine.head`, or
    :meth:`CallMachine.failed` if it could not be sent or no head arrived.

    The driver adds ``Host`` and ``Content-Length`` (:meth:`Request.wire_headers` has both), never
    follows redirects, and bounds the attempt by ``request.timeout`` (docs/drivers.md).
    """

    request: Request


@dataclass(frozen=True, slots=True)
class ReadBody:
    """Read the response body: feed each chunk to :meth:`CallMachine.data`, then call
    :meth:`CallMachine.end`; a read failure goes to :meth:`CallMachine.failed`."""


#: The one :class:`ReadBody` value (compare with ``is``).
READ_BODY = ReadBody()


@dataclass(frozen=True, slots=True)
class Sleep:
    """Release the response if one is open (close it unread), wait ``seconds``, then call
    :meth:`CallMachine.resume` for the next attempt's request (signed after the wait)."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Done(Generic[R]):
    """The call succeeded with ``result``; release the response. ``status`` and ``headers`` are
    the final response's (for raw responses)."""

    result: R
    status: int = 200
    headers: Headers = ()


@dataclass(frozen=True, slots=True)
class Fail:
    """The call failed: release the response if one is open, and raise ``error``."""

    error: MuxiError


@dataclass(frozen=True, slots=True)
class OpenStream:
    """The answer is the event stream the call asked for: keep the response open and feed its body
    to ``decoder`` (:class:`~muxi_proto.specs.StreamMachine`): ``feed`` each chunk and hand out its
    events, close the response as soon as ``decoder.finished`` is true, call ``decoder.eof()`` at
    the end of the body. ``headers`` are the response headers."""

    decoder: StreamMachine[Any]
    headers: Headers
    status: int = 200
    request: Request | None = field(default=None, repr=False, compare=False)

    def events(self, chunks: Iterable[bytes], close: Callable[[], object] | None = None) -> Iterator[Any]:
        """The stream's events from an iterable of body chunks, for blocking drivers.

        Feeds each chunk to :attr:`decoder`, stops reading once it is finished, and raises what
        its :meth:`~muxi_proto.specs.StreamMachine.eof` raises at the end (a stream cut short).
        A failure of ``chunks`` itself (a reset, a parser's error) comes out typed, as
        :func:`transport_error` with phase ``"body"`` makes it. ``close`` is called once when the
        stream ends, fails, or the iterator is closed early.
        """
        decoder = self.decoder
        chunks = iter(chunks)
        try:
            while not decoder.finished:
                try:
                    chunk = next(chunks, None)
                except Exception as exc:
                    if self.request is None:
                        raise
                    raise transport_error(exc, self.request, phase="body") from exc
                if chunk is None:
                    break
                yield from decoder.feed(chunk)
            decoder.eof()
        finally:
            if close is not None:
                close()


Step = Send | ReadBody | Sleep | Done[R] | Fail | OpenStream


class Machine(Protocol[R]):
    """What a driver drives: a :class:`CallMachine`, or a machine made of several calls
    (:class:`~muxi_proto.polling.PollMachine`) with the same events and instructions."""

    @property
    def state(self) -> CallState: ...
    @property
    def attempt(self) -> int: ...
    @property
    def request(self) -> Request | None: ...
    @property
    def settings(self) -> CallSettings: ...
    def start(self) -> Send: ...
    def resume(self) -> Send: ...
    def head(self, status: int, headers: Headers) -> ReadBody | Sleep | OpenStream: ...
    def data(self, chunk: bytes) -> ReadBody | Fail: ...
    def end(self) -> Done[R] | Fail | Send | Sleep: ...
    def body(self, data: bytes) -> Done[R] | Fail | Send | Sleep: ...
    def failed(self, error: BaseException, *, phase: str | None = None) -> Sleep | Fail: ...


class CallState(enum.Enum):
    """Where a :class:`CallMachine` is; each event method accepts only some states."""

    IDLE = "idle"  # created; start() is next
    SENDING = "sending"  # a request is out; head() or failed() is next
    READING = "reading"  # the body is being read; data(), end() or failed() is next
    WAITING = "waiting"  # told the driver to sleep; resume() is next
    STREAMING = "streaming"  # handed off to a stream machine (terminal for the call)
    DONE = "done"  # terminal
    FAILED = "failed"  # terminal


_IDLE, _SENDING, _READING, _WAITING = CallState.IDLE, CallState.SENDING, CallState.READING, CallState.WAITING
_STREAMING, _DONE, _FAILED = CallState.STREAMING, CallState.DONE, CallState.FAILED
_NO_CHUNKS: list[bytes] = []  # shared and never appended to: data() only runs after head() made a list


# --- settings shared by the calls of one client ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallSettings:
    """What stays the same across the calls of one client: how requests are built and retried,
    the clocks, the body limit and the debug log.

    ``clock`` gives wall-clock seconds (HMAC timestamps, HTTP-date ``Retry-After``); ``timer`` a
    monotonic clock for the debug log's durations. Both are injectable for tests.
    """

    builder: RequestBuilder
    retry: RetryPolicy
    clock: Callable[[], float] = time.time
    timer: Callable[[], float] = time.perf_counter
    max_body: int = DEFAULT_MAX_BODY
    logger: logging.Logger = logging.getLogger("muxi")  # noqa: RUF009 - one process-wide logger
    debug: bool = False
    options: CallOptions = field(default_factory=lambda: NO_OPTIONS)

    def with_options(self, options: CallOptions) -> CallSettings:
        """These settings with ``options`` as the default options of every call."""
        return replace(self, options=merge_options(self.options, check_options(options)))

    @classmethod
    def for_config(
        cls,
        config: ServerConfig | FormationConfig,
        *,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] | None = None,
        timer: Callable[[], float] | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        new_id: Callable[[], str] | None = None,
    ) -> CallSettings:
        """Settings for ``config``: its ``max_retries`` (unless ``retry`` sets its own), its logger,
        its ``debug`` flag or ``MUXI_DEBUG``."""
        if isinstance(max_body, bool) or not isinstance(max_body, int) or max_body < 0:
            from .errors import ConfigurationError

            raise ConfigurationError("INVALID_CONFIG", f"max_body must be an int >= 0, got {max_body!r}")
        builder = RequestBuilder(config) if new_id is None else RequestBuilder(config, new_id=new_id)
        policy = retry if retry is not None else RetryPolicy()
        if policy.max_retries is None:  # a policy without its own count takes the config's
            policy = replace(policy, max_retries=config.max_retries)
        return cls(
            builder,
            policy,
            clock or time.time,
            timer or time.perf_counter,
            max_body,
            config.logger or logging.getLogger("muxi"),
            config.debug or env_flag(os.environ.get("MUXI_DEBUG")),
        )


class _Overrides:
    """What a call's options change of its client's settings (built only for calls with options)."""

    __slots__ = ("headers", "idle", "retry", "timeout")

    def __init__(self, settings: CallSettings, options: CallOptions) -> None:
        self.retry = settings.retry
        if "max_retries" in options:
            self.retry = replace(self.retry, max_retries=options["max_retries"])
        # Not options.get(): a timeout of None (no limit) differs from no timeout option (False);
        # check_options made a number a Timeout.
        timeout: Any = options["timeout"] if "timeout" in options else False  # noqa: SIM401
        self.timeout: Timeout | Literal[False] | None = timeout
        self.headers: Headers = headers_of(options)
        self.idle: float | None = options.get("idle_timeout")


# --- the machine ---------------------------------------------------------------------------------------


class CallMachine(Generic[R]):
    """Drives one :class:`~muxi_proto.specs.Spec` or :class:`~muxi_proto.specs.StreamSpec` through
    its attempts, retries and fallback. See the module docstring and docs/drivers.md.

    ``options`` (:class:`~muxi_proto.options.CallOptions`, checked) apply to this call on top of
    ``settings.options``. The idempotency key is chosen once per logical request (the option's,
    or a new one) and sent with every attempt, so the runtime can deduplicate retries; a
    fallback request gets a new one.
    """

    __slots__ = (
        "_attempt",
        "_chunks",
        "_headers",
        "_key",
        "_overrides",
        "_request",
        "_settings",
        "_size",
        "_spec",
        "_started",
        "_state",
        "_status",
    )

    _status: int
    _headers: Headers
    _chunks: list[bytes]
    _size: int
    _started: float

    def __init__(
        self,
        spec: Spec[R] | StreamSpec[Any],
        settings: CallSettings,
        *,
        options: CallOptions | None = None,
    ) -> None:
        self._spec: Spec[R] | StreamSpec[Any] = spec
        self._settings = settings
        opts = merge_options(settings.options, options) if options else settings.options
        # What the options change, only when there are any (most calls have none).
        self._overrides: _Overrides | None = _Overrides(settings, opts) if opts else None
        key = opts.get("idempotency_key") if opts else None
        self._key = key or settings.builder.new_id()
        self._attempt = 0
        self._state = _IDLE
        self._request: Request | None = None
        # Set when they come to matter: _status, _headers, _chunks, _size (head), _started (_send).

    # -- what a driver or a test may read --
    @property
    def state(self) -> CallState:
        """The current state."""
        return self._state

    @property
    def attempt(self) -> int:
        """Attempts made so far for the current request (1 after the first :class:`Send`)."""
        return self._attempt

    @property
    def request(self) -> Request | None:
        """The request of the current attempt (None before :meth:`start`)."""
        return self._request

    @property
    def spec(self) -> Spec[R] | StreamSpec[Any]:
        """What this call does (the fallback's spec once it took over)."""
        return self._spec

    @property
    def idempotency_key(self) -> str:
        """The ``X-Muxi-Idempotency-Key`` sent with every attempt of the current request."""
        return self._key

    @property
    def settings(self) -> CallSettings:
        """The client-wide settings this call runs with."""
        return self._settings

    # -- events --
    def start(self) -> Send:
        """The first attempt's request."""
        if self._state is not _IDLE:
            self._refuse(_IDLE, "start")
        return self._send()

    def resume(self) -> Send:
        """After a :class:`Sleep`: the next attempt's request, signed now."""
        if self._state is not _WAITING:
            self._refuse(_WAITING, "resume")
        return self._send()

    def head(self, status: int, headers: Headers) -> ReadBody | Sleep | OpenStream:
        """The response's status line and headers arrived."""
        if self._state is not _SENDING:
            self._refuse(_SENDING, "head")
        if type(status) is not int or not 200 <= status <= 299:  # a 2xx int passes with one test
            _check_status(status)
        settings = self._settings
        if settings.debug:
            self._log(status)
        if not _notice_given and settings.builder.via_server:
            _note_latest(headers, settings.logger)
        if not 200 <= status <= 299:
            op = self._spec.operation
            decision = self._retry_policy().decide(
                self._attempt, op.method, Received(status, headers),
                idempotent_route=op.idempotent_route, now=settings.clock(),
            )
            if decision.retry:
                return self._sleep(decision.delay, status)
        elif isinstance(self._spec, StreamSpec) and _is_event_stream(headers):
            self._state = _STREAMING
            return OpenStream(self._spec.machine(), headers, status, self._request)
        self._state = _READING
        self._status = status
        self._headers = headers
        self._chunks = []
        self._size = 0
        return READ_BODY

    def data(self, chunk: bytes) -> ReadBody | Fail:
        """A piece of the body (any size, empty ones included)."""
        if self._state is not _READING:
            self._refuse(_READING, "data")
        self._size += len(chunk)
        if self._size > self._settings.max_body:
            self._chunks = _NO_CHUNKS
            return self._fail(LimitExceededError(
                message=f"response body larger than {self._settings.max_body} bytes",
                status_code=self._status,
            ))
        self._chunks.append(chunk if type(chunk) is bytes else bytes(chunk))
        return READ_BODY

    def end(self) -> Done[R] | Fail | Send:
        """The body ended: the result, the typed error, or the fallback call's first request."""
        if self._state is not _READING:
            self._refuse(_READING, "end")
        chunks = self._chunks
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self._chunks = _NO_CHUNKS
        spec = self._spec
        settings = self._settings
        status, headers = self._status, self._headers
        if isinstance(spec, StreamSpec):
            if not 200 <= status <= 299:
                return self._fail(error_from_response(Response(status, headers, body), now=settings.clock()))
            ctype = get_header(headers, "content-type") or "no content type"
            return self._fail(ResponseDecodeError(
                message=f"expected an event stream, got {ctype}", status_code=status,
                details={"body": body[:200].decode("utf-8", "replace")},
            ))
        try:
            value = decode_answer(status, headers, body, spec.decode, settings.clock)
            result: R = spec.finish(value) if spec.finish is not None else value
        except MuxiError as exc:
            if spec.fallback is not None and isinstance(exc, spec.fallback[0]):
                self._spec = spec.fallback[1]
                self._key = settings.builder.new_id()  # a new logical request
                self._attempt = 0
                return self._send()
            return self._fail(exc)
        self._state = _DONE
        return Done(result, status, headers)

    def body(self, data: bytes) -> Done[R] | Fail | Send:
        """The whole body at once: :meth:`data` then :meth:`end`, for drivers that read bodies in
        one piece (read at most ``settings.max_body + 1`` bytes, so the limit still shows)."""
        step = self.data(data)
        return self.end() if step is READ_BODY else step  # type: ignore[return-value]

    def failed(self, error: BaseException, *, phase: str | None = None) -> Sleep | Fail:
        """The transport failed while sending or reading (refused, reset, timeout, bad HTTP...).

        ``error`` is a :class:`~muxi_proto.errors.MuxiError` from a muxi transport (its
        ``details["phase"]`` says where it failed), or any exception from your own I/O with the
        ``phase`` it happened in (see :func:`transport_error`). Retries only what is safe to replay.
        """
        if self._state is not _SENDING and self._state is not _READING:
            self._refuse(_SENDING, "failed")
        request = self._request
        assert request is not None  # set in every state that accepts failed()
        exc = transport_error(error, request, phase=phase)
        settings = self._settings
        if settings.debug:
            self._log(type(exc).__name__)
        self._chunks = _NO_CHUNKS
        if not isinstance(exc, ConnectionError):  # timeouts, TLS and protocol errors are ConnectionErrors
            return self._fail(exc)
        op = self._spec.operation
        decision = self._retry_policy().decide(
            self._attempt, op.method, Failure(reached_server(exc)),
            idempotent_route=op.idempotent_route, now=settings.clock(),
        )
        if not decision.retry:
            return self._fail(exc)
        return self._sleep(decision.delay, exc.code)

    # -- internals --
    def _send(self) -> Send:
        self._attempt += 1
        settings = self._settings
        over = self._overrides
        if over is None:
            request = settings.builder.build(
                self._spec.operation, idempotency_key=self._key, timestamp=settings.clock()
            )
        else:
            request = settings.builder.build(
                self._spec.operation, idempotency_key=self._key, timestamp=settings.clock(),
                timeout=over.timeout, extra_headers=over.headers, idle_timeout=over.idle,
            )
        self._request = request
        self._state = _SENDING
        if settings.debug:
            self._started = settings.timer()
        return Send(request)

    def _retry_policy(self) -> RetryPolicy:
        over = self._overrides
        return self._settings.retry if over is None else over.retry

    def _sleep(self, delay: float, why: object) -> Sleep:
        self._state = _WAITING
        settings = self._settings
        if settings.debug:
            request = self._request
            assert request is not None
            settings.logger.debug("retrying %s %s in %.2fs (%s)", request.method, request.url, delay, why)
        return Sleep(delay)

    def _fail(self, error: MuxiError) -> Fail:
        self._state = _FAILED
        return Fail(error)

    def _log(self, outcome: int | str) -> None:
        request = self._request
        assert request is not None
        self._settings.logger.debug(
            "%s %s -> %s (%.3fs, attempt %d)",
            request.method, request.url, outcome, self._settings.timer() - self._started, self._attempt,
        )

    def _refuse(self, state: CallState, event: str) -> NoReturn:
        raise CallStateError(
            message=f"{event}() is not valid in state {self._state.value!r} "
            f"(expected {state.value!r}; see docs/drivers.md)",
            details={"state": self._state.value, "event": event},
        )

    def __repr__(self) -> str:
        op = self._spec.operation
        return f"<CallMachine {op.method} {op.path} {self._state.value} attempt={self._attempt}>"


def _check_status(status: object) -> None:
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 999:
        raise CallStateError(message=f"head(): not an HTTP status: {status!r}")


def reached_server(error: MuxiError) -> bool:
    """Whether a failed attempt may have reached the server (so replaying it may repeat it).

    Only failures whose ``details["phase"]`` is in :data:`NOT_SENT_PHASES` prove it never left.
    """
    phase = error.details.get("phase") if isinstance(error.details, dict) else None
    return phase not in NOT_SENT_PHASES


def transport_error(error: BaseException, request: Request, *, phase: str | None = None) -> MuxiError:
    """``error`` as the typed error the retry policy reads; ``phase`` says where it happened.

    A :class:`~muxi_proto.errors.MuxiError` is kept as it is (``phase`` is added to its details
    when it has none). Another exception is classified by type: ``TimeoutError`` becomes
    :class:`~muxi_proto.errors.TimeoutError`, an ``ssl`` error :class:`~muxi_proto.errors.TLSError`,
    any other ``OSError`` :class:`~muxi_proto.errors.ConnectionError`, and anything else (an HTTP
    parser's error, say) :class:`~muxi_proto.errors.ProtocolError`. The message names the method,
    the URL and the exception, never a header value.
    """
    if isinstance(error, MuxiError):
        if phase is not None and isinstance(error.details, dict) and "phase" not in error.details:
            error.details["phase"] = phase
        return error
    if not isinstance(error, Exception):  # cancellation and exits are not transport failures
        raise CallStateError(message=f"failed() takes an Exception, not {type(error).__name__}")
    cls: type[MuxiError]
    if isinstance(error, builtins.TimeoutError):
        cls = TimeoutError
    elif type(error).__module__ == "ssl":
        cls = TLSError
    elif isinstance(error, OSError):
        cls = ConnectionError
    else:
        cls = ProtocolError
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    message = _redact(f"{request.method} {request.url}: {text}"[:500], request)
    details: dict[str, Any] = {"method": request.method, "url": request.url}
    if phase is not None:
        details["phase"] = phase
    mapped = cls(message=message, details=details)
    mapped.__cause__ = error
    return mapped


_PLAIN_HEADERS = frozenset({"x-muxi-sdk", "x-muxi-client", "content-type", "accept", "x-formation-version"})


def _redact(text: str, request: Request) -> str:
    """``text`` without any credential the request carries (a foreign exception may quote one)."""
    for name, value in request.headers:
        if name.lower() in _PLAIN_HEADERS:
            continue
        for piece in (value, *value.replace(",", " ").replace("=", " ").split()):
            if len(piece) >= 8 and piece in text:
                text = text.replace(piece, "***")
    return text


def _is_event_stream(headers: Headers) -> bool:
    ctype = get_header(headers, "content-type")
    return ctype is not None and ctype.split(";", 1)[0].strip().lower() == "text/event-stream"


# --- the SDK-latest notice (docs/protocol.md §6): once per process, through logging only ----------

_notice_given = False


def _note_latest(headers: Headers, logger: logging.Logger) -> None:
    """Warn once per process when the server names a newer SDK (numeric comparison).

    Only the MUXI server sends the header, on its own routes and through its ``/api`` and
    ``/draft`` proxy (docs/protocol.md §6): calls to a runtime reached directly skip the
    search. ``MUXI_SDK_VERSION_NOTIFICATION=0`` (as
    for the official SDK) turns the notice off.
    """
    global _notice_given  # noqa: PLW0603 - once per process, by design
    if _notice_given:
        return
    latest = get_header(headers, "x-muxi-sdk-latest")
    if latest is None:
        return
    _notice_given = True
    if os.environ.get("MUXI_SDK_VERSION_NOTIFICATION", "1").strip().lower() in ("0", "false", "no", "off"):
        return
    if is_newer(latest, __version__):
        logger.warning("muxi: a newer SDK is available: %s (this is %s)", latest, __version__)
