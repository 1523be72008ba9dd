"""The SDK's own version, and version comparison for the ``X-Muxi-SDK-Latest`` notice.

MUXI versions are ``MAJOR.YYYYMMDD.PATCH`` and compare numerically field by field, never as
strings (``1.20260713.10`` is newer than ``1.20260713.9``; docs/protocol.md §6).
"""

from __future__ import annotations

import re

__all__ = ["__version__", "is_newer", "parse_version"]

__version__ = "1.20261129.0"  # read by the build (pyproject.toml, [tool.hatch.version])

_VERSION = re.compile(r"v?([0-9]{1,12}(?:\.[0-9]{1,12}){0,5})")


def parse_version(value: str | None) -> tuple[int, ...] | None:
    """``"1.20260713.0"`` → ``(1, 20260713, 0)``; None for anything else (pre-release tags too)."""
    if not value:
        return None
    match = _VERSION.fullmatch(value.strip())
    if match is None:
        return None
    return tuple(int(part) for part in match.group(1).split("."))


def is_newer(latest: str | None, current: str = __version__) -> bool:
    """True when ``latest`` is a well-formed version numerically greater than ``current``."""
    new, cur = parse_version(latest), parse_version(current)
    if new is None or cur is None:
        return False
    width = max(len(new), len(cur))
    return new + (0,) * (width - len(new)) > cur + (0,) * (width - len(cur))
