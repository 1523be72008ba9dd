"""``python -m muxi_testing`` as a real subprocess: six lines, serves, exits 0 on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from muxi_transports import FormationClient, ServerClient

NAMES = ["MUXI_SERVER_URL", "MUXI_KEY_ID", "MUXI_SECRET_KEY", "MUXI_FORMATION_ID", "MUXI_CLIENT_KEY",
         "MUXI_ADMIN_KEY"]
ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize(("sig", "fixed_port"), [(signal.SIGTERM, False), (signal.SIGINT, True)])
def test_cli_prints_settings_serves_and_stops_cleanly(sig: signal.Signals, fixed_port: bool) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    port = 0
    if fixed_port:  # a port free right now, chosen by the OS
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "muxi_testing", "--formation-id", "cli-formation", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().rstrip("\n") for _ in NAMES]
        settings = dict(line.split("=", 1) for line in lines)
        assert list(settings) == NAMES
        assert settings["MUXI_SERVER_URL"].startswith("http://127.0.0.1:")
        assert settings["MUXI_FORMATION_ID"] == "cli-formation"
        if port:
            assert settings["MUXI_SERVER_URL"] == f"http://127.0.0.1:{port}"
        with ServerClient(url=settings["MUXI_SERVER_URL"], key_id=settings["MUXI_KEY_ID"],
                          secret_key=settings["MUXI_SECRET_KEY"]) as ctl:
            assert ctl.get_formation("cli-formation")["status"] == "running"
        with FormationClient(server_url=settings["MUXI_SERVER_URL"], formation_id="cli-formation",
                             client_key=settings["MUXI_CLIENT_KEY"], admin_key=settings["MUXI_ADMIN_KEY"]) as fc:
            assert fc.chat({"message": "from the cli"}, user_id="u")["message"]["content"] == "from the cli"
        proc.send_signal(sig)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        if proc.stderr is not None:
            proc.stderr.close()
