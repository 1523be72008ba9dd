"""Chunked bodies decoded in bulk (ChunkedDecoder inside ClientExchange) against h11 as the oracle.

Any response, any cut into reads, with or without the connection closing: the same head, the same
body bytes, the same outcome (complete, cut short, malformed) and the same reuse decision as a
ClientExchange that lets h11 decode every chunk.
"""

from __future__ import annotations

import itertools

import h11
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from muxi_transports._chunked import READ_LIMIT, ChunkedDecoder
from muxi_transports._h11_exchange import MAX_HEAD_SIZE
from tests.h11_oracle import oracle, ours

OWS = st.sampled_from(["", " ", "\t", " \t "])
EXT = st.sampled_from(["", ";x", ";a=b", ";q=\"v;w\"", ";\r", ";\x00\x01"])
TRAILER_LINE = st.sampled_from([
    "X-A: 1", "X-Empty:", "X-Sp:  two words  ", " folded", "\tfolded", "bad line", "X-Nul: a\x00b",
    "Content-MD5: abc", ": novalue",
    # Framing fields, which h11 holds to the rules of a head: one digits-only Content-Length (repeats
    # agreeing, "5, 5" too), at most one Transfer-Encoding, and only "chunked".
    "Content-Length: x", "Content-Length: 5", "content-length: 6", "Content-Length: 5, 5", "Content-Length: 5, 6",
    "Content-Length: 123456789012345678901", "Transfer-Encoding: chunked", "Transfer-Encoding: gzip",
    "TRANSFER-ENCODING: Chunked", " 7",
])
#: Trailer lines that make an otherwise well-formed body fail (alone, or with the others drawn).
HOSTILE_TRAILERS = (b"bad line", b"\x00", b": novalue", b"Content-Length: x", b"5, 6", b"123456789012345678901",
                    b"gzip")


@st.composite
def chunked_body(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """(wire bytes of a chunked body, the data it carries)."""
    data = b""
    wire = b""
    for piece in draw(st.lists(st.binary(min_size=1, max_size=40), max_size=8)):
        size = f"{len(piece):x}"
        if draw(st.booleans()):
            size = size.upper().rjust(draw(st.integers(len(size), 5)), "0")
        wire += (size + draw(EXT) + draw(OWS)).encode("latin-1") + b"\r\n" + piece + b"\r\n"
        data += piece
    last = draw(st.sampled_from(["0", "000", "0;end"]))
    trailers = draw(st.lists(TRAILER_LINE, max_size=3))
    eols = [draw(st.sampled_from(["\r\n", "\n"])) for _ in range(len(trailers) + 1)]  # bare LF lines too
    wire += (last + "\r\n" + "".join(t + eol for t, eol in zip(trailers, eols, strict=False)) + eols[-1]).encode(
        "latin-1")
    return wire, data


def corrupt(draw: st.DrawFn, wire: bytes) -> bytes:
    if not wire or not draw(st.booleans()):
        return wire
    at = draw(st.integers(0, len(wire) - 1))
    byte = draw(st.sampled_from([b"z", b"\r", b"\n", b"0", b" ", b"", b"\r\n", b";"]))
    return wire[:at] + byte + wire[at + 1:]


@st.composite
def response(draw: st.DrawFn) -> tuple[str, bytes]:
    method = draw(st.sampled_from(["GET", "GET", "POST", "HEAD"]))
    status = draw(st.sampled_from([200, 200, 201, 204, 304, 404, 500]))
    wire, _ = draw(chunked_body())
    headers = ["Transfer-Encoding: chunked"]
    if draw(st.booleans()):
        headers.append("Content-Type: text/event-stream")
    if draw(st.integers(0, 5)) == 0:
        headers.append("Connection: close")
    interim = "HTTP/1.1 100 Continue\r\n\r\n" if draw(st.integers(0, 5)) == 0 else ""
    version = "HTTP/1.0" if draw(st.integers(0, 8)) == 0 else "HTTP/1.1"
    head = f"{interim}{version} {status} X\r\n" + "".join(h + "\r\n" for h in headers) + "\r\n"
    extra = draw(st.sampled_from([b"", b"", b"HTTP/1.1 200 OK\r\n", b"junk"]))
    return method, head.encode() + corrupt(draw, wire) + extra


@st.composite
def cuts(draw: st.DrawFn, data: bytes) -> list[bytes]:
    points = sorted(set(draw(st.lists(st.integers(0, len(data)), max_size=10))))
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]


@settings(max_examples=600, deadline=None)
@given(st.data())
def test_same_outcome_as_h11_for_any_chunked_response_and_any_reads(data: st.DataObject) -> None:
    method, wire = data.draw(response())
    pieces = data.draw(cuts(wire))
    eof = data.draw(st.booleans())
    assert ours(method, pieces, eof) == oracle(method, pieces, eof)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_decoder_alone_gives_the_body_under_any_feeding(data: st.DataObject) -> None:
    wire, body = data.draw(chunked_body())
    decoder = ChunkedDecoder(MAX_HEAD_SIZE)
    out = b""
    try:
        for piece in data.draw(cuts(wire + b"next")):
            decoder.feed(piece)
            out += decoder.read()
        out += decoder.read()  # an error found after some data is raised by the next call
    except h11.RemoteProtocolError:
        # Only hostile trailer lines make a well-formed body fail (a fold at the start, or one that
        # turns a Content-Length into "5 7", or framing fields that clash).
        tail = wire[wire.rfind(b"\r\n0"):] if b"\r\n0" in wire else wire
        assert any(bad in tail for bad in (*HOSTILE_TRAILERS, b"\n folded", b"\n\tfolded", b"\n 7")) or (
            tail.lower().count(b"transfer-encoding") > 1 or tail.lower().count(b"content-length") > 1)
        return
    assert out == body
    assert decoder.done
    assert decoder.extra == b"next"


def test_a_stream_of_small_chunks_comes_out_in_one_piece_per_read() -> None:
    frames = [b"data: %d\n\n" % i for i in range(500)]
    wire = b"".join(b"%x\r\n%s\r\n" % (len(f), f) for f in frames) + b"0\r\n\r\n"
    decoder = ChunkedDecoder(MAX_HEAD_SIZE)
    decoder.feed(wire[:5000])
    first = decoder.read()
    decoder.feed(wire[5000:])
    second = decoder.read()
    assert first + second == b"".join(frames)
    assert decoder.done and decoder.extra == b""


def test_an_endless_chunk_size_line_is_refused() -> None:
    decoder = ChunkedDecoder(100)
    decoder.feed(b"1" * 101)
    with pytest.raises(h11.RemoteProtocolError, match="too long"):
        decoder.read()


def test_data_before_a_bad_chunk_comes_first_then_the_error() -> None:
    decoder = ChunkedDecoder(MAX_HEAD_SIZE)
    decoder.feed(b"5\r\nhello\r\nzz\r\n")
    assert decoder.read() == b"hello"
    with pytest.raises(h11.RemoteProtocolError, match="illegal chunk header"):
        decoder.read()


@settings(max_examples=200, deadline=None)
@given(st.data(), st.integers(1, 300))
def test_reads_stop_near_the_limit_and_lose_nothing(data: st.DataObject, limit: int) -> None:
    wire, body = data.draw(chunked_body())
    decoder = ChunkedDecoder(64)  # a small line limit: complete chunks waiting must not trip it
    out = b""
    try:
        for piece in data.draw(cuts(wire + b"next")):
            decoder.feed(piece)
            while chunk := decoder.read(limit):
                assert len(chunk) < limit + 64  # the chunk that crosses the limit is the last one
                out += chunk
    except h11.RemoteProtocolError:
        return  # hostile trailers (see above)
    assert out == body
    assert decoder.done and decoder.extra == b"next"


def test_a_big_read_is_handed_over_in_batches() -> None:
    frames = [b"data: %d\n\n" % i for i in range(3000)]
    decoder = ChunkedDecoder(MAX_HEAD_SIZE)
    decoder.feed(b"".join(b"%x\r\n%s\r\n" % (len(f), f) for f in frames) + b"0\r\n\r\n")
    batches = []
    while batch := decoder.read():
        batches.append(batch)
    assert b"".join(batches) == b"".join(frames)
    assert len(batches) > 3 and all(len(b) < READ_LIMIT + 100 for b in batches)
    assert decoder.done


@pytest.mark.parametrize("trailer", [
    b"Content-Length: x\r\n\r\n", b"Content-Length: 5\r\nContent-Length: 6\r\n\r\n", b"Content-Length: 5, 6\r\n\r\n",
    b"Transfer-Encoding: gzip\r\n\r\n", b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"Content-Length: x\n\n", b"Content-Length: 5\r\n 6\r\n\r\n",
])
def test_framing_fields_in_a_trailer_make_the_response_malformed_as_with_h11(trailer: bytes) -> None:
    wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n" + trailer
    for method in ("GET", "POST"):
        expected = oracle(method, [wire], False)
        assert expected[2] == "protocol" and not expected[3]
        assert ours(method, [wire], False) == expected  # rejected, so the connection is never reused


@pytest.mark.parametrize("trailer", [
    b"Content-Length: 5\r\n\r\n", b"Content-Length: 5, 5\r\n\r\n", b"Transfer-Encoding: chunked\r\n\r\n",
    b"X-A: 1\n\n", b"X-A: 1\r\n folded\r\n\r\n",
])
def test_trailers_h11_accepts_leave_the_connection_reusable(trailer: bytes) -> None:
    wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n" + trailer
    assert ours("GET", [wire], False) == oracle("GET", [wire], False) == (
        (200, [(b"Transfer-Encoding", b"chunked")]), b"{}", "complete", True)
