"""Deployments and lifecycle on the control plane: deploy, update, delete, start, stop, restart,
rollback, cancel-update -- answered as JSON, or as progress streams with ``Accept: text/event-stream``.

As the Go server does (docs/protocol.md §4-§5): deploy and update read the whole bundle before
answering, so their early errors are plain JSON; start, restart and rollback open the stream at
once and report even "not found" as ``event: error`` after HTTP 200. Status moves starting ->
running (deploy, start, restart, rollback), running -> stopped; an update keeps the old version
serving until the new one is healthy (blue-green). ``step_delay`` and ``health_check_attempts``
stretch deployments out so that progress is visible and ``cancel-update`` has an update to cancel.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread

from muxi_proto.config import FORMATION_ID_PATTERN, RESERVED_FORMATION_IDS

from ._context import ServerContext
from ._responder import Responder
from ._state import FormationRecord, Version
from ._wire import Incoming, go_json, sse_frame
from .bundle_check import BundleRefused, CheckedBundle, check_bundle
from .envelopes import control_error, control_success
from .formation import FormationError, FormationSpec, demo_formation, formation_from_files
from .runtime.state import RuntimeState

__all__ = ["JSON_HEADERS", "Deployments", "error", "gomap", "new_formation"]

JSON_HEADERS = (("Content-Type", "application/json"),)
SSE_HEADERS = (
    ("Content-Type", "text/event-stream"),
    ("Cache-Control", "no-cache"),
    ("Connection", "keep-alive"),
    ("X-Accel-Buffering", "no"),
)
BUNDLE_TYPES = ("application/gzip", "application/x-gzip", "application/octet-stream")
HEALTH_MAX_ATTEMPTS = 300
MAX_BUNDLE_UNPACKED = 256 * 1024 * 1024


def gomap(**items: Any) -> dict[str, Any]:
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
            await error(self.out, failure.status, failure.message)


async def error(out: Responder, status: int, message: str) -> None:
    await out.send(status, JSON_HEADERS, go_json(control_error(status, message)))


def _wants_sse(inc: Incoming) -> bool:
    return "text/event-stream" in (inc.header("accept") or "")


class Deployments:
    """The deployment and lifecycle handlers (mixed into :class:`~muxi_testing._control.ControlPlane`)."""

    ctx: ServerContext

    def _url(self, formation_id: str) -> str:
        return f"{self.ctx.base_url}/api/{formation_id}"

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
            await error(out, 400, "Invalid Content-Type. Expected application/gzip with a formation bundle (tar.gz)")
            return
        formation_id = inc.header("x-formation-id") or ""
        if not formation_id:
            await error(out, 400,
                         "Missing X-Formation-ID header. Provide the formation ID for early conflict detection.")
            return
        problem = formation_id_error(formation_id)
        if problem is not None:
            await error(out, 400, f"Invalid X-Formation-ID: {problem}")
            return
        if formation_id in ctx.formations:
            await error(out, 409, f"Formation '{formation_id}' already exists. Use PUT to update.")
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
            await error(out, 404, "Formation not found")
            return
        if record.deploying:
            await error(out, 409, "Formation is already being updated")
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
        data = gomap(id=formation_id, status="running", version=record.current.number,
                      previous_version=record.previous.number, port=record.port, pid=record.pid,
                      message="Formation updated with zero downtime", deployment_type="blue-green")
        await progress.complete(event, data)

    async def delete(self, inc: Incoming, out: Responder, params: dict[str, str]) -> None:
        record = self.ctx.formations.pop(params["id"], None)
        if record is None:
            await error(out, 404, "Formation not found")
            return
        self.ctx.ports.release(record.port)
        if record.staging_port:
            self.ctx.ports.release(record.staging_port)
        record.status = "deleted"
        data = gomap(id=record.id, message="Formation deleted successfully")
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
        data = gomap(id=formation_id, status="running", message="Formation started", port=record.port)
        await progress.complete(event, data)

    async def stop(self, inc: Incoming, out: Responder, params: dict[str, str]) -> None:
        record = self.ctx.formations.get(params["id"])
        if record is None:
            await error(out, 404, "Formation not found")
            return
        if record.status == "stopped":
            await error(out, 409, "Formation is already stopped")
            return
        record.mark_stopped()
        record.logs.add("INFO:     Shutting down")
        data = gomap(id=record.id, status="stopped", message="Formation stopped successfully")
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
        data = gomap(id=formation_id, status="running", message="Formation restarted",
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
        data = gomap(id=formation_id, status="running", version=record.current.number,
                      previous_version=record.previous.number, pid=record.pid,
                      message="Rolled back to previous version")
        await progress.complete(event, data)

    async def cancel_update(self, inc: Incoming, out: Responder, params: dict[str, str]) -> None:
        record = self.ctx.formations.get(params["id"])
        if record is None:
            await error(out, 404, "Formation not found")
            return
        staging = record.staging_port
        if not staging:
            await error(out, 400, "No update in progress for this formation")
            return
        record.update_cancelled = True
        self.ctx.ports.release(staging)
        record.staging_port = 0
        body = gomap(message="Update cancelled successfully", formation_id=record.id, staging_port=staging,
                      status=record.status, current_port=record.port)
        await out.send(200, JSON_HEADERS, go_json(body))  # a bare object, no envelope


def _title(formation_id: str) -> str:
    return formation_id.replace("-", " ").title()
