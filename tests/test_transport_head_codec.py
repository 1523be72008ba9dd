"""The h11-free fast path of ClientExchange against h11 as the oracle, on arbitrary messages.

Requests: whatever the codec writes is byte for byte what h11 writes; what it declines, h11 judges.
Responses: any head (valid, odd or broken), any framing, any cut into reads, with or without the
connection closing: the same head, body, outcome and reuse decision as h11 alone.
"""

from __future__ import annotations

import itertools

import h11
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from muxi_proto.http import Request
from muxi_transports._h11_exchange import END, ClientExchange, ResponseHead
from muxi_transports._head_codec import encode_request_head, parse_response_head
from tests.h11_oracle import oracle, ours

# --- requests ----------------------------------------------------------------------------------------

NAMES = st.sampled_from([b"Host", b"host", b"X-Key", b"Content-Length", b"content-length", b"Transfer-Encoding",
                         b"Connection", b"X Bad", b"", b"X-\xff", b"Accept"])
VALUES = st.sampled_from([b"v", b"", b"a b", b" lead", b"trail ", b"x\r\ny", b"\x00", b"12", b"1,2", b"close",
                          b"chunked", b"\xe9t\xe9", b"a\tb", b"127.0.0.1:80"])


def h11_request_bytes(method: bytes, target: bytes, headers: list[tuple[bytes, bytes]]) -> bytes | str:
    try:
        return h11.Connection(h11.CLIENT).send(h11.Request(method=method, target=target, headers=headers)) or b""
    except h11.LocalProtocolError:
        return "refused"


@settings(max_examples=500, deadline=None)
@given(
    method=st.sampled_from([b"GET", b"POST", b"DELETE", b"G T", b"", b"PUT"]),
    target=st.sampled_from([b"/", b"/v1/agents?x=1", b"/a b", b"", b"/\x7f", b"*"]),
    headers=st.lists(st.tuples(NAMES, VALUES), max_size=6),
)
def test_request_heads_are_what_h11_writes(method: bytes, target: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    ours = encode_request_head(method, target, headers)
    if ours is not None:
        assert ours == h11_request_bytes(method, target, headers)


@settings(max_examples=300, deadline=None)
@given(
    headers=st.lists(st.tuples(st.sampled_from(["X-Key", "Connection", "Accept", "X Bad"]),
                               st.sampled_from(["v", "close", "keep-alive, Close", " x", "a\r\nb"])), max_size=4),
    method=st.sampled_from(["GET", "POST", "DELETE"]),
    body=st.sampled_from([b"", b"{}", b"x" * 100]),
)
def test_exchange_request_bytes_are_h11s_or_h11s_refusal(
    headers: list[tuple[str, str]], method: str, body: bytes
) -> None:
    request = Request(method, "http://h:8/p?q=1", tuple(headers), body)
    try:
        ours: bytes | str = b"".join(ClientExchange().request_bytes(request))
    except h11.LocalProtocolError:
        ours = "refused"
    conn = h11.Connection(h11.CLIENT)
    try:
        from muxi_transports._h11_exchange import wire_headers

        out = conn.send(h11.Request(method=method, target="/p?q=1", headers=wire_headers(request))) or b""
        if body:
            out += b"".join(conn.send_with_data_passthrough(h11.Data(data=body)) or ())
        out += conn.send(h11.EndOfMessage()) or b""
        theirs: bytes | str = out
    except h11.LocalProtocolError:
        theirs = "refused"
    assert ours == theirs


# --- responses ---------------------------------------------------------------------------------------


STATUS_LINES = st.sampled_from([
    "HTTP/1.1 200 OK", "HTTP/1.1 200", "HTTP/1.1 200 ", "HTTP/1.0 200 OK", "HTTP/1.1 404 Not Found",
    "HTTP/1.1 204 No Content", "HTTP/1.1 304 Not Modified", "HTTP/1.1 100 Continue", "HTTP/1.1 999 Odd",
    "HTTP/2.0 200 OK", "HTTP/1.1 2xx", "http/1.1 200 OK", "HTTP/1.1 200 \xe9t\xe9", "HTTP/1.1  200 OK",
    "HTTP/1.1 500 Internal\tError",
])
HEADER_LINES = st.sampled_from([
    "Content-Type: application/json", "X-A:b", "X-Sp:   spaced   ", "X-Empty:", "Connection: close",
    "Connection: keep-alive, Close", "Connection: keep-alive", "Content-Length: {n}", "content-length:  {n} ",
    "Content-Length: {n}, {n}", "Content-Length: 00{n}", "Content-Length: x", "Transfer-Encoding: chunked",
    "transfer-encoding: Chunked", "Transfer-Encoding: gzip", " folded", "X Bad: 1", "X-Nul: a\x00b",
    "X-Obs: \xe9", ": empty-name", "Server: test/1.0",
])


@st.composite
def response(draw: st.DrawFn) -> tuple[str, bytes]:
    method = draw(st.sampled_from(["GET", "GET", "POST", "HEAD"]))
    body = draw(st.binary(max_size=60))
    lines = [draw(STATUS_LINES)] + [h.format(n=len(body)) for h in draw(st.lists(HEADER_LINES, max_size=5))]
    eol = draw(st.sampled_from(["\r\n", "\r\n", "\r\n", "\n"]))
    head = (eol.join(lines) + eol + eol).encode("latin-1")
    if draw(st.integers(0, 6)) == 0:
        head = b"HTTP/1.1 100 Continue\r\n\r\n" + head
    framed = any(h.lower().startswith("transfer-encoding") for h in lines)
    if framed and draw(st.booleans()):
        payload = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (body[:7], body[7:]) if p) + b"0\r\n\r\n"
    else:
        payload = body
    cut = draw(st.integers(0, 3))
    if cut == 0 and payload:
        payload = payload[: draw(st.integers(0, len(payload) - 1))]
    extra = draw(st.sampled_from([b"", b"", b"", b"HTTP/1.1 200 OK\r\n", b"junk"]))
    return method, head + payload + extra


@st.composite
def cuts(draw: st.DrawFn, data: bytes) -> list[bytes]:
    points = sorted(set(draw(st.lists(st.integers(0, len(data)), max_size=8))))
    return [data[a:b] for a, b in itertools.pairwise([0, *points, len(data)]) if b > a]


@settings(max_examples=1500, deadline=None)
@given(st.data())
def test_same_outcome_as_h11_for_any_response_and_any_reads(data: st.DataObject) -> None:
    method, wire = data.draw(response())
    pieces = data.draw(cuts(wire))
    eof = data.draw(st.booleans())
    assert ours(method, pieces, eof) == oracle(method, pieces, eof)


def test_a_plain_response_is_read_without_h11() -> None:
    head = parse_response_head(b"HTTP/1.1 200 OK\r\nContent-Type: a/b\r\nContent-Length: 2\r\n\r\n")
    assert head is not None
    assert head.status == 200 and head.length == 2 and head.keep_alive
    assert head.headers == (("Content-Type", "a/b"), ("Content-Length", "2"))


@pytest.mark.parametrize("raw", [
    b"HTTP/1.1 101 Switching\r\n\r\n", b"HTTP/1.1 200 OK\r\n folded\r\n\r\n", b"HTTP/3.0 200 OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n",
])
def test_unusual_heads_are_left_to_h11(raw: bytes) -> None:
    assert parse_response_head(raw) is None


def test_many_cycles_on_one_exchange_alternating_fast_and_h11() -> None:
    exchange = ClientExchange()
    plain = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
    odd = b"HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 3\r\n\r\nxyz"  # h11 reads this one
    for wire, want in [(plain, b"abc"), (odd, b"xyz"), (plain, b"abc"), (odd, b"xyz")]:
        exchange.request_bytes(Request("GET", "http://h/"))
        exchange.feed(wire)
        assert isinstance(exchange.next_head(), ResponseHead)
        got = b""
        while (chunk := exchange.next_body()) is not END:
            assert isinstance(chunk, bytes)
            got += chunk
        assert got == want
        assert exchange.reusable
        exchange.start_next_cycle()
