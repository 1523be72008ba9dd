"""The (transport, flavour) matrix for the reliability tests, and one way to drive a client call on it.

Every test runs under anyio's pytest plugin; the sync flavours run their blocking client in a worker
thread of an asyncio test, so one test body covers all seven combinations:

- the clients' default transports (``default``: no ``transport=`` given, whatever the client picks),
  blocking and async on asyncio and on trio,
- sync ``HTTPCoreTransport`` and ``SocketTransport`` (``FormationClient`` / ``ServerClient``),
- ``AsyncHTTPCoreTransport`` and ``AnyIOTransport`` on asyncio and on trio,
- ``TrioTransport`` on trio.

:func:`call` returns an :class:`Outcome`: the value, or the :class:`MuxiError` raised (anything else
propagates and fails the test: a raw library exception is a bug), and how many connections the
transport still held right after the call. A hang guard turns a hang into a test failure.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.to_thread
import pytest

from muxi_proto.config import FormationConfig, ServerConfig
from muxi_proto.errors import MuxiError
from muxi_transports import (
    AnyIOTransport,
    AsyncFormationClient,
    AsyncHTTPCoreTransport,
    AsyncServerClient,
    AsyncTransport,
    FormationClient,
    HTTPCoreTransport,
    ServerClient,
    SocketTransport,
    Transport,
)
from muxi_transports._async.defaults import async_transport
from muxi_transports._sync.defaults import sync_transport

#: Seconds after which a call counts as hung (far above any timeout the tests configure).
HANG_GUARD = 15.0


@dataclass(frozen=True)
class Flavour:
    """One transport under one event loop (or blocking, for the ``sync-*`` transports)."""

    backend: str
    transport: str

    @property
    def sync(self) -> bool:
        return self.transport.startswith("sync-")

    @property
    def default(self) -> bool:
        """The client's own choice (tests that need the transport first get what the client would make)."""
        return self.transport in ("sync-default", "default")

    def make_transport(self, **options: Any) -> Transport | AsyncTransport:
        if self.transport == "sync-default":
            return sync_transport("http://127.0.0.1", **options)
        if self.transport == "default":
            return async_transport("http://127.0.0.1", **options)
        if self.transport == "sync-httpcore":
            return HTTPCoreTransport(**options)
        if self.transport == "sync-socket":
            return SocketTransport(**options)
        if self.transport == "httpcore":
            return AsyncHTTPCoreTransport(**options)
        if self.transport == "anyio":
            return AnyIOTransport(**options)
        from muxi_transports.trio_transport import TrioTransport

        return TrioTransport(**options)

    def __str__(self) -> str:
        return self.transport if self.sync else f"{self.backend}-{self.transport}"


FLAVOURS = [
    Flavour("asyncio", "sync-default"),
    Flavour("asyncio", "default"),
    Flavour("trio", "default"),
    Flavour("asyncio", "sync-httpcore"),
    Flavour("asyncio", "sync-socket"),
    Flavour("asyncio", "httpcore"),
    Flavour("asyncio", "anyio"),
    Flavour("trio", "httpcore"),
    Flavour("trio", "anyio"),
    Flavour("trio", "trio"),
]
ASYNC_FLAVOURS = [f for f in FLAVOURS if not f.sync]
SYNC_FLAVOURS = [f for f in FLAVOURS if f.sync]


def held_connections(transport: Transport | AsyncTransport) -> int:
    """Connections a transport holds now, idle or busy."""
    return int(transport.connections)  # type: ignore[union-attr]


@dataclass
class Outcome:
    """What a call gave: ``value`` or ``error``, and the connections held right afterwards."""

    value: Any = None
    error: MuxiError | None = None
    held: int = 0
    transport: Any = field(default=None, repr=False)

    def raised(self, cls: type[MuxiError]) -> MuxiError:
        """The error, asserted to be a ``cls``."""
        assert isinstance(self.error, cls), f"expected {cls.__name__}, got {self.error!r} (value {self.value!r})"
        return self.error


def _client_class(flavour: Flavour, config: FormationConfig | ServerConfig) -> Any:
    if isinstance(config, ServerConfig):
        return ServerClient if flavour.sync else AsyncServerClient
    return FormationClient if flavour.sync else AsyncFormationClient


async def call(
    flavour: Flavour,
    config: FormationConfig | ServerConfig,
    method: str,
    *args: Any,
    stream: bool = False,
    client_options: dict[str, Any] | None = None,
    transport: Transport | AsyncTransport | None = None,
    **kwargs: Any,
) -> Outcome:
    """``client.method(*args, **kwargs)`` on a fresh client (and transport unless one is given).

    ``stream=True`` collects the events of a stream method. The transport is closed afterwards
    unless it was passed in.
    """
    options = client_options or {}
    owned = transport is None
    cls = _client_class(flavour, config)

    def make_client() -> Any:
        if transport is None and flavour.default:
            return cls(config, **options)  # the client picks (and owns) its default transport
        return cls(config, transport=transport or flavour.make_transport(), **options)

    if flavour.sync:
        def blocking() -> Outcome:
            client = make_client()
            t = client.transport
            out = Outcome(transport=t)
            try:
                result = getattr(client, method)(*args, **kwargs)
                out.value = list(result) if stream else result
            except MuxiError as exc:
                out.error = exc
            out.held = held_connections(t)
            if owned:
                t.close()
            return out

        with anyio.fail_after(HANG_GUARD):
            return await anyio.to_thread.run_sync(blocking, abandon_on_cancel=True)

    client = make_client()
    t = client.transport
    out = Outcome(transport=t)
    try:
        with anyio.fail_after(HANG_GUARD):
            try:
                result = await getattr(client, method)(*args, **kwargs)
                out.value = [evt async for evt in result] if stream else result
            except MuxiError as exc:
                out.error = exc
        out.held = held_connections(t)
    finally:
        if owned:
            await t.aclose()  # type: ignore[union-attr]
    return out


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``predicate`` (every few ms) until it holds; False after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        await anyio.sleep(0.005)
    return True


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """:func:`eventually` for blocking code: poll ``predicate`` until it holds; False after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.005)
    return True


def matrix_fixtures() -> tuple[Any, Any]:
    """``(flavour, anyio_backend)`` fixtures for a test module: ``flavour, anyio_backend = matrix_fixtures()``.

    ``flavour`` is every (transport, flavour) combination; ``anyio_backend`` the loop each runs on
    (the sync flavours' worker threads are driven from asyncio).
    """

    @pytest.fixture(params=FLAVOURS, ids=str)
    def flavour(request: pytest.FixtureRequest) -> Flavour:
        value: Flavour = request.param
        return value

    @pytest.fixture
    def anyio_backend(flavour: Flavour) -> str:
        return flavour.backend

    return flavour, anyio_backend


def recording_sleeps(flavour: Flavour, transport: Transport | AsyncTransport) -> tuple[list[float], dict[str, Any]]:
    """Record the client's waits between retries instead of waiting: ``(delays, client_options)``.

    Sync clients take a ``sleep=`` function; async clients sleep through their transport.
    """
    delays: list[float] = []
    if flavour.sync:
        return delays, {"sleep": delays.append}

    async def sleep(seconds: float) -> None:
        delays.append(seconds)
        await anyio.sleep(0)

    transport.sleep = sleep  # type: ignore[method-assign,union-attr]
    return delays, {}
