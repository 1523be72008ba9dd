"""Record the real runtime again and compare with the fixtures: a new runtime release shows its drift here.

``make record-runtime`` wrote ``tests/fixtures/runtime/`` (and ``muxi_testing/recordings/openapi.json``);
this records the same scenarios into a temporary directory (its own runtimes, one per formation)
and fails on any difference, listed step by step. Normalisation (``tests/fidelity/normalize.py``)
keeps ids, times and run-specific values out, so what is left is the runtime's own change: re-record
(``make record-runtime``) once the change is understood, and the local server follows it through
``tests/test_local_server_fidelity.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

from record import FORMATIONS, OPENAPI, record

from tests.fidelity.drift import drift
from tests.fidelity.recording import FIXTURES


def _operations(spec: dict[str, object]) -> list[str]:
    paths = spec.get("paths", {})
    assert isinstance(paths, dict)
    return sorted(f"{m.upper()} {p}" for p, ops in paths.items() for m in ops)


def test_the_runtime_answers_as_recorded(tmp_path: Path) -> None:
    fresh = tmp_path / "recording"
    openapi = tmp_path / "openapi.json"
    record(FORMATIONS, fresh, openapi=openapi)
    changes = drift(FIXTURES, fresh)
    recorded_spec = json.loads(OPENAPI.read_text(encoding="utf-8"))
    fresh_spec = json.loads(openapi.read_text(encoding="utf-8"))
    if _operations(recorded_spec) != _operations(fresh_spec):
        changed = sorted(set(_operations(fresh_spec)) ^ set(_operations(recorded_spec)))
        changes.append(f"openapi: operations changed: {changed}")
    elif recorded_spec != fresh_spec:
        changes.append("openapi: schemas changed (re-record: request validation is built from them)")
    assert not changes, "the runtime drifted from its recordings:\n" + "\n".join(changes[:200])
