"""Per-request overhead: sequential ``get_agents()`` (JSON GET) and ``status()`` (HMAC-signed GET).

One fast local origin in its own process (benchmarks/origin.py); its ceiling is measured with a
raw-socket keep-alive client. Ours on each transport (sync httpcore; async httpcore, anyio on
asyncio and trio; trio) against the official sync and async clients, like with like: official
``FormationClient.get_agents()`` vs ours, official ``ServerClient.status()`` vs ours. Every
contender is a whole client call (request building, signing, sending, decoding, unwrapping).

Each round makes a new client (and for async a new event loop), warms it up, then times
``requests`` sequential calls; contenders alternate round by round.

    python benchmarks/bench_requests.py [--quick] [--requests N] [--rounds R]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable
from typing import Any

import _harness
import origin as origin_mod

KEY_ID = "MUXI_0123456789abcdef"
SECRET = "sk_" + "0123456789abcdef" * 4
ADMIN_KEY = "fmk_admin_bench"
CLIENT_KEY = "fmk_client_bench"
WARMUP = 50

# name, transport ("default": none passed, the client's own choice), backend
ASYNC_OURS = [
    ("ours default = AnyIOTransport (asyncio)", "default", "asyncio"),
    ("ours default = AnyIOTransport (trio)", "default", "trio"),
    ("ours TrioTransport (trio)", "trio", "trio"),
    ("ours AsyncHTTPCoreTransport (asyncio; proxies, HTTP/2, caps)", "httpcore", "asyncio"),
    ("ours AsyncHTTPCoreTransport (trio; proxies, HTTP/2, caps)", "httpcore", "trio"),
]
OFFICIAL_SYNC = "official (httpx.Client)"
OFFICIAL_ASYNC = "official (httpx.AsyncClient, asyncio)"
OURS_SYNC = "ours HTTPCoreTransport (sync; proxies, HTTP/2, caps)"
OURS_SOCKET = "ours default = SocketTransport (sync)"
#: The targets of the default transports over the official client (docs: issue 15).
DEFAULT_TARGET = 2.5
CEILING = "origin ceiling (raw socket client)"
BOUND_SYNC = "bound: httpcore.ConnectionPool alone, its own network layer, no client (sync)"
BOUND_ASYNC = "bound: httpcore.AsyncConnectionPool alone, its own network layer (anyio), no client (asyncio)"


# --- worker side -------------------------------------------------------------------------------------


def _check(call: str, result: Any) -> None:
    # The answer must be the unwrapped envelope, for every contender alike.
    if call == "get_agents":
        ok = isinstance(result, dict) and result.get("count") == 3 and result.get("request_id")
    else:
        ok = isinstance(result, dict) and "server" in result and "port_pool" in result
    if not ok:
        raise SystemExit(f"unexpected {call} result: {result!r}")


def ceiling(origin: str, call: str, requests: int) -> Callable[[], dict[str, Any]]:
    """The raw-socket client: what the origin can answer, one request at a time."""
    path = _path(call)

    def run() -> dict[str, Any]:
        origin_mod.raw_ceiling(origin, path, WARMUP)
        return {"seconds": origin_mod.raw_ceiling(origin, path, requests), "requests": requests}

    return run


def _path(call: str) -> str:
    return "/v1/agents" if call == "get_agents" else "/rpc/server/status"


def httpcore_alone(origin: str, call: str, requests: int, flavour: str) -> Callable[[], dict[str, Any]]:
    """httpcore's pool by itself: the same GET, body read, nothing decoded, no client around it.

    The least any client on httpcore as it comes pays per call, so its ratio over the official
    client is the most such a client could show (the official SDK runs on httpx, itself on httpcore).
    Under asyncio our default transport replaces httpcore's network layer, so it can pass this.
    """
    import httpcore

    url = origin + _path(call)
    headers = [(b"accept", b"application/json"), (b"x-muxi-admin-key", ADMIN_KEY.encode())]

    def check(status: int, body: bytes) -> None:
        if status != 200 or not body:
            raise SystemExit(f"unexpected answer from the origin: {status}")

    def run_sync() -> dict[str, Any]:
        with httpcore.ConnectionPool() as pool:
            for _ in range(WARMUP):
                pool.request("GET", url, headers=headers)
            start = time.perf_counter()
            for _ in range(requests):
                response = pool.request("GET", url, headers=headers)
            seconds = time.perf_counter() - start
        check(response.status, response.content)
        return {"seconds": seconds, "requests": requests}

    async def run_async() -> dict[str, Any]:
        async with httpcore.AsyncConnectionPool() as pool:
            for _ in range(WARMUP):
                await pool.request("GET", url, headers=headers)
            start = time.perf_counter()
            for _ in range(requests):
                response = await pool.request("GET", url, headers=headers)
            seconds = time.perf_counter() - start
        check(response.status, response.content)
        return {"seconds": seconds, "requests": requests}

    if flavour == "sync":
        return run_sync
    import asyncio

    return lambda: asyncio.run(run_async())


def _ours_client(origin: str, call: str, flavour: str, transport: Any) -> Any:
    from muxi_transports import AsyncFormationClient, AsyncServerClient, FormationClient, ServerClient

    if call == "status":
        cls: Any = ServerClient if flavour == "sync" else AsyncServerClient
        return cls(url=origin, key_id=KEY_ID, secret_key=SECRET, transport=transport)
    cls = FormationClient if flavour == "sync" else AsyncFormationClient
    return cls(url=origin, admin_key=ADMIN_KEY, client_key=CLIENT_KEY, transport=transport)


def ours_sync(origin: str, call: str, requests: int, transport: str = "httpcore") -> Callable[[], dict[str, Any]]:
    """Our blocking client on its default transport (``"default"``: none passed) or on httpcore."""

    def run() -> dict[str, Any]:
        http = None
        if transport == "httpcore":
            from muxi_transports import HTTPCoreTransport

            http = HTTPCoreTransport()
        with _ours_client(origin, call, "sync", http) as client:
            method = getattr(client, call)
            for _ in range(WARMUP):
                method()
            start = time.perf_counter()
            for _ in range(requests):
                result = method()
            seconds = time.perf_counter() - start
        if http is not None:
            http.close()
        _check(call, result)
        return {"seconds": seconds, "requests": requests}

    return run


def ours_async(origin: str, call: str, requests: int, transport: str, backend: str) -> Callable[[], dict[str, Any]]:
    """Our async client on ``transport`` (httpcore, anyio, trio) under ``backend``."""
    import anyio

    def make_transport() -> Any:
        if transport == "default":
            return contextlib.nullcontext()  # the client makes (and closes) its own
        if transport == "httpcore":
            from muxi_transports import AsyncHTTPCoreTransport

            return AsyncHTTPCoreTransport()
        if transport == "anyio":
            from muxi_transports import AnyIOTransport

            return AnyIOTransport()
        from muxi_transports.trio_transport import TrioTransport

        return TrioTransport()

    async def main() -> dict[str, Any]:
        async with make_transport() as http, _ours_client(origin, call, "async", http) as client:
            assert transport != "default" or type(client.transport).__name__ == "AnyIOTransport"
            method = getattr(client, call)
            for _ in range(WARMUP):
                await method()
            start = time.perf_counter()
            for _ in range(requests):
                result = await method()
            seconds = time.perf_counter() - start
        _check(call, result)
        return {"seconds": seconds, "requests": requests}

    return lambda: anyio.run(main, backend=backend)


def _official_client(origin: str, call: str, flavour: str) -> Any:
    import muxi  # the official SDK: only importable in benchmarks/.venv-official

    if call == "status":
        cls: Any = muxi.ServerClient if flavour == "sync" else muxi.AsyncServerClient
        return cls(url=origin, key_id=KEY_ID, secret_key=SECRET)
    cls = muxi.FormationClient if flavour == "sync" else muxi.AsyncFormationClient
    return cls(url=origin, admin_key=ADMIN_KEY, client_key=CLIENT_KEY)


def _official_transport(client: Any) -> Any:
    # ServerClient keeps it in `transport`, the others in `_transport`; each holds a sync and an
    # async httpx client (and ServerClient.__exit__ closes nothing: close them ourselves).
    return getattr(client, "_transport", None) or client.transport


def official_sync(origin: str, call: str, requests: int) -> Callable[[], dict[str, Any]]:
    """The official blocking client (httpx.Client)."""

    def run() -> dict[str, Any]:
        client = _official_client(origin, call, "sync")
        try:
            method = getattr(client, call)
            for _ in range(WARMUP):
                method()
            start = time.perf_counter()
            for _ in range(requests):
                result = method()
            seconds = time.perf_counter() - start
        finally:
            _official_transport(client).close()
        _check(call, result)
        return {"seconds": seconds, "requests": requests}

    return run


def official_async(origin: str, call: str, requests: int) -> Callable[[], dict[str, Any]]:
    """The official async client (httpx.AsyncClient on asyncio)."""
    import asyncio

    async def main() -> dict[str, Any]:
        client = _official_client(origin, call, "async")
        try:
            method = getattr(client, call)
            for _ in range(WARMUP):
                await method()
            start = time.perf_counter()
            for _ in range(requests):
                result = await method()
            seconds = time.perf_counter() - start
        finally:
            transport = _official_transport(client)
            await transport.aclose()
            transport.close()
        _check(call, result)
        return {"seconds": seconds, "requests": requests}

    return lambda: asyncio.run(main())


# --- driver side -------------------------------------------------------------------------------------


Contender = tuple[str, Any, str, str, dict[str, Any]]


def contenders(origin: str, call: str, requests: int, official: str | None) -> list[Contender]:
    """Every contender of one endpoint, in table order."""
    ours = sys.executable
    kw = {"origin": origin, "call": call, "requests": requests}
    rows: list[Contender] = [(CEILING, ours, "bench_requests", "ceiling", kw)]
    if official:
        rows.append((OFFICIAL_SYNC, official, "bench_requests", "official_sync", kw))
    rows.append((OURS_SOCKET, ours, "bench_requests", "ours_sync", {**kw, "transport": "default"}))
    rows.append((OURS_SYNC, ours, "bench_requests", "ours_sync", kw))
    rows.append((BOUND_SYNC, ours, "bench_requests", "httpcore_alone", {**kw, "flavour": "sync"}))
    if official:
        rows.append((OFFICIAL_ASYNC, official, "bench_requests", "official_async", kw))
    rows.append((BOUND_ASYNC, ours, "bench_requests", "httpcore_alone", {**kw, "flavour": "asyncio"}))
    for name, transport, backend in ASYNC_OURS:
        rows.append((name, ours, "bench_requests", "ours_async", {**kw, "transport": transport, "backend": backend}))
    return rows


def measure(opts: argparse.Namespace, official: str | None, log: Callable[[str], None]) -> dict[str, Any]:
    """Run both endpoints against one origin; return rates per contender."""
    out: dict[str, Any] = {}
    with origin_mod.running() as origin:
        for call in ("get_agents", "status"):
            log(f"per-request: {call}")
            results = _harness.alternate(contenders(origin, call, opts.requests, official), opts.rounds)
            out[call] = {
                name: _harness.Stats.of([r["requests"] / r["seconds"] for r in rounds], higher=True)
                for name, rounds in results.items()
            }
    return out


def report(opts: argparse.Namespace, data: dict[str, Any]) -> tuple[str, list[tuple[str, float, float]]]:
    """The markdown section and the target checks ``(what, ratio, target)``."""
    lines = [
        "## 2. Per-request overhead",
        "",
        f"Sequential calls against one local origin in its own process; {opts.requests} calls per round, "
        f"{opts.rounds} rounds alternating, a new client (and event loop) per round after {WARMUP} warm-up "
        "calls. Ratio: calls/s over the official client of the same flavour (sync or async), medians.",
        "",
    ]
    checks: list[tuple[str, float, float]] = []
    headers = ["endpoint", "contender", "median calls/s", "best calls/s", "µs/call", "vs official"]
    rows = []
    for call, stats in data.items():
        label = "`get_agents()`" if call == "get_agents" else "`status()` (HMAC)"
        for name, st in stats.items():
            peer = None
            if name.startswith(("ours", "bound")) and OFFICIAL_SYNC in stats:
                sync = name in (OURS_SYNC, OURS_SOCKET, BOUND_SYNC)
                peer = stats[OFFICIAL_SYNC] if sync else stats[OFFICIAL_ASYNC]
            ratio = st.speedup_over(peer) if peer else None
            if ratio is not None and name.startswith("ours default"):  # the defaults have a target
                checks.append((f"per-request {call}: {name}", ratio, DEFAULT_TARGET))
            rows.append([label, name, f"{st.median:,.0f}", f"{st.best:,.0f}", f"{1e6 / st.median:.0f}",
                         _harness.ratio_text(ratio)])
    lines.append(_harness.table(headers, rows))
    return "\n".join(lines), checks


def add_options(parser: argparse.ArgumentParser, quick: bool) -> None:
    """Options of this benchmark (shared with run_all)."""
    parser.add_argument("--requests", type=int, default=300 if quick else 2000, help="calls per round")
    parser.add_argument("--rounds", type=int, default=3 if quick else 5)


if __name__ == "__main__":
    _harness.section_main(sys.modules[__name__])
