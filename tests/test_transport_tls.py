"""TLS for every transport: trustme certificates, each verify= form, and a wrong CA."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import trustme
from conftest import ServeFactory, TransportCase

from muxi_proto.errors import ConfigurationError, ConnectionError, TLSError
from muxi_proto.http import Request
from muxi_transports import HTTPCoreTransport, VerifyTypes
from muxi_transports._tls import ssl_context
from tests.httpserver import ResponseWriter, ServerRequest


async def hello(request: ServerRequest, response: ResponseWriter) -> None:
    await response.respond(200, body=b"secure " + request.target.encode())


def _verify_forms(ca: trustme.CA, ca_path: str) -> list[VerifyTypes]:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return [ca_path, Path(ca_path), ctx]


@pytest.mark.anyio
class TestAsync:
    @pytest.fixture
    def anyio_backend(self, transport_case: TransportCase) -> str:
        return transport_case.backend

    async def test_each_verify_form_with_keep_alive(
        self, transport_case: TransportCase, serve: ServeFactory, server_ssl_context: ssl.SSLContext,
        ca: trustme.CA, ca_path: str,
    ) -> None:
        server = serve(hello, ssl_context=server_ssl_context)
        assert server.url.startswith("https://127.0.0.1:")
        for verify in _verify_forms(ca, ca_path):
            async with transport_case.make(verify=verify) as transport:
                for i in range(3):
                    async with await transport.send(Request("GET", f"{server.url}/{i}")) as response:
                        assert await response.aread() == f"secure /{i}".encode()
        assert server.connections_opened == 3  # one per transport: TLS connections are reused

    async def test_verify_false_accepts_anything(
        self, transport_case: TransportCase, serve: ServeFactory, server_ssl_context: ssl.SSLContext
    ) -> None:
        server = serve(hello, ssl_context=server_ssl_context)
        async with transport_case.make(verify=False) as transport:
            response = await transport.send(Request("GET", server.url))
            assert response.status == 200
            await response.aclose()

    async def test_wrong_ca_is_a_tls_error(
        self, transport_case: TransportCase, serve: ServeFactory, server_ssl_context: ssl.SSLContext,
        other_ca_path: str,
    ) -> None:
        server = serve(hello, ssl_context=server_ssl_context)
        async with transport_case.make(verify=other_ca_path) as transport:
            with pytest.raises(TLSError) as info:
                await transport.send(Request("GET", f"{server.url}/x"))
        assert info.value.message.startswith(f"GET {server.url}/x: TLS certificate verification failed")
        assert info.value.__cause__ is not None
        assert server.wait_until(lambda s: s.tls_failures == 1)
        assert server.requests == []

    async def test_default_verify_rejects_a_private_ca(
        self, transport_case: TransportCase, serve: ServeFactory, server_ssl_context: ssl.SSLContext
    ) -> None:
        server = serve(hello, ssl_context=server_ssl_context)
        async with transport_case.make() as transport:
            with pytest.raises(TLSError):
                await transport.send(Request("GET", server.url))


def test_sync_each_verify_form(
    serve: ServeFactory, server_ssl_context: ssl.SSLContext, ca: trustme.CA, ca_path: str
) -> None:
    server = serve(hello, ssl_context=server_ssl_context)
    for verify in [*_verify_forms(ca, ca_path), False]:
        with HTTPCoreTransport(verify=verify) as transport:
            for _ in range(2):
                with transport.send(Request("GET", server.url)) as response:
                    assert response.read() == b"secure /"
    assert server.connections_opened == 4


def test_sync_wrong_ca(serve: ServeFactory, server_ssl_context: ssl.SSLContext, other_ca_path: str) -> None:
    server = serve(hello, ssl_context=server_ssl_context)
    transport = HTTPCoreTransport(verify=other_ca_path)
    with pytest.raises(TLSError, match="verification failed"):
        transport.send(Request("GET", server.url))
    transport.close()


def test_plain_client_against_a_tls_server_is_a_typed_error(
    serve: ServeFactory, server_ssl_context: ssl.SSLContext
) -> None:
    server = serve(hello, ssl_context=server_ssl_context)
    with HTTPCoreTransport() as transport, pytest.raises(ConnectionError, match="without sending a response"):
        transport.send(Request("GET", server.url.replace("https", "http")))
    assert server.wait_until(lambda s: s.tls_failures == 1)


def test_verify_forms_build_contexts(ca_path: str, tmp_path: Path) -> None:
    assert ssl_context(True).verify_mode == ssl.CERT_REQUIRED
    off = ssl_context(False)
    assert off.verify_mode == ssl.CERT_NONE and not off.check_hostname
    assert ssl_context(ca_path).get_ca_certs()
    own = ssl.create_default_context()
    assert ssl_context(own) is own
    with pytest.raises(ConfigurationError, match="CA bundle not found"):
        ssl_context(str(tmp_path / "missing.pem"))
    with pytest.raises(ConfigurationError):
        ssl_context(42)  # type: ignore[arg-type]
    assert ssl_context(str(tmp_path)).verify_mode == ssl.CERT_REQUIRED  # a CA directory
