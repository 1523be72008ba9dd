"""The decoder's shortcuts agree with the literal reference parser.

Shortcuts: a chunk that is exactly one ``data:`` frame or one keepalive (the runtime writes every
frame as its own HTTP chunk), keepalive comments between events and last in a chunk, a chunk that
ends between the two line ends of a blank line, and the one-argument event classes. (Streams of
every shape the decoder learns are in test_sse_shapes.py.)
"""

from __future__ import annotations

import copy
import itertools
import pickle

import pytest
import sse_reference
from hypothesis import given, settings
from hypothesis import strategies as st

from muxi_proto.errors import LimitExceededError
from muxi_proto.sse import ServerSentEvent, SSEDecoder

FRAME = st.one_of(
    st.text(alphabet="ab :{}\"\u00e9\r\n", max_size=8).map(lambda t: b"data: " + t.encode() + b"\n\n"),
    st.text(alphabet="ab", max_size=4).map(lambda t: b"data: " + t.encode() + b"\n\n"),
    st.sampled_from([
        b": keepalive\n\n", b"\n\n: keepalive\n\n", b"event: x\ndata: y\n\n", b"id: 3\n", b"event: done\n",
        b"data: a\ndata: b\n\n", b"retry: 5\n\n", b"\n", b"data:z\n\n", b"data: c\r\n\r\n", b": other\n\n",
        b"data: \xff\xfe\n\n", b"\xef\xbb\xbfdata: bom\n\n", b"data: x\n", b"\n\n", b"data: \n", b"data: ",
    ]),
)


def decode(chunks: list[bytes], max_size: int | None = None) -> tuple[list[tuple[str, str, str, int | None]], bool]:
    decoder = SSEDecoder() if max_size is None else SSEDecoder(max_size=max_size)
    events = []
    try:
        for chunk in chunks:
            events += [(e.event, e.data, e.id, e.retry) for e in decoder.feed(chunk)]
        decoder.end()
    except LimitExceededError:
        return events, True
    return events, False


def reference(data: bytes, max_size: int | None = None) -> tuple[list[tuple[str, str, str, int | None]], bool]:
    ref = sse_reference.parse(data, max_size)
    return [(e.event, e.data, e.id, e.retry) for e in ref.events], ref.error


@settings(max_examples=400, deadline=None)
@given(st.lists(FRAME, max_size=30), st.one_of(st.none(), st.integers(1, 12)))
def test_one_frame_per_chunk_equals_the_reference(frames: list[bytes], max_size: int | None) -> None:
    data = b"".join(frames)
    got, failed = decode(frames, max_size)
    want, want_failed = reference(data, max_size)
    assert failed == want_failed
    if not failed:
        assert got == want
    else:  # events before the failure are never wrong, only possibly fewer
        assert got == want[: len(got)]


@settings(max_examples=300, deadline=None)
@given(st.lists(FRAME, min_size=1, max_size=30), st.data())
def test_chunks_ending_between_the_two_line_ends_of_a_blank_line(frames: list[bytes], draw: st.DataObject) -> None:
    data = b"".join(frames)
    blank_lines = [i + 1 for i in range(len(data) - 1) if data[i:i + 2] == b"\n\n"]
    cuts = sorted(draw.draw(st.lists(st.sampled_from(blank_lines), max_size=6))) if blank_lines else []
    bounds = [0, *cuts, len(data)]
    chunks = [data[a:b] for a, b in itertools.pairwise(bounds)]
    assert decode(chunks) == reference(data)


def test_a_data_frame_chunk_gives_one_event_and_a_keepalive_none() -> None:
    decoder = SSEDecoder()
    assert [e.data for e in decoder.feed(b'data: {"token":"a"}\n\n')] == ['{"token":"a"}']
    assert decoder.feed(b": keepalive\n\n") == []
    assert not decoder.in_event
    assert [e.data for e in decoder.feed(b"data: \xc3\xa9\n\n")] == ["\u00e9"]


def test_an_empty_data_line_at_the_end_of_a_chunk_leaves_its_event_open() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n\ndata: \n") == [decoder_event("a")]
    assert decoder.in_event
    [evt] = decoder.feed(b"\n")
    assert evt.data == ""


def decoder_event(data: str) -> object:
    return {"event": "message", "data": data}


def test_frame_chunks_keep_the_id_and_retry_in_force() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"id: 7\nretry: 30\n\n") == []
    [evt] = decoder.feed(b"data: x\n\n")
    assert (evt.event, evt.data, evt.id, evt.retry) == ("message", "x", "7", 30)


def test_a_frame_chunk_inside_an_open_event_is_not_a_whole_event() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"event: ui\n") == []
    [evt] = decoder.feed(b"data: y\n\n")
    assert (evt.event, evt.data) == ("ui", "y")
    assert decoder.feed(b"data: a\n") == []
    [evt] = decoder.feed(b"data: b\n\n")
    assert evt.data == "a\nb"


def test_frame_chunk_over_the_limit_raises() -> None:
    decoder = SSEDecoder(max_size=8)
    [evt] = decoder.feed(b"data: ab\n\n")  # the line "data: ab" is exactly 8 bytes
    assert evt.data == "ab"
    try:
        decoder.feed(b"data: abc\n\n")
    except LimitExceededError:
        pass
    else:
        raise AssertionError("a 9-byte line passed an 8-byte limit")


def test_events_of_the_one_argument_shortcut_are_whole_server_sent_events() -> None:
    # Unnamed events with no id or retry in force are built by a one-argument subclass; they
    # must be indistinguishable from the general events in everything a user can do with them.
    frames = b"".join(b'data: {"n": %d}\n\n' % i for i in range(40))
    plain = SSEDecoder().feed(frames) + SSEDecoder().feed(b"data: one\n\n")
    assert len(plain) == 41
    for evt in plain:
        general = ServerSentEvent("message", evt.data)
        assert isinstance(evt, ServerSentEvent)
        assert (evt.event, evt.id, evt.retry) == ("message", "", None)
        assert evt == general and general == evt and evt == {"event": "message", "data": evt.data}
        assert dict(evt) == general.to_dict() and evt.get("id") is None
        assert repr(evt) == repr(general)
        assert pickle.loads(pickle.dumps(evt)) == evt
        assert copy.copy(evt) == evt
        with pytest.raises(AttributeError):
            evt.event = "other"  # type: ignore[misc]
    assert plain[0].json() == {"n": 0}


def test_the_one_argument_shortcut_is_not_used_once_an_id_or_retry_is_in_force() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"id: 7\nretry: 10\n\n")
    events = decoder.feed(b"".join(b"data: %d\n\n" % i for i in range(30)))
    assert [(e.id, e.retry) for e in events] == [("7", 10)] * 30
    assert decoder.feed(b"data: x\n\n")[0].id == "7"


@settings(max_examples=300, deadline=None)
@given(st.lists(FRAME, max_size=30), st.sampled_from(["\n", "\r\n", "\r"]), st.integers(1, 3))
def test_frames_a_few_per_chunk_equal_the_reference(frames: list[bytes], eol: str, per_chunk: int) -> None:
    # The one- and two-event shortcuts for every line end (`feed`, and `_complete` for CRLF and
    # CR), entered and left: frames one, two or three a chunk, with lines ending in `eol` (and
    # the frames' own CR and LF).
    if eol != "\n":
        frames = [frame.replace(b"\n", eol.encode()) for frame in frames]
    chunks = [b"".join(frames[i:i + per_chunk]) for i in range(0, len(frames), per_chunk)]
    assert decode(chunks) == reference(b"".join(frames))


@pytest.mark.parametrize("ends", list(itertools.product(["\n", "\r", "\r\n"], repeat=3)))
def test_line_ends_that_change_between_chunks_equal_the_reference(ends: tuple[str, str, str]) -> None:
    # An event whose lines end in different ways, cut anywhere near its line ends into two or
    # three chunks: the chunk that completes it may hold one kind of line end and `_buf` another
    # (the shortcuts in `feed` for CR and CRLF chunks must see what `_buf` holds).
    first, second, blank = ends
    data = f"data: a{first}data: b{second}{blank}data: c{second}{blank}".encode()
    ends_at = [i for i, byte in enumerate(data) if byte in (10, 13)]
    near = sorted({i + d for i in ends_at for d in (0, 1, 2)} & set(range(1, len(data))))
    for a, b in itertools.combinations([0, *near], 2):
        for cuts in ([b], [a, b]) if a else ([b],):
            bounds = [0, *cuts, len(data)]
            chunks = [data[x:y] for x, y in itertools.pairwise(bounds)]
            assert decode(chunks) == reference(data), chunks


@pytest.mark.parametrize("pending", [b"", b"data: x\n", b"id: 7\n", b"event: e\n", b": a\n", b"data: y", b"retry: 9\n"])
@pytest.mark.parametrize("comment", [b": keepalive\n\n", b":\n\n", b": a: b\n\n"])
def test_a_comment_alone_in_a_chunk_changes_nothing_pending(pending: bytes, comment: bytes) -> None:
    # A chunk that is one comment and a blank line returns no event at once, unless the bytes
    # before it left an event (or a line) open: then the blank line ends it as the spec says.
    frames = [b"data: first\n\n", pending, comment, b"data: last\n\n"]
    assert decode([f for f in frames if f]) == reference(b"".join(frames))
