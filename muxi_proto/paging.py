"""All of a session's messages in one call, and a typed error where the runtime cannot give them.

``GET /sessions/{id}/messages`` answers the **oldest** ``limit`` messages (1 to 1000) and a
``has_more`` flag. Its ``before`` parameter is not honoured by muxi-runtime 1.20260928.0: the
buffer has no ``get_messages``, so the route falls back to scanning the buffer from its oldest
entry and ``before`` is never read (recorded: ``tests/fixtures/runtime/*/sessions.json``, step
``messages_before``; docs/runtime.md). Paging with ``before`` would therefore get the same first
page forever.

So :class:`SessionMessagesMachine` asks once, for up to the runtime's maximum of 1000 messages:
one call is also the cheapest way, since the runtime scans the whole buffer anyway to tell
whether more exist. When more exist than it may ask for, it fails with
:class:`~muxi_proto.errors.LimitExceededError` instead of returning a silently truncated list.
It is a :class:`~muxi_proto.polling.PollMachine` (the same events and instructions as a call
machine, docs/drivers.md), so every client and driver runs the helper
``get_all_session_messages`` unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from .call import CallMachine, CallSettings, Done, Fail, Send, Sleep
from .errors import ConfigurationError, LimitExceededError
from .polling import PollMachine

__all__ = ["MAX_SESSION_MESSAGES", "SessionMessagesMachine"]

R = TypeVar("R")

#: The largest ``limit`` the runtime accepts on ``GET /sessions/{id}/messages`` (422 above it).
MAX_SESSION_MESSAGES = 1000


class SessionMessagesMachine(PollMachine[R]):
    """One ``GET /sessions/{id}/messages`` at ``limit=max_messages``: its answer when complete
    (``has_more`` false), else :class:`~muxi_proto.errors.LimitExceededError` (``details``: the
    session, the limit, the messages received)."""

    __slots__ = ("_limit", "_session_id")

    def __init__(
        self, make: Callable[[int], CallMachine[R]], *, session_id: str, max_messages: int, settings: CallSettings,
    ) -> None:
        if isinstance(max_messages, bool) or not isinstance(max_messages, int) or not (
                1 <= max_messages <= MAX_SESSION_MESSAGES):
            raise ConfigurationError("INVALID_ARGUMENT", f"max_messages must be an int from 1 to "
                                     f"{MAX_SESSION_MESSAGES} (the runtime's bound), got {max_messages!r}")
        self._limit = max_messages
        self._session_id = session_id
        super().__init__(lambda: make(max_messages), _complete, settings=settings, timeout=float("inf"),
                         interval=1.0, what=f"session {session_id} messages")

    def _after(self, step: Done[R] | Fail | Send) -> Done[R] | Fail | Send | Sleep:
        if not isinstance(step, Done) or _complete(step.result):
            return step
        result: Any = step.result
        got = len(result.get("messages") or ())
        return Fail(LimitExceededError(
            message=f"session {self._session_id} has more than {self._limit} messages; the runtime gives only the "
                    f"oldest {MAX_SESSION_MESSAGES} and ignores `before` (docs/runtime.md)",
            details={"session_id": self._session_id, "limit": self._limit, "received": got},
        ))


def _complete(result: Any) -> bool:
    return isinstance(result, dict) and not result.get("has_more")
