"""Property tests: any chunking gives the same result, equal to the literal reference parser."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import sse_reference
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from muxi_proto.errors import LimitExceededError
from muxi_proto.sse import SSEDecoder, format_comment, format_event

# Pieces that make the interesting cases likely: field names, colons and spaces, every kind of
# line end, BOMs, NUL, digits, multi-byte and invalid UTF-8, and a truncated sequence.
ATOMS = [
    b"data", b"event", b"id", b"retry", b"Data", b":", b" ", b"  ", b"\r", b"\n", b"\r\n", b"\n\n",
    b"\xef\xbb\xbf", b"\xef", b"\xbb", b"\x00", b"0", b"7", b"x", b"done", b"\xe2\x82\xac",
    "😀".encode(), b"\xff", b"\xe2\x82", b"\xc3", "\u2028".encode(), b"\x85", b"data: ", b": ka\n\n",
    b": keepalive", b"\n\n: keepalive\n\n", b"\n\ndata: ",
]

# Whole frames, mostly the MUXI shape (one data line, keepalives) so that chunks hold runs of
# simple events for the bulk path, mixed with everything that must leave it.
FRAMES = st.one_of(
    st.text(alphabet="ab :\u00e9\r", max_size=6).map(lambda t: b"data: " + t.encode() + b"\n\n"),
    st.sampled_from([
        b": keepalive\n\n", b"\n\n: keepalive\n\n", b"event: x\ndata: y\n\n", b"id: 3\n", b"id\n",
        b"data: a\ndata: b\n\n", b"retry: 5\n\n", b"\n", b"data:z\n\n", b"data: c\r\n\r\n", b":c\n",
        b"event: done\n", b"data: \n\n",
    ]),
)

stream_bytes = st.one_of(
    st.lists(st.sampled_from(ATOMS), max_size=60).map(b"".join),
    st.lists(FRAMES, max_size=40).map(b"".join),
    st.binary(max_size=200),
)


@dataclass
class Outcome:
    events: list[tuple[str, str, str, int | None]]
    error: bool
    state: tuple[str, int | None, bool] | None  # last_event_id, retry, in_event (when no error)


def run_decoder(chunks: list[bytes], max_size: int | None = None) -> Outcome:
    decoder = SSEDecoder() if max_size is None else SSEDecoder(max_size=max_size)
    events = []
    error = False
    try:
        for chunk in chunks:
            events += decoder.feed(chunk)
        decoder.end()
    except LimitExceededError:
        error = True
    state = None if error else (decoder.last_event_id, decoder.retry, decoder.in_event)
    return Outcome([(e.event, e.data, e.id, e.retry) for e in events], error, state)


def run_reference(data: bytes, max_size: int | None = None) -> Outcome:
    ref = sse_reference.parse(data, max_size)
    state = None if ref.error else (ref.last_event_id, ref.retry, ref.in_event)
    return Outcome([(e.event, e.data, e.id, e.retry) for e in ref.events], ref.error, state)


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@st.composite
def chunked(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    data = draw(stream_bytes)
    return data, split_at(data, draw(st.lists(st.integers(0, len(data)), max_size=12)))


@given(chunked())
@settings(max_examples=800, suppress_health_check=[HealthCheck.too_slow])
def test_any_chunking_equals_whole_input_and_the_reference(case: tuple[bytes, list[bytes]]) -> None:
    data, chunks = case
    whole = run_decoder([data])
    assert run_decoder(chunks) == whole
    assert whole == run_reference(data)


@given(stream_bytes)
@settings(max_examples=200)
def test_byte_by_byte_equals_the_reference(data: bytes) -> None:
    assert run_decoder([data[i:i + 1] for i in range(len(data))]) == run_reference(data)


@given(chunked(), st.integers(1, 24))
@settings(max_examples=800, suppress_health_check=[HealthCheck.too_slow])
def test_size_limit_is_independent_of_chunking(case: tuple[bytes, list[bytes]], max_size: int) -> None:
    data, chunks = case
    expected = run_reference(data, max_size)
    assert run_decoder([data], max_size) == expected
    assert run_decoder(chunks, max_size) == expected


@given(st.binary(max_size=300))
def test_reference_byte_split_matches_text_split(data: bytes) -> None:
    # The decoder finds line ends in the bytes and decodes line by line; the spec decodes first.
    # They agree because a line end byte never sits inside a UTF-8 sequence.
    lines, rest = sse_reference.spec_lines(data)
    raw, raw_rest = sse_reference.raw_lines(data)
    assert [line.decode("utf-8", "replace") for line in raw] == lines
    assert raw_rest.decode("utf-8", "replace") == rest


no_line_end = st.text().filter(lambda s: "\r" not in s and "\n" not in s)
event_spec = st.fixed_dictionaries(
    {"data": st.text()},
    optional={
        "event": no_line_end,
        "id": no_line_end.filter(lambda s: "\0" not in s),
        "retry": st.integers(0, 10**12),
    },
)


def _normalised(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


@given(st.lists(st.one_of(event_spec, st.text().map(lambda s: {"comment": s}))), st.data())
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_encoder_decoder_round_trip(specs: list[dict[str, object]], draw: st.DataObject) -> None:
    stream = b""
    expected = []
    last_id = ""
    retry: int | None = None
    for spec in specs:
        if "comment" in spec:
            comment = _normalised(str(spec["comment"])).replace("\n", " ")
            stream += format_comment(comment)
            continue
        stream += format_event(**spec)  # type: ignore[arg-type]
        last_id = str(spec.get("id", last_id))
        retry = spec.get("retry", retry)  # type: ignore[assignment]
        expected.append((str(spec.get("event") or "message"), _normalised(str(spec["data"])), last_id, retry))
    outcome = run_decoder(split_at(stream, draw.draw(st.lists(st.integers(0, len(stream)), max_size=8))))
    assert outcome.events == expected
    assert outcome.state is not None
    assert not outcome.state[2]  # every event was complete
