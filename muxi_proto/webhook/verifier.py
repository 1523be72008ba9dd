""":class:`WebhookVerifier` (several secrets, an injected clock, replay protection) and its store."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from heapq import heappop, heappush
from typing import Any, Protocol

from ..errors import ConfigurationError, WebhookVerificationError
from .body import Payload
from .event import WebhookEvent, parse
from .signature import DEFAULT_TOLERANCE, check_tolerance, find_signature, secret_bytes

__all__ = ["MemoryReplayStore", "ReplayStore", "WebhookVerifier"]


class ReplayStore(Protocol):
    """Remembers accepted signatures until they expire (bring your own to share across processes)."""

    def check_and_record(self, key: bytes, expires_at: float, now: float) -> bool:
        """Record ``key`` and return True if it is new; return False if it is already recorded."""
        ...


class MemoryReplayStore:
    """An in-process :class:`ReplayStore` holding at most ``max_entries`` keys.

    Keys are dropped once expired (a replay of them fails the timestamp check anyway). When full of
    unexpired keys, the one closest to expiry is evicted, so memory stays bounded under any load.
    Not locked: share one between threads only under a lock of your own.
    """

    def __init__(self, max_entries: int = 10_000) -> None:
        if max_entries < 1:
            raise ConfigurationError(message="max_entries must be at least 1")
        self.max_entries = max_entries
        self._expiry: dict[bytes, float] = {}
        self._heap: list[tuple[float, bytes]] = []

    def __len__(self) -> int:
        return len(self._expiry)

    def __repr__(self) -> str:
        return f"MemoryReplayStore(entries={len(self)}, max_entries={self.max_entries})"

    def check_and_record(self, key: bytes, expires_at: float, now: float) -> bool:
        """Record ``key`` (valid until ``expires_at``); False if it is already recorded."""
        heap, expiry = self._heap, self._expiry
        while heap and heap[0][0] < now:
            expiry.pop(heappop(heap)[1], None)
        if key in expiry:
            return False
        while len(expiry) >= self.max_entries:
            expiry.pop(heappop(heap)[1], None)
        expiry[key] = expires_at
        heappush(heap, (expires_at, key))
        return True


class WebhookVerifier:
    """:func:`verify_signature` for applications that want more.

    - several secrets (key rotation): a signature by any of them is accepted;
    - an injected ``clock`` (a callable returning Unix seconds);
    - replay protection: an accepted ``(t, signature)`` pair is refused the next time. The runtime
      re-signs each delivery attempt of completion and clarification webhooks, so its retries are
      not replays; a retried escalation webhook carries the same signature and is refused.

    Pass ``replay_store=None`` to switch replay protection off, or a shared :class:`ReplayStore`
    when several processes receive webhooks.
    """

    _DEFAULT_STORE: Any = object()

    def __init__(
        self,
        secrets: str | bytes | Sequence[str | bytes],
        *,
        tolerance: float = DEFAULT_TOLERANCE,
        clock: Callable[[], float] = time.time,
        replay_store: ReplayStore | None = _DEFAULT_STORE,
    ) -> None:
        if isinstance(secrets, (str, bytes)):
            secrets = [secrets]
        keys = tuple(secret_bytes(s) for s in secrets)
        if not keys:
            raise WebhookVerificationError(message="at least one webhook secret is required")
        self._keys = keys
        self.tolerance = check_tolerance(tolerance, None)
        self.clock = clock
        self.replay_store: ReplayStore | None = (
            MemoryReplayStore() if replay_store is self._DEFAULT_STORE else replay_store
        )

    def __repr__(self) -> str:
        return (
            f"WebhookVerifier(secrets=<{len(self._keys)} hidden>, tolerance={self.tolerance!r}, "
            f"replay_store={self.replay_store!r})"
        )

    def verify(self, payload: Payload, signature_header: str | bytes | None) -> bool:
        """True for a valid, fresh signature by one of the secrets that was not seen before."""
        now = self.clock()
        match = find_signature(payload, signature_header, self._keys, self.tolerance, now)
        if match is None:
            return False
        if self.replay_store is None:
            return True
        t, digest = match
        return self.replay_store.check_and_record(b"%d." % t + digest, t + self.tolerance, now)

    def verify_and_parse(self, payload: Payload, signature_header: str | bytes | None) -> WebhookEvent:
        """:meth:`verify` then :func:`parse`; an invalid signature raises WebhookVerificationError."""
        if not self.verify(payload, signature_header):
            raise WebhookVerificationError(message="webhook signature is invalid, stale or replayed")
        return parse(payload)
