"""SSE decoding over a family of stream shapes and chunk sizes: ours against the official SDK's
pipeline and httpx-sse, every cell reported, with the worst cell and the geometric mean.

The family (``workloads.SHAPES``, built from the frames of the real runtime captures): unnamed
``data:`` frames as the runtime sends them, deployment-progress named events, ``id:`` and
``retry:`` fields on every event, comments and keepalives interleaved, multi-line data, CRLF
and lone CR line ends, non-ASCII text; each cut into fixed-size chunks of 64 B, 512 B, 4 KiB and
64 KiB as a socket delivers them (lines and events straddle chunk boundaries). Every contender
gets the same chunks and consumes every event, counting them and adding up their data lengths:

* ours: ``SSEDecoder.feed`` on each chunk of a transport response (raw SSE, as httpx-sse);
* before: the decoder of another revision (``--baseline``, by default ``c60221b``, the decoder
  before the work on the SSE issue began: ``git show c60221b:muxi_proto/sse.py``), run the same
  way, so that no cell is slower than before;
* official: ``FormationClient.chat_stream`` of muxi 1.20260713.0 on an ``httpx.Client`` whose
  ``MockTransport`` answers the chunks: httpx's line decoding and the official parser;
* httpx-sse: ``connect_sse(...).iter_sse()`` on the same kind of httpx client.

Checks: ours and before must decode the same events (count and total data length) and the peers
the same data (httpx-sse also yields data-less events at blank lines once an id is set, which
the spec does not dispatch: they are counted apart). Time per event divides by the spec's count.

Floor rows, for the unnamed runtime shape at each chunk size (no SSE rules): the chunks
re-joined and cut at blank lines (``bytes.split``, no decoding, no objects); the cheapest
pipeline of the previous benchmark that yields one object per event (decode, drop keepalives,
cut at "blank line, ``data: ``", one one-slot object per piece); and the split floor, the least
any decoder that yields event objects does per chunk (a chunk with a line end decoded once and
split with what is carried over, only the last piece carried, one one-slot object per other
piece; a chunk without one only kept): the bound on what a Python decoder of this kind shows.

Timing: each contender runs in its own process (the peers in benchmarks/.venv-official),
contenders alternate shape by shape and round by round; a round is the best of ``--repeat``
passes of the CPU time of the worker (``time.process_time``: other processes on a shared
machine do not count), and a cell is the median of its rounds. Ratios are medians divided.

Long-line check: one ``data:`` line of S MiB fed one byte per ``feed`` call, for growing sizes;
constant seconds per MiB shows the decoder is linear (no re-scanning of its buffer).

    python benchmarks/bench_sse.py [--quick] [--shapes a,b] [--chunks 64,512] [--rounds R]
"""

from __future__ import annotations

import argparse
import math
import re
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable, Iterable, Iterator
from itertools import chain
from pathlib import Path
from typing import Any

import _harness
import workloads

CHUNKS = (64, 512, 4096, 65536)
OURS = "ours"
BEFORE = "before"  # (the column of the --baseline revision's decoder)
BASELINE = "c60221b"  # the decoder before the work on the SSE issue began
OFFICIAL = "official"
HTTPX_SSE = "httpx-sse"
LOWER = "lower bound"
FLOOR = "floor"
SPLIT = "split floor"
NAMES = {
    OURS: "ours: SSEDecoder.feed",
    BEFORE: "SSEDecoder.feed of the --baseline revision (before)",
    OFFICIAL: "official: FormationClient.chat_stream (httpx iter_lines + its parser)",
    HTTPX_SSE: "httpx-sse 0.4.3: iter_sse",
    LOWER: "lower bound: bytes.split at blank lines, no decoding, no objects",
    FLOOR: "floor with event objects: decode, cut at blank line + `data: `, one 1-slot object each",
    SPLIT: "split floor: decode, split at blank line + `data: ` with the carried piece, one 1-slot object each",
}


# --- worker side -------------------------------------------------------------------------------------


def _events_of(shape: str, budget: int) -> int:
    per_event = len(workloads.sse_stream(shape, 100)) / 101
    return max(int(budget / per_event), 10)


def _cells(shape: str, budget: int, chunks: list[int]) -> dict[int, list[bytes]]:
    data = workloads.sse_stream(shape, _events_of(shape, budget))
    return {size: workloads.split(data, size) for size in chunks}


def _consume(events: Iterable[Any], access: str) -> tuple[int, int]:
    # One loop per way of reading the data, so no contender pays an extra call per event.
    count = total = 0
    if access == "attr":
        for evt in events:
            count += 1
            total += len(evt.data)
    elif access == "item":
        for evt in events:
            count += 1
            total += len(evt["data"])
    else:
        for evt in events:
            count += 1
            total += len(evt)
    return count, total


def _validate(events: Iterable[Any], access: str) -> dict[str, int]:
    # Untimed: what a contender decoded, with events without data apart (see the module doc).
    count = empty = total = 0
    for evt in events:
        data = evt.data if access == "attr" else evt["data"] if access == "item" else evt
        count += 1
        empty += not data
        total += len(data)
    return {"events": count, "empty": empty, "checksum": total}


def _runner(makers: dict[int, Callable[[], Iterable[Any]]], access: str, repeat: int,
            check: bool = True) -> Callable[[], dict[str, Any]]:
    # `makers`: per chunk size, a callable that starts one pass (set up beforehand, untimed).
    seen = {size: _validate(make(), access) if check else {} for size, make in makers.items()}

    def run() -> dict[str, Any]:
        out: dict[str, Any] = {}
        for size, make in makers.items():
            best = math.inf
            for _ in range(repeat):
                start = time.process_time()
                _consume(make(), access)
                best = min(best, time.process_time() - start)
            out[str(size)] = {"seconds": best, **seen[size]}
        return out

    return run


def _decoder_makers(decoder: Any, cells: dict[int, list[bytes]]) -> dict[int, Callable[[], Iterator[Any]]]:
    from muxi_transports.base import SyncResponse

    def maker(chunks: list[bytes]) -> Callable[[], Iterator[Any]]:
        def make() -> Iterator[Any]:
            response = SyncResponse(200, (("content-type", "text/event-stream"),), chunks)
            return chain.from_iterable(map(decoder().feed, response.iter_bytes()))

        return make

    return {size: maker(chunks) for size, chunks in cells.items()}


def ours(shape: str, budget: int, chunks: list[int], repeat: int) -> Callable[[], dict[str, Any]]:
    """Our decoder over a transport response's chunks."""
    from muxi_proto.sse import SSEDecoder

    return _runner(_decoder_makers(SSEDecoder, _cells(shape, budget, chunks)), "attr", repeat)


def main_decoder(shape: str, budget: int, chunks: list[int], repeat: int, source: str) -> Callable[[], dict[str, Any]]:
    """The decoder of another revision (its ``muxi_proto/sse.py`` at ``source``), run the same way."""
    import muxi_proto

    module = types.ModuleType("muxi_proto._sse_main")
    module.__package__ = muxi_proto.__name__  # its relative imports resolve to ours (errors)
    exec(compile(Path(source).read_text(encoding="utf-8"), source, "exec"), module.__dict__)
    return _runner(_decoder_makers(module.SSEDecoder, _cells(shape, budget, chunks)), "attr", repeat)


def _httpx_mock(chunks: list[bytes]) -> Any:
    # Everything but the socket, exactly as the official SDK and httpx-sse run on a real response.
    import httpx

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=iter(chunks))

    return httpx.Client(transport=httpx.MockTransport(handler))


def official(shape: str, budget: int, chunks: list[int], repeat: int) -> Callable[[], dict[str, Any]]:
    """The official SDK's chat_stream on httpx's mock transport."""
    from muxi import FormationClient  # the official SDK (only importable in its own venv)

    def maker(chunks: list[bytes]) -> Callable[[], Iterable[Any]]:
        client = FormationClient(base_url="http://127.0.0.1:9/v1", client_key="ck", admin_key="ak")
        client._transport._client = _httpx_mock(chunks)
        return lambda: client.chat_stream({"message": "hi"})

    return _runner({size: maker(c) for size, c in _cells(shape, budget, chunks).items()}, "item", repeat)


def httpx_sse(shape: str, budget: int, chunks: list[int], repeat: int) -> Callable[[], dict[str, Any]]:
    """httpx-sse's iter_sse on httpx's mock transport."""
    from httpx_sse import connect_sse

    def maker(chunks: list[bytes]) -> Callable[[], Iterator[Any]]:
        http = _httpx_mock(chunks)

        def make() -> Iterator[Any]:
            with connect_sse(http, "POST", "http://127.0.0.1:9/v1/chat") as source:
                yield from source.iter_sse()

        return make

    return _runner({size: maker(c) for size, c in _cells(shape, budget, chunks).items()}, "attr", repeat)


def lower_bound(shape: str, budget: int, chunks: list[int], repeat: int) -> Callable[[], dict[str, Any]]:
    """Frames cut out of the bytes, nothing else (keepalive frames count too)."""

    def maker(chunks: list[bytes]) -> Callable[[], Iterator[bytes]]:
        def frames() -> Iterator[list[bytes]]:
            tail = b""
            for piece in chunks:
                parts = (tail + piece).split(b"\n\n")
                tail = parts.pop()
                yield parts

        return lambda: chain.from_iterable(frames())

    return _runner({size: maker(c) for size, c in _cells(shape, budget, chunks).items()}, "frame", repeat,
                   check=False)


class _Frame:
    __slots__ = ("data",)

    def __init__(self, data: str) -> None:
        self.data = data


def floor_objects(shape: str, budget: int, chunks: list[int], repeat: int) -> Callable[[], dict[str, Any]]:
    """The cheapest pipeline that yields one object per event (no SSE rules beyond the cut)."""
    keepalive = "\n\n: keepalive\n\n"

    def maker(chunks: list[bytes]) -> Callable[[], Iterator[_Frame]]:
        def frames() -> Iterator[list[_Frame]]:
            tail = b""
            for piece in chunks:
                cut = piece.rfind(b"\n")
                text = (tail + piece[:cut]).decode("utf-8", "replace")
                tail = piece[cut + 1:]
                yield list(map(_Frame, "\n\n".join(text.split(keepalive)).split("\n\ndata: ")))

        return lambda: chain.from_iterable(frames())

    return _runner({size: maker(c) for size, c in _cells(shape, budget, chunks).items()}, "attr", repeat,
                   check=False)


def floor_split(shape: str, budget: int, chunks: list[int], repeat: int) -> Callable[[], dict[str, Any]]:
    """The least a decoder that yields event objects does per chunk: decode it, split the text
    carried over plus it at "blank line, ``data: ``", carry the last piece, one object per
    other piece; keep a chunk without a line end (no other SSE rule, nor partial characters: a
    bound, not a decoder)."""
    split = re.compile(r"\n\ndata: ").split

    def maker(chunks: list[bytes]) -> Callable[[], Iterator[_Frame]]:
        def frames() -> Iterator[list[_Frame]]:
            text = "\n\n"
            raw = bytearray()
            for piece in chunks:
                raw += piece
                if 10 not in piece:  # no line end: nothing to split
                    yield []
                    continue
                parts = split(text + raw.decode("utf-8", "replace"))
                raw.clear()
                text = "\n\ndata: " + parts.pop()
                del parts[0]
                yield list(map(_Frame, parts))

        return lambda: chain.from_iterable(frames())

    return _runner({size: maker(c) for size, c in _cells(shape, budget, chunks).items()}, "attr", repeat,
                   check=False)


def linear(sizes_mib: list[float]) -> Callable[[], dict[str, Any]]:
    """One long data line fed one byte per call, for each size."""
    from muxi_proto.sse import SSEDecoder

    def run() -> dict[str, Any]:
        rows = []
        for mib in sizes_mib:
            size = int(mib * 1024 * 1024)
            decoder = SSEDecoder(max_size=size + 64)
            feed = decoder.feed
            byte = b"x"
            start = time.perf_counter()
            feed(b"data: ")
            for _ in range(size):
                feed(byte)
            [evt] = feed(b"\n\n")
            seconds = time.perf_counter() - start
            assert len(evt.data) == size
            del evt
            rows.append({"mib": mib, "seconds": seconds})
        return {"rows": rows, "max_rss_mib": _harness.rss_mib()}

    return run


# --- driver side -------------------------------------------------------------------------------------


def _main_source(ref: str, log: Callable[[str], None]) -> str | None:
    """``muxi_proto/sse.py`` of ``ref`` in a temporary file, or None when git cannot show it."""
    try:
        text = subprocess.run(["git", "show", f"{ref}:muxi_proto/sse.py"], cwd=_harness.ROOT, check=True,
                              capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        log(f"sse: no {ref}:muxi_proto/sse.py (git), the before column is left out")
        return None
    path = Path(tempfile.gettempdir()) / f"muxi_sse_{ref.replace('/', '_')}.py"
    path.write_text(text, encoding="utf-8")
    return str(path)


def measure(opts: argparse.Namespace, official_py: str | None, log: Callable[[str], None]) -> dict[str, Any]:
    """Every shape and chunk size, every contender; plus the long-line check."""
    ours_py = sys.executable
    shapes = [s for s in opts.shapes.split(",") if s] if opts.shapes else list(workloads.SHAPES)
    chunks = [int(c) for c in opts.chunks.split(",") if c]
    source = _main_source(opts.baseline, log) if opts.baseline else None
    out: dict[str, Any] = {"shapes": {}, "chunks": chunks}
    for shape in shapes:
        log(f"sse: {shape}")
        kw = {"shape": shape, "budget": opts.budget, "chunks": chunks, "repeat": opts.repeat}
        contenders: list[tuple[str, Any, str, str, dict[str, Any]]] = [(OURS, ours_py, "bench_sse", "ours", kw)]
        if source:
            contenders.append((BEFORE, ours_py, "bench_sse", "main_decoder", {**kw, "source": source}))
        if official_py:
            contenders += [(OFFICIAL, official_py, "bench_sse", "official", kw),
                           (HTTPX_SSE, official_py, "bench_sse", "httpx_sse", kw)]
        if shape == "runtime":
            contenders += [(LOWER, ours_py, "bench_sse", "lower_bound", kw),
                           (FLOOR, ours_py, "bench_sse", "floor_objects", kw),
                           (SPLIT, ours_py, "bench_sse", "floor_split", kw)]
        rounds = _harness.alternate(contenders, opts.rounds)
        cells: dict[str, Any] = {}
        for size in chunks:
            key = str(size)
            want = rounds[OURS][0][key]
            cell: dict[str, Any] = {"events": want["events"], "bytes": sum(map(len, workloads.split(
                workloads.sse_stream(shape, _events_of(shape, opts.budget)), size)))}
            for name, results in rounds.items():
                got = results[0][key]
                if name in (OURS, BEFORE) and (got["events"], got["checksum"]) != (want["events"], want["checksum"]):
                    raise SystemExit(f"{name} decoded other events ({shape}, {size} B): {got}, want {want}")
                if name in (OFFICIAL, HTTPX_SSE) and (got["events"] - got["empty"], got["checksum"]) != (
                        want["events"] - want["empty"], want["checksum"]):
                    raise SystemExit(f"{name} decoded other data ({shape}, {size} B): {got}, want {want}")
                cell[name] = _harness.Stats.of(r[key]["seconds"] / want["events"] for r in results)
                if name in (OFFICIAL, HTTPX_SSE):
                    cell[name + " extra events"] = got["events"] - want["events"]
            cells[key] = cell
        out["shapes"][shape] = cells
    if opts.linear_mib:
        log("sse: long line")
        sizes = [float(s) for s in opts.linear_mib.split(",") if s]
        out["linear"] = _harness.run_once("linear", ours_py, "bench_sse", "linear", sizes_mib=sizes)
    return out


def _geomean(values: list[float]) -> float:
    return math.exp(sum(map(math.log, values)) / len(values)) if values else math.nan


def summary(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per peer: every cell's ratio (peer median / ours), the worst cell and the geometric mean."""
    result: dict[str, dict[str, Any]] = {}
    for peer in (OFFICIAL, HTTPX_SSE, BEFORE):
        ratios = {(shape, size): cell[peer].median / cell[OURS].median
                  for shape, cells in data["shapes"].items() for size, cell in cells.items() if peer in cell}
        if ratios:
            worst = min(ratios, key=ratios.__getitem__)
            result[peer] = {"ratios": ratios, "worst": ratios[worst], "worst_cell": worst,
                            "geomean": _geomean(list(ratios.values()))}
    return result


def report(opts: argparse.Namespace, data: dict[str, Any]) -> tuple[str, list[tuple[str, float, float]]]:
    """The markdown section and the target checks."""
    ns = 1e9
    chunks = data["chunks"]
    lines = [
        "## 1. SSE decoding",
        "",
        f"{len(data['shapes'])} shapes x {len(chunks)} chunk sizes; every event consumed (count and data "
        f"length checked); {opts.rounds} rounds alternating, each the best of {opts.repeat} passes, CPU time "
        f"of each worker; about {opts.budget / 1e6:g} MB of stream per cell and pass. A cell is ns per event "
        "(median of rounds); ratios are how many times faster ours is.",
    ]
    checks: list[tuple[str, float, float]] = []
    totals = summary(data)
    if totals:
        lines += ["", "**Summary** (over every cell)", ""]
        rows = []
        for peer, stats in totals.items():
            shape, size = stats["worst_cell"]
            rows.append([f"ours vs {peer}", _harness.ratio_text(stats["worst"]), f"{shape}, {size} B",
                         _harness.ratio_text(stats["geomean"])])
            if peer in (OFFICIAL, HTTPX_SSE):
                checks.append((f"SSE worst cell vs {peer}", stats["worst"], 3.0))
                checks.append((f"SSE geomean vs {peer}", stats["geomean"], 4.0))
            else:
                checks.append((f"SSE worst cell vs the decoder before ({opts.baseline}; no cell slower)",
                               stats["worst"], 1.0))
        lines.append(_harness.table(["comparison", "worst cell", "where", "geomean"], rows))
    headers = ["shape", "chunk", "ours ns/event"]
    peers = [p for p in (BEFORE, OFFICIAL, HTTPX_SSE) if any(p in c for cells in data["shapes"].values()
                                                         for c in cells.values())]
    for peer in peers:
        headers += [f"{peer} ns/event", f"vs {peer}"]
    rows = []
    for shape, cells in data["shapes"].items():
        for size in chunks:
            cell = cells[str(size)]
            row = [shape, _size(size), f"{cell[OURS].median * ns:.0f}"]
            for peer in peers:
                if peer in cell:
                    row += [f"{cell[peer].median * ns:.0f}",
                            _harness.ratio_text(cell[peer].median / cell[OURS].median)]
                else:
                    row += ["", ""]
            rows.append(row)
    lines += ["", "**Every cell**", "", _harness.table(headers, rows)]
    if BEFORE in peers:
        lines += ["", f"before: the decoder of `{opts.baseline}` (`--baseline`), run the same way."]
    lines += ["", "Shapes: " + "; ".join(f"`{name}` {text}" for name, text in workloads.SHAPES.items()
                                          if name in data["shapes"]) + "."]
    extra = {(shape, size): cell.get(HTTPX_SSE + " extra events", 0) for shape, cells in data["shapes"].items()
             for size, cell in cells.items()}
    if any(extra.values()):
        shown = sorted({shape for (shape, _), n in extra.items() if n})
        lines += ["", f"httpx-sse also yields data-less events in: {', '.join(shown)} (not dispatched by the "
                  "spec; not counted in ns/event)."]
    if "runtime" in data["shapes"] and OFFICIAL in data["shapes"]["runtime"][str(chunks[0])]:
        cells = data["shapes"]["runtime"]
        lines += ["", "**Floors** (runtime shape: no SSE rules; the most any decoder of their kind can show)", ""]
        rows = []
        for name in (LOWER, FLOOR, SPLIT):
            row = [NAMES[name]]
            for size in chunks:
                cell = cells[str(size)]
                row.append(_floor_cell(cell, name))
            rows.append(row)
        row = [NAMES[OURS]]
        for size in chunks:
            cell = cells[str(size)]
            row.append(_floor_cell(cell, OURS))
        rows.append(row)
        lines.append(_harness.table(["ns/event (vs official)"] + [_size(s) for s in chunks], rows))
    if "linear" in data:
        lin = data["linear"]
        lines += ["", "**Long line, one byte per `feed()`** (linear: constant s/MiB)", ""]
        lines.append(_harness.table(
            ["MiB", "seconds", "s/MiB"],
            [[f"{r['mib']:g}", f"{r['seconds']:.2f}", f"{r['seconds'] / r['mib']:.3f}"] for r in lin["rows"]]))
    return "\n".join(lines), checks


def _floor_cell(cell: dict[str, Any], name: str) -> str:
    return f"{cell[name].median * 1e9:.0f} ({_harness.ratio_text(cell[OFFICIAL].median / cell[name].median)})"


def _size(size: int) -> str:
    return f"{size // 1024} KiB" if size >= 1024 else f"{size} B"


def add_options(parser: argparse.ArgumentParser, quick: bool) -> None:
    """Options of this benchmark (shared with run_all)."""
    parser.add_argument("--shapes", default="", help=f"comma-separated, of: {', '.join(workloads.SHAPES)}")
    parser.add_argument("--chunks", default=",".join(map(str, CHUNKS)), help="chunk sizes in bytes")
    parser.add_argument("--budget", type=int, default=250_000 if quick else 1_000_000,
                        help="bytes of stream per cell and pass")
    parser.add_argument("--rounds", type=int, default=3 if quick else 5)
    parser.add_argument("--repeat", type=int, default=3, help="passes per round (best kept)")
    parser.add_argument("--baseline", default=BASELINE,
                        help="git revision of the decoder to compare with, the before column ('' to skip)")
    parser.add_argument("--linear-mib", default="" if quick else "1,4,16",
                        help="sizes of the long-line check, e.g. 1,2,4,8,16,50 ('' to skip)")


def main() -> None:
    """``python benchmarks/bench_sse.py``: run, print, and write ``results/sse.md`` and ``sse.json``."""
    import json

    quick = "--quick" in sys.argv
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-official", action="store_true", help="skip the official SDK (and httpx-sse)")
    parser.add_argument("--out", type=Path, default=_harness.HERE / "results", help="directory for the results")
    add_options(parser, quick)
    opts = parser.parse_args()
    official_py = None if opts.no_official else str(_harness.official_python())
    started = time.perf_counter()
    data = measure(opts, official_py, lambda message: print(message, file=sys.stderr, flush=True))
    text, checks = report(opts, data)
    head = [f"# SSE decoding benchmark ({time.strftime('%Y-%m-%d %H:%M')}, {platform_line()}, "
            f"{(time.perf_counter() - started) / 60:.1f} min)", ""]
    if checks:
        head += [_harness.table(["check", "measured", "target", "verdict"],
                                [[what, f"{value:.2f}x", f">= {target:g}x", _harness.verdict(value, target)]
                                 for what, value, target in checks]), ""]
    text = "\n".join(head) + "\n" + text + "\n"
    opts.out.mkdir(parents=True, exist_ok=True)
    (opts.out / "sse.md").write_text(text, encoding="utf-8")
    raw = {"options": vars(opts) | {"out": str(opts.out)}, "data": _jsonable(data),
           "summary": {peer: {"worst": s["worst"], "worst_cell": list(s["worst_cell"]), "geomean": s["geomean"]}
                       for peer, s in summary(data).items()}}
    (opts.out / "sse.json").write_text(json.dumps(raw, indent=1), encoding="utf-8")
    print(text)


def platform_line() -> str:
    """Python and machine, for the report's header."""
    import os
    import platform

    return f"Python {platform.python_version()} on {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"


def _jsonable(value: Any) -> Any:
    if isinstance(value, _harness.Stats):
        return {"median": value.median, "best": value.best, "values": list(value.values)}
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value


if __name__ == "__main__":
    main()
