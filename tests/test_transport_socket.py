"""SocketTransport (blocking, stdlib sockets + h11) against real servers on 127.0.0.1."""

from __future__ import annotations

import hashlib
import socket
import ssl
import threading
from collections.abc import Iterator

import pytest
import trustme
from conftest import ServeFactory

from muxi_proto.errors import ConnectionError, ProtocolError, TimeoutError, TLSError
from muxi_proto.http import Request, Timeout
from muxi_transports import FormationClient, SocketTransport
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
def transport() -> Iterator[SocketTransport]:
    with SocketTransport() as t:
        yield t  # type: ignore[misc]


@pytest.fixture
def silent_port() -> Iterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield sock.getsockname()[1]
    sock.close()


def test_chunked_and_slow_bodies(transport: SocketTransport, serve: ServeFactory) -> None:
    async def handler(request: ServerRequest, response: ResponseWriter) -> None:
        await response.start(200)
        await response.write_slowly(b"0123456789" * 50, chunk_size=1)
        await response.end()

    server = serve(handler)
    with transport.send(Request("GET", server.url, stream=True)) as response:
        chunks = list(response.iter_bytes())
    assert b"".join(chunks) == b"0123456789" * 50
    assert len(chunks) > 1
    with transport.send(Request("GET", server.url)) as response:  # the connection went back clean
        assert response.read() == b"0123456789" * 50
    assert server.connections_opened == 1


def test_keep_alive_uses_one_connection(transport: SocketTransport, serve: ServeFactory) -> None:
    server = serve(echo)
    for i in range(10):
        with transport.send(Request("GET", f"{server.url}/{i}")) as response:
            response.read()
    assert server.connections_opened == 1
    assert transport.idle_connections == 1


def test_a_body_read_to_the_end_releases_the_connection(transport: SocketTransport, serve: ServeFactory) -> None:
    server = serve(echo)
    for _ in range(3):
        response = transport.send(Request("GET", server.url))
        response.read()  # no close(): reading to the end is enough
    assert server.connections_opened == 1


def test_connection_closed_by_the_server_while_idle_is_not_used(
    transport: SocketTransport, serve: ServeFactory
) -> None:
    async def close_after(request: ServerRequest, response: ResponseWriter) -> None:
        await response.respond(200, [("Connection", "close")], b"bye")

    server = serve(close_after)
    for _ in range(3):
        with transport.send(Request("GET", server.url)) as response:
            assert response.read() == b"bye"
    assert server.connections_opened == 3
    assert transport.idle_connections == 0


def test_read_timeout_mid_body(transport: SocketTransport, serve: ServeFactory) -> None:
    server = serve(first_chunk_then_silence)
    response = transport.send(Request("GET", server.url, timeout=Timeout(5, 0.2, 5, 5)))
    chunks = response.iter_bytes()
    assert next(chunks) == b"data: first\n\n"
    with pytest.raises(TimeoutError, match="read timed out"):
        next(chunks)
    response.close()


STALLED_STEPS = [("https", 0, "a TLS handshake nobody answers"), ("http", 64 << 20, "a write nobody reads"),
                 ("http", 0, "a response that never comes")]


@pytest.mark.parametrize(("scheme", "body_size", "why"), STALLED_STEPS, ids=[c[2] for c in STALLED_STEPS])
def test_total_deadline_bounds_every_step(
    transport: SocketTransport, silent_port: int, scheme: str, body_size: int, why: str
) -> None:
    url = f"{scheme}://127.0.0.1:{silent_port}/"
    request = Request("PUT", url, body=b"x" * body_size, timeout=Timeout(5, 5, 5, 5, total=0.2))
    with pytest.raises(TimeoutError) as info:
        transport.send(request)
    assert info.value.details["phase"] == "total" and "total timed out" in info.value.message
    assert transport.connections == 0


def test_a_step_limit_shorter_than_the_time_left_keeps_its_phase(transport: SocketTransport, silent_port: int) -> None:
    request = Request("GET", f"https://127.0.0.1:{silent_port}/", timeout=Timeout(0.1, 5, 5, 5, total=5))
    with pytest.raises(TimeoutError) as info:
        transport.send(request)
    assert info.value.details["phase"] == "connect"  # the handshake's own limit


def test_invalid_header_is_a_protocol_error_without_its_value(transport: SocketTransport, serve: ServeFactory) -> None:
    server = serve(echo)
    with pytest.raises(ProtocolError) as info:
        transport.send(Request("GET", server.url, (("X-Key", "SECRET\r\nInjected: 1"),)))
    assert "SECRET" not in str(info.value)


def test_closing_mid_stream_from_another_thread_disconnects(serve: ServeFactory) -> None:
    server = serve(first_chunk_then_silence)
    transport = SocketTransport()
    response = transport.send(Request("GET", server.url, stream=True, timeout=Timeout.none()))
    chunks = response.iter_bytes()
    assert next(chunks) == b"data: first\n\n"
    failures: list[BaseException] = []

    def reader() -> None:
        try:
            next(chunks)
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    assert server.wait_until(lambda s: s.connections_opened == 1)
    transport.close()  # wakes the reader blocked in recv()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert len(failures) == 1 and isinstance(failures[0], ConnectionError | StopIteration)
    assert server.wait_until(lambda s: s.connections_closed == 1)


def test_thread_safe_pool(serve: ServeFactory) -> None:
    server = serve(echo)
    errors: list[BaseException] = []
    with SocketTransport(max_idle_per_origin=4) as transport:

        def worker() -> None:
            try:
                for _ in range(10):
                    with transport.send(Request("GET", server.url)) as response:
                        assert response.status == 200
                        response.read()
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert transport.idle_connections <= 4
    assert errors == []
    assert len(server.requests) == 80
    assert server.connections_opened <= 8


def test_a_chat_stream_of_many_small_chunks_through_a_client(serve: ServeFactory) -> None:
    async def chat(request: ServerRequest, response: ResponseWriter) -> None:
        await response.start(200, [("Content-Type", "text/event-stream")])
        for i in range(300):
            await response.write(b'data: {"token":{"type":"content","content":"%d"}}\n\n' % i)
        await response.write(b'event: done\ndata: {"finished":true}\n\n')
        await response.end()

    server = serve(chat)
    with SocketTransport() as transport:
        client = FormationClient(url=server.url, client_key="ck", transport=transport)
        events = list(client.chat_stream({"message": "hi"}))
        assert [e.json()["token"]["content"] for e in events[:-1]] == [str(i) for i in range(300)]
        assert events[-1].event == "done"
        assert client.chat_stream({"message": "again"}).text() == "".join(str(i) for i in range(300))
        assert transport.idle_connections == 0  # a stream stops at `done`: its connection is not reused


def test_tls_each_verify_form_with_keep_alive(
    serve: ServeFactory, server_ssl_context: ssl.SSLContext, ca: trustme.CA, ca_path: str
) -> None:
    async def hello(request: ServerRequest, response: ResponseWriter) -> None:
        await response.respond(200, body=b"secure " + request.target.encode())

    server = serve(hello, ssl_context=server_ssl_context)
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    for verify in (ca_path, ctx, False):
        with SocketTransport(verify=verify) as transport:
            for _ in range(2):
                with transport.send(Request("GET", server.url)) as response:
                    assert response.read() == b"secure /"
    assert server.connections_opened == 3


def test_tls_wrong_ca_and_plain_client(
    serve: ServeFactory, server_ssl_context: ssl.SSLContext, other_ca_path: str
) -> None:
    async def hello(request: ServerRequest, response: ResponseWriter) -> None:
        await response.respond(200, body=b"x")

    server = serve(hello, ssl_context=server_ssl_context)
    with SocketTransport(verify=other_ca_path) as transport, pytest.raises(TLSError, match="verification failed"):
        transport.send(Request("GET", server.url))
    with SocketTransport() as transport, pytest.raises(ConnectionError, match="without sending a response"):
        transport.send(Request("GET", server.url.replace("https", "http")))
