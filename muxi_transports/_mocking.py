"""What both mock transports share (see :mod:`muxi_transports.mock`): the mock response type, the
handler's answer checked, the requests recorded, the responses still open, and each side's body."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeAlias, TypeVar

from muxi_proto.errors import ConfigurationError
from muxi_proto.http import Headers, Request, Response, get_header

__all__ = ["AsyncChunks", "AsyncHandler", "Chunks", "Handler", "MockResult", "Recorder", "StreamingResponse", "check"]


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


def check(result: object) -> Response | StreamingResponse:
    """``result`` if a handler may return it, else a :class:`ConfigurationError`."""
    if not isinstance(result, Response | StreamingResponse):
        raise ConfigurationError(
            "INVALID_MOCK_RESPONSE",
            f"mock handler must return Response or StreamingResponse, not {type(result).__name__}",
        )
    return result


class Counter:
    """Counts responses handed out and not yet closed."""

    __slots__ = ("open",)

    def __init__(self) -> None:
        self.open = 0


class Recorder(Generic[H]):
    """What both mock transports keep: the handler, the requests seen, responses still open."""

    def __init__(self, handler: H) -> None:
        self.handler: H = handler
        self.requests: list[Request] = []
        self.closed = False
        self._counter = Counter()

    @property
    def open_responses(self) -> int:
        """Responses returned by ``send`` and not closed yet (0 when a client cleans up)."""
        return self._counter.open

    def __repr__(self) -> str:
        return f"<{type(self).__name__} requests={len(self.requests)}>"


class Chunks:
    """A blocking mock body: the response's bytes, or its stream (a sync iterable), as it is."""

    __slots__ = ()

    @staticmethod
    def of(result: Response | StreamingResponse) -> Iterable[bytes]:
        """The body to hand to the response."""
        if isinstance(result, Response):
            return (result.body,)
        if isinstance(result.stream, AsyncIterable):
            raise ConfigurationError("INVALID_MOCK_RESPONSE", "MockTransport needs a sync iterable body")
        return result.stream

    @staticmethod
    def close(stream: Iterable[bytes]) -> None:
        """Close ``stream`` if it can be (a generator, a file)."""
        close = getattr(stream, "close", None)
        if close is not None:
            close()


class AsyncChunks:
    """An async mock body over a sync or async iterable, closable before its end."""

    __slots__ = ("_async", "_sync")

    def __init__(self, result: Response | StreamingResponse) -> None:
        stream = (result.body,) if isinstance(result, Response) else result.stream
        self._async: AsyncIterator[bytes] | None = None
        self._sync: Iterator[bytes] | None = None
        if isinstance(stream, AsyncIterable):
            self._async = stream.__aiter__()
        else:
            self._sync = iter(stream)

    def __aiter__(self) -> AsyncChunks:
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
