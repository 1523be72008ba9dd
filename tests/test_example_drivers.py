"""The example drivers of ``examples/drivers/`` and the README's, through one scenario suite.

Each driver was written from docs/drivers.md alone; here every one of them (the README's
``http.client`` driver too, extracted from README.md) runs the same scenarios against the local
server: a signed server call, formation calls, a chat streamed token by token, events that
arrive one by one, retries on injected 503s with ``Retry-After``, POSTs that must not be
replayed, a stream cut mid-way, 404s, and the driver duties of docs/drivers.md §3-§7
(keep-alive, timeouts by phase, connect failures, TLS verification).

A :class:`Harness` adapts a driver to the suite: ``call`` returns a result or raises the typed
error, ``stream`` hands each event to a callback as the driver delivers it (False stops the
stream early), and ``sleeps`` records every ``Sleep`` the driver carried out (the waits are
real: the server's arrival times show them).
"""

from __future__ import annotations

import contextlib
import importlib.util
import re
import selectors
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
import trustme

from muxi_proto import (
    CallMachine,
    CallState,
    ChatAnswer,
    FormationAPI,
    FormationConfig,
    RetryPolicy,
    ServerAPI,
    ServerConfig,
    ServerSentEvent,
    Timeout,
    errors,
)
from muxi_testing import LocalMuxiServer
from muxi_testing.runtime.secrets import mask_secret

ROOT = Path(__file__).resolve().parent.parent
DRIVERS = ROOT / "examples" / "drivers"
DEADLINE = 10.0  # seconds: only there so a driver that hangs fails instead of blocking the suite
CHAT = "/api/demo-formation/v1/chat"
SECRETS = "/api/demo-formation/v1/secrets"
AGENTS = "/api/demo-formation/v1/agents"
STATUS = "/rpc/server/status"


def _load(name: str) -> ModuleType:
    """An example driver, imported from its file the way ``python examples/drivers/x.py`` runs it."""
    spec = importlib.util.spec_from_file_location(f"example_drivers_{name}", DRIVERS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


blocking_h11 = _load("blocking_h11")
selectors_loop = _load("selectors_loop")
twisted_driver = _load("twisted_driver")


def readme_run(sleep: Callable[[float], None]) -> Callable[[CallMachine[Any]], Any]:
    """The README's ``run`` function, from its "Bring your own I/O" block, as a reader pastes it."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    code = next(m.group(1) for m in re.finditer(r"^```python\n(.*?)^```$", text, re.MULTILINE | re.DOTALL)
                if "\ndef run(machine):" in m.group(1))
    lines = code.splitlines()
    start = lines.index("def run(machine):")
    end = next(i for i in range(start + 1, len(lines)) if lines[i] and not lines[i][0].isspace())
    namespace: dict[str, Any] = {"__name__": "readme_driver"}
    exec(compile("\n".join(lines[:end]), "README.md (Bring your own I/O)", "exec"), namespace)
    namespace["time"] = SimpleNamespace(sleep=sleep)  # its waits, recorded (and still waited)
    run: Callable[[CallMachine[Any]], Any] = namespace["run"]
    return run


# --- the harnesses -------------------------------------------------------------------------------------


class Harness:
    """A driver seen through the suite: calls, streams, and the sleeps it carried out."""

    name = ""
    pools = True  # keeps connections alive between calls
    tls = True  # speaks https (with a given trust store)
    total = True  # enforces Timeout.total
    # Twisted's Agent reads bodies on its own and pools a connection whose response it read to its
    # end: whether a stream's or a retried answer's connection is reused is its decision there.
    agent_pools = False
    tls_failure_phase = "connect"

    def __init__(self, ca: trustme.CA) -> None:
        self.sleeps: list[float] = []
        self.ca = ca

    def record(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def call(self, machine: CallMachine[Any]) -> Any:
        raise NotImplementedError

    def stream(self, machine: CallMachine[Any], on_event: Callable[[Any], bool]) -> None:
        """Feed each event to ``on_event`` as it arrives; stop early when it returns False."""
        raise NotImplementedError

    def drop_idle(self) -> None:
        """Close the idle keep-alive connections."""

    def close(self) -> None:
        self.drop_idle()


class IteratorHarness(Harness):
    """Blocking drivers: ``run`` returns the result, or an iterator of a stream's events."""

    run: Callable[[CallMachine[Any]], Any]

    def call(self, machine: CallMachine[Any]) -> Any:
        return self.run(machine)

    def stream(self, machine: CallMachine[Any], on_event: Callable[[Any], bool]) -> None:
        events = self.run(machine)
        with contextlib.closing(events):
            for event in events:
                if on_event(event) is False:
                    break


class ReadmeHarness(IteratorHarness):
    name = "readme"
    pools = tls = total = False  # one connection per attempt, plain http, no total deadline

    def __init__(self, ca: trustme.CA) -> None:
        super().__init__(ca)

        def sleep(seconds: float) -> None:
            self.record(seconds)
            time.sleep(seconds)

        self.run = readme_run(sleep)


class BlockingHarness(IteratorHarness):
    name = "blocking_h11"

    def __init__(self, ca: trustme.CA) -> None:
        super().__init__(ca)
        context = ssl.create_default_context()
        ca.configure_trust(context)

        def sleep(seconds: float) -> None:
            self.record(seconds)
            time.sleep(seconds)

        self.driver = blocking_h11.BlockingDriver(ssl_context=context, sleep=sleep)
        self.run = self.driver.run

    def drop_idle(self) -> None:
        self.driver.close()


class SelectorsHarness(Harness):
    name = "selectors_loop"

    def __init__(self, ca: trustme.CA) -> None:
        super().__init__(ca)
        context = ssl.create_default_context()
        ca.configure_trust(context)
        harness = self

        class Recording(selectors_loop.SelectorsDriver):  # type: ignore[misc, name-defined]
            def sleep(self, seconds: float, then: Callable[[], object]) -> Any:
                harness.record(seconds)
                return super().sleep(seconds, then)

        self.loop = selectors_loop.EventLoop()
        self.driver = Recording(self.loop, ssl_context=context)

    def _run(self, machine: CallMachine[Any], on_event: Callable[[Any], bool] | None = None) -> Any:
        outcome: dict[str, Any] = {}
        call: Any = None

        def event(evt: Any) -> None:
            assert on_event is not None
            if on_event(evt) is False:
                call.close()
                outcome["closed"] = True

        call = self.driver.call(machine, on_result=lambda r: outcome.setdefault("result", r),
                                on_error=lambda e: outcome.setdefault("error", e),
                                on_event=event if on_event is not None else None)
        self.loop.run(lambda: bool(outcome), timeout=DEADLINE)
        if "error" in outcome:
            raise outcome["error"]
        return outcome.get("result")

    def call(self, machine: CallMachine[Any]) -> Any:
        return self._run(machine)

    def stream(self, machine: CallMachine[Any], on_event: Callable[[Any], bool]) -> None:
        self._run(machine, on_event)

    def drop_idle(self) -> None:
        self.driver.close()

    def close(self) -> None:
        self.driver.close()
        self.loop.close()


class TwistedHarness(Harness):
    name = "twisted"
    agent_pools = True
    tls_failure_phase = "read"  # the Agent reports TLS failures after its TCP connect (see the driver)

    def __init__(self, ca: trustme.CA, reactor: Any) -> None:
        super().__init__(ca)
        from twisted.internet.ssl import Certificate
        from twisted.web.client import BrowserLikePolicyForHTTPS

        self.reactor = reactor
        harness = self

        class Recording(twisted_driver.TwistedDriver):  # type: ignore[misc, name-defined]
            def sleep(self, seconds: float) -> Any:
                harness.record(seconds)
                return super().sleep(seconds)

        policy = BrowserLikePolicyForHTTPS(  # type: ignore[no-untyped-call]
            trustRoot=Certificate.loadPEM(ca.cert_pem.bytes()))
        self.driver = Recording(reactor, tls_policy=policy)

    def _blocking(self, start: Callable[[], Any]) -> Any:
        from twisted.internet.threads import blockingCallFromThread

        def started() -> Any:
            return start().addTimeout(DEADLINE, self.reactor)

        return blockingCallFromThread(self.reactor, started)

    def call(self, machine: CallMachine[Any]) -> Any:
        return self._blocking(lambda: self.driver.run(machine))

    def stream(self, machine: CallMachine[Any], on_event: Callable[[Any], bool]) -> None:
        from twisted.internet.defer import CancelledError

        def start() -> Any:
            closed: list[bool] = []

            def event(evt: Any) -> None:  # in the reactor thread, as each event arrives
                if on_event(evt) is False and not closed:
                    closed.append(True)
                    running.cancel()  # closes the stream early

            running = self.driver.run(machine, on_event=event)
            return running.addErrback(lambda f: None if closed and f.check(CancelledError) else f)

        self._blocking(start)

    def drop_idle(self) -> None:
        from twisted.internet.threads import blockingCallFromThread

        blockingCallFromThread(self.reactor, self.driver.close)


@pytest.fixture(scope="session")
def reactor() -> Iterator[Any]:
    """Twisted's reactor in a daemon thread (it runs once per process), stopped at the end."""
    from twisted.internet import reactor

    twisted_reactor: Any = reactor
    thread = threading.Thread(target=twisted_reactor.run, kwargs={"installSignalHandlers": False},
                              name="twisted-reactor", daemon=True)
    thread.start()
    yield twisted_reactor
    twisted_reactor.callFromThread(twisted_reactor.stop)
    thread.join(DEADLINE)


@pytest.fixture
def local() -> Iterator[LocalMuxiServer]:
    """A fresh local server per test (it starts in milliseconds): counts start at zero."""
    with LocalMuxiServer() as server:
        yield server
        assert server.errors == []


HARNESSES = ["readme", "blocking_h11", "selectors_loop", "twisted"]


@pytest.fixture(params=HARNESSES)
def driver(request: pytest.FixtureRequest, ca: trustme.CA) -> Iterator[Harness]:
    name = request.param
    harness: Harness
    if name == "readme":
        harness = ReadmeHarness(ca)
    elif name == "blocking_h11":
        harness = BlockingHarness(ca)
    elif name == "selectors_loop":
        harness = SelectorsHarness(ca)
    else:
        harness = TwistedHarness(ca, request.getfixturevalue("reactor"))
    yield harness
    harness.close()


def formation(local: LocalMuxiServer, **overrides: Any) -> FormationAPI:
    return FormationAPI(local.formation_config(**overrides))


def server_api(local: LocalMuxiServer, **overrides: Any) -> ServerAPI:
    return ServerAPI(local.server_config(**overrides))


def collect(driver: Harness, machine: CallMachine[Any]) -> tuple[list[Any], BaseException | None]:
    """A stream's events as delivered, and the error that ended it (None: it ended cleanly)."""
    events: list[Any] = []

    def keep(evt: Any) -> bool:
        events.append(evt)
        return True

    try:
        driver.stream(machine, keep)
    except errors.MuxiError as exc:
        return events, exc
    return events, None


# --- the scenarios -----------------------------------------------------------------------------------------


def test_signed_server_call(driver: Harness, local: LocalMuxiServer) -> None:
    status = driver.call(server_api(local).status())
    assert status["formations"]["running"] == 1 and status["server"]["version"]
    (seen,) = local.traffic.records(STATUS)
    assert seen.authorization is not None and seen.authorization.startswith(f"MUXI-HMAC key={local.key_id}, ")
    assert driver.sleeps == []


def test_formation_calls(driver: Harness, local: LocalMuxiServer) -> None:
    api = formation(local)
    agents = driver.call(api.get_agents())
    assert agents["count"] == 1 and len(agents["agents"]) == 1
    created = driver.call(api.create_secret("DRIVER_TOKEN", "v1"))
    assert "created" in created["message"]
    mask = mask_secret("v1")  # the runtime's mask (recorded), never the value itself
    assert driver.call(api.get_secret("DRIVER_TOKEN")) == {"key": "DRIVER_TOKEN", "value": mask}
    # set_secret on a new key: the update answers 404, and end() hands the driver the fallback's Send
    assert driver.call(api.set_secret("DRIVER_OTHER", "v2")) is None
    update, create = local.traffic.records()[-2:]
    assert (update.method, update.path, create.method, create.path) == (
        "PUT", f"{SECRETS}/DRIVER_OTHER", "POST", SECRETS)
    assert update.idempotency_key != create.idempotency_key  # a new logical request
    assert driver.call(api.get_secrets())["secrets"] == {"DRIVER_TOKEN": mask, "DRIVER_OTHER": mask_secret("v2")}


def test_chat_streamed_token_by_token(driver: Harness, local: LocalMuxiServer) -> None:
    answer = ChatAnswer()
    deltas: list[str] = []

    def on_event(evt: Any) -> bool:
        assert isinstance(evt, ServerSentEvent)
        deltas.append(answer.add(evt))
        return True

    events, error = collect(driver, formation(local).chat_stream({"message": "tokens one by one"}, user_id="u1"))
    assert error is None
    for evt in events:
        on_event(evt)
    assert [d for d in deltas if d] == ["tokens", " one", " by", " one"]  # each content token as its own event
    assert answer.text == "tokens one by one" and answer.completed is not None
    assert events[-1].event == "done" and sum(e.event == "done" for e in events) == 1
    assert local.traffic.count(CHAT) == 1
    if not driver.agent_pools:
        assert local.wait_until(lambda s: s.open_connections == 0)  # closed once the stream ended


def test_stream_events_arrive_one_by_one_and_close_early(driver: Harness, local: LocalMuxiServer) -> None:
    """A log-follow stream sends the next line only after the test saw the previous event.

    A driver that buffered the body, or delivered events in batches, never sees the second
    line (the watchdog then stops the server and the test fails instead of hanging).
    """
    seen: list[str] = []

    def on_event(evt: Any) -> bool:
        seen.append(evt.event if evt.event != "log" else evt.json()["line"])
        if len(seen) < 3:
            local.add_log_line(f"line {len(seen)}")  # the server sends it now, as its own event
        return len(seen) < 3  # then close the stream early

    watchdog = threading.Timer(DEADLINE, local.stop)
    watchdog.start()
    try:
        driver.stream(server_api(local).stream_formation_logs(local.formation_id, lines=0), on_event)
    finally:
        watchdog.cancel()
    assert seen == ["connected", "line 1", "line 2"]
    assert local.wait_until(lambda s: s.open_connections == 0)  # closing early closed the connection


def test_retries_wait_as_told_and_sign_each_attempt(driver: Harness, local: LocalMuxiServer) -> None:
    local.faults.fail_next(1, status=503, retry_after=1, path_prefix=STATUS)
    local.faults.fail_next(1, status=503, retry_after=0, path_prefix=STATUS)
    status = driver.call(server_api(local, max_retries=2).status())
    assert status["formations"]["running"] == 1
    assert driver.sleeps == [1.0, 0.0]  # what Retry-After said, each time
    first, second, third = local.traffic.records(STATUS)
    assert second.at - first.at >= 0.99  # really waited (the server clock; 10 ms for clock granularity)
    assert first.idempotency_key is not None
    assert first.idempotency_key == second.idempotency_key == third.idempotency_key
    stamps = [int(re.search(r"timestamp=(\d+)", r.authorization or "")[1]) for r in (first, second, third)]  # type: ignore[index]
    assert stamps[1] >= stamps[0] + 1 and stamps[2] >= stamps[1]  # signed after each wait, not replayed
    assert first.authorization != second.authorization


def test_post_answered_503_is_not_replayed(driver: Harness, local: LocalMuxiServer) -> None:
    local.faults.fail_next(1, status=503, retry_after=0, path_prefix=SECRETS)
    api = formation(local, max_retries=2)
    with pytest.raises(errors.ServerError) as info:
        driver.call(api.create_secret("NOT_TWICE", "v1"))
    assert info.value.status_code == 503
    assert local.traffic.count(SECRETS, method="POST") == 1 and driver.sleeps == []
    with pytest.raises(errors.NotFoundError):  # the injected 503 was not processed
        driver.call(api.get_secret("NOT_TWICE"))


@pytest.mark.parametrize(("when", "phase"), [("headers", "read"), ("mid_body", "body")])
def test_post_cut_is_not_replayed(driver: Harness, local: LocalMuxiServer, when: Any, phase: str) -> None:
    local.faults.drop_next(when=when, path_prefix=SECRETS)
    api = formation(local, max_retries=2)
    with pytest.raises(errors.ConnectionError) as info:  # ProtocolError when the parser saw the cut
        driver.call(api.create_secret("ONCE_ONLY", "v1"))
    assert info.value.details["phase"] in (phase, "read", "body")
    if driver.name != "readme":  # the README's driver calls every failure after connecting "read"
        assert info.value.details["phase"] == phase
    assert local.traffic.count(SECRETS, method="POST") == 1 and driver.sleeps == []
    assert driver.call(api.get_secret("ONCE_ONLY"))["key"] == "ONCE_ONLY"  # it ran, once


def test_stream_cut_midway(driver: Harness, local: LocalMuxiServer) -> None:
    local.faults.drop_next(when="mid_stream", path_prefix=CHAT)
    api = formation(local, max_retries=2)
    events, error = collect(driver, api.chat_stream({"message": "cut me off"}, user_id="u1"))
    assert len(events) == 1 and isinstance(events[0], ServerSentEvent)  # the event sent before the cut
    assert isinstance(error, (errors.ConnectionError, errors.StreamTruncatedError)), repr(error)
    assert error.details["phase"] == "body" or isinstance(error, errors.StreamTruncatedError)
    assert local.traffic.count(CHAT) == 1 and driver.sleeps == []  # never retried


def test_not_found(driver: Harness, local: LocalMuxiServer) -> None:
    with pytest.raises(errors.NotFoundError) as info:
        driver.call(formation(local).get_agent("no-such-agent"))
    assert info.value.status_code == 404
    with pytest.raises(errors.NotFoundError):
        driver.call(server_api(local).get_formation("no-such-formation"))
    events, error = collect(driver, server_api(local).stream_formation_logs("no-such-formation"))
    assert events == [] and isinstance(error, errors.NotFoundError)  # a stream call answered 404: read, typed


def test_body_limit(driver: Harness, local: LocalMuxiServer) -> None:
    api = FormationAPI(local.formation_config(), max_body=160)  # agents: ~280 bytes, health: ~70
    with pytest.raises(errors.LimitExceededError):
        driver.call(api.get_agents())
    assert driver.call(api.health())["status"] == "healthy"  # a short answer fits
    if driver.pools and not driver.agent_pools:
        assert local.connections_opened == 2  # the connection of the cut-short body was closed, not reused


# --- driver duties (docs/drivers.md §3-§7) -------------------------------------------------------------


def test_keep_alive_reuses_only_finished_exchanges(driver: Harness, local: LocalMuxiServer) -> None:
    if not driver.pools:
        pytest.skip(f"{driver.name} opens one connection per attempt")
    api = formation(local, max_retries=1)
    for _ in range(3):
        driver.call(api.get_agents())
    assert local.connections_opened == 1
    local.faults.fail_next(1, status=503, retry_after=0, path_prefix=AGENTS)
    driver.call(api.get_agents())  # the 503's connection is closed unread (Sleep), the retry opens one
    assert driver.sleeps == [0.0]
    assert collect(driver, api.chat_stream({"message": "hi"}, user_id="u1"))[1] is None
    driver.call(api.get_agents())
    if driver.agent_pools:
        assert local.connections_opened <= 3
        return
    assert local.connections_opened == 3  # the 503's and the stream's connections were closed
    assert local.wait_until(lambda s: s.open_connections == 1)


def test_read_timeout(driver: Harness, local: LocalMuxiServer) -> None:
    local.faults.latency(0.5, path_prefix=AGENTS)
    api = formation(local, timeout=Timeout(connect=5, read=0.1, write=5, pool=5))
    with pytest.raises(errors.TimeoutError) as info:
        driver.call(api.get_agents())
    assert info.value.details["phase"] == "read"


def test_total_deadline(driver: Harness, local: LocalMuxiServer, request: pytest.FixtureRequest) -> None:
    if not driver.total:
        request.applymarker(pytest.mark.xfail(strict=True, reason=(
            f"{driver.name} does not enforce Timeout.total (docs/drivers.md §5): a server that is slow to "
            "answer trips only the read timeout")))
    local.faults.latency(0.6, path_prefix=AGENTS)
    api = formation(local, timeout=Timeout.of(5, total=0.2))
    with pytest.raises(errors.TimeoutError) as info:
        driver.call(api.get_agents())
    assert info.value.details["phase"] == "total"


def test_connect_refused_is_retried_even_for_a_post(driver: Harness, local: LocalMuxiServer) -> None:
    with socket.socket() as closed:  # bound, never listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        api = FormationAPI(FormationConfig(url=f"http://127.0.0.1:{port}", admin_key=local.admin_key,
                                           client_key=local.client_key, max_retries=1),
                           retry_policy=RetryPolicy(initial_backoff=0.01, jitter=0))
        with pytest.raises(errors.ConnectionError) as info:
            driver.call(api.create_secret("NEVER_SENT", "v1"))
    assert type(info.value) is errors.ConnectionError and info.value.details["phase"] == "connect"
    assert driver.sleeps == [0.01]  # a refused connect proves the POST never left: safe to retry


def test_connect_timeout(driver: Harness, unreachable_port: int, local: LocalMuxiServer) -> None:
    api = FormationAPI(FormationConfig(url=f"http://127.0.0.1:{unreachable_port}", admin_key=local.admin_key,
                                       client_key=local.client_key, timeout=Timeout(connect=0.2)))
    with pytest.raises(errors.TimeoutError) as info:
        driver.call(api.get_agents())
    assert info.value.details["phase"] == "connect"


class TLSFront:
    """https://127.0.0.1:PORT in front of the local server: TLS terminated here, bytes piped through."""

    def __init__(self, backend: int, context: ssl.SSLContext) -> None:
        self.backend = backend
        self.context = context
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.handshakes_failed = 0
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        try:
            tls = self.context.wrap_socket(client, server_side=True)
        except (ssl.SSLError, OSError):
            self.handshakes_failed += 1
            client.close()
            return
        with tls, socket.create_connection(("127.0.0.1", self.backend)) as upstream, \
                selectors.DefaultSelector() as selector:
            selector.register(tls, selectors.EVENT_READ, upstream)
            selector.register(upstream, selectors.EVENT_READ, tls)
            while True:
                for key, _ in selector.select(DEADLINE):
                    source: Any = key.fileobj
                    try:
                        data = source.recv(65536)
                        if not data:
                            return
                        key.data.sendall(data)
                    except (ssl.SSLError, OSError):
                        return

    def close(self) -> None:
        self.listener.close()
        for thread in self._threads[1:]:
            thread.join(DEADLINE)


def test_https_verifies_the_certificate(driver: Harness, local: LocalMuxiServer, ca: trustme.CA,
                                        server_ssl_context: ssl.SSLContext) -> None:
    if not driver.tls:
        pytest.skip(f"{driver.name} speaks plain http")
    front = TLSFront(local.port, server_ssl_context)
    try:
        url = f"https://127.0.0.1:{front.port}"
        config = ServerConfig(url=url, key_id=local.key_id, secret_key=local.secret_key)
        assert driver.call(ServerAPI(config).status())["formations"]["running"] == 1
        api = FormationAPI(FormationConfig(server_url=url, formation_id=local.formation_id,
                                           admin_key=local.admin_key, client_key=local.client_key))
        events, error = collect(driver, api.chat_stream({"message": "over tls"}, user_id="u1"))
        assert error is None and events[-1].event == "done"
        other = ServerAPI(ServerConfig(url=url.replace("127.0.0.1", "localhost"), key_id=local.key_id,
                                       secret_key=local.secret_key))
        assert driver.call(other.ping()) == "pong"  # host name verification, by name this time
        driver.drop_idle()  # new connections from here on, each with a handshake
        impostor = trustme.CA()  # a certificate the driver has no reason to trust
        front.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        impostor.issue_cert("127.0.0.1").configure_cert(front.context)
        with pytest.raises(errors.TLSError) as info:
            driver.call(ServerAPI(config).status())
        assert info.value.details["phase"] == driver.tls_failure_phase
    finally:
        front.close()


# --- cancelling the callback drivers (docs/drivers.md §4: cancellation is not a failure) ------------------


def _poll(predicate: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


@pytest.fixture
def loop() -> Iterator[Any]:
    event_loop = selectors_loop.EventLoop()
    yield event_loop
    event_loop.close()


def test_selectors_call_closed_while_waiting_for_its_answer(local: LocalMuxiServer, loop: Any) -> None:
    local.faults.latency(DEADLINE, path_prefix=AGENTS)
    driver = selectors_loop.SelectorsDriver(loop)
    machine = formation(local, max_retries=2).get_agents()
    outcomes: list[Any] = []
    call = driver.call(machine, on_result=outcomes.append, on_error=outcomes.append)
    ticking = [True]

    def tick() -> None:  # wakes the loop, so it sees the server's count change
        if ticking[0]:
            loop.call_later(0.005, tick)

    tick()
    loop.run(lambda: local.traffic.count(AGENTS) == 1, timeout=DEADLINE)
    ticking[0] = False
    call.close()
    loop.run(timeout=DEADLINE)  # returns at once: no socket, no timer left
    assert outcomes == [] and machine.state is CallState.SENDING  # nothing was reported to the machine


def test_selectors_call_closed_while_it_sleeps(local: LocalMuxiServer, loop: Any) -> None:
    local.faults.fail_next(1, status=503, retry_after=DEADLINE, path_prefix=AGENTS)
    driver = selectors_loop.SelectorsDriver(loop)
    machine = formation(local, max_retries=2).get_agents()
    outcomes: list[Any] = []
    call = driver.call(machine, on_result=outcomes.append, on_error=outcomes.append)
    loop.run(lambda: machine.state is CallState.WAITING, timeout=DEADLINE)
    call.close()
    loop.run(timeout=1)  # the retry's timer is gone: nothing left to run
    assert outcomes == [] and local.traffic.count(AGENTS) == 1


@pytest.mark.parametrize("when", ["answer", "sleep"])
def test_twisted_call_cancelled(local: LocalMuxiServer, reactor: Any, when: str) -> None:
    from twisted.internet.defer import CancelledError
    from twisted.internet.threads import blockingCallFromThread

    if when == "answer":
        local.faults.latency(DEADLINE, path_prefix=AGENTS)
    else:
        local.faults.fail_next(1, status=503, retry_after=DEADLINE, path_prefix=AGENTS)
    driver = twisted_driver.TwistedDriver(reactor)
    machine = formation(local, max_retries=2).get_agents()
    outcome: list[Any] = []
    calls: list[Any] = []

    def start() -> None:  # returns None: blockingCallFromThread does not wait for the call
        calls.append(driver.run(machine).addBoth(lambda r: outcome.append(getattr(r, "value", r))))

    blockingCallFromThread(reactor, start)
    _poll(lambda: machine.state is (CallState.SENDING if when == "answer" else CallState.WAITING)
          and local.traffic.count(AGENTS) == 1)
    blockingCallFromThread(reactor, calls[0].cancel)
    _poll(lambda: bool(outcome))
    assert isinstance(outcome[0], CancelledError)  # not a ConnectionError: the caller cancelled
    assert machine.state is (CallState.SENDING if when == "answer" else CallState.WAITING)
    blockingCallFromThread(reactor, driver.close)


# --- the examples as a reader runs them -------------------------------------------------------------------


@pytest.mark.parametrize(("name", "greeting"), [("blocking_h11", "h11"), ("selectors_loop", "selectors"),
                                                ("twisted_driver", "Twisted")])
def test_example_runs_against_a_local_server(name: str, greeting: str) -> None:
    result = subprocess.run([sys.executable, "-W", "error", str(DRIVERS / f"{name}.py"), "--local"],
                            capture_output=True, text=True, timeout=60, check=False, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "server: 1 formation(s) running", "agents: 1", f"answer: Hello from {greeting}"]
