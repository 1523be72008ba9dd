"""Proxy selection (``_proxies``, pure) against tables and against httpx as the oracle; the default-transport rule.

httpx 0.28's own reading of the environment (``get_environment_proxies`` and its URL patterns, the way
``httpx.Client`` mounts them) decides the same as ours for every environment and URL drawn, outside
the three places documented in ``_proxies`` where we follow curl instead (effective ports, networks,
``*.`` prefixes), which have table tests of their own.
"""

from __future__ import annotations

import os
from unittest import mock

import anyio
import httpx
import pytest
from httpx._utils import URLPattern, get_environment_proxies
from hypothesis import given, settings
from hypothesis import strategies as st

from muxi_proto.errors import ConfigurationError
from muxi_transports import (
    AnyIOTransport,
    AsyncHTTPCoreTransport,
    AsyncServerClient,
    HTTPCoreTransport,
    ServerClient,
    SocketTransport,
)
from muxi_transports._async.defaults import async_transport
from muxi_transports._proxies import environment_proxies, select_proxy
from muxi_transports._sync.defaults import sync_transport

P = "http://proxy.test:3128"
S = "http://secure-proxy.test:3129"


@pytest.mark.parametrize(("environ", "url", "expected"), [
    ({}, "http://a.test/", None),
    ({"HTTP_PROXY": P}, "http://a.test/", P),
    ({"HTTP_PROXY": P}, "https://a.test/", None),
    ({"HTTPS_PROXY": S}, "https://a.test/", S),
    ({"HTTPS_PROXY": S, "ALL_PROXY": P}, "https://a.test/", S),
    ({"ALL_PROXY": P}, "https://a.test:8443/", P),
    ({"all_proxy": "proxy.test:3128"}, "http://a.test/", P),  # no scheme: http://
    ({"HTTP_PROXY": "http://u:p@proxy.test:1"}, "http://a.test/", "http://u:p@proxy.test:1"),
    # lowercase wins; an empty lowercase value unsets; CGI ignores uppercase HTTP_PROXY
    ({"HTTP_PROXY": P, "http_proxy": S}, "http://a.test/", S),
    ({"HTTP_PROXY": P, "http_proxy": ""}, "http://a.test/", None),
    ({"HTTP_PROXY": P, "REQUEST_METHOD": "GET"}, "http://a.test/", None),
    ({"http_proxy": P, "REQUEST_METHOD": "GET"}, "http://a.test/", P),
    # NO_PROXY
    ({"ALL_PROXY": P, "NO_PROXY": "*"}, "http://a.test/", None),
    ({"ALL_PROXY": P, "NO_PROXY": "x.test, *"}, "http://a.test/", None),
    ({"ALL_PROXY": P, "NO_PROXY": "a.test"}, "http://a.test/", None),
    ({"ALL_PROXY": P, "NO_PROXY": "a.test"}, "http://www.a.test/", None),
    ({"ALL_PROXY": P, "NO_PROXY": "a.test"}, "http://wwwa.test/", P),
    ({"ALL_PROXY": P, "NO_PROXY": ".a.test"}, "http://a.test/", P),
    ({"ALL_PROXY": P, "NO_PROXY": ".a.test"}, "http://www.a.test/", None),
    ({"ALL_PROXY": P, "NO_PROXY": "A.TEST"}, "http://a.test/", None),
    ({"ALL_PROXY": P, "no_proxy": "localhost"}, "http://localhost:8000/", None),
    ({"ALL_PROXY": P, "no_proxy": "localhost"}, "http://x.localhost/", P),
    ({"ALL_PROXY": P, "NO_PROXY": "127.0.0.1"}, "http://127.0.0.1:9/", None),
    ({"ALL_PROXY": P, "NO_PROXY": "127.0.0.1"}, "http://127.0.0.2/", P),
    ({"ALL_PROXY": P, "NO_PROXY": "::1"}, "http://[::1]:8080/", None),
    ({"ALL_PROXY": P, "NO_PROXY": "[::1]"}, "http://[::1]/", None),
    ({"ALL_PROXY": P, "NO_PROXY": "a.test:8080"}, "http://a.test:8080/", None),
    ({"ALL_PROXY": P, "NO_PROXY": "a.test:8080"}, "http://a.test:8081/", P),
    ({"ALL_PROXY": P, "NO_PROXY": "127.0.0.1:8080"}, "http://127.0.0.1:8080/", None),
    ({"ALL_PROXY": P, "NO_PROXY": "[::1]:8080"}, "http://[::1]:8080/", None),
    ({"ALL_PROXY": P, "NO_PROXY": "http://a.test"}, "http://a.test/", None),
    ({"ALL_PROXY": P, "NO_PROXY": "http://a.test"}, "https://a.test/", P),
    ({"ALL_PROXY": P, "NO_PROXY": "http://a.test"}, "http://www.a.test/", P),
    # where we follow curl rather than httpx (see the module's docstring)
    ({"ALL_PROXY": P, "NO_PROXY": "a.test:80"}, "http://a.test/", None),
    ({"ALL_PROXY": P, "NO_PROXY": "a.test:443"}, "https://a.test/", None),
    ({"ALL_PROXY": P, "NO_PROXY": "10.0.0.0/8"}, "http://10.1.2.3/", None),
    ({"ALL_PROXY": P, "NO_PROXY": "10.0.0.0/8"}, "http://11.0.0.1/", P),
    ({"ALL_PROXY": P, "NO_PROXY": "fd00::/8"}, "http://[fd12::1]/", None),
    ({"ALL_PROXY": P, "NO_PROXY": "*.a.test"}, "http://www.a.test/", None),
    ({"ALL_PROXY": P, "NO_PROXY": "*.a.test"}, "http://a.test/", P),
])
def test_environment_table(environ: dict[str, str], url: str, expected: str | None) -> None:
    assert environment_proxies(environ).for_url(url) == expected
    assert select_proxy(url, environ=environ) == expected


def test_explicit_proxy_and_trust_env() -> None:
    environ = {"ALL_PROXY": P, "NO_PROXY": "a.test"}
    assert select_proxy("http://a.test/", proxy=S, environ=environ) == S  # for every URL, as httpx
    assert select_proxy("http://b.test/", trust_env=False, environ=environ) is None
    assert select_proxy("http://b.test/", environ=environ) == P
    with pytest.raises(ConfigurationError):
        select_proxy("http://b.test/", proxy="socks5://proxy.test:1080")


# --- httpx as the oracle -----------------------------------------------------------------------------------

HOSTS = ["a.test", "www.a.test", "wwwa.test", "b.test", "localhost", "127.0.0.1", "127.0.0.2", "::1", "10.1.2.3"]
NO_PROXY_ENTRIES = ["a.test", ".a.test", "A.Test", "b.test", "localhost", "127.0.0.1", "::1", "10.1.2.3", "*",
                    "a.test:8080", "127.0.0.1:8080", "http://a.test", "https://b.test", "", " "]
PROXIES = ["http://p1.test:1", "p2.test:2", "https://p3.test:3", ""]


def _httpx_choice(url: str, environ: dict[str, str]) -> str | None:
    """The proxy httpx.Client(trust_env=True) would use for ``url`` (its mounts, most specific first)."""
    with mock.patch.dict(os.environ, environ, clear=True):
        mounts = get_environment_proxies()
    target = httpx.URL(url)
    for pattern, proxy in sorted((URLPattern(key), value) for key, value in mounts.items()):
        if pattern.matches(target):
            return proxy
    return None


@st.composite
def environments(draw: st.DrawFn) -> dict[str, str]:
    environ: dict[str, str] = {}
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        if draw(st.booleans()):
            environ[name] = draw(st.sampled_from(PROXIES))
    if draw(st.booleans()):
        name = draw(st.sampled_from(["NO_PROXY", "no_proxy"]))
        environ[name] = ",".join(draw(st.lists(st.sampled_from(NO_PROXY_ENTRIES), max_size=4)))
    return environ


@settings(max_examples=1500, deadline=None)
@given(environments(), st.sampled_from(["http", "https"]), st.sampled_from(HOSTS),
       st.sampled_from([None, 8080, 9000]))
def test_same_choice_as_httpx(environ: dict[str, str], scheme: str, host: str, port: int | None) -> None:
    shown = f"[{host}]" if ":" in host else host
    url = f"{scheme}://{shown}{f':{port}' if port else ''}/v1/x"
    assert environment_proxies(environ).for_url(url) == _httpx_choice(url, environ)


# --- the default-transport rule ----------------------------------------------------------------------------


@pytest.mark.parametrize(("settings_", "environ", "sync_type", "async_type"), [
    ({}, {}, SocketTransport, AnyIOTransport),
    ({}, {"HTTPS_PROXY": P}, SocketTransport, AnyIOTransport),  # not for http://
    ({}, {"HTTP_PROXY": P}, HTTPCoreTransport, AsyncHTTPCoreTransport),
    ({}, {"HTTP_PROXY": P, "NO_PROXY": "127.0.0.1"}, SocketTransport, AnyIOTransport),
    ({"trust_env": False}, {"HTTP_PROXY": P}, SocketTransport, AnyIOTransport),
    ({"proxy": P}, {}, HTTPCoreTransport, AsyncHTTPCoreTransport),
    ({"max_connections": 5}, {}, HTTPCoreTransport, AsyncHTTPCoreTransport),
])
def test_the_default_rule(
    settings_: dict[str, object], environ: dict[str, str], sync_type: type, async_type: type
) -> None:
    url = "http://127.0.0.1:1/v1"
    sync = sync_transport(url, environ=environ, **settings_)  # type: ignore[arg-type]
    asynchronous = async_transport(url, environ=environ, **settings_)  # type: ignore[arg-type]
    assert type(sync) is sync_type and type(asynchronous) is async_type
    sync.close()


def test_http2_needs_httpcore_and_h2() -> None:
    try:
        import h2  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigurationError) as info:
            sync_transport("https://127.0.0.1:1", http2=True, environ={})
        assert info.value.code == "HTTP2_UNAVAILABLE"
    else:  # pragma: no cover - the h2 extra
        assert isinstance(sync_transport("https://127.0.0.1:1", http2=True, environ={}), HTTPCoreTransport)


def test_a_cap_reaches_the_httpcore_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)
    with ServerClient(url="http://127.0.0.1:1", key_id="MUXI_x", secret_key="sk_x", max_connections=3) as client:
        assert isinstance(client.transport, HTTPCoreTransport)
        assert client.transport._in_flight._semaphore._value == 3  # type: ignore[union-attr]


def test_a_client_made_outside_any_loop_serves_asyncio_and_trio(monkeypatch: pytest.MonkeyPatch) -> None:
    """The async default does not depend on the loop: one made before any loop runs under both."""
    from muxi_testing import LocalMuxiServer

    for name in list(os.environ):
        if name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)
    with LocalMuxiServer() as server:
        for backend in ("asyncio", "trio"):
            client = AsyncServerClient(server.server_config())
            assert isinstance(client.transport, AnyIOTransport)

            async def use(client: AsyncServerClient = client) -> object:
                async with client:
                    return await client.health()

            assert isinstance(anyio.run(use, backend=backend), dict)
