"""A pytest plugin with local MUXI server fixtures.

In a ``conftest.py``::

    pytest_plugins = ["muxi_testing.plugin"]

    def test_chat(muxi_server):
        client = FormationClient(muxi_server.formation_config())
        assert client.chat({"message": "hi"}, user_id="u1")["message"]["content"] == "hi"

``muxi_server`` is a fresh :class:`LocalMuxiServer` per test; ``muxi_server_factory(**options)``
starts more (with options), all stopped at the end of the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .server import LocalMuxiServer

__all__ = ["muxi_server", "muxi_server_factory"]

ServerFactory = Callable[..., LocalMuxiServer]


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
def muxi_server(muxi_server_factory: ServerFactory) -> LocalMuxiServer:
    """A running local MUXI server with the default formation (``demo-formation``)."""
    return muxi_server_factory()
