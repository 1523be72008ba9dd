"""The benchmark harness: contenders in their own processes, alternating rounds, median and best.

Every contender runs in a subprocess (the official SDK must: its package name ``muxi`` clashes with
our facade). A :class:`Worker` is a long-lived subprocess holding one contender, ready to run one
round on request, so a comparison can alternate contenders round by round in one invocation: drift
(CPU frequency, other load) then affects all of them alike. :func:`alternate` does that and
:class:`Stats` summarises the rounds.

Worker protocol (this file run with ``--worker MODULE FUNCTION JSON``): the worker imports
``MODULE`` (a file in ``benchmarks/``) and calls ``FUNCTION(**JSON)``, which returns a ``run()``
callable (set-up happens once, untimed). Then, for every ``run`` line on stdin, it calls
``run()`` and writes one ``@@result <json>`` line; ``quit`` or end of input stops it.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
_RESULT = "@@result "
ROUND_TIMEOUT = 300.0  # seconds
_ERROR = "@@error "


def official_python() -> Path:
    """The interpreter of ``benchmarks/.venv-official`` (created on first use)."""
    sys.path.insert(0, str(HERE))
    import official_env

    return official_env.ensure()


def worker_env() -> dict[str, str]:
    """The environment of every worker: fixed hashing, no update notices from the official SDK."""
    env = dict(os.environ, PYTHONHASHSEED="0", MUXI_SDK_VERSION_NOTIFICATION="0")
    env.pop("MUXI_DEBUG", None)
    return env


class WorkerError(RuntimeError):
    """A contender failed; the message carries its traceback."""


class Worker:
    """One contender in its own process; :meth:`run` runs one round and returns its result."""

    def __init__(self, name: str, python: str | Path, module: str, function: str, **kwargs: Any) -> None:
        self.name = name
        env = worker_env()
        if Path(python) != Path(sys.executable):
            # Another environment (the official SDK's): a PYTHONPATH that points at a checkout of
            # ours (to run a worktree's code) would shadow its `muxi` package.
            env.pop("PYTHONPATH", None)
        self._process = subprocess.Popen(
            [str(python), str(Path(__file__).resolve()), "--worker", module, function, json.dumps(kwargs)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
            cwd=tempfile.gettempdir(),  # never the project root: `muxi` must resolve per venv
        )

    def run(self, timeout: float = ROUND_TIMEOUT) -> dict[str, Any]:
        """One round; a round that takes longer than ``timeout`` seconds kills the worker."""
        process = self._process
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write("run\n")
            process.stdin.flush()
        except BrokenPipeError:
            pass
        watchdog = threading.Timer(timeout, process.kill)  # a hung contender must not hang the suite
        watchdog.start()
        try:
            for line in process.stdout:
                if line.startswith(_RESULT):
                    result: dict[str, Any] = json.loads(line[len(_RESULT):])
                    return result
                if line.startswith(_ERROR):
                    raise WorkerError(f"{self.name}: {json.loads(line[len(_ERROR):])}")
        finally:
            watchdog.cancel()
        raise WorkerError(f"{self.name}: the worker exited (code {process.wait()})")

    def close(self) -> None:
        """Stop the process."""
        process = self._process
        if process.poll() is None:
            with contextlib.suppress(BrokenPipeError, OSError):
                assert process.stdin is not None
                process.stdin.write("quit\n")
                process.stdin.close()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()


def run_once(name: str, python: str | Path, module: str, function: str, **kwargs: Any) -> dict[str, Any]:
    """One round in a fresh process (for measurements that need a clean heap)."""
    worker = Worker(name, python, module, function, **kwargs)
    try:
        return worker.run()
    finally:
        worker.close()


def alternate(
    contenders: Sequence[tuple[str, str | Path, str, str, dict[str, Any]]],
    rounds: int,
    *,
    warmup: int = 1,
    fresh: bool = False,
    progress: Callable[[str], None] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Run ``rounds`` rounds of every contender, one contender after the other within a round.

    ``contenders`` are ``(name, python, module, function, kwargs)``. With ``fresh`` every round runs
    in a new process (no warm-up rounds); otherwise each contender keeps one process and first runs
    ``warmup`` unrecorded rounds.
    """
    results: dict[str, list[dict[str, Any]]] = {name: [] for name, *_ in contenders}
    if fresh:
        for index in range(rounds):
            for name, python, module, function, kwargs in contenders:
                if progress:
                    progress(f"{name} (round {index + 1}/{rounds})")
                results[name].append(run_once(name, python, module, function, **kwargs))
        return results
    workers = [Worker(name, python, module, function, **kw) for name, python, module, function, kw in contenders]
    try:
        for worker in workers:
            for _ in range(warmup):
                worker.run()
        for index in range(rounds):
            for worker in workers:
                if progress:
                    progress(f"{worker.name} (round {index + 1}/{rounds})")
                results[worker.name].append(worker.run())
    finally:
        for worker in workers:
            worker.close()
    return results


@dataclass(frozen=True)
class Stats:
    """Median and best of a series of per-round values; ``higher`` says which way is better."""

    median: float
    best: float
    values: tuple[float, ...]
    higher: bool = False

    @classmethod
    def of(cls, values: Iterable[float], *, higher: bool = False) -> Stats:
        """Summarise ``values`` (seconds, or rates when ``higher``)."""
        series = tuple(values)
        best = max(series) if higher else min(series)
        return cls(statistics.median(series), best, series, higher)

    def speedup_over(self, other: Stats) -> float:
        """How many times better this is than ``other``, on medians."""
        if self.higher:
            return self.median / other.median
        return other.median / self.median


def rss_mib() -> float:
    """Resident set size of this process now, in MiB (``/proc/self/status``; peak RSS elsewhere)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def raise_fd_limit(wanted: int) -> None:
    """Allow ``wanted`` open files (many concurrent connections), up to the hard limit."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


# --- markdown -------------------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A markdown table; numbers right-aligned."""
    lines = ["| " + " | ".join(headers) + " |"]
    lines.append("|" + "|".join("---:" if i else "---" for i in range(len(headers))) + "|")
    lines.extend("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows)
    return "\n".join(lines)


def ratio_text(value: float | None) -> str:
    """``4.21x`` or an empty cell."""
    return "" if value is None else f"{value:.2f}x"


def verdict(value: float, target: float) -> str:
    """``met`` / ``NOT met`` against a minimum ratio."""
    return "met" if value >= target else "**NOT met**"


# --- worker side ----------------------------------------------------------------------------------


def section_main(section: Any) -> None:
    """Run one benchmark section from the command line (``python benchmarks/bench_x.py``).

    ``section`` is the module: its docstring's first line describes it, and it provides
    ``add_options(parser, quick)``, ``measure(opts, official_python, log)`` and ``report(opts, data)``.
    """
    import argparse

    quick = "--quick" in sys.argv
    parser = argparse.ArgumentParser(description=(section.__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-official", action="store_true", help="skip the official SDK (and httpx-sse)")
    section.add_options(parser, quick)
    opts = parser.parse_args()
    official = None if opts.no_official else str(official_python())
    data = section.measure(opts, official, lambda msg: print(msg, file=sys.stderr))
    text, _ = section.report(opts, data)
    print(text)


def _worker_main(module_name: str, function: str, raw_kwargs: str) -> None:
    sys.path.insert(0, str(HERE))
    out = sys.stdout
    sys.stdout = sys.stderr  # stray prints from a contender must not corrupt the protocol
    try:
        module = importlib.import_module(module_name)
        run = getattr(module, function)(**json.loads(raw_kwargs))
    except BaseException:
        out.write(_ERROR + json.dumps(traceback.format_exc()) + "\n")
        out.flush()
        raise SystemExit(1) from None
    for line in sys.stdin:
        command = line.strip()
        if command == "quit":
            break
        try:
            result = run()
        except BaseException:
            out.write(_ERROR + json.dumps(traceback.format_exc()) + "\n")
            out.flush()
            raise SystemExit(1) from None
        out.write(_RESULT + json.dumps(result) + "\n")
        out.flush()
    closer = getattr(run, "close", None)
    if callable(closer):
        closer()


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--worker":
        _worker_main(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        raise SystemExit("usage: _harness.py --worker MODULE FUNCTION JSON")
