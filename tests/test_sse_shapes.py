"""The decoder on streams of every shape it learns, held to the literal reference parser.

The decoder parses the events a chunk completes in one go, by the shape it learned from the
stream (line ends, fields before the data line, comments first), and falls back to reading
line by line for anything else. These tests generate streams of every shape and of shapes that
change along the way, and check, after every chunk of any chunking, that the events returned so
far and the decoder's state equal what the reference parser gives for the input so far: so an
event is always returned by the ``feed`` call whose chunk completes it, never later.
"""

from __future__ import annotations

import copy
import itertools
import pickle

import pytest
import sse_reference
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from muxi_proto.errors import LimitExceededError
from muxi_proto.sse import ServerSentEvent, SSEDecoder

Event = tuple[str, str, str, "int | None"]

TEXT = st.text(alphabet="ab {}\":,0é€😀\x00", max_size=12)
NAME = st.sampled_from(["progress", "complete", "log", "", "ui", " spaced", "é"])
FIELD = st.one_of(
    st.tuples(st.just("event"), NAME),
    st.tuples(st.just("id"), st.sampled_from(["1", "42", "", "a\x00b", "req 7"])),
    st.tuples(st.just("retry"), st.sampled_from(["3000", "0", "007", "x", "", "1" * 5])),
)


@st.composite
def event_lines(draw: st.DrawFn) -> list[str]:
    """One event's lines: fields in any order, comments, data lines in both spellings."""
    lines = []
    for name, value in draw(st.lists(FIELD, max_size=3)):
        lines.append(name + draw(st.sampled_from([": ", ":"])) + value)
    if draw(st.booleans()):
        lines.insert(draw(st.integers(0, len(lines))), ": " + draw(st.sampled_from(["keepalive", "t=1", ""])))
    data_prefix = draw(st.sampled_from(["data: ", "data: ", "data:"]))
    lines += [data_prefix + value for value in draw(st.lists(TEXT, min_size=0, max_size=4))]
    if draw(st.integers(0, 9)) == 0:
        lines.append(draw(st.sampled_from(["id: 9", "foo: bar", "data", "event: late"])))
    return lines


@st.composite
def streams(draw: st.DrawFn) -> bytes:
    """A stream of runs of events; each run has one shape and its own line ends."""
    parts: list[str] = []
    for _ in range(draw(st.integers(0, 4))):
        template = draw(event_lines())
        eol = draw(st.sampled_from(["\n", "\n", "\r\n", "\r", "mixed"]))
        for _ in range(draw(st.integers(1, 8))):
            lines = template if draw(st.integers(0, 3)) else draw(event_lines())
            if draw(st.integers(0, 4)) == 0:
                lines = [": keepalive", "", *lines]
            for line in [*lines, *[""] * draw(st.sampled_from([1, 1, 1, 2, 0]))]:
                ending = draw(st.sampled_from(["\n", "\r", "\r\n"])) if eol == "mixed" else eol
                parts.append(line + ending)
    data = "".join(parts).encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 9)) == 0:
        data = b"\xef\xbb\xbf" + data
    if data and draw(st.integers(0, 4)) == 0:
        data = data[: draw(st.integers(0, len(data)))]  # cut anywhere: mid line, mid character
    return data


@st.composite
def chunked(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    data = draw(streams())
    kind = draw(st.sampled_from(["cuts", "fixed"]))
    if kind == "fixed":
        size = draw(st.sampled_from([1, 2, 3, 5, 16, 64, 4096]))
        return data, [data[i:i + size] for i in range(0, len(data), size)] or [b""]
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=16)))
    bounds = [0, *cuts, len(data)]
    return data, [data[a:b] for a, b in itertools.pairwise(bounds)]


def _events(events: list[ServerSentEvent]) -> list[Event]:
    return [(e.event, e.data, e.id, e.retry) for e in events]


def _reference(data: bytes, max_size: int | None = None) -> tuple[list[Event], bool, tuple[str, int | None, bool]]:
    ref = sse_reference.parse(data, max_size)
    return ([(e.event, e.data, e.id, e.retry) for e in ref.events], ref.error,
            (ref.last_event_id, ref.retry, ref.in_event))


def _dispatch_offsets(data: bytes) -> list[int]:
    """Where each event the spec dispatches is complete: just past the line end of its blank line
    (past the CR when the line end is CRLF: the CR alone already ends the line)."""
    start = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    offsets = []
    has_data = False
    line_start = start
    i = start
    while i < len(data):
        byte = data[i]
        if byte in (10, 13):
            line = data[line_start:i]
            if not line:
                if has_data:
                    offsets.append(i + 1)
                has_data = False
            elif line.split(b":", 1)[0] == b"data":
                has_data = True
            if byte == 13 and i + 1 < len(data) and data[i + 1] == 10:
                i += 1
            line_start = i + 1
        i += 1
    return offsets


def _check_every_prefix(chunks: list[bytes], max_size: int | None = None) -> None:
    data = b"".join(chunks)
    want, error, state = _reference(data, max_size)
    offsets = _dispatch_offsets(data)
    if not error:
        assert len(offsets) == len(want)  # (the helper agrees with the reference)
    decoder = SSEDecoder() if max_size is None else SSEDecoder(max_size=max_size)
    got: list[Event] = []
    seen = 0
    checks = {len(chunks) // 3, len(chunks) // 2, len(chunks) - 1}
    for index, chunk in enumerate(chunks):
        seen += len(chunk)
        try:
            got += _events(decoder.feed(chunk))
        except LimitExceededError:
            assert error, "a limit error the reference does not see"
            assert got == want[: len(got)]
            return
        complete = sum(1 for offset in offsets if offset <= seen)
        if error:
            assert got == want[: len(got)]
            if len(got) < complete:  # (a limit error came first)
                break
            continue
        assert got == want[:complete], "events must be returned by the feed call that completes them"
        if index in checks:  # the state too (the reference on the input so far; not on every chunk)
            assert (decoder.last_event_id, decoder.retry, decoder.in_event) == _reference(data[:seen])[2]
    if error:
        # Events before the failure come first; the error is raised at the latest by the end
        # (by the next call when lines were read; at the end for a would-be byte order mark).
        with pytest.raises(LimitExceededError):
            decoder.feed(b"")
            decoder.end()
        return
    assert got == want
    assert (decoder.last_event_id, decoder.retry, decoder.in_event) == state


@given(chunked())
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_after_every_chunk_the_events_and_state_equal_the_reference(case: tuple[bytes, list[bytes]]) -> None:
    _, chunks = case
    _check_every_prefix(chunks)


@given(chunked(), st.integers(1, 40))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_with_a_small_limit_too(case: tuple[bytes, list[bytes]], max_size: int) -> None:
    _, chunks = case
    _check_every_prefix(chunks, max_size)


def _stream(*frames: str, eol: str = "\n") -> bytes:
    return "".join(frames).replace("\n", eol).encode()


RUNTIME = 'data: {{"token":{{"type":"content","content":"word {}"}}}}\n\n'
SHAPES = {
    "runtime": lambda i: (": keepalive\n\n" if i % 25 == 0 else "") + RUNTIME.format(i),
    "named": lambda i: f'event: progress\ndata: {{"stage":"health_check","attempt":{i}}}\n\n',
    "id": lambda i: f"id: {i}\n" + RUNTIME.format(i),
    "retry": lambda i: f"retry: {1000 + i % 3}\n" + RUNTIME.format(i),
    "comments": lambda i: ": keepalive\n\n" + (f": t={i}\n" if i % 2 else "") + RUNTIME.format(i),
    "multiline": lambda i: f'data: {{\ndata:  "n": {i},\ndata:  "s": "é😀"\ndata: }}\n\n',
    "both": lambda i: f"event: log\nid: {i}\ndata: line {i}\n\n",
    "nospace": lambda i: f"event:log\ndata:{i}\n\n",
}


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("size", [1, 7, 64, 512, 4096, 65536])
def test_streams_that_change_shape_along_the_way(eol: str, size: int) -> None:
    frames = [SHAPES[name](i) for name in SHAPES for i in range(40)]
    data = _stream(*frames, eol=eol)
    _check_every_prefix([data[i:i + size] for i in range(0, len(data), size)])


@pytest.mark.parametrize("name", sorted(SHAPES))
@pytest.mark.parametrize("size", [3, 64, 512, 65536])
def test_each_shape_alone(name: str, size: int) -> None:
    data = _stream(*[SHAPES[name](i) for i in range(300)])
    _check_every_prefix([data[i:i + size] for i in range(0, len(data), size)])


def test_a_keepalive_last_in_a_chunk_is_not_part_of_the_event() -> None:
    decoder = SSEDecoder()
    assert [e.data for e in decoder.feed(b"data: a\n\ndata: b\n\n: keepalive\n\n")] == ["a", "b"]
    assert not decoder.in_event
    assert [e.data for e in decoder.feed(b": keepalive\n\n")] == []
    assert [e.data for e in decoder.feed(b": keepalive\n\ndata: c\n\n: ka\n\n")] == ["c"]


def test_a_crlf_split_between_chunks_right_before_the_blank_line() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    [evt] = decoder.feed(b"\n\r\ndata: b")
    assert evt.data == "a"
    assert decoder.feed(b"\r\n") == []
    assert [e.data for e in decoder.feed(b"\r\n")] == ["b"]


def test_an_invalid_field_in_a_learned_shape_is_ignored_as_the_spec_says() -> None:
    stream = b"".join(b"retry: %d\ndata: %d\n\n" % (i, i) for i in range(20))
    stream += b"retry: 12x\ndata: bad\n\nid: a\x00b\ndata: nul\n\n"
    decoder = SSEDecoder()
    events = decoder.feed(stream)
    assert [e.retry for e in events][-3:] == [19, 19, 19]
    assert events[-1].id == ""
    assert _events(events) == _reference(stream)[0]


def _subclass_events() -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    events = decoder.feed(b"".join(b"data: %d\n\n" % i for i in range(10)))  # (JSON data)
    events += SSEDecoder().feed(b"".join(b"event: p\ndata: %d\n\n" % i for i in range(10)))
    events += SSEDecoder().feed(b"".join(b"event: p%d\ndata: %d\n\n" % (i % 3, i) for i in range(10)))
    events += SSEDecoder().feed(b"".join(b"id: %d\ndata: %d\n\n" % (i, i) for i in range(10)))
    events += SSEDecoder().feed(b"".join(b"retry: %d\ndata: %d\n\n" % (i % 3, i) for i in range(10)))
    return events


def test_events_of_every_shortcut_class_are_whole_server_sent_events() -> None:
    events = _subclass_events()
    assert len({type(e) for e in events}) > 1  # (the point: several classes are in play)
    for evt in events:
        general = ServerSentEvent(evt.event, evt.data, evt.id, evt.retry)
        assert isinstance(evt, ServerSentEvent)
        assert evt == general and general == evt and evt == general.to_dict()
        assert dict(evt) == dict(general) and list(evt) == list(general) and len(evt) == len(general)
        assert evt.get("id") == general.get("id") and ("id" in evt) == ("id" in general)
        assert repr(evt) == repr(general)
        assert pickle.loads(pickle.dumps(evt)) == evt
        assert copy.copy(evt) == evt and copy.deepcopy(evt) == evt
        assert evt.json() == general.json()


def test_named_count_counts_named_events_in_every_path() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"event: a\ndata: 1\n\n")  # one event
    decoder.feed(b"".join(b"event: a\ndata: %d\n\n" % i for i in range(30)))  # in bulk
    decoder.feed(b"event:\ndata: x\n\ndata: y\n\n")  # an empty type is `message`: not named
    assert decoder.named_count == 31


# A one-field shape (`event`, `id` or `retry` then one data line): chunks of one or two whole
# events take a shortcut (`_one_field`) as long as the values are ones the field takes as they
# are; anything else (an ignored value, more lines, a comment, another shape) leaves it.
ONE_FIELD = {
    "event": ["progress", "progress", "", "message", "é", " spaced"],
    "id": ["1", "1", "42", "", "a\x00b", "req 7", "é"],
    "retry": ["3000", "3000", "3001", "007", "", "x", "\u0663", "1" * 4001, "0" * 4001 + "5", "12x"],
}


@st.composite
def one_field_streams(draw: st.DrawFn) -> tuple[list[bytes], int]:
    """A stream of one-field events whose value changes along the way (sometimes to one that is
    ignored), now and then another kind of event, cut into one event, two events, or any size
    a chunk; with how many events have an `event:` type."""
    field = draw(st.sampled_from(sorted(ONE_FIELD)))
    eol = draw(st.sampled_from(["\n", "\n", "\r\n", "\r"]))
    space = draw(st.sampled_from([" ", " ", ""]))
    values = ONE_FIELD[field]
    value = values[0]
    events: list[str] = []
    named = 0
    for index in range(draw(st.integers(1, 40))):
        if draw(st.integers(0, 5)) == 0:
            value = draw(st.sampled_from(values))
        other = draw(st.integers(0, 11))
        data = f"data:{space}{index}"
        if other == 0:
            data += f"\ndata:{space}more"  # two data lines
        elif other == 1:
            events.append(": keepalive\n\n")
        elif other == 2:
            data = ": t\n" + data  # a comment first
        elif other == 3:
            events.append(f"data: plain {index}\n\n")  # another shape
        elif other == 4:
            data += "\nid: late"  # a field after the data line
        lines = f"{field}:{space}{value}\n{data}\n\n"
        if field == "event" and value:
            named += 1
        events.append(lines)
    chunks = [event.replace("\n", eol).encode() for event in events]
    how = draw(st.sampled_from(["one", "two", "size"]))
    if how == "two":
        chunks = [b"".join(chunks[i:i + 2]) for i in range(0, len(chunks), 2)]
    elif how == "size":
        data_bytes = b"".join(chunks)
        size = draw(st.sampled_from([1, 5, 64, 300, 512]))
        chunks = [data_bytes[i:i + size] for i in range(0, len(data_bytes), size)]
    return chunks, named


@given(one_field_streams())
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_one_field_shapes_with_changing_values_equal_the_reference(case: tuple[list[bytes], int]) -> None:
    chunks, named = case
    _check_every_prefix(chunks)
    decoder = SSEDecoder()
    for chunk in chunks:
        decoder.feed(chunk)
    assert decoder.named_count == named


@pytest.mark.parametrize("field", sorted(ONE_FIELD))
@pytest.mark.parametrize("per_chunk", [1, 2, 3])
def test_one_field_shortcut_entered_and_left(field: str, per_chunk: int) -> None:
    # Every value of the field in turn, a few events each, then the runtime's plain frames (which
    # show the id and retry in force), then events with two fields; whole events per chunk, as
    # the shortcut sees them. Then every two values in one chunk, each pair followed by an event
    # whose value is ignored (it shows the id and retry in force).
    values = ONE_FIELD[field]
    frames = []
    for round_ in range(2):
        for value in values:
            frames += [f"{field}: {value}\ndata: {value[:8]} {i}\n\n" for i in range(3)]
            frames.append(RUNTIME.format(round_))
        frames += [RUNTIME.format(i) for i in range(5)]
        frames += [f"{field}: {values[0]}\nid: x{round_}\ndata: both\n\n"] * 3
    raw = [frame.encode() for frame in frames]
    chunks = [b"".join(raw[i:i + per_chunk]) for i in range(0, len(raw), per_chunk)]
    _check_every_prefix(chunks)
    ignored = {"event": "progress", "id": "a\x00b", "retry": "x"}[field]  # (shows what is in force)
    pairs = []
    for first, second in itertools.product(values, repeat=2):
        pairs.append(f"{field}: {first}\ndata: a\n\n{field}: {second}\ndata: b\n\n".encode())
        pairs.append(f"{field}: {ignored}\ndata: c\n\n".encode())
    pairs.append(RUNTIME.format(0).encode())
    _check_every_prefix(pairs)  # (nothing else in force)
    _check_every_prefix([b"id: 5\nretry: 9\n\n", *pairs])  # (the other field in force too)
