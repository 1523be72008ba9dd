"""Start and stop a real MUXI runtime for the suite: formation rendering, process, readiness.

The runtime runs in its own virtual environment (``.venv-runtime``, made by
``scripts/runtime_env.sh``) as a subprocess, because its package is also importable as ``muxi``.
Everything listens on 127.0.0.1 with ports chosen at run time; keys are random per run.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

__all__ = [
    "FORMATIONS", "FORMATION_ID", "RuntimeFormation", "RuntimeStartError", "free_port", "render_formation",
    "runtime_python",
]

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
FORMATIONS = HERE / "formations"
FORMATION_ID = "muxi-client-runtime-test"
STARTUP_TIMEOUT = 240.0  # a cold start loads ~2 GB of packages; warm starts take seconds
STOP_TIMEOUT = 30.0
_TEXT_SUFFIXES = {".afs", ".yaml", ".yml", ".md"}
_PLACEHOLDER = re.compile(r"@@[A-Z_]+@@")


class RuntimeStartError(RuntimeError):
    """The runtime did not become healthy; the message carries the tail of its log."""


def runtime_python() -> Path:
    """The runtime venv's interpreter (``MUXI_RUNTIME_VENV`` or ``<repo>/.venv-runtime``)."""
    venv = Path(os.environ.get("MUXI_RUNTIME_VENV", REPO / ".venv-runtime"))
    if not venv.is_absolute():
        venv = REPO / venv
    return venv / "bin" / "python"


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago (the runtime binds it itself)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def render_formation(target: Path, values: dict[str, str], source: str = "default") -> Path:
    """Copy ``tests/runtime/formations/<source>`` to ``target`` with every ``@@NAME@@`` replaced."""
    shutil.copytree(FORMATIONS / source, target)
    for path in target.rglob("*"):
        if path.is_file() and path.suffix in _TEXT_SUFFIXES:
            text = path.read_text(encoding="utf-8")
            for name, value in values.items():
                text = text.replace(f"@@{name}@@", value)
            if "@@" in text:
                raise ValueError(f"unfilled placeholder in {path.relative_to(target)}")
            path.write_text(text, encoding="utf-8")
    return target


@dataclass
class RuntimeFormation:
    """One running formation: where it listens, its keys, its process and log."""

    workdir: Path
    llm_model: str
    webhook_url: str
    formation: str = "default"
    """Which of ``tests/runtime/formations/`` to serve."""
    port: int = field(default_factory=free_port)
    admin_key: str = field(default_factory=lambda: "adm_" + secrets.token_hex(16))
    client_key: str = field(default_factory=lambda: "cli_" + secrets.token_hex(16))
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        """The formation's root URL (clients add ``/v1``)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        """The runtime's combined stdout and stderr."""
        return self.workdir / "runtime.log"

    def start(self) -> RuntimeFormation:
        """Render the formation, launch the runtime and wait until ``/v1/health`` answers."""
        python = runtime_python()
        if not python.exists():
            raise RuntimeStartError(f"{python} is missing: run `make test-runtime` (it creates the runtime venv)")
        formation_dir = render_formation(self.workdir / "formation", {
            "LLM_MODEL": self.llm_model,
            "PORT": str(self.port),
            "ADMIN_KEY": self.admin_key,
            "CLIENT_KEY": self.client_key,
            "WEBHOOK_URL": self.webhook_url,
        }, self.formation)
        home = self.workdir / "home"  # the runtime writes ~/.muxi: keep it out of the real home
        home.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "MUXI_"))}
        env.update(HOME=str(home), MUXI_TELEMETRY="0", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
                   NO_PROXY="127.0.0.1,localhost", MUXI_TEST_PARENT_PID=str(os.getpid()))
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [str(python), "-I", str(HERE / "launch_runtime.py"), str(formation_dir), str(self.port)],
            cwd=self.workdir, env=env, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() ends the runtime and its children
        )
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_healthy(self) -> None:
        # Poll with a deadline: the runtime prints no machine-readable "ready" signal.
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeStartError(f"the runtime exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/v1/health", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeStartError(f"no healthy runtime after {STARTUP_TIMEOUT:.0f}s:\n{self.log_tail()}")
            time.sleep(0.2)

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the runtime's log (for failure messages)."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Terminate the runtime's process group, then kill it if it lingers."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            _signal_group(process, signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait(STOP_TIMEOUT)
        if self._log is not None:
            self._log.close()
            self._log = None


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:  # pragma: no cover - not our group after all
        process.send_signal(sig)
