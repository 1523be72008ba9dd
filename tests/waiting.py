"""``wait_until`` for the threaded test servers: block until a predicate about the server holds."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["Waitable"]

S = TypeVar("S", bound="Waitable")


class Waitable:
    """A server whose connection events call ``notify_all`` on ``self._cond``."""

    _cond: threading.Condition

    def wait_until(self: S, predicate: Callable[[S], bool], timeout: float = 5.0) -> bool:
        """Block until ``predicate(server)`` holds (re-checked on each connection event); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True
