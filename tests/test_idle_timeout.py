"""The opt-in stream idle timeout against a real local server: it fires on silence, never on a slow
stream that keeps sending bytes, on every transport (blocking, asyncio, trio)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import TransportCase

from muxi_proto import FormationAPI, Timeout
from muxi_proto.errors import TimeoutError
from muxi_testing import LocalMuxiServer
from muxi_transports import AsyncFormationClient, FormationClient, HTTPCoreTransport, SocketTransport, Transport


@pytest.fixture(scope="module")
def server() -> Iterator[LocalMuxiServer]:
    with LocalMuxiServer() as srv:
        yield srv


@pytest.fixture
def held(server: LocalMuxiServer) -> Iterator[LocalMuxiServer]:
    server.hold_streams()  # streams send their opening keepalives, then nothing until released
    try:
        yield server
    finally:
        server.release_streams()


SYNC = [HTTPCoreTransport, SocketTransport]


@pytest.mark.parametrize("transport_class", SYNC, ids=lambda c: c.__name__)
def test_silence_trips_the_idle_timeout(held: LocalMuxiServer, transport_class: type[Transport]) -> None:
    with transport_class() as transport, FormationClient(held.formation_config(), transport=transport) as client:
        stream = client.chat_stream({"message": "hi"}, user_id="u", idle_timeout=0.3)
        with pytest.raises(TimeoutError) as info:
            list(stream)
        assert info.value.details.get("phase") == "read"


@pytest.mark.parametrize("transport_class", SYNC, ids=lambda c: c.__name__)
def test_a_slow_stream_that_keeps_sending_is_not_cut(server: LocalMuxiServer, transport_class: type[Transport]) -> None:
    server.token_delay = 0.05  # each frame within the idle limit; the whole stream takes longer than it
    try:
        with transport_class() as transport, FormationClient(server.formation_config(), transport=transport) as c:
            stream = c.chat_stream({"message": "one two three four five six seven eight"}, user_id="u",
                                   idle_timeout=0.25)
            events = list(stream)
        assert events[-1].event == "done" and len(events) > 8
    finally:
        server.token_delay = 0.0


def test_no_idle_timeout_unless_asked(server: LocalMuxiServer) -> None:
    cfg = server.formation_config(timeout=Timeout.of(5, total=9))
    assert FormationAPI.chat_stream.prepare(cfg, {"message": "x"}).start().request.timeout == Timeout(5, None, 5, 5)
    request = FormationAPI.chat_stream.prepare(cfg, {"message": "x"}, idle_timeout=2).start().request
    assert request.timeout == Timeout(5, 2.0, 5, 5)


@pytest.fixture
def anyio_backend(transport_case: TransportCase) -> str:
    return transport_case.backend


@pytest.mark.anyio
async def test_async_idle_timeout(held: LocalMuxiServer, transport_case: TransportCase) -> None:
    async with transport_case.make() as transport, AsyncFormationClient(
        held.formation_config(), transport=transport
    ).with_options(idle_timeout=0.3) as client:
        stream = await client.chat_stream({"message": "hi"}, user_id="u")
        with pytest.raises(TimeoutError):
            async for _ in stream:
                pass
