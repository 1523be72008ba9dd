"""A blocking driver for ``muxi_proto`` over the standard library's ``socket`` and ``ssl``, and h11.

Written from docs/drivers.md alone: the call machine decides everything (signing, retries,
``Retry-After``, what may be replayed, decoding, typed errors); this file only moves bytes,
sleeps when told to, and closes connections::

    driver = BlockingDriver()
    api = FormationAPI(FormationConfig(url="http://127.0.0.1:8271", admin_key="...", client_key="..."))
    agents = driver.run(api.get_agents())                                  # the call's result
    for event in driver.run(api.chat_stream({"message": "hi"}, user_id="u1")):
        ...                                                                # a stream's events, as they arrive

Connections are kept alive and reused only when h11 says the exchange left them reusable; a
stream's connection is closed when the stream ends or is closed early. Timeouts follow
docs/drivers.md §5 (``connect``, ``read``, ``write`` per socket operation, ``total`` per attempt),
failures are reported with the phase they happened in (§4).

Run it against a local server (``--local``) or the one the ``MUXI_*`` variables name::

    python examples/drivers/blocking_h11.py --local
"""

from __future__ import annotations

import argparse
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import h11

from muxi_proto import (
    READ_BODY,
    CallMachine,
    ChatAnswer,
    Done,
    Fail,
    FormationAPI,
    Headers,
    OpenStream,
    Request,
    Send,
    ServerAPI,
    Sleep,
    Step,
    transport_error,
)

__all__ = ["BlockingDriver", "IOFailure"]

CHUNK = 65536
Origin = tuple[str, str, int]


class IOFailure(Exception):
    """One I/O step failed: ``error`` is what the library raised, ``phase`` how far the attempt got."""

    def __init__(self, error: BaseException, phase: str) -> None:
        super().__init__(f"{phase}: {error!r}")
        self.error = error
        self.phase = phase


class Deadline:
    """An attempt's ``total`` deadline (docs/drivers.md §5), combined with each step's own limit."""

    def __init__(self, total: float | None) -> None:
        self._at = None if total is None else time.monotonic() + total

    def limit(self, step: float | None, phase: str) -> tuple[float | None, str]:
        """The timeout for the next socket operation, and the phase to blame when it expires."""
        if self._at is None:
            return step, phase
        remaining = self._at - time.monotonic()
        if remaining <= 0:
            raise IOFailure(TimeoutError("the attempt's total deadline passed"), "total")
        if step is not None and step <= remaining:
            return step, phase
        return remaining, "total"


class Connection:
    """One HTTP/1.1 connection: a socket (TLS-wrapped for https) and its h11 state machine."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.h11 = h11.Connection(h11.CLIENT)

    @classmethod
    def open(cls, request: Request, deadline: Deadline, context: ssl.SSLContext | None) -> Connection:
        """Connect (and handshake): every failure here proves the request never left (phase ``connect``)."""
        timeout, phase = deadline.limit(request.timeout.connect, "connect")
        try:
            sock = socket.create_connection((request.host, request.port), timeout=timeout)
        except OSError as exc:
            raise IOFailure(exc, phase) from exc
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if request.scheme == "https":
                timeout, phase = deadline.limit(request.timeout.connect, "connect")
                sock.settimeout(timeout)
                context = context or ssl.create_default_context()  # verifies the certificate and host name
                sock = context.wrap_socket(sock, server_hostname=request.host)
        except OSError as exc:  # ssl.SSLError and ssl.CertificateError are OSErrors
            sock.close()
            raise IOFailure(exc, phase) from exc
        return cls(sock)

    def send(self, request: Request, deadline: Deadline) -> None:
        """Write the request: ``Host`` and ``Content-Length`` come from ``wire_headers()`` (§3)."""
        try:
            data = self.h11.send(h11.Request(method=request.method, target=request.target,
                                             headers=list(request.wire_headers())))
            if request.body:
                data += self.h11.send(h11.Data(data=request.body))
            data += self.h11.send(h11.EndOfMessage())
        except h11.LocalProtocolError as exc:  # a header h11 refuses: nothing was sent, yet say "write"
            raise IOFailure(exc, "write") from exc
        timeout, phase = deadline.limit(request.timeout.write, "write")
        try:
            self.sock.settimeout(timeout)
            self.sock.sendall(data)
        except OSError as exc:
            raise IOFailure(exc, phase) from exc

    def _next(self, deadline: Deadline, timeout: float | None, phase: str) -> Any:
        """The next h11 event from the server, reading from the socket as needed."""
        while True:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as exc:  # not HTTP, or the body was cut short
                raise IOFailure(exc, phase) from exc
            if event is not h11.NEED_DATA:
                return event
            limit, blame = deadline.limit(timeout, phase)
            try:
                self.sock.settimeout(limit)
                data = self.sock.recv(CHUNK)
            except OSError as exc:
                raise IOFailure(exc, blame) from exc
            self.h11.receive_data(data)  # b"" is the end of the connection: h11 decides what it means

    def read_head(self, request: Request, deadline: Deadline) -> tuple[int, Headers]:
        """The response's status and headers (1xx answers skipped)."""
        while True:
            event = self._next(deadline, request.timeout.read, "read")
            if isinstance(event, h11.Response):
                return event.status_code, tuple(
                    (name.decode("latin-1"), value.decode("latin-1")) for name, value in event.headers.raw_items())
            if not isinstance(event, h11.InformationalResponse):  # ConnectionClosed before any answer
                raise IOFailure(ConnectionResetError("the connection closed before the response"), "read")

    def read_chunk(self, request: Request, deadline: Deadline) -> bytes | None:
        """The next piece of the body, or None at its end."""
        event = self._next(deadline, request.timeout.read, "body")
        if isinstance(event, h11.Data):
            return bytes(event.data)
        if isinstance(event, h11.EndOfMessage):
            return None
        raise IOFailure(ConnectionResetError("the connection closed inside the body"), "body")

    def reusable(self) -> bool:
        """True when both sides finished the exchange and neither asked to close (h11 decides)."""
        return self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE

    def stale(self) -> bool:
        """An idle connection with something to read has been closed by the server (or is out of sync)."""
        try:
            poller = select.poll()  # not select.select: it cannot watch descriptors above 1023
            poller.register(self.sock, select.POLLIN)
            return bool(poller.poll(0))
        except OSError:
            return True

    def close(self) -> None:
        self.sock.close()


class BlockingDriver:
    """Runs call machines on the calling thread; keeps idle keep-alive connections per origin.

    ``ssl_context`` verifies https servers (default: ``ssl.create_default_context()``); ``sleep``
    waits between attempts (``time.sleep``). Safe to share between threads; each call runs on
    the thread that calls :meth:`run`.
    """

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None,
                 sleep: Callable[[float], None] = time.sleep, max_idle: int = 8) -> None:
        self.ssl_context = ssl_context
        self._sleep = sleep
        self._max_idle = max_idle
        self._idle: dict[Origin, list[Connection]] = {}
        self._lock = threading.Lock()

    def sleep(self, seconds: float) -> None:
        """Wait before the next attempt, as the machine said (``Sleep``)."""
        self._sleep(seconds)

    def run(self, machine: CallMachine[Any]) -> Any:
        """Drive one call: its result, or for a stream call an iterator of its events as they arrive.

        A failed call raises its typed error (a ``muxi_proto.errors.MuxiError``). Close the
        iterator of a stream you stop reading early (or use ``contextlib.closing``): its
        connection closes then.
        """
        step: Step[Any] = machine.start()
        while True:
            if isinstance(step, Done):
                return step.result
            if isinstance(step, Fail):
                raise step.error
            if isinstance(step, Sleep):
                self.sleep(step.seconds)
                step = machine.resume()  # the next attempt, signed now
                continue
            assert isinstance(step, Send), step  # OpenStream leaves the loop below, ReadBody never gets here
            request = step.request  # a Send: the first attempt, a retry, or a fallback request
            step, conn = self._attempt(machine, request)
            if isinstance(step, OpenStream) and conn is not None:
                return self._events(step, conn, request)

    def _attempt(self, machine: CallMachine[Any], request: Request) -> tuple[Step[Any], Connection | None]:
        """One attempt: send, read the head and (unless it is a stream) the body; the next step."""
        deadline = Deadline(request.timeout.total)  # None for streams: the machine leaves it off (§5)
        conn: Connection | None = None
        try:
            conn = self._checkout(request, deadline)
            conn.send(request, deadline)
            status, headers = conn.read_head(request, deadline)
        except IOFailure as failure:
            if conn is not None:
                conn.close()
            return machine.failed(failure.error, phase=failure.phase), None
        step: Step[Any] = machine.head(status, headers)
        if isinstance(step, OpenStream):
            return step, conn
        while step is READ_BODY:
            try:
                chunk = conn.read_chunk(request, deadline)
            except IOFailure as failure:
                conn.close()
                return machine.failed(failure.error, phase=failure.phase), None
            if chunk is None:  # the whole body: the connection may serve the next request
                self._checkin(request, conn)
                return machine.end(), None
            step = machine.data(chunk)
        conn.close()  # a Sleep right after the head, or the body limit: never reuse (§7)
        return step, None

    def _checkout(self, request: Request, deadline: Deadline) -> Connection:
        origin = (request.scheme, request.host, request.port)
        while True:
            with self._lock:
                idle = self._idle.get(origin)
                conn = idle.pop() if idle else None
            if conn is None:
                return Connection.open(request, deadline, self.ssl_context)
            if not conn.stale():
                conn.h11.start_next_cycle()
                return conn
            conn.close()

    def _checkin(self, request: Request, conn: Connection) -> None:
        if conn.reusable():
            with self._lock:
                idle = self._idle.setdefault((request.scheme, request.host, request.port), [])
                if len(idle) < self._max_idle:
                    idle.append(conn)
                    return
        conn.close()

    def _events(self, step: OpenStream, conn: Connection, request: Request) -> Iterator[Any]:
        """The stream's events: the machine's ``events`` helper feeds the decoder and closes at the end."""
        deadline = Deadline(None)  # no read timeout and no total for streams (docs/drivers.md §5)

        def chunks() -> Iterator[bytes]:
            while True:
                try:
                    chunk = conn.read_chunk(request, deadline)
                except IOFailure as failure:  # not retried: part of the stream was delivered (§6)
                    raise transport_error(failure.error, request, phase="body") from failure.error
                if chunk is None:
                    return
                yield chunk

        return step.events(chunks(), close=conn.close)

    def close(self) -> None:
        """Close the idle connections."""
        with self._lock:
            idle = [conn for conns in self._idle.values() for conn in conns]
            self._idle.clear()
        for conn in idle:
            conn.close()

    def __enter__(self) -> BlockingDriver:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def demo(driver: BlockingDriver, server: ServerAPI, formation: FormationAPI) -> None:
    """A signed server call, a formation call, and a chat answer streamed token by token."""
    status = driver.run(server.status())
    print("server:", status["formations"]["running"], "formation(s) running")
    print("agents:", driver.run(formation.get_agents())["count"])
    answer = ChatAnswer()
    print("answer: ", end="")
    for event in driver.run(formation.chat_stream({"message": "Hello from h11"}, user_id="example-user")):
        print(answer.add(event), end="", flush=True)
    print()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--local", action="store_true", help="start a local MUXI server in this process")
    args = parser.parse_args(argv)
    with BlockingDriver() as driver:
        if not args.local:  # the MUXI_* variables name the server, the formation and the keys
            demo(driver, ServerAPI(max_retries=2), FormationAPI(max_retries=2))
            return
        from muxi_testing import LocalMuxiServer

        with LocalMuxiServer() as local:
            demo(driver, ServerAPI(local.server_config(max_retries=2)),
                 FormationAPI(local.formation_config(max_retries=2)))


if __name__ == "__main__":
    main()
