"""httpcore's network layer on asyncio's own socket calls (AsyncHTTPCoreTransport under asyncio).

httpcore's asyncio backend goes through anyio: a cancel scope per read and write, a checkpoint per
receive, a table of lambdas per ``get_extra_info``. On loopback that is about 90 µs of a 330 µs
request. These streams do the same work with ``loop.sock_*`` calls and ``asyncio.timeout``; httpcore
keeps doing the HTTP (HTTP/1.1, HTTP/2, pooling, proxies), as before.

TLS runs over an ``SSLObject`` and two memory BIOs, so it layers over any stream: TLS to an HTTPS
proxy, then TLS to the origin inside it. Like httpcore's anyio backend, a peer that closes without
TLS ``close_notify`` ends the stream (HTTP frames its own bodies), and errors come out as httpcore's
exceptions (``ConnectError``, ``ReadTimeout``...), each ``from`` the OS or TLS error that caused it.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import httpcore

from ._idle import socket_is_readable

__all__ = ["AsyncioBackend"]

T = TypeVar("T")

_TLS_READ_SIZE = 65536


#: ``asyncio.timeout`` (Python 3.11+); None before, where ``wait_for`` does the same more slowly.
_timeout_scope: Any = getattr(asyncio, "timeout", None)


async def _within(seconds: float | None, step: Awaitable[T], timeout_error: type[Exception]) -> T:
    """``await step``, failing with ``timeout_error`` after ``seconds`` (``None``: no limit)."""
    if seconds is None:
        return await step
    if _timeout_scope is None:  # pragma: no cover - Python 3.10
        try:
            return await asyncio.wait_for(step, seconds)
        except asyncio.TimeoutError:
            raise timeout_error(f"timed out after {seconds} s") from None
    scope = _timeout_scope(seconds)
    try:
        async with scope:
            return await step
    except TimeoutError:
        if not scope.expired():
            raise  # the OS's own ETIMEDOUT, an OSError: the caller's error, not ours
        raise timeout_error(f"timed out after {seconds} s") from None


class _SocketStream(httpcore.AsyncNetworkStream):
    """A connected non-blocking TCP (or Unix) socket."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._loop = asyncio.get_running_loop()

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            return await _within(timeout, self._loop.sock_recv(self._sock, max_bytes), httpcore.ReadTimeout)
        except OSError as exc:
            raise httpcore.ReadError(str(exc) or type(exc).__name__) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            await _within(timeout, self._loop.sock_sendall(self._sock, buffer), httpcore.WriteTimeout)
        except OSError as exc:
            raise httpcore.WriteError(str(exc) or type(exc).__name__) from exc

    async def aclose(self) -> None:
        _close(self._loop, self._sock)

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        return await _TLSStream.handshake(self, self._sock, ssl_context, server_hostname, timeout)

    def get_extra_info(self, info: str) -> Any:
        return _extra_info(info, self._sock, None)


class _TLSStream(httpcore.AsyncNetworkStream):
    """TLS over another stream, through memory BIOs."""

    def __init__(self, inner: httpcore.AsyncNetworkStream, sock: socket.socket, ssl_object: ssl.SSLObject,
                 incoming: ssl.MemoryBIO, outgoing: ssl.MemoryBIO) -> None:
        self._inner = inner
        self._sock = sock
        self._ssl = ssl_object
        self._incoming = incoming
        self._outgoing = outgoing
        # HTTP/2 reads and writes one connection from several tasks at once: whoever sends takes
        # the pending TLS records in order, under the lock, so records never interleave.
        self._send_lock = asyncio.Lock()

    @classmethod
    async def handshake(
        cls, inner: httpcore.AsyncNetworkStream, sock: socket.socket, ssl_context: ssl.SSLContext,
        server_hostname: str | None, timeout: float | None,
    ) -> _TLSStream:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        stream = cls(inner, sock, ssl_context.wrap_bio(incoming, outgoing, server_hostname=server_hostname),
                     incoming, outgoing)
        try:
            await _within(timeout, stream._drive(stream._ssl.do_handshake), httpcore.ConnectTimeout)
        except BaseException as exc:
            await inner.aclose()
            if isinstance(exc, ssl.SSLError | OSError | httpcore.NetworkError):
                raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
            raise
        return stream

    async def _drive(self, operation: Callable[..., T], *args: Any) -> T:
        # Run an SSLObject call, moving bytes between the BIOs and the inner stream until it is done.
        while True:
            try:
                result = operation(*args)
            except ssl.SSLWantReadError:
                await self._flush()
                data = await self._inner.read(_TLS_READ_SIZE)
                if data:
                    self._incoming.write(data)
                else:
                    self._incoming.write_eof()
            else:
                await self._flush()
                return result

    async def _flush(self) -> None:
        if self._outgoing.pending:
            async with self._send_lock:
                data = self._outgoing.read()
                if data:
                    await self._inner.write(data)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            return await _within(timeout, self._drive(self._ssl.read, max_bytes), httpcore.ReadTimeout)
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            return b""  # close_notify, or a peer that closed without it: the end of the stream
        except (ssl.SSLError, httpcore.WriteError) as exc:
            raise httpcore.ReadError(str(exc) or type(exc).__name__) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            await _within(timeout, self._drive(self._ssl.write, buffer), httpcore.WriteTimeout)
        except (ssl.SSLError, httpcore.ReadError) as exc:
            raise httpcore.WriteError(str(exc) or type(exc).__name__) from exc

    async def aclose(self) -> None:
        await self._inner.aclose()  # no close_notify: HTTP frames its own bodies

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        return await _TLSStream.handshake(self, self._sock, ssl_context, server_hostname, timeout)

    def get_extra_info(self, info: str) -> Any:
        return _extra_info(info, self._sock, self._ssl)


def _close(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    # Unregister first: an operation cancelled just before (httpcore closes at once on cancel) still
    # has a callback queued that would unregister the fd, by number, and that number may belong to a
    # new socket by then. Removing the registration now makes the queued callback a no-op.
    fd = sock.fileno()
    if fd >= 0:
        try:
            loop.remove_reader(fd)
            loop.remove_writer(fd)
        except NotImplementedError:  # pragma: no cover - loops without readiness callbacks
            pass
    sock.close()


def _extra_info(info: str, sock: socket.socket, ssl_object: ssl.SSLObject | None) -> Any:
    # What httpcore asks for: ALPN (ssl_object), stale connections (is_readable), and for users.
    if info == "ssl_object":
        return ssl_object
    if info == "is_readable":
        return socket_is_readable(sock)
    if info == "socket":
        return sock
    try:
        if info == "client_addr":
            return sock.getsockname()
        if info == "server_addr":
            return sock.getpeername()
    except OSError:
        return None
    return None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """Connections for httpcore under asyncio, without anyio."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            sock = await _within(timeout, _connect_tcp(host, port, local_address), httpcore.ConnectTimeout)
        except OSError as exc:
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        return _configured(sock, socket_options, tcp=True)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            await _within(timeout, loop.sock_connect(sock, path), httpcore.ConnectTimeout)
        except BaseException as exc:
            _close(loop, sock)
            if isinstance(exc, OSError):
                raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
            raise
        return _configured(sock, socket_options, tcp=False)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def _connect_tcp(host: str, port: int, local_address: str | None) -> socket.socket:
    # Each address in turn, as getaddrinfo orders them; the first error is the one reported.
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    first: OSError | None = None
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            if local_address is not None:
                sock.bind((local_address, 0))
            await loop.sock_connect(sock, address)
        except OSError as exc:
            _close(loop, sock)
            first = first or exc
            continue
        except BaseException:
            _close(loop, sock)
            raise
        return sock
    raise first or OSError(f"no address found for {host!r}")


def _configured(sock: socket.socket, options: Iterable[Any] | None, *, tcp: bool) -> _SocketStream:
    try:
        if tcp:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for option in options or ():
            sock.setsockopt(*option)
    except OSError as exc:
        _close(asyncio.get_running_loop(), sock)
        raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
    return _SocketStream(sock)
