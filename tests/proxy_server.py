"""A real forward proxy for the proxy tests: proxy.py (PyPI ``proxy.py``, the ``test`` extra) on 127.0.0.1.

It runs in its own process on a port chosen at run time, with :class:`Recorder` as a plugin: every
request it is asked to forward (``GET host:port``) or tunnel (``CONNECT host:port``) is appended to
a log file before it contacts the origin, so a test knows for certain whether a client went through it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from proxy.http.parser import HttpParser
from proxy.http.proxy import HttpProxyBasePlugin

_STARTUP = 30.0  # seconds for the proxy to bind its port


class Recorder(HttpProxyBasePlugin):
    """Appends ``METHOD host:port`` to ``$MUXI_PROXY_LOG`` for each request before it goes upstream."""

    def before_upstream_connection(self, request: HttpParser) -> HttpParser | None:
        host = request.host.decode() if request.host else ""
        with open(os.environ["MUXI_PROXY_LOG"], "a", encoding="utf-8") as log:
            log.write(f"{request.method.decode() if request.method else ''} {host}:{request.port}\n")
        return request


class ProxyServer:
    """proxy.py in a child process (its own process group, ended with it); ``url`` once started."""

    def __init__(self, directory: Path) -> None:
        self._log = directory / "proxy.log"
        self._port_file = directory / "proxy.port"
        self._log.write_text("")
        self._process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> ProxyServer:
        env = dict(os.environ, MUXI_PROXY_LOG=str(self._log), PYTHONPATH=str(Path(__file__).resolve().parent))
        for name in list(env):
            if name.lower().endswith("_proxy"):
                del env[name]  # the proxy itself connects directly
        self._process = subprocess.Popen(
            [sys.executable, "-m", "proxy", "--hostname", "127.0.0.1", "--port", "0",
             "--port-file", str(self._port_file), "--num-workers", "1", "--num-acceptors", "1",
             "--plugins", "proxy_server.Recorder", "--log-level", "ERROR"],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + _STARTUP
        while not (self._port_file.exists() and self._port_file.read_text().strip()):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("proxy.py did not start")
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{int(self._port_file.read_text())}"
        return self

    def seen(self) -> list[str]:
        """The requests forwarded or tunnelled so far, oldest first."""
        return self._log.read_text(encoding="utf-8").splitlines()

    def clear(self) -> None:
        self._log.write_text("")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)  # proxy.py's acceptor and worker are in its group
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def __enter__(self) -> ProxyServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
