"""The control plane: the MUXI server's routes, HMAC check, formation views, logs, and its proxy.

Behaviour follows the Go server (docs/protocol.md §2-§5):

- Routing comes first, as in gorilla/mux: an unknown path answers 404
  ``{"error":"Not Found","message":"Endpoint not found","code":404}`` and a known path with another
  method an empty 405, both without looking at credentials. Only matched ``/rpc`` routes check HMAC.
- JSON is written like Go's encoder (compact, HTML characters escaped, a trailing newline); answers
  built from Go maps have sorted keys, those built from structs keep the struct's field order.
- Deployments and the lifecycle actions live in :mod:`._deploy`; log follow is chosen by
  ``follow=true``.
- The formation proxy (``/api/{id}/...``, and ``/draft/{id}/...``) answers an unknown formation with
  the proxy's own 404 ``{"error": "Formation not found", "message": "No formation with id '<id>'",
  "code": 404}`` and a formation that is not running with 503.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.to_thread

from ._context import ServerContext
from ._deploy import JSON_HEADERS, SSE_HEADERS, Deployments, error, gomap, new_formation
from ._responder import Responder
from ._state import FormationRecord, bundle_to_zip
from ._wire import Incoming, go_json, go_time, sse_frame
from .envelopes import control_success
from .hmac_check import HMACRefused, check_authorization
from .runtime import RuntimePlane

__all__ = ["ControlPlane", "new_formation"]

CORS_HEADERS = (
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS"),
    ("Access-Control-Allow-Headers", "Content-Type, Authorization"),
)

Handler = Callable[[Incoming, Responder, dict[str, str]], Awaitable[None]]


class ControlPlane(Deployments):
    """Routes every request: control-plane endpoints here, the formation proxy to the runtime."""

    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self.runtime = RuntimePlane(ctx)
        self._static: dict[str, dict[str, Handler]] = {
            "/health": {"GET": self.health},
            "/ping": {"GET": self.ping},
            "/docs": {"GET": self.docs},
            "/rpc/formations": {"POST": self.deploy, "GET": self.list_formations},
            "/rpc/server/status": {"GET": self.server_status},
            "/rpc/server/logs": {"GET": self.server_logs},
        }
        self._one: dict[str, Handler] = {"GET": self.get_formation, "PUT": self.update, "DELETE": self.delete}
        self._actions: dict[str, dict[str, Handler]] = {
            "start": {"POST": self.start}, "stop": {"POST": self.stop}, "restart": {"POST": self.restart},
            "rollback": {"POST": self.rollback}, "cancel-update": {"POST": self.cancel_update},
            "logs": {"GET": self.logs}, "download": {"GET": self.download},
        }

    # --- routing -------------------------------------------------------------------------------------

    def _route(self, path: str) -> tuple[dict[str, Handler] | None, dict[str, str]]:
        handlers = self._static.get(path)
        if handlers is not None:
            return handlers, {}
        parts = path.split("/")
        if len(parts) >= 4 and parts[1] == "rpc" and parts[2] == "formations" and parts[3]:
            if len(parts) == 4:
                return self._one, {"id": parts[3]}
            if len(parts) == 5 and parts[4] in self._actions:
                return self._actions[parts[4]], {"id": parts[3]}
        return None, {}

    async def handle(self, inc: Incoming, out: Responder) -> None:
        """Answer one request to the server."""
        path = inc.path
        if path == "/v1" or path.startswith("/v1/"):  # the start formation at its runtime's own URL
            await self.proxy(inc, out, self.ctx.default_formation, path)
            return
        if path.startswith(("/api/", "/draft/")):
            _plane, _, rest = path[1:].partition("/")
            formation_id, slash, runtime_path = rest.partition("/")
            if formation_id:
                await self.proxy(inc, out, formation_id, "/" + runtime_path if slash else "/")
                return
        handlers, params = self._route(path)
        if handlers is None:
            await error(out, 404, "Endpoint not found")
            return
        handler = handlers.get(inc.method)
        if handler is None:
            await out.send(405, (), b"")  # gorilla/mux: an empty 405
            return
        out.extra_headers.extend(CORS_HEADERS)
        if not path.startswith("/rpc/"):
            await handler(inc, out, params)
            return
        try:
            check_authorization(
                inc.header("authorization"), inc.method, path, key_id=self.ctx.key_id,
                secret=self.ctx.secret_key, now=self.ctx.clock(), tolerance=self.ctx.hmac_tolerance,
            )
        except HMACRefused as exc:
            # The auth middleware encodes a Go map: keys come out sorted.
            body = gomap(error="Unauthorized", message=exc.reason, code=401)
            await out.send(401, JSON_HEADERS, go_json(body))
            return
        started = time.perf_counter()
        await handler(inc, out, params)
        self._audit(inc, out.status or 200, time.perf_counter() - started)

    def _audit(self, inc: Incoming, status: int, seconds: float) -> None:
        self.ctx.server_log.append(json.dumps({
            "level": "info", "method": inc.method, "path": inc.path, "remote_addr": "127.0.0.1",
            "status": status, "duration_ms": round(seconds * 1000, 3), "time": go_time(self.ctx.clock()),
            "message": "RPC request",
        }, separators=(",", ":")))

    async def proxy(self, inc: Incoming, out: Responder, formation_id: str, runtime_path: str) -> None:
        """The server's proxy in front of each formation's runtime."""
        out.extra_headers.extend(CORS_HEADERS)  # the router's CORS middleware runs before the proxy
        record = self.ctx.formations.get(formation_id)
        if record is None:
            body = (f'{{"error": "Formation not found", "message": "No formation with id '
                    f"'{formation_id}'\", \"code\": 404}}")
            await out.send(404, JSON_HEADERS, body.encode())
            return
        if record.status != "running":
            body = (f'{{"error": "Formation unavailable", "message": "Formation \'{formation_id}\' is not running '
                    f'(status: {record.status})", "code": 503}}')
            await out.send(503, JSON_HEADERS, body.encode())
            return
        if self.ctx.sdk_latest and inc.header("x-muxi-sdk"):
            out.extra_headers.append(("X-Muxi-SDK-Latest", self.ctx.sdk_latest))
        await self.runtime.handle(inc, out, record, runtime_path)

    # --- public endpoints ------------------------------------------------------------------------------

    async def health(self, inc: Incoming, out: Responder, params: dict[str, str]) -> None:
        body = f'{{"success":true,"status":"ok","version":"{self.ctx.server_version}"}}'
        await out.send(200, JSON_HEADERS, body.encode())

    async def ping(self, inc: Incoming, out: Responder, params: dict[str, str]) -> None:
        await out.send(200, (("Content-Type", "text/plain"),), b"pong")

    async def docs(self, inc: Incoming, out: Responder, params: dict[str, str]) -> None:
        page = b"<!doctype html><title>MUXI Server API</title><h1>MUXI Server API (local)</h1>"
        await out.send(200, (("Content-Type", "text/html; charset=utf-8"),), page)

    # --- server ----------------------------------------------------------------------------------------

    async def server_status(self, inc: Incoming, out: Responder, params: dict[str, str]) -> None:
        ctx = self.ctx
        statuses = [f.status for f in ctx.formations.values()]
        data = gomap(
            server=gomap(id=ctx.server_id, version=ctx.server_version, uptime=int(ctx.clock() - ctx.started_at)),
            formations=gomap(total=len(statuses), running=statuses.count("running"),
                              stopped=statuses.count("stopped"), crashed=statuses.count("crashed")),
            port_pool=gomap(total=ctx.ports.size, available=ctx.ports.size - ctx.ports.allocated,
                             allocated=ctx.ports.allocated),
            runtime=gomap(goroutines=12 + 3 * len(statuses), go_version="go1.24.0"),
        )
        await out.send(200, JSON_HEADERS, go_json(control_success(data)))

    async def server_logs(self, inc: Incoming, out: Responder, params: dict[str, str]) -> None:
        lines = _lines_param(inc.query().get("lines"))
        recent = list(self.ctx.server_log)[-lines:]
        await out.send(200, (("Content-Type", "text/plain"),), "".join(line + "\n" for line in recent).encode())

    # --- formations ------------------------------------------------------------------------------------

    def _info(self, record: FormationRecord) -> dict[str, Any]:
        version: dict[str, str] = {"current": record.current.sha256}
        if record.previous is not None:
            version["previous"] = record.previous.sha256
        return {
            "id": record.id,
            "name": record.name,
            "port": record.port,
            "status": record.status,
            "pid": record.pid if record.status != "stopped" else 0,
            "uptime": self._uptime(record),
            "restart_count": record.restart_count,
            "healthy": None if record.status == "starting" else record.healthy,
            "version": version,
        }

    def _uptime(self, record: FormationRecord) -> int:
        return int(self.ctx.clock() - record.started_at) if record.status == "running" else 0

    async def list_formations(self, inc: Incoming, out: Responder, params: dict[str, str]) -> None:
        infos = [self._info(r) for r in self.ctx.formations.values()]
        await out.send(200, JSON_HEADERS, go_json(control_success({"formations": infos, "total": len(infos)})))

    async def get_formation(self, inc: Incoming, out: Responder, params: dict[str, str]) -> None:
        record = self.ctx.formations.get(params["id"])
        if record is None:
            await error(out, 404, "Formation not found")
            return
        info = self._info(record)
        data = gomap(
            id=record.id, name=record.name, status=record.status, port=record.port, pid=info["pid"],
            restart_count=record.restart_count, uptime=info["uptime"], created_at=go_time(record.deployed_at),
            deployed_at=go_time(record.deployed_at), updated_at=go_time(record.started_at or record.deployed_at),
            healthy=info["healthy"], version=info["version"], formation_version=record.version,
        )
        if record.last_health_check:
            data["last_health_check"] = go_time(record.last_health_check)
            data = gomap(**data)
        await out.send(200, JSON_HEADERS, go_json(control_success(data)))

    async def logs(self, inc: Incoming, out: Responder, params: dict[str, str]) -> None:
        query = inc.query()
        stream = query.get("stream") or "all"
        lines = _lines_param(query.get("lines"))
        record = self.ctx.formations.get(params["id"])
        if record is None:
            await error(out, 404, "Formation not found")
            return
        if query.get("follow") in ("true", "1"):
            await self._follow_logs(out, record, "stderr" if stream == "stderr" else "stdout")
            return
        logs: dict[str, list[str]] = {}
        totals = {"stderr": 0, "stdout": 0}
        for name in ("stderr", "stdout"):
            if stream in (name, "all"):
                logs[name] = record.logs.tail(name, lines)
                totals[name] = record.logs.totals[name]
        data = gomap(formation_id=record.id, logs=logs, total_lines=totals)
        await out.send(200, JSON_HEADERS, go_json(control_success(data)))

    async def _follow_logs(self, out: Responder, record: FormationRecord, stream: str) -> None:
        headers = (SSE_HEADERS[0], SSE_HEADERS[1], SSE_HEADERS[2], ("Access-Control-Allow-Origin", "*"))
        await out.open_stream(200, headers)
        formation_id = record.id

        async def produce() -> None:
            with record.logs.feed.subscribe() as sub:
                connected = go_json({"formation_id": formation_id}, newline=False).decode()
                if not await out.frame(sse_frame(connected, "connected")):
                    return
                while True:
                    batch = await sub.next_batch(None)
                    if sub.overflowed:
                        return  # too slow a reader: end the stream (the client sees EOF)
                    for name, line in batch:
                        if name != stream:
                            continue
                        data = go_json(gomap(line=line, formation_id=formation_id), newline=False).decode()
                        if not await out.frame(sse_frame(data, "log")):
                            return

        await out.guarded(produce)

    async def download(self, inc: Incoming, out: Responder, params: dict[str, str]) -> None:
        record = self.ctx.formations.get(params["id"])
        if record is None:
            await error(out, 404, "Formation not found")
            return
        archive = await anyio.to_thread.run_sync(bundle_to_zip, record.current.bundle)
        headers = (("Content-Type", "application/zip"),
                   ("Content-Disposition", f'attachment; filename="{record.id}.zip"'))
        await out.send(200, headers, archive)


def _lines_param(raw: str | None) -> int:
    """``lines``: default 100, at most 10000; anything that is not a positive int means the default."""
    try:
        value = int(raw) if raw else 100
    except ValueError:
        return 100
    return min(value, 10_000) if value > 0 else 100


