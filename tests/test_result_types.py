"""The result ``TypedDict``s (``muxi_proto.types``) against what the runtime really answered.

Formation plane: every recorded success answer (``tests/fixtures/runtime/``, and the chat capture
with its echoed idempotency key) is unwrapped as the client unwraps it and checked against the
result type of the endpoint whose route it answers, nested types included:

- every key the runtime sent is declared (no missing key);
- every declared key was sent at least once (no key the runtime does not send);
- every required key was sent every time (``total=False`` where the runtime omits keys);
- every value has the declared type.

Control plane: the same checks but the second (newer servers add fields, docs/protocol.md §4), on
the local server's answers; the shapes come from the MUXI server's Go handlers.
"""

from __future__ import annotations

import glob
import json
import re
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import pytest
from test_local_server_support import bundle

from muxi_proto import types as result_types
from muxi_proto.api import Endpoint
from muxi_proto.endpoints import FormationAPI, ServerAPI
from muxi_proto.envelopes import unwrap
from muxi_testing import LocalMuxiServer
from muxi_transports import ServerClient

ROOT = Path(__file__).resolve().parent
RECORDINGS = sorted(glob.glob(str(ROOT / "fixtures" / "runtime" / "*" / "*.json")))
CAPTURES = {"chat": ROOT / "fixtures" / "runtime-chat-json.json"}
# Types that only carry keys into others (never a whole answer).
BASES = {"Envelope", "IdempotentEnvelope"}
# Picked out of another answer by the client (``get_secret`` reads the listing): checked below.
DERIVED = {"get_secret"}


def _is_typeddict(kind: Any) -> bool:
    return isinstance(kind, type) and typing.is_typeddict(kind)


@dataclass
class Seen:
    """What the answers showed of one TypedDict: each answer's keys; type problems found."""

    answers: dict[type, list[set[str]]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def check(value: Any, kind: Any, where: str, seen: Seen) -> None:
    """Walk ``value`` along ``kind``, recording keys per TypedDict and every type mismatch."""
    if kind is Any:
        return
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (Union, types.UnionType):
        for option in args:
            trial = Seen()
            check(value, option, where, trial)
            if not trial.problems:
                for k, v in trial.answers.items():
                    seen.answers.setdefault(k, []).extend(v)
                return
        seen.problems.append(f"{where}: {value!r:.80} is none of {kind}")
        return
    if _is_typeddict(kind):
        if not isinstance(value, dict):
            seen.problems.append(f"{where}: {value!r:.80} is not a {kind.__name__}")
            return
        seen.answers.setdefault(kind, []).append(set(value))
        hints = typing.get_type_hints(kind)
        for key, item in value.items():
            if key in hints:
                check(item, hints[key], f"{where}.{key}", seen)
        return
    if origin is list:
        if not isinstance(value, list):
            seen.problems.append(f"{where}: {value!r:.80} is not a list")
            return
        for i, item in enumerate(value):
            check(item, args[0], f"{where}[{i}]", seen)
        return
    if origin is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            seen.problems.append(f"{where}: {value!r:.80} is not a dict with str keys")
            return
        for key, item in value.items():
            check(item, args[1], f"{where}[{key!r}]", seen)
        return
    if kind is None or kind is type(None):
        ok = value is None
    elif kind is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    if not ok:
        seen.problems.append(f"{where}: {value!r:.80} is not {getattr(kind, '__name__', kind)}")


def key_problems(seen: Seen, *, every_key_sent: bool) -> list[str]:
    problems = list(seen.problems)
    for kind, answers in seen.answers.items():
        declared, required = set(typing.get_type_hints(kind)), set(kind.__required_keys__)
        sent, always = set().union(*answers), set.intersection(*answers)
        name = kind.__name__
        problems += [f"{name}: the answer has {k!r}, which is not declared" for k in sorted(sent - declared)]
        problems += [f"{name}: {k!r} is required but missing from some answers" for k in sorted(required - always)]
        if every_key_sent:
            problems += [f"{name}: {k!r} is declared but never sent" for k in sorted(declared - sent)]
    return problems


# --- formation plane: the recordings ---------------------------------------------------------------


def _pattern(template: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape("/v1" + template)) + "$")


def _typed_endpoints() -> dict[str, Endpoint[Any, Any]]:
    return {name: ep for name, ep in FormationAPI.endpoints.items()
            if isinstance(ep, Endpoint) and _is_typeddict(ep.result_annotation()) and name not in DERIVED}


def _owner(method: str, path: str, routes: list[tuple[str, str, str]]) -> list[str]:
    """The endpoints answering ``method path``: the most literal matching route wins, as in the
    runtime's router (``/credentials/services`` before ``/credentials/{credential_id}``)."""
    hits = [(template.count("{"), name) for name, m, template in routes
            if m == method and _pattern(template).match(path)]
    fewest = min((n for n, _ in hits), default=None)
    return [name for n, name in hits if n == fewest]


def recorded_answers() -> Iterator[tuple[str, str, Any]]:
    """(endpoint name, where, unwrapped answer) for every recorded 2xx JSON answer."""
    routes = [(name, r.method, r.path) for name, ep in FormationAPI.endpoints.items() for r in ep.routes]
    typed = _typed_endpoints()
    for file in RECORDINGS:
        document = json.loads(Path(file).read_text(encoding="utf-8"))
        for exchange in document["exchanges"]:
            request, body = exchange.get("request") or {}, exchange.get("body")
            if not 200 <= (exchange.get("status") or 0) <= 299 or not isinstance(body, dict):
                continue
            for name in _owner(request["method"], request["path"].split("?")[0], routes):
                if name in typed:
                    yield name, f"{document['formation']}/{document['scenario']}:{exchange['step']}", unwrap(body)
    for name, capture in CAPTURES.items():
        yield name, capture.name, unwrap(json.loads(capture.read_text(encoding="utf-8")))


ANSWERS: dict[str, list[tuple[str, Any]]] = {}
for _name, _where, _answer in recorded_answers():
    ANSWERS.setdefault(_name, []).append((_where, _answer))


def test_every_typed_endpoint_has_recorded_answers() -> None:
    assert set(_typed_endpoints()) == set(ANSWERS)
    assert len(ANSWERS) == 57 and sum(map(len, ANSWERS.values())) > 200


@pytest.mark.parametrize("name", sorted(ANSWERS))
def test_the_result_type_matches_every_recorded_answer(name: str) -> None:
    kind = FormationAPI.endpoints[name].result_annotation()
    seen = Seen()
    for where, answer in ANSWERS[name]:
        check(answer, kind, where, seen)
    assert key_problems(seen, every_key_sent=True) == []


def test_the_picked_secret_matches_the_recorded_listing() -> None:
    listing = next(a for n, _, a in recorded_answers() if n == "get_secrets" and a["secrets"])
    key = next(iter(listing["secrets"]))
    spec = FormationAPI.endpoints["get_secret"].spec(key)
    assert spec.finish is not None
    seen = Seen()
    check(spec.finish(listing), result_types.Secret, "get_secret", seen)
    assert key_problems(seen, every_key_sent=True) == []


def test_a_wrong_type_is_caught() -> None:
    # The checker itself can fail: a key too many, one missing, a wrong type, a key never sent.
    seen = Seen()
    check({"status": "healthy", "version": 1, "extra": True}, result_types.FormationHealth, "x", seen)
    problems = key_problems(seen, every_key_sent=True)
    assert "x.version: 1 is not str" in problems
    assert "FormationHealth: the answer has 'extra', which is not declared" in problems
    assert "FormationHealth: 'uptime_seconds' is required but missing from some answers" in problems
    assert "FormationHealth: 'uptime_seconds' is declared but never sent" in problems


# --- control plane: the local server ---------------------------------------------------------------


def _control_answers(tmp_path: Path) -> dict[str, list[Any]]:
    got: dict[str, list[Any]] = {}
    with LocalMuxiServer() as server, ServerClient(server.server_config()) as ctl:
        fid = "types-f"
        got["health"] = [ctl.health()]
        got["deploy_formation"] = [ctl.deploy_formation(fid, bundle(tmp_path, fid))]
        got["update_formation"] = [ctl.update_formation(fid, bundle(tmp_path, fid, version="1.1.0"), version="1.1.0")]
        got["get_formation"] = [ctl.get_formation(fid), ctl.get_formation(server.formation_id)]
        got["stop_formation"] = [ctl.stop_formation(fid)]
        got["list_formations"] = [ctl.list_formations()]
        got["status"] = [ctl.status()]
        got["start_formation"] = [ctl.start_formation(fid)]
        got["restart_formation"] = [ctl.restart_formation(fid)]
        got["rollback_formation"] = [ctl.rollback_formation(fid)]
        got["delete_formation"] = [ctl.delete_formation(fid)]
    with LocalMuxiServer(step_delay=0.01, health_check_attempts=500) as slow, \
            ServerClient(slow.server_config()) as ctl:
        fid = slow.formation_id
        with ctl.update_formation_stream(fid, bundle(tmp_path, fid, version="1.5.0"), version="1.5.0") as events:
            for event in events:
                if event.json().get("stage") == "spawning_staging":
                    got["cancel_update"] = [ctl.cancel_update(fid)]
                    break
    return got


def test_control_plane_types_match_the_local_server(tmp_path: Path) -> None:
    answers = _control_answers(tmp_path)
    typed = {name for name, ep in ServerAPI.endpoints.items()
             if isinstance(ep, Endpoint) and _is_typeddict(ep.result_annotation())}
    assert typed == set(answers)
    seen = Seen()
    for name, values in answers.items():
        for value in values:
            check(value, ServerAPI.endpoints[name].result_annotation(), name, seen)
    assert key_problems(seen, every_key_sent=False) == []


def test_every_result_type_is_checked(tmp_path: Path) -> None:
    reached: set[str] = set()
    seen = Seen()
    for name, items in ANSWERS.items():
        for where, answer in items:
            check(answer, FormationAPI.endpoints[name].result_annotation(), where, seen)
    check({"key": "K", "value": "v"}, result_types.Secret, "secret", seen)
    for name, values in _control_answers(tmp_path).items():
        for value in values:
            check(value, ServerAPI.endpoints[name].result_annotation(), name, seen)
    reached = {kind.__name__ for kind in seen.answers}
    public = {n for n in result_types.__all__ if _is_typeddict(getattr(result_types, n))}
    assert public - BASES - reached == set(), "types that no recorded answer checks"


def test_the_types_are_re_exported() -> None:
    import muxi_proto

    for name in ("AgentList", "ChatResponse", "FormationStatus", "SessionMessages", "ServerStatus"):
        assert getattr(muxi_proto, name) is getattr(result_types, name)
