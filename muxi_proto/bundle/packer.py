"""Packing a formation directory into a reproducible bundle."""

from __future__ import annotations

import gzip
import os
import stat
import tarfile
from collections.abc import Iterator

from ..config import validate_formation_id
from ..errors import BundleError
from .rules import DEFAULT_MAX_BUNDLE_SIZE, FORMATION_FILES, check_limit, is_excluded


class _BoundedSink:
    """Collects the gzip output and fails as soon as it outgrows the limit."""

    def __init__(self, limit: int) -> None:
        self._data = bytearray()
        self._limit = limit
        self.discard = False  # set after a failure so closing the writers cannot fail again

    def write(self, data: bytes) -> int:
        if self.discard:
            return len(data)
        if len(self._data) + len(data) > self._limit:
            raise BundleError(
                "BUNDLE_TOO_LARGE",
                f"bundle would exceed {self._limit} bytes; the server must receive the whole upload "
                "within 15 s, so keep large data out of the formation directory",
            )
        self._data += data
        return len(data)

    def flush(self) -> None:
        """Nothing is buffered here."""

    def getvalue(self) -> bytes:
        return bytes(self._data)


def _tar_info(name: str, *, is_dir: bool, size: int = 0, executable: bool = False) -> tarfile.TarInfo:
    # Everything but names, sizes, contents and the executable bit is fixed, for reproducibility.
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if is_dir else tarfile.REGTYPE
    info.mode = 0o755 if is_dir or executable else 0o644
    info.size = size
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _check_entry_name(name: str, rel: str) -> None:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise BundleError(None, f"file name {rel!r} is not valid UTF-8") from None
    if "\\" in name:
        raise BundleError("UNSAFE_PATH", f"file name {rel!r} contains a backslash")


def _find_formation_file(root: str) -> str:
    for name in FORMATION_FILES:
        try:
            mode = os.lstat(os.path.join(root, name)).st_mode
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise BundleError(None, f"cannot read {name} in {root!r}: {exc.strerror}") from None
        if stat.S_ISREG(mode):
            return name
        raise BundleError(None, f"{name} in {root!r} is not a regular file (links are not followed)")
    raise BundleError(
        "MISSING_FORMATION_FILE",
        f"{root!r} has no {', '.join(FORMATION_FILES)} at its top level",
    )


def _sorted_entries(directory: str, rel: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as it:
            return sorted(it, key=lambda entry: entry.name)
    except OSError as exc:
        raise BundleError(None, f"cannot list {rel or '.'!r}: {exc.strerror}") from None


def _walk(root: str) -> Iterator[tuple[str, str, bool]]:
    """``(relative path, absolute path, is_dir)`` of what to pack, depth first, sorted by name.

    Excluded names are skipped with everything under them. Symbolic links are refused rather than
    skipped (a silently missing file would break the formation on the server) and never followed.
    """
    stack: list[tuple[str, Iterator[os.DirEntry[str]]]] = [("", iter(_sorted_entries(root, "")))]
    while stack:
        rel_dir, entries = stack[-1]
        entry = next(entries, None)
        if entry is None:
            stack.pop()
            continue
        if is_excluded(entry.name):
            continue
        rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
        _check_entry_name(entry.name, rel)
        try:
            mode = entry.stat(follow_symlinks=False).st_mode
        except OSError as exc:
            raise BundleError(None, f"cannot read {rel!r}: {exc.strerror}") from None
        if stat.S_ISLNK(mode):
            raise BundleError(
                "UNSAFE_PATH", f"{rel!r} is a symbolic link; bundles hold only regular files and "
                "directories and links are never followed: replace it with a copy or remove it"
            )
        if stat.S_ISDIR(mode):
            yield rel, entry.path, True
            stack.append((rel, iter(_sorted_entries(entry.path, rel))))
        elif stat.S_ISREG(mode):
            yield rel, entry.path, False
        else:
            raise BundleError(None, f"{rel!r} is not a regular file or directory (a device, socket or FIFO)")


def _add_file(tar: tarfile.TarFile, name: str, path: str, rel: str) -> None:
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise BundleError(None, f"cannot read {rel!r}: {exc.strerror}") from None
    with open(fd, "rb") as fh:
        try:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):  # replaced since the directory was listed
                raise BundleError(None, f"{rel!r} is no longer a regular file")
            info = _tar_info(name, is_dir=False, size=st.st_size, executable=bool(st.st_mode & 0o111))
            tar.addfile(info, fh)
        except OSError as exc:  # e.g. the file shrank while being read
            raise BundleError(None, f"cannot read {rel!r}: {exc}") from None


def pack_directory(
    path: str | os.PathLike[str], formation_id: str, *, max_size: int = DEFAULT_MAX_BUNDLE_SIZE
) -> bytes:
    """A reproducible ``.tar.gz`` of a formation directory, under the folder ``<formation_id>/``.

    Left out at any depth: ``.git``, ``.muxi``, ``secrets``, ``node_modules``, ``__pycache__``,
    ``.env*`` and ``*.pyc`` (files or directories of those names). Symbolic links, devices, sockets
    and FIFOs raise :class:`BundleError`; links are never followed. Entries are sorted, owners,
    times and modes are fixed (0o644, or 0o755 for directories and executables) and the gzip header
    carries no time or name, so the same directory always gives the same bytes.

    Raises :class:`BundleError` if ``path`` is not a directory, has no formation file at its top
    level, or the bundle would exceed ``max_size`` compressed bytes (checked as it is written);
    :class:`ConfigurationError` for an invalid ``formation_id``.
    """
    validate_formation_id(formation_id)
    check_limit("max_size", max_size)
    root = os.fspath(path)
    if not os.path.isdir(root):
        raise BundleError(None, f"{root!r} is not a directory")
    _find_formation_file(root)
    sink = _BoundedSink(max_size)
    with (
        gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=sink, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT, encoding="utf-8") as tar,
    ):
        try:
            tar.addfile(_tar_info(formation_id, is_dir=True))
            for rel, abs_path, is_dir in _walk(root):
                name = f"{formation_id}/{rel}"
                if is_dir:
                    tar.addfile(_tar_info(name, is_dir=True))
                else:
                    _add_file(tar, name, abs_path, rel)
        except BaseException:
            sink.discard = True  # closing the writers must not fail a second time
            raise
    return sink.getvalue()
