"""Reading a bundle the way the server unpacks it: bounded gzip, strict tar."""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import BundleError
from .formation_file import top_level_values
from .rules import DEFAULT_MAX_FILES, DEFAULT_MAX_UNPACKED_SIZE, FORMATION_FILES, MAX_FORMATION_FILE_SIZE, check_limit

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 64 * 1024
_MAX_META = 64 * 1024  # a PAX record set or GNU long name; real ones are a few hundred bytes
_BLOCK = 512
_ZERO_BLOCK = bytes(_BLOCK)


class _GunzipStream:
    """Decompresses gzip bytes on demand and never produces more than ``limit`` bytes.

    Concatenated gzip members are one stream (as gzip and Go read them); anything else after the
    last member, a truncated member or a bad CRC is an error. Output is made ``_CHUNK`` bytes at a
    time, so a decompression bomb is stopped at the bound, not inflated first.
    """

    def __init__(self, data: bytes | bytearray | memoryview, limit: int) -> None:
        self._data = memoryview(data).cast("B")
        self._pos = 0
        self._limit = limit
        self.total = 0
        self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._buf = b""
        self._off = 0
        self._done = False
        if len(self._data) == 0:
            raise BundleError(None, "bundle is empty")
        if bytes(self._data[:2]) != _GZIP_MAGIC:
            raise BundleError(None, "bundle is not gzip data (a deploy bundle is a .tar.gz)")

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes; fewer only at the end of the stream."""
        parts: list[bytes] = []
        while n > 0:
            if self._off == len(self._buf) and not self._fill(n):
                break
            take = self._buf[self._off : self._off + n]
            self._off += len(take)
            n -= len(take)
            parts.append(take)
        return b"".join(parts)

    def read_exact(self, n: int, what: str) -> bytes:
        data = self.read(n)
        if len(data) != n:
            raise BundleError(None, f"bundle is truncated inside {what}")
        return data

    def skip(self, n: int, what: str) -> None:
        while n > 0:
            step = min(n, 16 * _CHUNK)
            self.read_exact(step, what)
            n -= step

    def drain(self) -> None:
        """Read to the end, so the gzip trailer (CRC, length) is checked and bounds apply."""
        while self._fill(_CHUNK):
            self._off = len(self._buf)

    def _fill(self, want: int) -> bool:
        while True:
            if self._done:
                return False
            if self._inflater.eof and not self._next_member():
                self._done = True
                return False
            inflater = self._inflater
            if inflater.unconsumed_tail:
                chunk: bytes | memoryview = inflater.unconsumed_tail
            elif self._pos < len(self._data):
                chunk = self._data[self._pos : self._pos + _CHUNK]
                self._pos += len(chunk)
            else:
                raise BundleError(None, "bundle is truncated: the gzip stream ends early")
            room = self._limit - self.total + 1  # one byte past the bound proves it is exceeded
            try:
                out = inflater.decompress(chunk, min(max(want, _CHUNK), room))
            except zlib.error as exc:
                raise BundleError(None, f"bundle is not valid gzip data ({exc})") from None
            self.total += len(out)
            if self.total > self._limit:
                raise BundleError(
                    "BUNDLE_TOO_LARGE", f"bundle unpacks to more than {self._limit} bytes"
                )
            if out:
                self._buf, self._off = out, 0
                return True

    def _next_member(self) -> bool:
        inflater = self._inflater
        # The unread input always ends at self._pos: give back what this member did not use.
        self._pos -= len(inflater.unused_data) + len(inflater.unconsumed_tail)
        if self._pos >= len(self._data):
            return False
        if bytes(self._data[self._pos : self._pos + 2]) != _GZIP_MAGIC:
            raise BundleError(None, "bundle has trailing data after its gzip stream")
        self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        return True


def _tar_number(field: bytes, what: str, offset: int) -> int:
    if field[:1] and field[0] & 0x80:  # base-256, for values octal cannot hold
        if field[0] == 0xFF:
            raise BundleError(None, f"bundle has an invalid tar header at offset {offset} (negative {what})")
        return int.from_bytes(bytes([field[0] & 0x7F]) + field[1:], "big")
    digits = field.split(b"\0", 1)[0].strip(b" ")
    if digits and all(48 <= b <= 55 for b in digits):
        return int(digits, 8)
    if not digits:
        return 0
    raise BundleError(None, f"bundle has an invalid tar header at offset {offset} (bad {what})")


def _parse_pax(data: bytes, offset: int) -> dict[str, str]:
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        digits = data[pos:space] if space > pos else b""
        if not digits or not digits.isdigit():
            raise BundleError(None, f"malformed PAX header at offset {offset}")
        end = pos + int(digits)
        if end <= space + 1 or end > len(data) or data[end - 1 : end] != b"\n":
            raise BundleError(None, f"malformed PAX header at offset {offset}")
        key, eq, value = data[space + 1 : end - 1].partition(b"=")
        if not eq or not key:
            raise BundleError(None, f"malformed PAX header at offset {offset}")
        try:
            records[key.decode("utf-8")] = value.decode("utf-8")
        except UnicodeDecodeError:
            raise BundleError(None, f"PAX header at offset {offset} is not UTF-8") from None
        pos = end
    return records


def _layout_keys(records: Mapping[str, str]) -> list[str]:
    return sorted(k for k in records if k in ("path", "linkpath", "size") or k.startswith("GNU.sparse"))


def _member_path(name: str, is_dir: bool) -> str:
    """The member's path without a trailing slash, or a BundleError if it is unsafe."""
    path = name[:-1] if is_dir and name.endswith("/") else name
    if not path:
        raise BundleError("UNSAFE_PATH", "bundle has a member with an empty name")
    if path in (".", "./"):
        raise BundleError(
            "UNSAFE_PATH", "bundle has a './' entry: members must sit under one top-level folder "
            "named after the formation (pass the directory itself, or tar it from its parent)"
        )
    if path.startswith("/"):
        raise BundleError("UNSAFE_PATH", f"bundle member {name!r} has an absolute path")
    if "\\" in path or "\0" in path:
        raise BundleError("UNSAFE_PATH", f"bundle member {name!r} has a backslash or NUL in its name")
    for part in path.split("/"):
        if part == "..":
            raise BundleError("UNSAFE_PATH", f"bundle member {name!r} climbs out with '..'")
        if part in ("", "."):
            raise BundleError("UNSAFE_PATH", f"bundle member {name!r} has an empty or '.' path component")
    return path


_LINK_TYPES = {b"1": "a hard link", b"2": "a symbolic link", b"K": "a link", b"3": "a character device",
               b"4": "a block device", b"6": "a FIFO"}


@dataclass(frozen=True)
class BundleInfo:
    """What :func:`read_bundle` found in a valid bundle.

    ``files`` lists every member path in archive order, directories with a trailing ``/``;
    ``size`` is the decompressed size of the tar stream; ``formation_id`` the formation file's
    top-level ``id`` (None if it has none); ``version`` its top-level ``version`` (None if none).
    """

    top_level: str
    formation_file: str
    version: str | None
    formation_id: str | None
    files: tuple[str, ...]
    size: int


class _Members:
    """Bookkeeping for the members seen so far: one top-level folder, no duplicates or clashes."""

    def __init__(self, max_files: int) -> None:
        self.max_files = max_files
        self.top: str | None = None
        self.names: list[str] = []
        self.kinds: dict[str, bool] = {}  # path -> is_dir
        self.parents: set[str] = set()

    def add(self, path: str, is_dir: bool) -> None:
        if len(self.names) >= self.max_files:
            raise BundleError("TOO_MANY_FILES", f"bundle has more than {self.max_files} members")
        first = path.split("/", 1)[0]
        if self.top is None:
            self.top = first
        elif first != self.top:
            raise BundleError(
                None, f"bundle has more than one top-level entry ({self.top!r} and {first!r}); "
                "everything must sit under one folder named after the formation"
            )
        if path == first and not is_dir:
            raise BundleError(None, f"bundle's top-level entry {path!r} is a file, not a folder")
        if path in self.kinds:
            raise BundleError(None, f"bundle has {path!r} twice")
        if not is_dir and path in self.parents:
            raise BundleError(None, f"bundle has {path!r} as both a file and a folder")
        parts = path.split("/")
        for end in range(1, len(parts)):
            parent = "/".join(parts[:end])
            if self.kinds.get(parent) is False:
                raise BundleError(None, f"bundle has {parent!r} as both a file and a folder")
            self.parents.add(parent)
        self.kinds[path] = is_dir
        self.names.append(path + "/" if is_dir else path)


def read_bundle(
    data: bytes | bytearray | memoryview,
    *,
    max_size: int = DEFAULT_MAX_UNPACKED_SIZE,
    max_files: int = DEFAULT_MAX_FILES,
) -> BundleInfo:
    """Validate a deploy bundle the way the server unpacks it, and describe it.

    Checks: gzip and tar intact (CRC, checksums, no truncation, nothing after the gzip stream);
    one top-level folder holding ``formation.afs``, ``.yaml`` or ``.yml``; only regular files and
    directories (no links or devices); no absolute paths, ``..``, ``.`` or duplicate members; at
    most ``max_size`` decompressed bytes and ``max_files`` members — reading stops at either bound.
    Every failure is a :class:`BundleError`.
    """
    check_limit("max_size", max_size)
    check_limit("max_files", max_files)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise BundleError(None, f"a bundle is bytes, not {type(data).__name__}")
    stream = _GunzipStream(data, max_size)
    members = _Members(max_files)
    formation_texts: dict[str, bytes] = {}
    pax: dict[str, str] = {}
    long_name: str | None = None
    offset = 0
    while True:
        block = stream.read(_BLOCK)
        if len(block) < _BLOCK:
            if block or pax or long_name is not None:
                raise BundleError(None, "bundle is truncated inside a tar header")
            break  # end of data on a block boundary: accepted without end-of-archive blocks
        if block == _ZERO_BLOCK:
            second = stream.read(_BLOCK)
            if second and second != _ZERO_BLOCK:
                raise BundleError(None, f"bundle has an invalid tar header at offset {offset + _BLOCK}")
            if pax or long_name is not None:
                raise BundleError(None, "bundle ends after an extended header with no member")
            break
        name, typeflag, size = _parse_header(block, offset)
        if "size" in pax:
            if not pax["size"].isdigit() or not pax["size"].isascii():
                raise BundleError(None, f"PAX header at offset {offset} has an invalid size")
            size = int(pax["size"])
        padded = -(-size // _BLOCK) * _BLOCK
        what = f"the member at offset {offset}"
        offset += _BLOCK
        if typeflag in (b"x", b"g", b"L"):
            if size > _MAX_META:
                raise BundleError(None, f"bundle has an oversized extended header at offset {offset - _BLOCK}")
            meta = stream.read_exact(size, what)
            stream.skip(padded - size, what)
            offset += padded
            if typeflag == b"x":
                pax.update(_parse_pax(meta, offset - padded - _BLOCK))
            elif typeflag == b"g":
                layout = _layout_keys(_parse_pax(meta, offset - padded - _BLOCK))
                if layout:
                    raise BundleError(None, f"bundle has a global PAX header setting {layout}")
            else:
                try:
                    long_name = meta.split(b"\0", 1)[0].decode("utf-8")
                except UnicodeDecodeError:
                    raise BundleError(None, f"bundle member name at offset {offset} is not UTF-8") from None
            continue
        if "path" in pax:
            name = pax["path"]
        elif long_name is not None:
            name = long_name
        if _layout_keys(pax) not in ([], ["path"], ["size"], ["path", "size"]):
            raise BundleError(None, f"bundle member {name!r} uses unsupported PAX keys {_layout_keys(pax)}")
        pax, long_name = {}, None
        if typeflag in _LINK_TYPES:
            raise BundleError(
                "UNSAFE_PATH", f"bundle member {name!r} is {_LINK_TYPES[typeflag]}; "
                "bundles hold only regular files and directories"
            )
        if typeflag == b"5" or (typeflag == b"\0" and name.endswith("/")):
            is_dir = True
        elif typeflag in (b"0", b"\0"):
            is_dir = False
        else:
            raise BundleError(None, f"bundle member {name!r} has unsupported tar type {typeflag!r}")
        if is_dir and size:
            raise BundleError(None, f"bundle directory {name!r} carries data")
        path = _member_path(name, is_dir)
        members.add(path, is_dir)
        rel = path.split("/", 1)[1] if "/" in path else ""
        if not is_dir and rel in FORMATION_FILES:
            if size > MAX_FORMATION_FILE_SIZE:
                raise BundleError(None, f"{path!r} is larger than {MAX_FORMATION_FILE_SIZE} bytes")
            formation_texts[rel] = stream.read_exact(size, f"{path!r}")
            stream.skip(padded - size, f"{path!r}")
        else:
            stream.skip(padded, f"{path!r}")
        offset += padded
    stream.drain()
    return _describe(members, formation_texts, stream.total)


def _parse_header(block: bytes, offset: int) -> tuple[str, bytes, int]:
    """``(name, typeflag, size)`` of a ustar / GNU / v7 header block, checksum verified."""
    stored = _tar_number(block[148:156], "checksum", offset)
    unsigned = sum(block) - sum(block[148:156]) + 8 * 32
    high = sum(1 for b in block[:148] + block[156:] if b & 0x80)
    if stored not in (unsigned, unsigned - 256 * high):
        raise BundleError(None, f"bundle has an invalid tar header at offset {offset} (bad checksum)")
    raw_name = block[:100].split(b"\0", 1)[0]
    if block[257:263] == b"ustar\0":  # POSIX: a name prefix may hold the leading directories
        prefix = block[345:500].split(b"\0", 1)[0]
        if prefix:
            raw_name = prefix + b"/" + raw_name
    try:
        name = raw_name.decode("utf-8")
    except UnicodeDecodeError:
        raise BundleError(None, f"bundle member name at offset {offset} is not UTF-8: {raw_name!r}") from None
    return name, block[156:157], _tar_number(block[124:136], "size", offset)


def _describe(members: _Members, formation_texts: dict[str, bytes], size: int) -> BundleInfo:
    if members.top is None:
        raise BundleError(None, "bundle has no files")
    top = members.top
    chosen = next((f for f in FORMATION_FILES if f in formation_texts), None)
    if chosen is None:
        raise BundleError(
            "MISSING_FORMATION_FILE",
            f"bundle has no {', '.join(FORMATION_FILES)} in its top-level folder {top + '/'!r}",
        )
    try:
        text = formation_texts[chosen].decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BundleError(None, f"{top}/{chosen} is not UTF-8 text") from None
    values = top_level_values(text, ("id", "version"))
    return BundleInfo(
        top_level=top,
        formation_file=chosen,
        version=values.get("version"),
        formation_id=values.get("id"),
        files=tuple(members.names),
        size=size,
    )
