"""The sans-IO rule, checked: nothing in muxi_proto imports I/O or event-loop modules."""

from __future__ import annotations

import ast
from pathlib import Path

FORBIDDEN = {
    "socket", "ssl", "selectors", "asyncio", "trio", "anyio", "httpcore", "h11", "httpx",
    "requests", "urllib3", "threading", "subprocess",
}
PROTO = Path(__file__).resolve().parent.parent / "muxi_proto"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_muxi_proto_is_free_of_io() -> None:
    files = sorted(PROTO.rglob("*.py"))
    assert files, "muxi_proto has no modules"
    for path in files:
        bad = _imports(path) & FORBIDDEN
        assert not bad, f"{path.name} imports {sorted(bad)}"


def test_muxi_proto_never_sleeps() -> None:
    for path in PROTO.rglob("*.py"):
        assert "time.sleep(" not in path.read_text(), path.name
