"""The asyncio network layer under httpcore: sockets and layered TLS without anyio.

AsyncHTTPCoreTransport's whole test matrix (TLS, timeouts, cancellation, faults, keep-alive) runs
on it under asyncio; these tests pin down what that matrix cannot see: that it is the layer in use,
TLS inside TLS (an HTTPS tunnel), and each error and end-of-stream case at the stream level.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpcore
import pytest
import trustme

from muxi_proto.http import Request
from muxi_transports import AsyncHTTPCoreTransport
from muxi_transports._asyncio_net import AsyncioBackend

Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return ctx


class Server:
    """``asyncio.start_server`` whose exit closes every connection and waits for its handler."""

    def __init__(self, serve: Serve, tls: ssl.SSLContext | None = None) -> None:
        self._serve = serve
        self._tls = tls
        self._handlers: set[asyncio.Task[None]] = set()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            pass  # the client went away: what some tests do on purpose
        finally:
            writer.transport.abort()

    async def __aenter__(self) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self._tls)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def __aexit__(self, *exc_info: object) -> None:
        self._server.close()
        await self._server.wait_closed()
        for task in self._handlers:
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)


async def answer_hello(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello")
    await writer.drain()
    writer.close()


async def read_all(stream: httpcore.AsyncNetworkStream) -> bytes:
    data = b""
    while chunk := await stream.read(65536, timeout=5):
        data += chunk
    return data


@pytest.fixture
def counted_connects(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, int]]]:
    calls: list[tuple[str, int]] = []
    real = AsyncioBackend.connect_tcp

    async def connect_tcp(self: AsyncioBackend, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        calls.append((host, port))
        return await real(self, host, port, *args, **kwargs)

    monkeypatch.setattr(AsyncioBackend, "connect_tcp", connect_tcp)
    yield calls


def test_the_httpcore_transport_connects_through_it_under_asyncio(
    counted_connects: list[tuple[str, int]], ca: trustme.CA, server_ssl_context: ssl.SSLContext
) -> None:
    async def main() -> None:
        async with Server(answer_hello) as port, Server(answer_hello, server_ssl_context) as tls_port, \
                AsyncHTTPCoreTransport(verify=client_context(ca)) as transport:
            for url in (f"http://127.0.0.1:{port}/", f"https://127.0.0.1:{tls_port}/"):
                async with await transport.send(Request("GET", url)) as response:
                    assert await response.aread() == b"hello"

    asyncio.run(main())
    assert [port for _, port in counted_connects] and len(counted_connects) == 2


def test_tls_inside_tls_through_a_tunnel(ca: trustme.CA, server_ssl_context: ssl.SSLContext) -> None:
    # An HTTPS proxy's tunnel: TLS to the tunnel, then TLS to the origin inside it.
    async def main() -> bytes:

        async def tunnel(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", origin_port)

            async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
                dst.close()

            try:
                await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer), return_exceptions=True)
            finally:
                up_writer.transport.abort()

        async with Server(answer_hello, server_ssl_context) as origin_port, \
                Server(tunnel, server_ssl_context) as proxy_port:
            ctx = client_context(ca)
            stream = await AsyncioBackend().connect_tcp("127.0.0.1", proxy_port, timeout=5)
            outer = await stream.start_tls(ctx, "127.0.0.1", timeout=5)
            inner = await outer.start_tls(ctx, "localhost", timeout=5)
            assert inner.get_extra_info("ssl_object") is not outer.get_extra_info("ssl_object")
            await inner.write(b"GET / HTTP/1.1\r\nhost: localhost\r\n\r\n", timeout=5)
            data = await read_all(inner)
            await inner.aclose()
            return data

    assert asyncio.run(main()).endswith(b"\r\n\r\nhello")


def test_refused_and_unknown_hosts_are_connect_errors_from_the_os_error() -> None:
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()

    async def main() -> None:
        with pytest.raises(httpcore.ConnectError) as refused:
            await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
        assert isinstance(refused.value.__cause__, ConnectionRefusedError)
        with pytest.raises(httpcore.ConnectError) as unknown:
            await AsyncioBackend().connect_tcp("no-such-host.invalid", 80, timeout=5)
        assert isinstance(unknown.value.__cause__, socket.gaierror)

    asyncio.run(main())


def test_connect_timeout(unreachable_port: int) -> None:
    async def main() -> None:
        with pytest.raises(httpcore.ConnectTimeout):
            await AsyncioBackend().connect_tcp("127.0.0.1", unreachable_port, timeout=0.05)

    asyncio.run(main())


def test_read_timeout_eof_and_staleness() -> None:
    closed = asyncio.Event()

    async def silent_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await closed.wait()
        writer.close()

    async def main() -> None:
        async with Server(silent_then_close) as port:
            stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
            assert stream.get_extra_info("is_readable") is False
            assert stream.get_extra_info("server_addr") == ("127.0.0.1", port)
            with pytest.raises(httpcore.ReadTimeout):
                await stream.read(10, timeout=0.05)
            closed.set()
            assert await stream.read(10, timeout=5) == b""  # EOF
            assert stream.get_extra_info("is_readable") is True  # a pooled connection would be dropped
            await stream.aclose()
            with pytest.raises(httpcore.ReadError):
                await stream.read(10, timeout=5)  # closed socket: an error, not a hang
            with pytest.raises(httpcore.WriteError):
                await stream.write(b"x", timeout=5)

    asyncio.run(main())


def test_a_tls_peer_that_closes_without_close_notify_ends_the_stream(
    ca: trustme.CA, server_ssl_context: ssl.SSLContext
) -> None:
    async def abrupt(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\n\r\nbody")
        await writer.drain()
        writer.transport.abort()  # no TLS close_notify

    async def main() -> bytes:
        async with Server(abrupt, server_ssl_context) as port:
            stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
            tls = await stream.start_tls(client_context(ca), "127.0.0.1", timeout=5)
            await tls.write(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n", timeout=5)
            try:
                return await read_all(tls)
            finally:
                await tls.aclose()

    assert asyncio.run(main()) == b"HTTP/1.1 200 OK\r\n\r\nbody"


def test_a_failed_handshake_is_a_connect_error_and_closes_the_socket(
    server_ssl_context: ssl.SSLContext, other_ca_path: str
) -> None:
    async def main() -> None:
        async with Server(answer_hello, server_ssl_context) as port:
            stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
            sock = stream.get_extra_info("socket")
            ctx = ssl.create_default_context(cafile=other_ca_path)
            with pytest.raises(httpcore.ConnectError) as failed:
                await stream.start_tls(ctx, "127.0.0.1", timeout=5)
            assert isinstance(failed.value.__cause__, ssl.SSLCertVerificationError)
            assert sock.fileno() == -1

    asyncio.run(main())


def test_cancelling_a_read_leaves_the_stream_closable() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    async def main() -> None:
        async with Server(silent) as port:
            stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
            task = asyncio.ensure_future(stream.read(10, timeout=None))
            await asyncio.sleep(0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await stream.aclose()
            assert stream.get_extra_info("socket").fileno() == -1

    asyncio.run(main())


def test_tls_writes_from_two_tasks_at_once_never_interleave_records(
    ca: trustme.CA, server_ssl_context: ssl.SSLContext
) -> None:
    # HTTP/2 writes one connection from several tasks. Blocks larger than the socket buffers make
    # each send wait part-way; records from the two writers must still arrive whole and in order.
    block = 4 * 1024 * 1024
    blocks = {b"a": 2, b"b": 2}
    received = bytearray()
    done = asyncio.Event()

    async def sink(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while len(received) < block * sum(blocks.values()):
                data = await reader.read(65536)
                if not data:
                    break
                received.extend(data)
                await asyncio.sleep(0)  # a slow reader, so the client's sends fill the buffers
        finally:
            done.set()  # also when interleaved records made the TLS layer fail

    async def main() -> None:
        async with Server(sink, server_ssl_context) as port:
            stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
            tls = await stream.start_tls(client_context(ca), "127.0.0.1", timeout=5)

            async def writer(mark: bytes) -> None:
                for _ in range(blocks[mark]):
                    await tls.write(mark * block, timeout=10)

            await asyncio.gather(writer(b"a"), writer(b"b"), return_exceptions=True)
            await asyncio.wait_for(done.wait(), 10)
            await tls.aclose()

    asyncio.run(main())
    assert len(received) == block * sum(blocks.values())
    assert received.count(b"a") == block * blocks[b"a"] and received.count(b"b") == block * blocks[b"b"]
