"""Building requests: from an operation and a config to signed, fully-headed HTTP requests.

An :class:`Operation` is one logical call (method, path relative to the plane's base, query, body,
which credential). A :class:`RequestBuilder` holds what a config contributes (base URL, keys,
SDK headers) and builds the request of each attempt, signed for the time it is sent; one logical
request across its retries is a :class:`~muxi_proto.call.CallMachine`.
"""

from __future__ import annotations

import enum
import json
import os
import platform
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote, urlencode

from .auth import sign_request
from .config import FormationConfig, ServerConfig
from .errors import ConfigurationError
from .http import Headers, Request, Timeout
from .version import __version__

__all__ = [
    "Auth",
    "Operation",
    "RequestBuilder",
    "client_header",
    "encode_json",
    "new_uuid4",
    "quote_segment",
]

SDK_NAME = "python"


class Auth(enum.Enum):
    """Which credential a route takes (docs/protocol.md §2, §8)."""

    NONE = "none"  # public: /health, /ping, formation /v1/health
    HMAC = "hmac"  # control plane /rpc
    ADMIN = "admin"  # X-MUXI-ADMIN-KEY only
    CLIENT = "client"  # X-MUXI-CLIENT-KEY only (an admin key gets 401)
    EITHER = "either"  # either key; the client key is preferred


def quote_segment(value: object) -> str:
    """Percent-encode one path segment (``/`` included), so ids cannot change the route."""
    text = str(value)
    if not text:
        raise ConfigurationError("INVALID_ARGUMENT", "an empty value cannot be a path segment")
    return quote(text, safe="")


def new_uuid4() -> str:
    """A random (version 4) UUID in its hyphenated form, as ``str(uuid.uuid4())`` gives.

    Built straight from 16 random bytes: ``uuid.UUID`` costs more than the request it labels.
    """
    h = os.urandom(16).hex()
    # Version nibble 4; variant bits 10 (the first hex digit of the fourth group is 8, 9, a or b).
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


_VARIANT = "89ab"


def encode_json(value: Any) -> bytes:
    """Compact UTF-8 JSON for request bodies."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


_client_header: str | None = None


def client_header() -> str:
    """``<os>-<arch>/py<version>``, computed once."""
    global _client_header  # noqa: PLW0603 - a process-wide constant, computed lazily
    if _client_header is None:
        system = platform.system().lower() or "unknown"
        machine = platform.machine().lower() or "unknown"
        _client_header = f"{system}-{machine}/py{platform.python_version()}"
    return _client_header


@dataclass(frozen=True, slots=True)
class Operation:
    """One logical API call, relative to its plane's base URL.

    ``idempotent_route`` marks POSTs the runtime deduplicates by idempotency key (safe to retry).
    ``stream`` asks for ``text/event-stream`` and a response body handed over incrementally.
    """

    method: str
    path: str
    auth: Auth
    query: tuple[tuple[str, str], ...] = ()
    body: bytes | None = field(default=None, repr=False)  # may carry secret values (create_secret)
    content_type: str | None = None
    headers: Headers = ()
    user_id: str | None = None
    stream: bool = False
    idempotent_route: bool = False

    @staticmethod
    def query_from(params: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> tuple[tuple[str, str], ...]:
        """Query pairs without ``None`` values; booleans as ``true``/``false``."""
        items = params.items() if isinstance(params, Mapping) else params
        out = []
        for key, value in items:
            if value is None:
                continue
            text = ("true" if value else "false") if isinstance(value, bool) else str(value)
            out.append((key, text))
        return tuple(out)


@dataclass
class RequestBuilder:
    """Turns operations into :class:`Request` values for one config.

    ``now`` is the clock used to sign (seconds since the epoch); ``new_id`` makes idempotency keys.
    """

    config: ServerConfig | FormationConfig
    sdk_header: str = f"{SDK_NAME}/{__version__}"
    client: str = field(default_factory=client_header)
    new_id: Callable[[], str] = new_uuid4

    def __post_init__(self) -> None:
        cfg = self.config
        self.base_url = cfg.url if isinstance(cfg, ServerConfig) else cfg.resolved_base_url
        # The path prefix of the base URL is part of what the server sees, hence of what is signed.
        after_scheme = self.base_url.split("://", 1)[1]
        slash = after_scheme.find("/")
        self._base_path = after_scheme[slash:] if slash >= 0 else ""
        # Calls to the MUXI server, or through its formation proxy (``/api/{id}``, ``/draft/{id}``): the
        # only answers that can carry ``X-Muxi-SDK-Latest``; a runtime itself never sends it
        # (docs/protocol.md §6).
        self.via_server = isinstance(cfg, ServerConfig) or "/api/" in self._base_path or "/draft/" in self._base_path
        t = cfg.timeout
        self.timeout = t if isinstance(t, Timeout) else Timeout.none() if t is None else Timeout.of(float(t))
        common: list[tuple[str, str]] = [("X-Muxi-SDK", self.sdk_header), ("X-Muxi-Client", self.client)]
        if cfg._app:
            common.append(("X-Muxi-App", cfg._app))
        self._common = tuple(common)

    def build(
        self,
        op: Operation,
        *,
        idempotency_key: str,
        timestamp: float,
        timeout: Timeout | Literal[False] | None = False,
        extra_headers: Headers = (),
        idle_timeout: float | None = None,
    ) -> Request:
        """The request for one attempt, signed for ``timestamp`` when the route needs HMAC.

        ``timeout`` replaces the config's for this request (False: keep it); ``extra_headers``
        are added last, each replacing a header of the same name; ``idle_timeout`` is a stream's
        read limit (see :meth:`Timeout.for_stream`).
        """
        target = op.path if not op.query else f"{op.path}?{urlencode(op.query)}"
        headers = list(self._common)
        headers.append(("X-Muxi-Idempotency-Key", idempotency_key))
        headers.extend(self._credentials(op, timestamp))
        if op.user_id:
            headers.append(("X-Muxi-User-ID", op.user_id))
        if op.stream:  # the same endpoints answer JSON or SSE by Accept (docs/protocol.md §5)
            headers.append(("Accept", "text/event-stream"))
        if op.body is not None and op.content_type:
            headers.append(("Content-Type", op.content_type))
        headers.extend(op.headers)
        if extra_headers:
            replaced = {name.lower() for name, _ in extra_headers}
            headers = [h for h in headers if h[0].lower() not in replaced]
            headers.extend(extra_headers)
        limits = self.timeout if timeout is False else Timeout.none() if timeout is None else timeout
        return Request(
            method=op.method,
            url=self.base_url + target,
            headers=tuple(headers),
            body=op.body or b"",
            stream=op.stream,
            timeout=limits.for_stream(idle_timeout) if op.stream else limits,
        )

    def _credentials(self, op: Operation, timestamp: float) -> list[tuple[str, str]]:
        cfg = self.config
        if op.auth is Auth.NONE:
            return []
        if op.auth is Auth.HMAC:
            if not isinstance(cfg, ServerConfig):
                raise ConfigurationError("MISSING_CREDENTIAL", "HMAC routes need a ServerConfig")
            value = sign_request(
                op.method, self._base_path + op.path,
                key_id=cfg.key_id, secret_key=cfg.secret_key, timestamp=int(timestamp),
            )
            return [("Authorization", value)]
        if not isinstance(cfg, FormationConfig):
            raise ConfigurationError("MISSING_CREDENTIAL", "formation routes need a FormationConfig")
        if op.auth is Auth.ADMIN or (op.auth is Auth.EITHER and not cfg.client_key):
            if not cfg.admin_key:
                raise ConfigurationError(
                    "MISSING_CREDENTIAL",
                    f"{op.method} {op.path} needs the formation's admin_key (or the MUXI_ADMIN_KEY variable)",
                )
            return [("X-MUXI-ADMIN-KEY", cfg.admin_key)]
        if not cfg.client_key:
            raise ConfigurationError(
                "MISSING_CREDENTIAL",
                f"{op.method} {op.path} needs the formation's client_key (or the MUXI_CLIENT_KEY variable)",
            )
        return [("X-MUXI-CLIENT-KEY", cfg.client_key)]
