"""HTTP/1.1 over anyio byte streams (h11 underneath): runs under asyncio and trio alike.

The anyio backend of :class:`~._async.h11_transport.AsyncH11Transport`, which does the HTTP: this
module only connects, starts TLS and moves bytes.
"""

from __future__ import annotations

import builtins
import ssl

import anyio
from anyio.abc import ByteStream as AnyIOByteStream
from anyio.abc import SocketAttribute
from anyio.streams.tls import TLSStream

from ._async.h11_transport import AsyncByteStream, AsyncH11Transport
from ._errors import PhaseTimeout
from ._h11_exchange import RECEIVE_SIZE
from ._idle import socket_is_readable

__all__ = ["AnyIOTransport"]


class _AnyIOStream(AsyncByteStream):
    __slots__ = ("_sock", "stream")

    def __init__(self, stream: AnyIOByteStream) -> None:
        self.stream = stream
        self._sock = stream.extra(SocketAttribute.raw_socket, None)  # noqa: S610 - anyio, not Django

    async def receive(self, timeout: float | None) -> bytes:
        try:
            if timeout is None:
                return await self.stream.receive(RECEIVE_SIZE)
            with anyio.fail_after(timeout):
                return await self.stream.receive(RECEIVE_SIZE)
        except anyio.EndOfStream:
            return b""
        except builtins.TimeoutError:
            raise PhaseTimeout("read") from None

    async def send(self, data: bytes, timeout: float | None) -> None:
        try:
            with anyio.fail_after(timeout):
                await self.stream.send(data)
        except builtins.TimeoutError:
            raise PhaseTimeout("write") from None

    async def close(self) -> None:
        await anyio.aclose_forcefully(self.stream)

    def is_readable(self) -> bool:
        return socket_is_readable(self._sock)


class AnyIOTransport(AsyncH11Transport):
    """Keep-alive HTTP/1.1 on anyio: one transport per event loop (asyncio or trio).

    ``verify``: ``True`` (system CAs, or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` unless ``trust_env``
    is off), ``False``, a CA bundle path or an :class:`ssl.SSLContext`. ``max_idle_per_origin``:
    keep-alive connections kept per ``(scheme, host, port)``. HTTP/1.1 only, no proxies.
    """

    async def _connect(self, host: str, port: int, timeout: float | None) -> AsyncByteStream:
        try:
            with anyio.fail_after(timeout):
                stream = await anyio.connect_tcp(host, port)
        except builtins.TimeoutError as exc:
            if exc.errno is not None:
                raise  # the OS's own ETIMEDOUT, not our limit
            raise PhaseTimeout("connect") from None
        return _AnyIOStream(stream)

    async def _start_tls(
        self, stream: AsyncByteStream, ssl_ctx: ssl.SSLContext, host: str, timeout: float | None
    ) -> AsyncByteStream:
        assert isinstance(stream, _AnyIOStream)
        try:
            with anyio.fail_after(timeout):
                # HTTP frames its own bodies: a missing TLS close_notify is not an error.
                tls = await TLSStream.wrap(
                    stream.stream, server_side=False, hostname=host, ssl_context=ssl_ctx, standard_compatible=False
                )
        except builtins.TimeoutError as exc:
            if exc.errno is not None:
                raise  # the OS's own ETIMEDOUT, not our limit
            raise PhaseTimeout("connect") from None
        return _AnyIOStream(tls)

    def __repr__(self) -> str:
        return f"<AnyIOTransport idle={self.idle_connections}>"

