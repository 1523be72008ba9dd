"""The MUXI server's check of a deploy bundle (docs/protocol.md §4), and the files the runtime reads.

Written from the server's rules with the standard library's ``tarfile``, not with the client's
bundle reader (``muxi_proto.bundle``), so a client that packs a bundle wrongly is refused here
instead of being mirrored:

- gzip-compressed tar, at most ``max_unpacked`` bytes once unpacked;
- every entry below one named top-level directory (no ``./``); only regular files and
  directories; no absolute paths, no ``..``;
- ``formation.afs`` (or ``formation.yaml`` / ``formation.yml``) directly in that directory, whose
  top-level ``id`` and ``version`` are read (PyYAML when installed, else a plain scan of
  ``key: value`` lines at column 0, which is all a formation header needs).
"""

from __future__ import annotations

import io
import re
import tarfile
import zlib
from dataclasses import dataclass, field

__all__ = ["BundleRefused", "CheckedBundle", "check_bundle"]

FORMATION_FILES = ("formation.afs", "formation.yaml", "formation.yml")
TEXT_SUFFIXES = (".afs", ".yaml", ".yml", ".md")
_TOP_LEVEL = re.compile(r"^([A-Za-z_][A-Za-z0-9_-]*)\s*:\s*(.*?)\s*$")


class BundleRefused(Exception):
    """The bundle cannot be deployed; ``missing_config`` tells a missing formation file apart."""

    def __init__(self, message: str, *, missing_config: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.missing_config = missing_config


@dataclass(frozen=True)
class CheckedBundle:
    """What the server takes from a valid bundle."""

    top: str
    formation_id: str | None
    version: str | None
    files: dict[str, str] = field(default_factory=dict)
    """The formation's text files (``formation.afs``, ``agents/*.afs``, ...), relative to the top folder."""


def _scalar(text: str) -> str | None:
    value = text.split(" #", 1)[0].strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return value or None


def _header(text: str) -> tuple[str | None, str | None]:
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        values = {}
        for line in text.splitlines():
            match = _TOP_LEVEL.match(line)
            if match and match.group(1) not in values:
                values[match.group(1)] = _scalar(match.group(2))
        return values.get("id"), values.get("version")
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise BundleRefused(f"invalid formation config: {exc}", missing_config=True) from None
    if not isinstance(doc, dict):
        raise BundleRefused("invalid formation config: not a mapping", missing_config=True)

    def text_of(value: object) -> str | None:
        return None if value is None else str(value)

    return text_of(doc.get("id")), text_of(doc.get("version"))


def _take(archive: tarfile.TarFile, member: tarfile.TarInfo, tops: set[str], files: dict[str, str]) -> None:
    name = member.name
    if name.startswith("/") or name == "." or name.startswith("./"):
        raise BundleRefused(f"entries must sit under one named top-level folder, not {name!r}")
    parts = [p for p in name.split("/") if p]
    if ".." in parts or "." in parts:
        raise BundleRefused(f"unsafe path in bundle: {name}")
    if not (member.isfile() or member.isdir()):
        raise BundleRefused(f"unsupported entry type in bundle: {name}")
    if member.isfile() and name.endswith("/"):
        # Tar readers disagree on it (Go keeps a regular file, Python's tarfile and some extractors
        # a directory): refused, as the client refuses it, rather than guessed.
        raise BundleRefused(f"a regular file named like a directory: {name}")
    if not parts:
        return
    tops.add(parts[0])
    if member.isfile() and len(parts) == 1:
        raise BundleRefused(f"file outside the formation folder: {name}")
    rel = "/".join(parts[1:])
    if member.isfile() and rel.endswith(TEXT_SUFFIXES):
        extracted = archive.extractfile(member)
        if extracted is not None:
            files[rel] = extracted.read().decode("utf-8", "replace")


def check_bundle(data: bytes, *, max_unpacked: int = 256 * 1024 * 1024) -> CheckedBundle:
    """Check ``data`` as the server does; :class:`BundleRefused` with the reason otherwise."""
    if not data:
        raise BundleRefused("bundle is empty")
    try:
        raw = zlib.decompressobj(16 + zlib.MAX_WBITS)
        unpacked = raw.decompress(data, max_unpacked + 1)
        if len(unpacked) > max_unpacked or raw.unconsumed_tail:
            raise BundleRefused(f"bundle unpacks to more than {max_unpacked} bytes")
    except zlib.error as exc:
        raise BundleRefused(f"not a gzip stream: {exc}") from None
    tops: set[str] = set()
    files: dict[str, str] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(unpacked), mode="r:") as archive:
            for member in archive.getmembers():
                _take(archive, member, tops, files)
    except tarfile.TarError as exc:
        raise BundleRefused(f"not a tar archive: {exc}") from None
    if len(tops) != 1:
        raise BundleRefused(f"bundle must contain exactly one top-level folder, found {len(tops)}")
    top = tops.pop()
    config = next((files[n] for n in FORMATION_FILES if n in files), None)
    if config is None:
        raise BundleRefused(f"no formation.afs in {top}/", missing_config=True)
    formation_id, version = _header(config)
    return CheckedBundle(top, formation_id, version, files)
