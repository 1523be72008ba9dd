"""A non-blocking driver for ``muxi_proto`` on a small ``selectors`` callback loop, with h11.

Written from docs/drivers.md alone. :class:`EventLoop` is a minimal callback loop (readiness
callbacks per socket, timers, ``call_soon``); :class:`SelectorsDriver` runs call machines on it
without ever blocking: non-blocking connect, TLS through ``ssl.MemoryBIO`` (sans-IO TLS, the
certificate verified), h11 for HTTP/1.1, a timer for each ``Sleep`` and each timeout. Results,
errors and stream events arrive through callbacks, event by event as the bytes arrive::

    loop = EventLoop()
    driver = SelectorsDriver(loop)
    driver.call(api.get_agents(), on_result=print, on_error=print)
    driver.call(api.chat_stream({"message": "hi"}, user_id="u1"),
                on_event=show, on_result=lambda _: print("done"), on_error=print)
    loop.run()                                   # until no work is left

Run it against a local server (``--local``) or the one the ``MUXI_*`` variables name::

    python examples/drivers/selectors_loop.py --local
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import heapq
import itertools
import os
import select
import selectors
import socket
import ssl
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import h11

from muxi_proto import (
    READ_BODY,
    CallMachine,
    ChatAnswer,
    Done,
    Fail,
    FormationAPI,
    MuxiError,
    OpenStream,
    Request,
    Send,
    ServerAPI,
    Sleep,
    Step,
    StreamMachine,
    transport_error,
)

__all__ = ["Call", "EventLoop", "SelectorsDriver", "Timer"]

CHUNK = 65536
Callback = Callable[[], object]
Origin = tuple[str, str, int]


# --- the event loop -----------------------------------------------------------------------------------


class Timer:
    """A callback scheduled by :meth:`EventLoop.call_later`; :meth:`cancel` it if no longer wanted."""

    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callback) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class EventLoop:
    """Callbacks on socket readiness, timers and ``call_soon``, run by :meth:`run` on one thread.

    Not thread-safe: call it only from the thread running it (or before it runs). An exception
    raised by a callback propagates out of :meth:`run`.
    """

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._timers: list[tuple[float, int, Timer]] = []
        self._ready: deque[Callback] = deque()
        self._order = itertools.count()

    @staticmethod
    def time() -> float:
        """The loop's clock (monotonic seconds)."""
        return time.monotonic()

    def call_soon(self, callback: Callback) -> None:
        self._ready.append(callback)

    def call_later(self, delay: float, callback: Callback) -> Timer:
        timer = Timer(self.time() + max(delay, 0.0), callback)
        heapq.heappush(self._timers, (timer.when, next(self._order), timer))
        return timer

    def add_reader(self, sock: socket.socket, callback: Callback) -> None:
        self._watch(sock, selectors.EVENT_READ, callback)

    def add_writer(self, sock: socket.socket, callback: Callback) -> None:
        self._watch(sock, selectors.EVENT_WRITE, callback)

    def remove_reader(self, sock: socket.socket) -> None:
        self._watch(sock, selectors.EVENT_READ, None)

    def remove_writer(self, sock: socket.socket) -> None:
        self._watch(sock, selectors.EVENT_WRITE, None)

    def forget(self, sock: socket.socket) -> None:
        """Stop watching ``sock`` at all (before closing it)."""
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(sock)

    def _watch(self, sock: socket.socket, event: int, callback: Callback | None) -> None:
        try:
            key = self._selector.get_key(sock)
        except KeyError:
            if callback is None:
                return
            self._selector.register(sock, event, {event: callback})
            return
        handlers: dict[int, Callback] = dict(key.data)
        if callback is None:
            handlers.pop(event, None)
        else:
            handlers[event] = callback
        mask = 0
        for registered in handlers:
            mask |= registered
        if mask:
            self._selector.modify(sock, mask, handlers)
        else:
            self._selector.unregister(sock)

    def _busy(self) -> bool:
        return bool(self._ready or self._selector.get_map() or any(not t.cancelled for _, _, t in self._timers))

    def run(self, until: Callable[[], bool] | None = None, *, timeout: float | None = None) -> None:
        """Run callbacks until ``until()`` is true, or (without it) until nothing is left to do.

        ``timeout`` bounds the whole run: a ``TimeoutError`` after that many seconds.
        """
        deadline = None if timeout is None else self.time() + timeout
        while not (until() if until is not None else not self._busy()):
            while self._timers and self._timers[0][2].cancelled:
                heapq.heappop(self._timers)
            if not self._ready and not self._busy():
                raise RuntimeError("the loop has nothing left to wait for")
            wait = None if not self._timers else max(self._timers[0][0] - self.time(), 0.0)
            if self._ready:
                wait = 0.0
            if deadline is not None:
                left = deadline - self.time()
                if left <= 0:
                    raise TimeoutError("EventLoop.run timed out")
                wait = left if wait is None else min(wait, left)
            for key, events in self._selector.select(wait) if self._selector.get_map() else self._idle(wait):
                for event in (selectors.EVENT_READ, selectors.EVENT_WRITE):
                    handler = key.data.get(event) if events & event else None
                    if handler is not None:
                        self._ready.append(handler)
            now = self.time()
            while self._timers and self._timers[0][0] <= now:
                _, _, timer = heapq.heappop(self._timers)
                if not timer.cancelled:
                    self._ready.append(timer.callback)
            for _ in range(len(self._ready)):  # those ready now; new ones wait for the next turn
                self._ready.popleft()()

    @staticmethod
    def _idle(wait: float | None) -> list[tuple[selectors.SelectorKey, int]]:
        if wait:  # no socket to watch: only timers (some selectors refuse to select on nothing)
            time.sleep(wait)
        return []

    def close(self) -> None:
        self._selector.close()


# --- connections ----------------------------------------------------------------------------------------


class Connection:
    """A non-blocking socket, its optional TLS layer (``ssl.SSLObject`` over memory BIOs) and h11."""

    def __init__(self, sock: socket.socket, origin: Origin) -> None:
        self.sock = sock
        self.origin = origin
        self.h11 = h11.Connection(h11.CLIENT)
        self.tls: ssl.SSLObject | None = None
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self.pending = bytearray()  # bytes waiting for the socket to be writable

    def start_tls(self, context: ssl.SSLContext, host: str) -> None:
        self.tls = context.wrap_bio(self._incoming, self._outgoing, server_hostname=host)

    def handshake(self) -> bool:
        """Advance the TLS handshake: True once done (raises ``ssl.SSLError`` on failure)."""
        assert self.tls is not None
        try:
            self.tls.do_handshake()
        except ssl.SSLWantReadError:
            return False
        finally:
            self.pending += self._outgoing.read()
        return True

    def write(self, plain: bytes) -> None:
        if self.tls is None:
            self.pending += plain
        else:
            self.tls.write(plain)
            self.pending += self._outgoing.read()

    def receive(self, raw: bytes) -> tuple[bytes, bool]:
        """Bytes read from the socket -> (plaintext, whether the peer closed the connection).

        With TLS, bytes may carry no plaintext at all (a session ticket): (b"", False).
        """
        if self.tls is None:
            return raw, not raw
        if raw:
            self._incoming.write(raw)
        else:
            self._incoming.write_eof()
        plain = bytearray()
        try:
            while True:
                chunk = self.tls.read(CHUNK)
                if not chunk:
                    return bytes(plain), True
                plain += chunk
        except ssl.SSLWantReadError:
            return bytes(plain), False
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):  # close_notify, or a plain TCP close
            return bytes(plain), True
        finally:
            self.pending += self._outgoing.read()  # TLS 1.3 may answer (key updates)

    def stale(self) -> bool:
        """An idle connection with something to read has been closed by the server (or is out of sync)."""
        try:
            poller = select.poll()  # not select.select: it cannot watch descriptors above 1023
            poller.register(self.sock, select.POLLIN)
            return bool(poller.poll(0))
        except OSError:
            return True

    def reusable(self) -> bool:
        return self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE


# --- the driver -------------------------------------------------------------------------------------------


class SelectorsDriver:
    """Runs call machines on an :class:`EventLoop`; keeps idle keep-alive connections per origin.

    ``ssl_context`` verifies https servers (default: ``ssl.create_default_context()``).
    """

    def __init__(self, loop: EventLoop, *, ssl_context: ssl.SSLContext | None = None, max_idle: int = 8) -> None:
        self.loop = loop
        self.ssl_context = ssl_context
        self._max_idle = max_idle
        self._idle: dict[Origin, list[Connection]] = {}

    def call(
        self,
        machine: CallMachine[Any],
        *,
        on_result: Callable[[Any], object],
        on_error: Callable[[MuxiError], object],
        on_event: Callable[[Any], object] | None = None,
    ) -> Call:
        """Start one call on the loop (it runs when the loop does); exactly one of the callbacks ends it.

        ``on_result(result)`` with the call's result (for a stream: None once it ended cleanly),
        ``on_error(error)`` with its typed error (a stream's after the events that did arrive),
        ``on_event(event)`` for each event of a stream call, as it arrives. :meth:`Call.close`
        stops the call at any time (a stream closed early): no callback follows.
        """
        call = Call(self, machine, on_result, on_error, on_event)
        self.loop.call_soon(call.start)
        return call

    def sleep(self, seconds: float, then: Callback) -> Timer:
        """Wait before the next attempt, as the machine said (``Sleep``), on a timer."""
        return self.loop.call_later(seconds, then)

    def checkout(self, origin: Origin) -> Connection | None:
        idle = self._idle.get(origin, [])
        while idle:
            conn = idle.pop()
            if not conn.stale():
                conn.h11.start_next_cycle()
                return conn
            conn.sock.close()
        return None

    def checkin(self, conn: Connection) -> None:
        idle = self._idle.setdefault(conn.origin, [])
        if conn.reusable() and len(idle) < self._max_idle:
            idle.append(conn)
        else:
            conn.sock.close()

    def close(self) -> None:
        """Close the idle connections."""
        for idle in self._idle.values():
            for conn in idle:
                conn.sock.close()
        self._idle.clear()


class Call:
    """One call on the loop: its machine, the current attempt's connection, phase and timers."""

    def __init__(
        self,
        driver: SelectorsDriver,
        machine: CallMachine[Any],
        on_result: Callable[[Any], object],
        on_error: Callable[[MuxiError], object],
        on_event: Callable[[Any], object] | None,
    ) -> None:
        self.driver = driver
        self.loop = driver.loop
        self.machine = machine
        self._on_result = on_result
        self._on_error = on_error
        self._on_event = on_event
        self.active = True
        self.phase = "connect"
        self.request: Request | None = None
        self.conn: Connection | None = None
        self.decoder: StreamMachine[Any] | None = None
        self._handshaking = False
        self._step_timer: Timer | None = None
        self._total_timer: Timer | None = None
        self._sleep_timer: Timer | None = None

    # --- steps of the machine ---

    def start(self) -> None:
        if self.active:
            self._next(self.machine.start())

    def _next(self, step: Step[Any]) -> None:
        """Carry out one step of the machine (ReadBody and OpenStream: keep reading)."""
        if isinstance(step, Send):
            self._send(step.request)
        elif isinstance(step, Sleep):
            self._drop()
            self._sleep_timer = self.driver.sleep(step.seconds, self._resume)
        elif isinstance(step, Done):
            self._finish(self._on_result, step.result)
        elif isinstance(step, Fail):
            self._finish(self._on_error, step.error)
        elif isinstance(step, OpenStream):
            self.decoder = step.decoder
            self._cancel_timers()  # a stream has no read timeout and no total (docs/drivers.md §5)

    def _resume(self) -> None:
        if self.active:
            self._next(self.machine.resume())  # the next attempt's request, signed now

    def _finish(self, callback: Callable[[Any], object], value: Any) -> None:
        self._drop()
        self.active = False
        callback(value)

    def close(self) -> None:
        """Stop the call now (a stream closed early, a task given up): its connection closes, no callback follows."""
        self.active = False
        self._drop()
        if self._sleep_timer is not None:
            self._sleep_timer.cancel()

    # --- one attempt ---

    def _send(self, request: Request) -> None:
        self.request = request
        self.phase = "connect"
        self.decoder = None
        if request.timeout.total is not None:
            self._total_timer = self.loop.call_later(request.timeout.total, self._total_expired)
        self.conn = self.driver.checkout((request.scheme, request.host, request.port))
        if self.conn is not None:
            self.loop.add_reader(self.conn.sock, self._readable)
            self._write_request()
            return
        self._arm(request.timeout.connect)
        try:
            family, kind, proto, _, address = socket.getaddrinfo(  # blocks only for names that need DNS
                request.host, request.port, type=socket.SOCK_STREAM)[0]
            sock = socket.socket(family, kind, proto)
        except OSError as exc:
            self._io_failed(exc)
            return
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conn = Connection(sock, (request.scheme, request.host, request.port))
        code = sock.connect_ex(address)
        if code not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
            self._io_failed(OSError(code, os.strerror(code)))
            return
        self.loop.add_writer(sock, self._connected)

    def _connected(self) -> None:
        if self.conn is None or self.request is None:  # dropped since the socket was found ready
            return
        self.loop.remove_writer(self.conn.sock)
        code = self.conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            self._io_failed(ConnectionRefusedError(code, os.strerror(code)) if code == errno.ECONNREFUSED
                            else OSError(code, os.strerror(code)))
            return
        self.loop.add_reader(self.conn.sock, self._readable)
        if self.request.scheme == "https":
            self.conn.start_tls(self.driver.ssl_context or ssl.create_default_context(), self.request.host)
            self._handshaking = True
            self._handshake()
        else:
            self._write_request()

    def _handshake(self) -> None:
        assert self.conn is not None
        try:
            done = self.conn.handshake()
        except ssl.SSLError as exc:  # includes a certificate that does not verify
            self._io_failed(exc)
            return
        self._flush()
        if done and self.active:
            self._handshaking = False
            self._write_request()

    def _write_request(self) -> None:
        assert self.conn is not None and self.request is not None
        request = self.request
        self.phase = "write"
        try:
            data = self.conn.h11.send(h11.Request(method=request.method, target=request.target,
                                                  headers=list(request.wire_headers())))
            if request.body:
                data += self.conn.h11.send(h11.Data(data=request.body))
            data += self.conn.h11.send(h11.EndOfMessage())
        except h11.LocalProtocolError as exc:
            self._io_failed(exc)
            return
        self.conn.write(data)
        self._arm(request.timeout.write)
        self._flush()

    def _flush(self) -> None:
        """Send what the socket takes now; wait for it to be writable for the rest."""
        conn = self.conn
        if conn is None or self.request is None:  # dropped since the socket was found ready
            return
        try:
            sent = conn.sock.send(conn.pending) if conn.pending else 0
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            self._io_failed(exc)
            return
        del conn.pending[:sent]
        if conn.pending:
            if sent:
                self._arm(self.request.timeout.write)  # progress: the write timeout bounds each step
            self.loop.add_writer(conn.sock, self._flush)
            return
        self.loop.remove_writer(conn.sock)
        if self.phase == "write":  # the whole request is out: now wait for the answer
            self.phase = "read"
            self._arm(self.request.timeout.read)

    def _readable(self) -> None:
        conn = self.conn
        if conn is None or self.request is None:  # dropped since the socket was found ready
            return
        try:
            raw = conn.sock.recv(CHUNK)
        except BlockingIOError:
            return
        except OSError as exc:
            self._io_failed(exc)
            return
        try:
            plain, closed = conn.receive(raw)
        except ssl.SSLError as exc:
            self._io_failed(exc)
            return
        if conn.pending:
            self._flush()
        if self._handshaking:
            self._handshake()
            return
        if self.phase in ("read", "body") and self.decoder is None:
            self._arm(self.request.timeout.read)  # data arrived: the read timeout starts again
        if plain:
            conn.h11.receive_data(plain)
        if closed:
            conn.h11.receive_data(b"")  # the end of the connection: h11 decides what it means
            self.loop.remove_reader(conn.sock)
        if plain or closed:
            self._pump()

    def _pump(self) -> None:
        """Hand every complete h11 event to the machine (or the stream's decoder)."""
        while self.active and self.conn is not None:
            try:
                event = self.conn.h11.next_event()
            except h11.RemoteProtocolError as exc:  # not HTTP, or the body cut short
                self._io_failed(exc)
                return
            if event is h11.NEED_DATA:
                return
            if isinstance(event, h11.InformationalResponse):
                continue
            if isinstance(event, h11.Response):
                self.phase = "body"
                headers = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in event.headers.raw_items())
                step = self.machine.head(event.status_code, headers)
                if step is not READ_BODY and not isinstance(step, OpenStream):
                    self._drop()  # a Sleep or a Fail right after the head: close it unread (§7)
                self._next(step)
            elif isinstance(event, h11.Data):
                self._body(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                self._end()
                return
            else:  # ConnectionClosed where an answer was due
                self._io_failed(ConnectionResetError("the connection closed before the answer"))
                return

    def _body(self, chunk: bytes) -> None:
        if self.decoder is None:
            step = self.machine.data(chunk)
            if isinstance(step, Fail):  # the body limit: stop reading, close
                self._drop()
            self._next(step)
            return
        try:
            events = self.decoder.feed(chunk)
        except MuxiError as error:  # an ``event: error`` frame, typed
            self._finish(self._on_error, error)
            return
        for event in events:
            if not self.active:  # the consumer closed the stream from its callback
                return
            if self._on_event is not None:
                self._on_event(event)
        if self.decoder.finished and self.active:
            self._drop()  # the terminal event arrived: stop reading, close (§6)
            self._stream_end()

    def _end(self) -> None:
        conn, self.conn = self.conn, None
        assert conn is not None
        self.loop.forget(conn.sock)
        if self.decoder is not None:
            conn.sock.close()
            self._stream_end()
            return
        self._cancel_timers()
        self.driver.checkin(conn)  # read to its end: may serve the next request (h11 decides)
        self._next(self.machine.end())

    def _stream_end(self) -> None:
        assert self.decoder is not None
        try:
            self.decoder.eof()  # a stream that had to end with a terminal event raises here
        except MuxiError as error:
            self._finish(self._on_error, error)
            return
        self._finish(self._on_result, None)

    # --- failures, timers, closing ---

    def _io_failed(self, exc: BaseException, phase: str | None = None) -> None:
        if not self.active:
            return
        phase = phase or self.phase
        self._drop()
        if self.decoder is not None:  # mid-stream: not retried, part of it was delivered (§6)
            assert self.request is not None
            self._finish(self._on_error, transport_error(exc, self.request, phase="body"))
            return
        self._next(self.machine.failed(exc, phase=phase))

    def _total_expired(self) -> None:
        self._io_failed(TimeoutError("the attempt's total deadline passed"), "total")

    def _arm(self, seconds: float | None) -> None:
        """(Re)start the timeout of the current phase."""
        if self._step_timer is not None:
            self._step_timer.cancel()
            self._step_timer = None
        if seconds is not None:
            phase = self.phase
            self._step_timer = self.loop.call_later(
                seconds, lambda: self._io_failed(TimeoutError(f"{phase} timed out"), phase))

    def _cancel_timers(self) -> None:
        for timer in (self._step_timer, self._total_timer):
            if timer is not None:
                timer.cancel()
        self._step_timer = self._total_timer = None

    def _drop(self) -> None:
        """Close the attempt's connection (never reused) and its timers."""
        self._cancel_timers()
        conn, self.conn = self.conn, None
        if conn is not None:
            self.loop.forget(conn.sock)
            conn.sock.close()


def demo(loop: EventLoop, driver: SelectorsDriver, server: ServerAPI, formation: FormationAPI) -> None:
    """Two calls at once, then a chat answer streamed token by token, all on one loop."""
    answer = ChatAnswer()

    def show(event: Any) -> None:
        print(answer.add(event), end="", flush=True)

    def report(error: MuxiError) -> None:
        print("error:", error)

    driver.call(server.status(), on_error=report,
                on_result=lambda status: print("server:", status["formations"]["running"], "formation(s) running"))
    driver.call(formation.get_agents(), on_error=report, on_result=lambda agents: print("agents:", agents["count"]))
    loop.run()
    print("answer: ", end="")
    driver.call(formation.chat_stream({"message": "Hello from selectors"}, user_id="example-user"),
                on_event=show, on_error=report, on_result=lambda _: print())
    loop.run()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--local", action="store_true", help="start a local MUXI server in this process")
    args = parser.parse_args(argv)
    loop = EventLoop()
    driver = SelectorsDriver(loop)
    try:
        if not args.local:  # the MUXI_* variables name the server, the formation and the keys
            demo(loop, driver, ServerAPI(max_retries=2), FormationAPI(max_retries=2))
            return
        from muxi_testing import LocalMuxiServer

        with LocalMuxiServer() as local:
            demo(loop, driver, ServerAPI(local.server_config(max_retries=2)),
                 FormationAPI(local.formation_config(max_retries=2)))
    finally:
        driver.close()
        loop.close()


if __name__ == "__main__":
    main()
