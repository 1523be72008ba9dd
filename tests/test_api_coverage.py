"""Every operation of the runtime's recorded OpenAPI document has a method, and every method's route
is an operation of it (tests/fidelity/coverage.py); docs/api-coverage.md shows that table as it is."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from muxi_proto.endpoints import FormationAPI
from tests.fidelity.coverage import HTML_ROOTS, drift, operations, reached

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT: dict[str, Any] = json.loads((ROOT / "muxi_testing" / "recordings" / "openapi.json").read_text())


def test_every_recorded_operation_is_reached_and_every_route_exists() -> None:
    assert drift(DOCUMENT) == []
    ops = operations(DOCUMENT)
    assert len(ops) == 103 and len(ops) + len(HTML_ROOTS) == sum(len(m) for m in DOCUMENT["paths"].values())
    assert all(reached(DOCUMENT).values())


def test_the_coverage_page_is_up_to_date() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "generate_api_coverage.py"), "--check"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_drift_reports_a_new_operation_and_a_vanished_route() -> None:
    changed = copy.deepcopy(DOCUMENT)
    changed["paths"]["/v1/widgets/{widget_id}"] = {"get": {"operationId": "get_widget"}}
    del changed["paths"]["/v1/tuning/run"]
    problems = drift(changed)
    assert "GET /v1/widgets/{widget_id} (get_widget): no client method reaches it" in problems
    assert "run_tuning: POST /v1/tuning/run is not an operation of the runtime" in problems
    assert len(problems) == 2


def test_placeholder_names_do_not_matter_but_methods_and_segments_do() -> None:
    changed = copy.deepcopy(DOCUMENT)
    changed["paths"]["/v1/triggers/{another_name}"] = changed["paths"].pop("/v1/triggers/{trigger_name}")
    assert drift(changed) == []
    ops = changed["paths"]["/v1/triggers/{another_name}"]
    ops["patch"] = ops.pop("post")  # fire_trigger's POST is gone, a PATCH appeared
    assert sorted(drift(changed)) == [
        "PATCH /v1/triggers/{another_name} (execute_trigger): no client method reaches it",
        "fire_trigger: POST /v1/triggers/{name} is not an operation of the runtime",
    ]


def test_the_html_roots_are_the_only_operations_left_out() -> None:
    changed = copy.deepcopy(DOCUMENT)
    del changed["paths"]["/v1/"]
    assert drift(changed) == ["GET /v1/ (root_status_v1__get) is gone from the document"]
    assert len(FormationAPI.endpoints) >= 103
