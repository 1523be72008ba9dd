"""Idle keep-alive connections: a pool per origin, and the check that one was closed meanwhile.

Shared by the transports that keep their own connections (socket, anyio, trio) and by the asyncio
network layer under httpcore.
"""

from __future__ import annotations

import select
import socket
from collections import deque
from typing import Any, Generic, Protocol, TypeVar

__all__ = ["IdlePool", "socket_is_readable"]


def socket_is_readable(sock: socket.socket | Any | None) -> bool:
    """True if ``sock`` has something to read (for an idle HTTP connection: EOF, so it is stale).

    Unknown sockets count as readable, so the caller opens a fresh connection instead of guessing.
    """
    if sock is None:
        return True
    fd = sock.fileno()
    if fd < 0:
        return True
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
    readable, _, _ = select.select([fd], [], [], 0)
    return bool(readable)


class _Pooled(Protocol):
    @property
    def origin(self) -> tuple[str, str, int]: ...


P = TypeVar("P", bound=_Pooled)


class IdlePool(Generic[P]):
    """Idle keep-alive connections per origin, newest first, at most ``max_per_origin`` each."""

    __slots__ = ("_idle", "max_per_origin")

    def __init__(self, max_per_origin: int) -> None:
        self.max_per_origin = max_per_origin
        self._idle: dict[tuple[str, str, int], deque[P]] = {}

    def take(self, origin: tuple[str, str, int]) -> P | None:
        """The most recently used idle connection to ``origin``, or None."""
        idle = self._idle.get(origin)
        return idle.pop() if idle else None

    def put(self, conn: P) -> P | None:
        """Park ``conn``; returns the connection pushed out (the oldest), if the list was full."""
        idle = self._idle.setdefault(conn.origin, deque())
        idle.append(conn)
        return idle.popleft() if len(idle) > self.max_per_origin else None

    def drain(self) -> list[P]:
        """Remove and return every idle connection."""
        out = [conn for idle in self._idle.values() for conn in idle]
        self._idle.clear()
        return out

    def __len__(self) -> int:
        return sum(len(idle) for idle in self._idle.values())
