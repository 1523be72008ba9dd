"""A transport and the response it returns (see :mod:`muxi_transports.base`).

Written once: ``_async/base.py`` is the source, ``_sync/base.py`` is generated from it.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import TypeVar

from muxi_proto.errors import LimitExceededError
from muxi_proto.http import Headers, Request, get_header

from .._aiter import NonEmpty  # async only

__all__ = ["AsyncResponse", "AsyncTransport"]

_T = TypeVar("_T", bound="_Closing")


class _Closing:
    """``async with`` closes it (:meth:`aclose`)."""

    __slots__ = ()

    async def aclose(self) -> None:
        """Release what it holds."""

    async def __aenter__(self: _T) -> _T:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class AsyncResponse(_Closing):
    """Status, headers and a body read incrementally; ``aclose()`` it (or use ``async with``) when done."""

    __slots__ = ("_closed", "_on_close", "_stream", "headers", "request", "status")

    def __init__(
        self,
        status: int,
        headers: Headers,
        stream: AsyncIterable[bytes],
        *,
        request: Request | None = None,
        on_close: Callable[[], Awaitable[None]] | None = None,  # sync: on_close: Callable[[], None] | None = None,
    ) -> None:
        self.status = status
        self.headers = headers
        self.request = request
        self._stream = stream
        self._on_close = on_close
        self._closed = False

    def header(self, name: str) -> str | None:
        """First value of header ``name`` (case-insensitive), or None."""
        return get_header(self.headers, name)

    def aiter_bytes(self) -> AsyncIterator[bytes]:
        """The body, chunk by chunk, as it arrives."""
        return NonEmpty(self._stream)  # sync: return filter(None, self._stream)

    def aiter_raw(self) -> AsyncIterator[bytes]:
        """The body as the transport hands it over, empty chunks included (for a reader that
        ignores them: one step less per chunk)."""
        return self._stream.__aiter__()

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

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.status}>"


class AsyncTransport(_Closing, abc.ABC):
    """An HTTP transport: ``send`` a request, get the response once its head is in."""

    @abc.abstractmethod
    async def send(self, request: Request) -> AsyncResponse:
        """Send ``request``; return once the status line and headers are in."""

    async def aclose(self) -> None:  # stateless transports need nothing
        """Close pooled connections."""

    # async only: begin
    async def sleep(self, seconds: float) -> None:
        """Wait on the running event loop (used between retries); override for other loops."""
        import anyio

        await anyio.sleep(seconds)

    # async only: end
