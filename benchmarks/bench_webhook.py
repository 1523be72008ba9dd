"""Webhook verification: microseconds per ``verify_signature`` call, ours vs the official verifier.

The payload is the real completion webhook of the fixtures (353 bytes). "Raw-signed": the signature
covers the body bytes as sent, the only form the official verifier accepts. "Canonical-signed":
what the runtime really sends (the signature covers the canonical JSON, not the bytes on the wire);
the official verifier rejects it, ours accepts it after re-serialising the body. Each contender
checks that it got the expected answer; contenders alternate round by round.

    python benchmarks/bench_webhook.py [--quick] [--calls N] [--rounds R]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import sys
import time
from collections.abc import Callable
from typing import Any

import _harness
import workloads

OURS_RAW = "ours: raw-signed"
OURS_CANONICAL = "ours: canonical-signed (the runtime's form)"
OFFICIAL_RAW = "official: raw-signed"
OFFICIAL_CANONICAL = "official: canonical-signed"


def _header(body: bytes, timestamp: int) -> str:
    digest = hmac.new(workloads.WEBHOOK_SECRET.encode(), b"%d." % timestamp + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def _canonical(body: bytes) -> bytes:
    return json.dumps(json.loads(body), separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def _loop(verify: Callable[[bytes, str, str], bool], form: str, calls: int) -> Callable[[], dict[str, Any]]:
    body = workloads.webhook_body()
    signed = body if form == "raw" else _canonical(body)

    def run() -> dict[str, Any]:
        header = _header(signed, int(time.time()))
        secret = workloads.WEBHOOK_SECRET
        answer = verify(body, header, secret)
        start = time.perf_counter()
        for _ in range(calls):
            verify(body, header, secret)
        seconds = time.perf_counter() - start
        return {"seconds": seconds, "calls": calls, "accepted": bool(answer)}

    return run


def ours(form: str, calls: int) -> Callable[[], dict[str, Any]]:
    """``muxi_proto.webhook.verify_signature``."""
    from muxi_proto.webhook import verify_signature

    return _loop(verify_signature, form, calls)


def official(form: str, calls: int) -> Callable[[], dict[str, Any]]:
    """``muxi.webhook.verify_signature`` of the official SDK."""
    from muxi.webhook import verify_signature

    return _loop(verify_signature, form, calls)


def measure(opts: argparse.Namespace, official_py: str | None, log: Callable[[str], None]) -> dict[str, Any]:
    """Alternating rounds of every contender."""
    log("webhook verification")
    kw = {"calls": opts.calls}
    contenders: list[tuple[str, Any, str, str, dict[str, Any]]] = [
        (OURS_RAW, sys.executable, "bench_webhook", "ours", {**kw, "form": "raw"}),
    ]
    if official_py:
        contenders.append((OFFICIAL_RAW, official_py, "bench_webhook", "official", {**kw, "form": "raw"}))
    contenders.append((OURS_CANONICAL, sys.executable, "bench_webhook", "ours", {**kw, "form": "canonical"}))
    if official_py:
        contenders.append((OFFICIAL_CANONICAL, official_py, "bench_webhook", "official",
                           {**kw, "form": "canonical"}))
    results = _harness.alternate(contenders, opts.rounds)
    return {
        name: {
            "stats": _harness.Stats.of(r["seconds"] / r["calls"] for r in rounds),
            "accepted": all(r["accepted"] for r in rounds),
        }
        for name, rounds in results.items()
    }


def report(opts: argparse.Namespace, data: dict[str, Any]) -> tuple[str, list[tuple[str, float, float]]]:
    """The markdown section; target: ours at least as fast as the official verifier on raw bodies."""
    lines = [
        "## 6. Webhook verification",
        "",
        f"`verify_signature(payload, header, secret)` on the real completion webhook (353 bytes), {opts.calls:,} "
        f"calls per round, {opts.rounds} rounds alternating. Ratio: official µs / ours µs, medians.",
        "",
    ]
    checks = []
    rows = []
    for name, r in data.items():
        st = r["stats"]
        ratio = None
        if name == OURS_RAW and OFFICIAL_RAW in data:
            ratio = st.speedup_over(data[OFFICIAL_RAW]["stats"])
            checks.append(("webhook raw-signed vs official", ratio, 1.0))
        rows.append([name, f"{st.median * 1e6:.2f}", f"{st.best * 1e6:.2f}", "yes" if r["accepted"] else "no",
                     _harness.ratio_text(ratio)])
    lines.append(_harness.table(["contender", "median µs/call", "best µs/call", "accepted", "vs official"], rows))
    return "\n".join(lines), checks


def add_options(parser: argparse.ArgumentParser, quick: bool) -> None:
    """Options of this benchmark (shared with run_all)."""
    parser.add_argument("--calls", type=int, default=20_000 if quick else 100_000)
    parser.add_argument("--rounds", type=int, default=3 if quick else 7)


if __name__ == "__main__":
    _harness.section_main(sys.modules[__name__])
