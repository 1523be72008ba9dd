"""One SSL context per process for ``verify=True``/``False`` and each ALPN list, never mutated.

Loading the system CAs costs about 20 ms; the httpcore transports paid it at every construction and
the others (socket, anyio, trio) at every first TLS connection. Now transports share a context per (verify, ALPN
list), whose ALPN list is pinned: httpcore's per-connection ``set_alpn_protocols`` with the same
list changes nothing, so sharing is safe across threads and pools.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from unittest import mock

import pytest
from conftest import ServeFactory

from muxi_proto.errors import ConfigurationError
from muxi_proto.http import Request
from muxi_transports import (
    AnyIOTransport,
    AsyncHTTPCoreTransport,
    HTTPCoreTransport,
    SocketTransport,
    _httpcore_compat,
    _tls,
)
from muxi_transports._httpcore_shared import origin_ssl_context as _origin_ssl_context
from muxi_transports.trio_transport import TrioTransport
from tests.httpserver import ResponseWriter, ServerRequest


@pytest.fixture
def fresh_cache(monkeypatch: pytest.MonkeyPatch) -> Iterator[mock.Mock]:
    """An empty process-wide cache, and a count of the contexts built with the system CAs."""
    monkeypatch.setattr(_tls, "_shared", {})
    with mock.patch.object(_tls.ssl, "create_default_context", wraps=ssl.create_default_context) as built:
        yield built


def _pool_context(transport: HTTPCoreTransport | AsyncHTTPCoreTransport) -> ssl.SSLContext:
    ctx: ssl.SSLContext = transport._pool._ssl_context  # type: ignore[attr-defined]
    return ctx


def test_transports_share_one_context_per_verify_and_alpn(fresh_cache: mock.Mock) -> None:
    sync, other, async_ = HTTPCoreTransport(), HTTPCoreTransport(), AsyncHTTPCoreTransport()
    assert _pool_context(sync) is _pool_context(other) is _pool_context(async_)
    assert fresh_cache.call_count == 1  # three transports, the CAs loaded once
    unverified = HTTPCoreTransport(verify=False)
    assert _pool_context(unverified) is not _pool_context(sync)
    assert _pool_context(unverified).verify_mode == ssl.CERT_NONE and not _pool_context(unverified).check_hostname
    # httpcore's list for each http2 setting gets its own context: pools never set each other's ALPN.
    assert _origin_ssl_context(True, True) is not _origin_ssl_context(True, False)
    assert _origin_ssl_context(True, True) is _origin_ssl_context(True, True)
    assert fresh_cache.call_count == 3
    for transport in (sync, other, unverified):
        transport.close()


def test_a_ca_path_or_an_own_context_is_never_shared(ca_path: str) -> None:
    first, second = HTTPCoreTransport(verify=ca_path), HTTPCoreTransport(verify=ca_path)
    assert _pool_context(first) is not _pool_context(second)
    own = ssl.create_default_context()
    with HTTPCoreTransport(verify=own) as third:
        assert _pool_context(third) is own
    first.close()
    second.close()


def test_socket_transport_builds_no_context_until_its_first_tls_connection(
    fresh_cache: mock.Mock, serve: ServeFactory
) -> None:
    async def ok(request: ServerRequest, response: ResponseWriter) -> None:
        await response.respond(200, body=b"plain")

    server = serve(ok)
    for verify in (True, False):
        with SocketTransport(verify=verify) as transport, transport.send(Request("GET", server.url)) as response:
            assert response.read() == b"plain"
    assert fresh_cache.call_count == 0


def test_the_pinned_list_is_accepted_and_changes_nothing_another_is_refused() -> None:
    ctx = _tls.shared_ssl_context(True, ["http/1.1", "h2"])
    ctx.set_alpn_protocols(["http/1.1", "h2"])  # what httpcore does before each connection
    with pytest.raises(ConfigurationError, match="cannot change"):
        ctx.set_alpn_protocols(["h2"])
    reference = ssl.create_default_context()
    for setting in ("verify_mode", "check_hostname", "options", "verify_flags", "minimum_version", "protocol"):
        assert getattr(ctx, setting) == getattr(reference, setting), setting
    assert ctx.cert_store_stats() == reference.cert_store_stats()


def test_transports_made_at_once_on_many_threads_build_one_context(fresh_cache: mock.Mock) -> None:
    barrier = threading.Barrier(16)
    contexts: list[ssl.SSLContext] = []

    def make() -> None:
        barrier.wait()
        contexts.append(_pool_context(HTTPCoreTransport()))

    threads = [threading.Thread(target=make) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(contexts) == 16 and len({id(c) for c in contexts}) == 1
    assert fresh_cache.call_count == 1


async def hello(request: ServerRequest, response: ResponseWriter) -> None:
    await response.respond(200, body=b"secure")


def test_sync_transports_connect_through_the_shared_context_concurrently(
    serve: ServeFactory, server_ssl_context: ssl.SSLContext
) -> None:
    server = serve(hello, ssl_context=server_ssl_context)
    failures: list[BaseException] = []
    transports = [HTTPCoreTransport(verify=False), HTTPCoreTransport(verify=False), SocketTransport(verify=False)]

    def worker(transport: HTTPCoreTransport | SocketTransport) -> None:
        try:
            for _ in range(3):
                with transport.send(Request("GET", server.url)) as response:
                    assert response.read() == b"secure"
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in transports for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for transport in transports:
        transport.close()
    assert failures == []
    assert len(server.requests) == 36


@pytest.mark.anyio
async def test_async_transport_connects_through_the_shared_context(
    serve: ServeFactory, server_ssl_context: ssl.SSLContext
) -> None:
    server = serve(hello, ssl_context=server_ssl_context)
    async with AsyncHTTPCoreTransport(verify=False) as transport:
        assert isinstance(_pool_context(transport), _httpcore_compat._PinnedALPN)
        for _ in range(2):
            async with await transport.send(Request("GET", server.url)) as response:
                assert await response.aread() == b"secure"
    assert server.connections_opened == 1


@pytest.mark.anyio
async def test_h11_async_transports_share_the_context_and_build_none_for_plain_http(
    fresh_cache: mock.Mock, serve: ServeFactory, server_ssl_context: ssl.SSLContext, anyio_backend: str
) -> None:
    plain = serve(hello)
    secure = serve(hello, ssl_context=server_ssl_context)
    kinds: list[type[AnyIOTransport] | type[TrioTransport]] = [AnyIOTransport]
    if anyio_backend == "trio":
        kinds.append(TrioTransport)
    contexts = []
    for kind in kinds:
        for _ in range(2):
            async with kind(verify=False) as transport:
                async with await transport.send(Request("GET", plain.url)) as response:
                    assert await response.aread() == b"secure"
                assert transport._ssl_context is None  # plain HTTP loads no CAs
                async with await transport.send(Request("GET", secure.url)) as response:
                    assert await response.aread() == b"secure"
                contexts.append(transport._ssl_context)
    assert contexts[0] is _tls.shared_ssl_context(False, _tls.HTTP1_ALPN)
    assert len({id(c) for c in contexts}) == 1
    assert fresh_cache.call_count == 1  # every transport, the context built once
