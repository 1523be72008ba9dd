"""The transport interface: what a client needs from an HTTP implementation, and nothing more.

A transport sends a :class:`muxi_proto.http.Request` and returns a response whose body is an
iterator (sync) or async iterator (async) of byte chunks. It owns pooling, TLS, timeouts and
cleanup, and knows nothing about MUXI. Errors leave a transport only as
:class:`muxi_proto.errors.MuxiError` subclasses (``ConnectionError``, ``TimeoutError``,
``TLSError``, ``ProtocolError``).

Writing your own transport means subclassing :class:`Transport` or :class:`AsyncTransport` and
implementing ``send`` (and ``close`` if it holds resources).
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from types import TracebackType
from typing import Generic, TypeVar

from muxi_proto.errors import LimitExceededError
from muxi_proto.http import Headers, Request, get_header

__all__ = [
    "AsyncResponse",
    "AsyncTransport",
    "SyncResponse",
    "Transport",
]


S = TypeVar("S", Iterable[bytes], AsyncIterable[bytes])
C = TypeVar("C", Callable[[], None], Callable[[], Awaitable[None]])


class _Response(Generic[S, C]):
    """What both responses hold: status, headers, the request, the body stream, the close hook."""

    __slots__ = ("_closed", "_on_close", "_stream", "headers", "request", "status")

    def __init__(
        self, status: int, headers: Headers, stream: S, *, request: Request | None = None, on_close: C | None = None
    ) -> None:
        self.status = status
        self.headers = headers
        self.request = request
        self._stream: S = stream
        self._on_close: C | None = on_close
        self._closed = False

    def header(self, name: str) -> str | None:
        """First value of header ``name`` (case-insensitive), or None."""
        return get_header(self.headers, name)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.status}>"


class SyncResponse(_Response[Iterable[bytes], Callable[[], None]]):
    """Status, headers and a body read incrementally; close it (or use ``with``) when done."""

    __slots__ = ()

    def iter_bytes(self) -> Iterator[bytes]:
        """The body, chunk by chunk, as it arrives."""
        for chunk in self._stream:
            if chunk:
                yield chunk

    def __iter__(self) -> Iterator[bytes]:
        return self.iter_bytes()

    def read(self, limit: int | None = None) -> bytes:
        """The whole body; :class:`LimitExceededError` once it grows past ``limit`` bytes."""
        parts: list[bytes] = []
        size = 0
        for chunk in self.iter_bytes():
            size += len(chunk)
            if limit is not None and size > limit:
                self.close()
                raise LimitExceededError(message=f"response body larger than {limit} bytes")
            parts.append(chunk)
        return b"".join(parts)

    def close(self) -> None:
        """Release the connection (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._on_close is not None:
            self._on_close()

    def __enter__(self) -> SyncResponse:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncResponse(_Response[AsyncIterable[bytes], Callable[[], Awaitable[None]]]):
    """Async twin of :class:`SyncResponse`; ``aclose()`` it (or use ``async with``)."""

    __slots__ = ()

    def aiter_bytes(self) -> AsyncIterator[bytes]:
        """The body, chunk by chunk, as it arrives."""
        # A plain iterator object, not an async generator: one abandoned mid-body would be
        # finalised by the garbage collector (trio warns about that), not by aclose().
        return _NonEmptyChunks(self._stream)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self.aiter_bytes()

    async def aread(self, limit: int | None = None) -> bytes:
        """The whole body; :class:`LimitExceededError` once it grows past ``limit`` bytes."""
        parts: list[bytes] = []
        size = 0
        async for chunk in self.aiter_bytes():
            size += len(chunk)
            if limit is not None and size > limit:
                await self.aclose()
                raise LimitExceededError(message=f"response body larger than {limit} bytes")
            parts.append(chunk)
        return b"".join(parts)

    async def aclose(self) -> None:
        """Release the connection (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._on_close is not None:
            await self._on_close()

    async def __aenter__(self) -> AsyncResponse:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class _NonEmptyChunks:
    """Async iterator over ``stream`` that skips empty chunks."""

    __slots__ = ("_iterator",)

    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self._iterator = stream.__aiter__()

    def __aiter__(self) -> _NonEmptyChunks:
        return self

    async def __anext__(self) -> bytes:
        while True:
            chunk = await self._iterator.__anext__()
            if chunk:
                return chunk


class Transport(abc.ABC):
    """A blocking HTTP transport."""

    @abc.abstractmethod
    def send(self, request: Request) -> SyncResponse:
        """Send ``request``; return once the status line and headers are in."""

    def close(self) -> None:  # noqa: B027 - optional hook, stateless transports need nothing
        """Close pooled connections."""

    def __enter__(self) -> Transport:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncTransport(abc.ABC):
    """An async HTTP transport (asyncio, trio, or both)."""

    @abc.abstractmethod
    async def send(self, request: Request) -> AsyncResponse:
        """Send ``request``; return once the status line and headers are in."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Close pooled connections."""

    async def sleep(self, seconds: float) -> None:
        """Wait on the running event loop (used between retries); override for other loops."""
        import anyio

        await anyio.sleep(seconds)

    async def __aenter__(self) -> AsyncTransport:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
