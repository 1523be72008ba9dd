"""The reusable test server itself: concurrency, keep-alive, faults, observability, clean shutdown."""

from __future__ import annotations

import socket
import ssl
import threading

import anyio
import pytest
from conftest import ServeFactory

from tests.httpserver import HTTPTestServer, ResponseWriter, ServerRequest


def _raw_exchange(port: int, data: bytes) -> bytes:
    """Send ``data`` on a fresh socket and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
        return out


def test_defaults_bind_loopback_port_zero() -> None:
    with HTTPTestServer() as server:
        assert server.host == "127.0.0.1" and server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}"
        reply = _raw_exchange(server.port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 200 ")
    assert reply.endswith(b"\r\n\r\nok")


def test_keep_alive_pipelined_and_chunked_requests(serve: ServeFactory) -> None:
    async def echo(request: ServerRequest, response: ResponseWriter) -> None:
        await response.start(200)  # no length: chunked
        await response.write(request.body)
        await response.end()

    server = serve(echo)
    reply = _raw_exchange(
        server.port,
        b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
        b"POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b"2\r\nde\r\n0\r\n\r\n",
    )
    assert reply.count(b"HTTP/1.1 200") == 2
    assert b"3\r\nabc\r\n0\r\n\r\n" in reply and b"2\r\nde\r\n0\r\n\r\n" in reply
    seen = [(r.target, r.body, r.connection_id) for r in server.requests]
    assert seen == [("/a", b"abc", 1), ("/b", b"de", 1)]


def test_keep_alive_off_closes_after_each_response(serve: ServeFactory) -> None:
    server = serve(keep_alive=False)
    reply = _raw_exchange(server.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert reply.count(b"HTTP/1.1 200") == 1
    assert b"Connection: close" in reply


def test_malformed_request_gets_400(serve: ServeFactory) -> None:
    server = serve()
    assert _raw_exchange(server.port, b"NOT HTTP\r\n\r\n").startswith(b"HTTP/1.1 400 ")


def test_handler_exceptions_become_500_and_are_recorded() -> None:
    async def broken(request: ServerRequest, response: ResponseWriter) -> None:
        raise ValueError("bug in handler")

    with HTTPTestServer(broken) as server:
        reply = _raw_exchange(server.port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 500 ")
    assert [type(e) for e in server.errors] == [ValueError]


def test_request_bodies_are_bounded(serve: ServeFactory) -> None:
    server = serve(max_body=10)
    request = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n" + b"x" * 11
    reply = _raw_exchange(server.port, request)
    assert reply.startswith(b"HTTP/1.1 400 ")
    assert server.requests == []


def test_many_concurrent_connections(serve: ServeFactory) -> None:
    release = threading.Event()

    async def wait(request: ServerRequest, response: ResponseWriter) -> None:
        await anyio.to_thread.run_sync(release.wait)
        await response.respond(200, body=request.target.encode())

    server = serve(wait)
    socks = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(50)]
    try:
        for i, sock in enumerate(socks):
            sock.sendall(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
        assert server.wait_until(lambda s: len(s.requests) == 50)
        assert server.open_connections == 50
        release.set()
        for i, sock in enumerate(socks):
            reply = b""
            while not reply.endswith(b"/%d" % i):
                chunk = sock.recv(65536)
                assert chunk, reply
                reply += chunk
    finally:
        for sock in socks:
            sock.close()
    assert server.wait_until(lambda s: s.connections_closed == 50)


def test_disconnect_is_observed_and_cancels_the_handler(serve: ServeFactory) -> None:
    handler_ended = threading.Event()
    disconnected: list[int] = []

    async def silent(request: ServerRequest, response: ResponseWriter) -> None:
        try:
            await response.start(200)
            await response.stay_silent()
        finally:
            handler_ended.set()

    server = serve(silent, on_disconnect=disconnected.append)
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert sock.recv(1000).startswith(b"HTTP/1.1 200")
    sock.close()
    assert server.wait_until(lambda s: s.connections_closed == 1)
    assert handler_ended.wait(5)
    assert disconnected == [1]


def test_fault_primitives(serve: ServeFactory) -> None:
    async def faults(request: ServerRequest, response: ResponseWriter) -> None:
        if request.target == "/raw":
            await response.write_raw(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        elif request.target == "/abort":
            await response.start(200, content_length=100)
            await response.abort()
        elif request.target == "/slow":
            await response.start(200, content_length=5)
            await response.write_slowly(b"hello", chunk_size=2)

    server = serve(faults)
    assert _raw_exchange(server.port, b"GET /raw HTTP/1.1\r\nHost: x\r\n\r\n").endswith(b"\r\n\r\npartial")
    with pytest.raises(ConnectionResetError):
        _raw_exchange(server.port, b"GET /abort HTTP/1.1\r\nHost: x\r\n\r\n" + b"x" * 10)
    reply = _raw_exchange(server.port, b"GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert reply.endswith(b"\r\n\r\nhello")


def test_tls_server(server_ssl_context: ssl.SSLContext, ca_path: str) -> None:
    with HTTPTestServer(ssl_context=server_ssl_context) as server:
        assert server.url.startswith("https://")
        client = ssl.create_default_context(cafile=ca_path)
        with socket.create_connection(("127.0.0.1", server.port)) as raw, client.wrap_socket(
            raw, server_hostname="127.0.0.1"
        ) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            reply = b""
            while chunk := sock.recv(65536):
                reply += chunk
    assert reply.endswith(b"ok")


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_clean_shutdown_leaves_no_threads_or_sockets(backend: str) -> None:
    before = set(threading.enumerate())
    server = HTTPTestServer(backend=backend).start()
    lingering = socket.create_connection(("127.0.0.1", server.port))  # an idle client connection
    assert server.wait_until(lambda s: s.connections_opened == 1)
    server.stop()
    assert lingering.recv(10) == b""  # the server closed its side
    lingering.close()
    assert set(threading.enumerate()) == before
    assert server.connections_closed == 1
    server.stop()  # idempotent
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=5).close()


@pytest.mark.anyio
async def test_async_wait_helper(serve: ServeFactory) -> None:
    server = serve()
    assert await server.wait_until_async(lambda s: s.connections_opened == 0)
    assert not await server.wait_until_async(lambda s: s.connections_opened == 1, timeout=0.01)
