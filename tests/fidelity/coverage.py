"""Which client methods reach which operations of the runtime's OpenAPI document, and the drift.

The endpoint table (``FormationAPI.endpoints``) is compared with an OpenAPI document: the recorded
one in ``make test`` (``tests/test_api_coverage.py``), the live runtime's in ``make test-runtime``
(``tests/runtime/test_api_coverage.py``). Two kinds of drift fail:

- an operation of the document that no endpoint route reaches (a new runtime route, or one we
  lost);
- an endpoint route that the document does not have (a route the runtime dropped or renamed).

Paths match with their placeholders' names ignored (the runtime says ``{trigger_name}``, we say
``{name}``). The runtime's two HTML status pages are the only operations left out, by name.
``docs/api-coverage.md`` holds the table :func:`render` makes; the test keeps it in step.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from muxi_proto.api import Endpoint, StreamEndpoint
from muxi_proto.endpoints import FormationAPI

__all__ = ["HTML_ROOTS", "Operation", "drift", "operations", "reached", "render"]

PREFIX = "/v1"  # the runtime mounts every route under /v1 (docs/protocol.md §1)
#: Operations that are not part of the API: HTML pages saying "Up" (docs/runtime.md).
HTML_ROOTS = {"root_status_v1__get": "GET /v1/", "v1_status_v1_v1_get": "GET /v1/v1"}
_PLACEHOLDER = re.compile(r"\{[^}]+\}")


@dataclass(frozen=True)
class Operation:
    """One operation of the document."""

    method: str
    path: str
    operation_id: str
    payload: str | None  # the request model's name, if the body has one

    @property
    def key(self) -> tuple[str, str]:
        return self.method, _shape(self.path)


def _shape(path: str) -> str:
    return _PLACEHOLDER.sub("{}", path)


def operations(document: Mapping[str, Any]) -> list[Operation]:
    """Every operation of ``document`` except the HTML roots, in the document's order."""
    found: list[Operation] = []
    for path, methods in document["paths"].items():
        for method, op in methods.items():
            if op.get("operationId") in HTML_ROOTS:
                continue
            schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            refs = re.findall(r"#/components/schemas/(\w+)", repr(schema))
            found.append(Operation(method.upper(), path, op.get("operationId", ""), refs[0] if refs else None))
    return found


def _endpoints() -> Iterable[tuple[str, Endpoint[Any, Any] | StreamEndpoint[Any, Any]]]:
    return FormationAPI.endpoints.items()


def reached(document: Mapping[str, Any]) -> dict[str, list[str]]:
    """Operation id -> the names of the endpoints one of whose routes is that operation."""
    by_key: dict[tuple[str, str], list[str]] = {}
    for name, ep in _endpoints():
        for route in ep.routes:
            by_key.setdefault((route.method, _shape(PREFIX + route.path)), []).append(name)
    return {op.operation_id: sorted(set(by_key.get(op.key, []))) for op in operations(document)}


def drift(document: Mapping[str, Any]) -> list[str]:
    """What does not match, one line each (empty: every operation reached, every route present)."""
    problems = [f"{op.method} {op.path} ({op.operation_id}): no client method reaches it"
                for op in operations(document) if not reached(document)[op.operation_id]]
    known = {op.key for op in operations(document)}
    for name, ep in _endpoints():
        for route in ep.routes:
            if (route.method, _shape(PREFIX + route.path)) not in known:
                problems.append(f"{name}: {route.method} {PREFIX}{route.path} is not an operation of the runtime")
    missing_roots = set(HTML_ROOTS) - {op.get("operationId") for ops in document["paths"].values()
                                       for op in ops.values()}
    problems.extend(f"{HTML_ROOTS[op_id]} ({op_id}) is gone from the document" for op_id in sorted(missing_roots))
    return problems


def _auth(names: list[str]) -> str:
    auths = sorted({FormationAPI.endpoints[n].route.auth.value for n in names})
    return ", ".join(auths) or "-"


def render(document: Mapping[str, Any]) -> str:
    """The coverage table of ``docs/api-coverage.md`` (Markdown, one row per operation)."""
    hits = reached(document)
    ops = operations(document)
    rows = [
        f"Operations: {len(ops)} (the document's {len(ops) + len(HTML_ROOTS)} less its "
        f"{len(HTML_ROOTS)} HTML status pages); reached by a method: "
        f"{sum(bool(hits[op.operation_id]) for op in ops)}.",
        "",
        "| operation id | route | key | methods | payload |",
        "|---|---|---|---|---|",
    ]
    for op in ops:
        names = hits[op.operation_id]
        methods = ", ".join(f"`{n}`" for n in names) or "**none**"
        payload = f"`{op.payload}`" if op.payload else ""
        rows.append(f"| `{op.operation_id}` | `{op.method} {op.path}` | {_auth(names)} | {methods} | {payload} |")
    return "\n".join(rows) + "\n"
