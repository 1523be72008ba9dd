"""Every async transport against real servers on 127.0.0.1, under each event loop it supports."""

from __future__ import annotations

import gc
import hashlib
import socket
import warnings
from collections.abc import Iterator

import anyio
import pytest
from conftest import ServeFactory, TransportCase

from muxi_proto.errors import ConnectionError, MuxiError, ProtocolError, TimeoutError
from muxi_proto.http import Request, Timeout
from tests.httpserver import ResponseWriter, ServerRequest

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend(transport_case: TransportCase) -> str:
    return transport_case.backend


async def echo(request: ServerRequest, response: ResponseWriter) -> None:
    """Answers with method, target, the Host and Content-Length it saw, and the body's digest."""
    digest = hashlib.sha256(request.body).hexdigest()
    text = f"{request.method} {request.target} {request.header('host')} {request.header('content-length')} "
    body = f"{text}{len(request.body)} {digest}".encode()
    await response.respond(200, [("Content-Type", "text/plain")], body)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections (kernel backlog) but never reads nor answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on: connecting is refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port


async def test_get_with_content_length(transport_case: TransportCase, serve: ServeFactory) -> None:
    server = serve(echo)
    request = Request("GET", f"{server.url}/rpc/formations?x=1")
    async with transport_case.make() as transport, await transport.send(request) as response:
        assert response.status == 200
        assert response.header("content-type") == "text/plain"
        body = await response.aread()
    assert body.startswith(f"GET /rpc/formations?x=1 127.0.0.1:{server.port} None 0 ".encode())


async def test_post_body_and_framing_headers(transport_case: TransportCase, serve: ServeFactory) -> None:
    server = serve(echo)
    headers = (("Content-Type", "application/json"), ("Host", "spoofed"), ("Content-Length", "1"))
    async with transport_case.make() as transport:
        response = await transport.send(Request("POST", f"{server.url}/a", headers, b'{"a": 1}'))
        body = await response.aread()
        await response.aclose()
    assert body.startswith(f"POST /a 127.0.0.1:{server.port} 8 8 ".encode())
    received = server.requests[0]
    assert [name.lower() for name, _ in received.headers].count("host") == 1
    assert received.header("content-type") == "application/json"


async def test_chunked_response_arrives_in_pieces(transport_case: TransportCase, serve: ServeFactory) -> None:
    async def chunked(request: ServerRequest, response: ResponseWriter) -> None:
        await response.start(200, [("Content-Type", "text/event-stream")])
        for i in range(20):
            await response.write(f"data: {i}\n\n".encode())
        await response.end()

    server = serve(chunked)
    request = Request("GET", f"{server.url}/stream", stream=True)
    async with transport_case.make() as transport, await transport.send(request) as response:
        chunks = [chunk async for chunk in response.aiter_bytes()]
    assert b"".join(chunks) == b"".join(f"data: {i}\n\n".encode() for i in range(20))
    assert all(chunks)


async def test_slow_body_in_one_byte_pieces(transport_case: TransportCase, serve: ServeFactory) -> None:
    payload = bytes(range(256)) * 4

    async def slow(request: ServerRequest, response: ResponseWriter) -> None:
        await response.start(200, content_length=len(payload))
        await response.write_slowly(payload, chunk_size=1, delay=0)
        await response.end()

    server = serve(slow)
    async with transport_case.make() as transport:
        response = await transport.send(Request("GET", server.url))
        chunks = [chunk async for chunk in response]
        await response.aclose()
    assert b"".join(chunks) == payload
    assert len(chunks) > 1


async def test_ten_mib_upload(transport_case: TransportCase, serve: ServeFactory) -> None:
    body = bytes(range(256)) * (40 * 1024)  # 10 MiB
    server = serve(echo)
    request = Request("PUT", f"{server.url}/bundle", body=body)
    async with transport_case.make() as transport, await transport.send(request) as response:
        answer = await response.aread()
    assert answer.endswith(f"{len(body)} {hashlib.sha256(body).hexdigest()}".encode())
    assert server.requests[0].header("content-length") == str(10 * 1024 * 1024)


async def test_keep_alive_uses_one_connection(transport_case: TransportCase, serve: ServeFactory) -> None:
    server = serve(echo)
    async with transport_case.make() as transport:
        for i in range(10):
            async with await transport.send(Request("GET", f"{server.url}/{i}")) as response:
                await response.aread()
    assert [r.target for r in server.requests] == [f"/{i}" for i in range(10)]
    assert server.connections_opened == 1
    assert {r.connection_id for r in server.requests} == {1}


async def test_a_body_read_to_the_end_releases_the_connection(
    transport_case: TransportCase, serve: ServeFactory
) -> None:
    server = serve(echo)
    async with transport_case.make() as transport:
        for _ in range(3):
            response = await transport.send(Request("GET", server.url))
            await response.aread()  # no aclose(): reaching the end is enough
    assert server.connections_opened == 1


async def test_unread_body_never_returns_a_dirty_connection(
    transport_case: TransportCase, serve: ServeFactory
) -> None:
    async def big(request: ServerRequest, response: ResponseWriter) -> None:
        await response.respond(200, body=b"x" * 200_000)

    server = serve(big)
    async with transport_case.make() as transport:
        response = await transport.send(Request("GET", f"{server.url}/first"))
        first = await response.aiter_bytes().__anext__()
        await response.aclose()  # closed half-read
        async with await transport.send(Request("GET", f"{server.url}/second")) as response:
            assert len(await response.aread()) == 200_000
    assert first
    assert [r.connection_id for r in server.requests] == [1, 2]


async def test_server_closing_an_idle_connection_is_invisible(
    transport_case: TransportCase, serve: ServeFactory
) -> None:
    async def then_close(request: ServerRequest, response: ResponseWriter) -> None:
        await response.respond(200, body=b"ok")
        await response.close()  # after a complete response, without Connection: close

    server = serve(then_close)
    async with transport_case.make() as transport:
        for _ in range(3):
            async with await transport.send(Request("GET", server.url)) as response:
                assert await response.aread() == b"ok"
            assert await server.wait_until_async(lambda s: s.connections_closed == s.connections_opened)
    assert server.connections_opened == 3


async def test_request_on_a_stale_connection_is_retried_once(
    transport_case: TransportCase, serve: ServeFactory
) -> None:
    async def drop_second(request: ServerRequest, response: ResponseWriter) -> None:
        if request.connection_id == 1 and len(server.requests) == 2:
            await response.close()  # the race: server drops the idle connection as a request arrives
            return
        await response.respond(200, body=request.target.encode())

    server = serve(drop_second)
    async with transport_case.make() as transport:
        for target in ("/a", "/b", "/c"):
            async with await transport.send(Request("POST", f"{server.url}{target}", body=b"x")) as response:
                assert await response.aread() == target.encode()
    assert [r.target for r in server.requests] == ["/a", "/b", "/b", "/c"]
    assert [r.connection_id for r in server.requests] == [1, 1, 2, 2]


async def test_fresh_connection_failure_is_not_retried(
    transport_case: TransportCase, serve: ServeFactory
) -> None:
    async def drop(request: ServerRequest, response: ResponseWriter) -> None:
        await response.close()

    server = serve(drop)
    async with transport_case.make() as transport:
        with pytest.raises(ConnectionError, match="without sending a response") as info:
            await transport.send(Request("POST", f"{server.url}/once", body=b"x"))
    assert len(server.requests) == 1
    assert info.value.details == {"method": "POST", "url": f"{server.url}/once"}
    assert info.value.__cause__ is not None


async def test_redirects_are_returned_not_followed(
    transport_case: TransportCase, serve: ServeFactory
) -> None:
    async def redirect(request: ServerRequest, response: ResponseWriter) -> None:
        await response.respond(302, [("Location", "/elsewhere")])

    server = serve(redirect)
    request = Request("GET", server.url)
    async with transport_case.make() as transport, await transport.send(request) as response:
        assert response.status == 302
        assert response.header("location") == "/elsewhere"
    assert len(server.requests) == 1


async def test_head_and_no_content(transport_case: TransportCase, serve: ServeFactory) -> None:
    async def empty(request: ServerRequest, response: ResponseWriter) -> None:
        if request.method == "HEAD":
            await response.start(200, content_length=1234)
            await response.end()
        else:
            await response.respond(204)

    server = serve(empty)
    async with transport_case.make() as transport:
        for method, status in (("HEAD", 200), ("DELETE", 204), ("HEAD", 200)):
            async with await transport.send(Request(method, server.url)) as response:
                assert response.status == status
                assert await response.aread() == b""
    assert server.connections_opened == 1


# --- cancellation ------------------------------------------------------------------------------------


async def _first_chunk_then_silence(request: ServerRequest, response: ResponseWriter) -> None:
    await response.start(200, [("Content-Type", "text/event-stream")])
    await response.write(b"data: first\n\n")
    await response.stay_silent()


async def test_cancel_mid_stream_closes_the_connection(
    transport_case: TransportCase, serve: ServeFactory
) -> None:
    server = serve(_first_chunk_then_silence)
    async with transport_case.make() as transport:
        response = await transport.send(Request("GET", server.url, stream=True, timeout=Timeout.none()))
        chunks = response.aiter_bytes()
        assert await chunks.__anext__() == b"data: first\n\n"
        with anyio.CancelScope() as scope:
            scope.cancel()
            await chunks.__anext__()
        assert scope.cancelled_caught  # the cancellation itself came out, not a MuxiError
        assert await server.wait_until_async(lambda s: s.connections_closed == 1)
        await response.aclose()


async def test_cancel_while_waiting_for_headers(transport_case: TransportCase, serve: ServeFactory) -> None:
    async def silent(request: ServerRequest, response: ResponseWriter) -> None:
        await response.stay_silent()

    server = serve(silent)
    async with transport_case.make() as transport:
        async with anyio.create_task_group() as tg:

            async def call() -> None:
                await transport.send(Request("GET", server.url, timeout=Timeout.none()))

            tg.start_soon(call)
            assert await server.wait_until_async(lambda s: len(s.requests) == 1)
            tg.cancel_scope.cancel()
        assert await server.wait_until_async(lambda s: s.connections_closed == 1)


async def test_a_task_cancelled_from_outside(transport_case: TransportCase, serve: ServeFactory) -> None:
    server = serve(_first_chunk_then_silence)
    got_first = anyio.Event()
    async with transport_case.make() as transport:

        async def consume() -> None:
            async with await transport.send(Request("GET", server.url, stream=True)) as response:
                async for _ in response:
                    got_first.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(consume)
            await got_first.wait()
            tg.cancel_scope.cancel()
        assert await server.wait_until_async(lambda s: s.connections_closed == 1)


# --- timeouts and errors --------------------------------------------------------------------------------


async def test_read_timeout_on_a_silent_server(transport_case: TransportCase, silent_port: int) -> None:
    url = f"http://127.0.0.1:{silent_port}/rpc/x"
    async with transport_case.make() as transport:
        with pytest.raises(TimeoutError) as info:
            await transport.send(Request("GET", url, timeout=Timeout(5, 0.2, 5, 5)))
    assert str(info.value) == f"TIMEOUT: GET {url}: read timed out"
    assert info.value.details["phase"] == "read"
    assert isinstance(info.value, ConnectionError)


async def test_connect_timeout(transport_case: TransportCase, unreachable_port: int) -> None:
    url = f"http://127.0.0.1:{unreachable_port}/"
    async with transport_case.make() as transport:
        with pytest.raises(TimeoutError) as info:
            await transport.send(Request("GET", url, timeout=Timeout(0.2, 5, 5, 5)))
    assert info.value.message == f"GET {url}: connect timed out"


async def test_read_timeout_mid_body(transport_case: TransportCase, serve: ServeFactory) -> None:
    server = serve(_first_chunk_then_silence)
    async with transport_case.make() as transport:
        response = await transport.send(Request("GET", server.url, timeout=Timeout(5, 0.2, 5, 5)))
        with pytest.raises(TimeoutError, match="read timed out"):
            await response.aread()
        await response.aclose()
        assert await server.wait_until_async(lambda s: s.connections_closed == 1)


async def test_write_timeout_when_the_server_does_not_read(
    transport_case: TransportCase, silent_port: int
) -> None:
    body = b"x" * (64 * 1024 * 1024)  # more than the socket buffers on both sides hold
    async with transport_case.make() as transport:
        with pytest.raises(TimeoutError, match="write timed out"):
            url = f"http://127.0.0.1:{silent_port}/"
            await transport.send(Request("PUT", url, body=body, timeout=Timeout(5, 5, 0.3, 5)))


async def test_connection_refused(transport_case: TransportCase, closed_port: int) -> None:
    url = f"http://127.0.0.1:{closed_port}/rpc/formations"
    async with transport_case.make() as transport:
        with pytest.raises(ConnectionError) as info:
            await transport.send(Request("GET", url, headers=(("X-Muxi-Secret-Key", "sk_SECRET"),)))
    assert str(info.value) == f"CONNECTION_ERROR: GET {url}: connection refused"
    assert type(info.value) is ConnectionError
    assert "sk_SECRET" not in repr(info.value) + str(info.value)


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (b"garbage\r\n\r\n", "malformed response"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten..", "body ended early"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", "body ended early"),
    ],
)
async def test_malformed_and_truncated_responses(
    transport_case: TransportCase, serve: ServeFactory, raw: bytes, match: str
) -> None:
    async def broken(request: ServerRequest, response: ResponseWriter) -> None:
        await response.write_raw(raw)
        await response.close()

    server = serve(broken)
    async with transport_case.make() as transport:
        with pytest.raises(ProtocolError, match=match) as info:
            async with await transport.send(Request("GET", server.url)) as response:
                await response.aread()
    assert info.value.details["url"] == server.url
    assert not _is_library_error(info.value)


async def test_reset_mid_body(transport_case: TransportCase, serve: ServeFactory) -> None:
    async def reset(request: ServerRequest, response: ResponseWriter) -> None:
        await response.start(200, content_length=1_000_000)
        await response.write(b"x" * 1000)
        await response.abort()

    server = serve(reset)
    async with transport_case.make() as transport:
        with pytest.raises(ConnectionError) as info:
            async with await transport.send(Request("GET", server.url)) as response:
                await response.aread()
    assert info.value.message.startswith(f"GET {server.url}: ")
    assert info.value.__cause__ is not None


async def test_closed_transport_refuses_requests(transport_case: TransportCase, serve: ServeFactory) -> None:
    server = serve(echo)
    transport = transport_case.make()
    await transport.aclose()
    with pytest.raises(MuxiError):
        await transport.send(Request("GET", server.url))


# --- cleanup -----------------------------------------------------------------------------------------


async def test_aclose_closes_every_connection(transport_case: TransportCase, serve: ServeFactory) -> None:
    server = serve(_first_chunk_then_silence)
    transport = transport_case.make()
    open_response = await transport.send(Request("GET", server.url, stream=True))
    idle_server = serve(echo)
    async with await transport.send(Request("GET", idle_server.url)) as response:
        await response.aread()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        await transport.aclose()
        await open_response.aclose()
        del open_response, response
        gc.collect()
    assert await idle_server.wait_until_async(lambda s: s.connections_closed == 1)
    assert await server.wait_until_async(lambda s: s.connections_closed == 1)
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


def _is_library_error(exc: BaseException) -> bool:
    return type(exc).__module__.split(".")[0] in {"httpcore", "h11", "anyio", "trio", "ssl"}

