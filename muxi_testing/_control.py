"""The control plane: the MUXI server's routes, HMAC check, envelopes and deployment streams.

Behaviour follows the Go server (docs/protocol.md §2-§5):

- Routing comes first, as in gorilla/mux: an unknown path answers 404
  ``{"error":"Not Found","message":"Endpoint not found","code":404}`` and a known path with another
  method an empty 405, both without looking at credentials. Only matched ``/rpc`` routes check HMAC.
- JSON is written like Go's encoder (compact, HTML characters escaped, a trailing newline); answers
  built from Go maps have sorted keys, those built from structs keep the struct's field order.
- SSE is chosen by ``Accept: text/event-stream`` on the same endpoints. Deploy and update read the
  whole body first, so their early errors are plain JSON; start, restart and rollback open the
  stream at once and report even "not found" as ``event: error`` after HTTP 200. Log follow is
  chosen by ``follow=true``.
- Formations are in memory. Status moves starting -> running (deploy, start, restart, rollback),
  running -> stopped; an update keeps the old version serving until the new one is healthy.
  ``step_delay`` and ``health_check_attempts`` stretch deployments out so that progress is visible
  and ``cancel-update`` has an update to cancel.
- The formation proxy (``/api/{id}/...``, and ``/draft/{id}/...``) answers an unknown formation with
  the proxy's own 404 ``{"error": "Formation not found", "message": "No formation with id '<id>'",
  "code": 404}`` and a formation that is not running with 503.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.to_thread

from muxi_proto.config import FORMATION_ID_PATTERN, RESERVED_FORMATION_IDS

from ._context import ServerContext
from ._responder import Responder
from ._state import FormationRecord, Version, bundle_to_zip
from ._wire import Incoming, go_json, go_time, sse_frame
from .bundle_check import BundleRefused, CheckedBundle, check_bundle
from .envelopes import control_error, control_success
from .formation import FormationError, FormationSpec, demo_formation, formation_from_files
from .hmac_check import HMACRefused, check_authorization
from .runtime import RuntimePlane
from .runtime.state import RuntimeState

__all__ = ["ControlPlane", "new_formation"]

JSON_HEADERS = (("Content-Type", "application/json"),)
SSE_HEADERS = (
    ("Content-Type", "text/event-stream"),
    ("Cache-Control", "no-cache"),
    ("Connection", "keep-alive"),
    ("X-Accel-Buffering", "no"),
)
CORS_HEADERS = (
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS"),
    ("Access-Control-Allow-Headers", "Content-Type, Authorization"),
)
BUNDLE_TYPES = ("application/gzip", "application/x-gzip", "application/octet-stream")
HEALTH_MAX_ATTEMPTS = 300
MAX_BUNDLE_UNPACKED = 256 * 1024 * 1024

Handler = Callable[[Incoming, Responder, dict[str, str]], Awaitable[None]]


def _gomap(**items: Any) -> dict[str, Any]:
    """A dict in the order Go writes a ``map[string]interface{}``: sorted keys."""
    return dict(sorted(items.items()))


def formation_id_error(formation_id: str) -> str | None:
    """The server's complaint about a formation id, or None when valid (registry.ValidateFormationID)."""
    if not formation_id:
        return "formation ID cannot be empty"
    if not 3 <= len(formation_id) <= 50:
        return "formation ID must be 3-50 characters"
    if formation_id in RESERVED_FORMATION_IDS:
        return f'formation ID "{formation_id}" is reserved'
    if FORMATION_ID_PATTERN.fullmatch(formation_id) is None:
        return "formation ID must contain only lowercase letters, numbers, and hyphens"
    return None


def spec_of_bundle(checked: CheckedBundle, formation_id: str) -> FormationSpec:
    """The formation a deployed bundle describes (the demo formation under its id when it cannot be read)."""
    try:
        return formation_from_files(checked.files, None, formation_id)
    except FormationError:
        return demo_formation(formation_id)


def new_formation(
    ctx: ServerContext, formation_id: str, bundle: bytes, semver: str, name: str, spec: FormationSpec
) -> FormationRecord:
    """A formation record with a port, a fake pid and a fresh runtime (status ``starting``)."""
    now = ctx.clock()
    record = FormationRecord(
        id=formation_id,
        name=name,
        port=ctx.ports.allocate(),
        pid=secrets.randbelow(50_000) + 10_000,
        current=Version(1, bundle, semver, now, spec),
        runtime=RuntimeState(spec, now),
        deployed_at=now,
    )
    return record


class _Failure(Exception):
    """A deployment step failed: the JSON status, the SSE stage and type code, the message."""

    def __init__(self, status: int, stage: str, kind: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.stage = stage
        self.kind = kind
        self.message = message


class _Progress:
    """Reports a deployment either as SSE frames or, without ``Accept: text/event-stream``, as JSON."""

    def __init__(self, out: Responder, wants_sse: bool) -> None:
        self.out = out
        self.wants_sse = wants_sse
        self.streaming = False

    async def open(self) -> None:
        if self.wants_sse and not self.streaming:
            await self.out.open_stream(200, SSE_HEADERS)
            self.streaming = True

    async def _event(self, name: str, data: dict[str, Any]) -> None:
        await self.out.frame(sse_frame(go_json(data, newline=False).decode(), name))

    async def emit(self, stage: str, message: str, **extra: Any) -> None:
        if self.streaming:
            await self._event("progress", {"stage": stage, "message": message, **extra})

    async def complete(self, event: dict[str, Any], data: dict[str, Any], *, status: int = 200) -> None:
        if self.streaming:
            await self._event("complete", event)
            await self.out.close_stream()
        else:
            await self.out.send(status, JSON_HEADERS, go_json(control_success(data)))

    async def fail(self, failure: _Failure) -> None:
        if self.streaming:
            await self._event("error", {"error": failure.kind, "message": failure.message, "stage": failure.stage})
            await self.out.close_stream()
        else:
            await _error(self.out, failure.status, failure.message)


async def _error(out: Responder, status: int, message: str) -> None:
    await out.send(status, JSON_HEADERS, go_json(control_error(status, message)))


def _wants_sse(inc: Incoming) -> bool:
    return "text/event-stream" in (inc.header("accept") or "")


class ControlPlane:
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
            await _error(out, 404, "Endpoint not found")
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
            body = _gomap(error="Unauthorized", message=exc.reason, code=401)
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
        data = _gomap(
            server=_gomap(id=ctx.server_id, version=ctx.server_version, uptime=int(ctx.clock() - ctx.started_at)),
            formations=_gomap(total=len(statuses), running=statuses.count("running"),
                              stopped=statuses.count("stopped"), crashed=statuses.count("crashed")),
            port_pool=_gomap(total=ctx.ports.size, available=ctx.ports.size - ctx.ports.allocated,
                             allocated=ctx.ports.allocated),
            runtime=_gomap(goroutines=12 + 3 * len(statuses), go_version="go1.24.0"),
        )
        await out.send(200, JSON_HEADERS, go_json(control_success(data)))

    async def server_logs(self, inc: Incoming, out: Responder, params: dict[str, str]) -> None:
        lines = _lines_param(inc.query().get("lines"))
        recent = list(self.ctx.server_log)[-lines:]
        await out.send(200, (("Content-Type", "text/plain"),), "".join(line + "\n" for line in recent).encode())

    # --- formations ------------------------------------------------------------------------------------

    def _url(self, formation_id: str) -> str:
        return f"{self.ctx.base_url}/api/{formation_id}"

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
            await _error(out, 404, "Formation not found")
            return
        info = self._info(record)
        data = _gomap(
            id=record.id, name=record.name, status=record.status, port=record.port, pid=info["pid"],
            restart_count=record.restart_count, uptime=info["uptime"], created_at=go_time(record.deployed_at),
            deployed_at=go_time(record.deployed_at), updated_at=go_time(record.started_at or record.deployed_at),
            healthy=info["healthy"], version=info["version"], formation_version=record.version,
        )
        if record.last_health_check:
            data["last_health_check"] = go_time(record.last_health_check)
            data = _gomap(**data)
        await out.send(200, JSON_HEADERS, go_json(control_success(data)))

    async def _step(self) -> None:
        if self.ctx.step_delay > 0:
            await anyio.sleep(self.ctx.step_delay)

    async def _health_checks(self, progress: _Progress, cancelled: Callable[[], bool] | None = None) -> bool:
        """Emit the health-check attempts; False when ``cancelled()`` turned true meanwhile."""
        for attempt in range(1, max(1, self.ctx.health_check_attempts) + 1):
            await self._step()
            if cancelled is not None and cancelled():
                return False
            await progress.emit("health_check", f"Health check attempt {attempt}/{HEALTH_MAX_ATTEMPTS}...",
                                attempt=attempt, max_attempts=HEALTH_MAX_ATTEMPTS)
        return not (cancelled is not None and cancelled())

    async def _read_bundle(self, body: bytes) -> CheckedBundle:
        try:
            return await anyio.to_thread.run_sync(lambda: check_bundle(body, max_unpacked=MAX_BUNDLE_UNPACKED))
        except BundleRefused as exc:
            if exc.missing_config:
                raise _Failure(400, "validating", "ParseError",
                               f"Failed to find formation config: {exc.message}") from None
            raise _Failure(400, "extracting", "ExtractError", f"Failed to extract bundle: {exc.message}") from None

    async def deploy(self, inc: Incoming, out: Responder, params: dict[str, str]) -> None:
        ctx = self.ctx
        ctype = inc.header("content-type") or ""
        if not any(kind in ctype for kind in BUNDLE_TYPES):
            await _error(out, 400, "Invalid Content-Type. Expected application/gzip with a formation bundle (tar.gz)")
            return
        formation_id = inc.header("x-formation-id") or ""
        if not formation_id:
            await _error(out, 400,
                         "Missing X-Formation-ID header. Provide the formation ID for early conflict detection.")
            return
        problem = formation_id_error(formation_id)
        if problem is not None:
            await _error(out, 400, f"Invalid X-Formation-ID: {problem}")
            return
        if formation_id in ctx.formations:
            await _error(out, 409, f"Formation '{formation_id}' already exists. Use PUT to update.")
            return
        version = inc.header("x-formation-version") or "1.0.0"
        progress = _Progress(out, _wants_sse(inc))
        await progress.open()
        try:
            await progress.emit("extracting", "Extracting bundle...")
            info = await self._read_bundle(inc.body)
            config_id = info.formation_id or ""
            if config_id != formation_id:
                raise _Failure(400, "validating", "IDMismatch", f"Formation ID mismatch: expected '{formation_id}' "
                               f"but config contains '{config_id}'")
            config_version = info.version or "1.0.0"
            if config_version != version:
                raise _Failure(400, "validating", "VersionMismatch", f"Formation version mismatch: expected "
                               f"'{version}' but config contains '{config_version}'")
            if formation_id in ctx.formations:  # deployed meanwhile by another request
                raise _Failure(409, "validating", "FormationExists",
                               f"Formation '{formation_id}' already exists. Use PUT to update.")
            await self._step()
            await progress.emit("spawning", "Starting formation. It might take 1-2 minutes.")
            record = new_formation(ctx, formation_id, inc.body, config_version, _title(formation_id),
                                   spec_of_bundle(info, formation_id))
            ctx.formations[formation_id] = record
            record.logs.add(f"INFO:     Loading formation {formation_id} version {config_version}")
            await progress.emit("health_check", "Waiting for formation health check...")
            await self._health_checks(progress)
        except _Failure as failure:
            await progress.fail(failure)
            return
        self._started(record)
        event = {
            "formation_id": formation_id, "port": record.port, "status": "running", "url": self._url(formation_id),
            "health_url": f"http://127.0.0.1:{record.port}/v1/health", "pid": record.pid,
        }
        await progress.complete(event, dict(event), status=201)

    def _started(self, record: FormationRecord) -> None:
        record.mark_running(self.ctx.clock())
        record.logs.add(f"INFO:     Uvicorn running on http://127.0.0.1:{record.port} (Press CTRL+C to quit)")
        record.logs.add("INFO:     Application startup complete.")

    async def update(self, inc: Incoming, out: Responder, params: dict[str, str]) -> None:
        ctx = self.ctx
        formation_id = params["id"]
        version = inc.header("x-formation-version") or "1.0.0"
        record = ctx.formations.get(formation_id)
        if record is None:
            await _error(out, 404, "Formation not found")
            return
        if record.deploying:
            await _error(out, 409, "Formation is already being updated")
            return
        record.deploying = True
        staging = 0
        progress = _Progress(out, _wants_sse(inc))
        try:
            await progress.open()
            await progress.emit("extracting", "Extracting bundle to staging...")
            if hashlib.sha256(inc.body).hexdigest() == record.current.sha256:
                raise _Failure(409, "validating", "NoChange",
                               "Bundle is identical to current version - nothing to update")
            staging = record.staging_port = ctx.ports.allocate()
            record.update_cancelled = False
            info = await self._read_bundle(inc.body)
            await progress.emit("validating", "Validating formation config...")
            bundle_version = info.version or "1.0.0"
            if bundle_version != version:
                raise _Failure(400, "validating", "VersionMismatch", f"Formation version mismatch: header says "
                               f"'{version}' but bundle contains '{bundle_version}'")
            await self._step()
            await progress.emit("spawning_staging", f"Starting staging version on port {staging}",
                                staging_port=staging)
            await progress.emit("health_check", "Waiting for staging health check...")
            if not await self._health_checks(progress, lambda: record.update_cancelled):
                raise _Failure(400, "health_check", "HealthCheckFailed", "New version failed health check: staging "
                               "process was stopped. Old version still running - zero downtime maintained.")
            await progress.emit("swapping", "Switching traffic to new version...")
            await progress.emit("stopping_old", "Stopping old version...")
        except _Failure as failure:
            if staging and record.staging_port == staging:  # not already released by cancel-update
                ctx.ports.release(staging)
                record.staging_port = 0
            await progress.fail(failure)
            return
        finally:
            record.deploying = False
        record.staging_port = 0
        # Blue-green switch: the staging port now serves, the old one is released.
        ctx.ports.release(record.port)
        record.port = staging
        record.previous = record.current
        spec = spec_of_bundle(info, formation_id)
        record.current = Version(record.previous.number + 1, inc.body, bundle_version, ctx.clock(), spec)
        record.runtime.serve(spec)
        record.pid = secrets.randbelow(50_000) + 10_000
        self._started(record)
        event = {
            "formation_id": formation_id, "port": record.port, "status": "running", "url": self._url(formation_id),
            "previous_version": str(record.previous.number), "new_version": str(record.current.number),
        }
        data = _gomap(id=formation_id, status="running", version=record.current.number,
                      previous_version=record.previous.number, port=record.port, pid=record.pid,
                      message="Formation updated with zero downtime", deployment_type="blue-green")
        await progress.complete(event, data)

    async def delete(self, inc: Incoming, out: Responder, params: dict[str, str]) -> None:
        record = self.ctx.formations.pop(params["id"], None)
        if record is None:
            await _error(out, 404, "Formation not found")
            return
        self.ctx.ports.release(record.port)
        if record.staging_port:
            self.ctx.ports.release(record.staging_port)
        record.status = "deleted"
        data = _gomap(id=record.id, message="Formation deleted successfully")
        await out.send(200, JSON_HEADERS, go_json(control_success(data)))

    async def start(self, inc: Incoming, out: Responder, params: dict[str, str]) -> None:
        formation_id = params["id"]
        progress = _Progress(out, _wants_sse(inc))
        await progress.open()
        try:
            record = self.ctx.formations.get(formation_id)
            if record is None:
                raise _Failure(404, "validating", "NotFound", "Formation not found")
            if record.status in ("running", "starting"):
                raise _Failure(409, "validating", "AlreadyRunning", "Formation is already running")
            await progress.emit("validating", "Loading formation configuration...")
            await self._step()
            await progress.emit("spawning", "Starting formation...")
            record.mark_starting()
            record.pid = secrets.randbelow(50_000) + 10_000
            await progress.emit("health_check", "Waiting for formation health check...")
            await self._health_checks(progress)
        except _Failure as failure:
            await progress.fail(failure)
            return
        self._started(record)
        event = {"formation_id": formation_id, "port": record.port, "status": "running", "url": ""}
        data = _gomap(id=formation_id, status="running", message="Formation started", port=record.port)
        await progress.complete(event, data)

    async def stop(self, inc: Incoming, out: Responder, params: dict[str, str]) -> None:
        record = self.ctx.formations.get(params["id"])
        if record is None:
            await _error(out, 404, "Formation not found")
            return
        if record.status == "stopped":
            await _error(out, 409, "Formation is already stopped")
            return
        record.mark_stopped()
        record.logs.add("INFO:     Shutting down")
        data = _gomap(id=record.id, status="stopped", message="Formation stopped successfully")
        await out.send(200, JSON_HEADERS, go_json(control_success(data)))

    async def restart(self, inc: Incoming, out: Responder, params: dict[str, str]) -> None:
        formation_id = params["id"]
        progress = _Progress(out, _wants_sse(inc))
        await progress.open()
        try:
            record = self.ctx.formations.get(formation_id)
            if record is None:
                raise _Failure(404, "stopping", "NotFound", "Formation not found")
            await progress.emit("stopping", "Stopping current process...")
            record.mark_starting()
            await self._step()
            await progress.emit("validating", "Loading formation configuration...")
            await progress.emit("spawning", "Starting formation...")
            record.pid = secrets.randbelow(50_000) + 10_000
            await progress.emit("health_check", "Waiting for formation health check...")
            await self._health_checks(progress)
        except _Failure as failure:
            await progress.fail(failure)
            return
        record.restart_count += 1
        self._started(record)
        event = {"formation_id": formation_id, "port": record.port, "status": "running", "url": "",
                 "restart_count": record.restart_count}
        data = _gomap(id=formation_id, status="running", message="Formation restarted",
                      restart_count=record.restart_count, port=record.port)
        await progress.complete(event, data)

    async def rollback(self, inc: Incoming, out: Responder, params: dict[str, str]) -> None:
        ctx = self.ctx
        formation_id = params["id"]
        progress = _Progress(out, _wants_sse(inc))
        await progress.open()
        staging = 0
        try:
            await progress.emit("validating", "Validating rollback request...")
            record = ctx.formations.get(formation_id)
            if record is None:
                raise _Failure(404, "validating", "NotFound", "Formation not found")
            if record.previous is None:
                raise _Failure(400, "validating", "NoPreviousVersion", "No previous version available for rollback")
            staging = ctx.ports.allocate()
            await self._step()
            await progress.emit("spawning_previous", f"Starting previous version on staging port {staging}...")
            await progress.emit("health_check", "Waiting for previous version health check...")
            await self._health_checks(progress)
            await progress.emit("stopping_current", "Stopping current version...")
            await progress.emit("swapping", "Swapping versions...")
        except _Failure as failure:
            await progress.fail(failure)
            return
        finally:
            if staging:
                ctx.ports.release(staging)
        previous = record.previous
        assert previous is not None
        record.previous, record.current = record.current, previous
        if isinstance(previous.spec, FormationSpec):
            record.runtime.serve(previous.spec)
        record.pid = secrets.randbelow(50_000) + 10_000
        self._started(record)
        event = {
            "formation_id": formation_id, "port": record.port, "status": "running", "url": self._url(formation_id),
            "previous_version": str(record.previous.number), "new_version": str(record.current.number),
        }
        data = _gomap(id=formation_id, status="running", version=record.current.number,
                      previous_version=record.previous.number, pid=record.pid,
                      message="Rolled back to previous version")
        await progress.complete(event, data)

    async def cancel_update(self, inc: Incoming, out: Responder, params: dict[str, str]) -> None:
        record = self.ctx.formations.get(params["id"])
        if record is None:
            await _error(out, 404, "Formation not found")
            return
        staging = record.staging_port
        if not staging:
            await _error(out, 400, "No update in progress for this formation")
            return
        record.update_cancelled = True
        self.ctx.ports.release(staging)
        record.staging_port = 0
        body = _gomap(message="Update cancelled successfully", formation_id=record.id, staging_port=staging,
                      status=record.status, current_port=record.port)
        await out.send(200, JSON_HEADERS, go_json(body))  # a bare object, no envelope

    async def logs(self, inc: Incoming, out: Responder, params: dict[str, str]) -> None:
        query = inc.query()
        stream = query.get("stream") or "all"
        lines = _lines_param(query.get("lines"))
        record = self.ctx.formations.get(params["id"])
        if record is None:
            await _error(out, 404, "Formation not found")
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
        data = _gomap(formation_id=record.id, logs=logs, total_lines=totals)
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
                        data = go_json(_gomap(line=line, formation_id=formation_id), newline=False).decode()
                        if not await out.frame(sse_frame(data, "log")):
                            return

        await out.guarded(produce)

    async def download(self, inc: Incoming, out: Responder, params: dict[str, str]) -> None:
        record = self.ctx.formations.get(params["id"])
        if record is None:
            await _error(out, 404, "Formation not found")
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


def _title(formation_id: str) -> str:
    return formation_id.replace("-", " ").title()
