"""Blocking HTTP/1.1 over the standard library's ``socket`` and ``ssl`` (h11 underneath).

The socket backend of ``H11Transport`` (``_sync/h11_transport.py``, generated from the async h11
transport the anyio and trio transports share): this module only connects, starts TLS and moves
bytes. Without a connection-pool framework in between, a request costs about half of what it costs
through httpcore.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from typing import Final

from ._errors import PhaseTimeout
from ._h11_exchange import RECEIVE_SIZE
from ._idle import socket_is_readable
from ._sync.h11_transport import ByteStream, H11Transport

__all__ = ["SocketTransport"]

_UNSET: Final = -1.0  # no timeout set on a socket yet (None means "wait for ever")


class _SocketStream(ByteStream):
    """One blocking socket, and the timeout currently set on it."""

    __slots__ = ("sock", "timeout")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.timeout: float | None = _UNSET

    def _settimeout(self, timeout: float | None) -> None:
        # Only when it changes: switching between blocking and not costs a system call.
        if timeout != self.timeout:
            self.sock.settimeout(timeout)
            self.timeout = timeout

    def receive(self, timeout: float | None) -> bytes:
        self._settimeout(timeout)
        try:
            return self.sock.recv(RECEIVE_SIZE)
        except TimeoutError as exc:
            if exc.errno is not None:
                raise  # the OS's own ETIMEDOUT, not our limit
            raise PhaseTimeout("read") from None

    def send(self, data: bytes, timeout: float | None) -> None:
        self._settimeout(timeout)
        try:
            self.sock.sendall(data)
        except TimeoutError as exc:
            if exc.errno is not None:
                raise
            raise PhaseTimeout("write") from None

    def close(self) -> None:
        # shutdown() first: it wakes a thread blocked in recv() on this socket, close() alone
        # does not (Linux).
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()

    def is_readable(self) -> bool:
        return socket_is_readable(self.sock)


class SocketTransport(H11Transport):
    """Keep-alive HTTP/1.1 on plain sockets, blocking and thread-safe.

    ``verify``: ``True`` (system CAs, or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` unless ``trust_env``
    is off), ``False``, a CA bundle path or an :class:`ssl.SSLContext`. ``max_idle_per_origin``:
    keep-alive connections kept per ``(scheme, host, port)``. There is no limit on connections in
    use at once (one per thread sending); no proxies, no HTTP/2 (:class:`HTTPCoreTransport` has
    those, and the clients switch to it when asked for them).
    """

    def _connect(self, host: str, port: int, timeout: float | None) -> ByteStream:
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except TimeoutError as exc:
            if exc.errno is not None:
                raise
            raise PhaseTimeout("connect") from None
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except BaseException:
            sock.close()
            raise
        return _SocketStream(sock)

    def _start_tls(self, stream: ByteStream, ssl_ctx: ssl.SSLContext, host: str, timeout: float | None) -> ByteStream:
        assert isinstance(stream, _SocketStream)
        # A peer that closes without close_notify ends the stream (HTTP frames its own bodies).
        stream.sock.settimeout(timeout)
        try:
            tls = ssl_ctx.wrap_socket(stream.sock, server_hostname=host)
        except TimeoutError as exc:
            if exc.errno is not None:
                raise
            raise PhaseTimeout("connect") from None
        return _SocketStream(tls)

    def __repr__(self) -> str:
        return f"<SocketTransport connections={self.connections}>"
