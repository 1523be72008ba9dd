"""Fault injection and traffic records for the local MUXI server (thread-safe, for tests).

Configure faults from the test's thread while the server runs::

    server.faults.fail_next(2, status=503, retry_after="1")      # the next 2 requests get 503
    server.faults.fail_next(status=429, retry_after=http_date)   # one 429 with an HTTP-date
    server.faults.drop_next(when="mid_stream", path_prefix="/api/")
    server.faults.latency(0.2)                                   # every request waits 0.2 s first
    server.faults.slow_stream(0.05)                              # 50 ms between stream frames
    server.faults.garbage_next()                                 # bytes that are not HTTP
    server.faults.clear()

One-shot faults (``fail_next``, ``drop_next``, ``garbage_next``) apply to the next ``n`` requests
whose path starts with ``path_prefix`` (every path when None), in the order they were configured;
one request takes at most one of them (failures first, then garbage, then drops). ``latency`` and
``slow_stream`` stay in force until replaced or cleared.

- ``fail_next``: answered at once with ``status`` (and ``Retry-After`` when given); the request is
  **not** processed. The body is the plane's error shape (control-plane or runtime envelope).
- ``garbage_next``: the server writes bytes that are not an HTTP response and closes; the request is
  not processed.
- ``drop_next``: the request **is** processed (it reached the server), then the connection closes:
  ``"headers"`` before any byte of the answer, ``"mid_body"`` after the head and half the body,
  ``"mid_stream"`` after the first event of a stream (half the body for a JSON answer).

:class:`Traffic` records what arrived (every request, faulted or not): counts per path, and the
idempotency keys, ``Authorization`` values and user ids received, most recent ``history`` kept.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from typing import Literal

__all__ = ["DropPoint", "FaultPlan", "Faults", "SeenRequest", "Traffic"]

DropPoint = Literal["headers", "mid_body", "mid_stream"]
_DROP_POINTS = ("headers", "mid_body", "mid_stream")
DEFAULT_GARBAGE = b"\x00\xffNOT-HTTP \x1b[0m garbage\r\n\r\n"


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """What to do to one request (built by :meth:`Faults.take`)."""

    latency: float = 0.0
    fail_status: int | None = None
    retry_after: str | None = None
    garbage: bytes | None = None
    drop: DropPoint | None = None
    stream_delay: float = 0.0


@dataclass
class _OneShot:
    remaining: int
    path_prefix: str | None
    status: int = 0
    retry_after: str | None = None
    drop: DropPoint | None = None
    garbage: bytes | None = None

    def matches(self, path: str) -> bool:
        return self.remaining > 0 and (self.path_prefix is None or path.startswith(self.path_prefix))


def _retry_after_text(value: str | int | float | datetime | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("retry_after datetimes must be timezone-aware")
        return format_datetime(value, usegmt=True)
    if isinstance(value, bool) or value < 0:
        raise ValueError("retry_after must be a non-negative number of seconds")
    return str(int(value))


def _check_count(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError("n must be a positive int")
    return n


class Faults:
    """Faults to inject into the next requests; every method is safe to call from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fails: list[_OneShot] = []
        self._garbage: list[_OneShot] = []
        self._drops: list[_OneShot] = []
        self._latency: tuple[float, str | None] = (0.0, None)
        self._stream_delay: tuple[float, str | None] = (0.0, None)
        self.active = False
        """True while any fault is configured (read without the lock: the server's fast path)."""

    def fail_next(
        self,
        n: int = 1,
        *,
        status: int = 503,
        retry_after: str | int | float | datetime | None = None,
        path_prefix: str | None = None,
    ) -> None:
        """Answer the next ``n`` matching requests with ``status`` without processing them.

        ``retry_after``: seconds (int or digit string), an HTTP-date string, or an aware
        ``datetime`` (sent in HTTP-date form); None sends no ``Retry-After``.
        """
        if not 400 <= status <= 599:
            raise ValueError("status must be a 4xx or 5xx code")
        shot = _OneShot(_check_count(n), path_prefix, status=status, retry_after=_retry_after_text(retry_after))
        self._add(self._fails, shot)

    def drop_next(self, n: int = 1, *, when: DropPoint = "headers", path_prefix: str | None = None) -> None:
        """Close the connection on the next ``n`` matching requests, at ``when`` (see module doc)."""
        if when not in _DROP_POINTS:
            raise ValueError(f"when must be one of {_DROP_POINTS}")
        self._add(self._drops, _OneShot(_check_count(n), path_prefix, drop=when))

    def garbage_next(
        self, n: int = 1, *, data: bytes = DEFAULT_GARBAGE, path_prefix: str | None = None
    ) -> None:
        """Answer the next ``n`` matching requests with ``data`` (not HTTP) and close."""
        if not data:
            raise ValueError("data must not be empty")
        self._add(self._garbage, _OneShot(_check_count(n), path_prefix, garbage=bytes(data)))

    def latency(self, seconds: float, *, path_prefix: str | None = None) -> None:
        """Wait ``seconds`` before handling every matching request (0 turns it off)."""
        if seconds < 0:
            raise ValueError("seconds must be >= 0")
        with self._lock:
            self._latency = (float(seconds), path_prefix)
            self._refresh()

    def slow_stream(self, delay: float, *, path_prefix: str | None = None) -> None:
        """Wait ``delay`` seconds before every frame of matching streams (0 turns it off)."""
        if delay < 0:
            raise ValueError("delay must be >= 0")
        with self._lock:
            self._stream_delay = (float(delay), path_prefix)
            self._refresh()

    def clear(self) -> None:
        """Remove every fault."""
        with self._lock:
            self._fails.clear()
            self._garbage.clear()
            self._drops.clear()
            self._latency = (0.0, None)
            self._stream_delay = (0.0, None)
            self._refresh()

    @property
    def pending(self) -> int:
        """One-shot faults not used yet."""
        with self._lock:
            return sum(s.remaining for s in (*self._fails, *self._garbage, *self._drops))

    def take(self, path: str) -> FaultPlan | None:
        """The plan for a request to ``path`` (consuming one one-shot fault), or None."""
        with self._lock:
            latency = _standing(self._latency, path)
            stream_delay = _standing(self._stream_delay, path)
            shot = _first(self._fails, path) or _first(self._garbage, path) or _first(self._drops, path)
            if shot is not None:
                shot.remaining -= 1
                self._prune()
            if shot is None and not latency and not stream_delay:
                return None
            return FaultPlan(
                latency=latency,
                fail_status=(shot.status or None) if shot else None,
                retry_after=shot.retry_after if shot else None,
                garbage=shot.garbage if shot else None,
                drop=shot.drop if shot else None,
                stream_delay=stream_delay,
            )

    def _add(self, bucket: list[_OneShot], shot: _OneShot) -> None:
        with self._lock:
            bucket.append(shot)
            self._refresh()

    def _prune(self) -> None:
        for bucket in (self._fails, self._garbage, self._drops):
            bucket[:] = [s for s in bucket if s.remaining > 0]
        self._refresh()

    def _refresh(self) -> None:
        self.active = bool(self._fails or self._garbage or self._drops or self._latency[0] or self._stream_delay[0])

    def __repr__(self) -> str:
        return f"<Faults pending={self.pending} latency={self._latency[0]} slow_stream={self._stream_delay[0]}>"


def _standing(setting: tuple[float, str | None], path: str) -> float:
    value, prefix = setting
    return value if value and (prefix is None or path.startswith(prefix)) else 0.0


def _first(bucket: list[_OneShot], path: str) -> _OneShot | None:
    return next((s for s in bucket if s.matches(path)), None)


@dataclass(frozen=True, slots=True)
class SeenRequest:
    """A request as it arrived: method, raw path, query string and the headers tests ask about.

    ``authorization`` holds the ``Authorization`` header verbatim (tests compare signatures across
    retries); it is left out of the repr.
    """

    method: str
    path: str
    query: str
    idempotency_key: str | None
    authorization: str | None = field(repr=False)
    user_id: str | None
    at: float

    def __repr__(self) -> str:
        auth = "set" if self.authorization else None
        return f"SeenRequest({self.method} {self.path} key={self.idempotency_key!r} authorization={auth})"


class Traffic:
    """Requests the server received (thread-safe); keeps the most recent ``history`` in full."""

    def __init__(self, history: int = 10_000, *, on_change: Callable[[], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()
        self._records: deque[SeenRequest] = deque(maxlen=history)
        self._total = 0
        self._on_change = on_change

    def record(self, seen: SeenRequest) -> None:
        """Add one request (called by the server)."""
        with self._lock:
            self._counts[(seen.method, seen.path)] += 1
            self._records.append(seen)
            self._total += 1
        if self._on_change is not None:
            self._on_change()

    @property
    def total(self) -> int:
        """Requests received since start (or the last :meth:`clear`)."""
        return self._total

    def count(self, path: str | None = None, *, method: str | None = None, prefix: bool = False) -> int:
        """Requests to ``path`` (every path when None; paths starting with it when ``prefix``)."""
        with self._lock:
            if path is None and method is None:
                return self._total
            return sum(
                n for (m, p), n in self._counts.items()
                if (method is None or m == method)
                and (path is None or (p.startswith(path) if prefix else p == path))
            )

    def records(self, path: str | None = None, *, method: str | None = None) -> list[SeenRequest]:
        """Recent requests, oldest first, optionally only those to ``path`` / with ``method``."""
        with self._lock:
            items: Iterable[SeenRequest] = list(self._records)
        return [r for r in items if (path is None or r.path == path) and (method is None or r.method == method)]

    def idempotency_keys(self, path: str | None = None) -> list[str | None]:
        """The ``X-Muxi-Idempotency-Key`` of each recent request (to ``path``), in order."""
        return [r.idempotency_key for r in self.records(path)]

    def authorizations(self, path: str | None = None) -> list[str | None]:
        """The ``Authorization`` header of each recent request (to ``path``), in order."""
        return [r.authorization for r in self.records(path)]

    def clear(self) -> None:
        """Forget everything recorded so far."""
        with self._lock:
            self._counts.clear()
            self._records.clear()
            self._total = 0

    def __repr__(self) -> str:
        return f"<Traffic total={self._total}>"
