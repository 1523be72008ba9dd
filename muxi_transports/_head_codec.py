"""HTTP/1.1 request heads written, and response heads read, without h11 when they are plainly valid.

h11 turns every message into validated events and walks its state machine for each, which costs
more CPython per request/response cycle than all the rest of a request does here. The client
exchange tries these two functions first and hands the cycle to h11 whenever one declines
(returns None). They decline anything that is not plainly valid in the way real servers answer:
folded or bare-LF header lines, 1xx responses, HTTP versions other than 1.0 and 1.1, repeated or
combined framing headers, unknown transfer codings... So everything unusual still gets h11's
exact behaviour, errors included; what they accept, they read exactly as h11 would (the property
tests hold them to h11 on arbitrary heads).
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

from muxi_proto.http import Headers

__all__ = [
    "BLANK_LINE", "CHUNKED", "FIELD_LINE", "UNTIL_CLOSE", "ParsedHead", "asks_to_close", "encode_request_head",
    "parse_response_head",
]

# h11's grammar (h11/_abnf.py).
_TOKEN: Final = rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]+"
_FIELD_CONTENT: Final = rb"[^\x00\s]+(?:[ \t]+[^\x00\s]+)*"
_is_token: Final = re.compile(_TOKEN).fullmatch
_is_value: Final = re.compile(b"(?:" + _FIELD_CONTENT + b")?").fullmatch
_is_target: Final = re.compile(rb"[\x21-\x7e]+").fullmatch
_STATUS_LINE: Final = re.compile(rb"HTTP/(1\.[01]) ([0-9]{3})(?: (?:[ \t]|[^\x00\s])*)?").fullmatch
#: One header field line (no line end): groups 1 and 2 are the name and the value without whitespace.
FIELD_LINE: Final = re.compile(b"(" + _TOKEN + b"):[ \t]*((?:" + _FIELD_CONTENT + b")?)[ \t]*").fullmatch
#: Where h11 finds the end of a head or a trailer section (bare LF line ends included).
BLANK_LINE: Final = re.compile(rb"\n\r?\n")
_DIGITS: Final = re.compile(rb"[0-9]{1,20}").fullmatch  # h11: at most 20 digits

#: Body framings besides a length: chunked transfer coding, or until the server closes.
CHUNKED: Final = -1
UNTIL_CLOSE: Final = -2


def asks_to_close(connection_value: bytes) -> bool:
    """Does a ``Connection`` header value say ``close`` (h11's keep-alive rule)?"""
    return b"close" in (token.strip() for token in connection_value.lower().split(b","))


def encode_request_head(method: bytes, target: bytes, headers: list[tuple[bytes, bytes]]) -> bytes | None:
    """The bytes h11 writes for this request line and headers, or None to let h11 judge them.

    Accepted: a token method, a visible-ASCII target, exactly one ``Host`` (written first, as h11
    does), valid names and values, at most one digits-only ``Content-Length`` and no
    ``Transfer-Encoding`` (the transports frame request bodies by length).
    """
    if _is_token(method) is None or _is_target(target) is None:
        return None
    host = b""
    lines = [b"%s %s HTTP/1.1\r\n" % (method, target)]
    seen_length = False
    for name, value in headers:
        if _is_token(name) is None or _is_value(value) is None:
            return None
        lower = name.lower()
        if lower == b"host":
            if host:
                return None
            host = b"%s: %s\r\n" % (name, value)
            continue
        if lower == b"content-length":
            if seen_length or _DIGITS(value) is None:
                return None
            seen_length = True
        elif lower == b"transfer-encoding":
            return None
        lines.append(b"%s: %s\r\n" % (name, value))
    if not host:
        return None
    lines.insert(1, host)
    lines.append(b"\r\n")
    return b"".join(lines)


class ParsedHead(NamedTuple):
    """A response head as h11 would report it, and how its body is framed."""

    status: int
    headers: Headers
    length: int  # body length, or CHUNKED, or UNTIL_CLOSE (before the no-body rules)
    keep_alive: bool


def parse_response_head(block: bytes) -> ParsedHead | None:
    """Read ``block`` (a head up to and including its ``\\r\\n\\r\\n``), or None to let h11 read it.

    Headers come back as h11's ``raw_items()`` give them: the server's name casing, values without
    surrounding whitespace, ``Transfer-Encoding`` lowercased.
    """
    lines = block[:-4].split(b"\r\n")
    status_line = _STATUS_LINE(lines[0])
    if status_line is None:
        return None
    status = int(status_line[2])
    if status < 200:  # interim responses: h11's state machine handles them
        return None
    keep_alive = status_line[1] == b"1.1"
    length = UNTIL_CLOSE
    headers = []
    framing = 0
    for line in lines[1:]:
        field = FIELD_LINE(line)
        if field is None:  # also: folded lines, bare CR or LF, NUL
            return None
        name, value = field[1], field[2]
        lower = name.lower()
        if lower == b"content-length":
            if _DIGITS(value) is None:
                return None
            length = int(value)
            framing += 1
        elif lower == b"transfer-encoding":
            value = value.lower()
            if value != b"chunked":
                return None
            length = CHUNKED
            framing += 1
        elif lower == b"connection" and asks_to_close(value):
            keep_alive = False
        headers.append((name.decode("latin-1"), value.decode("latin-1")))
    if framing > 1:  # both, or either twice: h11's rules
        return None
    return ParsedHead(status, tuple(headers), length, keep_alive)
