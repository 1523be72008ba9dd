"""The local server holds 1,000+ concurrent chat streams (later benchmarks run 500 and 1,000)."""

from __future__ import annotations

import json
import selectors
import socket

from muxi_testing import LocalMuxiServer

STREAMS = 1_000


def test_a_thousand_concurrent_chat_streams() -> None:
    with LocalMuxiServer() as server:
        server.hold_streams()  # every stream stops after its opening keepalives until released
        body = json.dumps({"message": "many at once"}).encode()
        head = (
            f"POST /api/{server.formation_id}/v1/chat HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\nX-MUXI-CLIENT-KEY: {server.client_key}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        socks: list[socket.socket] = []
        try:
            for _ in range(STREAMS):
                sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
                sock.sendall(head + body)
                socks.append(sock)
            assert server.wait_until(lambda s: s.held_streams == STREAMS, timeout=60)
            assert server.open_connections == STREAMS  # all of them open at the same moment
            server.release_streams()
            replies = _read_all(socks)
        finally:
            for sock in socks:
                sock.close()
        assert len(replies) == STREAMS
        for reply in replies:
            assert reply.startswith(b"HTTP/1.1 200 ")
            assert b'"type":"completed","content":"many at once"' in reply
            assert b'event: done\ndata: {"finished":true}\n\n' in reply
            assert reply.endswith(b"\r\n0\r\n\r\n")  # the chunked body's last chunk: a complete stream
        assert server.wait_until(lambda s: s.open_connections == 0, timeout=30)
        assert server.errors == []


def _read_all(socks: list[socket.socket]) -> list[bytes]:
    """Read every socket to EOF without a thread per socket."""
    selector = selectors.DefaultSelector()
    buffers: dict[socket.socket, bytearray] = {}
    for sock in socks:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
        buffers[sock] = bytearray()
    finished: list[bytes] = []
    while len(finished) < len(socks):
        ready = selector.select(timeout=30)
        assert ready, "no progress for 30 s"
        for key, _ in ready:
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            chunk = sock.recv(65536)
            if chunk:
                buffers[sock] += chunk
            else:
                selector.unregister(sock)
                finished.append(bytes(buffers[sock]))
    selector.close()
    return finished
