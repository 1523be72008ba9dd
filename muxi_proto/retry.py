"""The retry policy as a pure decision: given what happened, retry after N seconds, or stop.

Inputs: the attempt number just made, the request's method, whether its route is idempotent (the
runtime replays the cached answer for a reused idempotency key on ``POST /chat``,
``POST /triggers/{name}`` and ``POST /scheduler/jobs``), and the outcome: a status with headers, or
a failure that did or did not reach the server. The caller sleeps (with its own event loop) and
re-signs the next attempt; this module only decides.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from .http import Headers, get_header
from .responses import parse_retry_after

__all__ = [
    "RETRYABLE_STATUSES",
    "SAFE_METHODS",
    "Failure",
    "Received",
    "RetryDecision",
    "RetryPolicy",
]

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# Methods whose repetition cannot do anything the first attempt did not (RFC 9110 idempotent
# methods minus PUT: a MUXI update PUT starts a blue-green deployment, and deploys are not replayed).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})


@dataclass(frozen=True, slots=True)
class Received:
    """The server answered with ``status``."""

    status: int
    headers: Headers = ()


@dataclass(frozen=True, slots=True)
class Failure:
    """No answer. ``reached_server`` is False only when the request provably never left
    (connection refused, DNS failure, TLS handshake failure, connect or pool timeout)."""

    reached_server: bool


Outcome = Received | Failure


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """``retry`` and how long to wait first; ``reason`` is for debug logs."""

    retry: bool
    delay: float = 0.0
    reason: str = ""


STOP = RetryDecision(False)


@dataclass(frozen=True)
class RetryPolicy:
    """Capped exponential backoff with jitter, honouring ``Retry-After``.

    Backoff for the n-th retry is ``initial * 2**(n-1)``, capped at ``max_backoff``, times a jitter
    factor in ``[1 - jitter, 1 + jitter]`` drawn from ``random`` (inject a seeded source in tests).
    ``Retry-After`` (seconds or HTTP-date) replaces the backoff, capped at ``max_retry_after``.
    ``max_retries`` None (the default) means "the client config's ``max_retries``": a policy passed
    to a client tunes the backoff without silently turning retries off.
    """

    max_retries: int | None = None
    initial_backoff: float = 0.5
    max_backoff: float = 30.0
    jitter: float = 0.1
    max_retry_after: float = 60.0
    random: Callable[[], float] = random.random

    def decide(
        self,
        attempt: int,
        method: str,
        outcome: Outcome,
        *,
        idempotent_route: bool = False,
        now: float = 0.0,
    ) -> RetryDecision:
        """Decide after attempt number ``attempt`` (1 for the first) ended in ``outcome``."""
        if attempt > (self.max_retries or 0):
            return STOP
        replay_safe = method.upper() in SAFE_METHODS or idempotent_route
        if isinstance(outcome, Failure):
            if outcome.reached_server and not replay_safe:
                return STOP
            why = "connection failure" + ("" if outcome.reached_server else " before sending")
            return RetryDecision(True, self._backoff(attempt), why)
        if outcome.status not in RETRYABLE_STATUSES or not replay_safe:
            return STOP
        delay = self._backoff(attempt)
        after = parse_retry_after(get_header(outcome.headers, "retry-after"), now=now)
        if after is not None:
            delay = min(after, self.max_retry_after)
        return RetryDecision(True, delay, f"status {outcome.status}")

    def _backoff(self, attempt: int) -> float:
        base = min(self.initial_backoff * 2.0 ** min(attempt - 1, 62), self.max_backoff)
        factor = 1.0 + self.jitter * (2.0 * float(self.random()) - 1.0)
        return max(0.0, base * factor)
