"""Property tests for the stream state machines: any chunking, same outcome, as the model says."""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Iterable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from muxi_proto.errors import MuxiError, StreamTruncatedError
from muxi_proto.sse import ServerSentEvent, format_comment, format_event
from muxi_proto.streams import (
    DEPLOYMENT_ERRORS,
    ChatAnswer,
    ChatStream,
    DeploymentStream,
    EventStream,
    LogStream,
    MuxiStream,
    chat_token,
    deployment_error,
    stream_error,
    ui_widgets,
)

# A frame is (event name or None, JSON payload); None stands for a keepalive comment.
Frame = tuple[str | None, object] | None

chat_frames = st.one_of(
    st.none(),
    st.tuples(st.none(), st.builds(lambda kind, text: {"token": {"type": kind, "content": text}},
                                   st.sampled_from(["progress", "thinking", "content", "content"]),
                                   st.text(max_size=8))),
    st.tuples(st.just("ui"), st.just({"ui": [{"type": "options"}]})),
    st.tuples(st.just("done"), st.just({"finished": True})),
    st.tuples(st.just("error"), st.builds(lambda m: {"error": m, "type": "E"}, st.text(max_size=8))),
)
deploy_frames = st.one_of(
    st.tuples(st.just("progress"), st.builds(lambda s: {"stage": s}, st.text(max_size=5))),
    st.tuples(st.just("complete"), st.just({"formation_id": "f", "port": 1})),
    st.tuples(st.just("error"), st.builds(lambda c: {"error": c, "message": "m", "stage": "s"},
                                          st.sampled_from([*DEPLOYMENT_ERRORS, "Other"]))),
)


def encode(frames: Iterable[Frame]) -> bytes:
    out = b""
    for item in frames:
        if item is None:
            out += format_comment("keepalive")
        else:
            name, payload = item
            out += format_event(json.dumps(payload), event=name)
    return out


def model(frames: list[Frame], terminal: str | None) -> tuple[list[str | None], str | None]:
    """Event names yielded, then the error kind: the error frame's, 'truncated', or None."""
    names: list[str | None] = []
    for item in frames:
        if item is None:
            continue
        name = item[0]
        if name == "error":
            return names, "error"
        names.append(name)
        if terminal is not None and name == terminal:
            return names, None
    return names, ("truncated" if terminal else None)


def run(stream: MuxiStream, chunks: list[bytes]) -> tuple[list[ServerSentEvent], MuxiError | None]:
    events: list[ServerSentEvent] = []
    try:
        for chunk in chunks:
            events += stream.feed(chunk)
            if stream.finished:
                break
        stream.eof()
    except MuxiError as exc:
        return events, exc
    return events, None


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def check(stream_type: type[MuxiStream], frames: list[Frame], cuts: list[int], terminal: str | None) -> None:
    raw = encode(frames)
    events, error = run(stream_type(), split_at(raw, [c % (len(raw) + 1) for c in cuts]))
    whole_events, whole_error = run(stream_type(), [raw])
    assert events == whole_events
    assert type(error) is type(whole_error)
    names, outcome = model(frames, terminal)
    assert [None if e.event == "message" else e.event for e in events] == names
    if outcome is None:
        assert error is None
    elif outcome == "truncated":
        assert isinstance(error, StreamTruncatedError)
    else:
        assert isinstance(error, MuxiError)
        assert not isinstance(error, StreamTruncatedError)


@given(st.lists(chat_frames, max_size=25), st.lists(st.integers(0, 10_000), max_size=10))
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_chat_stream_follows_the_model(frames: list[Frame], cuts: list[int]) -> None:
    check(ChatStream, frames, cuts, "done")


@given(st.lists(deploy_frames, max_size=15), st.lists(st.integers(0, 10_000), max_size=10))
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_deployment_stream_follows_the_model(frames: list[Frame], cuts: list[int]) -> None:
    check(DeploymentStream, frames, cuts, "complete")


@given(st.lists(st.one_of(chat_frames, deploy_frames), max_size=20),
       st.lists(st.integers(0, 10_000), max_size=8))
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_never_ending_streams_only_stop_at_errors(frames: list[Frame], cuts: list[int]) -> None:
    check(LogStream, frames, cuts, None)
    check(EventStream, frames, cuts, None)


def token_event(kind: str, content: str) -> ServerSentEvent:
    return ServerSentEvent("message", json.dumps({"token": {"type": kind, "content": content}}))


@given(st.lists(st.text(max_size=6), max_size=12), st.booleans(), st.booleans())
def test_answer_shows_the_final_text_unless_replaced(deltas: list[str], complete: bool, jump: bool) -> None:
    answer = ChatAnswer()
    shown = "".join(answer.add(token_event("content", delta)) for delta in deltas)
    streamed = "".join(deltas)
    assert shown == streamed == answer.text
    if complete:
        final = "?" + streamed if jump else streamed + "!"
        shown += answer.add(token_event("completed", final))
        assert answer.text == final
        assert answer.replaced is (jump and streamed != "")
        if not answer.replaced:
            assert shown == final


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)
token_like = st.one_of(
    json_values,
    st.dictionaries(st.sampled_from(["token", "ui", "error", "type", "message"]), json_values, max_size=3),
    st.builds(lambda t: {"token": t}, st.dictionaries(
        st.sampled_from(["type", "content", "request_id", "session_id", "user_id", "timestamp"]),
        json_values, max_size=6)),
)


@given(st.sampled_from(["message", "ui", "error", "done"]),
       st.one_of(token_like.map(json.dumps), st.text(max_size=20)))
def test_views_and_error_mapping_never_fail_untyped(name: str, data: str) -> None:
    # Whatever the server sends, the views answer or raise a MuxiError; nothing else escapes.
    evt = ServerSentEvent(name, data)
    for view in (chat_token, ui_widgets, ChatAnswer().add):
        with contextlib.suppress(MuxiError):
            view(evt)
    assert isinstance(stream_error(evt), MuxiError)
    assert isinstance(deployment_error(evt), MuxiError)


@given(st.dictionaries(st.sampled_from(["type", "content", "request_id", "session_id", "user_id"]),
                       st.text(max_size=6), max_size=5))
def test_chat_token_reads_the_fields_it_is_given(fields: dict[str, str]) -> None:
    tok = chat_token(ServerSentEvent("message", json.dumps({"token": fields})))
    assert tok is not None
    assert tok.type == (fields.get("type") or "content")
    assert tok.content == fields.get("content", "")
    assert tok.request_id == fields.get("request_id")
    assert tok.raw == fields
