"""One logical call as a state machine: requests out, outcomes in, a result or an error at the end.

The sync and async clients drive an :class:`Exchange` with the same few lines::

    ex = Exchange(builder, spec, policy)
    while True:
        request = ex.request()
        try:
            response = transport.send(request)
        except MuxiError as exc:
            sleep(ex.failed(exc))          # re-raises exc when it must not be retried
            continue
        step = ex.received(response.status, response.headers)
        if step is Step.RETRY: close the response; sleep(ex.delay); continue
        if step is Step.STREAM: return the stream (status and content type already checked)
        if ex.complete(response.status, response.headers, body):   # False: a fallback request follows
            return ex.result

Nothing here touches the network or the clock directly; ``clock`` is injected.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from .api import Spec, StreamSpec
from .errors import ConnectionError, MuxiError, ResponseDecodeError
from .http import Headers, Request, Response, get_header
from .requests import Call, RequestBuilder
from .responses import decode_response, error_from_response
from .retry import Failure, Received, RetryPolicy

__all__ = ["DEFAULT_MAX_BODY", "Exchange", "Step", "reached_server"]

R = TypeVar("R")

DEFAULT_MAX_BODY = 64 * 1024 * 1024  # a JSON answer larger than this is an error, not an OOM


class Step(enum.Enum):
    """What the driver does after the status line and headers arrived."""

    READ = "read"  # read the (bounded) body and call complete()
    RETRY = "retry"  # discard this response, wait ex.delay, send ex.request() again
    STREAM = "stream"  # hand the body to the stream machine


def reached_server(error: MuxiError) -> bool:
    """Whether a failed attempt may have reached the server (so replaying it may repeat it).

    Transports put the failing phase in ``details["phase"]``; only failures while connecting or
    waiting for a pooled connection prove the request never left.
    """
    phase = error.details.get("phase") if isinstance(error.details, dict) else None
    return phase not in ("connect", "pool")


class Exchange(Generic[R]):
    """Drives one :class:`Spec` or :class:`StreamSpec` through retries (and a fallback spec)."""

    __slots__ = ("_call", "_policy", "_spec", "builder", "clock", "delay", "max_body", "result")

    def __init__(
        self,
        builder: RequestBuilder,
        spec: Spec[R] | StreamSpec[Any],
        policy: RetryPolicy,
        *,
        clock: Callable[[], float] = time.time,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        self.builder = builder
        self._spec = spec
        self._policy = policy
        self.clock = clock
        self.max_body = max_body
        self._call: Call = builder.call(spec.operation)
        self.delay = 0.0
        self.result: R | None = None

    @property
    def attempt(self) -> int:
        """Attempts made so far for the current spec."""
        return self._call.attempts

    @property
    def is_stream(self) -> bool:
        """True for streamed calls."""
        return isinstance(self._spec, StreamSpec)

    def request(self) -> Request:
        """The next attempt's request, signed now."""
        return self._call.next_request(self.clock())

    def failed(self, error: MuxiError) -> float:
        """A transport failure: the delay before retrying, or ``error`` re-raised."""
        if not isinstance(error, ConnectionError):  # timeouts, TLS and protocol errors included
            raise error
        op = self._call.operation
        decision = self._policy.decide(
            self._call.attempts, op.method, Failure(reached_server(error)),
            idempotent_route=op.idempotent_route, now=self.clock(),
        )
        if not decision.retry:
            raise error
        self.delay = decision.delay
        return decision.delay

    def received(self, status: int, headers: Headers) -> Step:
        """Decide what to do with a response whose head just arrived."""
        op = self._call.operation
        if not 200 <= status <= 299:
            decision = self._policy.decide(
                self._call.attempts, op.method, Received(status, headers),
                idempotent_route=op.idempotent_route, now=self.clock(),
            )
            if decision.retry:
                self.delay = decision.delay
                return Step.RETRY
            return Step.READ
        if isinstance(self._spec, StreamSpec) and _is_event_stream(headers):
            return Step.STREAM
        return Step.READ

    def complete(self, status: int, headers: Headers, body: bytes) -> bool:
        """The whole body arrived: True with :attr:`result` set, False when a fallback follows.

        Raises the typed error for error statuses, and for a stream call that got no event stream.
        """
        spec = self._spec
        response = Response(status, headers, body)
        if isinstance(spec, StreamSpec):
            if not 200 <= status <= 299:
                raise error_from_response(response, now=self.clock())
            ctype = get_header(headers, "content-type") or "no content type"
            raise ResponseDecodeError(
                message=f"expected an event stream, got {ctype}", status_code=status,
                details={"body": body[:200].decode("utf-8", "replace")},
            )
        try:
            value = decode_response(response, decode=spec.decode, now=self.clock())
            self.result = spec.finish(value) if spec.finish is not None else value
        except MuxiError as exc:
            if spec.fallback is not None and isinstance(exc, spec.fallback[0]):
                self._spec = spec.fallback[1]
                self._call = self.builder.call(self._spec.operation)  # a new logical request
                return False
            raise
        return True


def _is_event_stream(headers: Headers) -> bool:
    ctype = get_header(headers, "content-type")
    return ctype is not None and ctype.split(";", 1)[0].strip().lower() == "text/event-stream"
