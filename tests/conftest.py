"""Shared fixtures: anyio backends, a trustme CA, local HTTP servers, the async transport matrix."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import trustme

from muxi_transports import AnyIOTransport, AsyncHTTPCoreTransport, AsyncTransport
from tests.httpserver import Handler, HTTPTestServer

pytest_plugins = ["tests.secret_audit"]


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run every ``@pytest.mark.anyio`` test on asyncio and on trio."""
    return str(request.param)


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """A throwaway certificate authority."""
    return trustme.CA()


@pytest.fixture(scope="session")
def server_ssl_context(ca: trustme.CA) -> ssl.SSLContext:
    """Server side TLS for 127.0.0.1 and localhost, signed by :func:`ca`."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
    return ctx


@pytest.fixture(scope="session")
def ca_path(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    """:func:`ca`'s certificate as a PEM file (for ``verify="path"``)."""
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture(scope="session")
def other_ca_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A CA that signed nothing we serve: verification against it must fail."""
    path = tmp_path_factory.mktemp("other-ca") / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def unreachable_port() -> Iterator[int]:
    """A loopback port whose accept queue is full: new connections hang in the handshake."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port: int = server.getsockname()[1]
    clients: list[socket.socket] = []
    try:
        for _ in range(32):  # fill the queue until a connect attempt stalls
            client = socket.socket()
            clients.append(client)
            client.settimeout(0.05)
            try:
                client.connect(("127.0.0.1", port))
            except TimeoutError:
                break
        else:
            pytest.skip("could not fill the accept queue on this system")
        yield port
    finally:
        for client in clients:
            client.close()
        server.close()


ServeFactory = Callable[..., HTTPTestServer]


@pytest.fixture
def serve() -> Iterator[ServeFactory]:
    """``serve(handler, **options)`` starts an :class:`HTTPTestServer`; all stop at teardown."""
    servers: list[HTTPTestServer] = []

    def start(handler: Handler | None = None, **options: Any) -> HTTPTestServer:
        server = HTTPTestServer(handler, **options).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
    for server in servers:
        assert server.errors == [], server.errors


@dataclass(frozen=True)
class TransportCase:
    """An async transport under one event loop."""

    backend: str
    name: str

    def make(self, **options: Any) -> AsyncTransport:
        if self.name == "httpcore":
            return AsyncHTTPCoreTransport(**options)
        if self.name == "anyio":
            return AnyIOTransport(**options)
        from muxi_transports.trio_transport import TrioTransport

        return TrioTransport(**options)

    def __str__(self) -> str:
        return f"{self.backend}-{self.name}"


ASYNC_CASES = [
    TransportCase("asyncio", "httpcore"),
    TransportCase("asyncio", "anyio"),
    TransportCase("trio", "httpcore"),
    TransportCase("trio", "anyio"),
    TransportCase("trio", "trio"),
]


@pytest.fixture(params=ASYNC_CASES, ids=str)
def transport_case(request: pytest.FixtureRequest) -> TransportCase:
    """Every async transport on every loop it supports; pair with an ``anyio_backend`` override."""
    case: TransportCase = request.param
    return case


