"""Request validation as the runtime's FastAPI app does it, driven by the runtime's own OpenAPI document.

The schemas (body models, query parameters with their bounds and defaults) come from
``muxi_testing/recordings/openapi.json``, recorded from muxi-runtime by ``make record-runtime``, so
a field the runtime requires is required here and nothing else is. Errors are reported the way
the runtime's validation handler reports pydantic's (422 ``INVALID_PARAMS``, ``"Validation failed:
N error(s)"``, ``validation_errors: [{field, msg, type, error}]``), in pydantic's order: query
parameters first, then the body's fields in model order. Coercion follows pydantic's lax mode
where it matters (``"yes"`` is a boolean, ``"5"`` an integer; ``42`` is not a string).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

__all__ = ["Invalid", "Operation", "decode_json", "field_error", "is_missing", "operation", "openapi_document"]

_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})
_MISSING = object()

# The runtime's validation handler: pydantic's error type -> (expected type, error kind).
_KINDS = {
    "missing": ("string", "missing"),
    "json_invalid": ("string", "invalid_json"),
    "extra": ("string", "extra_field"),
    "string_too_short": ("string", "too_short"),
    "string_too_long": ("string", "too_long"),
}
# ... and the field-name suffixes that override the expected type.
_SUFFIX_TYPES = (
    ("boolean", (".active",)),
    ("array", (".llm_models", ".mcp_servers", ".knowledge")),
    ("object", (".a2a", ".settings")),
    ("integer", (".max_tokens", ".timeout_seconds", ".max_retries")),
    ("number", (".temperature",)),
)


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    """The runtime's OpenAPI document, as recorded."""
    text = resources.files("muxi_testing").joinpath("recordings/openapi.json").read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


def _kind(error_type: str, field: str) -> tuple[str, str]:
    if error_type in _KINDS:
        expected, kind = _KINDS[error_type]
    else:
        expected = "string"
        if "json" in error_type:
            kind = "invalid_json"
        elif "missing" in error_type:
            kind = "missing"
        elif "type" in error_type:
            kind = "wrong_type"
        elif "too_short" in error_type or "min_length" in error_type:
            kind = "too_short"
        elif "too_long" in error_type or "max_length" in error_type:
            kind = "too_long"
        elif "regex" in error_type or "pattern" in error_type:
            kind = "invalid_format"
        elif "extra" in error_type:
            kind = "extra_field"
        else:
            kind = "invalid"
    plain = re.sub(r"\[\d+\]", "", field)
    for name, suffixes in _SUFFIX_TYPES:
        if plain.endswith(suffixes):
            expected = name
            break
    return expected, kind


def field_error(loc: tuple[str | int, ...], msg: str, error_type: str) -> dict[str, str]:
    """One entry of ``validation_errors`` (``loc`` without the leading ``"body"``)."""
    field = ".".join(str(part) for part in loc)
    expected, kind = _kind(error_type, field)
    return {"field": field, "msg": msg, "type": expected, "error": kind}


class Invalid(Exception):
    """Validation failed: the entries of ``validation_errors``."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__(f"Validation failed: {len(errors)} error(s)")
        self.errors = errors


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        resolved: dict[str, Any] = openapi_document()["components"]["schemas"][ref.rsplit("/", 1)[-1]]
        return resolved
    return schema


class _Checker:
    def __init__(self) -> None:
        self.errors: list[dict[str, str]] = []

    def fail(self, loc: tuple[str | int, ...], msg: str, error_type: str) -> Any:
        self.errors.append(field_error(loc, msg, error_type))
        return _MISSING

    def value(self, schema: dict[str, Any], value: Any, loc: tuple[str | int, ...]) -> Any:
        schema = _resolve(schema)
        options = schema.get("anyOf")
        if isinstance(options, list):
            if value is None and any(o.get("type") == "null" for o in options):
                return None
            real = [o for o in options if o.get("type") != "null"]
            return self.value(real[0], value, loc) if real else value
        kind = schema.get("type")
        if kind == "object" or "properties" in schema:
            return self.model(schema, value, loc) if "properties" in schema else self.mapping(value, loc)
        if kind == "string":
            return self.string(schema, value, loc)
        if kind == "integer":
            return self.integer(schema, value, loc)
        if kind == "number":
            return self.number(schema, value, loc)
        if kind == "boolean":
            return self.boolean(value, loc)
        if kind == "array":
            if not isinstance(value, list):
                return self.fail(loc, "Input should be a valid list", "list_type")
            items = schema.get("items") or {}
            return [self.value(items, item, (*loc, i)) for i, item in enumerate(value)]
        return value  # {}: anything

    def model(self, schema: dict[str, Any], value: Any, loc: tuple[str | int, ...]) -> Any:
        if not isinstance(value, dict):
            return self.fail(loc, "Input should be a valid dictionary or object to extract fields from",
                             "model_attributes_type")
        out: dict[str, Any] = {}
        required = set(schema.get("required") or ())
        for name, sub in (schema.get("properties") or {}).items():
            if name not in value:
                if name in required:
                    self.fail((*loc, name), "Field required", "missing")
                elif "default" in sub:
                    out[name] = sub["default"]
                else:
                    out[name] = None
                continue
            out[name] = self.value(sub, value[name], (*loc, name))
        return out

    def mapping(self, value: Any, loc: tuple[str | int, ...]) -> Any:
        if not isinstance(value, dict):
            return self.fail(loc, "Input should be a valid dictionary", "dict_type")
        return value

    def string(self, schema: dict[str, Any], value: Any, loc: tuple[str | int, ...]) -> Any:
        if not isinstance(value, str):
            return self.fail(loc, "Input should be a valid string", "string_type")
        pattern = schema.get("pattern")
        if isinstance(pattern, str) and re.search(pattern, value) is None:
            return self.fail(loc, f"String should match pattern '{pattern}'", "string_pattern_mismatch")
        return value

    def _bounds(self, schema: dict[str, Any], value: float, loc: tuple[str | int, ...]) -> bool:
        low, high = schema.get("minimum"), schema.get("maximum")
        if low is not None and value < low:
            self.fail(loc, f"Input should be greater than or equal to {low}", "greater_than_equal")
            return False
        if high is not None and value > high:
            self.fail(loc, f"Input should be less than or equal to {high}", "less_than_equal")
            return False
        return True

    def integer(self, schema: dict[str, Any], value: Any, loc: tuple[str | int, ...]) -> Any:
        number: int
        if isinstance(value, bool):
            number = int(value)
        elif isinstance(value, int):
            number = value
        elif isinstance(value, float):
            if not value.is_integer():
                return self.fail(loc, "Input should be a valid integer, got a number with a fractional part",
                                 "int_from_float")
            number = int(value)
        elif isinstance(value, str):
            try:
                number = int(value.strip())
            except ValueError:
                return self.fail(loc, "Input should be a valid integer, unable to parse string as an integer",
                                 "int_parsing")
        else:
            return self.fail(loc, "Input should be a valid integer", "int_type")
        return number if self._bounds(schema, number, loc) else _MISSING

    def number(self, schema: dict[str, Any], value: Any, loc: tuple[str | int, ...]) -> Any:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                return self.fail(loc, "Input should be a valid number, unable to parse string as a number",
                                 "float_parsing")
        else:
            return self.fail(loc, "Input should be a valid number", "float_type")
        return number if self._bounds(schema, number, loc) else _MISSING

    def boolean(self, value: Any, loc: tuple[str | int, ...]) -> Any:
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, float)) and value in (0, 1):
            return bool(value)
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            return self.fail(loc, "Input should be a valid boolean, unable to interpret input", "bool_parsing")
        if isinstance(value, (int, float)):
            return self.fail(loc, "Input should be a valid boolean, unable to interpret input", "bool_parsing")
        return self.fail(loc, "Input should be a valid boolean", "bool_type")


@dataclass(frozen=True)
class Operation:
    """One operation of the runtime's OpenAPI document: its query parameters and body schema."""

    query: tuple[tuple[str, dict[str, Any], bool], ...]
    body: dict[str, Any] | None
    body_required: bool

    def validate(self, query: dict[str, str], parsed: Any) -> tuple[dict[str, Any], Any]:
        """(query values, body values) with defaults; :class:`Invalid` lists what is wrong.

        ``parsed``: the body from :func:`decode_json` (decoded earlier: FastAPI decodes a JSON
        body before the key check, and reports a decoding error before anything else).
        """
        checker = _Checker()
        values: dict[str, Any] = {}
        for name, schema, required in self.query:
            if name in query:
                values[name] = checker.value(schema, query[name], ("query", name))
            elif required:
                checker.fail(("query", name), "Field required", "missing")
            else:
                values[name] = _resolve(schema).get("default")
        body: Any = None
        if self.body is not None:
            if parsed is _MISSING:
                if self.body_required:
                    checker.fail((), "Field required", "missing")
            else:
                body = checker.value(self.body, parsed, ())
        if checker.errors:
            raise Invalid(checker.errors)
        return values, body


def decode_json(raw: bytes) -> Any:
    """The body as JSON (``_MISSING`` when empty); :class:`Invalid` at the decoding error's position."""
    if not raw.strip():
        return _MISSING
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise Invalid([field_error((exc.pos,), "JSON decode error", "json_invalid")]) from None
    except (ValueError, RecursionError):
        raise Invalid([field_error((0,), "JSON decode error", "json_invalid")]) from None


def is_missing(value: Any) -> bool:
    """Whether ``value`` is the marker of an empty body."""
    return value is _MISSING


@lru_cache(maxsize=256)
def operation(method: str, path: str) -> Operation:
    """The validation rules of ``METHOD path`` (a ``/v1/...`` template); empty when undocumented."""
    op = openapi_document().get("paths", {}).get(path, {}).get(method.lower())
    if not isinstance(op, dict):
        return Operation((), None, False)
    query = tuple((p["name"], p.get("schema") or {}, bool(p.get("required")))
                  for p in op.get("parameters", []) if p.get("in") == "query")
    body_spec = op.get("requestBody")
    body = None
    if isinstance(body_spec, dict):
        content = body_spec.get("content", {}).get("application/json", {})
        body = content.get("schema")
    return Operation(query, body, bool(isinstance(body_spec, dict) and body_spec.get("required")))
