"""SSE decoding: ours against the official SDK's pipeline and httpx-sse, with a lower bound.

Workloads: the chat workload of the SSE issue (N unnamed ``data:`` token frames of about 60 bytes,
a ``: keepalive`` every 25 frames, a final ``event: done``) and N/4 frames of a real runtime
capture (about 260 bytes each), cut into fixed-size chunks as a socket delivers them (lines
straddle chunk boundaries). Every contender gets the same chunks and consumes every event, counting
them and adding up their data lengths (a checksum that must agree):

* lower bound: the chunks re-joined and split at blank lines (``bytes.split``), no decoding, no
  event objects: the least any SSE consumer in Python does per frame;
* floor with event objects: the least a decoder that yields an object with a ``data`` attribute
  per event does: the chunks decoded to text, keepalives dropped, the text cut at every
  "blank line, ``data: ``" and one object of a one-slot class built per piece; no other SSE rule
  (pieces that straddle chunks or hold other fields are left wrong). It shows what is left for the
  rules once Python has made the objects;
* ours, decoder: ``SSEDecoder.feed`` on each chunk of a transport response (raw SSE, as httpx-sse);
* ours, client: ``FormationClient.chat_stream`` on a mock transport answering the chunks: the
  whole pipeline a user iterates (stream wrapper, chat state machine, decoder) minus the socket;
* official: ``FormationClient.chat_stream`` of muxi 1.20260713.0 on an ``httpx.Client`` whose
  ``MockTransport`` answers the chunks: its whole pipeline minus the socket;
* httpx-sse: ``connect_sse(...).iter_sse()`` on the same kind of httpx client.

Contenders run in their own processes (the official SDK and httpx-sse in benchmarks/.venv-official),
alternating round by round; a round is the best of ``--repeat`` passes.

Long-line check: one ``data:`` line of S MiB fed one byte per ``feed`` call, for growing sizes;
constant seconds per MiB shows the decoder is linear (no re-scanning of its buffer).

    python benchmarks/bench_sse.py [--quick] [--events N] [--chunk BYTES] [--rounds R]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from itertools import chain
from typing import Any

import _harness
import workloads

WORKLOADS = {
    "chat": ("chat workload (~60-byte token frames)", workloads.chat_workload, 1),
    "runtime": ("real runtime token frames (~260 bytes), replayed", workloads.runtime_replay, 4),
}
LOWER = "lower bound: bytes.split at blank lines"
FLOOR = "floor with event objects: split + one 1-slot object per frame"
DECODER = "ours: SSEDecoder.feed"
CLIENT = "ours: FormationClient.chat_stream"
OFFICIAL = "official: FormationClient.chat_stream"
HTTPX_SSE = "httpx-sse 0.4.3: iter_sse"


# --- worker side -------------------------------------------------------------------------------------


def _chunks(workload: str, events: int, chunk: int) -> tuple[list[bytes], int]:
    count = max(events // WORKLOADS[workload][2], 1)
    return workloads.split(WORKLOADS[workload][1](count), chunk), count + 1


def _timed(make_events: Callable[[], Iterable[Any]], access: str, repeat: int) -> dict[str, Any]:
    # One consumer loop per way of reading the data (attribute, item, the frame itself), so no
    # contender pays for an extra function call per event.
    best = float("inf")
    count = total = 0
    for _ in range(repeat):
        start = time.perf_counter()
        events = make_events()
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
        best = min(best, time.perf_counter() - start)
    return {"seconds": best, "events": count, "checksum": total}


def lower_bound(workload: str, events: int, chunk: int, repeat: int) -> Callable[[], dict[str, Any]]:
    """Frames cut out of the bytes, nothing else (counts keepalive frames too)."""
    chunks, _ = _chunks(workload, events, chunk)

    def frames() -> Iterator[list[bytes]]:
        tail = b""
        for piece in chunks:
            parts = (tail + piece).split(b"\n\n")
            tail = parts.pop()
            yield parts

    def run() -> dict[str, Any]:
        result = _timed(lambda: chain.from_iterable(frames()), "frame", repeat)
        result["checksum"] = None  # frames are not events: nothing to compare
        return result

    return run


class _Frame:
    __slots__ = ("data",)

    def __init__(self, data: str) -> None:
        self.data = data


def floor_objects(workload: str, events: int, chunk: int, repeat: int) -> Callable[[], dict[str, Any]]:
    """The cheapest pipeline that yields one object per event (no SSE rules beyond the cut)."""
    chunks, _ = _chunks(workload, events, chunk)
    keepalive = "\n\n: keepalive\n\n"

    def frames() -> Iterator[list[_Frame]]:
        tail = b""
        for piece in chunks:
            cut = piece.rfind(b"\n")
            text = (tail + piece[:cut]).decode("utf-8", "replace")
            tail = piece[cut + 1:]
            yield list(map(_Frame, "\n\n".join(text.split(keepalive)).split("\n\ndata: ")))

    def run() -> dict[str, Any]:
        result = _timed(lambda: chain.from_iterable(frames()), "attr", repeat)
        result["checksum"] = None  # pieces are not exactly the events: nothing to compare
        return result

    return run


def ours_decoder(workload: str, events: int, chunk: int, repeat: int) -> Callable[[], dict[str, Any]]:
    """Our decoder over a transport response's chunks."""
    from muxi_proto.sse import SSEDecoder
    from muxi_transports.base import SyncResponse

    chunks, _ = _chunks(workload, events, chunk)

    def make() -> Iterator[Any]:
        response = SyncResponse(200, (("content-type", "text/event-stream"),), chunks)
        return chain.from_iterable(map(SSEDecoder().feed, response.iter_bytes()))

    return lambda: _timed(make, "attr", repeat)


def ours_client(workload: str, events: int, chunk: int, repeat: int) -> Callable[[], dict[str, Any]]:
    """Our whole client pipeline on a mock transport."""
    from muxi_proto.http import Request
    from muxi_transports import FormationClient
    from muxi_transports.mock import MockTransport, StreamingResponse

    chunks, _ = _chunks(workload, events, chunk)

    def handler(request: Request) -> StreamingResponse:
        return StreamingResponse(200, (("content-type", "text/event-stream"),), chunks)

    client = FormationClient(url="http://127.0.0.1:9", client_key="ck", transport=MockTransport(handler))

    def make() -> Iterable[Any]:
        return client.chat_stream({"message": "hi"})

    return lambda: _timed(make, "attr", repeat)


def _httpx_mock(chunks: list[bytes]) -> Any:
    # Everything but the socket, exactly as the official SDK and httpx-sse run on a real response.
    import httpx

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=iter(chunks))

    return httpx.Client(transport=httpx.MockTransport(handler))


def official(workload: str, events: int, chunk: int, repeat: int) -> Callable[[], dict[str, Any]]:
    """The official SDK's chat_stream on httpx's mock transport."""
    from muxi import FormationClient  # the official SDK (only importable in its own venv)

    chunks, _ = _chunks(workload, events, chunk)
    client = FormationClient(base_url="http://127.0.0.1:9/v1", client_key="ck", admin_key="ak")
    client._transport._client = _httpx_mock(chunks)
    return lambda: _timed(lambda: client.chat_stream({"message": "hi"}), "item", repeat)


def httpx_sse(workload: str, events: int, chunk: int, repeat: int) -> Callable[[], dict[str, Any]]:
    """httpx-sse's iter_sse on httpx's mock transport."""
    from httpx_sse import connect_sse

    chunks, _ = _chunks(workload, events, chunk)
    http = _httpx_mock(chunks)

    def make() -> Iterator[Any]:
        with connect_sse(http, "POST", "http://127.0.0.1:9/v1/chat") as source:
            yield from source.iter_sse()

    return lambda: _timed(make, "attr", repeat)


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


def measure(opts: argparse.Namespace, official_py: str | None, log: Callable[[str], None]) -> dict[str, Any]:
    """Every workload, every contender; plus the long-line check."""
    ours = sys.executable
    out: dict[str, Any] = {}
    for workload in WORKLOADS:
        log(f"sse: {workload}")
        kw = {"workload": workload, "events": opts.events, "chunk": opts.chunk, "repeat": opts.repeat}
        contenders: list[tuple[str, Any, str, str, dict[str, Any]]] = [
            (LOWER, ours, "bench_sse", "lower_bound", kw),
            (FLOOR, ours, "bench_sse", "floor_objects", kw),
            (DECODER, ours, "bench_sse", "ours_decoder", kw),
            (CLIENT, ours, "bench_sse", "ours_client", kw),
        ]
        if official_py:
            contenders += [(OFFICIAL, official_py, "bench_sse", "official", kw),
                           (HTTPX_SSE, official_py, "bench_sse", "httpx_sse", kw)]
        results = _harness.alternate(contenders, opts.rounds)
        _, expected_events = _chunks(workload, opts.events, opts.chunk)
        checksum = results[DECODER][0]["checksum"]
        for name, rounds in results.items():
            for r in rounds:
                if name not in (LOWER, FLOOR) and (r["events"], r["checksum"]) != (expected_events, checksum):
                    raise SystemExit(f"{name} decoded different events: {r} (expected {expected_events}, {checksum})")
        size = sum(len(c) for c in _chunks(workload, opts.events, opts.chunk)[0])
        out[workload] = {
            "events": expected_events, "bytes": size,
            "stats": {name: _harness.Stats.of(r["seconds"] for r in rounds) for name, rounds in results.items()},
        }
    if opts.linear_mib:
        log("sse: long line")
        sizes = [float(s) for s in opts.linear_mib.split(",") if s]
        out["linear"] = _harness.run_once("linear", ours, "bench_sse", "linear", sizes_mib=sizes)
    return out


def report(opts: argparse.Namespace, data: dict[str, Any]) -> tuple[str, list[tuple[str, float, float]]]:
    """The markdown section and the target checks."""
    lines = [
        "## 1. SSE decoding",
        "",
        f"{opts.chunk}-byte chunks, every event consumed (count and data length checked equal across "
        f"contenders); {opts.rounds} rounds alternating, each the best of {opts.repeat} passes. "
        "Ratio: how many times faster ours is, on medians.",
    ]
    checks: list[tuple[str, float, float]] = []
    for workload, (title, _, _) in WORKLOADS.items():
        if workload not in data:
            continue
        section = data[workload]
        stats: dict[str, _harness.Stats] = section["stats"]
        events = section["events"]
        lines += ["", f"**{title}**: {events:,} events, {section['bytes'] / 1e6:.2f} MB", ""]
        rows = []
        for name, st in stats.items():
            vs_official = vs_httpx = ""
            if name not in (OFFICIAL, HTTPX_SSE) and OFFICIAL in stats:
                # The bounds get ratios too: the most any decoder of their kind could show.
                r1, r2 = st.speedup_over(stats[OFFICIAL]), st.speedup_over(stats[HTTPX_SSE])
                vs_official, vs_httpx = _harness.ratio_text(r1), _harness.ratio_text(r2)
                if workload == "chat" and name in (DECODER, CLIENT):
                    checks.append((f"SSE {name} vs official pipeline", r1, 4.0))
                    checks.append((f"SSE {name} vs httpx-sse", r2, 4.0))
            rows.append([name, f"{st.median * 1e3:.1f}", f"{st.best * 1e3:.1f}",
                         f"{st.median / events * 1e9:.0f}", f"{section['bytes'] / st.median / 1e6:.0f}",
                         vs_official, vs_httpx])
        lines.append(_harness.table(
            ["contender", "median ms", "best ms", "ns/event", "MB/s", "vs official", "vs httpx-sse"], rows))
    if "linear" in data:
        lin = data["linear"]
        lines += ["", "**Long line, one byte per `feed()`** (linear: constant s/MiB)", ""]
        lines.append(_harness.table(
            ["MiB", "seconds", "s/MiB"],
            [[f"{r['mib']:g}", f"{r['seconds']:.2f}", f"{r['seconds'] / r['mib']:.3f}"] for r in lin["rows"]]))
    return "\n".join(lines), checks


def add_options(parser: argparse.ArgumentParser, quick: bool) -> None:
    """Options of this benchmark (shared with run_all)."""
    parser.add_argument("--events", type=int, default=20_000 if quick else 100_000)
    parser.add_argument("--chunk", type=int, default=4096, help="bytes per chunk")
    parser.add_argument("--rounds", type=int, default=3 if quick else 7)
    parser.add_argument("--repeat", type=int, default=3, help="passes per round (best kept)")
    parser.add_argument("--linear-mib", default="" if quick else "1,4,16",
                        help="sizes of the long-line check, e.g. 1,2,4,8,16,50 ('' to skip)")


if __name__ == "__main__":
    _harness.section_main(sys.modules[__name__])
