"""HTTP/1.1 client exchanges on h11, without I/O: request to bytes, bytes to response events.

Written once and driven by both the anyio and the trio transports: they move bytes, this module
decides what the bytes mean and whether the connection may carry another request afterwards.
"""

from __future__ import annotations

from typing import Final, NamedTuple

import h11

from muxi_proto.http import Headers, Request

from ._chunked import ChunkedDecoder
from ._errors import ClosedBeforeResponse, IncompleteBody, PhaseTimeout
from ._head_codec import (
    BLANK_LINE,
    CHUNKED,
    UNTIL_CLOSE,
    asks_to_close,
    encode_request_head,
    parse_response_head,
)

__all__ = ["END", "NEED_DATA", "RECEIVE_SIZE", "ClientExchange", "ResponseHead", "wire_headers"]

#: ``Host``, ``Content-Length`` and framing belong to the transport: a client's copies are dropped.
_TRANSPORT_HEADERS: Final = frozenset({"host", "content-length", "transfer-encoding"})
_BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})
#: Largest status line + headers we accept; h11 raises beyond it instead of buffering for ever.
MAX_HEAD_SIZE: Final = 64 * 1024
_NO_BODY_STATUS: Final = frozenset({204, 304})
#: Bytes the h11 transports ask for per read.
RECEIVE_SIZE: Final = 64 * 1024
#: Requests up to this size go out in one write (head and body together); larger bodies are
#: written as they are, never copied.
_COALESCE_LIMIT: Final = 64 * 1024


class _Sentinel:
    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


#: The exchange needs more bytes from the peer before it can say anything.
NEED_DATA: Final = _Sentinel("NEED_DATA")
#: The response body is complete.
END: Final = _Sentinel("END")


class ResponseHead(NamedTuple):
    """Status and headers of a response."""

    status: int
    headers: Headers


def host_header(request: Request, origin: tuple[str, str, int] | None = None) -> str:
    """``Host`` value: the host (bracketed if IPv6) plus the port when it is not the default.

    ``origin`` is ``request.origin`` when the caller has it already (it parses the URL).
    """
    scheme, host, port = origin or request.origin
    if ":" in host:
        host = f"[{host}]"
    return host if port == (443 if scheme == "https" else 80) else f"{host}:{port}"


def wire_headers(request: Request, origin: tuple[str, str, int] | None = None) -> list[tuple[bytes, bytes]]:
    """The headers to put on the wire: ``Host`` first, the client's, then ``Content-Length``."""
    out = [(b"Host", host_header(request, origin).encode("ascii"))]
    for name, value in request.headers:
        if name.lower() not in _TRANSPORT_HEADERS:
            out.append((name.encode("ascii"), value.encode("utf-8")))
    if request.body or request.method.upper() in _BODY_METHODS:
        out.append((b"Content-Length", str(len(request.body)).encode("ascii")))
    return out


class ClientExchange:
    """The protocol state of one HTTP/1.1 connection, one request/response cycle at a time.

    Use: :meth:`request_bytes` → send them; :meth:`feed` received bytes (``b""`` at EOF) and call
    :meth:`next_head` until it returns a :class:`ResponseHead`, then :meth:`next_body` until
    :data:`END`. Afterwards :attr:`reusable` says whether another cycle may run on the connection
    (:meth:`start_next_cycle`). ``received`` counts response bytes of the current cycle so a
    caller can tell "failed before any response byte" (safe to retry on a fresh connection).

    Two readers share this interface. Plainly valid requests and responses (the norm) are written
    and read by :mod:`._head_codec` and a few lines here; whatever the codec declines, the cycle
    is replayed into h11, which then decides everything for that cycle, errors included. Chunked
    bodies are decoded in bulk by :class:`~._chunked.ChunkedDecoder` either way (event streams
    come one frame per chunk).
    """

    __slots__ = (
        "_body_bytes", "_chunked", "_conn", "_eof", "_fast", "_keep_alive", "_length", "_method",
        "_pending", "_replay", "received",
    )

    def __init__(self) -> None:
        self._conn: h11.Connection | None = None  # only for a cycle the fast path declined
        self._reset()

    def _reset(self) -> None:
        self.received = 0
        self._body_bytes = 0
        self._eof = False
        self._method = b""
        self._chunked: ChunkedDecoder | None = None
        self._fast = False
        self._pending = b""  # fast path: bytes received and not consumed yet
        self._replay: tuple[bytes, bytes, list[tuple[bytes, bytes]], bytes] | None = None
        self._length: int | None = None  # fast path, after the head: body bytes still due, or UNTIL_CLOSE
        self._keep_alive = True  # fast path: neither side asked to close

    def request_bytes(self, request: Request, origin: tuple[str, str, int] | None = None) -> list[bytes]:
        """The writes for ``request``: one, or head then body for a body past 64 KiB (method, target and
        headers are validated as h11 does)."""
        self._method = method = request.method.encode("ascii")
        target = request.target.encode("ascii")
        headers = wire_headers(request, origin)
        head = encode_request_head(method, target, headers) if method != b"CONNECT" else None
        if head is not None:
            self._fast = True
            self._replay = (method, target, headers, request.body)
            self._keep_alive = not any(name.lower() == b"connection" and asks_to_close(value)
                                       for name, value in headers)
            body = request.body
            if not body:
                return [head]
            # Passthrough: a 10 MiB upload is not copied into a new buffer.
            return [head + body] if len(body) <= _COALESCE_LIMIT else [head, body]
        conn = self._conn = _new_h11()
        out = [conn.send(h11.Request(method=method, target=target, headers=headers))]
        if request.body:
            out.extend(conn.send_with_data_passthrough(h11.Data(data=request.body)) or ())
        out.append(conn.send(h11.EndOfMessage()))
        parts = [b for b in out if b]
        return [b"".join(parts)] if len(request.body) <= _COALESCE_LIMIT else parts

    def resendable(self, exc: Exception, *, reused: bool) -> bool:
        """May a request that failed with ``exc`` go out again, once, on a new connection?

        Yes when it went out on a reused keep-alive connection and no byte of a response came back:
        the server had dropped the connection (reset, EOF, broken pipe). Not after our own deadlines
        or for a request h11 refused to encode, which would fail again.
        """
        return reused and self.received == 0 and not isinstance(exc, PhaseTimeout | h11.LocalProtocolError)

    def feed(self, data: bytes) -> None:
        """Bytes received from the peer; ``b""`` means the peer closed its side."""
        self.received += len(data)
        if not data:
            self._eof = True
        if self._chunked is not None:
            if data:
                self._chunked.feed(data)
        elif self._fast:
            if data:
                self._pending += data
        else:
            assert self._conn is not None
            self._conn.receive_data(data)

    def next_head(self) -> ResponseHead | _Sentinel:
        """The response head, or :data:`NEED_DATA`; 1xx interim responses are skipped."""
        if self._fast:
            head = self._fast_head()
            if head is not None:
                return head
            self._hand_to_h11()
        while True:
            event = self._next()
            if event is h11.NEED_DATA:
                return NEED_DATA
            if isinstance(event, h11.Response):
                if self._is_chunked(event):
                    # h11 has parsed the head; the body bytes it holds go to our decoder, and h11
                    # is not asked about this cycle again (see start_next_cycle).
                    assert self._conn is not None
                    self._chunked = ChunkedDecoder(MAX_HEAD_SIZE)
                    unread, _ = self._conn.trailing_data
                    if unread:
                        self._chunked.feed(unread)
                raw = event.headers.raw_items()  # the server's own casing
                headers = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in raw)
                return ResponseHead(event.status_code, headers)
            # InformationalResponse (100 Continue, 103 Early Hints): wait for the real one.

    def _fast_head(self) -> ResponseHead | _Sentinel | None:
        """The head read by the codec, NEED_DATA, or None when h11 must read this response."""
        pending = self._pending
        if pending[:1] == b"\n" or pending[:2] == b"\r\n":
            return None  # no status line: h11 reports it
        blank = BLANK_LINE.search(pending)
        if blank is None:
            if len(pending) > MAX_HEAD_SIZE or (pending and pending[0] < 0x21):
                return None  # h11 has the exact error for each of these
            if self._eof:
                raise ClosedBeforeResponse(self.received)
            return NEED_DATA
        end = blank.end()
        if pending[end - 4:end] != b"\r\n\r\n":
            return None  # bare LF line ends
        parsed = parse_response_head(pending[:end])
        if parsed is None:
            return None
        self._keep_alive = self._keep_alive and parsed.keep_alive
        rest = pending[end:]
        self._pending = b""
        if parsed.status in _NO_BODY_STATUS or self._method == b"HEAD":
            self._length = 0
            self._pending = rest
        elif parsed.length == CHUNKED:
            self._chunked = ChunkedDecoder(MAX_HEAD_SIZE)
            if rest:
                self._chunked.feed(rest)
        else:
            self._length = parsed.length
            self._pending = rest
        return ResponseHead(parsed.status, parsed.headers)

    def _hand_to_h11(self) -> None:
        # Replay this cycle into h11: the request (accepted by the codec, so h11 accepts it too)
        # and every byte received so far. From here h11 answers exactly as if it had all along.
        assert self._replay is not None
        method, target, headers, body = self._replay
        conn = self._conn = _new_h11()
        conn.send(h11.Request(method=method, target=target, headers=headers))
        if body:
            conn.send_with_data_passthrough(h11.Data(data=body))
        conn.send(h11.EndOfMessage())
        if self._pending:
            conn.receive_data(self._pending)
        if self._eof:
            conn.receive_data(b"")
        self._pending = b""
        self._fast = False

    def _is_chunked(self, event: h11.Response) -> bool:
        # h11's framing rules: no body after HEAD, 204 and 304 (and a 2xx CONNECT); otherwise
        # Transfer-Encoding wins, and h11 has already refused every coding but "chunked".
        if event.status_code in _NO_BODY_STATUS or self._method in (b"HEAD", b"CONNECT"):
            return False
        return any(name == b"transfer-encoding" for name, _ in event.headers)

    def next_body(self) -> bytes | _Sentinel:
        """The next body chunk, :data:`NEED_DATA` or :data:`END`."""
        chunked = self._chunked
        if chunked is not None:
            return self._next_chunked(chunked)
        if self._fast:
            return self._next_fast()
        while True:
            event = self._next()
            if type(event) is h11.Data:
                self._body_bytes += len(event.data)
                return bytes(event.data)
            if event is h11.NEED_DATA:
                return NEED_DATA
            if type(event) is h11.EndOfMessage:
                return END
            # Trailing headers arrive inside EndOfMessage; nothing else can come here.

    def _next_fast(self) -> bytes | _Sentinel:
        # A body framed by Content-Length, or by the end of the connection (as h11 reads them).
        length = self._length
        pending = self._pending
        if length == UNTIL_CLOSE:
            if pending:
                self._pending = b""
                self._body_bytes += len(pending)
                return pending
            if self._eof:
                return END
            return NEED_DATA
        assert length is not None
        if length == 0:
            return END
        if pending:
            data = pending if len(pending) <= length else pending[:length]
            self._pending = pending[len(data):]
            self._length = length - len(data)
            self._body_bytes += len(data)
            return data
        if self._eof:
            raise self._incomplete()
        return NEED_DATA

    def _next_chunked(self, chunked: ChunkedDecoder) -> bytes | _Sentinel:
        try:
            data = chunked.read()
        except h11.RemoteProtocolError:
            if self._eof:  # as with h11: once the peer has gone, any framing problem is a cut body
                raise self._incomplete() from None
            raise
        if data:
            self._body_bytes += len(data)
            return data
        if chunked.done:
            return END
        if self._eof:
            raise self._incomplete()
        return NEED_DATA

    def _incomplete(self) -> IncompleteBody:
        return IncompleteBody(f"got {self._body_bytes} body bytes before the connection closed")

    def _next(self) -> object:
        conn = self._conn
        assert conn is not None
        state = conn.their_state
        if self._eof and state is h11.SEND_RESPONSE and _head_incomplete(conn.trailing_data[0]):
            raise ClosedBeforeResponse(self.received)
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError:
            if self._eof and state is h11.SEND_BODY:
                raise self._incomplete() from None
            raise
        if event is h11.PAUSED:
            # Only reached if the server sends bytes after a complete response: protocol error.
            raise h11.RemoteProtocolError("data after the end of the response")
        return event

    @property
    def reusable(self) -> bool:
        """True when both sides finished the cycle and neither asked to close."""
        chunked = self._chunked
        if self._fast:
            if chunked is not None:
                complete = chunked.done and not chunked.extra
            else:
                complete = self._length == 0 and not self._pending
            return complete and self._keep_alive and not self._eof
        conn = self._conn
        assert conn is not None
        if chunked is not None:
            # h11 stopped at the head. Our side is DONE only if neither side asked to close (h11
            # moves it to MUST_CLOSE when the response says so); the body must have ended
            # exactly, with nothing after it and the connection still open.
            return conn.our_state is h11.DONE and chunked.done and not chunked.extra and not self._eof
        # Bytes after a complete response would be read as the next response, and a body that
        # ended by EOF left nothing to reuse: neither connection goes back to the pool.
        extra, eof = conn.trailing_data
        return conn.our_state is h11.DONE and conn.their_state is h11.DONE and not extra and not eof

    def start_next_cycle(self) -> None:
        """Prepare for the next request on the same connection (only after a reusable cycle)."""
        # The next cycle starts from scratch: a reusable connection carries no state over, and a
        # cycle h11 reads gets a fresh h11 connection, idle on both sides.
        self._conn = None
        self._reset()


def _new_h11() -> h11.Connection:
    return h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_SIZE)


def _head_incomplete(unread: bytes) -> bool:
    """Could h11 still find a whole head in ``unread`` (no, once the peer has closed: the head was
    cut short)? Heads h11 rejects for other reasons first (too long, not starting like a status line)
    are left to it, so their errors stay h11's."""
    if unread[:1] == b"\n" or unread[:2] == b"\r\n" or BLANK_LINE.search(unread) is not None:
        return False
    return len(unread) <= MAX_HEAD_SIZE and (not unread or unread[0] >= 0x21)
