"""HTTP/1.1 client exchanges on h11, without I/O: request to bytes, bytes to response events.

Written once and driven by both the anyio and the trio transports: they move bytes, this module
decides what the bytes mean and whether the connection may carry another request afterwards.
"""

from __future__ import annotations

from typing import Final, NamedTuple

import h11

from muxi_proto.http import Headers, Request

from ._chunked import ChunkedDecoder
from ._errors import ClosedBeforeResponse, IncompleteBody

__all__ = ["END", "NEED_DATA", "ClientExchange", "ResponseHead", "wire_headers"]

#: ``Host``, ``Content-Length`` and framing belong to the transport: a client's copies are dropped.
_TRANSPORT_HEADERS: Final = frozenset({"host", "content-length", "transfer-encoding"})
_BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})
#: Largest status line + headers we accept; h11 raises beyond it instead of buffering for ever.
MAX_HEAD_SIZE: Final = 64 * 1024
_NO_BODY_STATUS: Final = frozenset({204, 304})


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
    """

    __slots__ = ("_body_bytes", "_chunked", "_conn", "_eof", "_method", "received")

    def __init__(self) -> None:
        self._conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_SIZE)
        self.received = 0
        self._body_bytes = 0
        self._eof = False
        self._method = b""
        # A chunked body is decoded by ChunkedDecoder in bulk rather than by h11 chunk by chunk
        # (event streams come one frame per chunk); h11 keeps the head and every other framing.
        self._chunked: ChunkedDecoder | None = None

    def request_bytes(self, request: Request, origin: tuple[str, str, int] | None = None) -> list[bytes]:
        """Head, then body, for ``request`` (h11 validates method, target and headers)."""
        conn = self._conn
        self._method = request.method.encode("ascii")
        head = h11.Request(
            method=self._method,
            target=request.target.encode("ascii"),
            headers=wire_headers(request, origin),
        )
        out = [conn.send(head)]
        if request.body:
            # Passthrough: a 10 MiB upload is not copied into a new buffer.
            out.extend(conn.send_with_data_passthrough(h11.Data(data=request.body)) or ())
        out.append(conn.send(h11.EndOfMessage()))
        return [b for b in out if b]

    def feed(self, data: bytes) -> None:
        """Bytes received from the peer; ``b""`` means the peer closed its side."""
        self.received += len(data)
        if not data:
            self._eof = True
        if self._chunked is None:
            self._conn.receive_data(data)
        elif data:
            self._chunked.feed(data)

    def next_head(self) -> ResponseHead | _Sentinel:
        """The response head, or :data:`NEED_DATA`; 1xx interim responses are skipped."""
        while True:
            event = self._next()
            if event is h11.NEED_DATA:
                return NEED_DATA
            if isinstance(event, h11.Response):
                if self._is_chunked(event):
                    # h11 has parsed the head; the body bytes it holds go to our decoder, and h11
                    # is not asked about this cycle again (see start_next_cycle).
                    self._chunked = ChunkedDecoder(MAX_HEAD_SIZE)
                    unread, _ = self._conn.trailing_data
                    if unread:
                        self._chunked.feed(unread)
                raw = event.headers.raw_items()  # the server's own casing
                headers = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in raw)
                return ResponseHead(event.status_code, headers)
            # InformationalResponse (100 Continue, 103 Early Hints): wait for the real one.

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
        state = conn.their_state
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError:
            if self._eof and state is h11.SEND_BODY:
                got = self._body_bytes
                raise IncompleteBody(f"got {got} body bytes before the connection closed") from None
            if self._eof and state is h11.SEND_RESPONSE and self.received == 0:
                raise ClosedBeforeResponse from None
            raise
        if event is h11.PAUSED:
            # Only reached if the server sends bytes after a complete response: protocol error.
            raise h11.RemoteProtocolError("data after the end of the response")
        return event

    @property
    def reusable(self) -> bool:
        """True when both sides finished the cycle and neither asked to close."""
        conn = self._conn
        chunked = self._chunked
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
        """Prepare for the next request on the same connection."""
        if self._chunked is not None:
            # h11 never saw this body end: a new h11 connection is in the state the old one
            # would be in after start_next_cycle() (both sides idle).
            self._conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_SIZE)
            self._chunked = None
        else:
            self._conn.start_next_cycle()
        self.received = 0
        self._body_bytes = 0
