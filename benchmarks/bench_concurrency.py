"""Concurrency: 100 and 1,000 concurrent streamed chats of 200 tokens on one event loop.

Every round runs in a fresh process (a clean heap for the memory figure) and does two things:

1. memory: N tasks each open a chat stream and read its first event, then wait until all N are
   open; the resident set size at that moment minus the one before (after imports and one warm-up
   stream) divided by N is the memory per open stream. Then every task reads its stream to the end.
2. wall time: N tasks each run one whole chat stream (open, 200 tokens, ``done``), all at once.

Ours on asyncio and trio (each transport with enough connections for N streams at once) against the
official async client on asyncio (its httpx pool limit raised the same way: by default it opens at
most 100 connections and queues the rest). Contenders alternate round by round.

    python benchmarks/bench_concurrency.py [--quick] [--streams 100,1000] [--tokens 200] [--rounds R]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import _harness
import bench_requests
import origin as origin_mod

OFFICIAL = "official (httpx.AsyncClient, asyncio)"
OURS = [
    ("ours default = AnyIOTransport (asyncio)", "default", "asyncio"),
    ("ours default = AnyIOTransport (trio)", "default", "trio"),
    ("ours TrioTransport (trio)", "trio", "trio"),
    ("ours AsyncHTTPCoreTransport (asyncio)", "httpcore", "asyncio"),
    ("ours AsyncHTTPCoreTransport (trio)", "httpcore", "trio"),
]


# --- worker side -------------------------------------------------------------------------------------


class _Tally:
    def __init__(self) -> None:
        self.events = 0
        self.checksum = 0
        self.opened = 0
        self.rss_open = 0.0


def _result(tally: _Tally, base: float, streams: int, seconds: float, timed: _Tally) -> dict[str, Any]:
    return {
        "seconds": seconds,
        "kib_per_stream": (tally.rss_open - base) * 1024 / streams,
        "events": timed.events, "checksum": timed.checksum,
    }


def ours(origin: str, streams: int, tokens: int, transport: str, backend: str) -> Callable[[], dict[str, Any]]:
    """Our async client; one transport shared by all tasks."""
    _harness.raise_fd_limit(streams * 2 + 256)
    import anyio

    from muxi_transports import AsyncFormationClient

    def make_transport() -> Any:
        if transport == "default":
            return contextlib.nullcontext()  # the client makes (and closes) its own
        if transport == "httpcore":
            from muxi_transports import AsyncHTTPCoreTransport

            return AsyncHTTPCoreTransport(max_connections=None, max_idle_connections=streams)
        if transport == "anyio":
            from muxi_transports import AnyIOTransport

            return AnyIOTransport(max_idle_per_origin=streams)
        from muxi_transports.trio_transport import TrioTransport

        return TrioTransport(max_idle_per_origin=streams)

    payload = {"message": str(tokens)}

    async def main() -> dict[str, Any]:
        async with make_transport() as http, AsyncFormationClient(
            url=origin, client_key=bench_requests.CLIENT_KEY, transport=http
        ) as client:
            async for _ in await client.chat_stream(payload):
                pass
            gc.collect()
            base = _harness.rss_mib()
            tally = _Tally()
            all_open = anyio.Event()

            async def held() -> None:
                stream = await client.chat_stream(payload)
                async with stream:
                    iterator = stream.__aiter__()
                    first = await iterator.__anext__()
                    tally.events += 1
                    tally.checksum += len(first.data)
                    tally.opened += 1
                    if tally.opened == streams:
                        tally.rss_open = _harness.rss_mib()
                        all_open.set()
                    await all_open.wait()
                    async for evt in iterator:
                        tally.events += 1
                        tally.checksum += len(evt.data)

            async with anyio.create_task_group() as group:
                for _ in range(streams):
                    group.start_soon(held)

            timed = _Tally()

            async def whole() -> None:
                async for evt in await client.chat_stream(payload):
                    timed.events += 1
                    timed.checksum += len(evt.data)

            start = time.perf_counter()
            async with anyio.create_task_group() as group:
                for _ in range(streams):
                    group.start_soon(whole)
            seconds = time.perf_counter() - start
        return _result(tally, base, streams, seconds, timed)

    return lambda: anyio.run(main, backend=backend)


def official(origin: str, streams: int, tokens: int) -> Callable[[], dict[str, Any]]:
    """The official async client on asyncio, its pool limit raised to ``streams``."""
    _harness.raise_fd_limit(streams * 2 + 256)
    import asyncio

    import httpx

    import muxi

    payload = {"message": str(tokens)}

    async def gather(job: Callable[[], Awaitable[None]]) -> None:
        await asyncio.gather(*(job() for _ in range(streams)))

    async def main() -> dict[str, Any]:
        client = muxi.AsyncFormationClient(url=origin, client_key=bench_requests.CLIENT_KEY)
        transport = client._transport
        await transport._aclient.aclose()
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=streams)
        transport._aclient = httpx.AsyncClient(http2=False, timeout=transport.timeout, limits=limits)
        try:
            async for _ in await client.chat_stream(payload):
                pass
            gc.collect()
            base = _harness.rss_mib()
            tally = _Tally()
            all_open = asyncio.Event()

            async def held() -> None:
                iterator = await client.chat_stream(payload)
                try:
                    first = await iterator.__anext__()
                    tally.events += 1
                    tally.checksum += len(first["data"])
                    tally.opened += 1
                    if tally.opened == streams:
                        tally.rss_open = _harness.rss_mib()
                        all_open.set()
                    await all_open.wait()
                    async for evt in iterator:
                        tally.events += 1
                        tally.checksum += len(evt["data"])
                finally:
                    await iterator.aclose()

            await gather(held)
            timed = _Tally()

            async def whole() -> None:
                async for evt in await client.chat_stream(payload):
                    timed.events += 1
                    timed.checksum += len(evt["data"])

            start = time.perf_counter()
            await gather(whole)
            seconds = time.perf_counter() - start
        finally:
            await transport._aclient.aclose()
            transport.close()
        return _result(tally, base, streams, seconds, timed)

    return lambda: asyncio.run(main())


# --- driver side -------------------------------------------------------------------------------------


def measure(opts: argparse.Namespace, official_py: str | None, log: Callable[[str], None]) -> dict[str, Any]:
    """Every stream count, every contender, fresh processes."""
    out: dict[str, Any] = {}
    with origin_mod.running() as origin:
        for streams in (int(s) for s in opts.streams.split(",")):
            log(f"concurrency: {streams} streams")
            kw = {"origin": origin, "streams": streams, "tokens": opts.tokens}
            contenders: list[bench_requests.Contender] = []
            if official_py:
                contenders.append((OFFICIAL, official_py, "bench_concurrency", "official", kw))
            for name, transport, backend in OURS:
                contenders.append((name, sys.executable, "bench_concurrency", "ours",
                                   {**kw, "transport": transport, "backend": backend}))
            results = _harness.alternate(contenders, opts.rounds, fresh=True)
            expected = streams * (opts.tokens + 1)
            for name, rounds in results.items():
                for r in rounds:
                    if r["events"] != expected:
                        raise SystemExit(f"{name}: {r['events']} events, expected {expected}")
            out[str(streams)] = {
                name: {
                    "time": _harness.Stats.of(r["seconds"] for r in rounds),
                    "kib": _harness.Stats.of(r["kib_per_stream"] for r in rounds),
                }
                for name, rounds in results.items()
            }
    return out


def report(opts: argparse.Namespace, data: dict[str, Any]) -> tuple[str, list[tuple[str, float, float]]]:
    """The markdown section (completion of every stream is checked, not a ratio target)."""
    lines = [
        "## 3. Concurrency",
        "",
        f"N concurrent streamed chats of {opts.tokens} tokens on one event loop, all on one shared client; "
        f"{opts.rounds} rounds alternating, each in a fresh process. Wall time: all N streams from start to "
        "end. Memory: resident set growth with all N streams open (first event read), per stream. "
        "Every stream completed with all its events in every round.",
        "",
    ]
    rows = []
    for streams, stats in data.items():
        peer = stats.get(OFFICIAL)
        for name, st in stats.items():
            ratio = st["time"].speedup_over(peer["time"]) if peer and name != OFFICIAL else None
            rows.append([f"{int(streams):,}", name, f"{st['time'].median * 1e3:.0f}", f"{st['time'].best * 1e3:.0f}",
                         _harness.ratio_text(ratio), f"{st['kib'].median:.1f}"])
    lines.append(_harness.table(
        ["streams", "contender", "median ms", "best ms", "time vs official", "KiB per open stream"], rows))
    return "\n".join(lines), []


def add_options(parser: argparse.ArgumentParser, quick: bool) -> None:
    """Options of this benchmark (shared with run_all)."""
    parser.add_argument("--streams", default="100,1000", help="concurrent stream counts")
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=1 if quick else 3)


if __name__ == "__main__":
    _harness.section_main(sys.modules[__name__])
