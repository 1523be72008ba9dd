"""The raw webhook body: the bytes of whatever a receiver hands over, and the JSON they hold."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeAlias

from ..errors import WebhookVerificationError

__all__ = ["JSONObject", "Payload", "body_bytes", "load_json"]

Payload: TypeAlias = "bytes | bytearray | memoryview | str"
"""A raw request body as web frameworks give it."""
JSONObject: TypeAlias = "Mapping[str, Any]"
"""An already decoded body."""


def body_bytes(payload: Any) -> bytes:
    """``payload`` as bytes; :class:`WebhookVerificationError` for anything that is not a body."""
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        # surrogatepass: a str with lone surrogates still gets bytes (that no signer produced).
        return payload.encode("utf-8", "surrogatepass")
    if isinstance(payload, (bytearray, memoryview)):
        return bytes(payload)
    raise WebhookVerificationError(
        message=f"webhook payload must be the raw body as bytes or str, not {type(payload).__name__}"
    )


def load_json(body: bytes) -> Any:
    """The JSON value of ``body``; a leading BOM is tolerated.

    Raises ``UnicodeDecodeError`` (not UTF-8), ``ValueError`` (not JSON, or beyond int/str
    conversion limits) or ``RecursionError`` (nested too deeply); callers map them.
    """
    return json.loads(body.decode("utf-8-sig"))

