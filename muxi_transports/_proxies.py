"""Which proxy a request goes through: the one given, or the environment's, read as httpx reads it.

Pure logic (no I/O, no global state: the environment is passed in), so the rules are tested as
tables and against httpx itself as an oracle (``tests/test_transport_proxies.py``).

The environment (when ``trust_env`` is on, the default):

- ``HTTP_PROXY`` for ``http://`` URLs, ``HTTPS_PROXY`` for ``https://`` URLs (the proxy is then
  asked to ``CONNECT`` and TLS runs end to end through the tunnel), ``ALL_PROXY`` for either when
  the scheme's own variable is not set. Lowercase names win over uppercase ones, an empty
  lowercase value unsets the variable, and under CGI (``REQUEST_METHOD`` set) uppercase
  ``HTTP_PROXY`` is ignored, since a client's ``Proxy:`` header can set it there (CVE-2016-1000110).
  A value without a scheme means ``http://``.
- ``NO_PROXY``: comma-separated hosts that go direct. ``*`` turns every proxy off;
  ``example.com`` matches it and its subdomains, ``.example.com`` (or ``*.example.com``) only the
  subdomains; ``localhost``, IPv4 and IPv6 addresses match exactly, or a network given as
  ``10.0.0.0/8``; ``host:port`` matches that port only; ``http://host`` that scheme and exactly
  that host.

Where httpx is looser we follow curl and the intent: a port in ``NO_PROXY`` is compared with the
URL's effective port (``host:80`` matches ``http://host/``, which httpx misses), networks are
matched as networks (httpx compares ``10.0.0.0/8`` with the one address ``10.0.0.0``), and a
leading ``*.`` is read as ``.`` (httpx matches nothing then).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from muxi_proto.errors import ConfigurationError
from muxi_proto.http import without_userinfo

__all__ = ["EnvironmentProxies", "environment_proxies", "select_proxy", "validate_proxy"]

_SCHEMES: Final = ("http", "https", "all", "no")
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class _Exclusion:
    """One ``NO_PROXY`` entry."""

    scheme: str | None  # only for entries written as URLs
    host: str  # lowercase; for domains without the leading dot
    port: int | None
    subdomains_only: bool = False  # ".example.com"
    exact: bool = False  # "localhost", and names in entries written as URLs ("http://example.com")
    network: _Network | None = None  # addresses and networks

    def matches(self, scheme: str, host: str, port: int) -> bool:
        if self.scheme is not None and self.scheme != scheme:
            return False
        if self.port is not None and self.port != port:
            return False
        if self.network is not None:
            try:
                address = ipaddress.ip_address(host)
            except ValueError:
                return False
            return address.version == self.network.version and address in self.network
        if self.exact:
            return host == self.host
        if self.subdomains_only:
            return host.endswith("." + self.host)
        return host == self.host or host.endswith("." + self.host)


@dataclass(frozen=True)
class EnvironmentProxies:
    """The proxy variables of an environment, read once: :meth:`for_url` picks one for a URL."""

    http: str | None = None
    https: str | None = None
    all: str | None = None
    exclusions: tuple[_Exclusion, ...] = ()
    bypass_all: bool = False  # NO_PROXY=*

    def for_url(self, url: str) -> str | None:
        """The proxy URL for ``url``, or None to connect directly."""
        if self.bypass_all or not (self.http or self.https or self.all):
            return None
        scheme, host, port = _origin(url)
        if any(exclusion.matches(scheme, host, port) for exclusion in self.exclusions):
            return None
        own = self.https if scheme == "https" else self.http
        return own or self.all


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, host, port if port is not None else _DEFAULT_PORTS.get(scheme, 0)


def _variables(environ: Mapping[str, str]) -> dict[str, str]:
    """``{"http": ..., "https": ..., "all": ..., "no": ...}`` as ``urllib.request`` reads them."""
    found: dict[str, str] = {}
    for name, value in environ.items():  # any case first...
        lower = name.lower()
        if value and lower.endswith("_proxy"):
            found[lower[:-6]] = value
    if "REQUEST_METHOD" in environ:
        found.pop("http", None)
    for name, value in environ.items():  # ...then lowercase names, which win (empty ones unset)
        if name.endswith("_proxy"):
            key = name.lower()[:-6]
            if value:
                found[key] = value
            else:
                found.pop(key, None)
    return {key: value for key, value in found.items() if key in _SCHEMES}


def _exclusion(entry: str) -> _Exclusion | None:
    scheme = None
    if "://" in entry:
        scheme, _, entry = entry.partition("://")
        scheme = None if scheme.lower() == "all" else scheme.lower()
        if _network(entry) is None:  # keep "10.0.0.0/8" whole; drop a path otherwise
            entry = entry.split("/", 1)[0]
    network = _network(entry)  # 10.0.0.0/8, 127.0.0.1, ::1, [::1], fe80::/10
    if network is not None:
        return _Exclusion(scheme, "", None, network=network)
    host, port = _host_port(entry)  # name:port, 127.0.0.1:8080, [::1]:8080
    if not host:
        return None
    network = _network(host)
    if network is not None:
        return _Exclusion(scheme, "", port, network=network)
    if host.startswith("*."):
        host = host[1:]
    elif host == "localhost" or (scheme is not None and not host.startswith(".")):
        return _Exclusion(scheme, host, port, exact=True)
    return _Exclusion(scheme, host.lstrip("."), port, subdomains_only=host.startswith("."))


def _network(text: str) -> _Network | None:
    if text.startswith("["):
        inner, closed, rest = text[1:].partition("]")
        if not closed or (rest and not rest.startswith("/")):
            return None
        text = inner + rest
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _host_port(entry: str) -> tuple[str, int | None]:
    entry = entry.lower()
    if entry.startswith("["):  # [::1]:8080
        host, _, rest = entry[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif entry.count(":") == 1:
        host, _, port_text = entry.partition(":")
    else:  # a name, or an IPv6 address (no port without brackets)
        host, port_text = entry, ""
    return host.rstrip("."), int(port_text) if port_text.isdigit() else None


def environment_proxies(environ: Mapping[str, str]) -> EnvironmentProxies:
    """The proxies ``environ`` names (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``, ``NO_PROXY``)."""
    found = _variables(environ)

    def url(key: str) -> str | None:
        value = found.get(key)
        if not value:
            return None
        return value if "://" in value else f"http://{value}"

    exclusions: list[_Exclusion] = []
    bypass_all = False
    for entry in (part.strip() for part in found.get("no", "").split(",")):
        if entry == "*":
            bypass_all = True
        elif entry:
            exclusion = _exclusion(entry)
            if exclusion is not None:
                exclusions.append(exclusion)
    return EnvironmentProxies(url("http"), url("https"), url("all"), tuple(exclusions), bypass_all)


def validate_proxy(proxy: str) -> str:
    """``proxy`` if it is an ``http://`` or ``https://`` proxy URL; else :class:`ConfigurationError`.

    The message never shows the credentials a proxy URL may carry.
    """
    try:
        parts = urlsplit(proxy)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            "INVALID_PROXY", f"proxy must be an http:// or https:// URL, not {without_userinfo(proxy)!r}"
        )
    return proxy


def select_proxy(
    url: str, *, proxy: str | None = None, trust_env: bool = True, environ: Mapping[str, str] | None = None
) -> str | None:
    """The proxy for requests to ``url``: ``proxy`` if given (for every URL, as httpx does), else the
    environment's when ``trust_env`` (``NO_PROXY`` applied), else None."""
    if proxy is not None:
        return validate_proxy(proxy)
    if not trust_env or environ is None:
        return None
    chosen = environment_proxies(environ).for_url(url)
    return validate_proxy(chosen) if chosen is not None else None
