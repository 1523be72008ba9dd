"""MUXI stream semantics: chat, deployment, log and event streams, and the chat views."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import aclosing
from pathlib import Path
from typing import Any

import pytest

from muxi_proto.errors import (
    ConflictError,
    LimitExceededError,
    MuxiError,
    NotFoundError,
    ServerError,
    StreamError,
    StreamTruncatedError,
    ValidationError,
)
from muxi_proto.sse import ServerSentEvent, format_comment, format_event
from muxi_proto.streams import (
    ChatAnswer,
    ChatStream,
    ChatToken,
    DeploymentStream,
    EventStream,
    LogStream,
    MuxiStream,
    chat_token,
    ui_widgets,
)

FIXTURES = Path(__file__).parent / "fixtures"
CAPTURES = sorted(FIXTURES.glob("*.sse"))


def drive(stream: MuxiStream, chunks: Iterable[bytes]) -> Iterator[ServerSentEvent]:
    """The client loop, exactly as the sync client runs it."""
    for chunk in chunks:
        yield from stream.feed(chunk)
        if stream.finished:
            break
    stream.eof()


def collect(stream: MuxiStream, chunks: Iterable[bytes]) -> tuple[list[ServerSentEvent], MuxiError | None]:
    events: list[ServerSentEvent] = []
    try:
        for evt in drive(stream, chunks):
            events.append(evt)
    except MuxiError as exc:
        return events, exc
    return events, None


def frame(payload: Any, event: str | None = None) -> bytes:
    return format_event(json.dumps(payload, separators=(",", ":")), event=event)


def token(kind: str, content: str, **extra: Any) -> bytes:
    return frame({"token": {"request_id": "req_1", "session_id": "s1", "user_id": "0", "type": kind,
                            "content": content, "timestamp": 1.5, **extra}})


DONE = frame({"finished": True}, event="done")
KEEPALIVE = format_comment("keepalive")


def bytewise(data: bytes) -> list[bytes]:
    return [data[i:i + 1] for i in range(len(data))]


# --- chat: real captures -------------------------------------------------------------------------


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_capture_chat_stream_ends_at_done(path: Path) -> None:
    raw = path.read_bytes()
    stream = ChatStream()
    events, error = collect(stream, [raw])
    assert error is None
    assert stream.finished
    assert stream.terminal_event is events[-1]
    assert events[-1] == {"event": "done", "data": '{"finished":true}'}
    tokens = [chat_token(e) for e in events[:-1]]
    assert all(isinstance(t, ChatToken) for t in tokens)
    assert collect(ChatStream(), bytewise(raw))[0] == events
    assert collect(ChatStream(), [raw[i:i + 4096] for i in range(0, len(raw), 4096)])[0] == events


def test_capture_answer_from_deltas() -> None:
    raw = (FIXTURES / "runtime-chat-stream.sse").read_bytes()
    answer = ChatAnswer()
    shown = [answer.add(evt) for evt in drive(ChatStream(), bytewise(raw))]
    assert [s for s in shown if s] == ["Hello", " from", " the fake", " model."]
    assert answer.text == "Hello from the fake model."
    assert answer.completed
    assert not answer.replaced
    assert answer.request_id == "req_0skYnZmrF9d3G2eP_0IIL"
    assert answer.session_id == "sess1"


def test_capture_answer_without_deltas_comes_whole_at_completed() -> None:
    raw = (FIXTURES / "runtime-chat-stream-3.sse").read_bytes()
    answer = ChatAnswer()
    shown = [s for s in (answer.add(evt) for evt in drive(ChatStream(), [raw])) if s]
    assert len(shown) == 1
    assert shown[0].startswith("I wasn't able to complete this request.")
    assert answer.text == shown[0]


def test_capture_token_types() -> None:
    raw = (FIXTURES / "runtime-chat-stream.sse").read_bytes()
    tokens = [t for t in map(chat_token, drive(ChatStream(), [raw])) if t]
    assert [t.type for t in tokens][:3] == ["progress", "thinking", "planning"]
    assert tokens[-1].type == "completed"
    assert tokens[-1].raw["status"] == "success"


# --- chat: frames --------------------------------------------------------------------------------


def test_keepalives_never_appear() -> None:
    events, error = collect(ChatStream(), [KEEPALIVE, KEEPALIVE, token("content", "a"), KEEPALIVE, DONE])
    assert error is None
    assert [e.event for e in events] == ["message", "done"]


def test_done_stops_and_later_data_is_ignored() -> None:
    stream = ChatStream()
    events = stream.feed(token("content", "a") + DONE + token("content", "late") + DONE)
    assert [e.event for e in events] == ["message", "done"]
    assert stream.finished
    assert stream.feed(token("content", "later")) == []
    stream.eof()  # no-op after the terminal event


def test_error_frame_raises_typed_error() -> None:
    stream = ChatStream()
    error_frame = frame({"error": "model exploded", "type": "RuntimeError"}, event="error")
    with pytest.raises(StreamError) as info:
        stream.feed(error_frame)
    assert info.value.code == "RuntimeError"
    assert info.value.message == "model exploded"
    assert info.value.details == {"error": "model exploded", "type": "RuntimeError"}
    assert stream.finished
    with pytest.raises(StreamError):
        stream.feed(b"")
    with pytest.raises(StreamError):
        stream.eof()


def test_error_frame_after_events_in_the_same_chunk_loses_nothing() -> None:
    stream = ChatStream()
    error_frame = frame({"error": "boom", "type": "X"}, event="error")
    chunk = token("content", "a") + token("content", "b") + error_frame
    events = stream.feed(chunk)
    assert [chat_token(e).content for e in events] == ["a", "b"]  # type: ignore[union-attr]
    assert stream.finished
    with pytest.raises(StreamError) as info:
        stream.eof()
    assert info.value.message == "boom"


def test_error_frame_reaches_the_client_loop() -> None:
    events, error = collect(ChatStream(), [token("content", "a"), frame({"error": "e"}, event="error")])
    assert len(events) == 1
    assert isinstance(error, StreamError)
    assert error.code == "STREAM_ERROR"
    assert error.message == "e"


def test_error_frame_keeps_the_request_id() -> None:
    error_frame = frame({"error": "x", "type": "T", "request_id": "req_9"}, event="error")
    _, error = collect(ChatStream(), [error_frame])
    assert isinstance(error, StreamError)
    assert error.request_id == "req_9"


def test_error_frame_that_is_not_json() -> None:
    _, error = collect(ChatStream(), [format_event("plain text failure", event="error")])
    assert isinstance(error, StreamError)
    assert error.message == "plain text failure"
    assert error.details == {"data": "plain text failure"}


def test_chat_without_done_is_truncated() -> None:
    events, error = collect(ChatStream(), [KEEPALIVE, token("content", "a")])
    assert len(events) == 1
    assert isinstance(error, StreamTruncatedError)
    assert error.details == {"kind": "chat", "in_event": False}
    assert "`done`" in error.message


def test_chat_cut_mid_event_says_so() -> None:
    _, error = collect(ChatStream(), [token("content", "a")[:-1]])
    assert isinstance(error, StreamTruncatedError)
    assert error.details["in_event"] is True
    assert "middle of an event" in error.message


def test_empty_chat_stream_is_truncated() -> None:
    _, error = collect(ChatStream(), [])
    assert isinstance(error, StreamTruncatedError)


def test_decoder_limit_surfaces_through_the_stream() -> None:
    stream = ChatStream(max_size=64)
    assert stream.decoder.max_size == 64
    events, error = collect(stream, [b"data: " + b"x" * 100])
    assert events == []
    assert isinstance(error, LimitExceededError)


def test_decoder_limit_after_events_is_raised_at_eof() -> None:
    stream = ChatStream(max_size=300)
    events = stream.feed(token("content", "a") + b"data: " + b"x" * 400)
    assert len(events) == 1
    with pytest.raises(LimitExceededError):
        stream.eof()


# --- chat views ----------------------------------------------------------------------------------


def test_chat_token_fields() -> None:
    [evt] = ChatStream().feed(token("content", "Hi", stage="response_generation"))
    tok = chat_token(evt)
    assert tok == ChatToken("content", "Hi", "req_1", "s1", "0", 1.5)
    assert tok is not None
    assert tok.raw["stage"] == "response_generation"
    assert not tok.discontinuity


def test_chat_token_tolerates_a_string_token() -> None:
    [evt] = ChatStream().feed(frame({"token": "Hi"}))
    tok = chat_token(evt)
    assert tok is not None
    assert (tok.type, tok.content, tok.request_id) == ("content", "Hi", None)


def test_chat_token_is_none_for_other_frames() -> None:
    assert chat_token(ServerSentEvent("done", '{"finished":true}')) is None
    assert chat_token(ServerSentEvent("message", '{"other": 1}')) is None
    assert chat_token(ServerSentEvent("message", "[1, 2]")) is None


def test_chat_token_errors_are_typed() -> None:
    with pytest.raises(StreamError) as info:
        chat_token(ServerSentEvent("message", "{not json"))
    assert info.value.code == "INVALID_JSON"
    with pytest.raises(StreamError) as info:
        chat_token(ServerSentEvent("message", '{"token": 5}'))
    assert info.value.code == "INVALID_TOKEN"


def test_chat_token_odd_fields_are_normalised() -> None:
    data = '{"token": {"content": null, "timestamp": "x", "request_id": 7}}'
    tok = chat_token(ServerSentEvent("message", data))
    assert tok is not None
    assert (tok.type, tok.content, tok.timestamp, tok.request_id) == ("content", "", None, "7")


def test_ui_widgets() -> None:
    widgets = [{"type": "options", "options": ["a", "b"]}, {"type": "future-widget"}]
    [evt] = ChatStream().feed(frame({"ui": widgets}, event="ui"))
    assert ui_widgets(evt) == widgets
    assert ui_widgets(ServerSentEvent("message", "{}")) == []
    assert ui_widgets(ServerSentEvent("ui", "{}")) == []


@pytest.mark.parametrize("data", ["not json", '{"ui": {}}', '{"ui": [1]}', "[]"])
def test_malformed_ui_frame_is_a_typed_error(data: str) -> None:
    with pytest.raises(StreamError):
        ui_widgets(ServerSentEvent("ui", data))


def test_answer_discontinuity_replaces_the_deltas() -> None:
    answer = ChatAnswer()
    delta = {"token": {"type": "content", "content": "Helo"}}
    assert answer.add(ServerSentEvent("message", json.dumps(delta))) == "Helo"
    completed = {"token": {"type": "completed", "content": "Hello there", "stream_discontinuity": True}}
    assert answer.add(ServerSentEvent("message", json.dumps(completed))) == ""
    assert answer.replaced
    assert answer.text == "Hello there"
    assert answer.streamed == "Helo"


def test_answer_completed_that_does_not_extend_the_deltas_is_a_replacement() -> None:
    answer = ChatAnswer()
    answer.add(ServerSentEvent("message", '{"token": {"type": "content", "content": "abc"}}'))
    answer.add(ServerSentEvent("message", '{"token": {"type": "completed", "content": "xyz"}}'))
    assert answer.replaced
    assert answer.text == "xyz"


def test_answer_completed_fills_in_a_missing_tail() -> None:
    answer = ChatAnswer()
    answer.add(ServerSentEvent("message", '{"token": {"type": "content", "content": "Hel"}}'))
    tail = answer.add(ServerSentEvent("message", '{"token": {"type": "completed", "content": "Hello"}}'))
    assert tail == "lo"
    assert answer.streamed == answer.text == "Hello"
    # Deltas after the final answer are not shown.
    assert answer.add(ServerSentEvent("message", '{"token": {"type": "content", "content": "!"}}')) == ""


def test_answer_ignores_progress_and_collects_ui() -> None:
    answer = ChatAnswer()
    assert answer.add(ServerSentEvent("message", '{"token": {"type": "thinking", "content": "hmm"}}')) == ""
    assert answer.add(ServerSentEvent("ui", '{"ui": [{"type": "options"}]}')) == ""
    assert answer.add(ServerSentEvent("done", '{"finished": true}')) == ""
    assert answer.ui == [{"type": "options"}]
    assert answer.text == ""
    assert not answer.completed


@pytest.mark.parametrize("kind", ["failed", "cancelled"])
def test_answer_raises_on_failed_or_cancelled(kind: str) -> None:
    answer = ChatAnswer()
    with pytest.raises(StreamError) as info:
        answer.add(ServerSentEvent("message", json.dumps({"token": {"type": kind, "content": "nope",
                                                                     "request_id": "r9"}})))
    assert info.value.code == f"CHAT_{kind.upper()}"
    assert info.value.message == "nope"
    assert info.value.request_id == "r9"


# --- deployment ----------------------------------------------------------------------------------


def progress(stage: str) -> bytes:
    return frame({"stage": stage, "message": f"{stage}..."}, event="progress")


def test_deployment_ends_at_complete() -> None:
    complete = frame({"formation_id": "f1", "port": 8001, "status": "running"}, event="complete")
    stream = DeploymentStream()
    raw = progress("extract") + progress("start") + complete + progress("x")
    events, error = collect(stream, bytewise(raw))
    assert error is None
    assert [e.event for e in events] == ["progress", "progress", "complete"]
    assert stream.terminal_event is not None
    assert stream.terminal_event.json()["port"] == 8001


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("NotFound", NotFoundError),
        ("AlreadyRunning", ConflictError),
        ("FormationExists", ConflictError),
        ("NoChange", ConflictError),
        ("VersionMismatch", ValidationError),
        ("IDMismatch", ValidationError),
        ("MissingHeader", ValidationError),
        ("InvalidFormationID", ValidationError),
        ("HealthCheckFailed", ServerError),
        ("SomethingNew", ServerError),
    ],
)
def test_deployment_error_mapping(code: str, cls: type[MuxiError]) -> None:
    payload = {"error": code, "message": "it failed", "stage": "health_check", "details": {"port": 1}}
    events, error = collect(DeploymentStream(), [progress("start") + frame(payload, event="error")])
    assert [e.event for e in events] == ["progress"]
    assert type(error) is cls
    assert error.code == code
    assert error.message == "it failed"
    assert error.details == payload
    assert error.status_code == 0


def test_deployment_error_first_in_stream_raises_from_feed() -> None:
    # start/restart/rollback answer 200 and then an error event, even for an unknown formation.
    stream = DeploymentStream()
    with pytest.raises(NotFoundError):
        stream.feed(frame({"error": "NotFound", "message": "formation x not found", "stage": "lookup"},
                          event="error"))


def test_deployment_error_that_is_not_json() -> None:
    _, error = collect(DeploymentStream(), [format_event("bad gateway", event="error")])
    assert type(error) is ServerError
    assert error.details == {"data": "bad gateway"}


def test_deployment_without_terminal_event_is_truncated() -> None:
    _, error = collect(DeploymentStream(), [progress("pull")])
    assert isinstance(error, StreamTruncatedError)
    assert "`complete`" in error.message


# --- never-ending kinds --------------------------------------------------------------------------


def test_log_stream_never_finishes_and_eof_is_fine() -> None:
    connected = frame({"formation_id": "f1"}, event="connected")
    logs = [frame({"line": f"line {i}", "formation_id": "f1"}, event="log") for i in range(3)]
    stream = LogStream()
    events, error = collect(stream, [connected, *logs])
    assert error is None
    assert not stream.finished
    assert [e.event for e in events] == ["connected", "log", "log", "log"]
    assert events[1].json()["line"] == "line 0"


def test_log_stream_error_frame_raises() -> None:
    _, error = collect(LogStream(), [frame({"error": "filter rejected"}, event="error")])
    assert isinstance(error, StreamError)
    assert error.message == "filter rejected"


def test_event_stream_passes_unnamed_frames() -> None:
    stream = EventStream()
    events, error = collect(stream, [frame({"n": 1}), KEEPALIVE, frame({"n": 2})[:5]])
    assert error is None
    assert [e.json() for e in events] == [{"n": 1}]
    assert not stream.finished


# --- one loop shape for sync and async -----------------------------------------------------------


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def achunks(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def adrive(stream: MuxiStream, chunks: list[bytes]) -> AsyncIterator[ServerSentEvent]:
    """The async client loop: the same state machine, `async for` instead of `for`."""
    async with aclosing(achunks(chunks)) as body:
        async for chunk in body:
            for evt in stream.feed(chunk):
                yield evt
            if stream.finished:
                break
    stream.eof()


@pytest.mark.anyio
async def test_async_loop_gives_the_same_answer(anyio_backend: str) -> None:
    raw = (FIXTURES / "runtime-chat-stream-2.sse").read_bytes()
    chunks = [raw[i:i + 7] for i in range(0, len(raw), 7)]
    answer = ChatAnswer()
    async for evt in adrive(ChatStream(), chunks):
        answer.add(evt)
    sync_answer = ChatAnswer()
    for evt in drive(ChatStream(), chunks):
        sync_answer.add(evt)
    assert answer.text == sync_answer.text != ""


@pytest.mark.anyio
async def test_async_loop_raises_truncation(anyio_backend: str) -> None:
    with pytest.raises(StreamTruncatedError):
        async for _ in adrive(ChatStream(), [token("content", "a")]):
            pass
