"""HTTP/1.1 over trio streams (h11 underneath), with no anyio layer in between.

The trio backend of :class:`~._async.h11_transport.AsyncH11Transport`, which does the HTTP: this
module only connects, starts TLS and moves bytes.
"""

from __future__ import annotations

import ssl

import trio

from ._async.h11_transport import AsyncByteStream, AsyncH11Transport
from ._errors import PhaseTimeout
from ._h11_exchange import RECEIVE_SIZE
from ._idle import socket_is_readable

__all__ = ["TrioTransport"]


class _TrioStream(AsyncByteStream):
    __slots__ = ("sock", "stream")

    def __init__(self, stream: trio.abc.Stream, sock: trio.socket.SocketType) -> None:
        self.stream = stream
        self.sock = sock

    async def receive(self, timeout: float | None) -> bytes:
        if timeout is None:
            return bytes(await self.stream.receive_some(RECEIVE_SIZE))
        try:
            with trio.fail_after(timeout):
                return bytes(await self.stream.receive_some(RECEIVE_SIZE))
        except trio.TooSlowError:
            raise PhaseTimeout("read") from None

    async def send(self, data: bytes, timeout: float | None) -> None:
        try:
            with trio.fail_after(timeout if timeout is not None else float("inf")):
                await self.stream.send_all(data)
        except trio.TooSlowError:
            raise PhaseTimeout("write") from None

    async def close(self) -> None:
        await trio.aclose_forcefully(self.stream)

    def is_readable(self) -> bool:
        return socket_is_readable(self.sock)


class TrioTransport(AsyncH11Transport):
    """Keep-alive HTTP/1.1 on trio (``trio.open_tcp_stream``, ``trio.SSLStream``).

    ``verify``: ``True`` (system CAs, or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` unless ``trust_env``
    is off), ``False``, a CA bundle path or an :class:`ssl.SSLContext`. ``max_idle_per_origin``:
    keep-alive connections kept per ``(scheme, host, port)``. HTTP/1.1 only, no proxies.
    """

    async def _connect(self, host: str, port: int, timeout: float | None) -> AsyncByteStream:
        try:
            with trio.fail_after(timeout if timeout is not None else float("inf")):
                tcp = await trio.open_tcp_stream(host, port)
        except trio.TooSlowError:
            raise PhaseTimeout("connect") from None
        return _TrioStream(tcp, tcp.socket)

    async def _start_tls(
        self, stream: AsyncByteStream, ssl_ctx: ssl.SSLContext, host: str, timeout: float | None
    ) -> AsyncByteStream:
        assert isinstance(stream, _TrioStream)
        tls = trio.SSLStream(stream.stream, ssl_ctx, server_hostname=host, https_compatible=True)
        try:
            with trio.fail_after(timeout if timeout is not None else float("inf")):
                await tls.do_handshake()
        except trio.TooSlowError:
            raise PhaseTimeout("connect") from None
        return _TrioStream(tls, stream.sock)

    async def sleep(self, seconds: float) -> None:
        """Wait with trio's own clock (no anyio)."""
        await trio.sleep(seconds)

    def __repr__(self) -> str:
        return f"<TrioTransport idle={self.idle_connections}>"
