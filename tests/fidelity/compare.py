"""Compare one recorded exchange (the runtime's) with the local server's, as the fidelity test does.

What must agree, for every exchange:

- the status code and the ``Content-Type``;
- the shape of a JSON body: every key path with the JSON type found there (list items merged
  under ``path[]``), so a field the runtime never sends, or sends with another type, is a
  difference;
- for envelopes: ``object``, ``type``, ``success``, ``error.code``, ``error.message``, every
  ``validation_errors`` entry, and the error's ``data`` (but the text of an exception it quotes);
- the values of the keys that say *whose* and *what state* wherever they appear
  (:data:`VALUE_KEYS`: ``user_id``, ``status``, ``role``...), so a server that keeps users apart where
  the runtime maps them all to ``"0"`` differs even though the shape is the same;
- for ``compare="values"`` steps: the whole normalised body;
- for streams: the sequence of frames (comments, event names and the shape of each frame's data;
  for chat tokens also their ``type`` and ``stage``).

:func:`compare` returns the differences as readable lines (empty when identical).
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["VALUE_KEYS", "compare", "shape"]

VALUE_KEYS = frozenset({"user_id", "status", "role", "is_recurring", "success", "finished", "fast_path",
                        "early_heuristic", "handled_by", "error_code", "count", "has_more", "message", "content",
                        "type", "name", "identifier", "session_id", "request_id", "id", "title", "cron_expression",
                        "original_prompt", "source", "processing_mode", "webhook_url", "formation_id"})


def _type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "list"
    return "object"


def shape(value: Any, path: str = "$") -> dict[str, set[str]]:
    """Key path -> JSON types seen there (list items under ``path[]``)."""
    out: dict[str, set[str]] = {}

    def walk(node: Any, where: str) -> None:
        out.setdefault(where, set()).add(_type(node))
        if isinstance(node, dict):
            for key, item in node.items():
                walk(item, f"{where}.{key}")
        elif isinstance(node, list):
            for item in node:
                walk(item, f"{where}[]")

    walk(value, path)
    return out


def _shape_diff(expected: Any, actual: Any, label: str) -> list[str]:
    want, got = shape(expected), shape(actual)
    lines = []
    for path in sorted(set(want) | set(got)):
        if path not in got:
            lines.append(f"{label}: {path} missing locally (runtime: {'|'.join(sorted(want[path]))})")
        elif path not in want:
            lines.append(f"{label}: {path} is sent locally ({'|'.join(sorted(got[path]))}) but never by the runtime")
        elif want[path] != got[path]:
            lines.append(f"{label}: {path} is {'|'.join(sorted(got[path]))} locally, "
                         f"{'|'.join(sorted(want[path]))} on the runtime")
    return lines


def _values_diff(expected: Any, actual: Any, where: str, out: list[str]) -> None:
    """Differences in :data:`VALUE_KEYS` at the same paths (list items by position)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key, value in expected.items():
            if key not in actual:
                continue
            if key in VALUE_KEYS and not isinstance(value, (dict, list)) and value != actual[key]:
                out.append(f"value {where}.{key}: {actual[key]!r} locally, {value!r} on the runtime")
            _values_diff(value, actual[key], f"{where}.{key}", out)
    elif isinstance(expected, list) and isinstance(actual, list):
        for index, (a, b) in enumerate(zip(expected, actual, strict=False)):
            _values_diff(a, b, f"{where}[{index}]", out)


def _error_data(body: Any) -> Any:
    error = body.get("error") if isinstance(body, dict) else None
    data = error.get("data") if isinstance(error, dict) else None
    if isinstance(data, dict):
        return {k: v for k, v in data.items() if k != "error"}  # "error": an exception's own text
    return data


def _envelope_fields(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict) or "object" not in body or "success" not in body:
        return {}
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    return {"object": body.get("object"), "type": body.get("type"), "success": body.get("success"),
            "error.code": error.get("code"), "error.message": error.get("message")}


def _frame_key(item: dict[str, Any]) -> Any:
    if "comment" in item:
        return ("comment", item["comment"])
    if "incomplete" in item:
        return ("incomplete",)
    data = item.get("data")
    tok = data.get("token") if isinstance(data, dict) else None
    if isinstance(tok, dict):
        return (item.get("event"), "token", tok.get("type"), tok.get("stage"), tok.get("user_id"),
                tok.get("status"), json.dumps({k: sorted(v) for k, v in sorted(shape(tok).items())}))
    return (item.get("event"), json.dumps({k: sorted(v) for k, v in sorted(shape(data).items())}))


def _events_diff(expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> list[str]:
    want = [_frame_key(i) for i in expected]
    got = [_frame_key(i) for i in actual]
    if want == got:
        return []
    lines = [f"stream: {len(got)} frames locally, {len(want)} on the runtime"]
    for index, (w, g) in enumerate(zip(want, got, strict=False)):
        if w != g:
            lines.append(f"stream frame {index}: local {str(g)[:200]} != runtime {str(w)[:200]}")
            break
    else:
        longer, who = (want, "runtime") if len(want) > len(got) else (got, "local")
        lines.append(f"stream: extra frames on the {who} side from {min(len(want), len(got))}: "
                     f"{str(longer[min(len(want), len(got))])[:200]}")
    return lines


def compare(expected: dict[str, Any], actual: dict[str, Any], mode: str = "shape") -> list[str]:
    """The differences between the runtime's record ``expected`` and the local ``actual``."""
    lines: list[str] = []
    if expected["status"] != actual["status"]:
        lines.append(f"status: {actual['status']} locally, {expected['status']} on the runtime")
    want_ct = expected.get("headers", {}).get("content-type", "").replace(" ", "").lower()
    got_ct = actual.get("headers", {}).get("content-type", "").replace(" ", "").lower()
    if want_ct != got_ct:
        lines.append(f"content-type: {got_ct!r} locally, {want_ct!r} on the runtime")
    if "events" in expected or "events" in actual:
        lines.extend(_events_diff(expected.get("events") or [], actual.get("events") or []))
        return lines
    want_body, got_body = expected.get("body"), actual.get("body")
    if mode == "values" or (mode == "openapi"):
        if want_body != got_body:
            lines.append(f"body: {json.dumps(got_body)[:300]} locally, {json.dumps(want_body)[:300]} on the runtime")
        return lines
    if isinstance(want_body, (dict, list)) or isinstance(got_body, (dict, list)):
        lines.extend(_shape_diff(want_body, got_body, "body"))
        want_env, got_env = _envelope_fields(want_body), _envelope_fields(got_body)
        for name in sorted(set(want_env) | set(got_env)):
            if want_env.get(name) != got_env.get(name):
                lines.append(f"{name}: {got_env.get(name)!r} locally, {want_env.get(name)!r} on the runtime")
        if want_env and _error_data(want_body) != _error_data(got_body):
            lines.append(f"error.data: {_error_data(got_body)!r} locally, {_error_data(want_body)!r} on the runtime")
        _values_diff(want_body, got_body, "$", lines)
    elif _type(want_body) != _type(got_body):
        lines.append(f"body: {_type(got_body)} locally, {_type(want_body)} on the runtime")
    return lines
