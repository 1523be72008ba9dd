"""HTTP value objects passed between the protocol core and the transports.

A :class:`Request` is everything a transport needs to put one exchange on the wire; a
:class:`Response` is a complete answer (status, headers, body) for the pure decoders. Headers are
tuples of ``(name, value)`` string pairs: ordered, repeatable, cheap to build.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from urllib.parse import SplitResult, urlsplit, urlunsplit

from .errors import ConfigurationError

__all__ = [
    "DEFAULT_TIMEOUT",
    "Headers",
    "Request",
    "Response",
    "Timeout",
    "get_header",
    "get_headers",
    "without_userinfo",
]

Headers = tuple[tuple[str, str], ...]

DEFAULT_TIMEOUT = 30.0
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


@dataclass(frozen=True, slots=True)
class Timeout:
    """Per-phase timeouts in seconds; ``None`` for a phase means wait for ever.

    ``connect``, ``read``, ``write`` and ``pool`` bound each single step. ``total`` (off by default)
    bounds one whole attempt of a non-stream call: waiting for a connection, connecting, sending and
    reading the entire answer. A server that drips one byte per second never trips a read timeout;
    only ``total`` stops it (a :class:`~muxi_proto.errors.TimeoutError` with
    ``details["phase"] == "total"``). Retries get a fresh ``total`` each.

    ``Timeout.none()`` is what streams use: image pulls can keep a deployment stream silent for
    minutes, so a read timeout would break healthy streams.
    """

    connect: float | None = DEFAULT_TIMEOUT
    read: float | None = DEFAULT_TIMEOUT
    write: float | None = DEFAULT_TIMEOUT
    pool: float | None = DEFAULT_TIMEOUT
    total: float | None = None

    def __post_init__(self) -> None:
        for name in ("connect", "read", "write", "pool", "total"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or not value > 0):
                raise ConfigurationError(
                    "INVALID_CONFIG", f"timeout {name} must be a number > 0 or None, got {value!r}"
                )

    @classmethod
    def of(cls, seconds: float | None, *, total: float | None = None) -> Timeout:
        """The same limit for every phase (the official ``timeout`` number), plus an optional ``total``."""
        return cls(seconds, seconds, seconds, seconds, total)

    @classmethod
    def none(cls) -> Timeout:
        """No limit at all."""
        return cls(None, None, None, None)

    def for_stream(self, idle: float | None = None) -> Timeout:
        """Keep connect/write/pool limits, drop ``total`` (a stream has no end to wait for), and
        make ``read`` the stream's idle limit: ``idle`` seconds without a byte (keepalive
        comments count), or none by default (a deployment can be silent for minutes)."""
        return Timeout(self.connect, idle, self.write, self.pool)


@dataclass(frozen=True)
class Request:
    """One HTTP exchange to perform.

    ``stream`` says the response body is a stream to hand over incrementally, never to buffer.
    ``url`` is absolute (``http`` or ``https``); :attr:`target` is what goes on the request line.
    """

    method: str
    url: str
    headers: Headers = ()
    body: bytes = b""
    stream: bool = False
    timeout: Timeout = field(default_factory=Timeout)

    @cached_property
    def _split(self) -> SplitResult:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError("INVALID_URL", f"not an http(s) URL: {self.url!r}")
        return parts

    @property
    def scheme(self) -> str:
        """``http`` or ``https``."""
        return self._split.scheme

    @property
    def host(self) -> str:
        """Host name or address, without brackets for IPv6."""
        host = self._split.hostname
        assert host is not None  # checked in _split
        return host

    @property
    def port(self) -> int:
        """Explicit port, or the scheme's default."""
        port = self._split.port
        if port is not None:
            return port
        return 443 if self.scheme == "https" else 80

    @cached_property
    def origin(self) -> tuple[str, str, int]:
        """``(scheme, host, port)``: the key for connection pools (asked for several times a request)."""
        return (self.scheme, self.host, self.port)

    @property
    def target(self) -> str:
        """Path and query as sent on the request line."""
        parts = self._split
        path = parts.path or "/"
        return f"{path}?{parts.query}" if parts.query else path

    @property
    def path(self) -> str:
        """The path alone (what HMAC signs)."""
        return self._split.path or "/"

    def header(self, name: str) -> str | None:
        """First value of header ``name`` (case-insensitive), or None."""
        return get_header(self.headers, name)

    @property
    def host_header(self) -> str:
        """The ``Host`` value: the host (bracketed when IPv6) and the port unless it is the default."""
        host = self.host
        if ":" in host:
            host = f"[{host}]"
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"

    def wire_headers(self) -> Headers:
        """The headers as they go on the wire: ``Host`` first, then :attr:`headers`, then
        ``Content-Length`` when there is a body or the method carries one (docs/drivers.md).

        The request's own headers never include these two: HTTP libraries differ in whether they
        add them, so a driver that writes HTTP itself (h11, a raw socket) uses this.
        """
        headers: list[tuple[str, str]] = [("Host", self.host_header), *self.headers]
        if self.body or self.method in _BODY_METHODS:
            headers.append(("Content-Length", str(len(self.body))))
        return tuple(headers)

    def __repr__(self) -> str:
        # Headers hold keys and signatures: never show them.
        return f"<Request {self.method} {self.url} stream={self.stream}>"


@dataclass(frozen=True)
class Response:
    """A complete HTTP response."""

    status: int
    headers: Headers = ()
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """First value of header ``name`` (case-insensitive), or None."""
        return get_header(self.headers, name)

    def __repr__(self) -> str:
        return f"<Response {self.status} {len(self.body)} bytes>"


def get_header(headers: Iterable[tuple[str, str]] | Mapping[str, str], name: str) -> str | None:
    """First value of ``name`` in ``headers`` (case-insensitive)."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    lname = name.lower()
    for key, value in items:
        if key.lower() == lname:
            return value
    return None


def get_headers(headers: Iterable[tuple[str, str]], name: str) -> list[str]:
    """Every value of ``name`` in ``headers`` (case-insensitive), in order."""
    lname = name.lower()
    return [value for key, value in headers if key.lower() == lname]


def without_userinfo(url: str) -> str:
    """``url`` without any ``user:password@`` part (for messages and logs); ``"<invalid URL>"`` if
    it cannot be parsed."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
