"""Chunked transfer coding (RFC 9112 section 7.1), decoded in bulk, without I/O.

Event streams arrive as one HTTP chunk per frame (the runtime writes each frame on its own). h11
turns every chunk into an event through its state machine, a few microseconds each: on a stream
of small frames that is most of the cost of reading it. :class:`ChunkedDecoder` does the same
decoding with a find and a slice per chunk and hands back everything a read delivered as one
``bytes``. It accepts and rejects exactly what h11 does (same chunk-size line, extension and
trailer rules, same limit on an unfinished line), raising h11's own exception types, so the
transports' error mapping sees no difference. The property tests hold it to h11 as the oracle.
"""

from __future__ import annotations

import re
from typing import Final

import h11

from ._head_codec import BLANK_LINE, FIELD_LINE

__all__ = ["READ_LIMIT", "ChunkedDecoder"]

# h11's grammar (h11/_abnf.py): 1-20 hex digits, an extension it ignores, optional whitespace.
_CHUNK_HEADER: Final = re.compile(rb"([0-9A-Fa-f]{1,20})(?:;.*)?[ \t]*\r\n").fullmatch
_FOLD: Final = re.compile(rb"[ \t]+").match
_HEX: Final = b"0123456789abcdefABCDEF"
#: Body bytes one read hands over at most (give or take a chunk): an event stream is decoded in
#: batches of about this size, bounding the events held per open stream.
READ_LIMIT: Final = 4 * 1024


class ChunkedDecoder:
    """Incremental decoder of a chunked body: :meth:`feed` bytes, :meth:`read` the data.

    ``max_line`` bounds an unfinished chunk-size line or trailer section (h11's
    ``max_incomplete_event_size``). After the last chunk and its trailer section :attr:`done` is
    True and :attr:`extra` holds whatever followed the body.
    """

    __slots__ = ("_buf", "_crlf", "_error", "_max_line", "_pos", "_remaining", "_trailer", "done", "extra")

    def __init__(self, max_line: int) -> None:
        self._max_line = max_line
        self._buf = b""
        self._pos = 0  # where the unread part of _buf starts (reads that stop at the limit move it)
        self._remaining = 0  # data bytes of the current chunk still to come
        self._crlf = b""  # what is left to see of the CRLF that ends a chunk's data
        self._trailer = False  # the last chunk was read: the trailer section comes next
        self._error: h11.RemoteProtocolError | None = None  # raised once the data before it is out
        self.done = False
        self.extra = b""

    def feed(self, data: bytes) -> None:
        """Bytes of the body as received (never ``b""``: end of input is the caller's business)."""
        if self.done:
            self.extra += data
        elif self._pos < len(self._buf):
            self._buf = self._buf[self._pos:] + data
            self._pos = 0
        else:
            self._buf = data
            self._pos = 0

    def read(self, limit: int = READ_LIMIT) -> bytes:
        """The data the bytes fed so far complete (``b""`` when none); raises on bad framing.

        At most the chunks that make up ``limit`` bytes (the one that crosses it included) come
        out per call: what the caller decodes from one read stays small, and the rest waits here
        as bytes. Data before a framing error is returned first and the error raised by the next
        call, as h11 hands over each chunk before it looks at the next one.
        """
        if self._error is not None:
            raise self._error
        out: list[bytes] = []
        try:
            self._decode(out, limit)
        except h11.RemoteProtocolError as exc:
            if not out:
                raise
            self._error = exc
        return b"".join(out) if len(out) != 1 else out[0]

    def _decode(self, out: list[bytes], limit: int) -> None:
        buf = self._buf
        pos = self._pos
        size = len(buf)
        produced = 0
        while pos < size:
            if produced >= limit:
                self._pos = pos  # complete chunks may wait here: not an unfinished line
                return
            remaining = self._remaining
            if remaining:
                end = pos + remaining
                if end > size:  # part of a chunk: hand it over now, as h11 does
                    out.append(buf[pos:])
                    self._remaining = end - size
                    pos = size
                    break
                out.append(buf[pos:end])
                produced += remaining
                self._remaining = 0
                if buf[end:end + 2] == b"\r\n":  # the usual case, without the footer state
                    pos = end + 2
                    continue
                self._crlf = b"\r\n"
                pos = end
                continue
            if self._crlf:
                got = buf[pos:pos + len(self._crlf)]
                if got != self._crlf[: len(got)]:
                    raise h11.RemoteProtocolError(f"malformed chunk footer: {got!r} (expected {self._crlf!r})")
                self._crlf = self._crlf[len(got):]
                pos += len(got)
                continue
            if self._trailer:
                pos = self._read_trailer(buf, pos)
                if not self.done:
                    break
                self.extra = buf[pos:]
                pos = size
                break
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                break
            digits = buf[pos:eol]
            if 0 < len(digits) <= 20 and not digits.strip(_HEX):  # plain hex: no regex needed
                self._remaining = int(digits, 16)
            else:
                line = buf[pos:eol + 2]
                match = _CHUNK_HEADER(line)
                if match is None:
                    self._pos = pos
                    raise h11.RemoteProtocolError(f"illegal chunk header: {line!r}")
                self._remaining = int(match[1], 16)
            pos = eol + 2
            if not self._remaining:
                self._trailer = True
        self._buf = buf[pos:] if pos < size else b""
        self._pos = 0
        if len(self._buf) > self._max_line:
            raise h11.RemoteProtocolError("Receive buffer too long")

    def _read_trailer(self, buf: bytes, pos: int) -> int:
        # The trailer section: header lines up to a blank line, LF or CRLF line ends (h11's rule).
        if buf[pos:pos + 1] == b"\n":
            self.done = True
            return pos + 1
        if buf[pos:pos + 2] == b"\r\n":
            self.done = True
            return pos + 2
        blank = BLANK_LINE.search(buf, pos)
        if blank is None:
            return pos
        lines: list[bytes] = []
        for raw in buf[pos:blank.start()].split(b"\n"):
            line = raw[:-1] if raw.endswith(b"\r") else raw
            fold = _FOLD(line)
            if fold is None:
                lines.append(line)
            elif lines:  # obsolete line folding: a continuation of the previous field
                lines[-1] += b" " + line[fold.end():]
            else:
                raise h11.RemoteProtocolError("continuation line at start of headers")
        fields: list[tuple[bytes, bytes]] = []
        for line in lines:
            field = FIELD_LINE(line)
            if field is None:
                raise h11.RemoteProtocolError(f"illegal header line: {line!r}")
            fields.append((field[1], field[2]))
        _check_trailer_fields(fields)
        self.done = True
        return blank.end()


def _check_trailer_fields(fields: list[tuple[bytes, bytes]]) -> None:
    """Hold trailer fields to the rules h11 holds them to, by letting h11 itself judge them.

    h11 validates a trailer section like a head: one digits-only ``Content-Length`` (repeats must
    agree), at most one ``Transfer-Encoding``, and only ``chunked``. A trailer breaking them makes
    the response malformed, and its connection is not reused.
    """
    if not fields:
        return
    try:
        h11.EndOfMessage(headers=fields)
    except h11.LocalProtocolError as exc:  # h11 checking what it would send; for us, the peer's fault
        problem = str(exc)
    else:
        return
    # Raised outside the handler: h11's LocalProtocolError (which can quote what we send) stays out
    # of the chain.
    raise h11.RemoteProtocolError(problem)
