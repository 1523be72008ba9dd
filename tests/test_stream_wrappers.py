"""The client's Stream / AsyncStream wrappers: events handed over in bulk, errors and closing kept exact."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from muxi_proto.config import FormationConfig
from muxi_proto.errors import StreamError, StreamTruncatedError
from muxi_transports import (
    AsyncFormationClient,
    AsyncMockTransport,
    FormationClient,
    MockTransport,
    StreamingResponse,
)

SSE_H = (("Content-Type", "text/event-stream"),)
TOKEN = b'data: {"token":{"type":"content","content":"t%d"}}\n\n'
DONE = b'event: done\ndata: {"finished":true}\n\n'
ERROR = b'event: error\ndata: {"error":"model exploded","type":"LLMError"}\n\n'


def tokens(n: int) -> bytes:
    return b"".join(TOKEN % i for i in range(n))


def sync_client(*chunks: bytes) -> tuple[FormationClient, MockTransport]:
    t = MockTransport(lambda r: StreamingResponse(200, SSE_H, list(chunks)))
    return FormationClient(FormationConfig(url="http://h", client_key="ck"), transport=t), t


def async_client(*chunks: bytes) -> tuple[AsyncFormationClient, AsyncMockTransport]:
    t = AsyncMockTransport(lambda r: StreamingResponse(200, SSE_H, list(chunks)))
    return AsyncFormationClient(FormationConfig(url="http://h", client_key="ck"), transport=t), t


def test_error_frame_after_events_of_the_same_chunk_is_raised_after_them() -> None:
    client, t = sync_client(tokens(3) + ERROR + tokens(2))
    stream = client.chat_stream({"message": "hi"})
    got = []
    with pytest.raises(StreamError) as info:
        for evt in stream:
            got.append(evt.data)
    assert len(got) == 3
    assert info.value.code == "LLMError"
    assert t.open_responses == 0
    assert list(stream) == []  # a failed stream stays ended


def test_many_events_per_chunk_arrive_in_order_and_the_stream_stops_at_done() -> None:
    client, t = sync_client(tokens(50) + DONE[:7], DONE[7:] + tokens(5))
    events = list(client.chat_stream({"message": "hi"}))
    assert [e.json()["token"]["content"] for e in events[:-1]] == [f"t{i}" for i in range(50)]
    assert events[-1].event == "done"
    assert t.open_responses == 0


def test_next_and_iter_share_one_position() -> None:
    client, _ = sync_client(tokens(4) + DONE)
    stream = client.chat_stream({"message": "hi"})
    first = next(stream)
    rest = list(stream)
    assert first.json()["token"]["content"] == "t0"
    assert [e.event for e in rest] == ["message"] * 3 + ["done"]
    with pytest.raises(StopIteration):
        next(stream)


def test_close_in_the_middle_of_a_chunk_releases_the_connection() -> None:
    def endless() -> Iterator[bytes]:
        while True:
            yield tokens(10)

    t = MockTransport(lambda r: StreamingResponse(200, SSE_H, endless()))
    client = FormationClient(FormationConfig(url="http://h", client_key="ck"), transport=t)
    stream = client.chat_stream({"message": "hi"})
    for index, _ in enumerate(stream):
        if index == 14:
            break
    assert t.open_responses == 1
    stream.close()
    assert t.open_responses == 0
    assert list(stream) == []


def test_truncation_after_bulk_events() -> None:
    client, t = sync_client(tokens(30))
    stream = client.chat_stream({"message": "hi"})
    with pytest.raises(StreamTruncatedError):
        for _ in stream:
            pass
    assert t.open_responses == 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 400), max_size=8), st.integers(0, 20), st.booleans())
def test_any_chunking_gives_the_same_events_as_one_chunk(cuts: list[int], n: int, error: bool) -> None:
    body = tokens(n) + (ERROR if error else DONE)
    bounds = [0, *sorted(c for c in cuts if c < len(body)), len(body)]
    chunks = [body[a:b] for a, b in itertools.pairwise(bounds)]

    def outcome(*parts: bytes) -> tuple[list[str], str | None]:
        client, t = sync_client(*parts)
        seen: list[str] = []
        failure = None
        try:
            for evt in client.chat_stream({"message": "hi"}):
                seen.append(evt.data)
        except StreamError as exc:
            failure = exc.code
        assert t.open_responses == 0
        return seen, failure

    assert outcome(*chunks) == outcome(body)
    assert outcome(body)[1] == ("LLMError" if error else None)


@pytest.mark.anyio
async def test_async_error_frame_after_events_of_the_same_chunk_is_raised_after_them() -> None:
    client, t = async_client(tokens(3) + ERROR)
    stream = await client.chat_stream({"message": "hi"})
    got = []
    with pytest.raises(StreamError) as info:
        async for evt in stream:
            got.append(evt.data)
    assert len(got) == 3
    assert info.value.code == "LLMError"
    assert t.open_responses == 0


@pytest.mark.anyio
async def test_async_many_events_per_chunk_then_close() -> None:
    client, t = async_client(tokens(40) + DONE)
    stream = await client.chat_stream({"message": "hi"})
    seen = [evt async for evt in stream]
    assert len(seen) == 41 and seen[-1].event == "done"
    assert t.open_responses == 0
    client2, t2 = async_client(tokens(40), tokens(40) + DONE)
    stream2 = await client2.chat_stream({"message": "hi"})
    async with stream2:
        for _ in range(45):
            await stream2.__anext__()
    assert t2.open_responses == 0
