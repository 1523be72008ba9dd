"""The formation plane: one runtime per formation, answering as muxi-runtime does (docs/protocol.md §8-§12).

Requests arrive through the server's proxy (``/api/{formation_id}/...`` or ``/draft/...``), or at
``/v1/...`` directly for the start formation, with the runtime path. Routing follows Starlette:
routes in the runtime's own order (its OpenAPI document's), the first whose path and method match
wins, a path that matches only with another method answers 405, nothing matching 404. Then, in
FastAPI's order: decoding a JSON body, the router's key check, validation, the handler
(:mod:`._base`). Each resource lives in its own module; the answers are built from the runtime's
recordings (``tests/fixtures/runtime/``) and checked against them by the fidelity test.
"""

from __future__ import annotations

from .._context import ServerContext
from .._responder import Responder
from .._state import FormationRecord
from .._wire import Incoming
from . import admin, chat, config, memory, scheduler, secrets, sessions, streams, triggers, users
from ._base import Call, Reject, Route, check_key
from .validation import Invalid, decode_json, is_missing, openapi_document, operation

__all__ = ["RuntimePlane"]

_MODULES = (config, secrets, admin, memory, chat, triggers, users, sessions, streams, scheduler)


def _ordered_routes() -> list[tuple[tuple[str, ...], Route]]:
    """Every route, in the order of the runtime's OpenAPI document (routes it does not list last)."""
    routes = {(r.method, r.path): r for module in _MODULES for r in module.ROUTES}
    order = [(method.upper(), path) for path, ops in openapi_document().get("paths", {}).items() for method in ops]
    ranked = {key: index for index, key in enumerate(order)}
    ordered = sorted(routes.values(), key=lambda r: ranked.get((r.method, r.path), len(ranked)))
    return [(_segments(r.path), r) for r in ordered]


def _segments(path: str) -> tuple[str, ...]:
    """Path segments; a trailing slash is a segment of its own (``/v1/`` is not ``/v1``)."""
    inner = path.strip("/")
    if not inner:
        return ()
    parts = tuple(inner.split("/"))
    return (*parts, "") if path.endswith("/") else parts


class RuntimePlane:
    """Routes and handlers of the runtime API, shared by every formation on the server."""

    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self._routes = _ordered_routes()

    def _match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """(route, params, path matched): Starlette's order; a path matched with another method -> 405."""
        segments = _segments(path)
        partial = False
        for pattern, route in self._routes:
            if len(pattern) != len(segments):
                continue
            params: dict[str, str] = {}
            for want, got in zip(pattern, segments, strict=True):
                if want.startswith("{") and want:
                    if not got:
                        break
                    params[want[1:-1]] = got
                elif want != got:
                    break
            else:
                if route.method == method:
                    return route, params, True
                partial = True
        return None, {}, partial

    async def handle(self, inc: Incoming, out: Responder, record: FormationRecord, path: str) -> None:
        """Answer one runtime request (``path`` is the runtime path, e.g. ``/v1/chat``)."""
        call = Call(self.ctx, inc, out, record, record.runtime)
        try:
            route, params, path_matched = self._match(inc.method, path)
            if route is None:
                if path_matched:
                    raise Reject(405, "Method Not Allowed", "METHOD_NOT_ALLOWED")
                raise Reject(404, "Not Found", "RESOURCE_NOT_FOUND")
            call.route = route
            call.params = params
            rules = operation(route.method, route.path)
            parsed = decode_json(inc.body) if rules.body is not None else None
            check_key(call, route.auth)
            call.query, call.body = rules.validate(inc.query(), parsed)
            call.raw = None if parsed is None or is_missing(parsed) else parsed
            if call.body is None and rules.body is not None:
                call.body = {}
            await route.handler(call)
        except Invalid as invalid:
            if not out.gone:
                await call.fail(422, str(invalid), "INVALID_PARAMS", {"validation_errors": invalid.errors})
        except Reject as reject:
            if not out.gone:
                await call.fail(reject.status, reject.message, reject.code, reject.data)
