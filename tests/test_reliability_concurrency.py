"""1,000 chat streams open at once on one event loop from one client on its default transport (asyncio
and trio), 500 on every other async transport; 64 threads streaming at once through one blocking
client, on every sync transport.

The server runs in a child process (``reliability_server_process.py``), so every byte traced here
is the client's. It holds each stream after its opening keepalive until all 500 are open; then
the streams run to the end. Checked: every stream completes with the whole answer, no task or
connection outlives them, and the memory each open stream costs (printed, and bounded).
"""

from __future__ import annotations

import asyncio
import gc
import json
import resource
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from reliability_support import ASYNC_FLAVOURS, HANG_GUARD, SYNC_FLAVOURS, Flavour, eventually, wait_for

from muxi_proto.config import FormationConfig
from muxi_proto.streams import ChatAnswer
from muxi_transports import AsyncFormationClient, FormationClient

STREAMS = 500
DEFAULT_STREAMS = 1000  # on the clients' default transports
THREADS = 64
#: A generous ceiling: an open stream costs a few tens of KiB (socket, parser, buffers, task).
MAX_BYTES_PER_STREAM = 256 * 1024


class ServerProcess:
    """The child process and its line protocol."""

    def __init__(self) -> None:
        script = Path(__file__).with_name("reliability_server_process.py")
        self.proc = subprocess.Popen(
            [sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        assert self.proc.stdout is not None
        ready = self.proc.stdout.readline()
        assert ready.startswith("READY "), ready
        self.settings = json.loads(ready.split(" ", 1)[1])

    def ask(self, command: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def count(self, command: str) -> int:
        return int(self.ask(command))

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("quit\n")
        self.proc.stdin.close()
        self.proc.wait(30)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4 * DEFAULT_STREAMS
    if soft < wanted:  # a socket per stream here (the server raises its own limit)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
    srv = ServerProcess()
    try:
        yield srv
        assert srv.count("errors") == 0
    finally:
        srv.close()


@pytest.fixture(params=ASYNC_FLAVOURS, ids=str)
def async_flavour(request: pytest.FixtureRequest) -> Flavour:
    value: Flavour = request.param
    return value


@pytest.fixture
def anyio_backend(async_flavour: Flavour) -> str:
    return async_flavour.backend


def _tasks_alive(backend: str) -> int:
    if backend == "asyncio":
        return len(asyncio.all_tasks())
    import trio

    return int(trio.lowlevel.current_statistics().tasks_living)


@pytest.mark.anyio
async def test_concurrent_streams_from_one_client(
    server: ServerProcess, async_flavour: Flavour, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = FormationConfig(server_url=server.settings["url"], formation_id=server.settings["formation_id"],
                          client_key=server.settings["client_key"])
    streams = DEFAULT_STREAMS if async_flavour.default else STREAMS
    options = {"max_connections": streams + 10} if async_flavour.transport == "httpcore" else {}
    transport = async_flavour.make_transport(**options)
    answers: list[str] = []
    opened = 0

    async with transport, AsyncFormationClient(cfg, transport=transport) as client:  # type: ignore[attr-defined]

        async def one(i: int) -> None:
            nonlocal opened
            stream = await client.chat_stream({"message": f"stream {i}"}, user_id=f"user-{i % 7}")
            opened += 1
            answer = ChatAnswer()
            async for event in stream:
                answer.add(event)
            answers.append(answer.text)

        await one(-1)  # warm up: modules, caches and one pooled connection
        answers.clear()
        opened = 0
        assert server.ask("hold") == "ok"
        tasks_before = _tasks_alive(async_flavour.backend)
        gc.collect()
        tracemalloc.start()
        try:
            baseline = tracemalloc.get_traced_memory()[0]
            started = time.perf_counter()
            async with anyio.create_task_group() as tg:
                for i in range(streams):
                    tg.start_soon(one, i)
                assert await eventually(lambda: opened == streams, timeout=60)
                assert await eventually(lambda: server.count("held") == streams, timeout=60)
                assert server.count("open") == streams  # all of them open at the same moment
                per_stream = (tracemalloc.get_traced_memory()[0] - baseline) / streams
                assert server.ask("release") == "ok"
            elapsed = time.perf_counter() - started
            peak = tracemalloc.get_traced_memory()[1] - baseline
        finally:
            tracemalloc.stop()

        assert sorted(answers) == sorted(f"stream {i}" for i in range(streams))
        assert _tasks_alive(async_flavour.backend) == tasks_before
        assert transport.connections <= streams  # type: ignore[attr-defined]
    assert transport.connections == 0  # type: ignore[attr-defined]
    assert await eventually(lambda: server.count("open") == 0, timeout=30)
    assert per_stream < MAX_BYTES_PER_STREAM
    with capsys.disabled():
        print(f"\n  {async_flavour}: {streams} concurrent streams, {per_stream / 1024:.1f} KiB traced per open "
              f"stream, peak {peak / 1024 / 1024:.1f} MiB, {elapsed:.2f} s open-to-done")


@pytest.mark.parametrize("sync_flavour", SYNC_FLAVOURS, ids=str)
def test_threads_streaming_at_once_through_one_blocking_client(server: ServerProcess, sync_flavour: Flavour) -> None:
    cfg = FormationConfig(server_url=server.settings["url"], formation_id=server.settings["formation_id"],
                          client_key=server.settings["client_key"])
    transport = sync_flavour.make_transport()
    answers: list[str] = []
    failures: list[BaseException] = []

    with transport, FormationClient(cfg, transport=transport) as client:  # type: ignore[attr-defined]

        def one(i: int) -> None:
            try:
                answer = ChatAnswer()
                for event in client.chat_stream({"message": f"thread {i}"}, user_id=f"user-{i % 7}"):
                    answer.add(event)
                answers.append(answer.text)
            except BaseException as exc:  # reported below, with the others
                failures.append(exc)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(THREADS)]
        assert server.ask("hold") == "ok"
        try:
            for thread in threads:
                thread.start()
            assert wait_for(lambda: server.count("held") == THREADS, timeout=30)
            assert server.count("open") == THREADS  # one connection per thread, all open at once
            assert transport.connections == THREADS  # type: ignore[attr-defined]
        finally:
            assert server.ask("release") == "ok"
            for thread in threads:
                thread.join(HANG_GUARD)
        assert not any(thread.is_alive() for thread in threads)
        assert failures == []
        assert sorted(answers) == sorted(f"thread {i}" for i in range(THREADS))
    assert transport.connections == 0  # type: ignore[attr-defined]
    assert wait_for(lambda: server.count("open") == 0, timeout=30)
