"""Workarounds for httpcore 1.0 (tested with 1.0.9), all in one place, each with the reason it exists.

``tests/test_transport_httpcore_compat.py`` pins every reason against the installed httpcore: when
an upgrade makes one of those tests fail, the workaround next to it can probably go.

1. :func:`leftover_bytes`: httpcore pools an HTTP/1.1 connection on which the server sent bytes past
   the end of the response; they would be read as the answer to the next request (a forged or
   desynchronised response). Only h11's private state shows them.
2. :class:`InFlightLimit`: the sync pool can close a connection it has just handed to a waiting
   thread (encode/httpcore#1110: EBADF, or a hang until the read timeout), so the transport keeps
   httpcore's queue empty and bounds requests in flight itself. (The async pool is not affected:
   :class:`AsyncInFlightLimit` leaves the limit to it.)
3. :func:`pin_alpn`: httpcore calls ``set_alpn_protocols`` on its SSL context before every TLS
   connection. A context shared between transports and threads must not change under a handshake.
4. :class:`RequestBody`: httpcore wraps ``bytes`` content in an async generator, which a failed
   write leaves for the garbage collector to finalise (trio warns about each).
5. :func:`end_body`: a response body is a chain of async generators; one abandoned half-way is
   finalised by the garbage collector too, unless it is run to its end.
6. :func:`stale_connection`: httpcore resends a request only when it knows before sending that a
   connection is unusable; a keep-alive connection the server closed just as the request went out
   fails instead.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

import httpcore

from muxi_proto.errors import ConfigurationError

from ._errors import PhaseTimeout

if TYPE_CHECKING:
    from ._deadline import Deadline

__all__ = [
    "AsyncInFlightLimit",
    "InFlightLimit",
    "Permit",
    "RequestBody",
    "end_body",
    "leftover_bytes",
    "pin_alpn",
    "stale_connection",
]


# --- 1. bytes after the end of a response ----------------------------------------------------------------


def leftover_bytes(response: httpcore.Response) -> bool:
    """Did the server send bytes past the end of this complete HTTP/1.1 response?

    Read from h11's state inside httpcore's connection (private): anything not shaped as expected
    (HTTP/2, another httpcore) reads as "no".
    """
    stream = getattr(response.stream, "_stream", None)
    h11_state = getattr(getattr(stream, "_connection", None), "_h11_state", None)
    trailing = getattr(h11_state, "trailing_data", None)
    return isinstance(trailing, tuple) and bool(trailing[0])


# --- 2. the sync pool's queue (encode/httpcore#1110) -------------------------------------------------------


class InFlightLimit:
    """At most ``limit`` requests in flight on a sync pool whose own limit is off.

    :meth:`pool_limits` gives the httpcore pool settings that go with it: no connection limit (so
    httpcore never queues a request) and as many idle connections kept as can be busy at once (so
    it never trims one that a request is about to use).
    """

    __slots__ = ("_semaphore",)

    def __init__(self, limit: int | None) -> None:
        self._semaphore = threading.BoundedSemaphore(limit) if limit else None

    @staticmethod
    def pool_limits(max_connections: int | None, max_idle: int | None) -> tuple[None, int | None]:
        """``(max_connections, max_keepalive_connections)`` for httpcore's sync pool."""
        return None, max_connections if max_connections is not None else max_idle

    def take(self, timeout: float | None) -> Permit | None:
        """A permit, or None when none came free within ``timeout`` seconds."""
        semaphore = self._semaphore
        if semaphore is None:
            return Permit(None)
        if not semaphore.acquire(timeout=timeout):
            return None
        return Permit(semaphore)

    def enter(self, pool_timeout: float | None, deadline: Deadline | None) -> Permit:
        """A permit for one request, waiting up to the ``pool`` timeout cut to ``deadline``;
        ``PhaseTimeout("pool")`` (or ``"total"``, when the deadline set the wait) when none came."""
        if self._semaphore is None:
            return _NO_PERMIT
        limit, cut = (pool_timeout, False) if deadline is None else deadline.limit(pool_timeout)
        permit = self.take(limit)
        if permit is None:
            raise PhaseTimeout("total" if cut else "pool")
        return permit


class AsyncInFlightLimit:
    """The async pool's own limit works (it queues requests itself, without #1110): the twin of
    :class:`InFlightLimit` that leaves the limit to httpcore, for the code both transports share."""

    __slots__ = ()

    def __init__(self, limit: int | None) -> None:
        pass

    @staticmethod
    def pool_limits(max_connections: int | None, max_idle: int | None) -> tuple[int | None, int | None]:
        """``(max_connections, max_keepalive_connections)`` for httpcore's async pool: as given."""
        return max_connections, max_idle

    def enter(self, pool_timeout: float | None, deadline: Deadline | None) -> Permit:
        """Every request enters at once (httpcore's queue waits)."""
        return _NO_PERMIT


class Permit:
    """One request's place in :class:`InFlightLimit`, released exactly once."""

    __slots__ = ("_semaphore",)

    def __init__(self, semaphore: threading.BoundedSemaphore | None) -> None:
        self._semaphore = semaphore

    def release(self) -> None:
        semaphore, self._semaphore = self._semaphore, None
        if semaphore is not None:
            semaphore.release()


_NO_PERMIT = Permit(None)  # for requests no limit applies to (releasing it does nothing)


# --- 3. a shared SSL context's ALPN list -------------------------------------------------------------------


class _PinnedALPN(ssl.SSLContext):
    """A context whose ALPN protocols were fixed when it was made: setting the same list again changes
    nothing (it would be a write racing other threads' handshakes, since CPython creates each
    connection's SSL object from the context without holding the GIL); another list raises."""

    _muxi_alpn: list[str]

    def set_alpn_protocols(self, alpn_protocols: Iterable[str]) -> None:
        if list(alpn_protocols) != self._muxi_alpn:
            raise ConfigurationError(
                "SHARED_SSL_CONTEXT", "the ALPN protocols of a shared SSL context cannot change"
            )


def pin_alpn(ctx: ssl.SSLContext, alpn: Sequence[str]) -> ssl.SSLContext:
    """``ctx`` (already offering ``alpn``) made to refuse any change of its ALPN list.

    The class is swapped rather than a subclass built from scratch: the context keeps the stdlib's
    defaults exactly as ``create_default_context`` made them (they vary by Python version).
    """
    ctx.__class__ = _PinnedALPN
    assert isinstance(ctx, _PinnedALPN)
    ctx._muxi_alpn = list(alpn)
    return ctx


# --- 4. request bodies without async generators -----------------------------------------------------------


class RequestBody:
    """The request body for httpcore, iterable again for a resend, with no generator inside."""

    __slots__ = ("_data",)

    def __init__(self, data: bytes) -> None:
        self._data = data

    def __iter__(self) -> Iterator[bytes]:
        return iter((self._data,))

    def __aiter__(self) -> _OneChunk:
        return _OneChunk(self._data)


class _OneChunk:
    __slots__ = ("_data",)

    def __init__(self, data: bytes | None) -> None:
        self._data = data

    async def __anext__(self) -> bytes:
        data, self._data = self._data, None
        if data is None:
            raise StopAsyncIteration
        return data


# --- 5. ending a response body's generators ---------------------------------------------------------------

#: Chunks already buffered by h11 that an abandoned body may still yield before its read fails.
_DRAIN_LIMIT = 10_000


async def end_body(iterator: AsyncIterator[bytes]) -> None:
    """Run a body's generator chain to its end once its connection is closed.

    With the connection closed the innermost read fails at once, which ends every generator of the
    chain now, leaving nothing for the garbage collector.
    """
    with contextlib.suppress(Exception):
        for _ in range(_DRAIN_LIMIT):
            await iterator.__anext__()


# --- 6. stale keep-alive connections ----------------------------------------------------------------------


_NEVER_RESENT = (PhaseTimeout, httpcore.LocalProtocolError, httpcore.TimeoutException)


def stale_connection(exc: Exception, *, reused: bool, received: int, peer_closed: bool) -> bool:
    """May a request that failed with ``exc`` be sent again, once, on a new connection?

    Only when it went out on a reused keep-alive connection, no byte of a response came back, and
    the connection turned out dead: closed by the server, reset or broken. Never after one of our
    own deadlines or a request httpcore refused to encode, which would fail again.
    """
    if not reused or received or isinstance(exc, _NEVER_RESENT):
        return False
    return peer_closed or isinstance(exc, httpcore.ReadError | httpcore.WriteError)
