"""httpcore's network layer on asyncio's own socket calls (AsyncHTTPCoreTransport under asyncio).

httpcore's asyncio backend goes through anyio: a cancel scope per read and write, a checkpoint per
receive, a table of lambdas per ``get_extra_info``: on loopback, a good part of each request's
cost (``make bench`` shows the difference). These streams do the same work with ``loop.sock_*``
calls and ``asyncio.timeout``; httpcore keeps doing the HTTP (HTTP/1.1, HTTP/2, pooling, proxies).

TLS runs over an ``SSLObject`` and two memory BIOs, so it layers over any stream: TLS to an HTTPS
proxy, then TLS to the origin inside it. Like httpcore's anyio backend, a peer that closes without
TLS ``close_notify`` ends the stream (HTTP frames its own bodies), and errors come out as httpcore's
exceptions (``ConnectError``, ``ReadTimeout``...), each ``from`` the OS or TLS error that caused it.

:class:`LoopBackend` picks, per call, these streams under asyncio and httpcore's own trio backend
under trio.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import sys
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import httpcore

from ._idle import socket_is_readable

__all__ = ["AsyncioBackend", "LoopBackend"]

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


def _failure(error: type[Exception], cause: BaseException) -> Exception:
    """httpcore's ``error`` for ``cause`` (raise it ``from cause``)."""
    return error(str(cause) or type(cause).__name__)


class _Stream(httpcore.AsyncNetworkStream):
    """What plain and TLS streams share: the socket underneath, TLS on top, the extra info."""

    _sock: socket.socket
    _ssl: ssl.SSLObject | None = None

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        return await _TLSStream.handshake(self, ssl_context, server_hostname, timeout)

    def get_extra_info(self, info: str) -> Any:
        # What httpcore asks for: ALPN (ssl_object), stale connections (is_readable), and for users.
        if info == "ssl_object":
            return self._ssl
        if info == "is_readable":
            return socket_is_readable(self._sock)
        if info == "socket":
            return self._sock
        try:
            if info == "client_addr":
                return self._sock.getsockname()
            if info == "server_addr":
                return self._sock.getpeername()
        except OSError:
            return None
        return None


class _SocketStream(_Stream):
    """A connected non-blocking TCP (or Unix) socket."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._loop = asyncio.get_running_loop()

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            return await _within(timeout, self._loop.sock_recv(self._sock, max_bytes), httpcore.ReadTimeout)
        except OSError as exc:
            raise _failure(httpcore.ReadError, exc) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            await _within(timeout, self._loop.sock_sendall(self._sock, buffer), httpcore.WriteTimeout)
        except OSError as exc:
            raise _failure(httpcore.WriteError, exc) from exc

    async def aclose(self) -> None:
        _close(self._loop, self._sock)


class _TLSStream(_Stream):
    """TLS over another stream, through memory BIOs."""

    _ssl: ssl.SSLObject

    def __init__(self, inner: _Stream, ssl_context: ssl.SSLContext, server_hostname: str | None) -> None:
        self._inner = inner
        self._sock = inner._sock
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._ssl = ssl_context.wrap_bio(self._incoming, self._outgoing, server_hostname=server_hostname)
        # HTTP/2 reads and writes one connection from several tasks at once: whoever sends takes
        # the pending TLS records in order, under the lock, so records never interleave.
        self._send_lock = asyncio.Lock()

    @classmethod
    async def handshake(
        cls, inner: _Stream, ssl_context: ssl.SSLContext, server_hostname: str | None, timeout: float | None
    ) -> _TLSStream:
        stream = cls(inner, ssl_context, server_hostname)
        try:
            await _within(timeout, stream._drive(stream._ssl.do_handshake), httpcore.ConnectTimeout)
        except BaseException as exc:
            await inner.aclose()
            if isinstance(exc, ssl.SSLError | OSError | httpcore.NetworkError):
                raise _failure(httpcore.ConnectError, exc) from exc
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
            raise _failure(httpcore.ReadError, exc) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            await _within(timeout, self._drive(self._ssl.write, buffer), httpcore.WriteTimeout)
        except (ssl.SSLError, httpcore.ReadError) as exc:
            raise _failure(httpcore.WriteError, exc) from exc

    async def aclose(self) -> None:
        await self._inner.aclose()  # no close_notify: HTTP frames its own bodies


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
        return await _open(_connect_tcp(host, port, local_address), timeout, socket_options, tcp=True)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        return await _open(_connected(sock, path), timeout, socket_options, tcp=False)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def _open(
    connect: Awaitable[socket.socket], timeout: float | None, options: Iterable[Any] | None, *, tcp: bool
) -> _SocketStream:
    """The stream of the socket ``connect`` gives, configured; errors are httpcore's connect errors."""
    try:
        sock = await _within(timeout, connect, httpcore.ConnectTimeout)
    except OSError as exc:
        raise _failure(httpcore.ConnectError, exc) from exc
    try:
        if tcp:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for option in options or ():
            sock.setsockopt(*option)
    except OSError as exc:
        _close(asyncio.get_running_loop(), sock)
        raise _failure(httpcore.ConnectError, exc) from exc
    return _SocketStream(sock)


async def _connected(sock: socket.socket, address: Any, local_address: str | None = None) -> socket.socket:
    """``sock`` connected to ``address`` (non-blocking); closed if that fails or is cancelled."""
    loop = asyncio.get_running_loop()
    try:
        sock.setblocking(False)
        if local_address is not None:
            sock.bind((local_address, 0))
        await loop.sock_connect(sock, address)
    except BaseException:
        _close(loop, sock)
        raise
    return sock


async def _connect_tcp(host: str, port: int, local_address: str | None) -> socket.socket:
    # Each address in turn, as getaddrinfo orders them; the first error is the one reported.
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    first: OSError | None = None
    for family, kind, proto, _, address in infos:
        try:
            return await _connected(socket.socket(family, kind, proto), address, local_address)
        except OSError as exc:
            first = first or exc
    raise first or OSError(f"no address found for {host!r}")


class LoopBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend for the running loop: :class:`AsyncioBackend` under asyncio,
    httpcore's ``TrioBackend`` under trio (one of each, made when first needed)."""

    def __init__(self) -> None:
        self._backends: dict[bool, httpcore.AsyncNetworkBackend] = {}

    def _inner(self) -> httpcore.AsyncNetworkBackend:
        trio = _in_trio()
        backend = self._backends.get(trio)
        if backend is None:
            backend = self._backends[trio] = httpcore.TrioBackend() if trio else AsyncioBackend()
        return backend

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return await self._inner().connect_tcp(host, port, timeout, local_address, socket_options)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        return await self._inner().connect_unix_socket(path, timeout, socket_options)

    async def sleep(self, seconds: float) -> None:
        await self._inner().sleep(seconds)


def _in_trio() -> bool:
    """Is the running event loop trio's? (What httpcore's own backend choice asks, without sniffio.)"""
    trio = sys.modules.get("trio")
    if trio is None:
        return False
    try:
        trio.lowlevel.current_task()
    except RuntimeError:
        return False
    return True
