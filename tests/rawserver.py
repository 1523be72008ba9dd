"""A raw-socket TCP server on 127.0.0.1 for protocol faults no HTTP library would produce.

Each connection reads one request (head, and a body by ``Content-Length``), then plays a script of
:class:`Action` values: raw bytes, bytes dripped one at a time, a reset, silence. Nothing on the
server side parses or frames the answer, so malformed status lines, lying lengths, truncated
chunks and megabyte header blocks go out exactly as written::

    with RawServer(lambda request: [Send(b"HTTP/1.1 200 OK\\r\\nContent-Length: 9\\r\\n\\r\\nshort"), Finish()]) as srv:
        ...  # a client talks to srv.url

Unless the script ends with :class:`Reset`, the server then sends FIN and waits for the client to
close its side before counting the connection closed. :attr:`RawServer.open_connections` falling
back to 0 is therefore the client's doing: the test proof that a client released its socket.
Threads (one per connection) keep the server independent of any event loop.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType

from muxi_proto.http import Headers, get_header
from tests.waiting import Waitable

__all__ = ["Action", "Drip", "Finish", "RawRequest", "RawServer", "Reset", "Script", "Send", "Silent"]

_MAX_HEAD = 256 * 1024
_MAX_BODY = 16 * 1024 * 1024
_ACCEPT_POLL = 0.5  # how often the accept loop looks at the stop flag (if shutdown() did not wake it)


@dataclass(frozen=True)
class RawRequest:
    """The request as received; ``connection_id`` numbers connections from 1."""

    method: str
    target: str
    headers: Headers
    body: bytes
    connection_id: int

    def header(self, name: str) -> str | None:
        """First value of header ``name`` (case-insensitive), or None."""
        return get_header(self.headers, name)

    def __repr__(self) -> str:
        return f"<RawRequest {self.method} {self.target} {len(self.body)} bytes>"


@dataclass(frozen=True)
class Send:
    """Write ``data`` as it is."""

    data: bytes


@dataclass(frozen=True)
class Drip:
    """Write ``data`` one byte at a time, ``interval`` seconds apart (a server that trickles)."""

    data: bytes
    interval: float


@dataclass(frozen=True)
class Reset:
    """Abort the connection with an RST (``SO_LINGER`` 0): the client sees a reset."""


@dataclass(frozen=True)
class Finish:
    """Send FIN, then wait for the client to close its side (the default end of every script)."""


@dataclass(frozen=True)
class Silent:
    """Send nothing more; wait for the client to close (or the server to stop)."""


Action = Send | Drip | Reset | Finish | Silent
Script = Sequence[Action]


class _ClientGone(Exception):
    pass


class RawServer(Waitable):
    """A scripted TCP server on 127.0.0.1: ``script(request) -> actions`` for every connection.

    ``script`` may also be a fixed sequence of actions. Use as a context manager or
    :meth:`start` / :meth:`stop`; :meth:`stop` unblocks and joins every connection thread.
    """

    def __init__(self, script: Callable[[RawRequest], Script] | Script, *, host: str = "127.0.0.1") -> None:
        self.script = script
        self.host = host
        self.port = 0
        self._cond = threading.Condition()
        self._opened = 0
        self._closed = 0
        self._requests: list[RawRequest] = []
        self._errors: list[BaseException] = []
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._listener: socket.socket | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> RawServer:
        """Bind a free port, start accepting, return self."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(128)
        listener.settimeout(_ACCEPT_POLL)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._spawn(self._accept_loop)
        return self

    def stop(self) -> None:
        """Stop accepting, break every open connection, join all threads."""
        self._stop.set()
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes accept() at once where supported
        with self._cond:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in recv
        for thread in list(self._threads):
            thread.join(10)
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def __enter__(self) -> RawServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- what tests look at --------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{self.host}:{self.port}"

    @property
    def connections_opened(self) -> int:
        """Connections accepted so far."""
        return self._opened

    @property
    def open_connections(self) -> int:
        """Connections the client has not closed yet (or the server has not reset)."""
        return self._opened - self._closed

    @property
    def requests(self) -> list[RawRequest]:
        """Every request read, in order."""
        with self._cond:
            return list(self._requests)

    @property
    def errors(self) -> list[BaseException]:
        """Unexpected exceptions in connection threads (a vanished client is not one)."""
        with self._cond:
            return list(self._errors)

    def __repr__(self) -> str:
        return f"<RawServer {self.url} open={self.open_connections}>"

    # --- serving -------------------------------------------------------------------------------

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True, name="rawserver")
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        listener = self._listener
        assert listener is not None
        while not self._stop.is_set():
            try:
                sock, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.settimeout(None)
            with self._cond:
                self._opened += 1
                conn_id = self._opened
                self._sockets.add(sock)
                self._cond.notify_all()
            self._spawn(self._serve, sock, conn_id)

    def _serve(self, sock: socket.socket, conn_id: int) -> None:
        reset = False
        try:
            request = _read_request(sock, conn_id)
            if request is None:
                return
            with self._cond:
                self._requests.append(request)
                self._cond.notify_all()
            script = self.script(request) if callable(self.script) else self.script
            reset = self._play(sock, script)
        except _ClientGone:
            pass
        except Exception as exc:
            with self._cond:
                self._errors.append(exc)
        finally:
            if not reset:
                _wait_for_close(sock)
            sock.close()
            with self._cond:
                self._sockets.discard(sock)
                self._closed += 1
                self._cond.notify_all()

    def _play(self, sock: socket.socket, script: Script) -> bool:
        """Run the actions; True if the connection was reset (nothing left to wait for)."""
        for action in script:
            if isinstance(action, Send):
                _send(sock, action.data)
            elif isinstance(action, Drip):
                for i in range(len(action.data)):
                    _send(sock, action.data[i : i + 1])
                    if _client_left(sock, action.interval):
                        return False
            elif isinstance(action, Reset):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return True
            elif isinstance(action, Silent):
                return False  # _wait_for_close does the waiting
            elif isinstance(action, Finish):
                break
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)
        return False


def _send(sock: socket.socket, data: bytes) -> None:
    try:
        sock.sendall(data)
    except OSError as exc:
        raise _ClientGone from exc


def _client_left(sock: socket.socket, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds; True as soon as the client closes or resets (or the server stops)."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select([sock], [], [], left)
        if not readable:
            return False
        try:
            if not sock.recv(65536):
                return True
        except OSError:
            return True
    return False


def _wait_for_close(sock: socket.socket) -> None:
    """Read (and drop) until the client closes, resets, or the server is stopped."""
    with contextlib.suppress(OSError):
        while sock.recv(65536):
            pass


def _read_request(sock: socket.socket, conn_id: int) -> RawRequest | None:
    data = b""
    while b"\r\n\r\n" not in data:
        try:
            chunk = sock.recv(65536)
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk
        if len(data) > _MAX_HEAD:
            raise ValueError("request head too large")
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    headers = tuple(
        (name.strip(), value.strip()) for name, _, value in (line.partition(":") for line in lines[1:])
    )
    length = int(get_header(headers, "content-length") or 0)
    if length > _MAX_BODY:
        raise ValueError("request body too large")
    while len(body) < length:
        try:
            chunk = sock.recv(65536)
        except OSError:
            return None
        if not chunk:
            return None
        body += chunk
    return RawRequest(method, target, headers, body[:length], conn_id)
