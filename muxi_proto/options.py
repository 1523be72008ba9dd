"""Per-call options: what one call may change of its client's settings.

Every endpoint method takes them as keywords (``client.get_agents(timeout=5)``), and
``client.with_options(...)`` makes a client whose calls all use them. They are validated here,
before anything is sent.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, Final, TypedDict

from .errors import ConfigurationError
from .http import Headers, Timeout

if sys.version_info >= (3, 11):
    from typing import Unpack
else:  # pragma: no cover - Python 3.10
    from typing_extensions import Unpack

__all__ = ["OPTION_NAMES", "CallOptions", "Unpack", "check_options", "merge_options"]


class CallOptions(TypedDict, total=False):
    """Options of one call; each overrides the client's setting for that call only.

    - ``timeout``: seconds for each phase, a :class:`~muxi_proto.http.Timeout`, or None for no
      limit (streams keep their connect and write limits only);
    - ``extra_headers``: headers added to the request (replacing ours of the same name);
    - ``idempotency_key``: the ``X-Muxi-Idempotency-Key`` to send, e.g. a job id, so that a rerun
      of the same work is deduplicated by the runtime (``chat``, ``fire_trigger``,
      ``create_scheduler_job``); retries always reuse the call's key;
    - ``max_retries``: retries for this call;
    - ``idle_timeout``: for streams, fail with :class:`~muxi_proto.errors.TimeoutError` after this
      many seconds without a byte (keepalive comments reset it: the runtime sends one every
      second on chat streams). Off unless given: deployment streams can be silent for minutes.
    """

    timeout: float | Timeout | None
    extra_headers: Mapping[str, str]
    idempotency_key: str
    max_retries: int
    idle_timeout: float | None


OPTION_NAMES: Final = frozenset(CallOptions.__annotations__)
_FORBIDDEN_HEADER_CHARS = ("\r", "\n", "\x00")


def check_options(options: Mapping[str, Any]) -> CallOptions:
    """``options`` validated (a typed error names the bad one), as a :class:`CallOptions`."""
    unknown = set(options) - OPTION_NAMES
    if unknown:
        raise ConfigurationError("INVALID_OPTION", f"unknown call option(s): {sorted(unknown)}")
    checked: dict[str, Any] = {}
    for name, value in options.items():
        if name == "timeout":
            checked[name] = _timeout(value)
        elif name == "extra_headers":
            checked[name] = _headers(value)
        elif name == "idempotency_key":
            if not isinstance(value, str) or not value or not value.isprintable() or len(value) > 255:
                raise ConfigurationError("INVALID_OPTION", "idempotency_key must be 1-255 printable characters")
            checked[name] = value
        elif name == "idle_timeout":
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or not value > 0):
                raise ConfigurationError("INVALID_OPTION", f"idle_timeout must be a number > 0 or None, got {value!r}")
            checked[name] = None if value is None else float(value)
        else:  # max_retries
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigurationError("INVALID_OPTION", f"max_retries must be an int >= 0, got {value!r}")
            checked[name] = value
    return checked  # type: ignore[return-value]


def merge_options(base: CallOptions, extra: CallOptions) -> CallOptions:
    """``extra`` over ``base``; extra headers are merged, the later value of a name winning."""
    if not base:
        return extra
    if not extra:
        return base
    merged: dict[str, Any] = {**base, **extra}
    if "extra_headers" in base and "extra_headers" in extra:
        merged["extra_headers"] = {**base["extra_headers"], **extra["extra_headers"]}
    return merged  # type: ignore[return-value]


def _timeout(value: object) -> Timeout | None:
    if value is None or isinstance(value, Timeout):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigurationError("INVALID_OPTION", f"timeout must be a number, a Timeout or None, got {value!r}")
    return Timeout.of(float(value))  # raises for values <= 0


def _headers(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ConfigurationError("INVALID_OPTION", "extra_headers must be a mapping of names to values")
    out: dict[str, str] = {}
    for name, text in value.items():
        if not isinstance(name, str) or not isinstance(text, str):
            raise ConfigurationError("INVALID_OPTION", "extra_headers names and values must be strings")
        if not name or any(c in name for c in (*_FORBIDDEN_HEADER_CHARS, ":", " ")):
            raise ConfigurationError("INVALID_OPTION", f"invalid header name {name!r}")
        if any(c in text for c in _FORBIDDEN_HEADER_CHARS):
            # A line break would start a header of the caller's choosing (the value is not echoed).
            raise ConfigurationError("INVALID_OPTION", f"header {name} has a line break or NUL in its value")
        out[name] = text
    return out


def headers_of(options: CallOptions) -> Headers:
    """The extra headers of ``options`` as header pairs."""
    extra = options.get("extra_headers")
    return tuple(extra.items()) if extra else ()
