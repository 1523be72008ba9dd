"""MockTransport / AsyncMockTransport: handler-built responses, streaming bodies, recorded requests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from muxi_proto.errors import ConfigurationError, MuxiError, TimeoutError
from muxi_proto.http import Request, Response
from muxi_transports import AsyncMockTransport, MockTransport, StreamingResponse


def json_handler(request: Request) -> Response:
    return Response(200, (("Content-Type", "application/json"),), b'{"path": "%s"}' % request.path.encode())


def test_sync_mock_answers_and_records() -> None:
    transport = MockTransport(json_handler)
    request = Request("GET", "http://x/rpc/a")
    with transport.send(request) as response:
        assert response.status == 200
        assert response.header("content-type") == "application/json"
        assert response.read() == b'{"path": "/rpc/a"}'
        assert transport.open_responses == 1
    assert transport.open_responses == 0
    assert transport.requests == [request]
    transport.close()
    assert transport.closed


def test_sync_streaming_body_is_lazy_and_closed() -> None:
    produced: list[int] = []
    closed: list[bool] = []

    def chunks() -> Iterator[bytes]:
        try:
            for i in range(100):
                produced.append(i)
                yield b"data: %d\n\n" % i
        finally:
            closed.append(True)

    transport = MockTransport(lambda request: StreamingResponse(200, (), chunks()))
    response = transport.send(Request("GET", "http://x/stream", stream=True))
    iterator = response.iter_bytes()
    assert next(iterator) == b"data: 0\n\n"
    assert produced == [0]
    response.close()
    assert closed == [True]


def test_handler_errors_propagate_unchanged() -> None:
    error = TimeoutError(message="GET http://x/: read timed out")

    def failing(request: Request) -> Response:
        raise error

    with pytest.raises(TimeoutError) as info:
        MockTransport(failing).send(Request("GET", "http://x/"))
    assert info.value is error


def test_a_handler_returning_nonsense_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        MockTransport(lambda request: "nope").send(Request("GET", "http://x/"))  # type: ignore[arg-type,return-value]

    async def agen() -> AsyncIterator[bytes]:
        yield b"x"

    with pytest.raises(ConfigurationError):
        MockTransport(lambda request: StreamingResponse(200, (), agen())).send(Request("GET", "http://x/"))


@pytest.mark.anyio
async def test_async_mock_with_sync_and_async_handlers() -> None:
    async def async_handler(request: Request) -> Response:
        return Response(201, (), request.body)

    for handler in (json_handler, async_handler):
        transport = AsyncMockTransport(handler)
        async with await transport.send(Request("POST", "http://x/a", body=b"hi")) as response:
            body = await response.aread()
        assert response.status in (200, 201)
        assert body in (b"hi", b'{"path": "/a"}')
        assert transport.open_responses == 0
        assert len(transport.requests) == 1
        await transport.aclose()
        assert transport.closed


@pytest.mark.anyio
async def test_async_streaming_body_closed_early() -> None:
    finished: list[bool] = []

    async def chunks() -> AsyncIterator[bytes]:
        try:
            for i in range(1000):
                yield b"%d," % i
        finally:
            finished.append(True)

    transport = AsyncMockTransport(lambda request: StreamingResponse(200, (), chunks()))
    response = await transport.send(Request("GET", "http://x/", stream=True))
    iterator = response.aiter_bytes()
    assert await iterator.__anext__() == b"0,"
    assert await iterator.__anext__() == b"1,"
    await response.aclose()
    assert finished == [True]  # closed now, not left to the garbage collector
    assert transport.open_responses == 0


@pytest.mark.anyio
async def test_async_sync_iterable_body_and_errors() -> None:
    transport = AsyncMockTransport(lambda request: StreamingResponse(200, (), [b"a", b"", b"b"]))
    async with await transport.send(Request("GET", "http://x/")) as response:
        assert [c async for c in response] == [b"a", b"b"]

    async def boom(request: Request) -> Response:
        raise MuxiError("X", "handler failed")

    with pytest.raises(MuxiError, match="handler failed"):
        await AsyncMockTransport(boom).send(Request("GET", "http://x/"))


def test_reprs_hide_nothing_secret() -> None:
    transport = MockTransport(json_handler)
    transport.send(Request("GET", "http://x/", (("X-Muxi-Secret-Key", "sk_SECRET"),))).close()
    assert "sk_SECRET" not in repr(transport) + repr(transport.requests)
