"""The pytest plugin (``muxi_testing.plugin``) in a separate pytest run, and the server
loop on trio."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from test_local_server_support import bundle

from muxi_proto.streams import ChatAnswer
from muxi_testing import LocalMuxiServer
from muxi_transports import FormationClient, ServerClient

ROOT = Path(__file__).resolve().parent.parent

CONFTEST = 'pytest_plugins = ["muxi_testing.plugin"]\n'
TESTS = '''
from muxi_transports import FormationClient, ServerClient


def test_fixture(muxi_server):
    with FormationClient(muxi_server.formation_config()) as fc:
        assert fc.chat({"message": "plugged in"}, user_id="u")["message"]["content"] == "plugged in"


def test_factory(muxi_server_factory):
    first = muxi_server_factory(formation_id="one-formation")
    second = muxi_server_factory(formation_id="two-formation", reply=lambda m: m[::-1])
    assert first.port != second.port
    with ServerClient(second.server_config()) as ctl:
        assert ctl.get_formation("two-formation")["status"] == "running"
    with FormationClient(second.formation_config()) as fc:
        assert fc.chat({"message": "abc"})["message"]["content"] == "cba"
'''


def test_plugin_fixtures_in_a_fresh_pytest_run(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_user_app.py").write_text(TESTS)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error", str(tmp_path)],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_server_loop_on_trio(tmp_path: Path) -> None:
    with LocalMuxiServer(backend="trio") as server:
        with ServerClient(server.server_config()) as ctl:
            evts = list(ctl.deploy_formation_stream("trio-one", bundle(tmp_path, "trio-one")))
            assert evts[-1].event == "complete"
            follow = ctl.stream_formation_logs("trio-one")
            with follow:
                assert next(iter(follow)).event == "connected"
                server.add_log_line("on trio", formation_id="trio-one")
                assert next(iter(follow)).json()["line"] == "on trio"
        with FormationClient(server.formation_config("trio-one")) as fc:
            answer = ChatAnswer()
            for evt in fc.chat_stream({"message": "trio stream"}, user_id="t"):
                answer.add(evt)
            assert answer.text == "trio stream"
        assert server.errors == []


def test_stop_is_idempotent_and_the_server_can_start_again() -> None:
    server = LocalMuxiServer()
    assert "stopped" in repr(server)
    for _ in range(2):
        with server:
            assert "running" in repr(server) and server.url.startswith("http://127.0.0.1:")
            with FormationClient(server.formation_config()) as fc:
                assert fc.chat({"message": "again"}, user_id="u")["message"]["content"] == "again"
        server.stop()
    assert server.errors == []
    with server, FormationClient(server.formation_config()) as fc:  # state outlives a stop
        assert len(fc.get_sessions("u")["sessions"]) == 2
