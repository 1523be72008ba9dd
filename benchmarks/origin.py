"""A minimal, fast MUXI-shaped HTTP/1.1 origin for the benchmarks, in its own process.

Canned answers only, so the origin is never the bottleneck (its ceiling is measured with
:func:`raw_ceiling`, a raw-socket client):

* ``GET .../agents``: a runtime envelope; ``GET /rpc/server/status``: a control-plane envelope
  (signatures are not checked); ``GET .../health``: a bare object;
* ``POST .../chat``: a chat event stream (``text/event-stream``, chunked). The JSON body's
  ``message`` says what to stream: ``"<tokens>"`` token frames then ``event: done`` (one HTTP
  chunk per frame, as the runtime writes them), ``"<tokens>:<bytes>"`` the same cut into
  ``<bytes>``-sized HTTP chunks, or ``"endless"`` for token frames that never end (4 KiB
  HTTP chunks).

Keep-alive, asyncio flow control for big and endless streams, a large listen backlog for many
concurrent connections. ``python benchmarks/origin.py`` prints the port, serves until stdin closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import workloads

_JSON_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
    b"x-request-id: req_bench\r\n\r\n"
)
_SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\ncache-control: no-cache\r\n"
    b"transfer-encoding: chunked\r\n\r\n"
)
_NOT_FOUND = json.dumps({"error": "Not Found", "message": "Endpoint not found", "code": 404}).encode()
_ENDLESS_BLOCK = 256 * 1024  # bytes of frames per write of an endless stream
_MAX_HEAD = 64 * 1024


def _json_response(value: object) -> bytes:
    body = workloads.json_body(value)
    return _JSON_HEAD % len(body) + body


RESPONSES = {
    "agents": _json_response(workloads.AGENTS),
    "status": _json_response(workloads.STATUS),
    "health": _json_response({"status": "healthy", "version": "1.20260928.0", "uptime_seconds": 12}),
}
NOT_FOUND = (
    b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
    % (len(_NOT_FOUND), _NOT_FOUND)
)


def _chunked(pieces: list[bytes]) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces if p)


_streams: dict[str, bytes] = {}


def chat_response(spec: str) -> bytes:
    """The whole wire answer for ``message`` ``spec`` (cached)."""
    cached = _streams.get(spec)
    if cached is None:
        count, _, size = spec.partition(":")
        frames = workloads.chat_frames(int(count))
        pieces = workloads.split(b"".join(frames), int(size)) if size else frames
        cached = _SSE_HEAD + _chunked(pieces) + b"0\r\n\r\n"
        _streams[spec] = cached
    return cached


def _endless_block() -> bytes:
    # Whole frames up to the block size, cut into 4 KiB HTTP chunks (frames straddle chunks).
    frames: list[bytes] = []
    size = i = 0
    while size < _ENDLESS_BLOCK:
        frame = (workloads.KEEPALIVE if i % 25 == 0 else b"") + workloads.token_frame(i)
        frames.append(frame)
        size += len(frame)
        i += 1
    return _chunked(workloads.split(b"".join(frames), 4096))


class _Origin(asyncio.Protocol):
    """One connection: parse request heads (and bodies), answer from the canned table."""

    endless_block = b""

    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.can_write = asyncio.Event()
        self.can_write.set()
        self.streaming: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.can_write.set()
        if self.streaming is not None:
            self.streaming.cancel()

    def pause_writing(self) -> None:
        self.can_write.clear()

    def resume_writing(self) -> None:
        self.can_write.set()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None and self.streaming is None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > _MAX_HEAD:
                    self.transport.close()
                return
            head = self.buffer[:end]
            length = 0
            lower = head.lower()
            at = lower.find(b"\r\ncontent-length:")
            if at >= 0:
                line_end = lower.find(b"\r\n", at + 2)
                length = int(lower[at + 17:line_end if line_end >= 0 else None])
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4:end + 4 + length]
            self.buffer = self.buffer[end + 4 + length:]
            self.respond(head, body)

    def respond(self, head: bytes, body: bytes) -> None:
        assert self.transport is not None
        method, _, rest = head.partition(b" ")
        path = rest.partition(b" ")[0].partition(b"?")[0]
        if method == b"GET":
            if path.endswith(b"/agents"):
                self.transport.write(RESPONSES["agents"])
                return
            if path == b"/rpc/server/status":
                self.transport.write(RESPONSES["status"])
                return
            if path.endswith(b"/health"):
                self.transport.write(RESPONSES["health"])
                return
        elif method == b"POST" and path.endswith(b"/chat"):
            message = str(json.loads(body).get("message", "200"))
            if message == "endless":
                self.streaming = asyncio.get_running_loop().create_task(self.endless())
            else:
                self.transport.write(chat_response(message))
            return
        self.transport.write(NOT_FOUND)

    async def endless(self) -> None:
        transport = self.transport
        if transport is None:
            return
        transport.write(_SSE_HEAD)
        block = _Origin.endless_block
        while not transport.is_closing():
            await self.can_write.wait()  # returns at once while writing is allowed...
            if self.transport is None or transport.is_closing():
                break
            transport.write(block)
            # ...so yield here: a peer that went away must get its connection_lost() delivered
            # (a write to a dead socket is not buffered, so pause_writing() would never come).
            await asyncio.sleep(0)


def serve() -> None:
    """Serve on 127.0.0.1 (a free port, printed first) until stdin reaches EOF."""
    import _harness

    _harness.raise_fd_limit(8192)
    _Origin.endless_block = _endless_block()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Origin, "127.0.0.1", 0, backlog=4096)
        print(server.sockets[0].getsockname()[1], flush=True)
        await loop.run_in_executor(None, sys.stdin.read)  # until the parent goes away
        server.close()

    asyncio.run(main())


@contextlib.contextmanager
def running(python: str | None = None) -> Iterator[str]:
    """Start the origin in a child process; yield ``http://127.0.0.1:<port>``."""
    import _harness

    process = subprocess.Popen(
        [python or sys.executable, str(Path(__file__).resolve())],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=_harness.worker_env(),
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


# --- the ceiling -------------------------------------------------------------------------------------


def raw_ceiling(origin: str, path: str, requests: int) -> float:
    """Seconds for ``requests`` sequential GETs of ``path`` by a minimal raw-socket keep-alive client."""
    port = int(origin.rsplit(":", 1)[1])
    request = b"GET %s HTTP/1.1\r\nhost: 127.0.0.1:%d\r\n\r\n" % (path.encode(), port)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(request)
        expected = _response_size(sock)
        start = time.perf_counter()
        for _ in range(requests):
            sock.sendall(request)
            got = 0
            while got < expected:
                got += len(sock.recv(65536))
        return time.perf_counter() - start


def _response_size(sock: socket.socket) -> int:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    while len(body) < length:
        body += sock.recv(65536)
    return len(head) + 4 + length


if __name__ == "__main__":
    serve()
