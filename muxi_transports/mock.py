"""Transports that answer from a function instead of the network: for users' tests and ours.

::

    def handler(request: Request) -> Response:
        return Response(200, (("Content-Type", "application/json"),), b'{"ok": true}')

    transport = MockTransport(handler)

A handler may also return a :class:`StreamingResponse` whose body is an iterable (or, for
:class:`AsyncMockTransport`, an async iterable) of chunks, to exercise streaming code. Exceptions
raised by the handler (``MuxiError`` or any other) propagate unchanged, so a handler can simulate
``ConnectionError`` or ``TimeoutError``. Every request is recorded in ``transport.requests``.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeAlias, TypeVar

from muxi_proto.errors import ConfigurationError
from muxi_proto.http import Headers, Request, Response, get_header

from .base import AsyncResponse, AsyncTransport, SyncResponse, Transport

__all__ = ["AsyncMockTransport", "MockTransport", "StreamingResponse"]


@dataclass(frozen=True)
class StreamingResponse:
    """A mock response whose body is produced chunk by chunk."""

    status: int
    headers: Headers = ()
    stream: Iterable[bytes] | AsyncIterable[bytes] = ()

    def header(self, name: str) -> str | None:
        """First value of header ``name`` (case-insensitive), or None."""
        return get_header(self.headers, name)

    def __repr__(self) -> str:
        return f"<StreamingResponse {self.status}>"


MockResult: TypeAlias = "Response | StreamingResponse"
Handler: TypeAlias = "Callable[[Request], MockResult]"
AsyncHandler: TypeAlias = "Callable[[Request], MockResult | Awaitable[MockResult]]"
H = TypeVar("H")  # the handler type of each mock transport


def _check(result: object) -> Response | StreamingResponse:
    if not isinstance(result, Response | StreamingResponse):
        raise ConfigurationError(
            "INVALID_MOCK_RESPONSE",
            f"mock handler must return Response or StreamingResponse, not {type(result).__name__}",
        )
    return result


class _Counter:
    """Counts responses handed out and not yet closed."""

    __slots__ = ("open",)

    def __init__(self) -> None:
        self.open = 0


class _Recorder(Generic[H]):
    """What both mock transports keep: the handler, the requests seen, responses still open."""

    def __init__(self, handler: H) -> None:
        self.handler: H = handler
        self.requests: list[Request] = []
        self.closed = False
        self._counter = _Counter()

    @property
    def open_responses(self) -> int:
        """Responses returned by ``send`` and not closed yet (0 when a client cleans up)."""
        return self._counter.open

    def __repr__(self) -> str:
        return f"<{type(self).__name__} requests={len(self.requests)}>"


class MockTransport(_Recorder[Handler], Transport):
    """A :class:`Transport` whose answers come from ``handler(request)``."""

    def send(self, request: Request) -> SyncResponse:
        """Record ``request`` and answer with the handler's response."""
        self.requests.append(request)
        result = _check(self.handler(request))
        if isinstance(result, Response):
            stream: Iterable[bytes] = (result.body,)
        elif isinstance(result.stream, AsyncIterable):
            raise ConfigurationError("INVALID_MOCK_RESPONSE", "MockTransport needs a sync iterable body")
        else:
            stream = result.stream
        counter = self._counter
        counter.open += 1

        def on_close() -> None:
            counter.open -= 1
            close = getattr(stream, "close", None)
            if close is not None:
                close()

        return SyncResponse(result.status, result.headers, stream, request=request, on_close=on_close)

    def close(self) -> None:
        """Mark the transport closed (there is nothing to release)."""
        self.closed = True


class _AsyncChunks:
    """An async iterator over a sync or async iterable, closable before its end."""

    __slots__ = ("_async", "_sync")

    def __init__(self, stream: Iterable[bytes] | AsyncIterable[bytes]) -> None:
        self._async: AsyncIterator[bytes] | None = None
        self._sync = None
        if isinstance(stream, AsyncIterable):
            self._async = stream.__aiter__()
        else:
            self._sync = iter(stream)

    def __aiter__(self) -> _AsyncChunks:
        return self

    async def __anext__(self) -> bytes:
        if self._async is not None:
            return await self._async.__anext__()
        if self._sync is not None:
            try:
                return next(self._sync)
            except StopIteration:
                raise StopAsyncIteration from None
        raise StopAsyncIteration

    async def aclose(self) -> None:
        iterator, self._async = self._async, None
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()
        sync, self._sync = self._sync, None
        close = getattr(sync, "close", None)
        if close is not None:
            close()


class AsyncMockTransport(_Recorder[AsyncHandler], AsyncTransport):
    """An :class:`AsyncTransport` whose answers come from ``handler(request)`` (sync or async)."""

    async def send(self, request: Request) -> AsyncResponse:
        """Record ``request`` and answer with the handler's response."""
        self.requests.append(request)
        result = self.handler(request)
        if inspect.isawaitable(result):
            result = await result
        checked = _check(result)
        body = _AsyncChunks((checked.body,) if isinstance(checked, Response) else checked.stream)
        counter = self._counter
        counter.open += 1

        async def on_close() -> None:
            counter.open -= 1
            await body.aclose()

        return AsyncResponse(checked.status, checked.headers, body, request=request, on_close=on_close)

    async def aclose(self) -> None:
        """Mark the transport closed (there is nothing to release)."""
        self.closed = True
