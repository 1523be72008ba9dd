"""Preparing an upload: what ``deploy_formation`` is handed, turned into the body and headers."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from ..config import validate_formation_id
from ..errors import BundleError
from .packer import pack_directory
from .reader import BundleInfo, read_bundle
from .rules import DEFAULT_FORMATION_VERSION, DEFAULT_MAX_BUNDLE_SIZE, FORMATION_FILES, check_limit

#: What :func:`load_bundle` accepts.
BundleSource: TypeAlias = "str | os.PathLike[str] | bytes | bytearray | memoryview | Mapping[str, Any]"
_SOURCE_KEYS = ("path", "bundle_path", "directory", "bundle")  # keys naming a path in a mapping


@dataclass(frozen=True)
class PreparedBundle:
    """A validated bundle ready to upload: the body, and the ``X-Formation-*`` header values."""

    data: bytes = field(repr=False)
    version: str
    formation_id: str
    sha256: str
    info: BundleInfo = field(repr=False)
    content_type: str = "application/gzip"

    @property
    def size(self) -> int:
        """Length of ``data`` in bytes."""
        return len(self.data)


def _source_from_mapping(source: Mapping[str, Any], version: str | None) -> tuple[object, str | None]:
    accepted = ", ".join(repr(k) for k in _SOURCE_KEYS)
    unknown = sorted(str(k) for k in source if k not in _SOURCE_KEYS and k != "version")
    if unknown:
        raise BundleError(
            None, f"bundle dict has unsupported key(s) {unknown}: it takes one of {accepted} "
            "(a formation directory, a .tar.gz path, or bundle bytes) and optionally 'version'"
        )
    present = [k for k in _SOURCE_KEYS if k in source]
    if len(present) != 1:
        raise BundleError(
            None, f"bundle dict needs exactly one of {accepted} (a formation directory, a .tar.gz "
            f"path, or bundle bytes); got {present or 'none'}"
        )
    given = source.get("version")
    if given is not None:
        if version is not None and version != given:
            raise BundleError(None, f"version={version!r} disagrees with the dict's version {given!r}")
        version = given
    inner = source[present[0]]
    if isinstance(inner, Mapping):
        raise BundleError(None, f"bundle dict's {present[0]!r} must be a path or bytes, not a dict")
    return inner, version


def _read_source(source: object, formation_id: str, max_size: int) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not isinstance(path, str):
            path = os.fsdecode(path)
        try:
            mode = os.stat(path).st_mode
        except FileNotFoundError:
            raise BundleError(None, f"bundle source {path!r} does not exist") from None
        except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
            raise BundleError(None, f"cannot read {path!r}: {getattr(exc, 'strerror', None) or exc}") from None
        if stat.S_ISDIR(mode):
            return pack_directory(path, formation_id, max_size=max_size)
        if not stat.S_ISREG(mode):  # never open a FIFO or device: reading could block forever
            raise BundleError(None, f"{path!r} is neither a directory nor a regular file")
        if os.path.basename(path) in FORMATION_FILES:
            raise BundleError(None, f"{path!r} is a formation file: pass its directory instead")
        try:
            with open(path, "rb") as fh:
                data = fh.read(max_size + 1)
        except OSError as exc:
            raise BundleError(None, f"cannot read {path!r}: {exc.strerror}") from None
    else:
        raise BundleError(
            None, f"unsupported bundle source {type(source).__name__}: pass a formation directory, "
            "a .tar.gz path, bundle bytes, or a dict with 'path', 'bundle_path', 'directory' or 'bundle'"
        )
    if len(data) > max_size:
        raise BundleError("BUNDLE_TOO_LARGE", f"bundle is larger than {max_size} bytes")
    return data


def _check_version_value(version: object) -> str:
    if not isinstance(version, str) or not version.strip():
        raise BundleError(None, f"version must be a non-empty string, got {version!r}")
    if not version.isascii() or any(ord(c) < 0x20 or ord(c) == 0x7F for c in version):
        raise BundleError(None, f"version {version!r} cannot be sent in the X-Formation-Version header")
    return version


def load_bundle(
    source: BundleSource,
    formation_id: str,
    *,
    version: str | None = None,
    max_size: int = DEFAULT_MAX_BUNDLE_SIZE,
) -> PreparedBundle:
    """Turn what a caller gives ``deploy_formation`` / ``update_formation`` into an upload.

    ``source`` is a formation directory (packed with :func:`pack_directory`), a path to a
    ``.tar.gz`` / ``.tgz`` file, bundle bytes, or a dict naming one of those under ``path``,
    ``bundle_path``, ``directory`` or ``bundle`` (optionally with ``version``). The bundle is
    validated with :func:`read_bundle`, then checked the way the server will check it: its top-level
    folder and its formation file's ``id`` must both be ``formation_id``, and ``version`` (if given)
    must equal the formation file's ``version`` (``1.0.0`` when it has none). The version to send
    is ``version``, else the file's, else ``1.0.0``. ``max_size`` bounds the compressed bundle.

    Raises :class:`BundleError` for all of the above; :class:`ConfigurationError` for an invalid
    ``formation_id``.
    """
    validate_formation_id(formation_id)
    check_limit("max_size", max_size)
    if isinstance(source, Mapping):
        raw_source, version = _source_from_mapping(source, version)
    else:
        raw_source = source
    if version is not None:
        version = _check_version_value(version)
    data = _read_source(raw_source, formation_id, max_size)
    info = read_bundle(data)
    where = f"{info.top_level}/{info.formation_file}"
    if info.top_level != formation_id:
        raise BundleError(
            "FORMATION_ID_MISMATCH",
            f"bundle's top-level folder is {info.top_level!r}, but the formation id is {formation_id!r}: "
            "the server runs the folder the bundle unpacks to, named after the formation",
        )
    if info.formation_id is None:
        raise BundleError(None, f"{where} has no top-level 'id'; the server requires one")
    if info.formation_id != formation_id:
        raise BundleError(
            "FORMATION_ID_MISMATCH",
            f"{where} says id {info.formation_id!r}, but the formation id is {formation_id!r} "
            "(the server would answer 400 IDMismatch)",
        )
    bundle_version = info.version or DEFAULT_FORMATION_VERSION
    if version is not None and version != bundle_version:
        source_note = "" if info.version else f" (it has none, so the server assumes {DEFAULT_FORMATION_VERSION})"
        raise BundleError(
            "VERSION_MISMATCH",
            f"version {version!r} does not match {where}'s version {bundle_version!r}{source_note}; "
            "the server would answer 400 VersionMismatch",
        )
    send = version if version is not None else _check_version_value(bundle_version)
    return PreparedBundle(
        data=data,
        version=send,
        formation_id=formation_id,
        sha256=hashlib.sha256(data).hexdigest(),
        info=info,
    )
