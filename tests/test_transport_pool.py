"""The h11 transports' idle pool as a state machine, and the no-anyio rule for the trio path."""

from __future__ import annotations

import ast
import socket
from collections import deque
from pathlib import Path

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from muxi_transports._async.h11_transport import AsyncByteStream, _Connection
from muxi_transports._idle import IdlePool, socket_is_readable

ORIGINS = [("http", "a", 80), ("https", "a", 443), ("http", "b", 8080)]


class _FakeStream(AsyncByteStream):
    async def receive(self, timeout: float | None) -> bytes:
        raise NotImplementedError

    async def send(self, data: bytes, timeout: float | None) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    def is_readable(self) -> bool:
        return False


class IdlePoolMachine(RuleBasedStateMachine):
    """IdlePool against a model: per origin, newest first, bounded, nothing lost or duplicated."""

    def __init__(self) -> None:
        super().__init__()
        self.max = 3
        self.pool = IdlePool(self.max)
        self.model: dict[tuple[str, str, int], deque[_Connection]] = {o: deque() for o in ORIGINS}
        self.evicted: list[_Connection] = []

    @rule(origin=st.sampled_from(ORIGINS))
    def put(self, origin: tuple[str, str, int]) -> None:
        conn = _Connection(_FakeStream(), origin)
        evicted = self.pool.put(conn)
        idle = self.model[origin]
        idle.append(conn)
        expected = idle.popleft() if len(idle) > self.max else None
        assert evicted is expected
        if evicted is not None:
            self.evicted.append(evicted)

    @rule(origin=st.sampled_from(ORIGINS))
    def take(self, origin: tuple[str, str, int]) -> None:
        conn = self.pool.take(origin)
        idle = self.model[origin]
        assert conn is (idle.pop() if idle else None)
        assert conn is None or conn.origin == origin

    @rule()
    def drain(self) -> None:
        drained = self.pool.drain()
        assert sorted(map(id, drained)) == sorted(id(c) for idle in self.model.values() for c in idle)
        for idle in self.model.values():
            idle.clear()

    @invariant()
    def sizes_match(self) -> None:
        assert len(self.pool) == sum(len(idle) for idle in self.model.values())
        assert all(len(idle) <= self.max for idle in self.model.values())


TestIdlePool = IdlePoolMachine.TestCase


def test_socket_readability_tells_a_closed_peer() -> None:
    left, right = socket.socketpair()
    try:
        assert not socket_is_readable(left)
        right.close()
        assert socket_is_readable(left)  # EOF is readable: the connection is stale
    finally:
        left.close()
    assert socket_is_readable(None)
    assert socket_is_readable(left)  # closed: fileno() is -1


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_trio_path_never_imports_anyio() -> None:
    package = Path(__file__).resolve().parent.parent / "muxi_transports"
    for name in ("trio_transport.py", "_async/h11_transport.py", "_aiter.py", "_h11_exchange.py", "_chunked.py",
                 "_head_codec.py", "_tls.py", "_httpcore_compat.py", "_errors.py"):
        assert "anyio" not in _imports(package / name), name
