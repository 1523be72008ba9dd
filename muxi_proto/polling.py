"""Polling as a state machine: repeat a call until its answer says the work is finished.

A :class:`PollMachine` takes the same events and gives the same instructions as a
:class:`~muxi_proto.call.CallMachine` (docs/drivers.md), so any driver runs it unchanged: between
two polls it simply answers :class:`~muxi_proto.call.Sleep`. ``wait_for_request`` on the formation
clients is one: it polls ``GET /requests/{id}`` until the request is no longer in flight, for the
async chats and triggers whose results would otherwise need a public webhook URL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from .call import CallMachine, CallSettings, CallState, Done, Fail, OpenStream, ReadBody, Send, Sleep
from .errors import CallStateError, ConfigurationError, NotFoundError, TimeoutError
from .http import Headers, Request

__all__ = ["REQUEST_FINISHED", "PollMachine", "request_finished"]

R = TypeVar("R")

#: Request states after which nothing changes without the user (docs/protocol.md §10: the runtime's
#: request tracker; ``awaiting_clarification`` waits for the user's answer).
REQUEST_FINISHED = frozenset({"completed", "failed", "cancelled", "awaiting_clarification"})


def request_finished(status: Any) -> bool:
    """True when a ``GET /requests/{id}`` answer is in a final state."""
    return isinstance(status, dict) and status.get("status") in REQUEST_FINISHED


class PollMachine(Generic[R]):
    """Runs ``make()``'s call until ``finished(result)``, ``interval`` seconds apart, for at most
    ``timeout`` seconds (then :class:`~muxi_proto.errors.TimeoutError`, phase ``"total"``).

    Each poll is a call machine of its own (its own retries and idempotency key). The deadline is
    read from ``settings.timer``, so tests can inject time.
    """

    __slots__ = ("_between", "_deadline", "_finished", "_inner", "_interval", "_make", "_polls",
                 "_settings", "_timeout", "_unknown_until", "_what", "unknown_for")

    def __init__(
        self,
        make: Callable[[], CallMachine[R]],
        finished: Callable[[R], bool],
        *,
        settings: CallSettings,
        timeout: float,
        interval: float,
        what: str = "the call",
        unknown_for: float = 0.0,
    ) -> None:
        for name, value in (("timeout", timeout), ("interval", interval)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ConfigurationError("INVALID_ARGUMENT", f"{name} must be a number > 0, got {value!r}")
        self._make = make
        self._finished = finished
        self._settings = settings
        self._timeout = float(timeout)
        self._interval = float(interval)
        self._what = what
        #: Seconds from the start during which a 404 means "not there yet": polled again, not raised.
        self.unknown_for = float(unknown_for)
        self._unknown_until = 0.0
        self._inner: CallMachine[R] | None = None
        self._between = False
        self._deadline = 0.0
        self._polls = 0

    @property
    def state(self) -> CallState:
        """The current poll's state (``WAITING`` between two polls)."""
        if self._inner is None:
            return CallState.IDLE
        return CallState.WAITING if self._between else self._inner.state

    @property
    def attempt(self) -> int:
        """Attempts of the current poll."""
        return 0 if self._inner is None else self._inner.attempt

    @property
    def polls(self) -> int:
        """Polls started so far."""
        return self._polls

    @property
    def request(self) -> Request | None:
        """The current poll's request."""
        return None if self._inner is None else self._inner.request

    @property
    def settings(self) -> CallSettings:
        """The client-wide settings each poll runs with."""
        return self._settings

    def start(self) -> Send:
        """The first poll's request."""
        if self._inner is not None:
            raise CallStateError(message="start() is not valid once polling has started (see docs/drivers.md)",
                                 details={"state": self.state.value, "event": "start"})
        started = self._settings.timer()
        self._deadline = started + self._timeout
        self._unknown_until = started + min(self.unknown_for, self._timeout)
        return self._next()

    def resume(self) -> Send:
        """After a :class:`Sleep`: the next poll (or the current poll's retry)."""
        if self._between:
            self._between = False
            return self._next()
        return self._current().resume()

    def head(self, status: int, headers: Headers) -> ReadBody | Sleep | OpenStream:
        """The current poll's response head."""
        return self._current().head(status, headers)

    def data(self, chunk: bytes) -> ReadBody | Fail:
        """A piece of the current poll's body."""
        return self._current().data(chunk)

    def end(self) -> Done[R] | Fail | Send | Sleep:
        """The current poll's body ended: done, failed, or a wait before the next poll."""
        return self._after(self._current().end())

    def body(self, data: bytes) -> Done[R] | Fail | Send | Sleep:
        """The current poll's whole body at once."""
        return self._after(self._current().body(data))

    def failed(self, error: BaseException, *, phase: str | None = None) -> Sleep | Fail:
        """The transport failed during the current poll."""
        return self._current().failed(error, phase=phase)

    def _current(self) -> CallMachine[R]:
        if self._inner is None or self._between:
            raise CallStateError(
                message=f"not valid in state {self.state.value!r} (see docs/drivers.md)",
                details={"state": self.state.value},
            )
        return self._inner

    def _next(self) -> Send:
        self._polls += 1
        self._inner = self._make()
        return self._inner.start()

    def _after(self, step: Done[R] | Fail | Send) -> Done[R] | Fail | Send | Sleep:
        now = self._settings.timer()
        if isinstance(step, Fail) and isinstance(step.error, NotFoundError) and now < self._unknown_until:
            self._between = True  # not known yet (an async request the runtime has not tracked yet)
            return Sleep(min(self._interval, self._unknown_until - now))
        if not isinstance(step, Done) or self._finished(step.result):
            return step
        remaining = self._deadline - now
        if remaining <= 0:
            return Fail(TimeoutError(
                message=f"{self._what} still in flight after {self._timeout:g} s ({self._polls} polls)",
                details={"phase": "total", "last": step.result},
            ))
        self._between = True
        return Sleep(min(self._interval, remaining))

    def __repr__(self) -> str:
        return f"<PollMachine {self._what} {self.state.value} polls={self._polls}>"
