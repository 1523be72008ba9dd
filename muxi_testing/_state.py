"""In-memory state of the local server's control plane: formations, versions, logs, ports, feeds.

Everything here is touched only on the server's event loop thread (public helpers that change it
from other threads hop onto the loop first), so there are no locks. Every collection is bounded:
a long benchmark cannot grow the server without limit. Each formation's runtime data lives in
:class:`muxi_testing.runtime.state.RuntimeState`.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import zipfile
from collections import OrderedDict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

import anyio

if TYPE_CHECKING:
    from .runtime.state import RuntimeState

__all__ = [
    "Feed",
    "FormationRecord",
    "IdempotencyCache",
    "LogBuffer",
    "PortPool",
    "Subscription",
    "Version",
    "bundle_to_zip",
    "make_bundle",
]

T = TypeVar("T")

MAX_LOG_LINES = 10_000


# --- publish / subscribe (log follow, /events, /logs streams) --------------------------------------


class Subscription(Generic[T]):
    """One reader of a :class:`Feed`: a bounded queue and a wake-up event.

    A reader too slow to keep ``maxlen`` items queued is marked ``overflowed`` (its stream then
    ends with an error frame) rather than losing items silently or growing without bound.
    """

    __slots__ = ("_items", "_maxlen", "_wake", "overflowed")

    def __init__(self, maxlen: int) -> None:
        self._items: deque[T] = deque()
        self._maxlen = maxlen
        self._wake: anyio.Event | None = None
        self.overflowed = False

    def push(self, item: T) -> None:
        if len(self._items) >= self._maxlen:
            self.overflowed = True
        else:
            self._items.append(item)
        if self._wake is not None:
            self._wake.set()

    async def next_batch(self, timeout: float | None) -> list[T]:
        """What arrived since the last call, waiting up to ``timeout`` seconds (``[]`` when none)."""
        if not self._items and not self.overflowed:
            self._wake = anyio.Event()
            with anyio.move_on_after(timeout):
                await self._wake.wait()
            self._wake = None
        items = list(self._items)
        self._items.clear()
        return items


class Feed(Generic[T]):
    """Items published to every current subscriber."""

    __slots__ = ("_subs",)

    def __init__(self) -> None:
        self._subs: set[Subscription[T]] = set()

    def publish(self, item: T) -> None:
        for sub in tuple(self._subs):
            sub.push(item)

    @contextmanager
    def subscribe(self, maxlen: int = 1_000) -> Iterator[Subscription[T]]:
        sub: Subscription[T] = Subscription(maxlen)
        self._subs.add(sub)
        try:
            yield sub
        finally:
            self._subs.discard(sub)


class LogBuffer:
    """A formation's stdout and stderr lines (the last ``MAX_LOG_LINES`` of each), and a feed of new ones."""

    __slots__ = ("feed", "lines", "totals")

    def __init__(self) -> None:
        self.lines: dict[str, deque[str]] = {
            "stdout": deque(maxlen=MAX_LOG_LINES), "stderr": deque(maxlen=MAX_LOG_LINES)}
        self.totals = {"stdout": 0, "stderr": 0}
        self.feed: Feed[tuple[str, str]] = Feed()

    def add(self, line: str, stream: str = "stdout") -> None:
        if stream not in self.lines:
            raise ValueError("stream must be 'stdout' or 'stderr'")
        for part in line.splitlines() or [""]:
            self.lines[stream].append(part)
            self.totals[stream] += 1
            self.feed.publish((stream, part))

    def tail(self, stream: str, n: int) -> list[str]:
        lines = self.lines[stream]
        return list(lines)[-n:] if n < len(lines) else list(lines)


# --- control plane ---------------------------------------------------------------------------------


class PortPool:
    """Fake formation ports (nothing listens on them; they only appear in answers)."""

    def __init__(self, first: int = 8001, size: int = 999) -> None:
        self.first = first
        self.size = size
        self._used: set[int] = set()

    def allocate(self) -> int:
        for port in range(self.first, self.first + self.size):
            if port not in self._used:
                self._used.add(port)
                return port
        raise RuntimeError("no free ports in the pool")

    def release(self, port: int) -> None:
        self._used.discard(port)

    @property
    def allocated(self) -> int:
        return len(self._used)


@dataclass
class Version:
    """One deployed bundle of a formation."""

    number: int
    bundle: bytes = field(repr=False)
    semver: str
    deployed_at: float
    spec: object = field(default=None, repr=False, compare=False)
    """The :class:`~muxi_testing.formation.FormationSpec` this version serves."""

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.bundle).hexdigest()


@dataclass
class FormationRecord:
    """A formation the server knows: lifecycle status, versions, logs and its runtime's data."""

    id: str
    name: str
    port: int
    pid: int
    current: Version
    runtime: RuntimeState
    status: str = "starting"
    healthy: bool = False
    restart_count: int = 0
    deployed_at: float = 0.0
    started_at: float = 0.0
    last_health_check: float = 0.0
    previous: Version | None = None
    deploying: bool = False
    staging_port: int = 0
    update_cancelled: bool = False
    logs: LogBuffer = field(default_factory=LogBuffer)

    @property
    def version(self) -> str:
        return self.current.semver

    def mark_running(self, now: float) -> None:
        self.status = "running"
        self.healthy = True
        self.started_at = now
        self.last_health_check = now

    def mark_starting(self) -> None:
        self.status = "starting"
        self.healthy = False

    def mark_stopped(self) -> None:
        self.status = "stopped"
        self.healthy = False


# --- formation plane -----------------------------------------------------------------------------


class IdempotencyCache:
    """2xx JSON answers by ``(path, idempotency key)``, kept ``ttl`` seconds (the runtime: 24 h)."""

    def __init__(self, *, ttl: float = 86_400.0, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, str], tuple[float, int, bytes]] = OrderedDict()

    def get(self, path: str, key: str, now: float) -> tuple[int, bytes] | None:
        entry = self._entries.get((path, key))
        if entry is None:
            return None
        expires, status, body = entry
        if expires <= now:
            del self._entries[(path, key)]
            return None
        return status, body

    def put(self, path: str, key: str, status: int, body: bytes, now: float) -> None:
        self._entries[(path, key)] = (now + self.ttl, status, body)
        self._entries.move_to_end((path, key))
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


# --- bundles -----------------------------------------------------------------------------------------


def make_bundle(formation_id: str, *, version: str = "1.0.0", name: str = "Demo formation",
                files: dict[str, str] | None = None) -> bytes:
    """A valid deploy bundle (tar.gz) for the pre-deployed formation: ``files`` (relative path -> text),
    or a small demo formation."""
    if files is None:
        files = {
            "formation.afs": (
                f'schema: "1.0.0"\nid: {formation_id}\nversion: "{version}"\nname: {name}\n'
                "description: A formation served by the local MUXI server.\n"
            ),
            "agents/assistant.afs": "id: assistant\nname: Assistant\ndescription: Answers questions.\n",
        }
    folders = sorted({formation_id} | {f"{formation_id}/{rel.rsplit('/', 1)[0]}" for rel in files if "/" in rel})
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for directory in folders:
            info = tarfile.TarInfo(directory)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
        for rel, text in sorted(files.items()):
            data = text.encode()
            info = tarfile.TarInfo(f"{formation_id}/{rel}")
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def bundle_to_zip(bundle: bytes) -> bytes:
    """The server's download: the formation's files (relative to its folder) as a zip.

    Hidden files are left out except ``.env``, as the MUXI server does. The bundle was validated
    at deploy time (one top-level folder, only files and directories, no unsafe paths).
    """
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(bundle), mode="r:gz") as tar, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for member in tar.getmembers():
            parts = member.name.split("/")[1:]
            if not parts or any(p.startswith(".") and p != ".env" for p in parts):
                continue
            rel = "/".join(parts)
            if member.isdir():
                zf.writestr(rel + "/", b"")
            elif member.isfile():
                extracted = tar.extractfile(member)
                zf.writestr(rel, extracted.read() if extracted is not None else b"")
    return out.getvalue()
