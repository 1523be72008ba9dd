"""Proxies from the environment and ``proxy=``, through a real proxy server (proxy.py), ours and the official SDK.

Every case runs against origins on 127.0.0.1 (plain and TLS) and one proxy.py process whose plugin logs
each request it forwards (``GET host:port``) or tunnels (``CONNECT host:port``), so "went through the
proxy" is a fact, not a guess. Ours: the blocking client and the async one under asyncio and trio, on
their default transports. The official ``muxi`` SDK (httpx underneath, in its own virtual environment)
runs the same environment cases, sync and async, to show the behaviour is the one users switch from.
TLS to the origin is verified against the test CA through ``SSL_CERT_FILE`` (which both SDKs honour).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from muxi_proto.errors import ConfigurationError, TLSError
from muxi_transports import (
    AnyIOTransport,
    AsyncHTTPCoreTransport,
    AsyncServerClient,
    HTTPCoreTransport,
    ServerClient,
    SocketTransport,
)
from tests.httpserver import HTTPTestServer, ResponseWriter, ServerRequest
from tests.proxy_server import ProxyServer

ROOT = Path(__file__).resolve().parent.parent
KEY_ID, SECRET = "MUXI_proxytests01", "sk_" + "5" * 64
HEALTH = {"status": "healthy", "version": "1.0"}
_ENV_NAMES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUEST_METHOD", "SSL_CERT_FILE", "SSL_CERT_DIR")


async def health(request: ServerRequest, response: ResponseWriter) -> None:
    await response.respond(200, [("Content-Type", "application/json")], json.dumps(HEALTH).encode())


@pytest.fixture(scope="module")
def proxy() -> Iterator[ProxyServer]:
    with tempfile.TemporaryDirectory() as directory, ProxyServer(Path(directory)) as server:
        yield server


@pytest.fixture(scope="module")
def origins(server_ssl_context: Any) -> Iterator[dict[str, HTTPTestServer]]:
    plain, tls = HTTPTestServer(health).start(), HTTPTestServer(health, ssl_context=server_ssl_context).start()
    try:
        yield {"http": plain, "https": tls}
    finally:
        plain.stop()
        tls.stop()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, proxy: ProxyServer) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.upper() in _ENV_NAMES:
            monkeypatch.delenv(name)
    proxy.clear()
    return monkeypatch


# (id, variables with {proxy} and {port} filled in, the origin's scheme, what the proxy sees)
CASES: list[tuple[str, dict[str, str], str, str | None]] = [
    ("HTTP_PROXY", {"HTTP_PROXY": "{proxy}"}, "http", "GET"),
    ("http_proxy", {"http_proxy": "{proxy}"}, "http", "GET"),
    ("HTTPS_PROXY (CONNECT)", {"HTTPS_PROXY": "{proxy}"}, "https", "CONNECT"),
    ("https_proxy (CONNECT)", {"https_proxy": "{proxy}"}, "https", "CONNECT"),
    ("ALL_PROXY", {"ALL_PROXY": "{proxy}"}, "http", "GET"),
    ("ALL_PROXY for https (CONNECT)", {"ALL_PROXY": "{proxy}"}, "https", "CONNECT"),
    ("proxy without a scheme", {"HTTP_PROXY": "{hostport}"}, "http", "GET"),
    ("HTTPS_PROXY is not for http", {"HTTPS_PROXY": "{proxy}"}, "http", None),
    ("NO_PROXY address", {"HTTP_PROXY": "{proxy}", "NO_PROXY": "example.com, 127.0.0.1"}, "http", None),
    ("no_proxy host:port", {"https_proxy": "{proxy}", "no_proxy": "127.0.0.1:{port}"}, "https", None),
    ("NO_PROXY other port", {"HTTP_PROXY": "{proxy}", "NO_PROXY": "127.0.0.1:1"}, "http", "GET"),
    ("NO_PROXY=*", {"ALL_PROXY": "{proxy}", "NO_PROXY": "*"}, "https", None),
]
IDS = [case[0] for case in CASES]


def _environment(variables: dict[str, str], proxy: ProxyServer, origin: HTTPTestServer, ca_path: str) -> dict[str, str]:
    fill = {"proxy": proxy.url, "hostport": proxy.url.split("://", 1)[1], "port": str(origin.port)}
    env = {name: value.format(**fill) for name, value in variables.items()}
    env["SSL_CERT_FILE"] = ca_path
    return env


def _expected(seen: str | None, origin: HTTPTestServer) -> list[str]:
    return [] if seen is None else [f"{seen} 127.0.0.1:{origin.port}"]


def _set(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)


# --- ours --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("case", "variables", "scheme", "seen"), CASES, ids=IDS)
def test_blocking_client_follows_the_environment(
    clean_env: pytest.MonkeyPatch, proxy: ProxyServer, origins: dict[str, HTTPTestServer], ca_path: str,
    case: str, variables: dict[str, str], scheme: str, seen: str | None,
) -> None:
    origin = origins[scheme]
    _set(clean_env, _environment(variables, proxy, origin, ca_path))
    with ServerClient(url=origin.url, key_id=KEY_ID, secret_key=SECRET) as client:
        assert client.health() == HEALTH
        assert isinstance(client.transport, HTTPCoreTransport if seen else SocketTransport)
    assert proxy.seen() == _expected(seen, origin)


@pytest.mark.anyio
@pytest.mark.parametrize(("case", "variables", "scheme", "seen"), CASES, ids=IDS)
async def test_async_client_follows_the_environment(
    clean_env: pytest.MonkeyPatch, proxy: ProxyServer, origins: dict[str, HTTPTestServer], ca_path: str,
    case: str, variables: dict[str, str], scheme: str, seen: str | None,
) -> None:
    origin = origins[scheme]
    _set(clean_env, _environment(variables, proxy, origin, ca_path))
    async with AsyncServerClient(url=origin.url, key_id=KEY_ID, secret_key=SECRET) as client:
        assert await client.health() == HEALTH
        assert isinstance(client.transport, AsyncHTTPCoreTransport if seen else AnyIOTransport)
    assert proxy.seen() == _expected(seen, origin)


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_trust_env_false_ignores_the_proxy_variables(
    clean_env: pytest.MonkeyPatch, proxy: ProxyServer, origins: dict[str, HTTPTestServer], ca_path: str, scheme: str,
) -> None:
    origin = origins[scheme]
    _set(clean_env, {"HTTP_PROXY": proxy.url, "HTTPS_PROXY": proxy.url, "ALL_PROXY": proxy.url,
                     "SSL_CERT_FILE": ca_path})
    with ServerClient(url=origin.url, key_id=KEY_ID, secret_key=SECRET, trust_env=False) as client:
        assert isinstance(client.transport, SocketTransport)
        if scheme == "http":
            assert client.health() == HEALTH
        else:  # direct, and SSL_CERT_FILE is not read either: the test CA is unknown
            with pytest.raises(TLSError):
                client.health()
    assert proxy.seen() == []


@pytest.mark.anyio
async def test_async_trust_env_false_goes_direct(
    clean_env: pytest.MonkeyPatch, proxy: ProxyServer, origins: dict[str, HTTPTestServer],
) -> None:
    origin = origins["http"]
    _set(clean_env, {"HTTP_PROXY": proxy.url, "ALL_PROXY": proxy.url})
    async with AsyncServerClient(url=origin.url, key_id=KEY_ID, secret_key=SECRET, trust_env=False) as client:
        assert isinstance(client.transport, AnyIOTransport)
        assert await client.health() == HEALTH
    assert proxy.seen() == []


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_an_explicit_proxy_serves_every_url_even_with_no_proxy(
    clean_env: pytest.MonkeyPatch, proxy: ProxyServer, origins: dict[str, HTTPTestServer], ca_path: str, scheme: str,
) -> None:
    origin = origins[scheme]
    _set(clean_env, {"NO_PROXY": "127.0.0.1", "SSL_CERT_FILE": ca_path})  # as httpx: proxy= ignores NO_PROXY
    with ServerClient(url=origin.url, key_id=KEY_ID, secret_key=SECRET, proxy=proxy.url) as client:
        assert client.health() == HEALTH
    assert proxy.seen() == _expected("CONNECT" if scheme == "https" else "GET", origin)


@pytest.mark.anyio
async def test_async_explicit_proxy(
    clean_env: pytest.MonkeyPatch, proxy: ProxyServer, origins: dict[str, HTTPTestServer], ca_path: str,
) -> None:
    origin = origins["https"]
    clean_env.setenv("SSL_CERT_FILE", ca_path)
    async with AsyncServerClient(url=origin.url, key_id=KEY_ID, secret_key=SECRET, proxy=proxy.url) as client:
        assert await client.health() == HEALTH
    assert proxy.seen() == _expected("CONNECT", origin)


def test_proxy_settings_with_a_transport_of_ones_own_are_refused(clean_env: pytest.MonkeyPatch) -> None:
    with SocketTransport() as transport, pytest.raises(ConfigurationError):
        ServerClient(url="http://127.0.0.1:1", key_id=KEY_ID, secret_key=SECRET, transport=transport,
                     proxy="http://127.0.0.1:2")


@pytest.mark.parametrize("proxy_url", ["socks5://127.0.0.1:1080", "ftp://p", "http://", "http://host:notaport"])
def test_a_proxy_that_is_not_an_http_url_is_a_configuration_error(
    clean_env: pytest.MonkeyPatch, proxy_url: str,
) -> None:
    with pytest.raises(ConfigurationError) as info:
        ServerClient(url="http://127.0.0.1:1", key_id=KEY_ID, secret_key=SECRET, proxy=proxy_url)
    assert info.value.code == "INVALID_PROXY"
    clean_env.setenv("ALL_PROXY", "socks5://user:hunter2@127.0.0.1:1080")
    with pytest.raises(ConfigurationError) as env_info:
        ServerClient(url="http://127.0.0.1:1", key_id=KEY_ID, secret_key=SECRET)
    assert "hunter2" not in str(env_info.value)


# --- SSL_CERT_FILE / SSL_CERT_DIR --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca_dir(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The test CA in an OpenSSL hashed directory (``<subject hash>.0``), for ``SSL_CERT_DIR``."""
    directory = tmp_path_factory.mktemp("ca-dir")
    pem = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    subject_hash = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", str(pem)], check=True,
                                  capture_output=True, text=True).stdout.strip()
    pem.rename(directory / f"{subject_hash}.0")
    return str(directory)


@pytest.mark.parametrize("variable", ["SSL_CERT_FILE", "SSL_CERT_DIR"])
def test_ssl_cert_variables_name_the_cas_of_verify_true(
    clean_env: pytest.MonkeyPatch, origins: dict[str, HTTPTestServer], ca_path: str, ca_dir: str, variable: str,
) -> None:
    origin = origins["https"]
    with ServerClient(url=origin.url, key_id=KEY_ID, secret_key=SECRET) as client, pytest.raises(TLSError):
        client.health()  # the system's CAs do not know the test CA
    clean_env.setenv(variable, ca_path if variable == "SSL_CERT_FILE" else ca_dir)
    with ServerClient(url=origin.url, key_id=KEY_ID, secret_key=SECRET) as client:
        assert client.health() == HEALTH
    with ServerClient(url=origin.url, key_id=KEY_ID, secret_key=SECRET, trust_env=False) as client, \
            pytest.raises(TLSError):
        client.health()


@pytest.mark.anyio
async def test_async_clients_read_ssl_cert_file(
    clean_env: pytest.MonkeyPatch, origins: dict[str, HTTPTestServer], ca_path: str,
) -> None:
    origin = origins["https"]
    clean_env.setenv("SSL_CERT_FILE", ca_path)
    async with AsyncServerClient(url=origin.url, key_id=KEY_ID, secret_key=SECRET) as client:
        assert await client.health() == HEALTH
    async with AsyncServerClient(url=origin.url, key_id=KEY_ID, secret_key=SECRET, trust_env=False) as client:
        with pytest.raises(TLSError):
            await client.health()


def test_an_ssl_cert_file_that_does_not_exist_is_a_configuration_error(
    clean_env: pytest.MonkeyPatch, origins: dict[str, HTTPTestServer], tmp_path: Path,
) -> None:
    clean_env.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    with ServerClient(url=origins["https"].url, key_id=KEY_ID, secret_key=SECRET) as client, \
            pytest.raises(ConfigurationError):
        client.health()


# --- the official SDK, same environment cases --------------------------------------------------------------


@pytest.fixture(scope="module")
def official_python() -> str:
    """The official SDK's interpreter (``benchmarks/.venv-official``, built from PyPI on first use)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import official_env
    finally:
        sys.path.pop(0)
    return str(official_env.ensure())


@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.parametrize(("case", "variables", "scheme", "seen"), CASES, ids=IDS)
def test_the_official_sdk_does_the_same(
    clean_env: pytest.MonkeyPatch, proxy: ProxyServer, origins: dict[str, HTTPTestServer], ca_path: str,
    official_python: str, flavour: str, case: str, variables: dict[str, str], scheme: str, seen: str | None,
) -> None:
    origin = origins[scheme]
    env = {name: value for name, value in os.environ.items() if name.upper() not in _ENV_NAMES}
    env.update(_environment(variables, proxy, origin, ca_path), MUXI_SDK_VERSION_NOTIFICATION="0")
    args = json.dumps({"flavour": flavour, "url": origin.url, "key_id": KEY_ID, "secret_key": SECRET})
    with tempfile.TemporaryDirectory() as cwd:  # never the project root: `muxi` is the official package there
        done = subprocess.run([official_python, str(Path(__file__).with_name("official_client.py")), args],
                              env=env, cwd=cwd, capture_output=True, text=True, timeout=60, check=True)
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome.get("value") == HEALTH, outcome
    assert proxy.seen() == _expected(seen, origin)
