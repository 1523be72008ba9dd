"""Stopping a stream early closes its connection promptly, and the server sees it go.

Cancelled tasks (asyncio ``Task.cancel``, trio and anyio cancel scopes), ``break`` out of a loop,
and streams simply dropped and garbage collected, on every transport and flavour. The server holds
each stream open (``hold_streams``), so only the client can end the connection.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
import trio
from reliability_support import ASYNC_FLAVOURS, SYNC_FLAVOURS, Flavour, eventually

from muxi_testing import LocalMuxiServer
from muxi_transports import AsyncFormationClient, FormationClient

MESSAGE = {"message": "hold me"}


@pytest.fixture(scope="module")
def server() -> Iterator[LocalMuxiServer]:
    with LocalMuxiServer() as srv:
        srv.hold_streams()  # every chat stream waits after its opening keepalive
        yield srv
        srv.release_streams()
        assert srv.errors == []


@pytest.fixture(params=ASYNC_FLAVOURS, ids=str)
def async_flavour(request: pytest.FixtureRequest) -> Flavour:
    value: Flavour = request.param
    return value


@pytest.fixture
def anyio_backend(async_flavour: Flavour) -> str:
    return async_flavour.backend


def _quiet(server: LocalMuxiServer) -> bool:
    return server.open_connections == 0


# --- blocking clients --------------------------------------------------------------------------------


@pytest.fixture(params=SYNC_FLAVOURS, ids=str)
def sync_client(server: LocalMuxiServer, request: pytest.FixtureRequest) -> Iterator[FormationClient]:
    assert server.wait_until(_quiet)
    transport = request.param.make_transport()
    with transport, FormationClient(server.formation_config(), transport=transport) as client:
        yield client


def _opened(server: LocalMuxiServer, client: FormationClient) -> Any:
    stream = client.chat_stream(MESSAGE, user_id="u")
    assert server.wait_until(lambda s: s.open_connections == 1)
    return stream


def test_sync_break_out_of_a_for_loop(server: LocalMuxiServer, sync_client: FormationClient) -> None:
    server.release_streams()
    try:
        for _ in sync_client.chat_stream(MESSAGE, user_id="u"):
            break  # the stream object was a temporary: nothing else holds it
        assert server.wait_until(_quiet)
        assert sync_client.transport.connections == 0  # type: ignore[attr-defined]
    finally:
        server.hold_streams()


def test_sync_break_out_of_tokens(server: LocalMuxiServer, sync_client: FormationClient) -> None:
    server.release_streams()
    try:
        for token in sync_client.chat_stream(MESSAGE, user_id="u").tokens():
            assert token.type
            break
        assert server.wait_until(_quiet)
    finally:
        server.hold_streams()


def test_sync_stream_dropped_before_reading(server: LocalMuxiServer, sync_client: FormationClient) -> None:
    stream = _opened(server, sync_client)
    del stream  # never iterated: its connection is closed all the same
    assert server.wait_until(_quiet)
    assert sync_client.transport.connections == 0  # type: ignore[attr-defined]


def test_sync_stream_collected_inside_a_reference_cycle(
    server: LocalMuxiServer, sync_client: FormationClient
) -> None:
    holder: dict[str, Any] = {"stream": _opened(server, sync_client)}
    holder["self"] = holder  # only the cycle collector can free it (and it may interrupt any code)
    del holder
    gc.collect()
    assert server.wait_until(_quiet)


def test_sync_close_from_another_thread_while_blocked(
    server: LocalMuxiServer, sync_client: FormationClient
) -> None:
    import threading

    stream = _opened(server, sync_client)
    failures: list[BaseException] = []

    def consume() -> None:
        try:
            for _ in stream:
                pass
        except Exception as exc:  # the read fails once the connection is gone: a typed error
            failures.append(exc)

    reader = threading.Thread(target=consume)
    reader.start()
    stream.close()
    reader.join(10)
    assert not reader.is_alive()
    assert server.wait_until(_quiet)
    assert sync_client.transport.connections == 0  # type: ignore[attr-defined]
    assert all(type(exc).__module__.startswith("muxi_proto") for exc in failures), failures


# --- async clients -----------------------------------------------------------------------------------


@asynccontextmanager
async def _client(server: LocalMuxiServer, flavour: Flavour) -> AsyncIterator[AsyncFormationClient]:
    transport = flavour.make_transport()
    async with transport, AsyncFormationClient(server.formation_config(), transport=transport) as client:  # type: ignore[attr-defined]
        yield client


async def _wait_quiet(server: LocalMuxiServer) -> bool:
    return await eventually(lambda: _quiet(server))


async def _open(server: LocalMuxiServer, client: AsyncFormationClient) -> Any:
    stream = await client.chat_stream(MESSAGE, user_id="u")
    assert await eventually(lambda: server.open_connections == 1)
    return stream


@pytest.mark.anyio
async def test_cancel_scope_while_waiting_for_an_event(server: LocalMuxiServer, async_flavour: Flavour) -> None:
    assert await _wait_quiet(server)
    async with _client(server, async_flavour) as client:
        stream = await _open(server, client)
        with anyio.move_on_after(0.05) as scope:
            async for _ in stream:
                pass
        assert scope.cancelled_caught
        assert await _wait_quiet(server)
        assert client.transport.connections == 0  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_task_group_cancelled_from_outside(server: LocalMuxiServer, async_flavour: Flavour) -> None:
    assert await _wait_quiet(server)
    async with _client(server, async_flavour) as client:
        started = anyio.Event()

        async def consume() -> None:
            async with await client.chat_stream(MESSAGE, user_id="u") as stream:
                started.set()
                async for _ in stream:
                    pass

        async with anyio.create_task_group() as tg:
            tg.start_soon(consume)
            await started.wait()
            assert await eventually(lambda: server.open_connections == 1)
            tg.cancel_scope.cancel()
        assert await _wait_quiet(server)


@pytest.mark.anyio
async def test_native_cancellation(server: LocalMuxiServer, async_flavour: Flavour) -> None:
    """asyncio: ``Task.cancel()``; trio: a ``trio.CancelScope``."""
    assert await _wait_quiet(server)
    async with _client(server, async_flavour) as client:
        stream = await _open(server, client)
        if async_flavour.backend == "asyncio":
            task = asyncio.get_running_loop().create_task(stream.text())
            await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        else:
            with trio.CancelScope() as scope:
                scope.deadline = trio.current_time() + 0.05
                await stream.text()
            assert scope.cancelled_caught
        assert await _wait_quiet(server)


@pytest.mark.anyio
async def test_break_out_of_async_for(server: LocalMuxiServer, async_flavour: Flavour) -> None:
    assert await _wait_quiet(server)
    server.release_streams()
    try:
        async with _client(server, async_flavour) as client:
            async for _ in await client.chat_stream(MESSAGE, user_id="u"):
                break
            assert await _wait_quiet(server)
            async for token in (await client.chat_stream(MESSAGE, user_id="u")).tokens():
                assert token.type
                break
            assert await _wait_quiet(server)
    finally:
        server.hold_streams()


@pytest.mark.anyio
@pytest.mark.parametrize("read_first", [False, True], ids=["unread", "half-read"])
async def test_dropped_stream_is_closed_on_its_loop(
    server: LocalMuxiServer, async_flavour: Flavour, read_first: bool
) -> None:
    assert await _wait_quiet(server)
    async with _client(server, async_flavour) as client:
        stream = await _open(server, client)
        if read_first:
            with anyio.move_on_after(0.02):
                await stream.__anext__()
        del stream
        gc.collect()
        assert await _wait_quiet(server)
        assert client.transport.connections == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize("flavour", ASYNC_FLAVOURS, ids=str)
def test_a_stream_dropped_after_its_loop_ended_is_harmless(server: LocalMuxiServer, flavour: Flavour) -> None:
    async def leak() -> Any:
        async with _client(server, flavour) as client:
            return await _open(server, client)  # closing the transport ends the connection

    stream = anyio.run(leak, backend=flavour.backend)
    assert server.wait_until(_quiet)
    del stream
    gc.collect()  # nothing to schedule on: no error, no warning (pytest turns warnings into errors)
