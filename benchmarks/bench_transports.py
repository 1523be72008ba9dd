"""Sequential GET round trips per second: each muxi transport and httpx, against one local server.

The origin is a minimal fixed-response asyncio server in its own process, so it is not the
bottleneck; its ceiling is measured with a raw-socket client. Contenders run in alternating
rounds (so drift affects all alike); we report the median and best rate of the rounds and each
rate relative to httpx (sync against ``httpx.Client``, async against ``httpx.AsyncClient``).

    make bench-transports            # or: .venv/bin/python benchmarks/bench_transports.py [-n N] [-r R]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BODY = b'{"status": "healthy"}'
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY)
)


# --- the origin server (runs in a child process) -------------------------------------------------


class _Origin(asyncio.Protocol):
    """Answers every request head with the same response; GETs only, keep-alive."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        count = self.buffer.count(b"\r\n\r\n")
        if count:
            self.buffer = self.buffer.rsplit(b"\r\n\r\n", 1)[1]
            self.transport.write(RESPONSE * count)


def serve() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Origin, "127.0.0.1", 0)
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the parent goes
        server.close()

    asyncio.run(main())


# --- contenders ---------------------------------------------------------------------------------

Runner = Callable[[str, int], float]  # (url, n) -> seconds for n sequential GETs


def raw_socket(url: str, n: int) -> float:
    port = int(url.rsplit(":", 1)[1].split("/", maxsplit=1)[0])
    request = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % port
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        start = time.perf_counter()
        for _ in range(n):
            sock.sendall(request)
            got = 0
            while got < len(RESPONSE):
                got += len(sock.recv(65536))
        return time.perf_counter() - start


def muxi_sync(url: str, n: int) -> float:
    from muxi_proto.http import Request
    from muxi_transports import HTTPCoreTransport

    with HTTPCoreTransport() as transport:
        request = Request("GET", url)
        start = time.perf_counter()
        for _ in range(n):
            with transport.send(request) as response:
                response.read()
        return time.perf_counter() - start


def muxi_socket(url: str, n: int) -> float:
    from muxi_proto.http import Request
    from muxi_transports import SocketTransport

    with SocketTransport() as transport:
        request = Request("GET", url)
        start = time.perf_counter()
        for _ in range(n):
            with transport.send(request) as response:
                response.read()
        return time.perf_counter() - start


def httpx_sync(url: str, n: int) -> float:
    import httpx

    with httpx.Client() as client:
        start = time.perf_counter()
        for _ in range(n):
            client.get(url).read()
        return time.perf_counter() - start


def _muxi_async(kind: str, backend: str) -> Runner:
    def run(url: str, n: int) -> float:
        import anyio

        from muxi_proto.http import Request
        from muxi_transports import AnyIOTransport, AsyncHTTPCoreTransport, AsyncTransport

        async def main() -> float:
            transport: AsyncTransport
            if kind == "httpcore":
                transport = AsyncHTTPCoreTransport()
            elif kind == "anyio":
                transport = AnyIOTransport()
            else:
                from muxi_transports.trio_transport import TrioTransport

                transport = TrioTransport()
            request = Request("GET", url)
            async with transport:
                start = time.perf_counter()
                for _ in range(n):
                    async with await transport.send(request) as response:
                        await response.aread()
                return time.perf_counter() - start

        return anyio.run(main, backend=backend)

    return run


def httpx_async(url: str, n: int) -> float:
    import httpx

    async def main() -> float:
        async with httpx.AsyncClient() as client:
            start = time.perf_counter()
            for _ in range(n):
                await (await client.get(url)).aread()
            return time.perf_counter() - start

    return asyncio.run(main())


# name, group for the ratio, runner
CONTENDERS: list[tuple[str, str, Runner]] = [
    ("raw socket (server ceiling)", "", raw_socket),
    ("httpx.Client", "sync", httpx_sync),
    ("HTTPCoreTransport", "sync", muxi_sync),
    ("SocketTransport", "sync", muxi_socket),
    ("httpx.AsyncClient (asyncio)", "async", httpx_async),
    ("AsyncHTTPCoreTransport (asyncio)", "async", _muxi_async("httpcore", "asyncio")),
    ("AsyncHTTPCoreTransport (trio)", "async", _muxi_async("httpcore", "trio")),
    ("AnyIOTransport (asyncio)", "async", _muxi_async("anyio", "asyncio")),
    ("AnyIOTransport (trio)", "async", _muxi_async("anyio", "trio")),
    ("TrioTransport (trio)", "async", _muxi_async("trio", "trio")),
]
BASELINE = {"sync": "httpx.Client", "async": "httpx.AsyncClient (asyncio)"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=2000, help="requests per round (default 2000)")
    parser.add_argument("-r", type=int, default=5, help="rounds (default 5)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        url = f"http://127.0.0.1:{int(server.stdout.readline())}/health"
        for _, _, run in CONTENDERS:  # warm up imports, code paths and the server
            run(url, 50)
        rates: dict[str, list[float]] = {name: [] for name, _, _ in CONTENDERS}
        for _ in range(args.r):
            for name, _, run in CONTENDERS:
                rates[name].append(args.n / run(url, args.n))
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(timeout=10)

    results: dict[str, Any] = {
        "requests_per_round": args.n, "rounds": args.r, "python": sys.version.split()[0],
        "cpus": os.cpu_count(), "contenders": {},
    }
    print(f"sequential GET round trips per second ({args.n} requests x {args.r} rounds, alternating)\n")
    print(f"{'contender':36} {'median/s':>10} {'best/s':>10} {'vs httpx':>9}")
    for name, group, _ in CONTENDERS:
        median, best = statistics.median(rates[name]), max(rates[name])
        ratio = median / statistics.median(rates[BASELINE[group]]) if group else None
        shown = f"{ratio:8.2f}x" if ratio is not None else f"{'':>9}"
        print(f"{name:36} {median:10.0f} {best:10.0f} {shown}")
        results["contenders"][name] = {"median": median, "best": best, "ratio_vs_httpx": ratio}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve()
    else:
        main()
