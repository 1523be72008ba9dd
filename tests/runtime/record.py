"""Record the real runtime's answers to the fidelity scenarios (``make record-runtime``).

For each formation of ``tests/runtime/formations/`` this starts muxi-runtime on 127.0.0.1 (with
the fake LLM and a webhook receiver), plays ``tests/fidelity/scenarios.py`` with raw HTTP, and
writes the normalised answers to ``tests/fixtures/runtime/<formation>/<scenario>.json``. The
runtime's OpenAPI document goes to ``muxi_testing/recordings/openapi.json`` (the local server
serves it). ``--out DIR`` writes elsewhere (the drift test records into a temporary directory).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path[:0] = [str(HERE), str(REPO)]

from fake_llm import FakeLLM  # noqa: E402
from harness import RuntimeFormation  # noqa: E402

from tests.fidelity.recording import ADMIN_KEY, CLIENT_KEY, FIXTURES, record_formation, write_fixture  # noqa: E402
from tests.fidelity.wire import Target, WebhookInbox  # noqa: E402

FORMATIONS = ("default", "bare", "multiuser")
OPENAPI = REPO / "muxi_testing" / "recordings" / "openapi.json"


def record(formations: tuple[str, ...], out: Path, *, openapi: Path | None) -> dict[str, dict[str, Any]]:
    """Record ``formations`` into ``out``; returns every document written, by "formation/scenario"."""
    written: dict[str, dict[str, Any]] = {}
    llm = FakeLLM().start()
    inbox = WebhookInbox().start()
    try:
        for name in formations:
            with tempfile.TemporaryDirectory(prefix=f"muxi-record-{name}-") as tmp:
                runtime = RuntimeFormation(workdir=Path(tmp), llm_model=llm.model, webhook_url=f"{inbox.url}/hook",
                                           formation=name, admin_key=ADMIN_KEY, client_key=CLIENT_KEY)
                runtime.start()
                try:
                    target = Target(runtime.url, ADMIN_KEY, CLIENT_KEY, inbox, values={
                        tmp: "<<workdir>>", llm.model: "<<llm_model>>", ADMIN_KEY: "<<admin_key>>",
                        CLIENT_KEY: "<<client_key>>",
                    })
                    for scenario, document in record_formation(target, name).items():
                        write_fixture(out, document)
                        written[f"{name}/{scenario}"] = document
                    if openapi is not None and name == "default":
                        with urllib.request.urlopen(f"{runtime.url}/openapi.json", timeout=30) as answer:
                            spec = json.load(answer)
                        openapi.parent.mkdir(parents=True, exist_ok=True)
                        openapi.write_text(json.dumps(spec, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
                finally:
                    runtime.stop()
                print(f"record-runtime: {name}: {sum(k.startswith(name + '/') for k in written)} scenarios",
                      file=sys.stderr)
    finally:
        inbox.stop()
        llm.stop()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=FIXTURES, help=f"fixture root (default: {FIXTURES})")
    parser.add_argument("--formation", action="append", choices=FORMATIONS,
                        help="record only this formation (repeatable)")
    args = parser.parse_args(argv)
    formations = tuple(args.formation or FORMATIONS)
    written = record(formations, args.out, openapi=OPENAPI if args.out == FIXTURES else None)
    exchanges = sum(len(d["exchanges"]) for d in written.values())
    print(f"record-runtime: {exchanges} exchanges in {len(written)} fixtures under {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
