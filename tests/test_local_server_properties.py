"""Hypothesis properties of the local server's parsers, encoders and state machines."""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterator
from urllib.parse import quote, urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, precondition, rule
from test_local_server_support import api, client, events, request, rpc

from muxi_proto.config import validate_formation_id
from muxi_proto.errors import ConfigurationError
from muxi_proto.sse import SSEDecoder
from muxi_proto.streams import ChatAnswer, ChatStream
from muxi_testing import Faults, LocalMuxiServer
from muxi_testing._chat import split_deltas
from muxi_testing._control import _lines_param
from muxi_testing._deploy import formation_id_error
from muxi_testing._state import IdempotencyCache, make_bundle
from muxi_testing._wire import Incoming, go_json
from tests.httpserver import ServerRequest

TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=200)


@pytest.fixture(scope="module")
def server() -> Iterator[LocalMuxiServer]:
    with LocalMuxiServer() as srv:
        yield srv


# --- encoders and parsers ------------------------------------------------------------------------------


@given(TEXT)
def test_split_deltas_rebuild_the_text(text: str) -> None:
    deltas = split_deltas(text)
    assert "".join(deltas) == text
    assert all(deltas) and (deltas or not text)
    assert all(len(d.split()) <= 1 for d in deltas[:-1])


@given(st.recursive(st.none() | st.booleans() | st.integers() | TEXT,
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
                    max_leaves=20))
def test_go_json_reads_back_and_escapes_like_go(value: object) -> None:
    encoded = go_json(value)
    assert encoded.endswith(b"\n") and encoded.count(b"\n") == 1
    assert json.loads(encoded) == value
    for raw in (b"<", b">", b"&", "\u2028".encode(), "\u2029".encode()):
        assert raw not in encoded


SEGMENT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="/"), min_size=1, max_size=12)


@given(st.lists(SEGMENT, min_size=1, max_size=5),
       st.lists(st.tuples(st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=8), TEXT),
                max_size=5))
def test_targets_split_into_decoded_path_and_first_query_values(segments: list[str],
                                                                pairs: list[tuple[str, str]]) -> None:
    raw_path = "/" + "/".join(quote(s, safe="") for s in segments)
    target = raw_path + ("?" + urlencode(pairs) if pairs else "")
    inc = Incoming.from_request(ServerRequest("GET", target, (("X-A", "1"),), b""))
    assert inc.raw_path == raw_path
    assert inc.path == "/" + "/".join(segments)
    expected: dict[str, str] = {}
    for key, value in pairs:
        expected.setdefault(key, value)
    assert inc.query() == expected
    assert inc.header("x-a") == "1" and inc.header("x-b") is None


@given(st.one_of(st.none(), st.integers(-20_000, 20_000).map(str), TEXT))
def test_lines_parameter_default_cap_and_garbage(raw: str | None) -> None:
    value = _lines_param(raw)
    assert 1 <= value <= 10_000
    try:
        number = int(raw) if raw else None
    except ValueError:
        number = None
    assert value == (min(number, 10_000) if number is not None and number > 0 else 100)


@given(st.one_of(st.from_regex(r"[a-z0-9][a-z0-9-]{1,48}[a-z0-9]", fullmatch=True),
                 st.sampled_from(["health", "ping", "rpc", "server", "admin", "metrics", "api", "", "ab", "A-b"]),
                 st.text(max_size=60)))
def test_formation_id_rule_agrees_with_the_client_side_check(formation_id: str) -> None:
    try:
        validate_formation_id(formation_id)
        valid = True
    except ConfigurationError:
        valid = False
    assert (formation_id_error(formation_id) is None) is valid


# --- the chat stream as a client decodes it ------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(message=TEXT, chunk=st.integers(1, 64))
def test_every_streamed_message_decodes_back_exactly(server: LocalMuxiServer, message: str, chunk: int) -> None:
    reply = request(server, "POST", api(server, "/chat"), headers=client(server, "prop"),
                    json_body={"message": message})
    body = reply.body
    assert b"\r" not in body
    machine = ChatStream()
    answer = ChatAnswer()
    for start in range(0, len(body), chunk):  # any chunking gives the same events
        for evt in machine.feed(body[start:start + chunk]):
            answer.add(evt)
    machine.eof()
    assert machine.finished and answer.completed and not answer.replaced
    assert answer.text == message
    for evt in SSEDecoder().feed(body):
        assert json.dumps(evt.json(), separators=(",", ":"), ensure_ascii=False) == evt.data


@settings(max_examples=30, deadline=None)
@given(message=TEXT)
def test_json_chat_and_session_agree_with_the_stream(server: LocalMuxiServer, message: str) -> None:
    data = request(server, "POST", api(server, "/chat"), headers=client(server, "json-prop"),
                   json_body={"message": message, "stream": False, "session_id": "p"}).json()["data"]
    assert data["message"]["content"] == message
    every = request(server, "GET", api(server, "/sessions/p/messages?limit=1000"),
                    headers=client(server, "json-prop")).json()["data"]["messages"]
    # Buffer messages are {text, metadata}, oldest first (tests/fixtures/runtime/default/sessions.json).
    assert [m["text"] for m in every[-2:]] == [message, message]


# --- faults: a model of one-shot rules ---------------------------------------------------------------------

PATHS = st.sampled_from(["/a", "/a/b", "/b", "/api/x/v1/chat"])
PREFIXES = st.sampled_from([None, "/a", "/b", "/api/"])


class FaultsMachine(RuleBasedStateMachine):
    """``Faults.take`` agrees with a list model: failures, then garbage, then drops, first match each."""

    def __init__(self) -> None:
        super().__init__()
        self.faults = Faults()
        self.model: dict[str, list[list[object]]] = {"fail": [], "garbage": [], "drop": []}

    @rule(n=st.integers(1, 3), prefix=PREFIXES, status=st.sampled_from([429, 500, 503]))
    def fail(self, n: int, prefix: str | None, status: int) -> None:
        self.faults.fail_next(n, status=status, path_prefix=prefix)
        self.model["fail"].append([n, prefix, status])

    @rule(n=st.integers(1, 3), prefix=PREFIXES)
    def garbage(self, n: int, prefix: str | None) -> None:
        self.faults.garbage_next(n, path_prefix=prefix)
        self.model["garbage"].append([n, prefix, None])

    @rule(n=st.integers(1, 3), prefix=PREFIXES, when=st.sampled_from(["headers", "mid_body", "mid_stream"]))
    def drop(self, n: int, prefix: str | None, when: str) -> None:
        self.faults.drop_next(n, when=when, path_prefix=prefix)  # type: ignore[arg-type]
        self.model["drop"].append([n, prefix, when])

    @rule(path=PATHS)
    def take(self, path: str) -> None:
        plan = self.faults.take(path)
        for kind in ("fail", "garbage", "drop"):
            for entry in self.model[kind]:
                count, prefix, extra = entry
                assert isinstance(count, int)
                if count > 0 and (prefix is None or path.startswith(str(prefix))):
                    entry[0] = count - 1
                    assert plan is not None
                    if kind == "fail":
                        assert plan.fail_status == extra and plan.garbage is None and plan.drop is None
                    elif kind == "garbage":
                        assert plan.fail_status is None and plan.garbage is not None
                    else:
                        assert plan.fail_status is None and plan.garbage is None and plan.drop == extra
                    return
        assert plan is None

    @rule()
    def clear(self) -> None:
        self.faults.clear()
        self.model = {"fail": [], "garbage": [], "drop": []}

    @invariant()
    def pending_matches(self) -> None:
        expected = sum(int(str(e[0])) for entries in self.model.values() for e in entries)
        assert self.faults.pending == expected
        assert self.faults.active == (expected > 0)


TestFaults = FaultsMachine.TestCase


# --- idempotency cache: a model with TTL and eviction --------------------------------------------------


@given(st.lists(st.tuples(st.sampled_from(["put", "get", "tick"]), st.sampled_from(["k1", "k2", "k3", "k4"]),
                          st.integers(0, 40)), max_size=60))
def test_idempotency_cache_matches_a_model(ops: list[tuple[str, str, int]]) -> None:
    cache = IdempotencyCache(ttl=50.0, max_entries=3)
    model: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
    now = 0.0
    for index, (op, key, amount) in enumerate(ops):
        if op == "tick":
            now += amount
        elif op == "put":
            body = f"{key}-{index}".encode()
            cache.put("/v1/chat", key, 200, body, now)
            model[key] = (now + 50.0, body)
            model.move_to_end(key)
            while len(model) > 3:
                model.popitem(last=False)
        else:
            got = cache.get("/v1/chat", key, now)
            entry = model.get(key)
            if entry is None or entry[0] <= now:
                model.pop(key, None)
                assert got is None
            else:
                assert got == (200, entry[1])
        assert len(cache) <= 3


# --- formation lifecycle: the control plane against a model -------------------------------------------


class LifecycleMachine(RuleBasedStateMachine):
    """Deploy, update, rollback, stop, start, restart and delete in any order; the server agrees
    with a model of each formation's status, version numbers and restart count."""

    formations = Bundle("formations")

    @initialize()
    def boot(self) -> None:
        self.server = LocalMuxiServer(raise_fd_limit=False).start()
        self.model: dict[str, dict[str, object]] = {}
        self.counter = 0

    def teardown(self) -> None:
        if hasattr(self, "server"):
            self.server.stop()

    @rule(target=formations)
    def deploy(self) -> str:
        self.counter += 1
        fid = f"prop-{self.counter:03d}"
        reply = rpc(self.server, "POST", "/rpc/formations", body=make_bundle(fid),
                    headers={"Content-Type": "application/gzip", "X-Formation-ID": fid})
        assert reply.status == 201
        self.model[fid] = {"status": "running", "version": 1, "previous": None, "restarts": 0, "gen": 1}
        return fid

    @rule(fid=formations)
    def update(self, fid: str) -> None:
        state = self.model.get(fid)
        gen = int(str(state["gen"])) + 1 if state else 1
        body = make_bundle(fid, name=f"Generation {gen}")
        reply = rpc(self.server, "PUT", f"/rpc/formations/{fid}", body=body,
                    headers={"Content-Type": "application/gzip"})
        if state is None:
            assert reply.status == 404
            return
        assert reply.status == 200, reply.body
        data = reply.json()["data"]
        assert (data["version"], data["previous_version"]) == (int(str(state["version"])) + 1, state["version"])
        state.update(previous=state["version"], version=data["version"], status="running", gen=gen)

    @rule(fid=formations)
    def rollback(self, fid: str) -> None:
        state = self.model.get(fid)
        reply = rpc(self.server, "POST", f"/rpc/formations/{fid}/rollback")
        if state is None:
            assert reply.status == 404
        elif state["previous"] is None:
            assert reply.status == 400
        else:
            assert reply.status == 200
            data = reply.json()["data"]
            assert (data["version"], data["previous_version"]) == (state["previous"], state["version"])
            state.update(version=state["previous"], previous=state["version"], status="running")

    @rule(fid=formations)
    def stop(self, fid: str) -> None:
        state = self.model.get(fid)
        reply = rpc(self.server, "POST", f"/rpc/formations/{fid}/stop")
        expected = 404 if state is None else 409 if state["status"] == "stopped" else 200
        assert reply.status == expected
        if expected == 200 and state is not None:
            state["status"] = "stopped"

    @rule(fid=formations, stream=st.booleans())
    def start(self, fid: str, stream: bool) -> None:
        state = self.model.get(fid)
        headers = {"Accept": "text/event-stream"} if stream else {}
        reply = rpc(self.server, "POST", f"/rpc/formations/{fid}/start", headers=headers)
        expected = "NotFound" if state is None else "AlreadyRunning" if state["status"] == "running" else None
        if stream:
            last = events(reply.body)[-1]
            assert reply.status == 200
            assert (last.event, last.json().get("error")) == (("error", expected) if expected else ("complete", None))
        else:
            assert reply.status == {"NotFound": 404, "AlreadyRunning": 409, None: 200}[expected]
        if expected is None and state is not None:
            state["status"] = "running"

    @rule(fid=formations)
    def restart(self, fid: str) -> None:
        state = self.model.get(fid)
        reply = rpc(self.server, "POST", f"/rpc/formations/{fid}/restart")
        assert reply.status == (404 if state is None else 200)
        if state is not None:
            state.update(status="running", restarts=int(str(state["restarts"])) + 1)

    @rule(fid=formations)
    def delete(self, fid: str) -> None:
        reply = rpc(self.server, "DELETE", f"/rpc/formations/{fid}")
        assert reply.status == (200 if self.model.pop(fid, None) is not None else 404)

    @precondition(lambda self: hasattr(self, "server"))
    @invariant()
    def server_agrees(self) -> None:
        listing = rpc(self.server, "GET", "/rpc/formations").json()["data"]["formations"]
        ours = {f["id"]: f for f in listing if f["id"] != self.server.formation_id}
        assert set(ours) == set(self.model)
        for fid, state in self.model.items():
            assert ours[fid]["status"] == state["status"]
            assert ours[fid]["restart_count"] == state["restarts"]
            assert ours[fid]["healthy"] is (state["status"] == "running")
            health = request(self.server, "GET", f"/api/{fid}/v1/health").status
            assert health == (200 if state["status"] == "running" else 503)
        status = rpc(self.server, "GET", "/rpc/server/status").json()["data"]["formations"]
        assert status["total"] == len(self.model) + 1


LifecycleMachine.TestCase.settings = settings(max_examples=15, stateful_step_count=12, deadline=None)
TestLifecycle = LifecycleMachine.TestCase


# --- request validation: any JSON body gets a runtime answer, never a crash --------------------------------

JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
                           max_leaves=10)
BODIES = st.one_of(
    JSON_VALUES,
    st.fixed_dictionaries({}, optional={"message": JSON_VALUES, "stream": JSON_VALUES, "session_id": JSON_VALUES,
                                        "data": JSON_VALUES, "use_async": JSON_VALUES, "type": JSON_VALUES,
                                        "schedule": JSON_VALUES, "key": JSON_VALUES, "value": JSON_VALUES,
                                        "messages": JSON_VALUES}),
)
ROUTES = [("POST", "/chat", "client"), ("POST", "/secrets", "admin"), ("POST", "/scheduler/jobs", "admin"),
          ("POST", "/triggers/echo", "client"), ("POST", "/sessions/p/restore", "client"),
          ("POST", "/users/resolve", "client"), ("POST", "/memories/batch", "client")]


@settings(max_examples=150, deadline=None)
@given(route=st.sampled_from(ROUTES), body=BODIES)
def test_any_json_body_gets_an_envelope_never_a_crash(server: LocalMuxiServer, route: tuple[str, str, str],
                                                      body: object) -> None:
    from test_local_server_support import admin

    method, path, key = route
    headers = admin(server, **{"X-Muxi-User-ID": "p"}) if key == "admin" else client(server, "p")
    if path == "/chat" and isinstance(body, dict):
        body = {**body, "stream": False}  # a stream answers 200 and then frames; here only the JSON answer
    reply = request(server, method, api(server, path), headers=headers, json_body=body)
    assert reply.status in (200, 201, 400, 404, 409, 422, 500, 501), reply.body
    envelope = reply.json()
    assert set(envelope) == {"object", "timestamp", "type", "request", "success", "error", "data"}
    assert envelope["success"] is (reply.status < 400)
    if reply.status == 500:  # only where the runtime itself fails (its SQLite memory store)
        assert path == "/memories/batch" or "SQLiteMemory" in envelope["error"]["message"], envelope
    assert server.errors == []
