"""Every client method, through every transport, against the local server (not the mock).

The method list is not written here: it is read from the endpoint tables
(:class:`~muxi_proto.endpoints.ServerAPI` and :class:`~muxi_proto.endpoints.FormationAPI`), and
``test_every_endpoint_has_a_scenario`` fails as soon as an endpoint has no scenario below.

A scenario is a generator written once. It yields steps (call a method, expect a typed error, read
a stream) and receives their results, so the same scenario drives the blocking clients over
:class:`HTTPCoreTransport` and the async clients over :class:`AsyncHTTPCoreTransport` and
:class:`AnyIOTransport` (asyncio and trio) and :class:`TrioTransport` (trio). Setup and
cross-checks go through separate blocking clients (``env.ctl``, ``env.fc``), so what a scenario
asserts is what the server really did, not what the client under test believes.

One server serves the whole module; each scenario works on its own formations, users, sessions
and names (``env.n`` is unique per test), so scenarios never see each other's data.
"""

from __future__ import annotations

import io
import itertools
import ssl
import zipfile
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest
from conftest import ASYNC_CASES, TransportCase
from test_local_server_support import bundle

from muxi_proto.api import Endpoint, StreamEndpoint
from muxi_proto.endpoints import FormationAPI, ServerAPI
from muxi_proto.errors import (
    ConflictError,
    LimitExceededError,
    MuxiError,
    NotFoundError,
    ServerError,
    ValidationError,
)
from muxi_proto.sse import ServerSentEvent
from muxi_proto.streams import ChatAnswer, chat_token
from muxi_testing import LocalMuxiServer
from muxi_transports import (
    AsyncFormationClient,
    AsyncServerClient,
    FormationClient,
    HTTPCoreTransport,
    ServerClient,
)

STREAM_DEADLINE = 20.0  # seconds: only so that a stream that never delivers fails instead of hanging

# --- steps -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """Call a method of the client under test; the scenario receives the result.

    ``on``: a server other than the module's (the client is built for it with the same transport).
    """

    method: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    on: LocalMuxiServer | None = None


@dataclass(frozen=True)
class Read(Call):
    """Open a stream and read ``limit`` events (None: to its end). ``then`` (blocking) runs once
    ``after`` events were read (0: as soon as the stream is open), e.g. to make an event happen."""

    limit: int | None = None
    after: int = 0
    then: Callable[[], object] | None = None


@dataclass(frozen=True)
class Fails:
    """``step`` must raise ``expected``; the scenario receives the exception."""

    step: Call
    expected: type[MuxiError]

    @property
    def method(self) -> str:
        return self.step.method


@dataclass(frozen=True)
class Wait:
    """Block until ``predicate()`` holds (woken by the server's traffic), with a deadline."""

    predicate: Callable[[], bool]
    timeout: float = 10.0
    method: str = ""


Step = Call | Fails | Wait
Flow = Generator[Step, Any, None]


def call(method: str, *args: Any, on: LocalMuxiServer | None = None, **kwargs: Any) -> Call:
    return Call(method, args, kwargs, on)


def read(method: str, *args: Any, limit: int | None = None, after: int = 0,
         then: Callable[[], object] | None = None, **kwargs: Any) -> Read:
    return Read(method, args, kwargs, None, limit, after, then)


def fails(expected: type[MuxiError], method: str, *args: Any, on: LocalMuxiServer | None = None,
          **kwargs: Any) -> Fails:
    return Fails(Call(method, args, kwargs, on), expected)


def fails_reading(expected: type[MuxiError], method: str, *args: Any, **kwargs: Any) -> Fails:
    return Fails(Read(method, args, kwargs), expected)


# --- drivers -----------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What a step gave: a value to send into the scenario, or an error to throw into it."""

    value: Any = None
    error: BaseException | None = None


def _expectation(step: Step, outcome: Outcome) -> Outcome:
    if not isinstance(step, Fails):
        return outcome
    if outcome.error is None:
        return Outcome(error=AssertionError(
            f"{step.method} should raise {step.expected.__name__}, returned {outcome.value!r:.300}"))
    if isinstance(outcome.error, step.expected):
        return Outcome(outcome.error)
    return outcome


def _advance(flow: Flow, outcome: Outcome) -> Step | None:
    try:
        return flow.throw(outcome.error) if outcome.error is not None else flow.send(outcome.value)
    except StopIteration:
        return None


class Clients:
    """The clients under test: one per server, of one flavour, sharing one transport."""

    def __init__(self, plane: str, make: Callable[[LocalMuxiServer], Any]) -> None:
        self.plane = plane
        self._make = make
        self.made: dict[int, Any] = {}

    def for_server(self, server: LocalMuxiServer) -> Any:
        if id(server) not in self.made:
            self.made[id(server)] = self._make(server)
        return self.made[id(server)]


def drive_sync(flow: Flow, clients: Clients, home: LocalMuxiServer) -> list[str]:
    """Run ``flow`` with blocking clients; return the methods it called."""
    called: list[str] = []
    outcome = Outcome()
    while (step := _advance(flow, outcome)) is not None:
        called.append(step.method)
        outcome = _expectation(step, _perform_sync(step, clients, home))
    return called


def _perform_sync(step: Step, clients: Clients, home: LocalMuxiServer) -> Outcome:
    if isinstance(step, Wait):
        return Outcome(home.wait_until(lambda _: step.predicate(), step.timeout))
    inner = step.step if isinstance(step, Fails) else step
    method = getattr(clients.for_server(inner.on or home), inner.method)
    try:
        if not isinstance(inner, Read):
            return Outcome(method(*inner.args, **inner.kwargs))
        got: list[ServerSentEvent] = []
        with method(*inner.args, **inner.kwargs) as events:
            if inner.then is not None and inner.after == 0:
                inner.then()
            for event in () if inner.limit == 0 else events:  # limit=0: it opened; close it
                got.append(event)
                if inner.then is not None and len(got) == inner.after:
                    inner.then()
                if inner.limit is not None and len(got) >= inner.limit:
                    break
        return Outcome(got)
    except Exception as exc:
        return Outcome(error=exc)


async def drive_async(flow: Flow, clients: Clients, home: LocalMuxiServer) -> list[str]:
    """Run ``flow`` with async clients on the running loop; return the methods it called."""
    called: list[str] = []
    outcome = Outcome()
    while (step := _advance(flow, outcome)) is not None:
        called.append(step.method)
        outcome = _expectation(step, await _perform_async(step, clients, home))
    return called


async def _perform_async(step: Step, clients: Clients, home: LocalMuxiServer) -> Outcome:
    if isinstance(step, Wait):
        return Outcome(await anyio.to_thread.run_sync(home.wait_until, lambda _: step.predicate(), step.timeout))
    inner = step.step if isinstance(step, Fails) else step
    method = getattr(clients.for_server(inner.on or home), inner.method)
    try:
        if not isinstance(inner, Read):
            return Outcome(await method(*inner.args, **inner.kwargs))
        got: list[ServerSentEvent] = []
        with anyio.fail_after(STREAM_DEADLINE):
            async with await method(*inner.args, **inner.kwargs) as events:
                then = inner.then
                if then is not None and inner.after == 0:
                    await anyio.to_thread.run_sync(then)
                async for event in _nothing() if inner.limit == 0 else events:
                    got.append(event)
                    if then is not None and len(got) == inner.after:
                        await anyio.to_thread.run_sync(then)
                    if inner.limit is not None and len(got) >= inner.limit:
                        break
        return Outcome(got)
    except Exception as exc:
        return Outcome(error=exc)


async def _nothing() -> AsyncIterator[ServerSentEvent]:
    return
    yield  # an async generator that yields nothing


# --- the environment scenarios get -------------------------------------------------------------------

_numbers = itertools.count(1)


@dataclass
class Env:
    """The module's server, blocking helper clients for setup and checks, and unique names."""

    server: LocalMuxiServer
    ctl: ServerClient
    fc: FormationClient
    tmp: Path
    n: int = field(default_factory=lambda: next(_numbers))

    @property
    def user(self) -> str:
        return f"user-{self.n}"

    @property
    def session(self) -> str:
        return f"sess-{self.n}"

    def fid(self, tag: str = "f") -> str:
        """A formation id of this test's own."""
        return f"m{self.n}-{tag}"

    def source(self, formation_id: str, version: str = "1.0.0") -> Path:
        """A formation directory (what a user would pass)."""
        root = self.tmp / f"{formation_id}-{version}"
        (root / "agents").mkdir(parents=True, exist_ok=True)
        (root / "formation.afs").write_text(f'schema: "1.0.0"\nid: {formation_id}\nversion: "{version}"\n'
                                            "name: Test formation\n")
        (root / "agents" / "assistant.afs").write_text("id: assistant\nname: Assistant\n")
        return root

    def bundle(self, formation_id: str, version: str = "1.0.0") -> bytes:
        """A tar.gz bundle (what a build pipeline would pass)."""
        return bundle(self.tmp, formation_id, version=version)

    def deploy(self, tag: str = "f", version: str = "1.0.0") -> str:
        """A new running formation, deployed by the helper client."""
        formation_id = self.fid(tag)
        self.ctl.deploy_formation(formation_id, self.bundle(formation_id, version))
        return formation_id

    def chat(self, message: str, *, session: str | None = None, user: str | None = None) -> dict[str, Any]:
        """A chat by the helper client (default: this test's user and session)."""
        result: dict[str, Any] = self.fc.chat({"message": message, "session_id": session or self.session},
                                              user_id=user or self.user)
        return result


# --- scenarios ----------------------------------------------------------------------------------------

Scenario = Callable[[Env], Flow]
SCENARIOS: dict[str, Scenario] = {}


def scenario(plane: str, method: str | None = None) -> Callable[[Scenario], Scenario]:
    """Register ``fn`` as the scenario of the ``plane`` method ``method`` (default: ``fn``'s name)."""

    def register(fn: Scenario) -> Scenario:
        SCENARIOS[f"{plane}.{method or fn.__name__}"] = fn
        return fn

    return register


server = scenario("server")
formation = scenario("formation")


def stages(events: list[ServerSentEvent]) -> list[str]:
    return [e.json()["stage"] for e in events if e.event == "progress"]


# Control plane ------------------------------------------------------------------------------------


@server
def ping(env: Env) -> Flow:
    assert (yield call("ping")) == "pong"  # the text, not the official SDK's len("pong")


@server
def health(env: Env) -> Flow:
    assert (yield call("health")) == {"success": True, "status": "ok", "version": "1.0.0-local"}


@server
def status(env: Env) -> Flow:
    env.ctl.stop_formation(env.deploy())
    got = yield call("status")
    listing = env.ctl.list_formations()["formations"]
    assert got["formations"]["total"] == len(listing)
    assert got["formations"]["stopped"] == sum(f["status"] == "stopped" for f in listing) >= 1
    assert got["server"]["id"].startswith("srv_") and got["server"]["version"] == "1.0.0-local"
    assert got["port_pool"]["allocated"] >= len(listing)


@server
def get_server_logs(env: Env) -> Flow:
    env.ctl.list_formations()
    env.ctl.list_formations()
    text = yield call("get_server_logs", lines=2)
    lines = text.splitlines()
    assert len(lines) == 2 and all('"message":"RPC request"' in line for line in lines)
    alias = yield call("get_server_logs", limit=1)  # the official SDK's name for lines
    assert len(alias.splitlines()) == 1 and '"path":"/rpc/server/logs"' in alias


@server
def list_formations(env: Env) -> Flow:
    fid = env.deploy()
    got = yield call("list_formations")
    ids = [f["id"] for f in got["formations"]]
    assert fid in ids and got["total"] == len(ids) and env.server.formation_id in ids


@server
def get_formation(env: Env) -> Flow:
    fid = env.deploy(version="1.2.0")
    got = yield call("get_formation", fid)
    assert (got["id"], got["status"], got["formation_version"], got["healthy"]) == (fid, "running", "1.2.0", True)
    missing = yield fails(NotFoundError, "get_formation", env.fid("ghost"))
    assert (missing.status_code, missing.message) == (404, "Formation not found")


@server
def deploy_formation(env: Env) -> Flow:
    fid = env.fid("new")
    got = yield call("deploy_formation", fid, env.source(fid, "1.3.0"))  # a directory, packed by the client
    assert (got["formation_id"], got["status"]) == (fid, "running")
    assert env.ctl.get_formation(fid)["formation_version"] == "1.3.0"
    again = yield fails(ConflictError, "deploy_formation", fid, payload=env.bundle(fid, "1.3.0"))
    assert again.message == f"Formation '{fid}' already exists. Use PUT to update."
    assert env.server.traffic.count("/rpc/formations", method="POST") >= 2  # never /deploy


@server
def deploy_formation_stream(env: Env) -> Flow:
    fid = env.fid("new")
    events = yield read("deploy_formation_stream", fid, env.bundle(fid))
    assert stages(events) == ["extracting", "spawning", "health_check", "health_check"]
    assert events[-1].event == "complete"
    assert (events[-1].json()["formation_id"], events[-1].json()["status"]) == (fid, "running")
    assert env.server.formation_status(fid) == "running"


@server
def update_formation(env: Env) -> Flow:
    fid = env.deploy()
    got = yield call("update_formation", fid, payload=env.source(fid, "1.1.0"), version="1.1.0")
    assert (got["version"], got["previous_version"], got["deployment_type"]) == (2, 1, "blue-green")
    assert env.ctl.get_formation(fid)["formation_version"] == "1.1.0"
    same = yield fails(ConflictError, "update_formation", fid, env.bundle(fid, "1.1.0"))  # identical bytes
    assert same.message == "Bundle is identical to current version - nothing to update"


@server
def update_formation_stream(env: Env) -> Flow:
    fid = env.deploy()
    events = yield read("update_formation_stream", fid, env.bundle(fid, "2.0.0"), version="2.0.0")
    assert stages(events) == ["extracting", "validating", "spawning_staging", "health_check", "health_check",
                              "swapping", "stopping_old"]
    assert events[-1].event == "complete" and events[-1].json()["new_version"] == "2"
    same = yield fails_reading(ConflictError, "update_formation_stream", fid, env.bundle(fid, "2.0.0"))
    assert same.code == "NoChange"  # an `event: error` after HTTP 200, raised as the matching type


@server
def delete_formation(env: Env) -> Flow:
    fid = env.deploy()
    got = yield call("delete_formation", fid)
    assert (got["id"], got["message"]) == (fid, "Formation deleted successfully")
    assert env.server.formation_status(fid) is None
    yield fails(NotFoundError, "delete_formation", fid)


@server
def start_formation(env: Env) -> Flow:
    fid = env.deploy()
    env.ctl.stop_formation(fid)
    got = yield call("start_formation", fid)
    assert (got["id"], got["status"], got["message"]) == (fid, "running", "Formation started")
    assert env.server.formation_status(fid) == "running"
    running = yield fails(ConflictError, "start_formation", fid)
    assert running.message == "Formation is already running"


@server
def start_formation_stream(env: Env) -> Flow:
    fid = env.deploy()
    env.ctl.stop_formation(fid)
    events = yield read("start_formation_stream", fid)
    assert stages(events) == ["validating", "spawning", "health_check", "health_check"]
    assert events[-1].event == "complete" and events[-1].json()["status"] == "running"
    running = yield fails_reading(ConflictError, "start_formation_stream", fid)
    assert (running.code, running.status_code) == ("AlreadyRunning", 0)  # HTTP 200, then `event: error`


@server
def stop_formation(env: Env) -> Flow:
    fid = env.deploy()
    got = yield call("stop_formation", fid)
    assert (got["id"], got["status"]) == (fid, "stopped") and env.server.formation_status(fid) == "stopped"
    stopped = yield fails(ConflictError, "stop_formation", fid)
    assert stopped.message == "Formation is already stopped"


@server
def restart_formation(env: Env) -> Flow:
    fid = env.deploy()
    got = yield call("restart_formation", fid)
    assert (got["status"], got["restart_count"]) == ("running", 1)
    assert env.ctl.get_formation(fid)["restart_count"] == 1
    yield fails(NotFoundError, "restart_formation", env.fid("ghost"))


@server
def restart_formation_stream(env: Env) -> Flow:
    fid = env.deploy()
    events = yield read("restart_formation_stream", fid)
    assert stages(events) == ["stopping", "validating", "spawning", "health_check", "health_check"]
    assert events[-1].json()["restart_count"] == 1
    ghost = yield fails_reading(NotFoundError, "restart_formation_stream", env.fid("ghost"))
    assert ghost.code == "NotFound"


@server
def rollback_formation(env: Env) -> Flow:
    fid = env.deploy()
    env.ctl.update_formation(fid, env.bundle(fid, "1.1.0"))
    got = yield call("rollback_formation", fid)
    assert (got["version"], got["previous_version"]) == (1, 2)
    assert env.ctl.get_formation(fid)["formation_version"] == "1.0.0"
    fresh = env.deploy("fresh")
    none = yield fails(ValidationError, "rollback_formation", fresh)
    assert none.message == "No previous version available for rollback"


@server
def rollback_formation_stream(env: Env) -> Flow:
    fid = env.deploy()
    env.ctl.update_formation(fid, env.bundle(fid, "1.1.0"))
    events = yield read("rollback_formation_stream", fid)
    assert stages(events) == ["validating", "spawning_previous", "health_check", "health_check",
                              "stopping_current", "swapping"]
    assert (events[-1].json()["previous_version"], events[-1].json()["new_version"]) == ("2", "1")
    assert env.ctl.get_formation(fid)["formation_version"] == "1.0.0"


@server
def cancel_update(env: Env) -> Flow:
    # A server of its own whose updates wait in health checks until cancelled (500 x 10 ms).
    with LocalMuxiServer(step_delay=0.01, health_check_attempts=500) as slow, \
            ServerClient(slow.server_config()) as helper:
        fid = slow.formation_id
        update = helper.update_formation_stream(fid, env.bundle(fid, "1.5.0"), version="1.5.0")
        with update:
            events = iter(update)
            while next(events).json()["stage"] != "spawning_staging":
                pass
            got = yield call("cancel_update", fid, on=slow)
            assert (got["message"], got["formation_id"]) == ("Update cancelled successfully", fid)
            with pytest.raises(ServerError) as failed:
                list(events)
        assert failed.value.code == "HealthCheckFailed"
        assert helper.get_formation(fid)["formation_version"] == "1.0.0"  # the old version kept serving
        idle = yield fails(ValidationError, "cancel_update", fid, on=slow)
        assert idle.message == "No update in progress for this formation"
        assert slow.errors == []


@server
def get_formation_logs(env: Env) -> Flow:
    fid = env.deploy()
    env.server.add_log_line(f"hello {fid}", formation_id=fid)
    env.server.add_log_line(f"oops {fid}", stream="stderr", formation_id=fid)
    got = yield call("get_formation_logs", fid, lines=1, stream="stdout")
    assert got["logs"] == {"stdout": [f"hello {fid}"]}
    both = yield call("get_formation_logs", fid, limit=1)  # the official SDK's name; the wire says lines
    assert both["logs"] == {"stdout": [f"hello {fid}"], "stderr": [f"oops {fid}"]}
    assert env.server.traffic.records(f"/rpc/formations/{fid}/logs")[-1].query == "lines=1"


@server
def stream_formation_logs(env: Env) -> Flow:
    fid = env.deploy()
    events = yield read("stream_formation_logs", fid, limit=2, after=1,
                        then=lambda: env.server.add_log_line(f"live {fid}", formation_id=fid))
    assert (events[0].event, events[0].json()) == ("connected", {"formation_id": fid})
    assert (events[1].event, events[1].json()) == ("log", {"formation_id": fid, "line": f"live {fid}"})


@server
def download_formation(env: Env) -> Flow:
    fid = env.deploy()
    data = yield call("download_formation", fid)
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert sorted(archive.namelist()) == ["agents/", "agents/assistant.afs", "formation.afs"]
    assert f"id: {fid}" in archive.read("formation.afs").decode()
    with_db = yield call("download_formation", fid, db=True)
    assert with_db[:2] == b"PK"
    assert env.server.traffic.records(f"/rpc/formations/{fid}/download")[-1].query == "db=true"


# Formation plane: health, configuration ---------------------------------------------------------------
# What each scenario asserts is what muxi-runtime answers, as recorded in tests/fixtures/runtime/ (the
# file named in each comment); the demo formation is a default runtime formation: SQLite persistent
# memory (single-user: every X-Muxi-User-ID is stored as user "0"), a scheduler, one agent.


@scenario("formation", "health")
def formation_health(env: Env) -> Flow:
    got = yield call("health")  # default/health_and_routing.json
    assert got["status"] == "healthy" and isinstance(got["uptime_seconds"], int) and got["version"] == "1.0.0"


@formation
def get_status(env: Env) -> Flow:
    got = yield call("get_status")  # default/configuration.json: nested, not flat
    assert got["formation"]["id"] == env.server.formation_id and got["agents"] == {"count": 1, "active": 1}
    assert isinstance(got["stats"]["running"]["seconds"], int)
    assert got["request_id"].startswith("req_") and isinstance(got["timestamp"], int)  # envelope merged in


@formation
def get_config(env: Env) -> Flow:
    got = yield call("get_config")
    assert got["formation_id"] == env.server.formation_id
    assert got["agents"] == {"total": 1, "resource": "/v1/agents"}  # a resource link, not the agent ids


@formation
def get_formation_info(env: Env) -> Flow:
    got = yield call("get_formation_info")
    assert (got["id"], got["schema"], got["formation_id"]) == (env.server.formation_id, "1.0.0",
                                                               env.server.formation_id)
    assert [a["id"] for a in got["agents"]] == ["assistant"]


@formation
def get_agents(env: Env) -> Flow:
    got = yield call("get_agents")
    assert [a["id"] for a in got["agents"]] == ["assistant"] and got["count"] == 1
    assert got["agents"][0]["source"] == "formation" and "system_message" in got["agents"][0]


@formation
def get_agent(env: Env) -> Flow:
    got = yield call("get_agent", "assistant")
    assert (got["id"], got["name"]) == ("assistant", "Assistant")
    missing = yield fails(NotFoundError, "get_agent", "nobody")
    assert (missing.code, missing.status_code) == ("AGENT_NOT_FOUND", 404)  # the runtime's nested code


@formation
def get_mcp_config(env: Env) -> Flow:
    got = yield call("get_mcp_config")
    assert (got["default_retry_attempts"], got["servers"]) == (3, [])


@formation
def get_mcp_servers(env: Env) -> Flow:
    got = yield call("get_mcp_servers")
    assert (got["servers"], got["count"]) == ([], 0)


@formation
def get_mcp_server(env: Env) -> Flow:
    # The formation has no MCP server, so the real answer to check is the typed 404.
    missing = yield fails(NotFoundError, "get_mcp_server", "files")
    assert (missing.code, missing.message) == ("MCP_SERVER_NOT_FOUND", "MCP server 'files' not found")


@formation
def get_mcp_tools(env: Env) -> Flow:
    got = yield call("get_mcp_tools")  # the runtime's built-in tools
    assert "chat" in [t["name"] for t in got["tools"]] and "count" not in got


@formation
def get_llm_settings(env: Env) -> Flow:
    got = yield call("get_llm_settings")  # the formation's llm section as written
    assert got["models"] == [{"text": "openai/gpt-4o-mini"}]


@formation
def get_logging_config(env: Env) -> Flow:
    got = yield call("get_logging_config")  # no logging section: an empty data object
    assert set(got) == {"request_id", "timestamp"}  # the key is echoed by the idempotent routes only


@formation
def get_logging_destinations(env: Env) -> Flow:
    got = yield call("get_logging_destinations")
    assert got["system"] == {"level": "debug", "destination": "stdout"}
    assert got["conversation"] == {"destinations": [], "count": 0}


@formation
def get_async_config(env: Env) -> Flow:
    got = yield call("get_async_config")  # no async section: an empty data object
    assert set(got) == {"request_id", "timestamp"}  # the key is echoed by the idempotent routes only


@formation
def get_a2a_config(env: Env) -> Flow:
    got = yield call("get_a2a_config")  # no a2a section: an empty data object
    assert set(got) == {"request_id", "timestamp"}  # the key is echoed by the idempotent routes only


@formation
def get_overlord_config(env: Env) -> Flow:
    got = yield call("get_overlord_config")
    assert got["soul"] == "You are a helpful assistant served by the local MUXI server."
    assert got["workflow"]["routing_strategy"] == "capability_based" and got["caching"]["ttl"] == 3600


@formation
def get_overlord_soul(env: Env) -> Flow:
    got = yield call("get_overlord_soul")
    assert got["soul"] == "You are a helpful assistant served by the local MUXI server."


@formation
def get_memory_config(env: Env) -> Flow:
    got = yield call("get_memory_config")  # no memory section: an empty data object
    assert set(got) == {"request_id", "timestamp"}  # the key is echoed by the idempotent routes only


@formation
def get_scheduler_config(env: Env) -> Flow:
    got = yield call("get_scheduler_config")
    assert (got["enabled"], got["timezone"], got["default_time"]) == (True, "UTC", "09:00")


# Secrets -----------------------------------------------------------------------------------------------


def _key(env: Env) -> str:
    return f"API_KEY_{env.n}"


@formation
def get_secrets(env: Env) -> Flow:
    env.fc.create_secret(_key(env), "value-123456789")
    got = yield call("get_secrets")  # default/secrets.json: first and last four characters shown
    assert got["secrets"][_key(env)] == "valu\u2022\u2022\u2022\u2022\u2022\u2022\u2022\u20226789"
    assert got["count"] == len(got["secrets"])


@formation
def get_secret(env: Env) -> Flow:
    env.fc.create_secret(_key(env), "value-123456789")
    got = yield call("get_secret", _key(env))  # answered from GET /secrets: there is no GET /secrets/{key}
    assert got == {"key": _key(env), "value": "valu\u2022\u2022\u2022\u2022\u2022\u2022\u2022\u20226789"}
    missing = yield fails(NotFoundError, "get_secret", f"MISSING_{env.n}")
    assert missing.code == "SECRET_NOT_FOUND"
    assert env.server.traffic.count(f"/api/{env.server.formation_id}/v1/secrets/{_key(env)}") == 0


@formation
def create_secret(env: Env) -> Flow:
    got = yield call("create_secret", _key(env), "value-123456789")
    assert got["message"] == f"Secret '{_key(env)}' created successfully"
    assert env.fc.get_secret(_key(env))["value"].endswith("6789")
    exists = yield fails(ConflictError, "create_secret", _key(env), "other")
    assert (exists.code, exists.status_code) == ("SECRET_EXISTS", 409)


@formation
def update_secret(env: Env) -> Flow:
    env.fc.create_secret(_key(env), "value-123456789")
    got = yield call("update_secret", _key(env), "value-987654321")
    assert got["message"] == f"Secret '{_key(env)}' updated successfully"
    assert env.fc.get_secret(_key(env))["value"].endswith("4321")
    missing = yield fails(NotFoundError, "update_secret", f"MISSING_{env.n}", "x")
    assert missing.code == "SECRET_NOT_FOUND"


@formation
def set_secret(env: Env) -> Flow:
    assert (yield call("set_secret", _key(env), "first-11111111")) is None  # created (PUT 404, then POST)
    assert env.fc.get_secret(_key(env))["value"].endswith("1111")
    assert (yield call("set_secret", _key(env), "second-22222222")) is None  # updated (PUT)
    assert env.fc.get_secret(_key(env))["value"].endswith("2222")


@formation
def delete_secret(env: Env) -> Flow:
    env.fc.create_secret(_key(env), "value-123456789")
    assert (yield call("delete_secret", _key(env))) is None
    assert _key(env) not in env.fc.get_secrets()["secrets"]
    yield fails(NotFoundError, "delete_secret", _key(env))


# Chat ---------------------------------------------------------------------------------------------------

AUDIO = {"files": [{"filename": "hello.wav", "content_type": "audio/wav", "data": "UklGRiQAAABXQVZF"}]}


def _texts(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(m["metadata"]["role"], m["text"]) for m in messages]


@formation
def chat(env: Env) -> Flow:
    got = yield call("chat", {"message": "hello there", "session_id": env.session}, user_id=env.user)
    assert (got["message"]["role"], got["message"]["content"]) == ("assistant", "hello there")
    assert got["message"]["metadata"] == {"session_id": env.session}  # default/chat.json
    assert (got["session_id"], got["user_id"]) == (env.session, env.user)
    messages = env.fc.get_session_messages(env.session, env.user)["messages"]
    assert _texts(messages) == [("user", "hello there"), ("assistant", "hello there")]
    invalid = yield fails(ValidationError, "chat", {"session_id": env.session}, user_id=env.user)
    assert (invalid.code, invalid.status_code) == ("INVALID_PARAMS", 422)


@formation
def chat_stream(env: Env) -> Flow:
    events = yield read("chat_stream", {"message": "stream these words", "session_id": env.session},
                        user_id=env.user)
    answer = ChatAnswer()
    shown = "".join(answer.add(e) for e in events)
    assert shown == answer.text == "stream these words" and answer.completed and not answer.replaced
    tokens = [t for t in map(chat_token, events) if t is not None]
    assert [t.content for t in tokens if t.type == "content"] == ["stream", " these", " words"]
    assert events[-1].event == "done" and answer.session_id == env.session
    assert env.fc.get_session(env.session, env.user)["message_count"] == 2


@formation
def audio_chat(env: Env) -> Flow:
    got = yield call("audio_chat", {**AUDIO, "session_id": env.session}, user_id=env.user)
    assert got["message"]["content"] == "[audio: hello.wav]"
    text = {"files": [{"filename": "a.txt", "content_type": "text/plain", "data": "aGk="}]}
    invalid = yield fails(ValidationError, "audio_chat", text, user_id=env.user)
    assert (invalid.code, invalid.status_code) == ("VALIDATION_ERROR", 400)  # default/chat.json


@formation
def audio_chat_stream(env: Env) -> Flow:
    events = yield read("audio_chat_stream", {**AUDIO, "session_id": env.session}, user_id=env.user)
    answer = ChatAnswer()
    for event in events:
        answer.add(event)
    assert answer.text == "[audio: hello.wav]" and events[-1].event == "done"
    assert env.server.traffic.count(f"/api/{env.server.formation_id}/v1/audiochat") >= 1


# Sessions and requests ------------------------------------------------------------------------------------
# Single-user mode (default/user_isolation.json): every user's chats are stored as user "0", so each user
# sees every session and request; scenarios look for their own names among them.


@formation
def get_sessions(env: Env) -> Flow:
    env.chat("first", session=f"{env.session}-a")
    env.chat("second", session=f"{env.session}-b")
    got = yield call("get_sessions", env.user)
    ids = [s["session_id"] for s in got["sessions"]]
    assert {f"{env.session}-a", f"{env.session}-b"} <= set(ids) and {s["user_id"] for s in got["sessions"]} == {"0"}
    limited = yield call("get_sessions", env.user, 1)
    assert limited["count"] == 1 and limited["sessions"][0]["session_id"] == f"{env.session}-b"  # most recent


@formation
def get_session(env: Env) -> Flow:
    env.chat("hi")
    got = yield call("get_session", env.session, env.user)
    assert (got["session_id"], got["message_count"], got["user_id"]) == (env.session, 2, "0")
    yield fails(NotFoundError, "get_session", f"{env.session}-none", env.user)


@formation
def get_session_messages(env: Env) -> Flow:
    env.chat("one")
    env.chat("two")
    got = yield call("get_session_messages", env.session, env.user)
    assert [m["text"] for m in got["messages"]] == ["one", "one", "two", "two"]
    page = yield call("get_session_messages", env.session, env.user, limit=1)
    assert (page["count"], page["has_more"], page["messages"][0]["text"]) == (1, True, "one")  # oldest first


@formation
def restore_session(env: Env) -> Flow:
    session = f"{env.session}-restored"
    messages = [{"role": "user", "content": "restored", "timestamp": "2026-01-01T10:00:00Z"},
                {"role": "assistant", "content": "indeed", "timestamp": "2026-01-01T10:00:01Z"}]
    assert (yield call("restore_session", session, env.user, messages)) is None
    restored = env.fc.get_session_messages(session, env.user)["messages"]
    assert _texts(restored) == [("user", "restored"), ("assistant", "indeed")]
    untimed = yield fails(ValidationError, "restore_session", session, env.user, [{"role": "user", "content": "x"}])
    assert untimed.details["error"]["data"]["validation_errors"][0]["field"] == "messages.0.timestamp"


def _tracked(env: Env) -> list[str]:
    return [r["request_id"] for r in env.fc.get_requests(env.user)["requests"]]


@formation
def get_requests(env: Env) -> Flow:
    before = len(_tracked(env))
    env.chat("a")
    env.chat("b")
    got = yield call("get_requests", env.user)
    assert got["count"] == before + 2 and {r["status"] for r in got["requests"][-2:]} == {"completed"}
    assert {r["user_id"] for r in got["requests"]} == {"0"}


@formation
def get_request_status(env: Env) -> Flow:
    answered = env.chat("status please")["request_id"]
    request_id = _tracked(env)[-1]  # the tracker's id; the chat answer's request_id is the HTTP request's
    got = yield call("get_request_status", request_id, env.user)
    assert (got["request_id"], got["status"], got["result"]) == (request_id, "completed", "status please")
    missing = yield fails(NotFoundError, "get_request_status", answered, env.user)  # default/requests.json
    assert missing.code == "REQUEST_NOT_FOUND"


@formation
def cancel_request(env: Env) -> Flow:
    env.chat("done already")
    request_id = _tracked(env)[-1]
    done = yield fails(ValidationError, "cancel_request", request_id, env.user)  # too late to cancel
    assert (done.status_code, done.code) == (400, "OPERATION_FAILED")
    missing = yield fails(NotFoundError, "cancel_request", f"req_missing{env.n}", env.user)
    assert missing.code == "NOT_FOUND"


# Memory --------------------------------------------------------------------------------------------------
# default/memory.json: the runtime's SQLite store fails on the long-term memory routes (500, its own
# messages, docs/runtime.md), and the user buffer view reads the header's user while chats are stored as "0".


@formation
def get_buffer_stats(env: Env) -> Flow:
    before = yield call("get_buffer_stats")
    env.chat("count me", session=f"{env.session}-stats")
    after = yield call("get_buffer_stats")
    assert after["total_entries"] - before["total_entries"] == 2
    assert after["total_sessions"] - before["total_sessions"] == 1


@formation
def get_memories(env: Env) -> Flow:
    broken = yield fails(ServerError, "get_memories", env.user)
    assert broken.message == "Failed to retrieve memories: 'SQLiteMemory' object has no attribute 'list_memories'"


@formation
def add_memory(env: Env) -> Flow:
    broken = yield fails(ServerError, "add_memory", env.user, "preference", "likes green tea")
    assert broken.status_code == 500 and "external_user_id" in broken.message


@formation
def delete_memory(env: Env) -> Flow:
    broken = yield fails(ServerError, "delete_memory", env.user, f"mem_{env.n}")
    assert broken.message == "Failed to delete memory: 'SQLiteMemory' object has no attribute 'delete'"


@formation
def get_user_buffer(env: Env) -> Flow:
    env.chat("remember this")
    got = yield call("get_user_buffer", env.user)
    assert (got["user_id"], got["total_messages"], got["sessions"]) == (env.user, 0, [])
    stored = yield call("get_user_buffer", "0")  # where single-user mode keeps them
    assert stored["total_messages"] >= 2


@formation
def clear_user_buffer(env: Env) -> Flow:
    env.chat("forget this")
    got = yield call("clear_user_buffer", env.user)
    assert (got["user_id"], got["messages_cleared"], got["sessions_cleared"]) == (env.user, 0, 0)


@formation
def clear_session_buffer(env: Env) -> Flow:
    env.chat("keep", session=f"{env.session}-keep")
    got = yield call("clear_session_buffer", env.user, f"{env.session}-keep")
    assert (got["session_id"], got["messages_cleared"]) == (f"{env.session}-keep", 0)
    assert env.fc.get_session(f"{env.session}-keep", env.user)["message_count"] == 2


@formation
def clear_all_buffers(env: Env) -> Flow:
    env.chat("one")
    broken = yield fails(ServerError, "clear_all_buffers")  # docs/runtime.md: broken upstream
    assert (broken.status_code, broken.message) == (500, "MEMORY_BUFFER_CLEARED")


# Scheduler (default/scheduler.json) ------------------------------------------------------------------------


def _job(env: Env, message: str = "Daily digest") -> dict[str, Any]:
    job: dict[str, Any] = env.fc.create_scheduler_job("recurring", "0 9 * * *", message, env.user)
    return job


@formation
def get_scheduler_jobs(env: Env) -> Flow:
    job = _job(env)
    got = yield call("get_scheduler_jobs", env.user)  # filtered by the X-Muxi-User-ID header
    assert [j["id"] for j in got["jobs"]] == [job["id"]]


@formation
def get_scheduler_job(env: Env) -> Flow:
    job = _job(env)
    got = yield call("get_scheduler_job", job["id"])
    assert (got["id"], got["cron_expression"], got["user_id"], got["status"]) == (job["id"], "0 9 * * *",
                                                                                  env.user, "ACTIVE")
    yield fails(NotFoundError, "get_scheduler_job", f"job_missing{env.n}")


@formation
def create_scheduler_job(env: Env) -> Flow:
    got = yield call("create_scheduler_job", "one_time", "2030-01-01T09:00:00Z", "Say hi", env.user)
    assert (got["is_recurring"], got["original_prompt"], got["user_id"], got["status"]) == (
        False, "Say hi", env.user, "ACTIVE")
    assert [j["id"] for j in env.fc.get_scheduler_jobs(env.user)["jobs"]] == [got["id"]]
    bad_type = yield fails(ValidationError, "create_scheduler_job", "weekly", "x", "y", env.user)
    assert (bad_type.status_code, bad_type.code) == (400, "VALIDATION_ERROR")
    past = yield fails(ValidationError, "create_scheduler_job", "one_time", "2020-01-01T09:00:00Z", "y", env.user)
    assert (past.status_code, past.message) == (422, "Schedule datetime must be in the future")
    cron = yield fails(ValidationError, "create_scheduler_job", "recurring", "not a cron", "y", env.user)
    assert (cron.status_code, cron.message) == (422, "Invalid cron expression for recurring job")


@formation
def update_scheduler_job(env: Env) -> Flow:
    job = _job(env)
    got = yield call("update_scheduler_job", job["id"], message="Weekly digest", schedule="0 9 * * 1")
    # The runtime replaces a recurring job: a new id, owned by "0", the old one gone.
    assert (got["original_prompt"], got["cron_expression"], got["user_id"]) == ("Weekly digest", "0 9 * * 1", "0")
    assert got["id"] != job["id"] and got["title"] == "Updated: Daily digest"
    yield fails(NotFoundError, "get_scheduler_job", job["id"])


@formation
def delete_scheduler_job(env: Env) -> Flow:
    job = _job(env)
    assert (yield call("delete_scheduler_job", job["id"])) is None
    assert env.fc.get_scheduler_jobs(env.user)["count"] == 0
    yield fails(NotFoundError, "delete_scheduler_job", job["id"])


@formation
def pause_scheduler_job(env: Env) -> Flow:
    job = _job(env)
    got = yield call("pause_scheduler_job", job["id"])
    assert got["status"] == "PAUSED" and env.fc.get_scheduler_job(job["id"])["status"] == "PAUSED"
    yield fails(NotFoundError, "pause_scheduler_job", job["id"])  # not ACTIVE any more


@formation
def resume_scheduler_job(env: Env) -> Flow:
    job = _job(env)
    env.fc.pause_scheduler_job(job["id"])
    got = yield call("resume_scheduler_job", job["id"])
    assert got["status"] == "ACTIVE" and env.fc.get_scheduler_job(job["id"])["status"] == "ACTIVE"


# Triggers and SOPs (default/triggers.json, default/sops.json) ------------------------------------------------


@formation
def get_triggers(env: Env) -> Flow:
    env.server.add_trigger(f"order-{env.n}", description="New order")
    got = yield call("get_triggers")  # names, not objects
    assert f"order-{env.n}" in got["triggers"] and "echo" in got["triggers"]
    assert got["count"] == len(got["triggers"]) and got["formation_id"] == env.server.formation_id


@formation
def get_trigger(env: Env) -> Flow:
    env.server.add_trigger(f"order-{env.n}", "http://127.0.0.1:9/hook")
    got = yield call("get_trigger", f"order-{env.n}")
    assert (got["name"], got["data_fields"]) == (f"order-{env.n}", ["message"])
    assert 'webhook: "http://127.0.0.1:9/hook"' in got["content"]
    missing = yield fails(NotFoundError, "get_trigger", f"missing-{env.n}")
    assert missing.code == "TRIGGER_NOT_FOUND"


@formation
def fire_trigger(env: Env) -> Flow:
    got = yield call("fire_trigger", "echo", {"message": f"now {env.n}"}, user_id=env.user, session_id=env.session)
    assert (got["status"], got["content"]) == ("completed", f"now {env.n}")
    assert env.fc.get_session(env.session, env.user)["message_count"] == 2  # the body's session_id was used
    later = yield call("fire_trigger", "echo", {"message": "later"}, async_mode=True, user_id=env.user)
    assert later["status"] == "processing"
    request_id = later["request_id"]  # the firing request's id: the tracker's, and the webhook's id
    done = yield Wait(lambda: env.fc.get_request_status(request_id, env.user)["status"] == "completed")
    assert done
    missing = yield fails(NotFoundError, "fire_trigger", f"missing-{env.n}", {})
    assert missing.code == "RESOURCE_NOT_FOUND"


@formation
def get_sops(env: Env) -> Flow:
    got = yield call("get_sops")
    assert got["sops"] == [{"name": "customer-support", "title": "customer-support", "type": "template",
                            "steps": 3, "agents_used": None}] and got["count"] == 1


@formation
def get_sop(env: Env) -> Flow:
    got = yield call("get_sop", "customer-support")
    assert (got["steps"], got["metadata"]) == (3, {}) and got["content"].startswith("# Customer support")
    missing = yield fails(NotFoundError, "get_sop", "unknown")
    assert missing.code == "SOP_NOT_FOUND"


# Credentials (default/credentials.json: creating one fails inside the runtime) ------------------------------

GITHUB = {"service": "github", "name": "work", "credential": {"token": "ghp_example_token_value"}}


@formation
def list_credential_services(env: Env) -> Flow:
    got = yield call("list_credential_services")
    assert (got["services"], got["count"]) == ([], 0)


@formation
def list_credentials(env: Env) -> Flow:
    got = yield call("list_credentials", env.user)
    assert (got["credentials"], got["count"]) == ([], 0)


@formation
def create_credential(env: Env) -> Flow:
    broken = yield fails(ServerError, "create_credential", env.user, GITHUB)
    assert "EncryptedCredentialResolver" in broken.message
    yield fails(ValidationError, "create_credential", env.user, {"service": "github"})


@formation
def get_credential(env: Env) -> Flow:
    missing = yield fails(NotFoundError, "get_credential", f"cred_{env.n}", env.user)
    assert missing.message == f"Credential not found: cred_{env.n}"


@formation
def delete_credential(env: Env) -> Flow:
    missing = yield fails(NotFoundError, "delete_credential", f"cred_{env.n}", env.user)
    assert missing.code == "RESOURCE_NOT_FOUND"


# Users (client key; default/users.json) ------------------------------------------------------------------------


def _resolved(env: Env) -> str:
    muxi_user_id: str = env.fc.resolve_user(f"u{env.n}@example.com", identifier_type="email")["muxi_user_id"]
    return muxi_user_id


@formation
def resolve_user(env: Env) -> Flow:
    first = yield call("resolve_user", f"u{env.n}@example.com", True, identifier_type="email")
    assert first["identifier"] == f"u{env.n}@example.com" and isinstance(first["internal_user_id"], int)
    again = yield call("resolve_user", f"u{env.n}@example.com")
    assert again["muxi_user_id"] == first["muxi_user_id"]


@formation
def get_user_identifiers_for_user(env: Env) -> Flow:
    muxi_user_id = _resolved(env)
    got = yield call("get_user_identifiers_for_user", muxi_user_id)
    assert [(i["identifier"], i["type"]) for i in got["identifiers"]] == [(f"u{env.n}@example.com", "email")]
    unknown = yield fails(NotFoundError, "get_user_identifiers_for_user", f"nobody-{env.n}")
    assert unknown.message == f"User not found: 'nobody-{env.n}'"


@formation
def link_user_identifier(env: Env) -> Flow:
    muxi_user_id = _resolved(env)
    got = yield call("link_user_identifier", muxi_user_id, [f"h{env.n}", {"identifier": f"+3361234{env.n}",
                                                                         "type": "phone"}])
    assert [(i["identifier"], i["type"]) for i in got["identifiers"]] == [(f"h{env.n}", "unknown"),
                                                                          (f"+3361234{env.n}", "phone")]
    assert env.fc.resolve_user(f"+3361234{env.n}")["muxi_user_id"] == muxi_user_id
    yield fails(NotFoundError, "link_user_identifier", f"nobody-{env.n}", ["x"])


@formation
def unlink_user_identifier(env: Env) -> Flow:
    muxi_user_id = _resolved(env)
    env.fc.link_user_identifier(muxi_user_id, [f"h{env.n}"])
    assert (yield call("unlink_user_identifier", f"h{env.n}")) is None
    assert env.fc.get_user_identifiers_for_user(muxi_user_id)["count"] == 1  # the email is left
    yield fails(NotFoundError, "unlink_user_identifier", f"h{env.n}")


# Audit (default/audit.json: the log records its own clearing) --------------------------------------------------


@formation
def get_audit_log(env: Env) -> Flow:
    got = yield call("get_audit_log", limit=1)
    assert got["limit"] == 1 and got["total_entries"] == len(got["entries"]) <= 1
    bad = yield fails(ValidationError, "get_audit_log", limit=0)
    assert bad.status_code == 422


@formation
def clear_audit_log(env: Env) -> Flow:
    assert (yield call("clear_audit_log")) is None
    entries = env.fc.get_audit_log()["entries"]
    assert [(e["action"], e["resource_type"], e["user"]) for e in entries] == [("audit.cleared", "audit_log",
                                                                                 "admin")]


# Streams that never end by themselves: they open, and nothing arrives (default/streams.json) -----------------


@formation
def stream_events(env: Env) -> Flow:
    assert (yield read("stream_events", env.user, limit=0)) == []
    assert (yield read("stream_events", env.user, session_id=f"{env.session}-b", limit=0)) == []


@formation
def stream_logs(env: Env) -> Flow:
    assert (yield read("stream_logs", {"user_id": env.user}, limit=0)) == []
    unfiltered = yield fails_reading(ValidationError, "stream_logs")  # the runtime wants a filter
    assert unfiltered.status_code == 400


@formation
def stream_request(env: Env) -> Flow:
    env.chat("follow me")
    request_id = _tracked(env)[-1]
    broken = yield fails_reading(ServerError, "stream_request", env.user, env.session, request_id)
    # Broken upstream (the runtime answers 500), reproduced by the local server: a typed error, not a hang.
    assert (broken.status_code, broken.code) == (500, "INTERNAL_ERROR")


# Operations the official SDK has no method for (docs/api-coverage.md); recorded in default/agents.json,
# memory.json, memory_admin.json, users.json, tuning.json, artifacts.json, secrets.json ----------------------

NO_SOURCES = "Agent 'assistant' has no remote knowledge sources"
NO_DISTILLERY = "Memory distillery is not enabled for this formation (memory.distillery.enabled)"
NO_PROACTIVE = "Proactive notifications are not configured for this formation (missing 'proactive' block)"
NO_EMBEDDER = "Repo has no ONNX weights"  # the runtime's default local embedding model, missing offline


@formation
def sync_agent_knowledge(env: Env) -> Flow:
    none = yield fails(ValidationError, "sync_agent_knowledge", "assistant", source_id="docs")
    assert (none.status_code, none.code, none.message) == (400, "INVALID_REQUEST", NO_SOURCES)
    missing = yield fails(NotFoundError, "sync_agent_knowledge", f"nobody-{env.n}")
    assert missing.code == "AGENT_NOT_FOUND"


@formation
def rebuild_knowledge(env: Env) -> Flow:
    every = yield call("rebuild_knowledge")
    assert sorted(every["agents"]) == ["assistant", "muxi-generalist"] and every["source_id"] is None
    one = yield call("rebuild_knowledge", agent_id="assistant", source_id="docs")
    assert one["agents"] == {"assistant": {"rebuilt": [], "failed": [], "skipped": []}} and one["source_id"] == "docs"
    yield fails(NotFoundError, "rebuild_knowledge", agent_id=f"nobody-{env.n}")


@formation
def get_skills(env: Env) -> Flow:
    broken = yield fails(ServerError, "get_skills")  # docs/runtime.md: broken upstream
    assert (broken.status_code, broken.code) == (500, "INTERNAL_ERROR") and "create_success_response" in broken.message


@formation
def get_skill(env: Env) -> Flow:
    broken = yield fails(ServerError, "get_skill", "pdf")
    assert broken.status_code == 500 and "unexpected keyword argument 'status_code'" in broken.message


@formation
def get_agent_skills(env: Env) -> Flow:
    broken = yield fails(ServerError, "get_agent_skills", "assistant")
    assert broken.status_code == 500 and "create_success_response" in broken.message


@formation
def reload_secrets(env: Env) -> Flow:
    env.fc.create_secret(_key(env), "value-123456789")
    got = yield call("reload_secrets")
    assert got["message"] == "Secrets reloaded successfully using add-or-override merge semantics"
    assert (got["added"], got["overwritten"], got["preserved"]) == ([], [], [])
    assert got["count"] == env.fc.get_secrets()["count"]


@formation
def get_all_buffers(env: Env) -> Flow:
    env.chat("fill the buffer")
    got = yield call("get_all_buffers")
    assert got["buffers"][0]["total_entries"] == env.fc.get_buffer_stats()["total_entries"] >= 2


@formation
def ingest_memories(env: Env) -> Flow:
    got = yield call("ingest_memories", env.user, [{"content": "Plays the cello", "source": "crm",
                                                    "source_id": f"c-{env.n}"}, {"content": "no source"}])
    assert [i["status"] for i in got["items"]] == ["accepted", "invalid"]
    assert got["counts"] == {"accepted": 1, "duplicate": 0, "invalid": 1}
    assert got["status_url"] == f"/v1/memories/ingestion/{got['processing_id']}"
    empty = yield fails(ValidationError, "ingest_memories", env.user, [])
    assert (empty.status_code, empty.message) == (422, "'items' must contain at least one item")


@formation
def get_memory_ingestion_status(env: Env) -> Flow:
    accepted = env.fc.ingest_memories(env.user, [{"content": "Likes tea", "source": "crm", "source_id": f"t{env.n}"}])
    got = yield call("get_memory_ingestion_status", accepted["processing_id"], env.user)
    assert (got["status"], got["counts"]) == ("completed", {"stored": 1, "filtered": 0, "failed": 0})
    assert [(i["source"], i["source_id"], i["disposition"]) for i in got["items"]] == [("crm", f"t{env.n}", "stored")]
    missing = yield fails(NotFoundError, "get_memory_ingestion_status", f"ing_missing{env.n}", env.user)
    assert "completed results are retained for 5 minutes" in missing.message


@formation
def get_memory_provenance(env: Env) -> Flow:
    neither = yield fails(ValidationError, "get_memory_provenance", env.user)
    assert neither.message == "Provide 'entity' (a knowledge graph entity name) or 'event_id'"
    entity = yield fails(NotFoundError, "get_memory_provenance", env.user, entity="mango")
    assert entity.message == "Unknown entity 'mango'"


@formation
def ingest_distilled_memories(env: Env) -> Flow:
    off = yield fails(ServerError, "ingest_distilled_memories", b'{"batch_id":"b"}', distillery_id="d",
                      signature="c2ln", timestamp=1)
    assert (off.status_code, off.code, off.message) == (503, "SERVICE_UNAVAILABLE", NO_DISTILLERY)


@formation
def get_distilled_status(env: Env) -> Flow:
    off = yield fails(ServerError, "get_distilled_status", f"dst_{env.n}")
    assert (off.status_code, off.message) == (503, NO_DISTILLERY)


@formation
def get_history(env: Env) -> Flow:
    got = yield call("get_history", env.user, limit=2, include_sources=True, date_from="2020-01-01")
    assert (got["entries"], got["count"]) == ([], 0)
    bad = yield fails(ValidationError, "get_history", env.user, limit=0)
    assert bad.status_code == 422


@formation
def rebuild_memory(env: Env) -> Flow:
    dry = yield call("rebuild_memory", env.user, dry_run=True)
    assert dry["dry_run"] is True and sorted(dry["projections"]) == ["artifact_metadata", "captains_log",
                                                                      "flat_facts", "knowledge_graph"]
    job = yield call("rebuild_memory", env.user)  # in the background: HTTP 202 and a job
    assert (job["status"], job["status_url"]) == ("processing", f"/memory/rebuild/{job['job_id']}")
    inline = yield fails(ServerError, "rebuild_memory", env.user, background=False)
    assert inline.status_code == 500 and NO_EMBEDDER in inline.message


@formation
def get_memory_rebuild_status(env: Env) -> Flow:
    job = env.fc.rebuild_memory(env.user)
    got = yield call("get_memory_rebuild_status", job["job_id"])
    assert (got["job_id"], got["status"]) == (job["job_id"], "failed") and NO_EMBEDDER in got["error"]
    yield fails(NotFoundError, "get_memory_rebuild_status", f"job_missing{env.n}")


@formation
def lint_memory(env: Env) -> Flow:
    off = yield fails(ServerError, "lint_memory", user_id=env.user)
    assert (off.status_code, off.message) == (503, "Memory lint is not configured (declare a 'memory.lint' block)")


@formation
def backfill_memory(env: Env) -> Flow:
    broken = yield fails(ServerError, "backfill_memory", env.user)
    assert broken.status_code == 500 and broken.message.startswith("Failed to backfill memory events: ")


@formation
def forget_memory(env: Env) -> Flow:
    job = yield call("forget_memory", env.user, "gmail")
    assert (job["source"], job["deleted_events"], job["status"]) == ("gmail", 0, "processing")
    kept = yield call("forget_memory", env.user, "gmail", rebuild=False)
    assert kept["rebuild_required"] == ["artifact_metadata", "captains_log", "flat_facts", "knowledge_graph"]
    waited = yield fails(ServerError, "forget_memory", env.user, "gmail", sync=True)
    assert waited.message.startswith("Failed to forget memory source: ")


@formation
def get_memory_forget_status(env: Env) -> Flow:
    job = env.fc.forget_memory(env.user, "gmail")
    got = yield call("get_memory_forget_status", job["job_id"])
    assert got["status"] == "failed" and NO_EMBEDDER in got["error"]
    yield fails(NotFoundError, "get_memory_forget_status", f"job_missing{env.n}")


@formation
def get_distilleries(env: Env) -> Flow:
    off = yield fails(ServerError, "get_distilleries")
    assert (off.status_code, off.message) == (503, NO_DISTILLERY)


@formation
def register_distillery(env: Env) -> Flow:
    off = yield fails(ServerError, "register_distillery", f"d{env.n}", "not-a-key", trust_level="low")
    assert off.status_code == 503


@formation
def revoke_distillery(env: Env) -> Flow:
    off = yield fails(ServerError, "revoke_distillery", f"dist_{env.n}")
    assert off.status_code == 503


@formation
def get_user(env: Env) -> Flow:
    muxi_user_id = _resolved(env)
    got = yield call("get_user", f"u{env.n}@example.com")
    assert (got["muxi_user_id"], got["identifier"]) == (muxi_user_id, f"u{env.n}@example.com")
    unknown = yield fails(NotFoundError, "get_user", f"nobody-{env.n}")
    assert unknown.message == f"Identifier not found: 'nobody-{env.n}'"


@formation
def get_user_channels(env: Env) -> Flow:
    off = yield fails(ServerError, "get_user_channels", _resolved(env))
    assert (off.status_code, off.message) == (503, NO_PROACTIVE)


@formation
def update_user_channels(env: Env) -> Flow:
    off = yield fails(ServerError, "update_user_channels", _resolved(env), preferred_channel="email",
                      channels={"email": {"address": "a@example.com"}}, timezone="UTC")
    assert (off.status_code, off.message) == (503, NO_PROACTIVE)


@formation
def send_notification(env: Env) -> Flow:
    off = yield fails(ServerError, "send_notification", _resolved(env), "Your report is ready", channels=["email"])
    assert (off.status_code, off.message) == (503, NO_PROACTIVE)


@formation
def get_artifacts(env: Env) -> Flow:
    got = yield call("get_artifacts", env.user, 5)
    assert (got["artifacts"], got["count"], got["total"]) == ([], 0, 0)


@formation
def get_artifact(env: Env) -> Flow:
    missing = yield fails(NotFoundError, "get_artifact", f"art_{env.n}", env.user)
    assert (missing.code, missing.message) == ("NOT_FOUND", f"Artifact 'art_{env.n}' not found")


@formation
def get_artifact_content(env: Env) -> Flow:
    missing = yield fails(NotFoundError, "get_artifact_content", f"art_{env.n}", env.user, version=2)
    assert missing.message == f"Artifact 'art_{env.n}' not found"


@formation
def get_artifact_versions(env: Env) -> Flow:
    yield fails(NotFoundError, "get_artifact_versions", f"art_{env.n}", env.user)


@formation
def get_tuning(env: Env) -> Flow:
    env.fc.update_tuning(f"# Tuning {env.n}\n\nBe brief.\n")
    got = yield call("get_tuning")
    assert got["content"] == f"# Tuning {env.n}\n\nBe brief." and got["path"].endswith("MUXI.md")


@formation
def update_tuning(env: Env) -> Flow:
    text = f"# Tuning {env.n}\n"
    got = yield call("update_tuning", text)
    assert got["bytes"] == len(text.encode()) and got["path"].endswith("MUXI.md")
    assert env.fc.get_tuning()["content"] == text.strip()


@formation
def get_pending_tuning(env: Env) -> Flow:
    got = yield call("get_pending_tuning")
    assert got["content"] is None and got["path"].endswith("PENDING-MUXI.md")


@formation
def apply_pending_tuning(env: Env) -> Flow:
    none = yield fails(NotFoundError, "apply_pending_tuning")
    assert (none.code, none.message) == ("TUNING_NO_PENDING", "No pending MUXI.md suggestion to apply")


@formation
def dismiss_pending_tuning(env: Env) -> Flow:
    none = yield fails(NotFoundError, "dismiss_pending_tuning")
    assert (none.code, none.message) == ("TUNING_NO_PENDING", "No pending MUXI.md suggestion to dismiss")


@formation
def run_tuning(env: Env) -> Flow:
    got = yield call("run_tuning")
    assert (got["trigger"], got["spool_committed"]) == ("manual", False)
    assert got["benchmark_skipped"] == "bench harness not configured ($MUXI_BENCH_ROOT)"


# Helpers (several calls, or one with a check) ------------------------------------------------------------------


@formation
def wait_for_request(env: Env) -> Flow:
    fired = env.fc.fire_trigger("echo", {"message": f"later {env.n}"}, async_mode=True, user_id=env.user)
    done = yield call("wait_for_request", fired["request_id"], env.user, timeout=20, interval=0.02)
    assert (done["request_id"], done["status"], done["result"]) == (fired["request_id"], "completed",
                                                                    f"later {env.n}")


@formation
def get_all_session_messages(env: Env) -> Flow:
    for n in range(3):
        env.chat(f"message {n}")
    every = yield call("get_all_session_messages", env.session, env.user)
    assert [m["text"] for m in every["messages"]][::2] == [f"message {n}" for n in range(3)]
    assert (every["count"], every["has_more"]) == (6, False)
    too_many = yield fails(LimitExceededError, "get_all_session_messages", env.session, env.user, max_messages=5)
    assert too_many.details == {"session_id": env.session, "limit": 5, "received": 5}


# --- the tests -------------------------------------------------------------------------------------------------


def _endpoints(api: type) -> set[str]:
    return {name for name, value in vars(api).items() if isinstance(value, Endpoint | StreamEndpoint)}


def test_every_endpoint_has_a_scenario() -> None:
    expected = {f"server.{n}" for n in _endpoints(ServerAPI)} | {f"formation.{n}" for n in _endpoints(FormationAPI)}
    expected |= {f"formation.{n}" for n in FormationAPI.helpers}  # wait_for_request, get_all_session_messages
    assert len(expected) > 90
    assert set(SCENARIOS) - expected == set(), "scenarios for methods that do not exist"
    assert expected - set(SCENARIOS) == set(), "endpoints without a scenario: add one above"


@dataclass(frozen=True)
class Case:
    """A client flavour: blocking over httpcore, or async over one transport on one loop."""

    backend: str
    transport: str

    @property
    def sync(self) -> bool:
        return self.transport == "sync-httpcore"

    def __str__(self) -> str:
        return self.transport if self.sync else f"{self.backend}-{self.transport}"


CASES = [Case("asyncio", "sync-httpcore"), *(Case(c.backend, c.name) for c in ASYNC_CASES)]


@pytest.fixture(scope="module")
def module_server() -> Iterator[LocalMuxiServer]:
    with LocalMuxiServer(webhook_retry_delays=(0.01, 0.01, 0.01)) as srv:
        yield srv
        assert srv.errors == []


@pytest.fixture(scope="module")
def helpers(module_server: LocalMuxiServer) -> Iterator[tuple[ServerClient, FormationClient]]:
    with ServerClient(module_server.server_config()) as ctl, \
            FormationClient(module_server.formation_config()) as fc:
        yield ctl, fc


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Formation sources for the whole module (names are unique per test, see Env)."""
    return tmp_path_factory.mktemp("sources")


@pytest.fixture(scope="module")
def tls() -> ssl.SSLContext:
    """One SSL context for every transport here: loading the system CAs costs ~20 ms per context, and
    the server speaks plain HTTP anyway (TLS has its own tests)."""
    return ssl.create_default_context()


@pytest.fixture(params=CASES, ids=str)
def case(request: pytest.FixtureRequest) -> Case:
    result: Case = request.param
    return result


@pytest.fixture
def anyio_backend(case: Case) -> str:
    """Each client flavour on its loop (the blocking one runs in a worker thread of an asyncio loop)."""
    return case.backend


def _config(plane: str, server: LocalMuxiServer) -> Any:
    return server.server_config() if plane == "server" else server.formation_config()


@pytest.mark.anyio
@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_method(
    name: str, case: Case, module_server: LocalMuxiServer, helpers: tuple[ServerClient, FormationClient],
    module_tmp: Path, tls: ssl.SSLContext,
) -> None:
    plane, method = name.split(".", 1)
    env = Env(module_server, helpers[0], helpers[1], module_tmp)
    flow = SCENARIOS[name](env)
    if case.sync:
        with HTTPCoreTransport(verify=tls) as blocking:
            sync_type = ServerClient if plane == "server" else FormationClient
            clients = Clients(plane, lambda srv: sync_type(_config(plane, srv), transport=blocking))
            called = await anyio.to_thread.run_sync(drive_sync, flow, clients, module_server)
    else:
        transport = TransportCase(case.backend, case.transport).make(verify=tls)
        async_type = AsyncServerClient if plane == "server" else AsyncFormationClient
        clients = Clients(plane, lambda srv: async_type(_config(plane, srv), transport=transport))
        try:
            called = await drive_async(flow, clients, module_server)
        finally:
            await transport.aclose()
    assert method in called, f"the scenario for {name} never calls {method}"
    assert module_server.errors == []
