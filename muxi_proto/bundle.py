"""Deployment bundles: pack a formation directory, validate a bundle, prepare an upload.

The MUXI server (PROTOCOL.md §4) takes a gzipped tar whose entries all sit under one top-level
folder named after the formation, holding ``formation.afs`` (or ``formation.yaml`` /
``formation.yml``). It unpacks that folder, requires the formation file's top-level ``id`` to equal
the ``X-Formation-ID`` header and its top-level ``version`` (``1.0.0`` when absent) to equal
``X-Formation-Version``, and must receive the whole upload within 15 s.

- :func:`pack_directory` builds such a bundle, byte-for-byte reproducible, so an unchanged directory
  re-deploys as identical bytes (the server answers an identical update with 409 "no change").
- :func:`read_bundle` validates a bundle the way the server unpacks it, with a streaming gzip and tar
  reader that stops at its size and member bounds (decompression bombs cost at most the bound).
- :func:`load_bundle` turns what a caller hands ``deploy_formation`` into the bytes and headers to
  send, failing before the upload wherever the server would fail after it.
- :func:`formation_version` reads the top-level ``version`` of a formation file without a YAML
  library (a careful line scanner for exactly that).

Pure Python: reading the formation directory is the only I/O, and there is no network.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import stat
import tarfile
import zlib
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any, TypeAlias

from .config import validate_formation_id
from .errors import BundleError, ConfigurationError

__all__ = [
    "DEFAULT_FORMATION_VERSION",
    "DEFAULT_MAX_BUNDLE_SIZE",
    "DEFAULT_MAX_FILES",
    "DEFAULT_MAX_UNPACKED_SIZE",
    "EXCLUDED_NAMES",
    "EXCLUDED_PATTERNS",
    "FORMATION_FILES",
    "MAX_FORMATION_FILE_SIZE",
    "BundleInfo",
    "BundleSource",
    "PreparedBundle",
    "formation_version",
    "is_excluded",
    "load_bundle",
    "pack_directory",
    "read_bundle",
    "top_level_value",
]

#: Formation file names, in the order they are looked for (``.afs`` wins, as in the MUXI CLI).
FORMATION_FILES = ("formation.afs", "formation.yaml", "formation.yml")
#: What the server assumes when the formation file (or the header) gives no version.
DEFAULT_FORMATION_VERSION = "1.0.0"
#: Bound on a bundle's compressed size (what goes on the wire).
DEFAULT_MAX_BUNDLE_SIZE = 100 * 1024 * 1024
#: Bound on a bundle's decompressed tar stream when reading one.
DEFAULT_MAX_UNPACKED_SIZE = 1024 * 1024 * 1024
#: Bound on the number of members (files and directories) when reading a bundle.
DEFAULT_MAX_FILES = 10_000
#: A formation file is configuration; anything larger is refused rather than held in memory.
MAX_FORMATION_FILE_SIZE = 1024 * 1024

#: Names left out of a packed bundle wherever they appear (any depth, files or directories).
#: ``secrets`` is the plain-text secrets template; ``secrets.enc`` is kept, the runtime needs it.
EXCLUDED_NAMES = frozenset({".git", ".muxi", "secrets", "node_modules", "__pycache__"})
#: Glob patterns (``fnmatch``, case-sensitive) matched against each name, at any depth.
EXCLUDED_PATTERNS = (".env*", "*.pyc")

#: What :func:`load_bundle` accepts.
BundleSource: TypeAlias = "str | os.PathLike[str] | bytes | bytearray | memoryview | Mapping[str, Any]"

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 64 * 1024
_MAX_META = 64 * 1024  # a PAX record set or GNU long name; real ones are a few hundred bytes
_BLOCK = 512
_ZERO_BLOCK = bytes(_BLOCK)
_SOURCE_KEYS = ("path", "bundle_path", "directory", "bundle")


def is_excluded(name: str) -> bool:
    """True if a file or directory called ``name`` is left out of bundles (see ``EXCLUDED_*``)."""
    return name in EXCLUDED_NAMES or any(fnmatchcase(name, pattern) for pattern in EXCLUDED_PATTERNS)


def _check_limit(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigurationError("INVALID_CONFIG", f"{name} must be an int > 0, got {value!r}")
    return value


# --- Formation file: top-level scalars ------------------------------------------------------------
#
# Not a YAML parser: a line scanner that finds the root mapping's keys and reads their scalar
# values. What it must not do is mistake text *inside* another value for a root key, so it skips
# what a value opens: block scalars (``|``, ``>``) and plain scalars continue on lines indented
# deeper than their key; quoted scalars and flow collections continue until they close, even on
# lines at column 0 (libyaml, and so the Go server, accepts those). Anything about a wanted key it
# cannot read exactly (block scalar, tag, alias, multi-line value, duplicate key) is a BundleError,
# never a guess.

# libyaml, and so the server's yaml.v3, also breaks lines at NEL, LINE and PARAGRAPH SEPARATOR.
_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
_NULL_WORDS = frozenset({"~", "null", "Null", "NULL"})
_PLAIN_KEY_BAD_START = frozenset("[]{},#&*!|>'\"%@`")
_DQ_ESCAPES = {
    "0": "\0", "a": "\a", "b": "\b", "t": "\t", "\t": "\t", "n": "\n", "v": "\v", "f": "\f",
    "r": "\r", "e": "\x1b", " ": " ", '"': '"', "/": "/", "\\": "\\", "N": "\x85", "_": "\xa0",
    "L": "\u2028", "P": "\u2029",
}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}


@dataclass(frozen=True)
class _Line:
    indent: int  # leading blanks
    depth: int  # continuation lines of this line's value are indented deeper than this
    key: str | None  # the mapping key this line starts, if any
    key_col: int
    value: str  # what follows the key (or the "- " indicators), leading blanks removed
    explicit: bool = False  # a "? key" or ": value" entry of a mapping


def _indent_of(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _is_blank_or_comment(line: str) -> bool:
    stripped = line.strip(" \t")
    return not stripped or stripped.startswith("#")


def _is_marker(line: str, marker: str) -> bool:
    return line.startswith(marker) and line[3:4] in ("", " ", "\t")


def _close_double(text: str, start: int) -> int:
    """Index of the ``"`` closing a double-quoted scalar opened before ``start``, or -1."""
    i = start
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if char == '"':
            return i
        i += 1
    return -1


def _close_single(text: str, start: int) -> int:
    """Index of the ``'`` closing a single-quoted scalar opened before ``start``, or -1."""
    i = start
    while True:
        j = text.find("'", i)
        if j < 0:
            return -1
        if text[j + 1 : j + 2] == "'":  # '' is an escaped quote
            i = j + 2
            continue
        return j


def _match_key(body: str) -> tuple[str, str] | None:
    """``(key, value)`` if ``body`` starts an implicit mapping entry, else None."""
    if body[:1] in ('"', "'"):
        end = _close_double(body, 1) if body[0] == '"' else _close_single(body, 1)
        if end < 0:
            return None
        after = body[end + 1 :].lstrip(" \t")
        if after[:1] != ":" or after[1:2] not in ("", " ", "\t"):
            return None
        inner = body[1:end]
        try:
            key = _unescape_double(inner) if body[0] == '"' else inner.replace("''", "'")
        except BundleError:
            return None
        return key, after[1:].lstrip(" \t")
    if not body or body[0] in _PLAIN_KEY_BAD_START:
        return None
    if body[0] in "-?:" and body[1:2] in ("", " ", "\t"):
        return None
    for i, char in enumerate(body):
        if char == "#" and i > 0 and body[i - 1] in " \t":
            return None  # a comment starts before any ": "
        if char == ":" and body[i + 1 : i + 2] in ("", " ", "\t"):
            key = body[:i].rstrip(" \t")
            return (key, body[i + 1 :].lstrip(" \t")) if key else None
    return None


def _split_line(line: str) -> _Line:
    body = line.lstrip(" \t")
    indent = len(line) - len(body)
    col = depth = indent
    while body[:1] == "-" and body[1:2] in ("", " ", "\t"):  # block sequence entries
        depth = col
        rest = body[1:].lstrip(" \t")
        col += len(body) - len(rest)
        body = rest
    if body[:1] in ("?", ":") and body[1:2] in ("", " ", "\t"):  # explicit key or value
        return _Line(indent, col, None, col, body[1:].lstrip(" \t"), explicit=True)
    entry = _match_key(body)
    if entry is not None:
        return _Line(indent, col, entry[0], col, entry[1])
    return _Line(indent, depth, None, col, body)


def _scan_flow(text: str, depth: int, quote: str | None) -> tuple[int, str | None]:
    """Track a flow collection (``[...]``/``{...}``) through one more line of text."""
    token_start = True
    i = 0
    while i < len(text):
        char = text[i]
        if quote == '"':
            if char == "\\":
                i += 2
                continue
            if char == '"':
                quote, token_start = None, False
        elif quote == "'":
            if char == "'":
                if text[i + 1 : i + 2] == "'":
                    i += 2
                    continue
                quote, token_start = None, False
        elif char == "#" and (i == 0 or text[i - 1] in " \t"):
            break
        elif char in "[{":
            depth, token_start = depth + 1, True
        elif char in "]}":
            depth, token_start = depth - 1, False
            if depth <= 0:
                return 0, None
        elif char in ",:":
            token_start = True
        elif char in "\"'" and token_start:
            quote = char
        elif char not in " \t":
            token_start = False
        i += 1
    return depth, quote


def _skip_value(info: _Line, lines: list[str], i: int) -> int:
    """Index of the first line after the lines that ``info``'s value spills onto."""
    value = info.value
    while value[:1] in ("&", "!"):  # anchors and tags before the node
        parts = value.split(None, 1)
        value = parts[1] if len(parts) > 1 else ""
    if not value or value.startswith("#"):
        return i
    if value[0] in ('"', "'"):
        end = _close_double(value, 1) if value[0] == '"' else _close_single(value, 1)
        while end < 0 and i < len(lines):
            line = lines[i]
            end = _close_double(line, 0) if value[0] == '"' else _close_single(line, 0)
            i += 1
        return i
    if value[0] in "[{":
        depth, quote = _scan_flow(value, 0, None)
        while depth > 0 and i < len(lines):
            depth, quote = _scan_flow(lines[i], depth, quote)
            i += 1
        return i
    # Block scalars and plain scalars: continuation lines are blank or deeper than the key.
    while i < len(lines) and (not lines[i].strip(" \t") or _indent_of(lines[i]) > info.depth):
        i += 1
    return i


def _unescape_double(inner: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(inner):
        char = inner[i]
        if char != "\\":
            out.append(char)
            i += 1
            continue
        code = inner[i + 1 : i + 2]
        if code in _DQ_ESCAPES:
            out.append(_DQ_ESCAPES[code])
            i += 2
        elif code in _HEX_ESCAPES:
            digits = inner[i + 2 : i + 2 + _HEX_ESCAPES[code]]
            if len(digits) != _HEX_ESCAPES[code] or any(c not in "0123456789abcdefABCDEF" for c in digits):
                raise BundleError(None, f"invalid escape \\{code}{digits} in a double-quoted value")
            point = int(digits, 16)
            if point > 0x10FFFF or 0xD800 <= point <= 0xDFFF:
                raise BundleError(None, f"invalid escape \\{code}{digits} in a double-quoted value")
            out.append(chr(point))
            i += 2 + len(digits)
        else:
            raise BundleError(None, f"invalid escape \\{code} in a double-quoted value")
    return "".join(out)


def _next_content(lines: list[str], i: int) -> int:
    while i < len(lines) and _is_blank_or_comment(lines[i]):
        i += 1
    return i


def _read_scalar(key: str, info: _Line, lines: list[str], i: int, root: int) -> str | None:
    """The single-line scalar value of root key ``key`` (None for null or empty)."""
    raw = info.value

    def unsupported(what: str) -> BundleError:
        return BundleError(None, f"formation file: top-level {key!r} {what}")

    if not raw or raw.startswith("#"):
        j = _next_content(lines, i)
        if j < len(lines) and not _is_marker(lines[j], "---") and not _is_marker(lines[j], "..."):
            nxt = _split_line(lines[j])
            if nxt.indent > root or (nxt.indent == root and nxt.key_col > root):
                raise unsupported("must be a scalar on the same line as the key")
        return None
    first = raw[0]
    if first in ('"', "'"):
        end = _close_double(raw, 1) if first == '"' else _close_single(raw, 1)
        if end < 0:
            raise unsupported("is a quoted value that does not close on its line")
        rest = raw[end + 1 :].lstrip(" \t")
        if rest and not rest.startswith("#"):
            raise unsupported(f"has text after its closing quote: {rest!r}")
        inner = raw[1:end]
        value = _unescape_double(inner) if first == '"' else inner.replace("''", "'")
        return value or None
    if first in "[{":
        raise unsupported("must be a scalar, not a collection")
    if first in "|>":
        raise unsupported("is a block scalar; write it on one line")
    if first in "&!*":
        raise unsupported("uses an anchor, tag or alias; write the plain value")
    if first in "%@`" or (first in "-?:" and raw[1:2] in ("", " ", "\t")):
        raise unsupported(f"is not a valid plain scalar: {raw!r}")
    value = raw
    for j, char in enumerate(raw):
        if char == "#" and raw[j - 1] in " \t":
            value = raw[:j]
            break
    value = value.rstrip(" \t")
    if re.search(r":[ \t]", value) or value.endswith(":"):
        raise unsupported(f"is not a valid plain scalar: {value!r}")
    j = _next_content(lines, i)
    if j < len(lines) and _indent_of(lines[j]) > root:
        raise unsupported("continues on the next line; write it on one line")
    return None if value in _NULL_WORDS else value


def _json_root(text: str, keys: Collection[str]) -> dict[str, str | None]:
    """Values of ``keys`` in a formation file written as JSON (JSON is YAML)."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for name, value in items:
            if name in seen and name in keys:
                raise BundleError(None, f"formation file: duplicate key {name!r}")
            seen[name] = value
        return seen

    try:
        doc = json.loads(text, object_pairs_hook=pairs, parse_float=str, parse_int=str, parse_constant=str)
    except ValueError as exc:
        raise BundleError(
            None, f"formation file: a flow-style root mapping is only understood as JSON ({exc})"
        ) from None
    found: dict[str, str | None] = {}
    if not isinstance(doc, dict):
        return found
    for key in keys:
        if key not in doc:
            continue
        value = doc[key]
        if isinstance(value, bool):
            found[key] = "true" if value else "false"
        elif value is None or isinstance(value, str):
            found[key] = value or None
        else:
            raise BundleError(None, f"formation file: top-level {key!r} must be a scalar")
    return found


def _top_level_values(text: str, keys: Collection[str]) -> dict[str, str | None]:
    """Scalar values of the root mapping's ``keys`` (present keys only; null or empty → None)."""
    lines = _LINE_BREAK.split(text.removeprefix("\ufeff"))
    found: dict[str, str | None] = {}
    root: int | None = None  # indentation of the root mapping's keys, once its first key is seen
    marker_seen = False
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if _is_blank_or_comment(line):
            continue
        if _is_marker(line, "---"):
            if marker_seen or root is not None:
                break  # a second document: the server reads only the first
            marker_seen = True
            rest = line[3:].strip(" \t")
            if rest and not rest.startswith(("#", "!", "&")):
                return found  # the root node is written on the marker line: not a block mapping
            continue
        if _is_marker(line, "..."):
            if marker_seen or root is not None:
                break  # the first document ends here
            continue  # nothing open yet: the first document is still to come
        if line.startswith("%") and root is None and not marker_seen:
            continue  # a directive
        info = _split_line(line)
        if root is None:
            if info.key_col != info.indent:
                return found  # "- ...": the root is a sequence
            if info.key is None and not info.explicit:
                if info.value.startswith("{"):
                    return _json_root("\n".join(lines[i - 1 :]), keys)
                return found  # a sequence or scalar root: no mapping keys
            root = info.indent
        if info.key is not None and info.indent == root and info.key_col == root and info.key in keys:
            if info.key in found:
                raise BundleError(None, f"formation file: duplicate top-level key {info.key!r}")
            found[info.key] = _read_scalar(info.key, info, lines, i, root)
            continue
        i = _skip_value(info, lines, i)
    return found


def top_level_value(text: str, key: str) -> str | None:
    """The scalar value of top-level ``key`` in a formation file's text, or None.

    None when the key is absent, null (``~``, ``null``) or empty. Keys nested under other keys,
    text inside other values and documents after the first are ignored. Raises
    :class:`BundleError` when the key is there but not as a single-line scalar (a block scalar,
    collection, tag, alias or multi-line value) or appears twice.
    """
    return _top_level_values(text, (key,)).get(key)


def formation_version(text: str) -> str | None:
    """The top-level ``version`` of a formation file (``version: 1.2.3``, ``"1.2.3"``, ``'1.2.3'``).

    None when there is none, in which case the server assumes ``1.0.0``. See
    :func:`top_level_value` for what is ignored and what raises.
    """
    return top_level_value(text, "version")


# --- Reading a bundle: bounded gzip, strict tar ----------------------------------------------------


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
    _check_limit("max_size", max_size)
    _check_limit("max_files", max_files)
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
    values = _top_level_values(text, ("id", "version"))
    return BundleInfo(
        top_level=top,
        formation_file=chosen,
        version=values.get("version"),
        formation_id=values.get("id"),
        files=tuple(members.names),
        size=size,
    )


# --- Packing a directory ----------------------------------------------------------------------------


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
    _check_limit("max_size", max_size)
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


# --- Preparing an upload ------------------------------------------------------------------------------


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
    _check_limit("max_size", max_size)
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
