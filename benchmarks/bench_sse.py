"""SSE decoding throughput: muxi_proto against the official SDK's pipeline and httpx-sse.

Usage: ``python benchmarks/bench_sse.py`` (or ``make bench-sse``). Options: ``--events N``
(default 100000), ``--chunk BYTES`` (4096), ``--repeat N`` (5, best run kept), ``--linear-mib
LIST`` (sizes for the long-line case, default ``1,2,4,8,16,50``), ``--no-official``.

Workloads: a chat-like stream of N unnamed ``data:`` token frames of about 60 bytes (the target
case), and N/4 token frames of a real runtime capture (about 260 bytes each); both with a
``: keepalive`` comment every 25 frames and a final ``event: done``, cut into fixed-size chunks as a
socket would deliver them (lines straddle chunk boundaries). Every implementation gets the same
chunks:

* ``muxi_proto SSEDecoder``: a generator over ``SSEDecoder.feed`` of each chunk (raw SSE, as
  httpx-sse does).
* ``muxi_proto ChatStream``: the sync client's loop over the chat state machine (error frames,
  stop at ``done``, truncation check).
* ``official muxi``: ``FormationClient.chat_stream`` of the official SDK on an ``httpx.Client``
  whose ``MockTransport`` answers with the chunks: its whole pipeline (httpx line decoding, its
  parser, its chat normaliser) minus the socket.
* ``httpx-sse``: ``connect_sse(...).iter_sse()`` on the same kind of client.

Each consumer loop counts the events and adds up their data lengths (a checksum that must agree).

The official SDK and httpx-sse run in ``benchmarks/.venv-official`` (see official_env.py); every
implementation runs in its own fresh subprocess, one after the other, in this one invocation.

Long-line case: one ``data:`` line of S MiB fed one byte per ``feed`` call, for doubling sizes;
constant seconds per MiB shows the decoder is linear (no re-scanning or re-joining of the buffer).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


# --- workload ------------------------------------------------------------------------------------


def chat_workload(events: int) -> bytes:
    """About 60 bytes per token frame, a keepalive every 25 frames, then ``done``."""
    parts = []
    for i in range(events):
        if i % 25 == 0:
            parts.append(b": keepalive\n\n")
        parts.append(b'data: {"token":{"type":"content","content":"word %07d"}}\n\n' % i)
    parts.append(b'event: done\ndata: {"finished":true}\n\n')
    return b"".join(parts)


def split(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


# --- workers (each runs in its own process) ------------------------------------------------------


def _time(run: Any, repeat: int) -> dict[str, Any]:
    best = float("inf")
    result: tuple[int, int] = (0, 0)
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return {"seconds": best, "events": result[0], "checksum": result[1]}


def worker_ours_decoder(chunks: list[bytes], repeat: int) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from muxi_proto.sse import SSEDecoder

    def events() -> Iterator[Any]:
        # A generator, as a transport adapter would expose it (the others are generators too).
        decoder = SSEDecoder()
        for chunk in chunks:
            yield from decoder.feed(chunk)
        decoder.end()

    def run() -> tuple[int, int]:
        count = total = 0
        for evt in events():
            count += 1
            total += len(evt.data)
        return count, total

    return _time(run, repeat)


def worker_ours_chat(chunks: list[bytes], repeat: int) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from muxi_proto.streams import ChatStream

    def events() -> Iterator[Any]:
        # The sync client's loop around the chat state machine.
        stream = ChatStream()
        for chunk in chunks:
            yield from stream.feed(chunk)
            if stream.finished:
                break
        stream.eof()

    def run() -> tuple[int, int]:
        count = total = 0
        for evt in events():
            count += 1
            total += len(evt.data)
        return count, total

    return _time(run, repeat)


def _mock_client(chunks: list[bytes]) -> Any:
    # httpx with a transport that answers every request with the chunks: everything but the
    # socket, exactly as the official SDK and httpx-sse run on a real response.
    import httpx

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=iter(chunks))

    return httpx.Client(transport=httpx.MockTransport(handler))


def worker_official(chunks: list[bytes], repeat: int) -> dict[str, Any]:
    from muxi import FormationClient  # the official SDK (only importable in its own venv)

    client = FormationClient(base_url="http://127.0.0.1:9/v1", client_key="ck", admin_key="ak")
    client._transport._client = _mock_client(chunks)

    def run() -> tuple[int, int]:
        count = total = 0
        for evt in client.chat_stream({"message": "hi"}):
            count += 1
            total += len(evt["data"])
        return count, total

    return _time(run, repeat)


def worker_httpx_sse(chunks: list[bytes], repeat: int) -> dict[str, Any]:
    from httpx_sse import connect_sse

    http = _mock_client(chunks)

    def run() -> tuple[int, int]:
        count = total = 0
        with connect_sse(http, "POST", "http://127.0.0.1:9/v1/chat") as source:
            for evt in source.iter_sse():
                count += 1
                total += len(evt.data)
        return count, total

    return _time(run, repeat)


def worker_linear(sizes_mib: list[float]) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    import resource

    from muxi_proto.sse import SSEDecoder

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
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"rows": rows, "max_rss_mib": rss_kib / 1024}


WORKERS = {
    "ours-decoder": worker_ours_decoder,
    "ours-chat": worker_ours_chat,
    "official": worker_official,
    "httpx-sse": worker_httpx_sse,
}


def worker_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", required=True)
    parser.add_argument("--input")
    parser.add_argument("--chunk", type=int, default=4096)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sizes", default="")
    args = parser.parse_args(argv)
    if args.worker == "linear":
        result = worker_linear([float(s) for s in args.sizes.split(",") if s])
    else:
        chunks = split(Path(args.input).read_bytes(), args.chunk)
        result = WORKERS[args.worker](chunks, args.repeat)
    print(json.dumps(result))


# --- driver --------------------------------------------------------------------------------------


def run_worker(python: str | Path, *args: str) -> dict[str, Any]:
    env = dict(os.environ, PYTHONHASHSEED="0")
    out = subprocess.run(
        [str(python), str(Path(__file__).resolve()), *args],
        check=True, capture_output=True, text=True, env=env, cwd=tempfile.gettempdir(),
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


LABELS = {
    "ours-decoder": "muxi_proto SSEDecoder",
    "ours-chat": "muxi_proto ChatStream",
    "official": "official muxi 1.20260713.0",
    "httpx-sse": "httpx-sse 0.4.3",
}


def compare(title: str, data: bytes, events: int, pythons: dict[str, str | Path], args: Any) -> None:
    """Run every implementation on ``data`` and print the table and the ratios."""
    print(f"\n{title}: {events} frames, {len(data) / 1e6:.2f} MB, {args.chunk}-byte chunks, "
          f"best of {args.repeat}")
    results: dict[str, dict[str, Any]] = {}
    with tempfile.NamedTemporaryFile(suffix=".sse") as handle:
        handle.write(data)
        handle.flush()
        for name, python in pythons.items():
            results[name] = run_worker(
                python, "--worker", name, "--input", handle.name,
                "--chunk", str(args.chunk), "--repeat", str(args.repeat))
    expected = (events, results["ours-decoder"]["checksum"])
    print(f"  {'implementation':<28} {'seconds':>9} {'MB/s':>8} {'events/s':>11} {'ns/event':>9}")
    for name, r in results.items():
        if (r["events"], r["checksum"]) != expected:
            raise SystemExit(f"{name} decoded different events: {r} (expected {expected})")
        print(f"  {LABELS[name]:<28} {r['seconds']:>9.4f} {len(data) / r['seconds'] / 1e6:>8.1f} "
              f"{r['events'] / r['seconds']:>11,.0f} {r['seconds'] / r['events'] * 1e9:>9.0f}")
    if "official" in results:
        print("  ratios (how many times faster muxi_proto is):")
        for ours in ("ours-decoder", "ours-chat"):
            for other in ("official", "httpx-sse"):
                ratio = results[other]["seconds"] / results[ours]["seconds"]
                print(f"    {LABELS[ours]:<24} vs {LABELS[other]:<28} {ratio:5.2f}x")


def runtime_replay(events: int) -> bytes:
    """The token frames of a real runtime capture (about 260 bytes each), replayed in a loop."""
    capture = (ROOT / "tests" / "fixtures" / "runtime-chat-stream.sse").read_bytes()
    frames = [f + b"\n\n" for f in capture.split(b"\n\n") if f.startswith(b"data: ")]
    parts = []
    for i in range(events):
        if i % 25 == 0:
            parts.append(b": keepalive\n\n")
        parts.append(frames[i % len(frames)])
    parts.append(b'event: done\ndata: {"finished":true}\n\n')
    return b"".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=4096)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--linear-mib", default="1,2,4,8,16,50")
    parser.add_argument("--no-official", action="store_true", help="skip the official SDK and httpx-sse")
    args = parser.parse_args()

    print(f"Python {sys.version.split()[0]}; each implementation in its own process, one after another")
    pythons: dict[str, str | Path] = {"ours-decoder": sys.executable, "ours-chat": sys.executable}
    if not args.no_official:
        sys.path.insert(0, str(HERE))
        import official_env

        official = official_env.ensure()
        pythons.update({"official": official, "httpx-sse": official})

    compare("chat-like workload (the target)", chat_workload(args.events), args.events + 1, pythons, args)
    replay = max(args.events // 4, 1)
    compare("real runtime token frames, replayed", runtime_replay(replay), replay + 1, pythons, args)

    sizes = [s for s in args.linear_mib.split(",") if s]
    if sizes:
        print("\none data line fed one byte per feed() call (linear time means constant s/MiB):")
        linear = run_worker(sys.executable, "--worker", "linear", "--sizes", ",".join(sizes))
        for row in linear["rows"]:
            per_mib = row["seconds"] / row["mib"]
            print(f"  {row['mib']:>6g} MiB  {row['seconds']:8.2f} s  {per_mib:6.3f} s/MiB")
        print(f"  peak RSS of that process: {linear['max_rss_mib']:.0f} MiB")


if __name__ == "__main__":
    if "--worker" in sys.argv:
        worker_main(sys.argv[1:])
    else:
        main()
