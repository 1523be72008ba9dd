"""Run the scenario suite on one target and turn the answers into fixture documents.

Shared by the recorder (the real runtime, ``tests/runtime/record.py``) and the fidelity test (the
local server), so both produce fixtures the same way.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from .normalize import normalize_exchange, placeholders
from .scenarios import Scenario, scenarios_for
from .wire import Exchange, Target, play

__all__ = [
    "ADMIN_KEY", "CLIENT_KEY", "FIXTURES", "RUNTIME_VERSION", "load_fixture", "record_formation",
    "record_scenario", "write_fixture",
]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "runtime"
RUNTIME_VERSION = "1.20260928.0"
# Fixed keys for recordings: masked forms of them show up in answers and must not vary per run.
ADMIN_KEY = "fidelity-admin-key-5f1c0e7a9b3d"
CLIENT_KEY = "fidelity-client-key-8e2d4c6a0f1b"


def _openapi_summary(body: Any) -> dict[str, Any]:
    paths = body.get("paths", {}) if isinstance(body, dict) else {}
    operations = sorted(f"{method.upper()} {path}" for path, ops in paths.items() for method in ops)
    return {"title": body.get("info", {}).get("title"), "operations": operations}


def record_scenario(
    target: Target, scenario: Scenario, earlier: dict[str, str] | None = None
) -> tuple[list[dict[str, Any]], list[Exchange], dict[str, str]]:
    """Play ``scenario`` once on ``target``: the normalised records, the raw exchanges, the variables.

    ``earlier``: values of the scenarios played before on the same formation (plain text ->
    placeholder); they show up in listings (sessions of another scenario) and become
    ``<<scenario:name>>``.
    """
    tag = secrets.token_hex(4)  # 8 hex digits: never found by chance inside an id
    templates = {"tag": tag, "tag_upper": tag.upper()}
    variables = {"tag": tag, **{name: template.format(**templates) for name, template in scenario.variables.items()}}
    exchanges = play(target, scenario, variables)
    values = placeholders({**(earlier or {}), **target.values}, variables)
    records = []
    for exchange in exchanges:
        if exchange.compare == "openapi" and isinstance(exchange.body, dict):
            exchange.body = _openapi_summary(exchange.body)
        records.append(normalize_exchange(exchange, values))
    return records, exchanges, variables


def record_formation(target: Target, formation: str) -> dict[str, dict[str, Any]]:
    """Every scenario of ``formation`` in suite order: scenario name -> fixture document."""
    out: dict[str, dict[str, Any]] = {}
    earlier: dict[str, str] = {}
    for scenario in scenarios_for(formation):
        records, _, variables = record_scenario(target, scenario, earlier)
        earlier.update({value: f"<<{scenario.name}:{name}>>" for name, value in variables.items()
                        if len(value) >= 4})
        out[scenario.name] = {
            "runtime": RUNTIME_VERSION, "formation": formation, "scenario": scenario.name, "exchanges": records,
        }
    return out


def fixture_path(root: Path, formation: str, scenario: str) -> Path:
    return root / formation / f"{scenario}.json"


def write_fixture(root: Path, document: dict[str, Any]) -> Path:
    path = fixture_path(root, document["formation"], document["scenario"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def load_fixture(formation: str, scenario: str, root: Path = FIXTURES) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(fixture_path(root, formation, scenario).read_text(encoding="utf-8"))
    return document
