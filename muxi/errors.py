"""``muxi.errors``: the typed errors (``muxi_proto.errors``) and the official ``map_error`` helper."""

from __future__ import annotations

from typing import Any

from muxi_proto import errors as _errors
from muxi_proto.errors import *  # noqa: F403 - the same classes, under the official module name
from muxi_proto.errors import MuxiError
from muxi_proto.responses import error_class_for_status

__all__ = _errors.__all__ + ["map_error"]  # noqa: RUF005 - the facade's names plus its helper


def map_error(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    retry_after: float | None = None,
) -> MuxiError:
    """The typed error for an HTTP status (the official SDK's helper, same arguments)."""
    cls, canonical = error_class_for_status(status)
    return cls(code or canonical, message, status, details, retry_after=retry_after)
