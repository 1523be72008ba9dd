"""The local server's HTTP/1.1 layer on h11: real sockets on 127.0.0.1, in a background thread.

It runs its own event loop (anyio, asyncio by default), so sync and async callers (asyncio or trio)
use it alike. Handlers get the whole request (method, target, headers, body) and a
:class:`ResponseWriter` that sends status and headers, writes body chunks (Content-Length or
chunked framing), ends, or breaks the connection on purpose (raw bytes, reset, close) -- what the
fault injection needs. Connections opened and closed are counted.

``watch_disconnects=False`` skips the per-request watcher task (cheap per request: benchmarks);
handlers then watch only where it matters, with :meth:`ResponseWriter.guarded` (long streams,
deliberate delays). Subclasses may wrap each accepted stream (:meth:`HTTPServer.wrap_stream`: TLS
in the test suite's server) and keep requests (:meth:`HTTPServer.on_request`).
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import struct
import threading
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import anyio
import anyio.abc
import h11
from anyio.abc import SocketAttribute
from anyio.from_thread import BlockingPortal, start_blocking_portal

from muxi_proto.http import Headers, get_header

__all__ = ["CLIENT_GONE", "HTTPServer", "Handler", "ResponseWriter", "ServerRequest"]

_RECEIVE_SIZE = 65536
_REASONS = {200: b"OK", 201: b"Created", 204: b"No Content", 400: b"Bad Request", 404: b"Not Found",
            413: b"Content Too Large", 500: b"Internal Server Error"}


@dataclass(frozen=True)
class ServerRequest:
    """A request as the server received it; ``connection_id`` numbers connections from 1."""

    method: str
    target: str
    headers: Headers
    body: bytes
    connection_id: int = 0

    def header(self, name: str) -> str | None:
        """First value of header ``name`` (case-insensitive), or None."""
        return get_header(self.headers, name)

    def __repr__(self) -> str:
        return f"<ServerRequest {self.method} {self.target} {len(self.body)} bytes>"


Handler = Callable[[ServerRequest, "ResponseWriter"], Awaitable[None]]


async def _ok(request: ServerRequest, response: ResponseWriter) -> None:
    await response.respond(200, [("Content-Type", "text/plain")], b"ok")


class _Connection:
    """Per-connection state shared by the reader loop, the watcher and the writer."""

    __slots__ = ("broken", "disconnected", "h11", "id", "stream")

    def __init__(self, stream: anyio.abc.ByteStream, conn_id: int, max_head: int) -> None:
        self.stream = stream
        self.id = conn_id
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=max_head)
        self.disconnected = anyio.Event()
        self.broken = False  # raw bytes, reset or close: no further HTTP on this connection


class ResponseWriter:
    """Writes one response; also the handle for faults on its connection."""

    def __init__(self, conn: _Connection, keep_alive: bool, *, watched: bool = True) -> None:
        self._conn = conn
        self._keep_alive = keep_alive
        self._watched = watched  # the server already watches this request for a disconnect
        self.started = False
        self.ended = False

    @property
    def disconnected(self) -> bool:
        """True once the client closed or reset the connection."""
        return self._conn.disconnected.is_set()

    @property
    def closed(self) -> bool:
        """True once nothing more can be sent: the client left, or the connection was broken."""
        return self._conn.broken or self._conn.disconnected.is_set()

    async def start(
        self, status: int, headers: Iterable[tuple[str, str]] = (), *, content_length: int | None = None
    ) -> None:
        """Send the status line and headers; without a length the body is chunked."""
        event = self._head(status, headers, content_length)
        self.started = True
        await self._send(self._conn.h11.send(event))

    def _head(
        self, status: int, headers: Iterable[tuple[str, str]], content_length: int | None
    ) -> h11.Response:
        hdrs = list(headers)
        names = {name.lower() for name, _ in hdrs}
        if content_length is not None and "content-length" not in names:
            hdrs.append(("Content-Length", str(content_length)))
            names.add("content-length")
        if not names & {"content-length", "transfer-encoding"} and status >= 200 and status not in (204, 304):
            hdrs.append(("Transfer-Encoding", "chunked"))
        if not self._keep_alive and "connection" not in names:
            hdrs.append(("Connection", "close"))
        return h11.Response(status_code=status, headers=hdrs, reason=_REASONS.get(status, b""))

    async def write(self, data: bytes) -> None:
        """One body chunk (sent at once, as one chunk when chunked)."""
        if data:
            await self._send(self._conn.h11.send(h11.Data(data=data)))

    async def end(self) -> None:
        """Finish the body (the last chunk marker when chunked)."""
        self.ended = True
        await self._send(self._conn.h11.send(h11.EndOfMessage()))

    async def respond(
        self, status: int = 200, headers: Iterable[tuple[str, str]] = (), body: bytes = b""
    ) -> None:
        """A whole response with ``Content-Length``."""
        h = self._conn.h11
        head = self._head(status, headers, len(body))
        self.started = self.ended = True
        # One write for the whole response: fewer syscalls, and clients see it arrive at once.
        parts = [h.send(head)]
        if body:
            parts.append(h.send(h11.Data(data=body)))
        parts.append(h.send(h11.EndOfMessage()))
        await self._send(b"".join(parts))

    async def write_raw(self, data: bytes) -> None:
        """Bytes straight onto the socket, bypassing HTTP; the connection is closed afterwards."""
        self._conn.broken = True
        await self._send(data)

    async def close(self) -> None:
        """Close the connection now (a FIN), wherever the response is."""
        self._conn.broken = True
        await anyio.aclose_forcefully(self._conn.stream)

    async def abort(self) -> None:
        """Reset the connection (an RST): the client sees 'connection reset by peer'."""
        self._conn.broken = True
        sock = self._conn.stream.extra(SocketAttribute.raw_socket, None)  # noqa: S610 - anyio, not Django
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await anyio.aclose_forcefully(self._conn.stream)

    async def guarded(self, body: Callable[[], Awaitable[object]]) -> None:
        """Run ``body()``; if the client goes away meanwhile, cancel it and return.

        Servers built with ``watch_disconnects=False`` wrap what may take long (a stream, a
        deliberate delay) in this, so a vanished client frees its handler at once. Afterwards
        :attr:`disconnected` says whether the client left.
        """
        conn = self._conn
        if conn.disconnected.is_set():
            return
        if self._watched:  # the server's own watcher cancels the whole handler
            await body()
            return
        async with anyio.create_task_group() as tg:
            tg.start_soon(_watch, conn, tg.cancel_scope)
            try:
                await body()
            finally:
                tg.cancel_scope.cancel()

    async def _send(self, data: bytes) -> None:
        if data:
            await self._conn.stream.send(data)


@dataclass
class _Stats:
    opened: int = 0
    closed: int = 0
    errors: list[BaseException] = field(default_factory=list)


CLIENT_GONE = (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream, OSError)
_CLIENT_GONE = CLIENT_GONE


class HTTPServer:
    """An HTTP/1.1 server on 127.0.0.1 in a background thread.

    ``handler``: ``async (ServerRequest, ResponseWriter) -> None``; may be replaced between
    requests by assigning :attr:`handler`. ``keep_alive=False`` answers every request with
    ``Connection: close``. ``backend``: the anyio backend for the server's own loop (``"asyncio"``
    or ``"trio"``). ``watch_disconnects=False``: no watcher task per request (cheaper; see
    :meth:`ResponseWriter.guarded`).
    """

    def __init__(
        self,
        handler: Handler | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        keep_alive: bool = True,
        backend: str = "asyncio",
        max_body: int = 64 * 1024 * 1024,
        max_head: int = 64 * 1024,
        watch_disconnects: bool = True,
    ) -> None:
        self.handler: Handler = handler or _ok
        self.host = host
        self.port = port
        self.keep_alive = keep_alive
        self.backend = backend
        self.max_body = max_body
        self.max_head = max_head
        self.watch_disconnects = watch_disconnects
        self._stats = _Stats()
        self._cond = threading.Condition()
        self._ids = itertools.count(1)
        self._portal_cm: Any = None
        self._portal: BlockingPortal | None = None
        self._serving: Future[None] | None = None
        self._stop_scope: anyio.CancelScope | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> HTTPServer:
        """Bind, start serving in a background thread, and return self."""
        if self._portal is not None:
            raise RuntimeError("server already started")
        self._portal_cm = start_blocking_portal(self.backend)
        self._portal = self._portal_cm.__enter__()
        try:
            self._serving, self.port = self._portal.start_task(self._serve)
        except BaseException:
            self._portal_cm.__exit__(None, None, None)
            self._portal = None
            raise
        return self

    def stop(self) -> None:
        """Close the listener and every connection, stop the loop and join its thread."""
        portal, self._portal = self._portal, None
        if portal is None:
            return
        try:
            if self._stop_scope is not None:
                portal.call(self._stop_scope.cancel)
            if self._serving is not None:
                self._serving.result()
        finally:
            self._portal_cm.__exit__(None, None, None)

    def __enter__(self) -> HTTPServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def portal(self) -> BlockingPortal | None:
        """The portal into the server's event loop while it runs (to run code there from other threads)."""
        return self._portal

    # --- what tests look at --------------------------------------------------------------------

    scheme = "http"
    writer_class: type[ResponseWriter] = ResponseWriter

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def connections_opened(self) -> int:
        """TCP connections accepted so far."""
        return self._stats.opened

    @property
    def connections_closed(self) -> int:
        """Connections finished (closed by either side) so far."""
        return self._stats.closed

    @property
    def open_connections(self) -> int:
        """Connections currently open."""
        return self._stats.opened - self._stats.closed

    @property
    def errors(self) -> list[BaseException]:
        """Unexpected exceptions from handlers (a disconnecting client is not one)."""
        return list(self._stats.errors)

    # --- hooks for subclasses --------------------------------------------------------------------

    async def wrap_stream(self, stream: anyio.abc.SocketStream) -> anyio.abc.ByteStream | None:
        """The byte stream to speak HTTP on (TLS, for one); None drops the connection."""
        return stream

    def on_request(self, request: ServerRequest) -> None:
        """Called with every complete request before its handler runs."""

    def on_closed(self, conn_id: int) -> None:
        """Called once each connection is closed and counted."""

    def notify(self) -> None:
        """Wake whoever waits on the connection counters (``self._cond``)."""
        with self._cond:
            self._cond.notify_all()

    def _count(self, name: str) -> None:
        with self._cond:
            setattr(self._stats, name, getattr(self._stats, name) + 1)
            self._cond.notify_all()

    def _record(self, items: list[Any], item: object) -> None:
        with self._cond:
            items.append(item)
            self._cond.notify_all()

    # --- serving -------------------------------------------------------------------------------

    async def _serve(self, *, task_status: anyio.abc.TaskStatus[int] = anyio.TASK_STATUS_IGNORED) -> None:
        listener = await anyio.create_tcp_listener(local_host=self.host, local_port=self.port)
        port: int = listener.extra(SocketAttribute.local_port)  # noqa: S610 - anyio, not Django
        with anyio.CancelScope() as scope:
            self._stop_scope = scope
            async with listener, anyio.create_task_group() as tg:
                task_status.started(port)
                await listener.serve(self._connection, task_group=tg)

    async def _connection(self, stream: anyio.abc.SocketStream) -> None:
        conn_id = next(self._ids)
        self._count("opened")
        byte_stream: anyio.abc.ByteStream = stream
        try:
            wrapped = await self.wrap_stream(stream)
            if wrapped is None:
                return
            byte_stream = wrapped
            await self._http(_Connection(byte_stream, conn_id, self.max_head))
        except _CLIENT_GONE:
            pass  # the client went away: normal for a test server
        except Exception as exc:
            self._record(self._stats.errors, exc)
        finally:
            with anyio.CancelScope(shield=True):  # still close (and count) when the server stops
                await anyio.aclose_forcefully(byte_stream)
                if byte_stream is not stream:
                    await anyio.aclose_forcefully(stream)
            self._count("closed")
            self.on_closed(conn_id)

    async def _http(self, conn: _Connection) -> None:
        while True:
            try:
                request = await self._read_request(conn)
            except h11.RemoteProtocolError:
                with contextlib.suppress(h11.LocalProtocolError, *_CLIENT_GONE):
                    await self.writer_class(conn, keep_alive=False).respond(400, body=b"bad request")
                return
            if request is None:
                return
            self.on_request(request)
            if self.watch_disconnects:
                writer = self.writer_class(conn, self.keep_alive)
                await self._handle(conn, request, writer)
            else:
                writer = self.writer_class(conn, self.keep_alive, watched=False)
                await self._run_handler(conn, request, writer)
            if conn.broken or conn.disconnected.is_set():
                return
            if conn.h11.our_state is not h11.DONE or conn.h11.their_state is not h11.DONE:
                return  # Connection: close, or a response left unfinished
            conn.h11.start_next_cycle()

    async def _read_request(self, conn: _Connection) -> ServerRequest | None:
        head: h11.Request | None = None
        body: list[bytes] = []
        size = 0
        while True:
            event = conn.h11.next_event()
            if event is h11.NEED_DATA:
                if conn.h11.they_are_waiting_for_100_continue:
                    interim = h11.InformationalResponse(status_code=100, headers=[])
                    await conn.stream.send(conn.h11.send(interim))
                try:
                    data = await conn.stream.receive(_RECEIVE_SIZE)
                except anyio.EndOfStream:
                    data = b""
                conn.h11.receive_data(data)
            elif isinstance(event, h11.Request):
                head = event
            elif isinstance(event, h11.Data):
                size += len(event.data)
                if size > self.max_body:
                    raise h11.RemoteProtocolError("request body too large")
                body.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                return ServerRequest(
                    head.method.decode("ascii"),
                    head.target.decode("ascii"),
                    tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in head.headers.raw_items()),
                    b"".join(body),
                    conn.id,
                )
            elif isinstance(event, h11.ConnectionClosed):
                return None

    async def _handle(self, conn: _Connection, request: ServerRequest, writer: ResponseWriter) -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_watch, conn, tg.cancel_scope)
            try:
                await self._run_handler(conn, request, writer)
            finally:
                tg.cancel_scope.cancel()

    async def _run_handler(self, conn: _Connection, request: ServerRequest, writer: ResponseWriter) -> None:
        try:
            await self.handler(request, writer)
            if conn.disconnected.is_set():
                return
            if not writer.started and not conn.broken:
                raise RuntimeError(f"handler sent no response to {request.method} {request.target}")
            if not writer.ended and not conn.broken:
                await writer.end()
        except _CLIENT_GONE:
            conn.broken = True
        except Exception as exc:
            self._record(self._stats.errors, exc)
            if not writer.started and not conn.broken:
                with contextlib.suppress(*_CLIENT_GONE):
                    await writer.respond(500, body=b"handler failed")
            else:
                conn.broken = True


async def _watch(conn: _Connection, handler_scope: anyio.CancelScope) -> None:
    """Notice a client that goes away while its handler runs, and stop that handler."""
    try:
        while True:
            data = await conn.stream.receive(_RECEIVE_SIZE)
            conn.h11.receive_data(data)  # a pipelined request: kept for the next cycle
    except _CLIENT_GONE:
        conn.disconnected.set()
        handler_scope.cancel()
