"""HTTPTestServer's lean mode (used by the local MUXI server): no per-request watcher, no recording."""

from __future__ import annotations

import socket
import threading

import anyio
from conftest import ServeFactory

from tests.httpserver import ResponseWriter, ServerRequest


def _request(sock: socket.socket, target: str) -> bytes:
    sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    reply = b""
    while not reply.endswith(b"done"):
        chunk = sock.recv(65536)
        assert chunk, reply
        reply += chunk
    return reply


def test_lean_mode_serves_keep_alive_and_records_nothing(serve: ServeFactory) -> None:
    async def handler(request: ServerRequest, response: ResponseWriter) -> None:
        await response.respond(200, [("Content-Type", "text/plain")], b"done")

    server = serve(handler, watch_disconnects=False, record_requests=False)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        for i in range(20):
            assert _request(sock, f"/{i}").startswith(b"HTTP/1.1 200")
    assert server.requests == []
    assert server.connections_opened == 1


def test_guarded_body_is_cancelled_when_the_client_leaves(serve: ServeFactory) -> None:
    started = threading.Event()
    outcome: list[str] = []

    async def handler(request: ServerRequest, response: ResponseWriter) -> None:
        await response.start(200, [("Content-Type", "text/event-stream")])

        async def forever() -> None:
            started.set()
            await anyio.sleep_forever()

        await response.guarded(forever)
        outcome.append("disconnected" if response.disconnected else "finished")

    server = serve(handler, watch_disconnects=False)
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert sock.recv(1000).startswith(b"HTTP/1.1 200")
    assert started.wait(5)
    sock.close()
    assert server.wait_until(lambda s: s.connections_closed == 1)
    assert outcome == ["disconnected"]


def test_guarded_body_that_finishes_keeps_the_connection(serve: ServeFactory) -> None:
    async def handler(request: ServerRequest, response: ResponseWriter) -> None:
        async def body() -> None:
            await response.respond(200, body=b"done")

        await response.guarded(body)

    server = serve(handler, watch_disconnects=False)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        # The second request arrives while the first one's watcher may be reading: not lost.
        assert _request(sock, "/a").startswith(b"HTTP/1.1 200")
        assert _request(sock, "/b").startswith(b"HTTP/1.1 200")
    assert server.connections_opened == 1


def test_stay_silent_in_lean_mode_ends_with_the_client(serve: ServeFactory) -> None:
    ended = threading.Event()

    async def handler(request: ServerRequest, response: ResponseWriter) -> None:
        try:
            await response.start(200)
            await response.stay_silent()
        finally:
            ended.set()

    server = serve(handler, watch_disconnects=False)
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert sock.recv(1000).startswith(b"HTTP/1.1 200")
    sock.close()
    assert ended.wait(5)
    assert server.wait_until(lambda s: s.open_connections == 0)
