"""Numeric version comparison (the official SDK compared strings)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from muxi_proto import __version__
from muxi_proto.version import is_newer, parse_version


@pytest.mark.parametrize(
    ("latest", "current", "newer"),
    [
        ("1.20260713.10", "1.20260713.9", True),  # a string comparison says False
        ("1.20260713.9", "1.20260713.10", False),
        ("2.20200101.0", "1.20991231.99", True),
        ("1.20260714.0", "1.20260713.5", True),
        ("1.20260713.0", "1.20260713.0", False),
        ("1.20260713", "1.20260713.0", False),
        ("1.20260713.0.1", "1.20260713", True),
        ("v1.30000101.0", "1.20260713.0", True),
        ("garbage", "1.0.0", False),
        ("", "1.0.0", False),
        (None, "1.0.0", False),
        ("1.2.3-beta", "1.0.0", False),
    ],
)
def test_is_newer(latest: str | None, current: str, newer: bool) -> None:
    assert is_newer(latest, current) is newer


def test_our_version_parses() -> None:
    parsed = parse_version(__version__)
    assert parsed is not None and len(parsed) == 3


versions = st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=4)


@given(versions, versions)
def test_matches_tuple_order(a: list[int], b: list[int]) -> None:
    width = max(len(a), len(b))
    pad_a, pad_b = a + [0] * (width - len(a)), b + [0] * (width - len(b))
    assert is_newer(".".join(map(str, a)), ".".join(map(str, b))) is (pad_a > pad_b)


@given(st.text())
def test_never_raises(value: str) -> None:
    assert is_newer(value) in (True, False)


def test_the_official_import_path_gives_the_same_version() -> None:
    import muxi.version
    import muxi_proto.version

    assert muxi.version.__version__ == muxi_proto.version.__version__ == __version__


_IMPORTS_OLD_MODULE = re.compile(r"^\s*from\s+(?:muxi_proto)?\._version\s+import|muxi_proto\._version\b", re.M)


def test_one_version_module() -> None:
    """``muxi_proto.version`` is the one version module: nothing imports the old ``_version``."""
    root = Path(__file__).resolve().parent.parent
    offenders = sorted(
        str(path.relative_to(root))
        for folder in ("muxi_proto", "muxi_transports", "muxi", "muxi_testing", "tests", "benchmarks", "examples")
        for path in (root / folder).rglob("*.py")
        if path.name != "_version.py" and path != Path(__file__).resolve() and ".venv" not in str(path)
        and _IMPORTS_OLD_MODULE.search(path.read_text(encoding="utf-8"))
    )
    assert not offenders, f"import muxi_proto.version instead of muxi_proto._version in: {offenders}"
    assert not (root / "muxi_proto" / "_version.py").exists(), "muxi_proto/_version.py can go"
