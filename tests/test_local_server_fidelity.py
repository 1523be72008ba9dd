"""The local server against the real runtime's recordings: same requests, same answers.

``tests/fixtures/runtime/<formation>/<scenario>.json`` hold muxi-runtime's answers to the fidelity
scenarios (``tests/fidelity/scenarios.py``), recorded by ``make record-runtime`` from the
formations in ``tests/runtime/formations/``. Here the local server serves the *same* formation
directories (``LocalMuxiServer(formation=...)``), the scenarios are replayed with raw HTTP, and
every answer is compared with the recording (``tests/fidelity/compare.py``): status, content
type, shape (key paths and types), envelope ``object``/``type``, error code and message, stream
frame sequences -- and whole bodies for ``compare="values"`` steps.

A step may declare ``differs="why"`` when the local server cannot match the runtime; every such
difference is listed here with its reason, and the overall share of identical exchanges must stay
at or above :data:`MIN_IDENTICAL`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from muxi_testing import LocalMuxiServer
from tests.fidelity.compare import compare
from tests.fidelity.recording import (
    ADMIN_KEY,
    CLIENT_KEY,
    FIXTURES,
    load_fixture,
    record_formation,
)
from tests.fidelity.scenarios import SCENARIOS, Hook, Poll, Req, scenarios_for
from tests.fidelity.wire import Target, WebhookInbox
from tests.runtime.harness import render_formation

FORMATIONS = ("default", "bare", "multiuser")
ANSWER = "Hello from the fake model."  # what the runtime's fake LLM always says (tests/runtime/fake_llm.py)
MIN_IDENTICAL = 0.97
LLM_MODEL = "ollama/fake:latest@127.0.0.1:9"


@dataclass
class Played:
    """One formation's scenarios played on the local server: scenario -> its records."""

    formation: str
    records: dict[str, list[dict[str, Any]]]


_PLAYED: dict[str, Played] = {}


def _play(formation: str, root: Path) -> Played:
    if formation in _PLAYED:
        return _PLAYED[formation]
    inbox = WebhookInbox().start()
    workdir = root / formation
    workdir.mkdir(parents=True)
    directory = render_formation(workdir / "formation", {
        "LLM_MODEL": LLM_MODEL, "PORT": "8271", "ADMIN_KEY": ADMIN_KEY, "CLIENT_KEY": CLIENT_KEY,
        "WEBHOOK_URL": f"{inbox.url}/hook",
    }, formation)
    try:
        with LocalMuxiServer(formation=directory, reply=lambda message: ANSWER,
                             webhook_retry_delays=(0.05, 0.05, 0.05)) as server:
            target = Target(server.url, ADMIN_KEY, CLIENT_KEY, inbox, prefix=f"/api/{server.formation_id}",
                            values={str(workdir): "<<workdir>>", LLM_MODEL: "<<llm_model>>",
                                    ADMIN_KEY: "<<admin_key>>", CLIENT_KEY: "<<client_key>>"},
                            stream_cap=0.2)
            documents = record_formation(target, formation)
            assert server.errors == [], server.errors
    finally:
        inbox.stop()
    played = Played(formation, {name: doc["exchanges"] for name, doc in documents.items()})
    _PLAYED[formation] = played
    return played


@pytest.fixture(scope="module")
def play(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    root = tmp_path_factory.mktemp("fidelity")
    yield lambda formation: _play(formation, root)
    _PLAYED.clear()


def _steps(scenario_name: str) -> dict[str, Req | Poll | Hook]:
    scenario = next(s for s in SCENARIOS if s.name == scenario_name)
    return {step.name: step for step in scenario.steps}


def _differences(formation: str, scenario: str, local: list[dict[str, Any]]) -> list[tuple[str, list[str], str | None]]:
    recorded = load_fixture(formation, scenario)["exchanges"]
    steps = _steps(scenario)
    out = []
    assert [r["step"] for r in recorded] == [r["step"] for r in local], "scenario changed since recording"
    for want, got in zip(recorded, local, strict=True):
        step = steps[want["step"]]
        req = step.req if isinstance(step, Poll) else step
        lines = compare(want, got, req.compare)
        out.append((want["step"], lines, req.differs))
    return out


CASES = [(f, s.name) for f in FORMATIONS for s in scenarios_for(f)]


@pytest.mark.parametrize(("formation", "scenario"), CASES, ids=[f"{f}-{s}" for f, s in CASES])
def test_local_server_answers_like_the_runtime(play: Any, formation: str, scenario: str) -> None:
    played = play(formation)
    problems = []
    for step, lines, differs in _differences(formation, scenario, played.records[scenario]):
        if lines and not differs:
            problems.append(f"{step}:\n    " + "\n    ".join(lines))
        if differs and not lines:
            problems.append(f"{step}: marked `differs` ({differs}) but now identical: drop the mark")
    assert not problems, f"{formation}/{scenario} differs from the runtime:\n" + "\n".join(problems)


def test_every_runtime_operation_is_covered() -> None:
    """The scenarios reach every operation of the runtime's OpenAPI document."""
    spec = load_fixture("default", "health_and_routing")
    operations = next(e["body"]["operations"] for e in spec["exchanges"] if e["step"] == "openapi")
    sent = set()
    for scenario in SCENARIOS:
        for step in scenario.steps:
            req = step.req if isinstance(step, Poll) else step
            if isinstance(req, Req):
                sent.add((req.method, req.path.split("?", 1)[0]))
    missing = []
    for operation in operations:
        method, template = operation.split(" ", 1)
        parts = template.strip("/").split("/") + ([""] if template.endswith("/") else [])
        if not any(m == method and _matches(parts, p) for m, p in sent):
            missing.append(operation)
    assert not missing, f"no scenario sends: {missing}"


def _matches(template: list[str], path: str) -> bool:
    segments = path.strip("/").split("/")
    if path.endswith("/") and path.strip("/"):
        segments.append("")
    return len(segments) == len(template) and all(
        t.startswith("{") or t == s for t, s in zip(template, segments, strict=True))


def test_identical_share_and_report(play: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """The share of exchanges identical in status and shape, and the list of the others, with reasons."""
    total = identical = 0
    different: list[str] = []
    for formation in FORMATIONS:
        played = play(formation)
        for scenario in scenarios_for(formation):
            for step, lines, differs in _differences(formation, scenario.name, played.records[scenario.name]):
                total += 1
                if lines:
                    different.append(f"{formation}/{scenario.name}/{step}: {differs or lines[0]}")
                else:
                    identical += 1
    share = identical / total
    with capsys.disabled():
        print(f"\nfidelity: {identical}/{total} exchanges identical to the runtime's recordings ({share:.1%}); "
              f"{len(different)} differ (each declared, with its reason):")
        for line in different:
            print(f"  - {line}")
    assert total >= 140
    assert share >= MIN_IDENTICAL, different


def test_fixtures_are_recorded() -> None:
    for formation in FORMATIONS:
        for scenario in scenarios_for(formation):
            assert (FIXTURES / formation / f"{scenario.name}.json").is_file(), (formation, scenario.name)


def _record(body: Any, status: int = 200) -> dict[str, Any]:
    return {"status": status, "headers": {"content-type": "application/json"}, "body": body}


def test_the_comparison_catches_what_matters() -> None:
    """Each kind of difference the issue calls dangerous is reported (the comparison can fail)."""
    runtime = _record({"object": "session_list", "type": "session.list", "success": True, "error": None,
                       "data": {"sessions": [{"session_id": "s", "user_id": "0"}], "count": 1}})
    assert compare(runtime, runtime) == []
    isolated = _record({**runtime["body"], "data": {"sessions": [{"session_id": "s", "user_id": "alice"}],
                                                    "count": 1}})
    assert any("user_id" in line for line in compare(runtime, isolated))  # same shape, another user
    extra = _record({**runtime["body"], "data": {**runtime["body"]["data"], "message_count": 2}})
    assert any("never by the runtime" in line for line in compare(runtime, extra))
    assert any(line.startswith("status") for line in compare(runtime, _record(runtime["body"], 201)))
    error = {"object": "error", "type": "error.validation", "success": False, "data": {},
             "error": {"code": "INVALID_PARAMS", "message": "Validation failed: 1 error(s)", "data": {
                 "validation_errors": [{"field": "message", "msg": "Field required", "type": "string",
                                        "error": "missing"}]}}}
    other_field = {**error, "error": {**error["error"], "data": {"validation_errors": [
        {"field": "body.message", "msg": "Field required", "type": "string", "error": "missing"}]}}}
    assert any("error.data" in line for line in compare(_record(error, 422), _record(other_field, 422)))
    other_code = {**error, "error": {**error["error"], "code": "VALIDATION_ERROR"}}
    assert any("error.code" in line for line in compare(_record(error, 422), _record(other_code, 422)))
    stream = {"status": 200, "headers": {"content-type": "text/event-stream"}, "events": [
        {"event": "message", "data": {"token": {"type": "content", "user_id": "0", "content": "x"}}}]}
    local = {**stream, "events": [{"event": "message", "data": {"token": {"type": "content", "user_id": "u",
                                                                          "content": "x"}}}]}
    assert compare(stream, local) != []  # token.user_id of streams
