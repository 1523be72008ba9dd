"""Memory on an endless stream: RSS while consuming ``--gib`` of chat frames; it must stay flat.

The origin streams token frames for ever (4 KiB HTTP chunks); each contender, in a fresh process,
iterates the chat stream and samples its resident set size (``/proc/self/status`` VmRSS) every
1/16 of the way, then closes the stream. Flat means the last sample minus the first (taken after
the first 1/16, once buffers and caches have their working size) is under ``--flat-mib``.

    python benchmarks/bench_memory.py [--quick] [--gib G]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

import _harness
import bench_requests
import origin as origin_mod

SAMPLES = 16
FRAME_OVERHEAD = len(b"data: \n\n")  # wire bytes of a token frame besides its data
OFFICIAL = "official (httpx.Client)"
CONTENDERS = [
    ("ours default = SocketTransport (sync)", "ours_sync", {"transport": "default"}),
    ("ours default = AnyIOTransport (asyncio)", "ours_async", {"transport": "default", "backend": "asyncio"}),
    ("ours default = AnyIOTransport (trio)", "ours_async", {"transport": "default", "backend": "trio"}),
    ("ours HTTPCoreTransport (sync)", "ours_sync", {}),
    ("ours AsyncHTTPCoreTransport (asyncio)", "ours_async", {"transport": "httpcore", "backend": "asyncio"}),
]


class _Sampler:
    """Counts consumed bytes; records RSS at every step."""

    def __init__(self, total: int) -> None:
        self.step = total // SAMPLES
        self.next = self.step
        self.seen = 0
        self.samples: list[float] = []
        self.start = time.perf_counter()

    def add(self, data_len: int) -> bool:
        """Count one event; True once the total is consumed."""
        self.seen += data_len + FRAME_OVERHEAD
        if self.seen >= self.next:
            self.samples.append(_harness.rss_mib())
            self.next += self.step
            return len(self.samples) >= SAMPLES
        return False

    def result(self) -> dict[str, Any]:
        return {"samples": self.samples, "bytes": self.seen, "seconds": time.perf_counter() - self.start}


def ours_sync(origin: str, total: int, transport: str = "httpcore") -> Callable[[], dict[str, Any]]:
    """Our blocking client on its default transport (``"default"``: none passed) or on httpcore."""
    from muxi_transports import FormationClient, HTTPCoreTransport

    def run() -> dict[str, Any]:
        sampler = _Sampler(total)
        http = HTTPCoreTransport() if transport == "httpcore" else None
        client = FormationClient(url=origin, client_key=bench_requests.CLIENT_KEY, transport=http)
        with client, client.chat_stream({"message": "endless"}) as stream:
            for evt in stream:
                if sampler.add(len(evt.data)):
                    break
        if http is not None:
            http.close()
        return sampler.result()

    return run


def ours_async(origin: str, total: int, transport: str, backend: str) -> Callable[[], dict[str, Any]]:
    """Our async client on ``transport`` under ``backend``."""
    import anyio
    import bench_streaming

    from muxi_transports import AsyncFormationClient

    async def main() -> dict[str, Any]:
        sampler = _Sampler(total)
        async with bench_streaming._transport(transport) as http, AsyncFormationClient(
            url=origin, client_key=bench_requests.CLIENT_KEY, transport=http
        ) as client, await client.chat_stream({"message": "endless"}) as stream:
            async for evt in stream:
                if sampler.add(len(evt.data)):
                    break
        return sampler.result()

    return lambda: anyio.run(main, backend=backend)


def official_sync(origin: str, total: int) -> Callable[[], dict[str, Any]]:
    """The official blocking client."""
    import muxi

    def run() -> dict[str, Any]:
        sampler = _Sampler(total)
        client = muxi.FormationClient(url=origin, client_key=bench_requests.CLIENT_KEY)
        try:
            stream = client.chat_stream({"message": "endless"})
            for evt in stream:
                if sampler.add(len(evt["data"])):
                    break
            stream.close()
        finally:
            client._transport.close()
        return sampler.result()

    return run


def measure(opts: argparse.Namespace, official_py: str | None, log: Callable[[str], None]) -> dict[str, Any]:
    """Each contender once, in a fresh process."""
    total = int(opts.gib * 1024**3)
    out: dict[str, Any] = {}
    with origin_mod.running() as origin:
        contenders: list[bench_requests.Contender] = [
            (name, sys.executable, "bench_memory", function, {"origin": origin, "total": total, **extra})
            for name, function, extra in CONTENDERS
        ]
        if official_py:
            contenders.append((OFFICIAL, official_py, "bench_memory", "official_sync",
                               {"origin": origin, "total": total}))
        for name, python, module, function, kw in contenders:
            log(f"memory: {name}")
            out[name] = _harness.run_once(name, python, module, function, **kw)
    return out


def report(opts: argparse.Namespace, data: dict[str, Any]) -> tuple[str, list[tuple[str, float, float]]]:
    """The markdown section; the flatness verdicts are checks with target 0 growth."""
    lines = [
        "## 5. Memory on an endless stream",
        "",
        f"RSS (MiB) sampled every 1/{SAMPLES} of {opts.gib:g} GiB of chat frames consumed from an endless "
        f"stream, one fresh process per contender. Flat: last sample minus first under {opts.flat_mib:g} MiB.",
        "",
    ]
    rows = []
    checks = []
    for name, r in data.items():
        samples = r["samples"]
        growth = samples[-1] - samples[0]
        flat = growth < opts.flat_mib
        if name != OFFICIAL:
            checks.append((f"memory flat: {name}", 1.0 if flat else 0.0, 1.0))
        series = " ".join(f"{s:.0f}" for s in samples)
        rows.append([name, f"{r['bytes'] / 1024**3:.2f}", f"{r['bytes'] / r['seconds'] / 1e6:.0f}", series,
                     f"{growth:+.1f}", "flat" if flat else "**grows**"])
    lines.append(_harness.table(["contender", "GiB", "MB/s", "RSS series (MiB)", "last - first", "verdict"], rows))
    return "\n".join(lines), checks


def add_options(parser: argparse.ArgumentParser, quick: bool) -> None:
    """Options of this benchmark (shared with run_all)."""
    parser.add_argument("--gib", type=float, default=0.25 if quick else 1.0, help="data to consume")
    parser.add_argument("--flat-mib", type=float, default=8.0, help="allowed growth")


if __name__ == "__main__":
    _harness.section_main(sys.modules[__name__])
