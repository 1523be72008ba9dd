"""Webhook delivery as the runtime does it: signed canonical JSON, default-spaced body, 1/2/4 s retries.

The signature (``X-Muxi-Signature: t=<unix s>,v1=<hex>``) covers ``f"{t}."`` plus the payload's
canonical JSON (compact, sorted keys), keyed with the formation's admin key; the body on the wire is
``json.dumps`` with its default spacing and ``\\uXXXX`` escapes. So a receiver that checks the raw
bytes fails and one that re-serialises canonically succeeds -- exactly like a real runtime.
Deliveries run on the server's own event loop, through our :class:`AnyIOTransport`.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio

from muxi_proto.errors import MuxiError
from muxi_proto.http import Request, Timeout
from muxi_proto.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from muxi_transports import AnyIOTransport

__all__ = ["DEFAULT_RETRY_DELAYS", "WebhookDelivery", "WebhookSender"]

DEFAULT_RETRY_DELAYS: tuple[float, ...] = (1.0, 2.0, 4.0)
MAX_DELIVERIES = 10_000  # the most recent kept for inspection
_TIMEOUT = Timeout.of(10.0)


@dataclass
class WebhookDelivery:
    """One webhook and what became of it: ``attempts`` made, last ``status`` or ``error``."""

    url: str
    payload: dict[str, Any]
    attempts: int = 0
    status: int | None = None
    error: str | None = None
    delivered: bool = False
    finished: bool = False
    statuses: list[int | str] = field(default_factory=list)
    """Each attempt's HTTP status, or the error class name when the request failed."""


class WebhookSender:
    """Sends webhooks from the server's loop; ``deliveries`` is safe to read from any thread."""

    def __init__(
        self,
        *,
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        clock: Callable[[], float],
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.retry_delays = tuple(retry_delays)
        self._clock = clock
        self._on_change = on_change
        self._lock = threading.Lock()
        self._deliveries: deque[WebhookDelivery] = deque(maxlen=MAX_DELIVERIES)
        self._transport: AnyIOTransport | None = None

    @property
    def deliveries(self) -> list[WebhookDelivery]:
        """The webhooks started so far (the last ``MAX_DELIVERIES``), oldest first."""
        with self._lock:
            return list(self._deliveries)

    async def deliver(self, url: str, payload: dict[str, Any], secret: str) -> WebhookDelivery:
        """POST ``payload`` to ``url``, retrying on failure after each of ``retry_delays``."""
        delivery = WebhookDelivery(url, payload)
        with self._lock:
            self._deliveries.append(delivery)
        body = json.dumps(payload).encode()  # default spacing: not the signed bytes (docs/protocol.md §12)
        delays = (*self.retry_delays, None)
        try:
            for delay in delays:
                timestamp = int(self._clock())
                headers = (
                    ("Content-Type", "application/json"),
                    (SIGNATURE_HEADER, sign(payload, secret, timestamp=timestamp)),
                    (TIMESTAMP_HEADER, str(timestamp)),
                    ("User-Agent", "muxi-local-server"),
                )
                outcome = await self._attempt(Request("POST", url, headers, body, timeout=_TIMEOUT))
                with self._lock:
                    delivery.attempts += 1
                    delivery.statuses.append(outcome)
                    if isinstance(outcome, int):
                        delivery.status, delivery.error = outcome, None
                        delivery.delivered = 200 <= outcome <= 299
                    else:
                        delivery.error = outcome
                self._changed()
                if delivery.delivered or delay is None:
                    break
                await anyio.sleep(delay)
        finally:
            with self._lock:
                delivery.finished = True
            self._changed()
        return delivery

    async def _attempt(self, request: Request) -> int | str:
        if self._transport is None:
            self._transport = AnyIOTransport()
        try:
            response = await self._transport.send(request)
            async with response:
                await response.aread(64 * 1024)
        except MuxiError as exc:
            return type(exc).__name__
        return response.status

    async def aclose(self) -> None:
        """Close the transport (on the server's loop)."""
        if self._transport is not None:
            await self._transport.aclose()
            self._transport = None

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()
