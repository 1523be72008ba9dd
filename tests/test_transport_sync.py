"""The blocking transports against real servers on 127.0.0.1 (HTTPCoreTransport; both where marked)."""

from __future__ import annotations

import gc
import hashlib
import importlib.util
import socket
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import ServeFactory

from muxi_proto.errors import ConfigurationError, ConnectionError, MuxiError, ProtocolError, TimeoutError
from muxi_proto.http import Request, Timeout
from muxi_transports import HTTPCoreTransport, SocketTransport, Transport
from tests.httpserver import ResponseWriter, ServerRequest


async def echo(request: ServerRequest, response: ResponseWriter) -> None:
    digest = hashlib.sha256(request.body).hexdigest()
    text = f"{request.method} {request.target} {request.header('host')} {len(request.body)} {digest}"
    await response.respond(200, [("Content-Type", "text/plain")], text.encode())


async def first_chunk_then_silence(request: ServerRequest, response: ResponseWriter) -> None:
    await response.start(200)
    await response.write(b"data: first\n\n")
    await response.stay_silent()


@pytest.fixture
def transport(request: pytest.FixtureRequest) -> Iterator[Any]:
    """HTTPCoreTransport, or each blocking transport for the tests marked ``@both``."""
    cls = getattr(request, "param", HTTPCoreTransport)
    with cls() as t:
        yield t


# What holds for every blocking transport runs on both; SocketTransport's own file keeps what is
# specific to it (per-step deadlines, TLS, idle-close detection), this one httpcore's (proxy, pool).
both = pytest.mark.parametrize("transport", [HTTPCoreTransport, SocketTransport], indirect=True,
                               ids=["httpcore", "socket"])


@pytest.fixture
def silent_port() -> Iterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield sock.getsockname()[1]
    sock.close()


@both
def test_get_post_and_headers(transport: Transport, serve: ServeFactory) -> None:
    server = serve(echo)
    with transport.send(Request("GET", f"{server.url}/rpc/x?y=1")) as response:
        assert response.status == 200
        assert response.header("Content-Type") == "text/plain"
        assert response.read().startswith(f"GET /rpc/x?y=1 127.0.0.1:{server.port} 0 ".encode())
    request = Request("POST", f"{server.url}/p", (("Host", "spoofed"),), b"abc")
    with transport.send(request) as response:
        assert response.read().startswith(f"POST /p 127.0.0.1:{server.port} 3 ".encode())
    assert server.requests[1].header("content-length") == "3"


def test_chunked_and_slow_bodies(transport: HTTPCoreTransport, serve: ServeFactory) -> None:
    async def handler(request: ServerRequest, response: ResponseWriter) -> None:
        await response.start(200)
        await response.write_slowly(b"0123456789" * 50, chunk_size=1)
        await response.end()

    server = serve(handler)
    with transport.send(Request("GET", server.url, stream=True)) as response:
        chunks = list(response.iter_bytes())
    assert b"".join(chunks) == b"0123456789" * 50
    assert len(chunks) > 1


@both
def test_ten_mib_upload(transport: Transport, serve: ServeFactory) -> None:
    body = bytes(range(256)) * (40 * 1024)
    server = serve(echo)
    with transport.send(Request("PUT", server.url, body=body)) as response:
        assert response.read().endswith(f"{len(body)} {hashlib.sha256(body).hexdigest()}".encode())


def test_keep_alive_uses_one_connection(transport: HTTPCoreTransport, serve: ServeFactory) -> None:
    server = serve(echo)
    for i in range(10):
        with transport.send(Request("GET", f"{server.url}/{i}")) as response:
            response.read()
    assert server.connections_opened == 1


def test_a_body_read_to_the_end_releases_the_connection(
    transport: HTTPCoreTransport, serve: ServeFactory
) -> None:
    server = serve(echo)
    for _ in range(3):
        response = transport.send(Request("GET", server.url))
        response.read()  # no close(): reading to the end is enough
    assert server.connections_opened == 1


@both
def test_half_read_body_is_not_reused(transport: Transport, serve: ServeFactory) -> None:
    async def big(request: ServerRequest, response: ResponseWriter) -> None:
        await response.respond(200, body=b"x" * 300_000)

    server = serve(big)
    response = transport.send(Request("GET", server.url))
    next(response.iter_bytes())
    response.close()
    with transport.send(Request("GET", server.url)) as response:
        assert len(response.read()) == 300_000
    assert [r.connection_id for r in server.requests] == [1, 2]


@both
def test_stale_connection_is_retried_once(transport: Transport, serve: ServeFactory) -> None:
    async def drop_second(request: ServerRequest, response: ResponseWriter) -> None:
        if request.connection_id == 1 and len(server.requests) == 2:
            await response.close()
            return
        await response.respond(200, body=request.target.encode())

    server = serve(drop_second)
    for target in ("/a", "/b", "/c"):
        with transport.send(Request("GET", f"{server.url}{target}")) as response:
            assert response.read() == target.encode()
    assert [r.connection_id for r in server.requests] == [1, 1, 2, 2]


@both
def test_redirect_is_returned(transport: Transport, serve: ServeFactory) -> None:
    async def redirect(request: ServerRequest, response: ResponseWriter) -> None:
        await response.respond(307, [("Location", "/x")])

    server = serve(redirect)
    with transport.send(Request("GET", server.url)) as response:
        assert response.status == 307
    assert len(server.requests) == 1


@both
def test_read_timeout(transport: Transport, silent_port: int) -> None:
    url = f"http://127.0.0.1:{silent_port}/x"
    with pytest.raises(TimeoutError) as info:
        transport.send(Request("GET", url, timeout=Timeout(5, 0.2, 5, 5)))
    assert str(info.value) == f"TIMEOUT: GET {url}: read timed out"


@both
def test_connect_timeout(transport: Transport, unreachable_port: int) -> None:
    with pytest.raises(TimeoutError, match="connect timed out"):
        transport.send(Request("GET", f"http://127.0.0.1:{unreachable_port}/", timeout=Timeout(0.2, 5, 5, 5)))


def test_proxy_gets_absolute_form_requests_and_credentials(serve: ServeFactory) -> None:
    async def proxy(request: ServerRequest, response: ResponseWriter) -> None:
        await response.respond(200, body=request.target.encode())

    server = serve(proxy)
    proxy_url = f"http://user:p%40ss@127.0.0.1:{server.port}"
    request = Request("GET", "http://origin.invalid:8080/rpc/x?y=1")  # resolved by the proxy, not us
    with HTTPCoreTransport(proxy=proxy_url) as transport, transport.send(request) as response:
        assert response.read() == b"http://origin.invalid:8080/rpc/x?y=1"
    assert server.requests[0].header("proxy-authorization") == "Basic dXNlcjpwQHNz"  # user:p@ss


def test_bad_options_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError):
        HTTPCoreTransport(proxy="socks://x")
    if importlib.util.find_spec("h2") is None:
        with pytest.raises(ConfigurationError, match="h2"):
            HTTPCoreTransport(http2=True)


@both
def test_write_timeout(transport: Transport, silent_port: int) -> None:
    url = f"http://127.0.0.1:{silent_port}/"
    request = Request("PUT", url, body=b"x" * (64 << 20), timeout=Timeout(5, 5, 0.3, 5))
    with pytest.raises(TimeoutError, match="write timed out"):
        transport.send(request)


def test_pool_timeout(serve: ServeFactory) -> None:
    server = serve(first_chunk_then_silence)
    with HTTPCoreTransport(max_connections=1) as transport:
        held = transport.send(Request("GET", server.url))
        with pytest.raises(TimeoutError, match="pool timed out"):
            transport.send(Request("GET", server.url, timeout=Timeout(5, 5, 5, 0.2)))
        held.close()


@both
def test_connection_refused_names_method_and_url(transport: Transport) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    url = f"http://127.0.0.1:{port}/rpc/formations"
    with pytest.raises(ConnectionError) as info:
        transport.send(Request("DELETE", url, (("Authorization", "MUXI-HMAC key=SECRET"),)))
    assert info.value.message == f"DELETE {url}: connection refused"
    assert info.value.details == {"method": "DELETE", "url": url, "phase": "connect"}
    assert "SECRET" not in str(info.value)
    assert info.value.__cause__ is not None


@pytest.mark.parametrize(
    ("raw", "error", "match"),
    [
        (b"HTTP/1.1 2xx\r\n\r\n", ProtocolError, "malformed response"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort", ProtocolError, "body ended early"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", ProtocolError, "body ended early"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", ProtocolError, "malformed response"),
        (b"", ConnectionError, "without sending a response"),
    ],
)
@both
def test_broken_responses(
    transport: Transport, serve: ServeFactory, raw: bytes, error: type[MuxiError], match: str
) -> None:
    async def broken(request: ServerRequest, response: ResponseWriter) -> None:
        await response.write_raw(raw)
        await response.close()

    server = serve(broken)
    with pytest.raises(error, match=match), transport.send(Request("GET", server.url)) as response:
        response.read()


@both
def test_reset_mid_body(transport: Transport, serve: ServeFactory) -> None:
    async def reset(request: ServerRequest, response: ResponseWriter) -> None:
        await response.start(200, content_length=100_000)
        await response.write(b"x" * 100)
        await response.abort()

    server = serve(reset)
    with pytest.raises(ConnectionError), transport.send(Request("GET", server.url)) as response:
        response.read()


def test_closing_mid_stream_from_another_thread_disconnects(serve: ServeFactory) -> None:
    server = serve(first_chunk_then_silence)
    transport = HTTPCoreTransport()
    response = transport.send(Request("GET", server.url, stream=True, timeout=Timeout.none()))
    chunks = response.iter_bytes()
    assert next(chunks) == b"data: first\n\n"
    response.close()
    assert server.wait_until(lambda s: s.connections_closed == 1)
    transport.close()


@pytest.mark.parametrize("cls", [HTTPCoreTransport, SocketTransport], ids=["httpcore", "socket"])
def test_close_closes_every_connection_without_warnings(cls: type[Any], serve: ServeFactory) -> None:
    server = serve(echo)
    transport = cls()
    responses = [transport.send(Request("GET", server.url)) for _ in range(3)]
    for response in responses:
        response.read()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        transport.close()
        del responses, response
        gc.collect()
    assert server.wait_until(lambda s: s.connections_closed == s.connections_opened)
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
    with pytest.raises(ConnectionError, match="transport is closed"):
        transport.send(Request("GET", server.url))


def test_thread_safe_pool(serve: ServeFactory) -> None:
    server = serve(echo)
    errors: list[BaseException] = []
    with HTTPCoreTransport(max_connections=4) as transport:

        def worker() -> None:
            try:
                for _ in range(10):
                    with transport.send(Request("GET", server.url)) as response:
                        response.read()
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    assert len(server.requests) == 80
    assert server.connections_opened <= 4
