"""A transport that answers from a function instead of the network (see :mod:`muxi_transports.mock`)."""

from __future__ import annotations

import inspect

from muxi_proto.http import Request

from .._mocking import AsyncChunks, AsyncHandler, Recorder, check
from .base import AsyncResponse, AsyncTransport

__all__ = ["AsyncMockTransport"]


class AsyncMockTransport(Recorder[AsyncHandler], AsyncTransport):
    """A transport whose answers come from ``handler(request)`` (an async one's may be a coroutine
    function too)."""

    async def send(self, request: Request) -> AsyncResponse:
        """Record ``request`` and answer with the handler's response."""
        self.requests.append(request)
        result = self.handler(request)
        if inspect.isawaitable(result):  # async only
            result = await result  # async only
        checked = check(result)
        body = AsyncChunks(checked)  # sync: body = Chunks.of(checked)
        counter = self._counter
        counter.open += 1

        async def on_close() -> None:
            counter.open -= 1
            await body.aclose()  # sync: Chunks.close(body)

        return AsyncResponse(checked.status, checked.headers, body, request=request, on_close=on_close)

    async def aclose(self) -> None:
        """Mark the transport closed (there is nothing to release)."""
        self.closed = True
