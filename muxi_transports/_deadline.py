"""The overall deadline of one attempt (``Timeout.total``), enforced alike by every transport.

A server that drips one byte per second never trips a read timeout, so each blocking step of an
attempt (pool wait, connect, TLS, write, every read) runs with the smaller of its own limit and the
time left. When the time left is what ran out, the step fails with ``PhaseTimeout("total")``.

The h11 transports pass a :class:`Deadline` down explicitly: ``limit, scope = cut_to(deadline,
step_timeout)``, then the step runs with ``limit`` inside ``with scope:``, which renames the step's
timeout ``"total"`` when the deadline set the limit. httpcore owns its read loop, so for it the
deadline travels in a context variable (:data:`current_attempt`) to ``DeadlineBackend`` /
``AsyncDeadlineBackend`` (``_async/network.py`` and its generated twin), network backends that wrap
httpcore's own and bound each socket operation the same way (:func:`bounded`). (With HTTP/2, reads
on a shared connection are bounded by the deadline of whichever request reads.)

Being our own, those network streams also tell the transport what httpcore's exceptions do not say
by type: how many bytes came back for the request and whether the server closed the connection
(:class:`Attempt`), so a cut-short response is told from a malformed one at the call site; and they
let the transport retire a connection httpcore would pool (:meth:`Retirable.discard`).
"""

from __future__ import annotations

import contextvars
import time

import httpcore

from muxi_proto.http import Timeout

from ._errors import PhaseTimeout

__all__ = [
    "Attempt",
    "Deadline",
    "Retirable",
    "bounded",
    "current_attempt",
    "cut_to",
]


class Attempt:
    """One request on an httpcore transport, as its network streams see it.

    ``deadline`` bounds every socket operation; ``received`` counts the bytes read for it and
    ``peer_closed`` says a read met the end of the connection.
    """

    __slots__ = ("deadline", "peer_closed", "received")

    def __init__(self, deadline: Deadline | None) -> None:
        self.deadline = deadline
        self.received = 0
        self.peer_closed = False

    def saw(self, data: bytes) -> None:
        if data:
            self.received += len(data)
        else:
            self.peer_closed = True


#: The attempt running in this thread / task while httpcore works for it (httpcore transports only).
current_attempt: contextvars.ContextVar[Attempt | None] = contextvars.ContextVar("muxi_attempt", default=None)

#: What a step whose limit ran out raises: our own I/O code, or httpcore's backends.
_STEP_TIMEOUTS = (
    PhaseTimeout, httpcore.ConnectTimeout, httpcore.ReadTimeout, httpcore.WriteTimeout, httpcore.PoolTimeout
)


class Deadline:
    """A point on the monotonic clock by which one attempt must be over."""

    __slots__ = ("at",)

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds

    @classmethod
    def start(cls, timeout: Timeout) -> Deadline | None:
        """The deadline for an attempt starting now, or None when ``timeout.total`` is off."""
        return None if timeout.total is None else cls(timeout.total)

    def limit(self, step_timeout: float | None) -> tuple[float, bool]:
        """Seconds the next step may take, and whether the deadline (not the step's limit) sets them.

        Raises ``PhaseTimeout("total")`` once the deadline has passed.
        """
        left = self.at - time.monotonic()
        if left <= 0:
            raise PhaseTimeout("total")
        if step_timeout is not None and step_timeout <= left:
            return step_timeout, False
        return left, True


def cut_to(deadline: Deadline | None, step_timeout: float | None) -> tuple[float | None, _Pass]:
    """The limit for the next step, and the scope to run it in (sync or async code alike).

    Without a deadline: the step's own limit, and a scope that changes nothing. With one: the
    smaller of the limit and the time left, and, when the time left is what set it, a scope that
    turns the step's timeout into ``PhaseTimeout("total")``. Raises ``"total"`` once past.
    """
    if deadline is None:
        return step_timeout, _PASS
    limit, cut = deadline.limit(step_timeout)
    return limit, (_TOTAL_IF if cut else _PASS)


def bounded(step_timeout: float | None) -> tuple[float | None, _Pass]:
    """:func:`cut_to` with the deadline of the :data:`current_attempt`, if any (httpcore's backends)."""
    attempt = current_attempt.get()
    return cut_to(attempt.deadline if attempt is not None else None, step_timeout)


class _Pass:
    """Context manager that changes nothing (the step's own limit applies)."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc_info: object) -> None:
        return None


_PASS = _Pass()


class _TotalIf(_Pass):
    """Turns the timeout of a step whose limit the deadline cut (ours or httpcore's) into
    ``PhaseTimeout("total")``."""

    __slots__ = ()

    def __exit__(self, *exc_info: object) -> None:
        exc_type = exc_info[0]
        if isinstance(exc_type, type) and issubclass(exc_type, _STEP_TIMEOUTS):
            raise PhaseTimeout("total") from None


_TOTAL_IF = _TotalIf()


class Retirable:
    """``discard()`` makes httpcore's idle check see the connection as closed by the server, so the
    pool closes it instead of reusing it (the check runs before any waiting request gets it)."""

    __slots__ = ("_discarded",)

    def __init__(self) -> None:
        self._discarded = False

    def discard(self) -> None:
        """Never reuse this connection."""
        self._discarded = True
