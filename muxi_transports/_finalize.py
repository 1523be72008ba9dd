"""Closing connections of streams that were dropped without being closed (garbage collected).

A finalizer runs wherever the last reference goes away, or inside a garbage collection that may
have interrupted any code, including code holding a (non-reentrant) lock the close needs. So:

- blocking closes (:class:`Closer`) run at once, except during a collection, when a short-lived
  thread runs them;
- async closes (:class:`AsyncCloser`) never run in the finalizer: they are handed to the stream's
  own event loop, the way asyncio and trio finalize abandoned async generators
  (``call_soon_threadsafe`` / a trio system task), and do nothing once that loop has finished.

Both have ``current()`` and ``close_abandoned(close)``, so the stream code that uses them is written
once (``_async/client.py``, and the blocking twin generated from it).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["AsyncCloser", "Closer"]

_collecting = False


def _on_gc(phase: str, info: dict[str, Any]) -> None:
    global _collecting  # noqa: PLW0603 - one flag for the process, like the collector itself
    _collecting = phase == "start"


gc.callbacks.append(_on_gc)


def _report(exc: BaseException) -> None:
    # Nobody is left to raise to: keep a trace for debugging (messages never hold secrets).
    logging.getLogger("muxi").debug("closing an abandoned stream failed: %r", exc)


def _close_quietly(close: Callable[[], object]) -> None:
    try:
        close()
    except Exception as exc:
        _report(exc)


class Closer:
    """Where a dropped blocking stream's connection is closed: here, at once, or on a short-lived
    thread when a garbage collection is running."""

    __slots__ = ()

    @classmethod
    def current(cls) -> Closer | None:
        """The closer for streams opened now (one for the process)."""
        return _CLOSER

    def close_abandoned(self, close: Callable[[], object]) -> None:
        """Run ``close`` for a dropped stream: now, or on a thread during a collection; never raises."""
        if not _collecting:
            _close_quietly(close)
            return
        with contextlib.suppress(RuntimeError):  # interpreter shutting down: the OS closes the socket
            threading.Thread(target=_close_quietly, args=(close,), daemon=True, name="muxi-close").start()


_CLOSER = Closer()


async def _aclose_quietly(aclose: Callable[[], Awaitable[object]]) -> None:
    try:
        await aclose()
    except Exception as exc:
        _report(exc)


_tasks: set[Any] = set()  # asyncio keeps only weak references to tasks


class AsyncCloser:
    """Where a dropped async stream's connection is closed: the event loop it was opened on."""

    __slots__ = ("_schedule",)

    def __init__(self, schedule: Callable[[Callable[[], Awaitable[object]]], None]) -> None:
        self._schedule = schedule

    @classmethod
    def current(cls) -> AsyncCloser | None:
        """The running trio or asyncio loop; None elsewhere (no finalizer then)."""
        trio = sys.modules.get("trio")
        if trio is not None:
            try:
                token = trio.lowlevel.current_trio_token()
            except RuntimeError:
                pass
            else:
                return cls(_trio_scheduler(trio, token))
        asyncio = sys.modules.get("asyncio")
        if asyncio is not None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return None
            return cls(_asyncio_scheduler(loop))
        return None

    def close_abandoned(self, aclose: Callable[[], Awaitable[object]]) -> None:
        """Run ``aclose()`` on the loop soon; safe from any thread, a finalizer included; never raises."""
        self._schedule(aclose)


def _trio_scheduler(trio: Any, token: Any) -> Callable[[Callable[[], Awaitable[object]]], None]:
    def schedule(aclose: Callable[[], Awaitable[object]]) -> None:
        with contextlib.suppress(trio.RunFinishedError):  # the run is over: nothing to close on
            token.run_sync_soon(trio.lowlevel.spawn_system_task, _aclose_quietly, aclose)

    return schedule


def _asyncio_scheduler(loop: Any) -> Callable[[Callable[[], Awaitable[object]]], None]:
    def start(aclose: Callable[[], Awaitable[object]]) -> None:
        task = loop.create_task(_aclose_quietly(aclose))
        _tasks.add(task)
        task.add_done_callback(_tasks.discard)

    def schedule(aclose: Callable[[], Awaitable[object]]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed
            loop.call_soon_threadsafe(start, aclose)

    return schedule
