"""examples/*.py against the local server: each run as a user would, its output and effects checked.

The small examples run in-process (their ``main()``, with ``MUXI_*`` variables set); the demo runs
as ``make demo`` runs it, in a subprocess, against its own local server and against one of ours
standing in for "your server". ``webhook_receiver.py`` has its own file (test_examples_webhook.py)
and is exercised end to end here through the demo.
"""

from __future__ import annotations

import importlib
import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from muxi import FormationClient, ServerClient
from muxi_proto import errors
from muxi_proto.http import Request, Timeout
from muxi_testing import LocalMuxiServer, ScriptedReply

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SUBPROCESS_DEADLINE = 60  # seconds: a generous bound, only there so a hang fails instead of blocking


@pytest.fixture
def examples(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, ModuleType]]:
    """The example modules, imported the way ``python examples/x.py`` finds its siblings."""
    monkeypatch.syspath_prepend(str(EXAMPLES))
    names = ["chat_stream", "custom_transport", "deploy", "formation_health", "server_status"]
    yield {name: importlib.import_module(name) for name in names}
    for name in names:
        sys.modules.pop(name, None)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalMuxiServer]:
    """A local server, named by the ``MUXI_*`` variables like any app's server would be."""
    with LocalMuxiServer() as srv:
        use_env(monkeypatch, srv)
        yield srv
        assert srv.errors == []


def use_env(monkeypatch: pytest.MonkeyPatch, srv: LocalMuxiServer) -> None:
    for name in ("MUXI_FORMATION_URL", "MUXI_FORMATION_MODE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in srv.env().items():
        monkeypatch.setenv(name, value)


# --- server_status.py, formation_health.py ----------------------------------------------------------


def test_server_status(examples: dict[str, ModuleType], server: LocalMuxiServer,
                       capsys: pytest.CaptureFixture[str]) -> None:
    examples["server_status"].main()
    assert capsys.readouterr().out.splitlines() == [
        "ping: pong",
        "health: ok (server version 1.0.0-local)",
        "formations: 1 in all (1 running)",
        "port pool: 1 of 999 ports in use",
        "  - demo-formation: running",
    ]
    assert server.traffic.count("/rpc/server/status") == 1


def test_formation_health(examples: dict[str, ModuleType], server: LocalMuxiServer,
                          capsys: pytest.CaptureFixture[str]) -> None:
    examples["formation_health"].main()
    out = capsys.readouterr().out
    assert out.startswith("demo-formation: healthy (runtime 1.") and out.endswith(" s)\n")
    assert server.traffic.count("/api/demo-formation/v1/health") == 1


# --- deploy.py --------------------------------------------------------------------------------------


def test_deploy_a_new_formation_then_again_unchanged(
    examples: dict[str, ModuleType], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with LocalMuxiServer(formation_id="other-formation") as srv:
        use_env(monkeypatch, srv)
        examples["deploy"].main([])
        out = capsys.readouterr().out.splitlines()
        assert out[0] == "demo-formation is new: POST /rpc/formations with the bundle"
        assert [line.split()[0] for line in out[1:-1]] == ["extracting", "spawning", "health_check", "health_check"]
        assert out[-1].startswith("complete: demo-formation running on port ")
        assert srv.formation_status("demo-formation") == "running"
        with ServerClient() as ctl:
            assert ctl.get_formation("demo-formation")["formation_version"] == "1.0.0"
        # The directory packs to the same bytes again, so a second run changes nothing.
        examples["deploy"].main([str(EXAMPLES / "formation")])
        assert capsys.readouterr().out.splitlines()[-1] == (
            "unchanged: Bundle is identical to current version - nothing to update")
        assert srv.traffic.count("/rpc/formations") == 1
        # GETs: the first run's 404, ours above, the second run's; then the refused PUT.
        assert srv.traffic.count("/rpc/formations/demo-formation") == 4


def test_deploy_updates_a_running_formation(
    examples: dict[str, ModuleType], server: LocalMuxiServer, capsys: pytest.CaptureFixture[str]
) -> None:
    with ServerClient() as ctl:
        result = examples["deploy"].deploy(ctl, EXAMPLES / "formation")
        assert (result["previous_version"], result["new_version"]) == ("1", "2")
        assert ctl.get_formation("demo-formation")["status"] == "running"
    out = capsys.readouterr().out.splitlines()
    assert out[0] == ("demo-formation exists (version 1.0.0, running): blue-green update, "
                      "PUT /rpc/formations/demo-formation")
    assert [line.split()[0] for line in out[1:-1]] == [
        "extracting", "validating", "spawning_staging", "health_check", "health_check", "swapping", "stopping_old"]
    assert out[-1].endswith(", version 1 -> 2")


def test_deploy_errors_are_typed_and_early(
    examples: dict[str, ModuleType], server: LocalMuxiServer, tmp_path: Path
) -> None:
    with pytest.raises(SystemExit, match="has no formation file"):
        examples["deploy"].formation_id_of(tmp_path)
    (tmp_path / "formation.afs").write_text('schema: "1.0.0"\nname: no id\n')
    with pytest.raises(SystemExit, match="has no top-level 'id'"):
        examples["deploy"].formation_id_of(tmp_path)
    server.faults.fail_next(status=500, path_prefix="/rpc/formations/demo-formation")
    with ServerClient() as ctl, pytest.raises(errors.ServerError):
        examples["deploy"].deploy(ctl, EXAMPLES / "formation")  # the existence check fails: nothing sent


# --- chat_stream.py --------------------------------------------------------------------------------


def test_chat_stream_on_every_loop_token_by_token(
    examples: dict[str, ModuleType], server: LocalMuxiServer, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server.reply = lambda message: f"Echo, word by word: {message}"
    chat = examples["chat_stream"]
    pieces: list[str] = []
    monkeypatch.setattr(chat, "_show", pieces.append)
    chat.main(["--loop", "all", "three small words"])
    answer = "Echo, word by word: three small words"
    assert "".join(pieces) == f"sync:    {answer}\nasyncio: {answer}\ntrio:    {answer}\n"
    # Token by token: each word arrived as its own piece, on every loop.
    assert pieces.count(" words") == 3 and pieces.count("Echo,") == 3
    with FormationClient() as formation:
        sessions = formation.get_sessions(chat.USER_ID)["sessions"]
        counts = [formation.get_session(s["session_id"], chat.USER_ID)["message_count"] for s in sessions]
    assert sum(counts) == 6
    assert capsys.readouterr().out == ""


def test_chat_stream_functions_return_the_answer(examples: dict[str, ModuleType], server: LocalMuxiServer) -> None:
    chat = examples["chat_stream"]
    server.reply = lambda message: ScriptedReply(f"[{message}]", ui=[{"type": "text", "text": "hi"}])
    assert chat.chat_sync("a", user_id="u1") == "[a]"
    assert chat.chat_trio("b", user_id="u1") == "[b]"


def test_chat_stream_error_event_is_raised(examples: dict[str, ModuleType], server: LocalMuxiServer) -> None:
    def broken(message: str) -> str:
        raise RuntimeError("the model is down")

    server.reply = broken
    with pytest.raises(errors.StreamError) as info:
        examples["chat_stream"].chat_sync("hello")
    assert (info.value.code, info.value.message) == ("RuntimeError", "the model is down")


# --- custom_transport.py ---------------------------------------------------------------------------


def test_custom_transport_main(examples: dict[str, ModuleType], server: LocalMuxiServer,
                               capsys: pytest.CaptureFixture[str]) -> None:
    examples["custom_transport"].main()
    assert capsys.readouterr().out.splitlines() == [
        "health: healthy", "answer: Hello over http.client", "streamed: And streamed"]


def test_custom_transport_drives_both_clients(
    examples: dict[str, ModuleType], server: LocalMuxiServer, tmp_path: Path
) -> None:
    transport = examples["custom_transport"].HTTPClientTransport()
    with ServerClient(transport=transport) as ctl:  # HMAC-signed, bodies, streams, bytes
        assert ctl.ping() == "pong"
        events = list(ctl.update_formation_stream("demo-formation", EXAMPLES / "formation"))
        assert [e.event for e in events][-2:] == ["progress", "complete"]
        assert ctl.download_formation("demo-formation")[:2] == b"PK"
        assert '"method":"PUT","path":"/rpc/formations/demo-formation"' in ctl.get_server_logs(lines=50)
    with FormationClient(transport=transport) as formation:
        formation.set_secret("API_TOKEN", "tok-1234567890")
        assert formation.get_secret("API_TOKEN")["value"] == "tok-12\u2022\u2022\u2022\u2022\u2022\u20227890"
        with pytest.raises(errors.NotFoundError):
            formation.get_agent("nobody")
    assert server.connections_opened >= 6  # one connection per request: the example does not pool


def test_custom_transport_errors_are_typed(
    examples: dict[str, ModuleType], server: LocalMuxiServer, unreachable_port: int
) -> None:
    module = examples["custom_transport"]
    transport = module.HTTPClientTransport()
    # A port where nothing listens: refused while connecting, so even a POST may be retried.
    closed = _free_port()
    refused = Request("POST", f"http://127.0.0.1:{closed}/v1/chat", body=b"{}")
    with pytest.raises(errors.ConnectionError) as info:
        transport.send(refused)
    assert type(info.value) is errors.ConnectionError and info.value.details == {"phase": "connect"}
    # Connecting that never completes: a connect timeout.
    stalled = Request("GET", f"http://127.0.0.1:{unreachable_port}/health", timeout=Timeout.of(0.2))
    with pytest.raises(errors.TimeoutError):
        transport.send(stalled)
    # Bytes that are not HTTP: a protocol error.
    server.faults.garbage_next()
    with pytest.raises(errors.ProtocolError):
        transport.send(Request("GET", server.url + "/health"))
    # TLS to a plain-HTTP server: the handshake fails.
    with pytest.raises(errors.TLSError):
        module.HTTPClientTransport(ssl.create_default_context()).send(
            Request("GET", server.url.replace("http://", "https://") + "/health"))
    # A body cut short: raised while reading (a reset or an early end, depending on the timing).
    server.faults.drop_next(when="mid_body", path_prefix="/rpc/formations")
    with ServerClient(transport=transport) as ctl, pytest.raises(errors.ConnectionError) as info:
        ctl.list_formations()
    assert info.value.details == {"phase": "read"}


def test_custom_transport_retries_through_the_client(
    examples: dict[str, ModuleType], server: LocalMuxiServer
) -> None:
    server.faults.fail_next(2, status=503, retry_after="0", path_prefix="/rpc/server/status")
    slept: list[float] = []
    with ServerClient(server.server_config(max_retries=2), sleep=slept.append,
                      transport=examples["custom_transport"].HTTPClientTransport()) as ctl:
        assert ctl.status()["formations"]["running"] == 1
    assert slept == [0.0, 0.0] and server.traffic.count("/rpc/server/status") == 3


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --- webhook_receiver.py, served by the demo's ASGI bridge ------------------------------------------------


@pytest.fixture
def demo_module(examples: dict[str, ModuleType]) -> Iterator[ModuleType]:
    path = list(sys.path)
    module = importlib.import_module("demo")
    sys.path[:] = path  # demo.py puts examples/ on sys.path itself; the fixture above already did
    yield module
    for name in ("demo", "webhook_receiver"):
        sys.modules.pop(name, None)


@pytest.mark.parametrize("right_secret", [True, False], ids=["admin-key", "wrong-key"])
def test_webhook_receiver_gets_the_local_servers_webhooks(
    demo_module: ModuleType, monkeypatch: pytest.MonkeyPatch, right_secret: bool
) -> None:
    receiver_module = demo_module.webhook_receiver
    events: list[Any] = []
    with LocalMuxiServer(webhook_retry_delays=(0.01, 0.01, 0.01)) as srv:
        use_env(monkeypatch, srv)
        app = receiver_module.make_app(srv.admin_key if right_secret else srv.client_key, events.append)
        with demo_module.ASGIReceiver(app) as receiver:
            srv.add_trigger("order-created", receiver.url + receiver_module.WEBHOOK_PATH)
            with FormationClient() as formation:
                accepted = formation.fire_trigger("order-created", {"message": "order 7"}, async_mode=True)
            assert srv.wait_until(lambda s: bool(s.webhooks) and s.webhooks[0].finished)
            delivery = srv.webhooks[0]
        if right_secret:
            assert (delivery.statuses, len(events)) == ([200], 1)
            assert (events[0].status, events[0].text, events[0].request_id) == (
                "completed", "order 7", accepted["request_id"])
        else:  # refused every time: the runtime's three retries, then it gives up
            assert (delivery.statuses, events) == ([401, 401, 401, 401], [])


# --- demo.py ------------------------------------------------------------------------------------------


def run_demo(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python examples/demo.py`` as ``make demo`` runs it, with only the given MUXI_* variables."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MUXI_")}
    return subprocess.run(
        [sys.executable, str(EXAMPLES / "demo.py"), *args], env={**clean, **(env or {})}, cwd=ROOT,
        capture_output=True, text=True, timeout=SUBPROCESS_DEADLINE, check=False,
    )


def test_demo_against_its_own_local_server() -> None:
    # A formation URL left in the user's shell must not send the local demo elsewhere.
    result = run_demo(env={"MUXI_FORMATION_URL": f"http://127.0.0.1:{_free_port()}"})
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert result.stderr == ""
    headers = [line for line in out.splitlines() if line[:2] in {"1.", "2.", "3.", "4.", "5."}]
    assert [h.split(" ", 1)[1].split(" (")[0].split(":")[0] for h in headers] == [
        "Server status", "Formation health", "Deploy examples/formation/", "Chat, streamed token by token",
        "Webhook"]
    assert "   ping: pong\n" in out and "   demo-formation: healthy (runtime " in out
    assert "   complete: demo-formation running on port " in out and ", version 1 -> 2\n" in out
    answers = [line.split(":", 1)[1].strip() for line in out.splitlines()
               if line.startswith(("   sync (", "   asyncio (", "   trio ("))]
    assert len(answers) == 3 and len(set(answers)) == 1 and "not a model" in answers[0]
    assert "signature verified with muxi.webhook.verify_signature" in out
    assert "status 'completed'" in out and "(the one fired)" in out
    assert "the same body signed with a wrong secret: 401 invalid signature" in out
    assert out.endswith("Done: every step succeeded.\n")


@pytest.fixture
def your_server() -> Iterator[LocalMuxiServer]:
    """A server standing in for a real one: the demo reaches it only through MUXI_* variables."""
    with LocalMuxiServer() as srv:
        yield srv
        assert srv.errors == []


def test_demo_against_your_server_is_read_only_by_default(your_server: LocalMuxiServer) -> None:
    result = run_demo(env=your_server.env())
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert f"Server: {your_server.url} (from MUXI_SERVER_URL), formation demo-formation" in out
    assert "skipped: this is your server; pass --deploy or set MUXI_DEMO_DEPLOY=1" in out
    assert "skipped: it needs a trigger whose webhook URL reaches this machine" in out
    assert out.count("What does MUXI do?") == 4  # the title, then the echo on three loops
    assert your_server.traffic.count("/rpc/formations/demo-formation") == 0  # nothing deployed
    assert your_server.traffic.count("/api/demo-formation/v1/chat") == 3
    assert your_server.webhooks == []
    for secret in (your_server.secret_key, your_server.admin_key, your_server.client_key):
        assert secret not in out + result.stderr


@pytest.mark.parametrize("how", [("--deploy",), ()], ids=["flag", "env"])
def test_demo_deploys_to_your_server_only_when_asked(your_server: LocalMuxiServer, how: tuple[str, ...]) -> None:
    env = your_server.env() if how else {**your_server.env(), "MUXI_DEMO_DEPLOY": "1"}
    result = run_demo(*how, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "blue-green update, PUT /rpc/formations/demo-formation" in result.stdout
    with ServerClient(your_server.server_config()) as ctl:
        assert ctl.get_formation("demo-formation")["version"]["previous"]  # updated once


def test_demo_reports_a_failing_step_and_exits_1(your_server: LocalMuxiServer) -> None:
    def broken(message: str) -> str:
        raise RuntimeError("no model today")

    your_server.reply = broken
    result = run_demo(env=your_server.env())
    assert result.returncode == 1
    assert "FAILED: StreamError: RuntimeError: no model today" in result.stdout
    assert result.stdout.endswith(
        "Done, with 1 failed step(s): Chat, streamed token by token ('What does MUXI do?').\n")


def test_demo_with_incomplete_settings_exits_2(your_server: LocalMuxiServer) -> None:
    env = {k: v for k, v in your_server.env().items() if k != "MUXI_CLIENT_KEY"}
    result = run_demo(env=env)
    assert result.returncode == 2
    assert "Incomplete settings: chat needs the formation's client key (MUXI_CLIENT_KEY)" in result.stdout
    env = {k: v for k, v in your_server.env().items() if k != "MUXI_SECRET_KEY"}
    result = run_demo(env=env)
    assert result.returncode == 2 and "Incomplete settings: ServerConfig needs secret_key" in result.stdout
    assert your_server.traffic.count("/rpc/server/status") == 0  # nothing was sent


def test_demo_never_echoes_credentials_in_the_url(your_server: LocalMuxiServer) -> None:
    env = {**your_server.env(), "MUXI_SERVER_URL": your_server.url.replace("http://", "http://user:pw-secret@")}
    result = run_demo(env=env)
    # The config refuses URLs carrying user:password@ (they would end up in reprs and logs): the demo
    # stops with its "incomplete settings" exit code, naming the problem without the password.
    assert result.returncode == 2, result.stdout + result.stderr
    assert "must not contain user:password@" in result.stdout
    assert "pw-secret" not in result.stdout + result.stderr
    assert f"Server: {your_server.url} (from MUXI_SERVER_URL)" in result.stdout
