"""The JSON spellings a webhook signature may cover: canonical JSON, and the runtime's orjson style.

The runtime signs ``f"{t}."`` + canonical JSON of the payload: compact (``,`` and ``:``), keys
sorted, UTF-8, non-ASCII as is. It serialises with orjson, which spells some floats differently
from Python's ``json``; a verifier tries those spellings too (docs/protocol.md §12).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from typing import Any

from ..errors import WebhookVerificationError
from .body import load_json

__all__ = ["canonical_json", "canonical_variants"]

_FLOAT_NEEDS_ORJSON = 1  # NaN/Infinity, or an exponent from -5 to -9: orjson differs from json
_FLOAT_POSITIVE_EXP = 2  # orjson before 3.11.7 writes 1e16 where json (and newer orjson) write 1e+16

# Built once: json.dumps with non-default options would build an encoder on every call.
_dumps: Callable[[Any], str] = json.JSONEncoder(
    separators=(",", ":"), sort_keys=True, ensure_ascii=False
).encode
_encode_str = json.JSONEncoder(ensure_ascii=False).encode


def canonical_json(payload: Any) -> bytes:
    """The bytes the runtime signs for ``payload``: compact, sorted keys, UTF-8, non-ASCII as is.

    Floats are spelled as Python's ``json`` does; the verifier also accepts the spellings of the
    runtime's orjson (``1e-7``, ``1e16``) so the difference never rejects a real webhook.
    """
    try:
        return _dumps(payload).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:
        raise WebhookVerificationError(message=f"payload cannot be serialised as JSON: {exc}") from None


def canonical_variants(body: bytes) -> Iterator[bytes]:
    """The canonical forms the runtime may have signed for ``body``, most likely first.

    The plain canonical form is skipped when it equals ``body`` (checking the raw body is the
    caller's first step). The runtime serialises with orjson, which spells some floats
    differently from Python's ``json`` (``1e-7`` / ``1e-07``, ``0.00001`` / ``1e-05``, ``null`` /
    ``NaN``, and before orjson 3.11.7 ``1e16`` / ``1e+16``); the extra spellings are tried only
    when such a float is present. Nothing is yielded for a body that is not JSON.
    """
    try:
        value = load_json(body)
        canonical = _dumps(value).encode("utf-8")
        if canonical != body:  # equal means the raw check already covered it
            yield canonical
        flags = _float_flags(value)
        if flags & _FLOAT_NEEDS_ORJSON:
            yield _dumps_orjson_style(value, plus=True)
        if flags & _FLOAT_POSITIVE_EXP:
            yield _dumps_orjson_style(value, plus=False)
    except (ValueError, RecursionError):
        # Not JSON (UnicodeDecodeError and JSONDecodeError are ValueErrors), nested beyond the
        # interpreter's depth, or text with lone surrogates that no signer could have encoded.
        return


def _float_flags(value: Any) -> int:
    flags = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float):
            text = repr(item)
            if not math.isfinite(item) or "e-0" in text:
                flags |= _FLOAT_NEEDS_ORJSON
            elif "e+" in text:
                flags |= _FLOAT_POSITIVE_EXP
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return flags


def _orjson_float(value: float, plus: bool) -> str:
    """``value`` as orjson writes it; Python's repr has the same shortest digits."""
    if not math.isfinite(value):
        return "null"
    text = repr(value)
    mantissa, e, exponent = text.partition("e")
    if not e:
        return text
    exp = int(exponent)
    if exp == -5:  # orjson writes 1e-05 as 0.00001
        sign = "-" if mantissa.startswith("-") else ""
        return sign + "0.0000" + mantissa.lstrip("-").replace(".", "")
    return f"{mantissa}e{'+' if plus and exp > 0 else ''}{exp}"


def _dumps_orjson_style(value: Any, *, plus: bool) -> bytes:
    out: list[str] = []

    def emit(item: Any) -> None:
        if isinstance(item, str):
            out.append(_encode_str(item))
        elif item is None:
            out.append("null")
        elif item is True:
            out.append("true")
        elif item is False:
            out.append("false")
        elif isinstance(item, int):
            out.append(int.__repr__(item))
        elif isinstance(item, float):
            out.append(_orjson_float(item, plus))
        elif isinstance(item, list):
            out.append("[")
            for index, element in enumerate(item):
                if index:
                    out.append(",")
                emit(element)
            out.append("]")
        else:  # dict: the only other thing json.loads produces
            out.append("{")
            for index, key in enumerate(sorted(item)):
                if index:
                    out.append(",")
                out.append(_encode_str(key))
                out.append(":")
                emit(item[key])
            out.append("}")

    emit(value)
    return "".join(out).encode("utf-8")
