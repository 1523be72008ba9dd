"""The shared h11 exchange: request bytes, response parsing under any chunking, reuse decisions."""

from __future__ import annotations

import h11
import pytest
from hypothesis import given
from hypothesis import strategies as st

from muxi_proto.http import Request
from muxi_transports._errors import ClosedBeforeResponse, IncompleteBody
from muxi_transports._h11_exchange import END, NEED_DATA, ClientExchange, ResponseHead, wire_headers


def _request(method: str = "GET", url: str = "http://127.0.0.1:8080/rpc/x?y=1", **kw: object) -> Request:
    return Request(method, url, **kw)  # type: ignore[arg-type]


def _encode(status: int, headers: list[tuple[str, str]], body: bytes, chunks: list[int] | None) -> bytes:
    """A response on the wire: Content-Length framing, or chunked with the given chunk sizes."""
    lines = [f"HTTP/1.1 {status} X"]
    lines += [f"{k}: {v}" for k, v in headers]
    if chunks is None:
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    lines.append("Transfer-Encoding: chunked")
    out = ("\r\n".join(lines) + "\r\n\r\n").encode()
    pos = 0
    for size in chunks:
        piece = body[pos : pos + size]
        pos += len(piece)
        if piece:
            out += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    if pos < len(body):
        out += f"{len(body) - pos:x}\r\n".encode() + body[pos:] + b"\r\n"
    return out + b"0\r\n\r\n"


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for p in points:
        pieces.append(data[last:p])
        last = p
    pieces.append(data[last:])
    return [p for p in pieces if p]


def _run(exchange: ClientExchange, pieces: list[bytes], eof: bool = False) -> tuple[ResponseHead, bytes]:
    """Feed ``pieces`` one by one as a transport would; return the head and the whole body."""
    feed = iter([*pieces, b""] if eof else pieces)
    head = exchange.next_head()
    while head is NEED_DATA:
        exchange.feed(next(feed))
        head = exchange.next_head()
    assert isinstance(head, ResponseHead)
    body = b""
    while True:
        chunk = exchange.next_body()
        if chunk is END:
            return head, body
        if chunk is NEED_DATA:
            exchange.feed(next(feed))
            continue
        assert isinstance(chunk, bytes)
        body += chunk


header_values = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=20)
header_names = st.sampled_from(["X-A", "Content-Type", "X-Muxi-Thing"])


@given(
    status=st.integers(200, 599).filter(lambda s: s not in (204, 304)),
    headers=st.lists(st.tuples(header_names, header_values), max_size=4),
    body=st.binary(max_size=3000),
    chunks=st.none() | st.lists(st.integers(1, 700), max_size=8),
    cuts=st.lists(st.integers(0, 10_000), max_size=20),
)
def test_any_chunking_gives_the_same_response(
    status: int, headers: list[tuple[str, str]], body: bytes, chunks: list[int] | None, cuts: list[int]
) -> None:
    exchange = ClientExchange()
    exchange.request_bytes(_request())
    wire = _encode(status, headers, body, chunks)
    head, got = _run(exchange, _split(wire, cuts))
    assert head.status == status
    for name, value in headers:
        assert (name, value) in head.headers
    assert got == body
    assert exchange.reusable
    assert exchange.received == len(wire)


@given(
    body=st.binary(min_size=1, max_size=500),
    chunked=st.booleans(),
    data=st.data(),
)
def test_a_truncated_response_never_passes_as_complete(
    body: bytes, chunked: bool, data: st.DataObject
) -> None:
    wire = _encode(200, [], body, [7] if chunked else None)
    cut = data.draw(st.integers(0, len(wire) - 1))
    exchange = ClientExchange()
    exchange.request_bytes(_request())
    with pytest.raises((IncompleteBody, ClosedBeforeResponse, h11.RemoteProtocolError)):
        _run(exchange, [wire[:cut]] if cut else [], eof=True)


def test_eof_before_any_byte_is_closed_before_response() -> None:
    exchange = ClientExchange()
    exchange.request_bytes(_request())
    exchange.feed(b"")
    with pytest.raises(ClosedBeforeResponse):
        exchange.next_head()


def test_eof_mid_body_is_incomplete_body() -> None:
    exchange = ClientExchange()
    exchange.request_bytes(_request())
    exchange.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    assert isinstance(exchange.next_head(), ResponseHead)
    assert exchange.next_body() == b"abc"
    assert exchange.next_body() is NEED_DATA
    exchange.feed(b"")
    with pytest.raises(IncompleteBody, match="got 3 body bytes"):
        exchange.next_body()


def test_garbage_is_a_remote_protocol_error() -> None:
    exchange = ClientExchange()
    exchange.request_bytes(_request())
    exchange.feed(b"garbage\r\n\r\n")
    with pytest.raises(h11.RemoteProtocolError):
        exchange.next_head()


def test_interim_responses_are_skipped() -> None:
    exchange = ClientExchange()
    exchange.request_bytes(_request("POST", body=b"x"))
    exchange.feed(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
    head = exchange.next_head()
    assert isinstance(head, ResponseHead) and head.status == 201
    assert exchange.next_body() is END


def test_connection_close_and_close_delimited_bodies_are_not_reusable() -> None:
    exchange = ClientExchange()
    exchange.request_bytes(_request())
    _, body = _run(exchange, [b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi"])
    assert body == b"hi" and not exchange.reusable

    exchange = ClientExchange()
    exchange.request_bytes(_request())
    _, body = _run(exchange, [b"HTTP/1.1 200 OK\r\n\r\nuntil eof"], eof=True)
    assert body == b"until eof" and not exchange.reusable


def test_extra_bytes_after_the_response_forbid_reuse() -> None:
    exchange = ClientExchange()
    exchange.request_bytes(_request())
    _, body = _run(exchange, [b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiEXTRA"])
    assert body == b"hi"
    assert not exchange.reusable


def test_cycles_reset_the_counters() -> None:
    exchange = ClientExchange()
    for _ in range(3):
        exchange.request_bytes(_request())
        _run(exchange, [b"HTTP/1.1 204 No Content\r\n\r\n"])
        assert exchange.reusable and exchange.received > 0
        exchange.start_next_cycle()
        assert exchange.received == 0


def test_request_bytes_put_host_and_content_length_on_the_wire() -> None:
    exchange = ClientExchange()
    request = _request(
        "POST",
        headers=(
            ("Host", "evil"), ("Content-Length", "999"), ("X-Muxi-Client", "t"), ("transfer-encoding", "x")
        ),
        body=b"12345",
    )
    wire = b"".join(exchange.request_bytes(request))
    head, _, body = wire.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /rpc/x?y=1 HTTP/1.1"
    assert lines[1:] == [b"Host: 127.0.0.1:8080", b"X-Muxi-Client: t", b"Content-Length: 5"]
    assert body == b"12345"


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://example.com/x", "example.com"),
        ("https://example.com:443/x", "example.com"),
        ("https://example.com:8443/x", "example.com:8443"),
        ("http://[::1]:8080/x", "[::1]:8080"),
        ("http://[::1]/x", "[::1]"),
    ],
)
def test_host_header(url: str, host: str) -> None:
    assert wire_headers(Request("GET", url))[0] == (b"Host", host.encode())


def test_content_length_zero_for_empty_posts_and_none_for_gets() -> None:
    assert (b"Content-Length", b"0") in wire_headers(_request("POST"))
    assert all(name != b"Content-Length" for name, _ in wire_headers(_request("GET")))


def test_invalid_header_is_refused_by_h11() -> None:
    with pytest.raises(h11.LocalProtocolError):
        ClientExchange().request_bytes(_request(headers=(("X-Key", "secret\r\nInjected: 1"),)))
