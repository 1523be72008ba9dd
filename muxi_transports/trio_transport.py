"""HTTP/1.1 over trio streams (h11 underneath), with no anyio layer in between."""

from __future__ import annotations

import ssl

import trio

from ._errors import PhaseTimeout
from ._h11_exchange import RECEIVE_SIZE
from ._h11_transport import ByteStream, H11AsyncTransport
from ._idle import socket_is_readable
from ._tls import VerifyTypes

__all__ = ["TrioTransport"]


class _TrioStream(ByteStream):
    __slots__ = ("_sock", "_stream")

    def __init__(self, stream: trio.abc.Stream, sock: trio.socket.SocketType) -> None:
        self._stream = stream
        self._sock = sock

    async def receive(self, timeout: float | None) -> bytes:
        if timeout is None:
            return bytes(await self._stream.receive_some(RECEIVE_SIZE))
        try:
            with trio.fail_after(timeout):
                return bytes(await self._stream.receive_some(RECEIVE_SIZE))
        except trio.TooSlowError:
            raise PhaseTimeout("read") from None

    async def send(self, data: bytes, timeout: float | None) -> None:
        try:
            with trio.fail_after(timeout if timeout is not None else float("inf")):
                await self._stream.send_all(data)
        except trio.TooSlowError:
            raise PhaseTimeout("write") from None

    async def close(self) -> None:
        await trio.aclose_forcefully(self._stream)

    def is_readable(self) -> bool:
        return socket_is_readable(self._sock)


class TrioTransport(H11AsyncTransport):
    """Keep-alive HTTP/1.1 on trio (``trio.open_tcp_stream``, ``trio.SSLStream``).

    ``verify``: ``True`` (system CAs, or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` unless ``trust_env``
    is off), ``False``, a CA bundle path or an :class:`ssl.SSLContext`. ``max_idle_per_origin``:
    keep-alive connections kept per ``(scheme, host, port)``. HTTP/1.1 only, no proxies.
    """

    def __init__(self, *, verify: VerifyTypes = True, max_idle_per_origin: int = 10, trust_env: bool = True) -> None:
        super().__init__(verify=verify, max_idle_per_origin=max_idle_per_origin, trust_env=trust_env)

    async def _open_stream(
        self, scheme: str, host: str, port: int, ssl_ctx: ssl.SSLContext | None, timeout: float | None
    ) -> ByteStream:
        try:
            with trio.fail_after(timeout if timeout is not None else float("inf")):
                tcp = await trio.open_tcp_stream(host, port)
                if ssl_ctx is None:
                    return _TrioStream(tcp, tcp.socket)
                tls = trio.SSLStream(tcp, ssl_ctx, server_hostname=host, https_compatible=True)
                try:
                    await tls.do_handshake()
                except BaseException:
                    await trio.aclose_forcefully(tcp)
                    raise
                return _TrioStream(tls, tcp.socket)
        except trio.TooSlowError:
            raise PhaseTimeout("connect") from None

    async def sleep(self, seconds: float) -> None:
        """Wait with trio's own clock (no anyio)."""
        await trio.sleep(seconds)

    def __repr__(self) -> str:
        return f"<TrioTransport idle={self.idle_connections}>"
