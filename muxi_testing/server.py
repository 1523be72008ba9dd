"""A local, MUXI-compatible server: both planes on 127.0.0.1, in memory, scripted, with faults.

::

    from muxi_testing import LocalMuxiServer
    from muxi import ServerClient, FormationClient

    with LocalMuxiServer(formation="my-formation/") as server:   # starts in a few milliseconds
        ServerClient(server.server_config()).status()
        FormationClient(server.formation_config()).chat({"message": "hi"}, user_id="alice")

One process serves the control plane (HMAC-signed ``/rpc/...``, see ``_control.py``) and, through
the server's proxy, the formation plane of every deployed formation (``/api/{id}/v1/...`` and
``/draft/{id}/v1/...``, see :mod:`muxi_testing.runtime`); the start formation also answers at
``/v1/...`` directly, as a runtime does at its own URL. The start formation is your formation
directory (``formation=``) or the built-in demo formation (``formation_id``, default
``demo-formation``), deployed and running from the start. Credentials are generated per instance
unless given (or set in the formation's ``server.api_keys``): key id ``MUXI_`` + 16 hex, secret
``sk_`` + 64 hex, and one admin key and one client key shared by every formation on the server.

Chat answers come from ``reply`` (``message -> str | ScriptedReply``; echo by default), never from
a model. ``token_delay`` spaces the stream's frames (keepalive comments fill idle seconds).

For tests: :attr:`faults` (see :mod:`muxi_testing.faults`; other processes use the control
route of :mod:`muxi_testing.control`), :attr:`traffic`, :attr:`webhooks`, connection counters and
:meth:`wait_until`. Triggers with a webhook URL deliver signed webhooks like the runtime, from
the server's own event loop.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import Future
from types import TracebackType
from typing import Any

import anyio
import anyio.abc

from muxi_proto.config import FormationConfig, ServerConfig, validate_formation_id

from ._chat import ReplyFunction, echo
from ._context import ServerContext
from ._control import ControlPlane, new_formation
from ._http import HTTPServer, ResponseWriter, ServerRequest
from ._responder import Responder
from ._state import make_bundle
from ._webhooks import DEFAULT_RETRY_DELAYS, WebhookDelivery, WebhookSender
from ._wire import Incoming, go_json, new_id, py_json
from .control import CONTROL_PREFIX, ControlRoute
from .envelopes import control_error, runtime_error
from .faults import FaultPlan, Faults, SeenRequest, Traffic
from .formation import FormationSpec, Trigger, demo_formation, load_formation

__all__ = ["DEFAULT_FORMATION_ID", "LocalMuxiServer"]

DEFAULT_FORMATION_ID = "demo-formation"
_FD_TARGET = 16_384  # enough for 1,000+ concurrent streams with both ends in one process


def _raise_fd_limit() -> None:
    """Lift the soft open-files limit towards the hard one (POSIX); quietly skipped elsewhere."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return
    with contextlib.suppress(ValueError, OSError):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = _FD_TARGET if hard == resource.RLIM_INFINITY else min(hard, _FD_TARGET)
        if soft != resource.RLIM_INFINITY and soft < target:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


class LocalMuxiServer:
    """The local MUXI server. Use as a context manager, or :meth:`start` / :meth:`stop`.

    Keyword arguments (all optional):

    - ``port``: 0 picks a free port.
    - ``formation``: a formation directory (``formation.afs``, ``agents/``, ``triggers/``, ``sops/``)
      or a :class:`~muxi_testing.formation.FormationSpec`, served from the start; default: the
      built-in demo formation. ``formation_id``: its id (default: the formation's own, or
      ``demo-formation``).
    - ``key_id``, ``secret_key``, ``admin_key``, ``client_key``: credentials (generated when None).
    - ``reply``: the chat script, ``message -> str | ScriptedReply`` (default: echo).
    - ``token_delay``: seconds before each chat stream frame (0: as fast as possible);
      ``keepalive_interval``: idle seconds between ``: keepalive`` comments (1, like the runtime).
    - ``step_delay``, ``health_check_attempts``: stretch deployments (progress you can watch, an
      update that ``cancel-update`` can catch).
    - ``triggers``: name -> webhook URL (or None) for the start formation: sets the webhook of the
      formation's trigger of that name, or adds a trigger that answers ``data["message"]``; more
      with :meth:`add_trigger`. The demo formation has a trigger ``echo`` (no webhook).
    - ``webhook_retry_delays``: the runtime's 1, 2, 4 s; make them short in tests.
    - ``clock``: seconds since the epoch (HMAC window, timestamps); ``sdk_latest``: sent as
      ``X-Muxi-SDK-Latest`` on formation answers to requests naming an SDK.
    - ``backend``: the server loop's anyio backend; ``history``: requests kept in :attr:`traffic`;
      ``raise_fd_limit``: lift the process's soft open-files limit so 1,000+ streams fit.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        formation: str | os.PathLike[str] | FormationSpec | None = None,
        formation_id: str | None = None,
        key_id: str | None = None,
        secret_key: str | None = None,
        admin_key: str | None = None,
        client_key: str | None = None,
        reply: ReplyFunction = echo,
        token_delay: float = 0.0,
        keepalive_interval: float = 1.0,
        step_delay: float = 0.0,
        health_check_attempts: int = 1,
        triggers: Mapping[str, str | None] | None = None,
        webhook_retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        clock: Callable[[], float] = time.time,
        sdk_latest: str | None = None,
        hmac_tolerance: int = 300,
        backend: str = "asyncio",
        history: int = 10_000,
        raise_fd_limit: bool = True,
    ) -> None:
        spec = self._spec(formation, formation_id)
        formation_id = spec.id
        validate_formation_id(formation_id)
        if token_delay < 0 or step_delay < 0 or keepalive_interval <= 0:
            raise ValueError("delays must be >= 0 and keepalive_interval > 0")
        self._lock = threading.Condition()
        self.faults = Faults()
        """Fault injection (thread-safe)."""
        self.traffic = Traffic(history, on_change=self._notify)
        """What arrived: counts per path, idempotency keys, Authorization values."""
        self._ctx = ServerContext(
            key_id=key_id or "MUXI_" + secrets.token_hex(8),
            secret_key=secret_key or "sk_" + secrets.token_hex(32),
            admin_key=admin_key or spec.api_key("admin") or "muxi_admin_" + secrets.token_hex(24),
            client_key=client_key or spec.api_key("client") or "muxi_client_" + secrets.token_hex(24),
            clock=clock,
            reply=reply,
            webhooks=WebhookSender(retry_delays=webhook_retry_delays, clock=clock, on_change=self._notify),
            token_delay=token_delay,
            keepalive_interval=keepalive_interval,
            step_delay=step_delay,
            health_check_attempts=health_check_attempts,
            hmac_tolerance=hmac_tolerance,
            sdk_latest=sdk_latest,
            server_id="srv_" + secrets.token_hex(8),
        )
        self.formation_id = formation_id
        self._ctx.default_formation = formation_id
        self._spec_at_start = spec
        if triggers is not None:
            self._initial_triggers = dict(triggers)
        else:
            self._initial_triggers = {} if formation is not None else {"echo": None}
        self._control = ControlPlane(self._ctx)
        self._test_control = ControlRoute(self)
        self._http = HTTPServer(
            self._handle, port=port, backend=backend, watch_disconnects=False, max_body=128 * 1024 * 1024,
        )
        self._raise_fd_limit = raise_fd_limit
        self._background_scope: anyio.CancelScope | None = None
        self._background_done: Future[None] | None = None
        self._errors: list[BaseException] = []
        self._deploy_initial()

    # --- lifecycle -------------------------------------------------------------------------------------

    @staticmethod
    def _spec(formation: str | os.PathLike[str] | FormationSpec | None, formation_id: str | None) -> FormationSpec:
        if formation is None:
            return demo_formation(formation_id or DEFAULT_FORMATION_ID)
        spec = formation if isinstance(formation, FormationSpec) else load_formation(formation)
        return spec.with_id(formation_id) if formation_id and formation_id != spec.id else spec

    def _deploy_initial(self) -> None:
        ctx = self._ctx
        ctx.started_at = ctx.clock()
        spec = self._spec_at_start
        files = spec.files if spec.files else None
        bundle = make_bundle(self.formation_id, version=spec.version, files=files)
        record = new_formation(ctx, self.formation_id, bundle, spec.version, spec.name, spec)
        record.mark_running(ctx.clock())
        record.logs.add(f"INFO:     Loading formation {self.formation_id} version {spec.version}")
        record.logs.add(f"INFO:     Uvicorn running on http://127.0.0.1:{record.port} (Press CTRL+C to quit)")
        for name, url in self._initial_triggers.items():
            record.runtime.triggers[name] = _with_webhook(record.runtime.triggers.get(name), name, url)
        ctx.formations[self.formation_id] = record

    def start(self) -> LocalMuxiServer:
        """Bind 127.0.0.1, serve in a background thread, return self."""
        if self._raise_fd_limit:
            _raise_fd_limit()
        self._http.start()
        self._ctx.base_url = self._http.url
        portal = self._http.portal
        assert portal is not None
        try:
            self._background_done, _ = portal.start_task(self._background)
        except BaseException:
            self._http.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop serving: background work (webhooks) is cancelled, every connection closed."""
        portal = self._http.portal
        if portal is None:
            return
        try:
            if self._background_scope is not None:
                portal.call(self._background_scope.cancel)
            if self._background_done is not None:
                self._background_done.result()  # the task ends quietly once its scope is cancelled
            portal.call(self._ctx.webhooks.aclose)
        finally:
            self._background_scope = self._background_done = None
            self._ctx.spawn = None
            self._http.stop()

    def __enter__(self) -> LocalMuxiServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def _background(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        with anyio.CancelScope() as scope:
            self._background_scope = scope
            async with anyio.create_task_group() as tg:

                def spawn(task: Callable[[], Awaitable[object]]) -> None:
                    tg.start_soon(self._run_background, task)

                self._ctx.spawn = spawn
                task_status.started()
                await anyio.sleep_forever()

    async def _run_background(self, task: Callable[[], Awaitable[object]]) -> None:
        try:
            await task()
        except Exception as exc:  # kept for tests to inspect; never kills the server
            with self._lock:
                self._errors.append(exc)
                self._lock.notify_all()

    # --- what clients need -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return self._http.url

    @property
    def port(self) -> int:
        """The bound port (0 before :meth:`start` when none was given)."""
        return self._http.port

    @property
    def key_id(self) -> str:
        """The HMAC key id (``MUXI_...``)."""
        return self._ctx.key_id

    @property
    def secret_key(self) -> str:
        """The HMAC secret (``sk_...``)."""
        return self._ctx.secret_key

    @property
    def admin_key(self) -> str:
        """The formations' admin key (``X-MUXI-ADMIN-KEY``)."""
        return self._ctx.admin_key

    @property
    def client_key(self) -> str:
        """The formations' client key (``X-MUXI-CLIENT-KEY``)."""
        return self._ctx.client_key

    def env(self) -> dict[str, str]:
        """The ``MUXI_*`` variables a client needs (server URL, keys, formation id)."""
        return {
            "MUXI_SERVER_URL": self.url,
            "MUXI_KEY_ID": self.key_id,
            "MUXI_SECRET_KEY": self.secret_key,
            "MUXI_FORMATION_ID": self.formation_id,
            "MUXI_CLIENT_KEY": self.client_key,
            "MUXI_ADMIN_KEY": self.admin_key,
        }

    @property
    def control_url(self) -> str:
        """The test-control route (faults, traffic, webhooks, triggers) for other processes."""
        return self.url + CONTROL_PREFIX

    def server_config(self, **overrides: Any) -> ServerConfig:
        """A :class:`ServerConfig` for this server (keyword overrides: ``max_retries``, ``timeout``...)."""
        return ServerConfig(url=self.url, key_id=self.key_id, secret_key=self.secret_key, **overrides)

    def formation_config(
        self, formation_id: str | None = None, *, mode: str = "live", **overrides: Any
    ) -> FormationConfig:
        """A :class:`FormationConfig` reaching ``formation_id`` (default: the start formation) via the proxy."""
        settings: dict[str, Any] = {"admin_key": self.admin_key, "client_key": self.client_key, **overrides}
        return FormationConfig(server_url=self.url, formation_id=formation_id or self.formation_id, mode=mode,
                               **settings)

    # --- behaviour knobs (safe from any thread) ------------------------------------------------------------

    @property
    def reply(self) -> ReplyFunction:
        """The chat script; assign a new one at any time."""
        return self._ctx.reply

    @reply.setter
    def reply(self, value: ReplyFunction) -> None:
        self._ctx.reply = value

    @property
    def token_delay(self) -> float:
        """Seconds before each chat stream frame."""
        return self._ctx.token_delay

    @token_delay.setter
    def token_delay(self, value: float) -> None:
        if value < 0:
            raise ValueError("token_delay must be >= 0")
        self._ctx.token_delay = float(value)

    @property
    def step_delay(self) -> float:
        """Seconds each deployment step takes."""
        return self._ctx.step_delay

    @step_delay.setter
    def step_delay(self, value: float) -> None:
        if value < 0:
            raise ValueError("step_delay must be >= 0")
        self._ctx.step_delay = float(value)

    @property
    def webhook_retry_delays(self) -> tuple[float, ...]:
        """Waits between webhook attempts (the runtime: 1, 2, 4 s)."""
        return self._ctx.webhooks.retry_delays

    @webhook_retry_delays.setter
    def webhook_retry_delays(self, value: Sequence[float]) -> None:
        self._ctx.webhooks.retry_delays = tuple(value)

    def hold_streams(self) -> None:
        """Make new chat streams wait after their opening keepalives until :meth:`release_streams`.

        For tests that need many streams open at once: hold, open them, check, release.
        """
        def hold() -> None:
            if self._ctx.stream_gate is None or self._ctx.stream_gate.is_set():
                self._ctx.stream_gate = anyio.Event()
        self._on_loop_async_safe(hold)

    def release_streams(self) -> None:
        """Let held chat streams (and new ones) run."""
        def release() -> None:
            gate, self._ctx.stream_gate = self._ctx.stream_gate, None
            if gate is not None:
                gate.set()
        self._on_loop_async_safe(release)

    @property
    def held_streams(self) -> int:
        """Chat streams waiting at the gate of :meth:`hold_streams`."""
        return self._ctx.held_streams

    def _on_loop_async_safe(self, fn: Callable[[], None]) -> None:
        if self._http.portal is None:
            raise RuntimeError("start the server first")
        self._on_loop(fn)

    def _on_loop(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the server's loop (state belongs to it), or here before :meth:`start`."""
        portal = self._http.portal
        return fn() if portal is None else portal.call(fn)

    def _record(self, formation_id: str | None) -> Any:
        record = self._ctx.formations.get(formation_id or self.formation_id)
        if record is None:
            raise KeyError(f"no formation {formation_id or self.formation_id!r}")
        return record

    def add_trigger(
        self, name: str, webhook_url: str | None = None, *, description: str = "", formation_id: str | None = None
    ) -> None:
        """Point a trigger's webhook at ``webhook_url``: the formation's trigger of that name keeps its
        template; a new one answers ``data["message"]``. Async firings POST a signed webhook there."""
        self._on_loop(lambda: self._add_trigger_here(name, webhook_url, description, formation_id))

    def _add_trigger_here(
        self, name: str, webhook_url: str | None, description: str = "", formation_id: str | None = None
    ) -> None:
        """:meth:`add_trigger` on the server's loop."""
        triggers = self._record(formation_id).runtime.triggers
        triggers[name] = _with_webhook(triggers.get(name), name, webhook_url, description)

    def add_log_line(self, line: str, *, stream: str = "stdout", formation_id: str | None = None) -> None:
        """Append a line to a formation's logs (log-follow streams see it at once)."""
        self._on_loop(lambda: self._record(formation_id).logs.add(line, stream))

    def formation_status(self, formation_id: str | None = None) -> str | None:
        """A formation's status (``running``, ``starting``, ``stopped``), None when unknown."""
        def read() -> str | None:
            record = self._ctx.formations.get(formation_id or self.formation_id)
            return None if record is None else record.status
        result: str | None = self._on_loop(read)
        return result

    @property
    def webhooks(self) -> list[WebhookDelivery]:
        """Every webhook the server started to deliver, oldest first."""
        return self._ctx.webhooks.deliveries

    @property
    def errors(self) -> list[BaseException]:
        """Unexpected exceptions inside the server (handlers, background work): should stay empty."""
        with self._lock:
            return [*self._http.errors, *self._errors]

    # --- observation ---------------------------------------------------------------------------------------

    @property
    def connections_opened(self) -> int:
        """TCP connections accepted so far."""
        return self._http.connections_opened

    @property
    def connections_closed(self) -> int:
        """Connections finished so far."""
        return self._http.connections_closed

    @property
    def open_connections(self) -> int:
        """Connections open now."""
        return self._http.open_connections

    def _notify(self) -> None:
        with self._lock:
            self._lock.notify_all()

    def wait_until(self, predicate: Callable[[LocalMuxiServer], bool], timeout: float = 5.0) -> bool:
        """Block until ``predicate(server)`` holds; False after ``timeout`` seconds.

        Woken by every request and webhook attempt, and re-checked at least every 10 ms (for
        connection counts), so it never sleeps longer than needed.
        """
        deadline = time.monotonic() + timeout
        while not predicate(self):  # evaluated without the lock: predicates may call into the server
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with self._lock:
                self._lock.wait(min(remaining, 0.01))
        return True

    def __repr__(self) -> str:
        state = "running" if self._http.portal is not None else "stopped"
        return f"<LocalMuxiServer {state} url={self.url} formation={self.formation_id} key_id={self.key_id}>"

    # --- request entry ------------------------------------------------------------------------------------

    async def _handle(self, request: ServerRequest, writer: ResponseWriter) -> None:
        inc = Incoming.from_request(request)
        if inc.path.startswith(CONTROL_PREFIX):  # never faulted, never counted as traffic
            await self._test_control.handle(inc, Responder(writer, None))
            return
        self.traffic.record(SeenRequest(
            inc.method, inc.raw_path, inc.query_string, inc.header("x-muxi-idempotency-key"),
            inc.header("authorization"), inc.header("x-muxi-user-id"), time.time(),
        ))
        plan = self.faults.take(inc.raw_path) if self.faults.active else None
        out = Responder(writer, plan)
        if plan is not None:
            if plan.latency:
                await writer.guarded(lambda: anyio.sleep(plan.latency))
                if writer.closed:
                    return
            if plan.garbage is not None:
                await out.garbage(plan.garbage)
                return
            if plan.fail_status is not None:
                await self._fail(inc, out, plan)
                return
        await self._control.handle(inc, out)

    async def _fail(self, inc: Incoming, out: Responder, plan: FaultPlan) -> None:
        status = plan.fail_status or 503
        headers = [("Content-Type", "application/json")]
        if plan.retry_after is not None:
            headers.append(("Retry-After", plan.retry_after))
        if inc.path.startswith(("/api/", "/draft/", "/v1/")) or inc.path == "/v1":
            # The runtime's own code for the status (its exception handler's table): 429 RATE_LIMITED,
            # 503 SYSTEM_OVERLOAD, ...
            body = py_json(runtime_error(status, "Injected fault", request_id=new_id("req_"),
                                         timestamp_ms=int(self._ctx.clock() * 1000),
                                         idempotency_key=inc.header("x-muxi-idempotency-key") or None))
        else:
            body = go_json(control_error(status, "Injected fault"))
        await out.send(status, headers, body)


def _with_webhook(existing: Trigger | None, name: str, url: str | None, description: str = "") -> Trigger:
    if existing is None:
        return Trigger(name, url, description)
    return Trigger(name, url, description or existing.description, existing.template,
                   None if existing.source is not None and url != existing.webhook_url else existing.source)
