"""Scenarios written once, run on the sync client and on the async client (asyncio and trio).

A flow is a generator that yields steps and receives their outcomes::

    def flow_secrets(ctx: Context) -> Flow:
        created = yield call("create_secret", key, "v1")
        err = yield fails(ConflictError, "create_secret", key, "v1")
        assert err.code == "SECRET_EXISTS"

:func:`run_sync` performs each step with a ``FormationClient``, :func:`run_async` with an
``AsyncFormationClient``; the flow never knows which. An unexpected exception is thrown back into
the flow at the ``yield`` that caused it, so failures point at the step in the scenario.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import anyio

from muxi_proto.errors import MuxiError
from muxi_proto.http import Headers
from tests.httpserver import HTTPTestServer

__all__ = [
    "CALLED", "Call", "Fails", "Flow", "OpenStream", "Poll", "StreamResult", "WaitFor",
    "call", "fails", "poll", "run_async", "run_sync", "stream", "wait_for",
]


@dataclass(frozen=True)
class Call:
    """Call a client method; the flow receives its result."""

    method: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Fails(Call):
    """Call a client method that must raise ``expected``; the flow receives the exception."""

    expected: type[MuxiError] = MuxiError


@dataclass(frozen=True)
class OpenStream(Call):
    """Open a stream method and read at most ``limit`` events (``None``: to its end)."""

    limit: int | None = None


@dataclass(frozen=True)
class StreamResult:
    """What a stream step gives back: the response headers and the events read."""

    headers: Headers
    events: list[Any]

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)


@dataclass(frozen=True)
class Poll(Call):
    """Call a method every ``interval`` seconds until ``until(result)`` holds (the flow receives that
    result), or fail with AssertionError after ``timeout`` seconds with the last result."""

    until: Callable[[Any], bool] = bool
    timeout: float = 60.0
    interval: float = 0.2


@dataclass(frozen=True)
class WaitFor:
    """Wait (with a deadline) until ``predicate(server)`` holds; the flow receives True or False."""

    server: HTTPTestServer
    predicate: Callable[[HTTPTestServer], bool]
    timeout: float


Step = Call | WaitFor
Flow = Generator[Step, Any, None]


def call(method: str, *args: Any, **kwargs: Any) -> Call:
    return Call(method, args, kwargs)


def fails(expected: type[MuxiError], method: str, *args: Any, **kwargs: Any) -> Fails:
    return Fails(method, args, kwargs, expected)


def stream(method: str, *args: Any, limit: int | None = None, **kwargs: Any) -> OpenStream:
    return OpenStream(method, args, kwargs, limit)


def poll(method: str, *args: Any, until: Callable[[Any], bool], timeout: float = 60.0, **kwargs: Any) -> Poll:
    return Poll(method, args, kwargs, until=until, timeout=timeout)


def wait_for(server: HTTPTestServer, predicate: Callable[[HTTPTestServer], bool], timeout: float) -> WaitFor:
    return WaitFor(server, predicate, timeout)


#: Every client method a flow has called in this session (tests/runtime/test_formation.py checks
#: that each formation method was called against the runtime at least once).
CALLED: set[str] = set()


def _unexpected_success(step: Fails, result: Any) -> AssertionError:
    return AssertionError(f"{step.method} should raise {step.expected.__name__}, returned {result!r:.300}")


def run_sync(flow: Flow, client: Any) -> None:
    """Run ``flow`` against a blocking ``FormationClient``."""

    def perform(step: Step) -> tuple[bool, Any]:
        if isinstance(step, WaitFor):
            return True, step.server.wait_until(step.predicate, step.timeout)
        method = getattr(client, step.method)
        CALLED.add(step.method)
        try:
            if isinstance(step, OpenStream):
                with method(*step.args, **step.kwargs) as events:
                    got = list(itertools.islice(events, step.limit))
                    result: Any = StreamResult(events.headers, got)
            elif isinstance(step, Poll):
                deadline = time.monotonic() + step.timeout
                while not step.until(result := method(*step.args, **step.kwargs)):
                    if time.monotonic() > deadline:
                        return False, AssertionError(f"{step.method}: still {result!r:.300} after {step.timeout}s")
                    time.sleep(step.interval)
            else:
                result = method(*step.args, **step.kwargs)
        except Exception as exc:
            if isinstance(step, Fails) and isinstance(exc, step.expected):
                return True, exc
            return False, exc
        if isinstance(step, Fails):
            return False, _unexpected_success(step, result)
        return True, result

    # (ok, value): ok sends the value into the flow, not ok throws it in at the failing step.
    outcome: tuple[bool, Any] = (True, None)
    while True:
        try:
            step = flow.send(outcome[1]) if outcome[0] else flow.throw(outcome[1])
        except StopIteration:
            return
        outcome = perform(step)


async def run_async(flow: Flow, client: Any) -> None:
    """Run ``flow`` against an ``AsyncFormationClient`` (on whichever loop is running)."""
    outcome: tuple[bool, Any] = (True, None)
    while True:
        try:
            step = flow.send(outcome[1]) if outcome[0] else flow.throw(outcome[1])
        except StopIteration:
            return
        outcome = await _perform_async(step, client)


async def _perform_async(step: Step, client: Any) -> tuple[bool, Any]:
    if isinstance(step, WaitFor):
        return True, await step.server.wait_until_async(step.predicate, step.timeout, poll=0.05)
    method = getattr(client, step.method)
    CALLED.add(step.method)
    try:
        if isinstance(step, OpenStream):
            async with await method(*step.args, **step.kwargs) as events:
                got = []
                if step.limit is None or step.limit > 0:
                    async for event in events:
                        got.append(event)
                        if step.limit is not None and len(got) >= step.limit:
                            break
                result: Any = StreamResult(events.headers, got)
        elif isinstance(step, Poll):
            deadline = time.monotonic() + step.timeout
            while not step.until(result := await method(*step.args, **step.kwargs)):
                if time.monotonic() > deadline:
                    return False, AssertionError(f"{step.method}: still {result!r:.300} after {step.timeout}s")
                await anyio.sleep(step.interval)
        else:
            result = await method(*step.args, **step.kwargs)
    except Exception as exc:
        if isinstance(step, Fails) and isinstance(exc, step.expected):
            return True, exc
        return False, exc
    if isinstance(step, Fails):
        return False, _unexpected_success(step, result)
    return True, result
