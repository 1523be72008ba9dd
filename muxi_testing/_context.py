"""What both planes of the local server share: settings, credentials, formations, helpers."""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import anyio

from ._chat import ReplyFunction
from ._state import FormationRecord, PortPool
from ._webhooks import WebhookSender

__all__ = ["ServerContext"]


@dataclass(repr=False)
class ServerContext:
    """Settings and state of one server instance (used on its event loop)."""

    key_id: str
    secret_key: str
    admin_key: str
    client_key: str
    clock: Callable[[], float]
    reply: ReplyFunction
    webhooks: WebhookSender
    token_delay: float = 0.0
    keepalive_interval: float = 1.0
    step_delay: float = 0.0
    health_check_attempts: int = 1
    hmac_tolerance: int = 300
    server_version: str = "1.0.0-local"
    runtime_version: str = "1.20260928.0"
    sdk_latest: str | None = None
    server_id: str = ""
    started_at: float = 0.0
    base_url: str = ""
    formations: dict[str, FormationRecord] = field(default_factory=dict)
    ports: PortPool = field(default_factory=PortPool)
    server_log: deque[str] = field(default_factory=lambda: deque(maxlen=10_000))
    spawn: Callable[[Callable[[], Awaitable[object]]], None] | None = None
    """Start a background task on the server's loop (set once the loop runs)."""
    stream_gate: anyio.Event | None = None
    """While set to an unset event, chat streams wait after their opening keepalives."""
    held_streams: int = 0
    """Chat streams waiting at the gate now."""

    default_formation: str = ""
    """The start formation: it also answers at ``/v1/...`` directly, as a runtime at its own URL."""
    formation_keys: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Formations with keys of their own (``server.api_keys`` in formation.afs): id -> (admin, client)."""

    def admin_key_for(self, formation_id: str) -> str:
        """The admin key of a formation (its own, else the server's)."""
        return self.formation_keys.get(formation_id, (self.admin_key, self.client_key))[0]

    def client_key_for(self, formation_id: str) -> str:
        """The client key of a formation (its own, else the server's)."""
        return self.formation_keys.get(formation_id, (self.admin_key, self.client_key))[1]

    def background(self, task: Callable[[], Awaitable[object]]) -> None:
        """Run ``task`` in the background on the server's loop."""
        if self.spawn is None:
            raise RuntimeError("the server is not running")
        self.spawn(task)

    def __repr__(self) -> str:
        return f"<ServerContext key_id={self.key_id} formations={sorted(self.formations)}>"
