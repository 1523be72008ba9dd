"""Streaming end to end: consume one long chat stream from the local origin, ours vs official.

The origin (benchmarks/origin.py, its own process) answers ``POST /v1/chat`` with ``--events``
token frames (about 60 bytes each, a keepalive every 25) and ``event: done``, chunked, one HTTP
chunk per frame as the runtime writes them. Each contender calls ``chat_stream`` and iterates
every event, counting them and adding up their data lengths (checked equal across contenders); the
time runs from the call to the end of the stream. Ours on every transport, sync and async, against
the official sync and async clients; contenders alternate round by round.

    python benchmarks/bench_streaming.py [--quick] [--events N] [--rounds R]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable
from typing import Any

import _harness
import bench_requests
import origin as origin_mod

OFFICIAL_SYNC = "official (httpx.Client)"
OFFICIAL_ASYNC = "official (httpx.AsyncClient, asyncio)"
OURS_SYNC = bench_requests.OURS_SYNC
OURS_SOCKET = bench_requests.OURS_SOCKET
#: The target of the default transports per streamed event over the official client.
DEFAULT_TARGET = 5.0
BOUND_SYNC = "bound: httpcore alone, body chunks only (sync)"
BOUND_ASYNC = "bound: httpcore alone, body chunks only (asyncio)"


def _message(events: int, framing: str) -> str:
    return str(events) if framing == "event" else f"{events}:{framing}"


# --- worker side -------------------------------------------------------------------------------------


def ours_sync(origin: str, events: int, framing: str, transport: str = "httpcore") -> Callable[[], dict[str, Any]]:
    """Our blocking client on its default transport (``"default"``: none passed) or on httpcore."""
    from muxi_transports import FormationClient, HTTPCoreTransport

    def run() -> dict[str, Any]:
        http = HTTPCoreTransport() if transport == "httpcore" else None
        with FormationClient(url=origin, client_key=bench_requests.CLIENT_KEY, transport=http) as client:
            start = time.perf_counter()
            count = total = 0
            for evt in client.chat_stream({"message": _message(events, framing)}):
                count += 1
                total += len(evt.data)
            seconds = time.perf_counter() - start
        if http is not None:
            http.close()
        return {"seconds": seconds, "events": count, "checksum": total}

    return run


def ours_async(origin: str, events: int, framing: str, transport: str, backend: str) -> Callable[[], dict[str, Any]]:
    """Our async client on ``transport`` under ``backend``."""
    import anyio

    from muxi_transports import AsyncFormationClient

    async def main() -> dict[str, Any]:
        async with _transport(transport) as http, AsyncFormationClient(
            url=origin, client_key=bench_requests.CLIENT_KEY, transport=http
        ) as client:
            start = time.perf_counter()
            count = total = 0
            async for evt in await client.chat_stream({"message": _message(events, framing)}):
                count += 1
                total += len(evt.data)
            seconds = time.perf_counter() - start
        return {"seconds": seconds, "events": count, "checksum": total}

    return lambda: anyio.run(main, backend=backend)


def httpcore_alone(origin: str, events: int, framing: str, flavour: str) -> Callable[[], dict[str, Any]]:
    """httpcore's pool by itself: the same request, every body chunk read, no SSE decoding at all.

    The least any client on httpcore pays for the stream, so its ratio over the official client is
    the most our default transports could show.
    """
    import json

    import httpcore

    url = origin + "/v1/chat"
    body = json.dumps({"message": _message(events, framing)}).encode()
    headers = [(b"accept", b"text/event-stream"), (b"content-type", b"application/json"),
               (b"x-muxi-client-key", bench_requests.CLIENT_KEY.encode())]

    def run_sync() -> dict[str, Any]:
        with httpcore.ConnectionPool() as pool:
            start = time.perf_counter()
            size = 0
            with pool.stream("POST", url, headers=headers, content=body) as response:
                for chunk in response.iter_stream():
                    size += len(chunk)
            seconds = time.perf_counter() - start
        return {"seconds": seconds, "events": None, "checksum": size}

    async def run_async() -> dict[str, Any]:
        async with httpcore.AsyncConnectionPool() as pool:
            start = time.perf_counter()
            size = 0
            async with pool.stream("POST", url, headers=headers, content=body) as response:
                async for chunk in response.aiter_stream():
                    size += len(chunk)
            seconds = time.perf_counter() - start
        return {"seconds": seconds, "events": None, "checksum": size}

    if flavour == "sync":
        return run_sync
    import asyncio

    return lambda: asyncio.run(run_async())


def _transport(kind: str, **options: Any) -> Any:
    if kind == "default":
        return contextlib.nullcontext()  # the client makes (and closes) its own
    if kind == "httpcore":
        from muxi_transports import AsyncHTTPCoreTransport

        return AsyncHTTPCoreTransport(**options)
    if kind == "anyio":
        from muxi_transports import AnyIOTransport

        return AnyIOTransport()
    from muxi_transports.trio_transport import TrioTransport

    return TrioTransport()


def official_sync(origin: str, events: int, framing: str) -> Callable[[], dict[str, Any]]:
    """The official blocking client."""
    import muxi

    def run() -> dict[str, Any]:
        client = muxi.FormationClient(url=origin, client_key=bench_requests.CLIENT_KEY)
        try:
            start = time.perf_counter()
            count = total = 0
            for evt in client.chat_stream({"message": _message(events, framing)}):
                count += 1
                total += len(evt["data"])
            seconds = time.perf_counter() - start
        finally:
            client._transport.close()
        return {"seconds": seconds, "events": count, "checksum": total}

    return run


def official_async(origin: str, events: int, framing: str) -> Callable[[], dict[str, Any]]:
    """The official async client on asyncio."""
    import asyncio

    import muxi

    async def main() -> dict[str, Any]:
        client = muxi.AsyncFormationClient(url=origin, client_key=bench_requests.CLIENT_KEY)
        try:
            start = time.perf_counter()
            count = total = 0
            async for evt in await client.chat_stream({"message": _message(events, framing)}):
                count += 1
                total += len(evt["data"])
            seconds = time.perf_counter() - start
        finally:
            await client._transport.aclose()
            client._transport.close()
        return {"seconds": seconds, "events": count, "checksum": total}

    return lambda: asyncio.run(main())


# --- driver side -------------------------------------------------------------------------------------


def measure(opts: argparse.Namespace, official: str | None, log: Callable[[str], None]) -> dict[str, Any]:
    """All contenders on one origin."""
    ours = sys.executable
    kw = {"events": opts.events, "framing": opts.framing}
    out: dict[str, Any] = {}
    with origin_mod.running() as origin:
        kw["origin"] = origin
        contenders: list[bench_requests.Contender] = []
        if official:
            contenders.append((OFFICIAL_SYNC, official, "bench_streaming", "official_sync", kw))
        contenders.append((OURS_SOCKET, ours, "bench_streaming", "ours_sync", {**kw, "transport": "default"}))
        contenders.append((OURS_SYNC, ours, "bench_streaming", "ours_sync", kw))
        contenders.append((BOUND_SYNC, ours, "bench_streaming", "httpcore_alone", {**kw, "flavour": "sync"}))
        if official:
            contenders.append((OFFICIAL_ASYNC, official, "bench_streaming", "official_async", kw))
        contenders.append((BOUND_ASYNC, ours, "bench_streaming", "httpcore_alone", {**kw, "flavour": "asyncio"}))
        for name, transport, backend in bench_requests.ASYNC_OURS:
            contenders.append((name, ours, "bench_streaming", "ours_async",
                               {**kw, "transport": transport, "backend": backend}))
        log("streaming end to end")
        results = _harness.alternate(contenders, opts.rounds)
    first = results[OURS_SYNC][0]
    for name, rounds in results.items():
        for r in rounds:
            if name not in (BOUND_SYNC, BOUND_ASYNC) and (r["events"], r["checksum"]) != (
                    first["events"], first["checksum"]):
                raise SystemExit(f"{name} got different events: {r} (expected {first})")
    out["events"] = first["events"]
    out["stats"] = {name: _harness.Stats.of(r["seconds"] for r in rounds) for name, rounds in results.items()}
    return out


def report(opts: argparse.Namespace, data: dict[str, Any]) -> tuple[str, list[tuple[str, float, float]]]:
    """The markdown section and the target checks."""
    framing = "one HTTP chunk per frame (as the runtime writes)" if opts.framing == "event" else (
        f"{opts.framing}-byte HTTP chunks")
    lines = [
        "## 4. Streaming end to end",
        "",
        f"One `chat_stream` of {data['events']:,} events from the local origin ({framing}), every event "
        f"consumed; {opts.rounds} rounds alternating. Ratio: over the official client of the same flavour, medians.",
        "",
    ]
    stats: dict[str, _harness.Stats] = data["stats"]
    checks = []
    rows = []
    for name, st in stats.items():
        ratio = None
        if name.startswith(("ours", "bound")) and OFFICIAL_SYNC in stats:
            sync = name in (OURS_SYNC, OURS_SOCKET, BOUND_SYNC)
            ratio = st.speedup_over(stats[OFFICIAL_SYNC] if sync else stats[OFFICIAL_ASYNC])
            if name.startswith("ours default"):  # the defaults have a target
                checks.append((f"streaming: {name}", ratio, DEFAULT_TARGET))
        rows.append([name, f"{st.median * 1e3:.0f}", f"{st.best * 1e3:.0f}",
                     f"{data['events'] / st.median:,.0f}", _harness.ratio_text(ratio)])
    lines.append(_harness.table(["contender", "median ms", "best ms", "events/s", "vs official"], rows))
    return "\n".join(lines), checks


def add_options(parser: argparse.ArgumentParser, quick: bool) -> None:
    """Options of this benchmark (shared with run_all)."""
    parser.add_argument("--events", type=int, default=20_000 if quick else 100_000)
    parser.add_argument("--framing", default="event",
                        help="'event' (one HTTP chunk per frame) or a chunk size in bytes")
    parser.add_argument("--rounds", type=int, default=3 if quick else 5)


if __name__ == "__main__":
    _harness.section_main(sys.modules[__name__])
