"""What making a transport (and a client on its default transport) costs, first in a process and after.

Each case runs in a fresh interpreter: the first construction there pays for whatever is built once
per process (the shared SSL context with the system CAs, about 20 ms), the median of the next ones
is the steady cost. No network is touched.

    .venv/bin/python benchmarks/bench_construction.py [-n 200]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

_IMPORT = "from muxi_transports import {} as T\n"
CASES = {
    "HTTPCoreTransport()": _IMPORT.format("HTTPCoreTransport") + "make = T",
    "HTTPCoreTransport(verify=False)": _IMPORT.format("HTTPCoreTransport") + "make = lambda: T(verify=False)",
    "AsyncHTTPCoreTransport()": _IMPORT.format("AsyncHTTPCoreTransport") + "make = T",
    "SocketTransport()": _IMPORT.format("SocketTransport") + "make = T",
    "SocketTransport(verify=False)": _IMPORT.format("SocketTransport") + "make = lambda: T(verify=False)",
    "AnyIOTransport()": _IMPORT.format("AnyIOTransport") + "make = T",
    "FormationClient (default transport)": (
        "from muxi_transports import FormationClient as C\n"
        "make = lambda: C(url='https://muxi.example/api/f/v1', client_key='fmc_bench')"
    ),
}

_RUN = """
import json, statistics, time
{setup}
def once():
    start = time.perf_counter()
    made = make()
    elapsed = time.perf_counter() - start
    getattr(made, "close", lambda: None)()
    return elapsed
first = once()
rest = [once() for _ in range({n})]
print(json.dumps({{"first_ms": first * 1e3, "median_ms": statistics.median(rest) * 1e3}}))
"""


def measure(setup: str, n: int) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", _RUN.format(setup=setup, n=n)], capture_output=True, text=True,
                         check=True)
    result: dict[str, float] = json.loads(out.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200, help="constructions after the first (default 200)")
    args = parser.parse_args()
    print(f"{'construction':38s} {'first in process':>18s} {'then (median)':>15s}")
    for name, setup in CASES.items():
        r = measure(setup, args.n)
        print(f"{name:38s} {r['first_ms']:15.3f} ms {r['median_ms']:12.4f} ms")


if __name__ == "__main__":
    main()
