"""Cancellation with each loop's own tools: asyncio's task.cancel() and trio's cancel scopes."""

from __future__ import annotations

import asyncio

import pytest
import trio
from conftest import ServeFactory

from muxi_proto.http import Request, Timeout
from muxi_transports import AnyIOTransport, AsyncHTTPCoreTransport, AsyncTransport
from muxi_transports.trio_transport import TrioTransport
from tests.httpserver import ResponseWriter, ServerRequest


async def first_then_silence(request: ServerRequest, response: ResponseWriter) -> None:
    await response.start(200)
    await response.write(b"first")
    await response.stay_silent()


@pytest.mark.parametrize("make", [AsyncHTTPCoreTransport, AnyIOTransport])
def test_asyncio_task_cancel_mid_stream(serve: ServeFactory, make: type[AsyncTransport]) -> None:
    server = serve(first_then_silence)

    async def main() -> None:
        got_first = asyncio.Event()
        transport = make()

        async def consume() -> None:
            response = await transport.send(Request("GET", server.url, stream=True, timeout=Timeout.none()))
            async for _ in response:
                got_first.set()

        task = asyncio.create_task(consume())
        await got_first.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await server.wait_until_async(lambda s: s.connections_closed == 1)
        await transport.aclose()

    asyncio.run(main())


@pytest.mark.parametrize("make", [TrioTransport, AnyIOTransport, AsyncHTTPCoreTransport])
def test_trio_cancel_scope_mid_stream(serve: ServeFactory, make: type[AsyncTransport]) -> None:
    server = serve(first_then_silence)

    async def main() -> None:
        transport = make()
        with trio.CancelScope() as scope:
            response = await transport.send(Request("GET", server.url, stream=True, timeout=Timeout.none()))
            async for _ in response:
                scope.cancel()
        assert scope.cancelled_caught
        assert await server.wait_until_async(lambda s: s.connections_closed == 1)
        await transport.aclose()
        await transport.sleep(0)  # TrioTransport sleeps with trio itself

    trio.run(main)
