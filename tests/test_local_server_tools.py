"""The local server's tools for other processes: formation directories, the CLI, the control route, the plugin.

The CLI runs as a real subprocess and is driven only over HTTP (``urllib``), the way a test in
another language would drive it: settings read from ``--env-file``, faults injected through the
control route, webhooks delivered to a receiver given with ``--trigger``.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_local_server_support import admin, api, client, request

from muxi_proto import webhook
from muxi_testing import FormationError, LocalMuxiServer, load_formation
from tests.fidelity.wire import WebhookInbox

ROOT = Path(__file__).resolve().parent.parent


def write_formation(root: Path, *, memory: str = "", extra: str = "", webhook_url: str | None = None) -> Path:
    """A small formation directory: two agents, one trigger (with a webhook when given), one SOP."""
    (root / "agents").mkdir(parents=True)
    (root / "triggers").mkdir()
    (root / "sops").mkdir()
    (root / "formation.afs").write_text(textwrap.dedent("""\
        schema: "1.0.0"
        id: shop-bot
        name: Shop bot
        description: Answers shop questions.
        version: "3.1.0"
        llm:
          models:
            - text: openai/gpt-4o-mini
        agents:
          - support
          - billing
        server:
          api_keys:
            admin_key: "shop-admin-key-0123456789"
            client_key: "shop-client-key-0123456789"
        """) + memory + extra)
    for agent in ("support", "billing"):
        (root / "agents" / f"{agent}.afs").write_text(
            f'schema: "1.0.0"\nid: {agent}\nname: {agent.title()}\ndescription: The {agent} desk.\n')
    head = f'---\nwebhook: "{webhook_url}"\n---\n' if webhook_url else ""
    (root / "triggers" / "order.md").write_text(head + "Order ${{ data.number }} from ${{ data.customer }}.\n")
    (root / "sops" / "refund.md").write_text("---\ntype: sop\n---\n# Refunds\n\n1. Check the order.\n2. Refund.\n")
    return root


# --- formation directories ------------------------------------------------------------------------


def test_a_formation_directory_is_served_as_the_runtime_would(tmp_path: Path) -> None:
    formation = write_formation(tmp_path / "shop")
    with LocalMuxiServer(formation=formation, reply=lambda m: f"echo: {m}") as server:
        assert (server.formation_id, server.admin_key, server.client_key) == (
            "shop-bot", "shop-admin-key-0123456789", "shop-client-key-0123456789")  # the formation's own keys
        agents = request(server, "GET", api(server, "/agents"), headers=admin(server)).json()["data"]
        assert [a["id"] for a in agents["agents"]] == ["billing", "support"]  # sorted files
        status = request(server, "GET", api(server, "/status"), headers=admin(server)).json()["data"]
        assert status["formation"] == {"id": "shop-bot", "name": "Shop bot", "description": "Answers shop questions.",
                                       "version": "3.1.0"}
        info = request(server, "GET", api(server, "/formation"), headers=admin(server)).json()["data"]
        assert info["server"]["api_keys"]["admin_key"] == "sho\u2022\u2022\u2022\u2022\u2022\u2022\u2022\u2022789"
        trigger = request(server, "GET", api(server, "/triggers/order"), headers=client(server)).json()["data"]
        assert trigger["data_fields"] == ["number", "customer"]
        fired = request(server, "POST", api(server, "/triggers/order"), headers=client(server, "u"),
                        json_body={"data": {"number": 7, "customer": "Ada"}, "use_async": False}).json()["data"]
        assert fired == {"status": "completed", "content": "echo: Order 7 from Ada.\n"}  # the rendered template
        sop = request(server, "GET", api(server, "/sops/refund"), headers=client(server)).json()["data"]
        assert (sop["content"], sop["steps"]) == ("# Refunds\n\n1. Check the order.\n2. Refund.", 2)
        # The runtime at its own URL too: /v1/... on the server's root.
        assert request(server, "GET", "/v1/health").json()["version"] == "3.1.0"


def test_without_persistent_memory_the_runtimes_refusals(tmp_path: Path) -> None:
    # tests/fixtures/runtime/bare/: scheduler.json, memory.json, users.json, credentials.json
    formation = write_formation(tmp_path / "shop", memory="memory:\n  persistent: false\n")
    with LocalMuxiServer(formation=formation) as server:
        job = {"type": "recurring", "schedule": "0 9 * * 1", "message": "m"}
        refused = request(server, "POST", api(server, "/scheduler/jobs"), headers=admin(server), json_body=job).json()
        assert (refused["error"]["code"], refused["error"]["message"]) == (
            "UNPROCESSABLE_ENTITY", "Scheduler jobs require persistent memory")
        memories = request(server, "POST", api(server, "/memories"), headers=client(server, "u"),
                           json_body={"content": "x"})
        assert (memories.status, memories.json()["error"]["code"]) == (503, "SERVICE_UNAVAILABLE")
        assert request(server, "GET", api(server, "/memories"), headers=client(server, "u")).json()["data"] == {
            "memories": [], "count": 0}
        users = request(server, "POST", api(server, "/users/resolve"), headers=client(server),
                        json_body={"identifier": "a@b.c"})
        assert (users.status, users.json()["error"]["message"]) == (503, "Database service is not available")


def test_scheduler_runs_only_when_the_formation_enables_it(tmp_path: Path) -> None:
    plain = write_formation(tmp_path / "plain")  # SQLite memory, no scheduler section: multiuser/scheduler_absent
    enabled = write_formation(tmp_path / "enabled", extra="scheduler:\n  enabled: true\n")
    job = {"type": "recurring", "schedule": "0 9 * * 1", "message": "m"}
    with LocalMuxiServer(formation=plain) as server:
        off = request(server, "POST", api(server, "/scheduler/jobs"), headers=admin(server), json_body=job)
        assert (off.status, off.json()["error"]["message"]) == (503, "Scheduler is not available or not enabled")
    with LocalMuxiServer(formation=enabled) as server:
        created = request(server, "POST", api(server, "/scheduler/jobs"), headers=admin(server), json_body=job)
        assert created.status == 201


def test_a_deployed_bundle_brings_its_own_agents_and_triggers(tmp_path: Path) -> None:
    from muxi_proto.bundle import pack_directory
    from muxi_transports import ServerClient

    formation = write_formation(tmp_path / "shop")
    with LocalMuxiServer() as server, ServerClient(server.server_config()) as ctl:
        ctl.deploy_formation("shop-bot", pack_directory(formation, "shop-bot"), version="3.1.0")
        agents = request(server, "GET", "/api/shop-bot/v1/agents", headers=admin(server)).json()["data"]
        assert [a["id"] for a in agents["agents"]] == ["billing", "support"]  # sorted files
        triggers = request(server, "GET", "/api/shop-bot/v1/triggers", headers=client(server)).json()["data"]
        assert triggers["triggers"] == ["order"]


@pytest.mark.parametrize(("files", "problem"), [
    ({}, "no formation.afs"),
    ({"formation.afs": "id: [unclosed\n"}, "formation.afs"),
    ({"formation.afs": "name: no id\n"}, "has no id"),
    ({"formation.afs": "id: x-bot\nagents:\n  - ghost\n"}, "agents/ghost.afs is missing"),
    ({"formation.afs": "- a list\n"}, "must be a mapping"),
])
def test_a_broken_formation_directory_says_what_is_wrong(tmp_path: Path, files: dict[str, str], problem: str) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(FormationError) as info:
        load_formation(tmp_path)
    assert problem in str(info.value)
    with pytest.raises(FormationError):
        LocalMuxiServer(formation=tmp_path)


def test_the_runtimes_test_formations_load(tmp_path: Path) -> None:
    from tests.runtime.harness import FORMATIONS, render_formation

    for name in ("default", "bare", "multiuser"):
        directory = render_formation(tmp_path / name, {"LLM_MODEL": "m", "PORT": "1", "ADMIN_KEY": "a" * 20,
                                                       "CLIENT_KEY": "c" * 20, "WEBHOOK_URL": "http://x/"}, name)
        spec = load_formation(directory)
        assert spec.id.startswith("muxi-client-") and (FORMATIONS / name).is_dir()
        assert spec.multi_user is False  # SQLite (even with multi_user: true) or none: single-user, as recorded


# --- the control route ----------------------------------------------------------------------------


def _control(server: LocalMuxiServer, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    reply = request(server, method, f"/_testing/{path}", json_body=body)
    return reply.status, reply.json()


def test_control_route_injects_faults_and_reports_traffic(tmp_path: Path) -> None:
    with LocalMuxiServer() as server:
        assert _control(server, "POST", "faults", {"fault": "fail_next", "n": 2, "status": 503, "retry_after": "1",
                                                   "path_prefix": "/api/"}) == (200, {"pending": 2})
        failed = request(server, "GET", api(server, "/health"))
        assert (failed.status, failed.header("retry-after")) == (503, "1")
        assert failed.json()["error"]["code"] == "SYSTEM_OVERLOAD"  # the runtime's code for a bare 503
        assert request(server, "GET", "/health").status == 200  # not under /api/: untouched
        assert _control(server, "GET", "faults") == (200, {"pending": 1})
        assert _control(server, "DELETE", "faults") == (200, {"pending": 0})
        assert request(server, "GET", api(server, "/health")).status == 200
        status, traffic = _control(server, "GET", "traffic?path=" + api(server, "/health"))
        assert status == 200 and [r["method"] for r in traffic["requests"]] == ["GET", "GET"]
        assert all("authorization" not in r for r in traffic["requests"])  # never the header's value
        assert _control(server, "DELETE", "traffic") == (200, {"total": 0})


def test_control_route_sets_triggers_and_replies_and_refuses_nonsense() -> None:
    inbox = WebhookInbox().start()
    try:
        with LocalMuxiServer(webhook_retry_delays=(0.01,)) as server:
            assert _control(server, "PUT", "reply", {"text": "fixed answer"})[0] == 200
            assert _control(server, "PUT", "triggers/echo", {"webhook_url": f"{inbox.url}/hook"})[0] == 200
            request(server, "POST", api(server, "/triggers/echo"), headers=client(server, "u"),
                    json_body={"data": {"message": "x"}})
            assert inbox.wait(lambda r: True, 10) is not None
            status, deliveries = _control(server, "GET", "webhooks")
            assert status == 200 and deliveries[0]["payload"]["response"] == [{"type": "text", "text": "fixed answer"}]
            for method, path, body in (("POST", "faults", {"fault": "explode"}),
                                       ("POST", "faults", {"fault": "fail_next", "status": 200}),
                                       ("POST", "faults", {"fault": "latency"}),
                                       ("PUT", "reply", {"text": 5})):
                status, answer = _control(server, method, path, body)
                assert status == 400 and answer["error"], (path, body)
            assert request(server, "GET", "/_testing/nothing-here").status == 404
            assert server.faults.pending == 0
    finally:
        inbox.stop()


# --- the CLI, as another process sees it ----------------------------------------------------------


def _http(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json",
                                                                         **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Any]:
    procs: list[subprocess.Popen[str]] = []

    def start(*args: str) -> subprocess.Popen[str]:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen([sys.executable, "-m", "muxi_testing", *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def _env_file(path: Path, proc: subprocess.Popen[str], deadline: float = 20.0) -> dict[str, str]:
    """The settings, read from the env file once it exists (it appears complete, atomically)."""
    end = time.monotonic() + deadline
    while not path.exists():
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < end, "no env file"
        time.sleep(0.02)  # polling for a file another process writes: no event to wait on
    settings = {}
    for line in path.read_text().splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        settings[name] = shlex.split(value)[0]
    return settings


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_cli_serves_a_formation_delivers_webhooks_and_takes_faults_from_another_process(cli: Any, tmp_path: Path
                                                                                       ) -> None:
    inbox = WebhookInbox().start()
    try:
        formation = write_formation(tmp_path / "shop")
        env_path = tmp_path / "muxi.env"
        proc = cli("--formation", str(formation), "--trigger", f"order={inbox.url}/orders", "--reply", "On it.",
                   "--webhook-retry-delays", "0.05", "--env-file", str(env_path), "--print-env")
        settings = _env_file(env_path, proc)
        assert proc.stdout is not None
        printed = [proc.stdout.readline().strip() for _ in settings]
        assert all(line.startswith("export MUXI_") for line in printed)  # --print-env: shell form on stdout too
        base, control = settings["MUXI_SERVER_URL"], settings["MUXI_TESTING_CONTROL_URL"]
        assert settings["MUXI_FORMATION_ID"] == "shop-bot" and control == base + "/_testing/"
        keys = {"X-Muxi-Client-Key": settings["MUXI_CLIENT_KEY"], "X-Muxi-User-ID": "u"}
        # A trigger fired over plain HTTP; its webhook reaches the receiver given with --trigger, signed.
        status, fired = _http("POST", f"{base}/api/shop-bot/v1/triggers/order", {"data": {"number": 1,
                                                                                   "customer": "Bo"}}, keys)
        assert (status, fired["data"]) == (200, {"status": "processing"})
        delivered = inbox.wait(lambda r: r.path == "/orders", 10)
        assert delivered is not None
        assert webhook.verify_signature(delivered.body, delivered.headers["x-muxi-signature"],
                                        settings["MUXI_ADMIN_KEY"])
        assert delivered.json()["id"] == fired["request"]["id"]
        # Faults from another process, through the control route.
        assert _http("POST", control + "faults", {"fault": "fail_next", "status": 429, "retry_after": 2}) == (
            200, {"pending": 1})
        status, refused = _http("GET", f"{base}/api/shop-bot/v1/health")
        assert (status, refused["error"]["code"]) == (429, "RATE_LIMITED")
        assert _http("GET", f"{base}/api/shop-bot/v1/health")[0] == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert not env_path.exists()  # stale settings are removed at exit
    finally:
        inbox.stop()


def test_cli_refuses_a_broken_formation_and_bad_arguments(cli: Any, tmp_path: Path) -> None:
    broken = cli("--formation", str(tmp_path))
    assert broken.wait(20) == 2
    assert broken.stderr is not None and "no formation.afs" in broken.stderr.read()
    bad = cli("--trigger", "not-a-pair")
    assert bad.wait(20) == 2
    assert bad.stderr is not None and "NAME=URL" in bad.stderr.read()


# --- the pytest plugin's formation option ---------------------------------------------------------


def test_plugin_serves_the_configured_formation(tmp_path: Path) -> None:
    write_formation(tmp_path / "shop")
    (tmp_path / "pytest.ini").write_text("[pytest]\nmuxi_formation = shop\n")
    (tmp_path / "test_shop.py").write_text(textwrap.dedent("""\
        from muxi_transports import FormationClient

        def test_my_formation(muxi_server):
            assert muxi_server.formation_id == "shop-bot"
            with FormationClient(muxi_server.formation_config()) as fc:
                assert [a["id"] for a in fc.get_agents()["agents"]] == ["billing", "support"]  # sorted files
        """))
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout


def test_a_postgres_formation_keeps_users_apart(tmp_path: Path) -> None:
    # Not recordable here (multi-user needs PostgreSQL with pgvector): the runtime's source
    # (formation/initialization.py) makes a non-SQLite store multi-user; SQLite stays single-user.
    memory = 'memory:\n  persistent:\n    connection_string: "postgresql://muxi@127.0.0.1/muxi"\n'
    formation = write_formation(tmp_path / "shop", memory=memory)
    with LocalMuxiServer(formation=formation) as server:
        request(server, "POST", api(server, "/chat"), headers=client(server, "alice"),
                json_body={"message": "mine", "stream": False, "session_id": "a1"})
        mine = request(server, "GET", api(server, "/sessions"), headers=client(server, "alice")).json()["data"]
        assert [(s["session_id"], s["user_id"]) for s in mine["sessions"]] == [("a1", "alice")]
        theirs = request(server, "GET", api(server, "/sessions"), headers=client(server, "bob")).json()["data"]
        assert theirs["sessions"] == []
        request_id = request(server, "GET", api(server, "/requests"), headers=client(server, "alice")).json()[
            "data"]["requests"][0]["request_id"]
        denied = request(server, "GET", api(server, f"/requests/{request_id}"), headers=client(server, "bob"))
        assert (denied.status, denied.json()["error"]["code"]) == (403, "FORBIDDEN")


def test_the_start_formation_answers_at_its_own_url_too() -> None:
    from muxi_transports import FormationClient

    with LocalMuxiServer() as server, FormationClient(url=server.url, admin_key=server.admin_key,
                                                      client_key=server.client_key) as direct:
        assert direct.get_status()["formation"]["id"] == server.formation_id
        assert direct.chat({"message": "direct"}, user_id="u")["message"]["content"] == "direct"
        assert server.traffic.count("/v1/chat") == 1
