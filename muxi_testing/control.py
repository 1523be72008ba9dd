"""The test-control route: faults, traffic, webhooks and triggers for other processes and languages.

Everything :class:`~muxi_testing.LocalMuxiServer` offers in-process is reachable over HTTP under
``/_testing/`` on the same port (plain JSON, no keys: the server listens on 127.0.0.1 only).
Requests here are never faulted and never counted in the traffic.

=========================================  =====================================================
``POST   /_testing/faults``                add a fault: ``{"fault": "fail_next", "n": 2, "status": 503,
                                           "retry_after": "1", "path_prefix": "/api/"}``; ``fault`` is
                                           ``fail_next`` | ``drop_next`` (``"when"``: headers | mid_body |
                                           mid_stream) | ``garbage_next`` | ``latency`` (``"seconds"``) |
                                           ``slow_stream`` (``"delay"``); answers ``{"pending": n}``
``GET    /_testing/faults``                ``{"pending": n}``: one-shot faults not used yet
``DELETE /_testing/faults``                remove every fault
``GET    /_testing/traffic``               ``{"total": n, "requests": [{method, path, query,
                                           idempotency_key, user_id, signed, at}]}`` (``?path=`` filters)
``DELETE /_testing/traffic``               forget the traffic so far
``GET    /_testing/webhooks``              the webhook deliveries: ``[{url, payload, attempts, statuses,
                                           delivered, finished}]``
``PUT    /_testing/triggers/{name}``       ``{"webhook_url": "http://127.0.0.1:9000/hook"}``: deliver
                                           that trigger's async results there
``PUT    /_testing/reply``                 ``{"text": "..."}``: every chat answers this text;
                                           ``{"echo": true}``: answer with the message again
=========================================  =====================================================

Errors are ``400 {"error": "<what is wrong>"}``; an unknown path is 404.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._chat import echo
from ._responder import Responder
from ._wire import Incoming

if TYPE_CHECKING:
    from .server import LocalMuxiServer

__all__ = ["CONTROL_PREFIX", "ControlRoute"]

CONTROL_PREFIX = "/_testing/"
_JSON = (("Content-Type", "application/json"),)


class _BadRequest(Exception):
    pass


def _number(body: dict[str, Any], name: str, default: float | None = None) -> float:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _BadRequest(f"{name!r} must be a number")
    return float(value)


def _count(body: dict[str, Any]) -> int:
    value = body.get("n", 1)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _BadRequest("'n' must be an integer")
    return value


def _text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise _BadRequest(f"{name!r} must be a string")
    return value


class ControlRoute:
    """Answers ``/_testing/...`` for one server (on the server's loop)."""

    def __init__(self, server: LocalMuxiServer) -> None:
        self.server = server

    async def handle(self, inc: Incoming, out: Responder) -> None:
        rest = inc.path[len(CONTROL_PREFIX):].strip("/")
        try:
            body = self._body(inc)
            result = self._dispatch(inc.method, rest, body, inc.query())
        except _BadRequest as exc:
            await out.send(400, _JSON, _json({"error": str(exc)}))
            return
        except ValueError as exc:  # the Faults API's own checks
            await out.send(400, _JSON, _json({"error": str(exc)}))
            return
        if result is None:
            await out.send(404, _JSON, _json({"error": f"no control route {inc.method} {inc.path}"}))
            return
        await out.send(200, _JSON, _json(result))

    @staticmethod
    def _body(inc: Incoming) -> dict[str, Any]:
        if not inc.body.strip():
            return {}
        try:
            value = json.loads(inc.body)
        except ValueError:
            raise _BadRequest("the body is not JSON") from None
        if not isinstance(value, dict):
            raise _BadRequest("the body must be a JSON object")
        return value

    def _dispatch(self, method: str, rest: str, body: dict[str, Any], query: dict[str, str]) -> Any:
        server = self.server
        faults = server.faults
        if rest == "faults":
            if method == "POST":
                self._add_fault(body)
                return {"pending": faults.pending}
            if method == "GET":
                return {"pending": faults.pending}
            if method == "DELETE":
                faults.clear()
                return {"pending": 0}
        elif rest == "traffic":
            if method == "GET":
                records = server.traffic.records(query.get("path") or None)
                return {"total": server.traffic.total, "requests": [
                    {"method": r.method, "path": r.path, "query": r.query, "idempotency_key": r.idempotency_key,
                     "user_id": r.user_id, "signed": r.authorization is not None, "at": r.at} for r in records]}
            if method == "DELETE":
                server.traffic.clear()
                return {"total": 0}
        elif rest == "webhooks" and method == "GET":
            return [{"url": d.url, "payload": d.payload, "attempts": d.attempts, "statuses": d.statuses,
                     "delivered": d.delivered, "finished": d.finished} for d in server.webhooks]
        elif rest.startswith("triggers/") and method == "PUT":
            url = _text(body, "webhook_url")
            server._add_trigger_here(rest[len("triggers/"):], url)
            return {"trigger": rest[len("triggers/"):], "webhook_url": url}
        elif rest == "reply" and method == "PUT":
            server.reply = self._reply(body)
            return {"reply": "echo" if body.get("echo") else body.get("text")}
        return None

    @staticmethod
    def _reply(body: dict[str, Any]) -> Callable[[str], str]:
        if body.get("echo") is True:
            return echo
        text = _text(body, "text")
        if text is None:
            raise _BadRequest("give 'text' (a string) or 'echo': true")
        return lambda message: text

    def _add_fault(self, body: dict[str, Any]) -> None:
        faults = self.server.faults
        kind = body.get("fault")
        prefix = _text(body, "path_prefix")
        if kind == "fail_next":
            retry_after = body.get("retry_after")
            if retry_after is not None and not isinstance(retry_after, (str, int, float)):
                raise _BadRequest("'retry_after' must be seconds or an HTTP-date string")
            faults.fail_next(_count(body), status=int(_number(body, "status", 503)), retry_after=retry_after,
                             path_prefix=prefix)
        elif kind == "drop_next":
            faults.drop_next(_count(body), when=body.get("when", "headers"), path_prefix=prefix)
        elif kind == "garbage_next":
            data = _text(body, "data")
            if data is None:
                faults.garbage_next(_count(body), path_prefix=prefix)
            else:
                faults.garbage_next(_count(body), data=data.encode(), path_prefix=prefix)
        elif kind == "latency":
            faults.latency(_number(body, "seconds"), path_prefix=prefix)
        elif kind == "slow_stream":
            faults.slow_stream(_number(body, "delay"), path_prefix=prefix)
        else:
            raise _BadRequest("'fault' must be one of fail_next, drop_next, garbage_next, latency, slow_stream")


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
