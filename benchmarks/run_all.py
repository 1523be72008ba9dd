"""The whole benchmark suite (``make bench``): six comparisons, one markdown report.

Runs, in one invocation: SSE decoding, per-request overhead, concurrency, streaming end to end,
memory on an endless stream and webhook verification (see each ``bench_*.py``), then writes
``benchmarks/results/RESULTS.md`` (and ``results.json``) and prints the report. The official SDK
runs in ``benchmarks/.venv-official`` (created on first use; needs PyPI access once).

    python benchmarks/run_all.py [--quick] [--only sse,requests,...] [--no-official]

``--quick`` shrinks every workload (a smoke run of a minute or two); absolute times vary between
machines, the ratios are the point.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import _harness
import bench_concurrency
import bench_memory
import bench_requests
import bench_sse
import bench_streaming
import bench_webhook

SECTIONS = {
    "sse": bench_sse,
    "requests": bench_requests,
    "concurrency": bench_concurrency,
    "streaming": bench_streaming,
    "memory": bench_memory,
    "webhook": bench_webhook,
}
RESULTS = _harness.HERE / "results"


def _options(name: str, quick: bool, argv: list[str]) -> argparse.Namespace:
    # Each section keeps its own option names; `--sse-events 5000` reaches bench_sse's --events.
    parser = argparse.ArgumentParser(add_help=False)
    SECTIONS[name].add_options(parser, quick)
    prefix = f"--{name}-"
    own = []
    for index, arg in enumerate(argv):
        if arg.startswith(prefix):
            own.append("--" + arg[len(prefix):])
            if "=" not in arg and index + 1 < len(argv):
                own.append(argv[index + 1])
    return parser.parse_args(own)


def _jsonable(value: Any) -> Any:
    if isinstance(value, _harness.Stats):
        return asdict(value)
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small workloads, few rounds")
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    parser.add_argument("--no-official", action="store_true", help="skip the official SDK and httpx-sse")
    parser.add_argument("--out", type=Path, default=RESULTS, help="directory for RESULTS.md")
    args, rest = parser.parse_known_args()
    chosen = [name for name in args.only.split(",") if name]
    for name in chosen:
        if name not in SECTIONS:
            raise SystemExit(f"unknown section {name!r}; choose from {', '.join(SECTIONS)}")

    def log(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    official = None if args.no_official else str(_harness.official_python())
    started = time.perf_counter()
    texts: list[str] = []
    checks: list[tuple[str, float, float]] = []
    raw: dict[str, Any] = {}
    for name in chosen:
        opts = _options(name, args.quick, rest)
        data = SECTIONS[name].measure(opts, official, log)
        text, section_checks = SECTIONS[name].report(opts, data)
        texts.append(text)
        checks += section_checks
        raw[name] = {"options": vars(opts), "data": _jsonable(data)}
    elapsed = time.perf_counter() - started

    header = [
        "# muxi-client benchmarks",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M')}; Python {platform.python_version()} on {platform.system()} "
        f"{platform.machine()}, {os.cpu_count()} CPUs; {'quick' if args.quick else 'full'} run in "
        f"{elapsed / 60:.1f} min. Peer: official `muxi` 1.20260713.0 (httpx 0.28.1) and httpx-sse 0.4.3, each "
        "in its own virtual environment and process. Ratios are how many times faster ours is, measured side "
        "by side in this one run; absolute numbers vary between machines.",
        "",
    ]
    if checks:
        header += ["## Targets", ""]
        rows = []
        for what, value, target in checks:
            shown = ("yes" if value >= target else "no") if what.startswith("memory") else f"{value:.2f}x"
            wanted = "flat" if what.startswith("memory") else f">= {target:g}x"
            rows.append([what, shown, wanted, _harness.verdict(value, target)])
        header.append(_harness.table(["check", "measured", "target", "verdict"], rows))
        header.append("")
    report = "\n".join(header) + "\n" + "\n\n".join(texts) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "RESULTS.md").write_text(report, encoding="utf-8")
    (args.out / "results.json").write_text(json.dumps(raw, indent=2), encoding="utf-8")
    print(report)
    log(f"written to {args.out / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
