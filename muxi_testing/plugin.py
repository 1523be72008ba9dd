"""The pytest plugin: local MUXI server fixtures, registered when muxi-client is installed.

::

    def test_chat(muxi_server):
        client = FormationClient(muxi_server.formation_config())
        assert client.chat({"message": "hi"}, user_id="u1")["message"]["content"] == "hi"

``muxi_server`` is a fresh :class:`~muxi_testing.LocalMuxiServer` per test, serving your formation
directory when one is configured -- ``--muxi-formation DIR`` on the command line or
``muxi_formation = DIR`` in the ini file (relative to the ini file) -- and the built-in demo
formation otherwise. ``muxi_server_factory(**options)`` starts more (with options); every server
stops at the end of its test. The plugin loads itself through the ``pytest11`` entry point;
``pytest_plugins = ["muxi_testing.plugin"]`` in a ``conftest.py`` also works.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .server import LocalMuxiServer

__all__ = ["muxi_formation", "muxi_server", "muxi_server_factory", "pytest_addoption"]

ServerFactory = Callable[..., LocalMuxiServer]


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--muxi-formation`` and the ``muxi_formation`` ini setting."""
    parser.addoption("--muxi-formation", metavar="DIR", default=None,
                     help="formation directory the muxi_server fixture serves (default: the demo formation)")
    parser.addini("muxi_formation", "formation directory the muxi_server fixture serves", type="paths",
                  default=[])


@pytest.fixture(scope="session")
def muxi_formation(pytestconfig: pytest.Config) -> Path | None:
    """The formation directory configured for ``muxi_server`` (None: the demo formation)."""
    given = pytestconfig.getoption("--muxi-formation")
    if given:
        return Path(given)
    configured = pytestconfig.getini("muxi_formation")
    return Path(configured[0]) if configured else None


@pytest.fixture
def muxi_server_factory() -> Iterator[ServerFactory]:
    """``factory(**options)`` starts a :class:`LocalMuxiServer`; every one stops at teardown."""
    servers: list[LocalMuxiServer] = []

    def start(**options: Any) -> LocalMuxiServer:
        server = LocalMuxiServer(**options).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def muxi_server(muxi_server_factory: ServerFactory, muxi_formation: Path | None) -> LocalMuxiServer:
    """A running local MUXI server: your formation (``--muxi-formation``) or ``demo-formation``."""
    if muxi_formation is None:
        return muxi_server_factory()
    return muxi_server_factory(formation=muxi_formation)
