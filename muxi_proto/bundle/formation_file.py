"""The top-level ``id`` and ``version`` of a formation file, read without a YAML library."""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from ..errors import BundleError

# Not a YAML parser: a line scanner that finds the root mapping's keys and reads their scalar
# values the way the server's yaml.v3 (a libyaml port) does (docs/protocol.md §4). What it must not
# do is mistake text *inside* another value for a root key, so it skips what a value opens: block
# scalars (``|``, ``>``) and plain scalars continue on lines indented deeper than their key; quoted
# scalars and flow collections continue until they close, even on lines at column 0 (libyaml
# accepts those). A line less indented than the root's keys ends the root, and with it the first
# document, the only one the server reads. Anything about a wanted key it cannot read exactly is a
# BundleError, never a guess: a block scalar, tag, alias or multi-line value; a value on the next
# line; a key written with an anchor, a tag or ``?``; a key indented with a tab, or glued to its
# value (``version:1``); a duplicate. tests/test_formation_file_oracle.py holds it to libyaml, via
# PyYAML, on generated documents.

# libyaml, and so the server's yaml.v3, also breaks lines at NEL, LINE and PARAGRAPH SEPARATOR.
_LINE_BREAK = re.compile("(\r\n|[\r\n\x85\u2028\u2029])")  # captured: the JSON path needs the text as is
_YAML_ONLY_BREAKS = frozenset("\x85\u2028\u2029")  # breaks to YAML, ordinary characters to JSON
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
    properties: bool = False  # the key is written with an anchor or a tag ("&a key: ...")


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


def _skip_properties(text: str) -> str:
    """``text`` without the anchors and tags (``&a``, ``!!str``) that open it."""
    while text[:1] in ("&", "!"):
        parts = text.split(None, 1)
        text = parts[1] if len(parts) > 1 else ""
    return text


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
    if body[:1] in ("&", "!"):  # "&a key: value": the properties belong to the key
        entry = _match_key(_skip_properties(body))
        if entry is not None:
            return _Line(indent, col, entry[0], col, entry[1], properties=True)
    return _Line(indent, depth, None, col, body)


def _scan_flow(text: str, depth: int, quote: str | None) -> tuple[int, str | None, int]:
    """Track a flow collection (``[...]``/``{...}``) through one more line of text.

    Returns the depth and open quote after the line, and the index of the bracket that closed the
    collection (-1 while it is still open).
    """
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
                return 0, None, i
        elif char in ",:":
            token_start = True
        elif char in "\"'" and token_start:
            quote = char
        elif char not in " \t":
            token_start = False
        i += 1
    return depth, quote, -1


def _skip_value(info: _Line, lines: list[str], i: int) -> int:
    """Index of the first line after the lines that ``info``'s value spills onto."""
    return _skip_value_and_tail(info, lines, i)[0]


def _skip_value_and_tail(info: _Line, lines: list[str], i: int) -> tuple[int, int | None]:
    """:func:`_skip_value`, and the column of what follows a quoted or flow value that closed on a
    later line (None when it closed on its own line or nothing follows it there)."""
    value = _skip_properties(info.value)  # anchors and tags before the node
    if not value or value.startswith("#"):
        return i, None
    if value[0] in ('"', "'"):
        end = _close_double(value, 1) if value[0] == '"' else _close_single(value, 1)
        if end >= 0:
            return i, None
        while end < 0 and i < len(lines):
            line = lines[i]
            end = _close_double(line, 0) if value[0] == '"' else _close_single(line, 0)
            i += 1
        return i, (_tail_column(lines[i - 1], end + 1) if end >= 0 else None)
    if value[0] in "[{":
        depth, quote, _ = _scan_flow(value, 0, None)
        end = -1
        while depth > 0 and i < len(lines):
            depth, quote, end = _scan_flow(lines[i], depth, quote)
            i += 1
        return i, (_tail_column(lines[i - 1], end + 1) if end >= 0 else None)
    # Block scalars and plain scalars: continuation lines are blank or deeper than the key.
    while i < len(lines) and (not lines[i].strip(" \t") or _indent_of(lines[i]) > info.depth):
        i += 1
    return i, None


def _tail_column(line: str, start: int) -> int | None:
    """The column of the first token after ``start`` on ``line``, or None (blank or a comment)."""
    rest = line[start:].lstrip(" \t")
    if not rest or rest.startswith("#"):
        return None
    return len(line) - len(rest)


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
            # Deeper lines, a "- " sequence, and even a block scalar ("|", ">") or anything else that
            # is not the next key at the root's own indentation would be the value (or an error).
            not_next_key = nxt.key_col > root or (nxt.key is None and not nxt.explicit)
            if nxt.indent > root or (nxt.indent == root and not_next_key):
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
    raw_breaks = not _YAML_ONLY_BREAKS.isdisjoint(text)
    for key in keys:
        if key not in doc:
            continue
        value = doc[key]
        if isinstance(value, bool):
            found[key] = "true" if value else "false"
        elif value is None or isinstance(value, str):
            if raw_breaks and _YAML_ONLY_BREAKS.intersection(value or ""):
                # Written raw inside a string, YAML folds these as line breaks where JSON keeps them
                # (escaped as \u0085 both keep them).
                raise BundleError(None, f"formation file: top-level {key!r} contains a line separator")
            found[key] = value or None
        else:
            raise BundleError(None, f"formation file: top-level {key!r} must be a scalar")
    return found


def top_level_values(text: str, keys: Collection[str]) -> dict[str, str | None]:
    """Scalar values of the root mapping's ``keys`` (present keys only; null or empty → None)."""
    parts = _LINE_BREAK.split(text.removeprefix("\ufeff"))
    lines = parts[::2]
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
        if line.startswith("\t"):  # tab indentation: a parse error for the server
            _refuse_tab_indented_key([line], keys)
        info = _split_line(line)
        if root is None:
            if line.lstrip(" \t")[:1] in ("&", "!") and _is_blank_or_comment(_skip_properties(line.lstrip(" \t"))):
                continue  # "&a" or "!!map" alone: the properties of the root node on the next lines
            if info.key_col != info.indent:
                return found  # "- ...": the root is a sequence
            if info.key is None and not info.explicit:
                if info.value.startswith("{"):
                    return _json_root("".join(parts[2 * (i - 1) :]), keys)
                _refuse_glued_key(info.value, keys)
                return found  # a sequence or scalar root: no mapping keys
            root = info.indent
        elif info.indent < root:
            # Less indented than the root's keys: the root mapping, and so the document's only node,
            # has ended. What follows is a parse error for a full-stream reader, but yaml.v3 reads
            # just the first document and stops, as does this scanner.
            break
        at_root = info.indent == root and info.key_col == root
        if at_root and info.key is None and not info.explicit:
            _refuse_glued_key(info.value, keys)
        if at_root and info.explicit and line.lstrip(" \t").startswith("?"):
            _refuse_explicit_key(info, lines, i, root, keys)
        if info.key is not None and at_root and info.key in keys:
            if info.key in found:
                raise BundleError(None, f"formation file: duplicate top-level key {info.key!r}")
            if "\t" in line[: info.indent]:
                raise BundleError(None, f"formation file: top-level {info.key!r} is indented with a tab")
            if info.properties:
                raise BundleError(
                    None, f"formation file: top-level {info.key!r} has an anchor or tag on its key; write the plain key"
                )
            found[info.key] = _read_scalar(info.key, info, lines, i, root)
            continue
        start, (i, tail) = i, _skip_value_and_tail(info, lines, i)
        if _skip_properties(info.value)[:1] not in ("'", '"', "[", "{"):
            _refuse_tab_indented_key(lines[start:i], keys)
        elif tail is not None and tail < root:
            break  # a token less indented than the root follows the value: the root has ended
    return found


def _refuse_tab_indented_key(continuation: list[str], keys: Collection[str]) -> None:
    """Raise for ``\tversion: ...`` among the continuation lines of a plain or block scalar.

    YAML indents with spaces only: such a line is a parse error for the server, and it was meant
    as the key.
    """
    for line in continuation:
        if line.startswith("\t"):
            entry = _match_key(line.lstrip(" \t"))
            if entry is not None and entry[0] in keys:
                raise BundleError(None, f"formation file: top-level {entry[0]!r} is indented with a tab")


def _refuse_glued_key(body: str, keys: Collection[str]) -> None:
    """Raise for ``version:1.0``: a line at the root's indentation that is not a key, and is a wanted
    key with no blank after its colon (YAML reads one plain scalar, and the server fails)."""
    for key in keys:
        if body.startswith(key + ":") and body[len(key) + 1 : len(key) + 2] not in ("", " ", "\t"):
            raise BundleError(None, f"formation file: top-level {key!r} needs a blank after its colon")


def _refuse_explicit_key(info: _Line, lines: list[str], i: int, root: int, keys: Collection[str]) -> None:
    """Raise if the root's explicit key ``? ...`` is, or may be, one of ``keys``.

    A one-line plain or quoted key is compared exactly; a key on several lines or in a block
    scalar is refused as soon as a wanted key's name appears in it (the server would read it).
    """
    content = _skip_properties(info.value)
    first = content[:1]
    exact: str | None = None
    if first in ('"', "'"):
        end = _close_double(content, 1) if first == '"' else _close_single(content, 1)
        rest = content[end + 1 :].lstrip(" \t") if end >= 0 else "x"
        if not rest or rest.startswith("#"):
            inner = content[1:end]
            try:
                exact = _unescape_double(inner) if first == '"' else inner.replace("''", "'")
            except BundleError:
                return  # an invalid escape: the server refuses the whole file
    elif content and first not in "|>[{#*":
        j = _next_content(lines, i)
        if j >= len(lines) or _indent_of(lines[j]) <= root:  # one line
            exact = re.split(r"[ \t]#", content, maxsplit=1)[0].rstrip(" \t")
    if exact is not None:
        spilled = ""
    else:
        end_line = _skip_value(_Line(info.indent, root, None, info.key_col, content), lines, i)
        spilled = " ".join([content, *lines[i:end_line]])
    for key in keys:
        if exact == key or (exact is None and re.search(rf"(?<![\w-]){re.escape(key)}(?![\w-])", spilled)):
            raise BundleError(None, f"formation file: top-level {key!r} is written as an explicit key (? ...); "
                                    "write it as a plain key")


def top_level_value(text: str, key: str) -> str | None:
    """The scalar value of top-level ``key`` in a formation file's text, or None.

    None when the key is absent, null (``~``, ``null``) or empty. Keys nested under other keys,
    text inside other values and documents after the first are ignored. Raises
    :class:`BundleError` when the key is there but not as a scalar on the key's line (a block
    scalar, collection, tag, alias or multi-line value), when the key itself is written in a form
    this reader does not follow (anchor, tag, ``? key``, tab indentation, no blank after the
    colon), or when it appears twice.
    """
    return top_level_values(text, (key,)).get(key)


def formation_version(text: str) -> str | None:
    """The top-level ``version`` of a formation file (``version: 1.2.3``, ``"1.2.3"``, ``'1.2.3'``).

    None when there is none, in which case the server assumes ``1.0.0``. See
    :func:`top_level_value` for what is ignored and what raises.
    """
    return top_level_value(text, "version")
