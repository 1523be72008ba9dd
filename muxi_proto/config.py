"""Client configuration: the official SDK's fields, validated at construction.

``ServerConfig`` and ``FormationConfig`` keep every field (and positional order) of the official
package. Bad input fails here, before anything is sent, with a :class:`ConfigurationError`
(also a ``ValueError``). Secrets never appear in ``repr()``.

Environment fallbacks (``from_env``): ``MUXI_SERVER_URL``, ``MUXI_KEY_ID``, ``MUXI_SECRET_KEY``,
``MUXI_FORMATION_ID``, ``MUXI_FORMATION_URL`` (direct runtime URL), ``MUXI_FORMATION_MODE``,
``MUXI_ADMIN_KEY``, ``MUXI_CLIENT_KEY``, ``MUXI_DEBUG``. Explicit arguments win over the environment;
empty variables count as unset.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, TypedDict, TypeVar
from urllib.parse import urlsplit

from .errors import ConfigurationError
from .http import Timeout

__all__ = [
    "FORMATION_ID_PATTERN",
    "ConfigFields",
    "RESERVED_FORMATION_IDS",
    "FormationConfig",
    "ServerConfig",
    "env_flag",
    "validate_formation_id",
]

FORMATION_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{1,48}[a-z0-9]")
RESERVED_FORMATION_IDS = frozenset({"health", "ping", "rpc", "server", "admin", "metrics", "api"})
MODES = ("live", "draft")
_SECRET_FIELDS = frozenset({"secret_key", "admin_key", "client_key"})
_FALSE_WORDS = frozenset({"", "0", "false", "no", "off"})
_AUTHORITY_END = re.compile(r"[/?#]")

C = TypeVar("C", "ServerConfig", "FormationConfig")

_SERVER_ENV = {"url": "MUXI_SERVER_URL", "key_id": "MUXI_KEY_ID", "secret_key": "MUXI_SECRET_KEY"}
_FORMATION_ENV = {
    "formation_id": "MUXI_FORMATION_ID",
    "url": "MUXI_FORMATION_URL",
    "server_url": "MUXI_SERVER_URL",
    "admin_key": "MUXI_ADMIN_KEY",
    "client_key": "MUXI_CLIENT_KEY",
    "mode": "MUXI_FORMATION_MODE",
}


def env_flag(value: str | None) -> bool:
    """``MUXI_DEBUG``-style flag: unset, empty, ``0``, ``false``, ``no``, ``off`` are false."""
    return value is not None and value.strip().lower() not in _FALSE_WORDS


def validate_formation_id(formation_id: str) -> str:
    """Return ``formation_id`` if the server would accept it, else raise ConfigurationError."""
    if not isinstance(formation_id, str) or FORMATION_ID_PATTERN.fullmatch(formation_id) is None:
        raise ConfigurationError(
            "INVALID_FORMATION_ID",
            f"invalid formation id {formation_id!r}: 3-50 characters of a-z, 0-9 and '-', "
            "starting and ending with a letter or digit",
        )
    if formation_id in RESERVED_FORMATION_IDS:
        raise ConfigurationError("INVALID_FORMATION_ID", f"formation id {formation_id!r} is reserved")
    return formation_id


_ENV_OF = {"url": "MUXI_SERVER_URL", "key_id": "MUXI_KEY_ID", "secret_key": "MUXI_SECRET_KEY",
           "admin_key": "MUXI_ADMIN_KEY", "client_key": "MUXI_CLIENT_KEY"}


def _check_url(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError("MISSING_URL", f"{name} is required" + (
            f" (or the {_ENV_OF[name]} variable)" if name in _ENV_OF else ""))
    url = value.strip()
    if "@" in _AUTHORITY_END.split(url.split("://", 1)[-1], maxsplit=1)[0]:
        # Never sent (keys travel in headers) and it would show in reprs, logs and messages.
        raise ConfigurationError("INVALID_URL", f"{name} must not contain user:password@ credentials")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise ConfigurationError("INVALID_URL", f"{name} is not a valid URL: {url!r}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            "INVALID_URL", f"{name} must be an http:// or https:// URL with a host, got {url!r}"
        )
    if parts.query or parts.fragment:
        raise ConfigurationError("INVALID_URL", f"{name} must not have a query or fragment: {url!r}")
    return url.rstrip("/")


def _check_secret(name: str, value: object, *, required: bool) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(
            "MISSING_CREDENTIAL",
            f"{name} is empty" + (f" (set it, or the {_ENV_OF[name]} variable)" if name in _ENV_OF else "")
            + ("" if required else "; omit it or pass None"),
        )
    if not value.strip().isprintable():
        # A line break would split the header it travels in; the value itself is never echoed.
        raise ConfigurationError("INVALID_CREDENTIAL", f"{name} contains control characters")
    return value.strip()


def _check_common(cfg: ServerConfig | FormationConfig) -> None:
    if isinstance(cfg.max_retries, bool) or not isinstance(cfg.max_retries, int) or cfg.max_retries < 0:
        raise ConfigurationError(
            "INVALID_CONFIG", f"max_retries must be an int >= 0, got {cfg.max_retries!r}"
        )
    t = cfg.timeout
    if t is not None and not isinstance(t, Timeout) and (
        isinstance(t, bool) or not isinstance(t, (int, float)) or not t > 0
    ):
        raise ConfigurationError(
            "INVALID_CONFIG", f"timeout must be a number > 0, a Timeout or None, got {t!r}"
        )
    if cfg.logger is not None and not isinstance(cfg.logger, logging.Logger):
        raise ConfigurationError("INVALID_CONFIG", "logger must be a logging.Logger")
    if cfg._app is not None and (not isinstance(cfg._app, str) or not cfg._app.strip()):
        raise ConfigurationError("INVALID_CONFIG", "_app must be a non-empty string")


def _masked_repr(cfg: object) -> str:
    parts = []
    for f in fields(cfg):  # type: ignore[arg-type]
        value = getattr(cfg, f.name)
        shown = ("'***'" if value else repr(value)) if f.name in _SECRET_FIELDS else repr(value)
        parts.append(f"{f.name}={shown}")
    return f"{type(cfg).__name__}({', '.join(parts)})"


def _from_env(cls: type[C], env_map: Mapping[str, str], environ: Mapping[str, str] | None,
              overrides: dict[str, Any]) -> C:
    source = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for field_name, var in env_map.items():
        raw = source.get(var)
        if raw is not None and raw.strip():
            values[field_name] = raw.strip()
    if env_flag(source.get("MUXI_DEBUG")):
        values["debug"] = True
    values.update({k: v for k, v in overrides.items() if v is not None})
    unknown = set(values) - {f.name for f in fields(cls)}
    if unknown:
        raise ConfigurationError("INVALID_CONFIG", f"unknown {cls.__name__} field(s): {sorted(unknown)}")
    try:
        return cls(**values)
    except TypeError as exc:  # a required field missing everywhere
        missing = [f.name for f in fields(cls) if f.name not in values and f.name in env_map]
        raise ConfigurationError(
            "MISSING_CONFIG",
            f"{cls.__name__} needs {', '.join(missing)} (arguments or "
            f"{', '.join(env_map[m] for m in missing)})",
        ) from exc


class ConfigFields(TypedDict, total=False):
    """The fields of both configs, as keywords of the clients and sans-IO APIs (``url=``, ...).

    One set for both planes, so a typo (``client_kye=``) fails type checking; a field of the other
    plane (``key_id=`` on a formation client) fails at construction with a ConfigurationError.
    """

    url: str | None
    key_id: str
    secret_key: str
    formation_id: str | None
    server_url: str | None
    base_url: str | None
    admin_key: str | None
    client_key: str | None
    max_retries: int
    timeout: float | Timeout | None
    debug: bool
    logger: logging.Logger | None
    mode: str
    _app: str | None


@dataclass(repr=False)
class ServerConfig:
    """Control-plane settings: server URL, HMAC key id and secret, retries, timeout, logging.

    ``timeout``: seconds for each phase (connect, read, write, pool) as in the official SDK, None for
    no limit, or a :class:`~muxi_proto.http.Timeout` (e.g. ``Timeout.of(30, total=60)`` to also bound
    each whole attempt of a non-stream call).
    """

    url: str
    key_id: str
    secret_key: str
    max_retries: int = 0
    timeout: float | Timeout | None = 30
    debug: bool = False
    logger: logging.Logger | None = None
    _app: str | None = None

    def __post_init__(self) -> None:
        self.url = _check_url("url", self.url)
        self.key_id = _check_secret("key_id", self.key_id, required=True) or ""
        self.secret_key = _check_secret("secret_key", self.secret_key, required=True) or ""
        _check_common(self)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> ServerConfig:
        """Build from keyword arguments, filling what is missing from ``MUXI_*`` variables."""
        return _from_env(cls, _SERVER_ENV, environ, overrides)

    def __repr__(self) -> str:
        return _masked_repr(self)


@dataclass(repr=False)
class FormationConfig:
    """Formation-plane settings (``timeout`` as in :class:`ServerConfig`).

    The base URL is ``base_url`` as given, else ``url + "/v1"`` (a runtime reached directly), else
    ``server_url + "/api/{formation_id}/v1"`` (``"/draft/..."`` when ``mode="draft"``).
    """

    formation_id: str | None = None
    url: str | None = None
    server_url: str | None = None
    base_url: str | None = None
    admin_key: str | None = None
    client_key: str | None = None
    max_retries: int = 0
    timeout: float | Timeout | None = 30
    debug: bool = False
    logger: logging.Logger | None = None
    mode: str = "live"
    _app: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigurationError("INVALID_CONFIG", f"mode must be 'live' or 'draft', got {self.mode!r}")
        if self.formation_id is not None:
            validate_formation_id(self.formation_id)
        for name in ("base_url", "url", "server_url"):
            if getattr(self, name) is not None:
                setattr(self, name, _check_url(name, getattr(self, name)))
        if self.base_url is None and self.url is None:
            if self.server_url is None:
                raise ConfigurationError(
                    "MISSING_URL",
                    "FormationConfig needs base_url, url (or MUXI_FORMATION_URL), or server_url "
                    "(or MUXI_SERVER_URL) with formation_id (or MUXI_FORMATION_ID)",
                )
            if self.formation_id is None:
                raise ConfigurationError("MISSING_CONFIG", "server_url needs a formation_id (or MUXI_FORMATION_ID)")
        self.admin_key = _check_secret("admin_key", self.admin_key, required=False)
        self.client_key = _check_secret("client_key", self.client_key, required=False)
        _check_common(self)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> FormationConfig:
        """Build from keyword arguments, filling what is missing from ``MUXI_*`` variables.

        An explicit ``base_url``, ``url`` or ``server_url`` wins: the environment's URLs are then
        not consulted.
        """
        env_map = _FORMATION_ENV
        if any(overrides.get(k) for k in ("base_url", "url", "server_url")):
            env_map = {k: v for k, v in env_map.items() if k not in ("url", "server_url")}
        return _from_env(cls, env_map, environ, overrides)

    @property
    def resolved_base_url(self) -> str:
        """The formation API base URL (ends in ``/v1``, no trailing slash)."""
        if self.base_url:
            return self.base_url
        if self.url:
            return self.url + "/v1"
        prefix = "draft" if self.mode == "draft" else "api"
        return f"{self.server_url}/{prefix}/{self.formation_id}/v1"

    def __repr__(self) -> str:
        return _masked_repr(self)
