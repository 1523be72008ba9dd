"""``formation_version`` against a YAML parser as the oracle, on generated documents.

The MUXI server reads the formation file with Go's yaml.v3, a port of libyaml, into a struct with a
string field ``version`` (docs/protocol.md §4). So the oracle is libyaml itself, through PyYAML's
``CBaseLoader`` (no type resolution: a scalar is its text, as yaml.v3 gives a string field). Where
PyYAML was built without libyaml its pure-Python parser stands in; it is stricter about tabs, so a
few documents that libyaml accepts are then judged invalid (and so checked less). PyYAML is a
test-only dependency: the scanner must not need it.

For each document the oracle says what the server sees for the root mapping's ``version``:

- invalid YAML: the scanner may do anything but crash (the server refuses the file anyway), except
  for the near misses of the version line itself, which it must refuse;
- no ``version`` key: the scanner returns None (or refuses, when the root is not even a mapping,
  which the server refuses);
- one scalar ``version`` written plainly, or quoted, on the key's line, without tag or anchor, in a
  block root mapping (the subset the scanner reads): the scanner returns exactly that text (None for null
  or empty);
- any other ``version`` (block scalar, multi-line, tag, anchor, alias, a key written with a tag,
  anchor or ``?``, a flow-style root that is not JSON): the scanner returns the same text or refuses
  with ``BundleError``;
- a collection, or ``version`` twice: the scanner refuses.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from muxi_proto.bundle import BundleError, formation_version

yaml = pytest.importorskip("yaml")

LOADER: Any = yaml.CBaseLoader if getattr(yaml, "__with_libyaml__", False) else yaml.BaseLoader
NULLS = frozenset({"", "~", "null", "Null", "NULL"})


# --- the oracle ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    """What the parser reported for one node: enough to say whether the scanner must read it."""

    kind: str  # "scalar", "map", "seq", "alias"
    value: str | None = None
    plain: bool = False
    style: str | None = None
    tag: str | None = None
    anchor: str | None = None
    lines: int = 1  # how many lines the node spans
    start: int = 0  # its first character in the text
    line: int = 0  # the line it starts on


@dataclass(frozen=True)
class Verdict:
    """What the server would read as the version, and how far the scanner must follow."""

    outcome: str  # "reject", "absent", "value", "refuse"
    value: str | None = None
    exact: bool = True  # "value": the scanner must return it (False: it may also refuse)
    why: str = ""


def _node(event: Any, events: Iterator[Any]) -> Node:
    start, line = event.start_mark.index, event.start_mark.line
    if isinstance(event, yaml.AliasEvent):
        return Node("alias", start=start, line=line)
    if isinstance(event, yaml.ScalarEvent):
        return Node("scalar", event.value, plain=event.style in (None, ""), style=event.style or None,
                    tag=event.tag, anchor=event.anchor,
                    lines=event.end_mark.line - event.start_mark.line + 1, start=start, line=line)
    kind = "map" if isinstance(event, yaml.MappingStartEvent) else "seq"
    depth = 1
    while depth:
        inner = next(events)
        if isinstance(inner, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
        elif isinstance(inner, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
    return Node(kind, tag=event.tag, anchor=event.anchor, start=start, line=line)


def _read(text: str, loader: Any) -> Verdict:
    events = yaml.parse(text, Loader=loader)
    next(events)  # stream start
    first = next(events)
    if isinstance(first, yaml.StreamEndEvent):
        return Verdict("absent")
    root_event = next(events)
    if not isinstance(root_event, yaml.MappingStartEvent):
        _node(root_event, events)
        next(events)  # document end: the first document must be complete
        # yaml.v3 cannot put a scalar or a sequence into the server's struct: the server refuses
        # the file, so the scanner may refuse it too (it usually just finds no version).
        return Verdict("absent", exact=False, why="the root is not a mapping")
    flow_root = bool(root_event.flow_style)
    found: list[tuple[Node, Node]] = []
    odd_keys = False  # keys the scanner cannot match (aliases, collections)
    while True:
        event = next(events)
        if isinstance(event, yaml.MappingEndEvent):
            break
        key = _node(event, events)
        value = _node(next(events), events)
        if key.kind == "scalar" and key.value == "version":
            found.append((key, value))
        elif key.kind != "scalar":
            odd_keys = True
    next(events)  # document end
    if len(found) > 1:
        return Verdict("refuse", why="version twice")
    if not found:
        # A non-JSON flow root is outside what the scanner reads: it may refuse, but not invent.
        return Verdict("absent", exact=not (flow_root and not _is_json(text)) and not odd_keys)
    key, value = found[0]
    if value.kind in ("map", "seq"):
        return Verdict("refuse", why="a collection")
    explicit = text[:key.start].rstrip(" \t").endswith("?")
    reasons = [
        why for why, odd in (
            ("alias", value.kind == "alias"),
            ("tag", value.tag is not None or key.tag is not None),
            ("anchor", value.anchor is not None or key.anchor is not None),
            ("block scalar", value.style in ("|", ">")),
            ("multi-line", value.lines > 1 or key.lines > 1),
            ("not on the key's line", value.line != key.line and not (value.plain and value.value == "")),
            ("explicit key", explicit),
            ("flow root", flow_root and not _is_json(text)),
            ("odd keys", odd_keys),
        ) if odd
    ]
    if value.kind == "alias":
        return Verdict("value", None, exact=False, why="alias")
    text_value = None if (value.plain and value.value in NULLS) or not value.value else value.value
    return Verdict("value", text_value, exact=not reasons, why=", ".join(reasons))


def _is_json(text: str) -> bool:
    try:
        json.loads(text.removeprefix("\ufeff"))
    except ValueError:
        return False
    return True


def oracle(text: str) -> Verdict:
    """The server's reading of ``text``."""
    try:
        return _read(text, LOADER)
    except yaml.YAMLError:
        return Verdict("reject")


def scanner(text: str) -> tuple[str, str | None]:
    try:
        return "value", formation_version(text)
    except BundleError:
        return "refuse", None


def check(text: str) -> None:
    """The scanner agrees with the oracle on ``text`` (see the module docstring)."""
    verdict = oracle(text)
    got = scanner(text)
    if verdict.outcome == "reject":
        return  # the server refuses the file; nothing the client reads can make that worse
    if verdict.outcome == "refuse":
        assert got[0] == "refuse", (text, verdict)
    elif verdict.outcome == "absent":
        assert got == ("value", None) or (not verdict.exact and got[0] == "refuse"), (text, verdict, got)
    else:
        assert got == ("value", verdict.value) or (not verdict.exact and got[0] == "refuse"), (text, verdict, got)


# --- documents -------------------------------------------------------------------------------------

# Text for scalars: mostly ordinary, sometimes the characters that matter to YAML.
_SAFE = "abcxyz019._-/ "
_SPECIAL = ":#'\"[]{},&*!|>%@`?\\\t"
_CHARS = st.sampled_from(list(_SAFE) * 12 + list(_SPECIAL) + ["é", "\u2028", "\x85"])
_TEXT = st.text(_CHARS, max_size=12)
_VERSION = st.from_regex(r"[0-9]{1,3}(\.[0-9]{1,3}){0,2}(-[a-z0-9]{1,3})?", fullmatch=True) | _TEXT
_KEY = st.sampled_from(["id", "name", "description", "meta", "agents", "Version", "versions", "llm",
                        "version"])


def _double(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _single(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@st.composite
def scalar(draw: st.DrawFn, value: str | None = None, indent: int = 0) -> list[str]:
    """A scalar value as the lines it takes: the first goes after ``key:``, the rest are continuations."""
    text = draw(_TEXT) if value is None else value
    pad = " " * (indent + draw(st.integers(1, 3)))
    style = draw(st.sampled_from(["plain"] * 5 + ["single", "double", "literal", "folded", "multi",
                                                   "multi-quoted", "tagged", "anchored", "empty",
                                                   "null", "comment"]))
    if style == "plain":
        return [text]
    if style == "single":
        return [_single(text)]
    if style == "double":
        return [_double(text)]
    if style in ("literal", "folded"):
        return [draw(st.sampled_from(["|", ">", "|-", ">+", "|2"])) if style == "literal" else ">",
                pad + text, pad + draw(_TEXT)]
    if style == "multi":
        return [text, pad + draw(_TEXT)]
    if style == "multi-quoted":
        quote = draw(st.sampled_from(['"', "'"]))
        inner = draw(st.sampled_from([pad + draw(_TEXT), "version: 9.9", pad + "version: 9.8", ""]))
        return [quote + text.replace(quote, ""), inner.replace(quote, ""), pad + draw(_TEXT).replace(quote, "") + quote]
    if style == "tagged":
        return [draw(st.sampled_from(["!!str ", "!x ", "!!int "])) + text]
    if style == "anchored":
        return ["&a" + str(draw(st.integers(0, 2))) + " " + text]
    if style == "empty":
        return [""]
    if style == "null":
        return [draw(st.sampled_from(["~", "null", "Null", "NULL"]))]
    return [text + " # " + draw(_TEXT)]


@st.composite
def value(draw: st.DrawFn, indent: int, depth: int) -> list[str]:
    """A value of a mapping entry at ``indent``: a scalar, a collection, or an alias."""
    kinds = ["scalar"] * 4 + ["alias"] + (["map", "seq", "flow"] if depth < 3 else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "scalar":
        return draw(scalar(indent=indent))
    if kind == "alias":
        return ["*a" + str(draw(st.integers(0, 2)))]
    if kind == "flow":
        items = draw(st.lists(st.sampled_from(["a", "'b, c'", '"d]"', "{x: 1}", "[1, 2]", "version: 9"]),
                              max_size=3))
        opener = draw(st.sampled_from(["[", "{"]))
        body = ", ".join(items if opener == "[" else [f"k{i}: {v}" for i, v in enumerate(items)])
        closer = "]" if opener == "[" else "}"
        if draw(st.booleans()):  # the flow collection spills onto the next lines, maybe at column 0
            middle = draw(st.sampled_from(["", "version: 9.7,", " " * (indent + 1) + "version: 9.6,"]))
            return [opener + body[: len(body) // 2], *([middle] if middle else []), body[len(body) // 2 :] + closer]
        return [opener + body + closer]
    child = indent + draw(st.integers(1, 4))
    if kind == "map":
        return ["", *draw(mapping(child, depth + 1))]
    return ["", *draw(sequence(child if draw(st.booleans()) else indent, depth + 1))]


@st.composite
def mapping(draw: st.DrawFn, indent: int, depth: int) -> list[str]:
    lines: list[str] = []
    for _ in range(draw(st.integers(1, 4))):
        key = draw(_KEY)
        pad = " " * indent
        key_text = draw(st.sampled_from([key, key, key, _double(key), _single(key), f"{key} ", f"&k{depth} {key}",
                                         f"!!str {key}", f"? {key}\n{pad}", f"? |-\n{pad}  {key}\n{pad}"]))
        first, *rest = draw(value(indent, depth))
        lines.append(" " * indent + key_text + ":" + (draw(st.sampled_from([" ", "  ", "\t"])) + first
                                                      if first else ""))
        lines.extend(rest)
        if draw(st.integers(0, 5)) == 0:
            lines.append(draw(st.sampled_from(["", "# " + key + ": 9", " " * indent + "# version: 8"])))
    return lines


@st.composite
def sequence(draw: st.DrawFn, indent: int, depth: int) -> list[str]:
    lines: list[str] = []
    for _ in range(draw(st.integers(1, 3))):
        first, *rest = draw(value(indent + 2, depth))
        if not first and rest:  # a collection: "- key: value" on the dash line
            rest[0] = " " * indent + "- " + rest[0].lstrip(" ")
            lines.extend(rest)
        else:
            lines.append(" " * indent + "- " + first)
            lines.extend(rest)
    return lines


@st.composite
def version_entry(draw: st.DrawFn, indent: int) -> tuple[list[str], str]:
    """A root ``version`` entry in any writing, and its value's text."""
    text = draw(_VERSION)
    key = draw(st.sampled_from(["version", "version", '"version"', "'version'", "version ", '"vers\\x69on"',
                                "? version\n:", "&k version", "!!str version"]))
    first, *rest = draw(scalar(value=text, indent=indent))
    gap = draw(st.sampled_from([" ", " ", "  ", "\t"]))
    line = " " * indent + key + ":" + (gap + first if first else "")
    if key.startswith("?"):
        line = " " * indent + "? version\n" + " " * indent + ":" + (gap + first if first else "")
    return [line, *rest], text


@st.composite
def document(draw: st.DrawFn) -> str:
    indent = draw(st.sampled_from([0, 0, 0, 1, 2]))
    lines = draw(mapping(indent, 1))
    if draw(st.integers(0, 4)):
        entry, _ = draw(version_entry(indent))
        lines.insert(draw(st.integers(0, len(lines))), "\n".join(entry))
    text = "\n".join(lines) + "\n"
    prefix = draw(st.sampled_from(["", "", "---\n", "%YAML 1.1\n---\n", "\ufeff", "# head\n\n", "--- # c\n",
                                   "&r\n", "!!map\n", "--- !!map\n", "--- &a # c\n", "---\n---\n", "--- "]))
    suffix = draw(st.sampled_from(["", "", "...\n", "---\nversion: 0.0.1\n", "...\nversion: 0.0.2\n"]))
    newline = draw(st.sampled_from(["\n", "\n", "\r\n", "\r"]))
    return (prefix + text + suffix).replace("\n", newline)


@st.composite
def json_document(draw: st.DrawFn) -> str:
    leaf = st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False) | _TEXT
    data = draw(st.dictionaries(_KEY, st.recursive(leaf, lambda c: st.lists(c, max_size=2)
                                                   | st.dictionaries(_KEY, c, max_size=2), max_leaves=4),
                                max_size=4))
    if draw(st.booleans()):
        data["version"] = draw(_VERSION | st.floats(allow_nan=False) | st.integers())
    return json.dumps(data, ensure_ascii=draw(st.booleans()), indent=draw(st.sampled_from([None, 2])))


# --- the properties --------------------------------------------------------------------------------


@settings(max_examples=800, deadline=None)
@given(document())
@example("version: 1.10\n")
@example("? version\n: 2.0\n")
@example("&a version: 3.0\n")
@example("!!str version: 4.0\n")
@example("version: &v 5.0\nid: *v\n")
def test_block_documents_agree_with_the_oracle(text: str) -> None:
    check(text)


@settings(max_examples=300, deadline=None)
@given(json_document())
def test_json_documents_agree_with_the_oracle(text: str) -> None:
    check(text)


# Near misses: a valid document whose version line is broken or written outside the subset.
_NEAR_MISSES = [
    "version: [{v}", "version: {v}]", "version: {{{v}", "version: '{v}", 'version: "{v}', "version: '{v}'x",
    'version: "{v}" x', "version: {v}: x", "version: @{v}", "version: `{v}", "version: %{v}",
    "version: - {v}", "version: ? {v}", "version: !!str {v}", "version: &a {v}", "version: *a",
    "version: |\n  {v}", "version: >\n  {v}", "version: {v}\n  more", 'version: "{v}\n  more"',
    "version:\n  {v}", "version:\n  - {v}", "version:\n  major: {v}", 'version: "\\q{v}"',
    "version: {v}\nversion: {v}", "version:{v}", "version :\t{v}", "\tversion: {v}", "version: \t{v}",
]


@settings(max_examples=400, deadline=None)
@given(
    before=st.lists(st.sampled_from(["id: my-bot", "description: a bot", "meta:\n  version: 9",
                                     "agents:\n- id: a\n  version: 8", "# version: 7", ""]), max_size=3),
    after=st.lists(st.sampled_from(["id: my-bot", "llm:\n  models: [a, b]", "name: 'it''s'", ""]), max_size=3),
    miss=st.sampled_from(_NEAR_MISSES),
    version_text=st.from_regex(r"[0-9]\.[0-9]{1,2}\.[0-9]", fullmatch=True),
)
def test_near_misses_of_the_version_line(before: list[str], after: list[str], miss: str, version_text: str) -> None:
    text = "\n".join([*before, miss.format(v=version_text), *after]) + "\n"
    verdict = oracle(text)
    if verdict.outcome == "reject":
        # The rest is valid YAML, so the broken line is the version's: the scanner refuses it too.
        assert scanner(text)[0] == "refuse", text
    else:
        check(text)


def test_the_package_never_imports_yaml() -> None:
    """PyYAML is the tests' oracle only: no module of the package imports it."""
    root = Path(__file__).resolve().parent.parent
    for package in ("muxi_proto", "muxi_transports", "muxi"):
        for path in (root / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                    [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                assert not any(n.split(".")[0] == "yaml" for n in names), path
