"""SSEDecoder, ServerSentEvent and the encoder: one test per rule of the WHATWG algorithm."""

from __future__ import annotations

import pickle
import tracemalloc
from pathlib import Path

import pytest

from muxi_proto.errors import ConfigurationError, LimitExceededError, StreamError
from muxi_proto.sse import ServerSentEvent, SSEDecoder, format_comment, format_event

FIXTURES = Path(__file__).parent / "fixtures"


def decode(*chunks: bytes, max_size: int | None = None) -> list[ServerSentEvent]:
    decoder = SSEDecoder() if max_size is None else SSEDecoder(max_size=max_size)
    events: list[ServerSentEvent] = []
    for chunk in chunks:
        events += decoder.feed(chunk)
    decoder.end()
    return events


def datas(*chunks: bytes) -> list[str]:
    return [evt.data for evt in decode(*chunks)]


# --- dispatch ------------------------------------------------------------------------------------


def test_single_event_defaults() -> None:
    [evt] = decode(b"data: hello\n\n")
    assert (evt.event, evt.data, evt.id, evt.retry) == ("message", "hello", "", None)


def test_named_event_and_multi_line_data() -> None:
    [evt] = decode(b"event: ui\ndata: one\ndata: two\n\n")
    assert evt.event == "ui"
    assert evt.data == "one\ntwo"


def test_only_the_final_lf_of_the_data_is_removed() -> None:
    assert datas(b"data\ndata\n\n") == ["\n"]
    assert datas(b"data: a\ndata\n\n") == ["a\n"]


def test_empty_data_field_still_dispatches() -> None:
    assert datas(b"data\n\n", b"data:\n\n") == ["", ""]


def test_blank_line_without_data_dispatches_nothing_and_resets_the_type() -> None:
    events = decode(b"event: ping\n\ndata: x\n\n")
    assert [(e.event, e.data) for e in events] == [("message", "x")]


def test_event_with_empty_value_resets_to_default() -> None:
    [evt] = decode(b"event: foo\nevent\ndata: x\n\n")
    assert evt.event == "message"
    [evt] = decode(b"event: foo\nevent:\ndata: x\n\n")
    assert evt.event == "message"


def test_incomplete_event_at_end_is_not_dispatched() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n\ndata: b\n") == [ServerSentEvent("message", "a")]
    assert decoder.in_event
    decoder.end()
    assert decoder.ended


def test_final_line_without_line_end_is_not_dispatched() -> None:
    assert datas(b"data: a\n\ndata: b") == ["a"]


@pytest.mark.parametrize(
    ("stream", "in_event"),
    [
        (b"", False),
        (b"data: a\n\n", False),
        (b"data: a\n\n\n\n", False),
        (b"data: a\n", True),  # a field line, no blank line yet
        (b"data: a", True),  # half a line
        (b": keepalive\n", True),  # even a comment: the blank line is missing
        (b"event: x\n\n", False),
        (b"\xef\xbb", True),  # a partial BOM that may never complete
        (b"\xef\xbb\xbf", False),
        (b"data: a\r", True),
        (b"data: a\r\r", False),
    ],
)
def test_in_event_tells_whether_end_of_input_cuts_an_event(stream: bytes, in_event: bool) -> None:
    decoder = SSEDecoder()
    decoder.feed(stream)
    assert decoder.in_event is in_event


# --- field parsing -------------------------------------------------------------------------------


def test_comments_are_ignored() -> None:
    assert datas(b": keepalive\n\n:\n\ndata: x\n: inside\n\n") == ["x"]


def test_line_without_colon_is_a_field_name_with_empty_value() -> None:
    assert datas(b"data\n\n") == [""]
    [evt] = decode(b"event\ndata: x\n\n")
    assert evt.event == "message"


def test_only_one_leading_space_is_removed() -> None:
    assert datas(b"data:x\n\n", b"data: x\n\n", b"data:  x\n\n", b"data:\tx\n\n") == ["x", "x", " x", "\tx"]


def test_value_keeps_later_colons() -> None:
    assert datas(b'data: {"a": "b:c"}\n\n') == ['{"a": "b:c"}']


def test_unknown_and_miscased_fields_are_ignored() -> None:
    assert datas(b"Data: no\nfoo: bar\ndata : no\ndata: yes\n\n") == ["yes"]


def test_nul_is_kept_in_data() -> None:
    assert datas(b"data: a\x00b\n\n") == ["a\x00b"]


def test_id_sets_the_last_event_id_and_persists() -> None:
    decoder = SSEDecoder()
    events = decoder.feed(b"id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\n")
    assert [e.id for e in events] == ["1", "1", ""]
    assert decoder.last_event_id == ""


def test_id_with_nul_is_ignored() -> None:
    decoder = SSEDecoder()
    [evt] = decoder.feed(b"id: 7\n\nid: 8\x009\ndata: x\n\n")
    assert evt.id == "7"
    assert decoder.last_event_id == "7"


def test_last_event_id_changes_at_a_blank_line_even_without_data() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"id: 5\n")
    assert decoder.last_event_id == ""  # not yet: the blank line makes it current
    decoder.feed(b"\n")
    assert decoder.last_event_id == "5"
    [evt] = decoder.feed(b"data: later\n\n")
    assert evt.id == "5"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"retry: 3000", 3000),
        (b"retry:0", 0),
        (b"retry: 007", 7),
        (b"retry: 10a", None),
        (b"retry: -1", None),
        (b"retry: 1.5", None),
        (b"retry:", None),
        (b"retry:  5", None),  # the second space is part of the value
        ("retry: \uff15".encode(), None),  # a full-width digit is not an ASCII digit
        (b"retry: \xd9\xa3", None),  # ARABIC-INDIC DIGIT THREE
    ],
)
def test_retry_only_if_ascii_digits(line: bytes, expected: int | None) -> None:
    decoder = SSEDecoder()
    decoder.feed(line + b"\n\n")
    assert decoder.retry == expected


def test_retry_in_force_is_on_later_events_and_invalid_values_keep_it() -> None:
    decoder = SSEDecoder()
    events = decoder.feed(b"retry: 100\n\ndata: a\n\nretry: nope\ndata: b\n\n")
    assert [e.retry for e in events] == [100, 100]
    assert decoder.retry == 100


def test_absurdly_long_retry_is_ignored_not_crashing() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"retry: " + b"9" * 5000 + b"\n\n")
    assert decoder.retry is None
    decoder.feed(b"retry: " + b"0" * 5000 + b"12\n\n")
    assert decoder.retry == 12


# --- line ends -----------------------------------------------------------------------------------


@pytest.mark.parametrize("eol", [b"\n", b"\r", b"\r\n"])
def test_each_line_end(eol: bytes) -> None:
    assert datas(b"data: a" + eol + b"data: b" + eol + eol + b"data: c" + eol + eol) == ["a\nb", "c"]


def test_mixed_line_ends() -> None:
    assert datas(b"data: a\r\ndata: b\rdata: c\n\r\ndata: d\r\r") == ["a\nb\nc", "d"]


def test_crlf_split_across_chunks_is_one_line_end() -> None:
    # Were the split CRLF two line ends, the LF would be a blank line and dispatch "a" alone.
    assert datas(b"data: a\r", b"\ndata: b\r\n\r\n") == ["a\nb"]
    assert datas(b"data: a\r", b"\n", b"\r", b"\n") == ["a"]


def test_cr_then_cr_in_the_next_chunk_is_two_line_ends() -> None:
    assert datas(b"data: a\r", b"\rdata: b\n\n") == ["a", "b"]


def test_other_unicode_line_breaks_are_not_line_ends() -> None:
    text = "data: a\x0bb\x0cc\x1cd\x85e\u2028f\u2029g\n\n"
    assert datas(text.encode()) == [text[6:-2]]


# --- bytes, UTF-8 and the byte order mark --------------------------------------------------------


def test_multibyte_characters_split_across_chunks() -> None:
    payload = "data: é€😀\n\n".encode()
    assert datas(*[payload[i:i + 1] for i in range(len(payload))]) == ["é€😀"]


def test_invalid_utf8_becomes_replacement_characters() -> None:
    assert datas(b"data: a\xffb\xe2\x82\n\n") == ["a\ufffdb\ufffd"]


def test_one_leading_bom_is_stripped() -> None:
    assert datas(b"\xef\xbb\xbfdata: x\n\n") == ["x"]


def test_only_one_bom_is_stripped() -> None:
    # With the second BOM kept, the first line's field name is "\ufeffdata": unknown, ignored.
    assert datas(b"\xef\xbb\xbf\xef\xbb\xbfdata: 1\n\ndata: 2\n\n") == ["2"]


def test_bom_split_across_chunks() -> None:
    assert datas(b"\xef", b"\xbb", b"\xbf", b"data: x\n\n") == ["x"]
    assert datas(b"\xef\xbb", b"\xbfdata: x\n\n") == ["x"]


def test_bom_prefix_that_is_not_a_bom_is_data() -> None:
    assert datas(b"\xef", b"\xbb", b"data: x\n\n") == []  # the first line's field is "\ufffddata"
    assert datas(b"\n\xef\xbb\xbfdata: x\n\n") == []  # a BOM after the start is not stripped


def test_bom_inside_data_is_kept() -> None:
    assert datas("data: \ufeffx\n\n".encode()) == ["\ufeffx"]


def test_accepts_bytearray_and_memoryview() -> None:
    decoder = SSEDecoder()
    assert [e.data for e in decoder.feed(bytearray(b"data: a\n\n"))] == ["a"]
    assert [e.data for e in decoder.feed(memoryview(b"data: b\n\n"))] == ["b"]


def test_empty_chunks_change_nothing() -> None:
    assert datas(b"", b"data: a", b"", b"\n", b"", b"\n", b"") == ["a"]


# --- limits --------------------------------------------------------------------------------------


def test_default_limit_is_16_mib() -> None:
    assert SSEDecoder().max_size == 16 * 1024 * 1024


def test_max_size_must_be_positive() -> None:
    with pytest.raises(ConfigurationError):
        SSEDecoder(max_size=0)


def test_line_longer_than_limit_in_one_chunk_raises() -> None:
    decoder = SSEDecoder(max_size=10)
    with pytest.raises(LimitExceededError) as info:
        decoder.feed(b"data: 0123456789\n\n")
    assert info.value.details == {"limit": 10, "what": "line"}


def test_line_at_the_limit_is_fine() -> None:
    assert decode(b"data: 1234\n\n", max_size=10) == [ServerSentEvent("message", "1234")]


def test_growing_line_raises_as_soon_as_it_passes_the_limit() -> None:
    decoder = SSEDecoder(max_size=16)
    for byte in b"data: 0123456789":  # 16 bytes: still within the limit
        decoder.feed(bytes([byte]))
    with pytest.raises(LimitExceededError):
        decoder.feed(b"x")
    # The error sticks: the stream cannot resynchronise after dropping part of a line.
    with pytest.raises(LimitExceededError):
        decoder.feed(b"\n\n")
    with pytest.raises(LimitExceededError):
        decoder.end()


def test_event_data_over_limit_raises() -> None:
    decoder = SSEDecoder(max_size=12)
    decoder.feed(b"data: 12345\n")
    decoder.feed(b"data: 123456\n")  # every line fits, and "12345\n123456" is 12 characters
    with pytest.raises(LimitExceededError) as info:
        decoder.feed(b"data\n")  # one more LF is too much
    assert info.value.details["what"] == "event"


def test_events_before_the_limit_error_are_returned_first() -> None:
    decoder = SSEDecoder(max_size=10)
    events = decoder.feed(b"data: a\n\ndata: b\n\ndata: far too long\n\n")
    assert [e.data for e in events] == ["a", "b"]
    with pytest.raises(LimitExceededError):
        decoder.feed(b"data: c\n\n")


def test_long_region_of_short_lines_is_fine() -> None:
    # A chunk larger than the limit takes the checked path; short lines in it pass.
    stream = b"data: 12\n\n" * 50
    assert len(decode(stream, max_size=12)) == 50


def test_memory_stays_flat_on_an_endless_stream() -> None:
    frame = b'data: {"token":{"type":"content","content":"word"}}\n\n: keepalive\n\n'
    stream = frame * 2000
    chunks = [stream[i:i + 4093] for i in range(0, len(stream), 4093)]  # cuts land mid-line
    decoder = SSEDecoder()
    tracemalloc.start()
    try:
        for chunk in chunks:
            decoder.feed(chunk)
        baseline, _ = tracemalloc.get_traced_memory()
        for _ in range(10):  # ten times more events, all dropped by the caller
            for chunk in chunks:
                decoder.feed(chunk)
        current, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert current - baseline < 64 * 1024


def test_feed_after_end_is_an_error() -> None:
    decoder = SSEDecoder()
    decoder.end()
    with pytest.raises(StreamError):
        decoder.feed(b"data: x\n\n")


# --- ServerSentEvent -----------------------------------------------------------------------------


def test_event_reads_like_the_official_sdk_dict() -> None:
    evt = ServerSentEvent("done", '{"finished":true}')
    assert evt["event"] == "done"
    assert evt["data"] == '{"finished":true}'
    assert evt.get("event") == "done"
    assert evt.get("id") is None
    assert evt.get("missing", 1) == 1
    assert "data" in evt
    assert "id" not in evt
    assert dict(evt) == {"event": "done", "data": '{"finished":true}'}
    assert evt == {"event": "done", "data": '{"finished":true}'}
    assert evt == {"event": "done", "data": '{"finished":true}'}
    assert evt != {"event": "done"}
    assert len(evt) == 2
    assert list(evt) == ["event", "data"]
    with pytest.raises(KeyError):
        evt["id"]


def test_event_with_id_and_retry_shows_them_as_keys() -> None:
    evt = ServerSentEvent("message", "x", "42", 1000)
    assert dict(evt) == {"event": "message", "data": "x", "id": "42", "retry": 1000}
    assert evt["id"] == "42"
    assert evt["retry"] == 1000
    assert evt.to_dict() == dict(evt)
    assert dict(ServerSentEvent("message", "x", retry=5)) == {"event": "message", "data": "x", "retry": 5}


def test_event_equality_and_hashing() -> None:
    assert ServerSentEvent("a", "b", "c", 1) == ServerSentEvent("a", "b", "c", 1)
    assert ServerSentEvent("a", "b", "c", 1) != ServerSentEvent("a", "b", "c", 2)
    assert ServerSentEvent("a", "b") != "a"
    with pytest.raises(TypeError):
        hash(ServerSentEvent("a", "b"))


def test_json_is_decoded_once_and_cached() -> None:
    evt = ServerSentEvent("message", '{"token": {"type": "content"}}')
    first = evt.json()
    assert first == {"token": {"type": "content"}}
    assert evt.json() is first


def test_json_null_is_cached_too() -> None:
    evt = ServerSentEvent("message", "null")
    assert evt.json() is None
    assert evt.json() is None


def test_json_error_is_typed() -> None:
    evt = ServerSentEvent("progress", "not json")
    with pytest.raises(StreamError) as info:
        evt.json()
    assert info.value.code == "INVALID_JSON"
    assert info.value.details["event"] == "progress"
    assert "progress" in info.value.message


def test_repr_is_short() -> None:
    evt = ServerSentEvent("message", "x" * 10_000, "7")
    text = repr(evt)
    assert len(text) < 200
    assert "id='7'" in text


def test_event_pickles() -> None:
    evt = ServerSentEvent("ui", "[]", "1", 2)
    assert pickle.loads(pickle.dumps(evt)) == evt


# --- encoder -------------------------------------------------------------------------------------


def test_format_event_minimal() -> None:
    assert format_event("hello") == b"data: hello\n\n"


def test_format_event_all_fields() -> None:
    assert format_event("a\nb", event="ui", id="9", retry=500) == (
        b"event: ui\nid: 9\nretry: 500\ndata: a\ndata: b\n\n"
    )


def test_format_event_line_ends_in_data_become_data_lines() -> None:
    assert format_event("a\r\nb\rc\n") == b"data: a\ndata: b\ndata: c\ndata: \n\n"
    [evt] = decode(format_event("a\r\nb\rc\n"))
    assert evt.data == "a\nb\nc\n"


def test_format_event_keeps_leading_space() -> None:
    [evt] = decode(format_event(" x", event=" y"))
    assert (evt.event, evt.data) == (" y", " x")


def test_format_event_empty_data_dispatches() -> None:
    assert decode(format_event("")) == [ServerSentEvent("message", "")]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"event": "a\nb"},
        {"event": "a\rb"},
        {"id": "1\n"},
        {"id": "1\x00"},
        {"retry": -1},
        {"retry": 1.5},
        {"retry": True},
    ],
)
def test_format_event_rejects_bad_fields(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        format_event("x", **kwargs)  # type: ignore[arg-type]


def test_format_event_rejects_lone_surrogates() -> None:
    with pytest.raises(ConfigurationError):
        format_event("\ud800")


def test_format_comment() -> None:
    assert format_comment("keepalive") == b": keepalive\n\n"
    assert format_comment() == b":\n\n"
    assert decode(format_comment("keepalive") + format_event("x")) == [ServerSentEvent("message", "x")]
    with pytest.raises(ConfigurationError):
        format_comment("a\nb")


# --- real captures -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.sse")))
def test_real_captures_decode_whole_and_byte_by_byte(name: str) -> None:
    raw = (FIXTURES / name).read_bytes()
    whole = decode(raw)
    assert whole, "a capture has events"
    assert whole[-1] == {"event": "done", "data": '{"finished":true}'}
    assert all(e.event == "message" for e in whole[:-1])
    assert all("token" in e.json() for e in whole[:-1])
    assert decode(*[raw[i:i + 1] for i in range(len(raw))]) == whole
    assert decode(*[raw[i:i + 4096] for i in range(0, len(raw), 4096)]) == whole
    assert decode(raw.replace(b"\n", b"\r\n")) == whole
