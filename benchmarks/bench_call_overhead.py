"""The client's own cost per call, with no network: a mock transport answers at once.

What is left is everything the library does around the I/O: building and signing the request,
the call machine's decisions, decoding the answer, and the driver loop. Families of calls:

- ``get_agents`` (JSON GET, admin key), ``status`` (HMAC-signed GET), ``chat`` (JSON POST with a
  body), sync and async (asyncio);
- a retried call (503 then 200, no sleep) to include the retry path;
- ``chat_stream`` opening a stream and reading a 3-event answer.

Run it on two checkouts to compare (same public names): ``PYTHONPATH=<checkout> python
benchmarks/bench_call_overhead.py``. It prints µs per call, median and worst of the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from muxi_proto.http import Request, Response
from muxi_transports import (
    AsyncFormationClient,
    AsyncMockTransport,
    AsyncServerClient,
    FormationClient,
    MockTransport,
    ServerClient,
    StreamingResponse,
)

JSON = (("Content-Type", "application/json"),)
AGENTS = json.dumps({"object": "list", "success": True, "request": {"id": "req_1"}, "timestamp": 1,
                     "data": {"agents": [{"id": f"a{i}", "name": f"Agent {i}"} for i in range(3)], "count": 3}
                     }).encode()
STATUS = json.dumps({"success": True, "data": {"server": {"version": "1"}, "formations": {"running": 1},
                                                "port_pool": {}, "runtime": {}}}).encode()
FRAMES = [b": keepalive\n\n",
          b'data: {"token":{"type":"content","content":"Hello"}}\n\n',
          b'data: {"token":{"type":"completed","content":"Hello"}}\n\n',
          b'event: done\ndata: {"finished":true}\n\n']
SSE = (("Content-Type", "text/event-stream"),)


def handler(request: Request) -> Response | StreamingResponse:
    if request.path.endswith("/chat") and request.stream:
        return StreamingResponse(200, SSE, list(FRAMES))
    if request.path.endswith("/rpc/server/status"):
        return Response(200, JSON, STATUS)
    return Response(200, JSON, AGENTS)


class Flaky:
    """503 on every other request: each call is one retry (no sleep)."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, request: Request) -> Response | StreamingResponse:
        self.n += 1
        if self.n % 2:
            return Response(503, JSON, b'{"error":"busy"}')
        return handler(request)


FORMATION = {"url": "http://127.0.0.1:9", "admin_key": "adm_key", "client_key": "cli_key"}
SERVER = {"url": "http://127.0.0.1:9", "key_id": "MUXI_0123456789abcdef", "secret_key": "sk_" + "a" * 64}


def sync_cases() -> dict[str, Callable[[], Any]]:
    f = FormationClient(transport=MockTransport(handler), **FORMATION)
    s = ServerClient(transport=MockTransport(handler), **SERVER)
    r = FormationClient(transport=MockTransport(Flaky()), max_retries=1, sleep=lambda _: None, **FORMATION)

    def stream() -> None:
        for _ in f.chat_stream({"message": "hi"}, user_id="u"):
            pass

    return {
        "sync get_agents": f.get_agents,
        "sync status (HMAC)": s.status,
        "sync chat (POST JSON)": lambda: f.chat({"message": "hi"}, user_id="u"),
        "sync get_agents, one retry": r.get_agents,
        "sync chat_stream, 3 events": stream,
    }


class NoSleep(AsyncMockTransport):
    async def sleep(self, seconds: float) -> None:
        return None


def async_cases() -> dict[str, Callable[[], Any]]:
    f = AsyncFormationClient(transport=AsyncMockTransport(handler), **FORMATION)
    s = AsyncServerClient(transport=AsyncMockTransport(handler), **SERVER)
    r = AsyncFormationClient(transport=NoSleep(Flaky()), max_retries=1, **FORMATION)

    async def stream() -> None:
        async for _ in await f.chat_stream({"message": "hi"}, user_id="u"):
            pass

    return {
        "async get_agents": f.get_agents,
        "async status (HMAC)": s.status,
        "async chat (POST JSON)": lambda: f.chat({"message": "hi"}, user_id="u"),
        "async get_agents, one retry": r.get_agents,
        "async chat_stream, 3 events": stream,
    }


def time_sync(fn: Callable[[], Any], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


def time_async(fn: Callable[[], Any], n: int) -> float:
    async def run() -> float:
        for _ in range(50):
            await fn()
        start = time.perf_counter()
        for _ in range(n):
            await fn()
        return (time.perf_counter() - start) / n * 1e6

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    results: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for name, fn in sync_cases().items():
            for _ in range(50):
                fn()
            results.setdefault(name, []).append(time_sync(fn, args.calls))
        for name, fn in async_cases().items():
            results.setdefault(name, []).append(time_async(fn, args.calls))
    width = max(map(len, results))
    print(f"{'call':<{width}}  median µs  worst µs")
    for name, values in results.items():
        print(f"{name:<{width}}  {statistics.median(values):9.2f}  {max(values):8.2f}")


if __name__ == "__main__":
    main()
