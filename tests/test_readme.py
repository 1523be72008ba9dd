"""README.md's code, run: every ```python block against a local server, its bash blocks checked.

Each Python block runs in-process as a fresh ``__main__`` module, from the repository root, with the
``MUXI_*`` variables of a local server set, exactly as a reader would paste it into a file. HTML
comments right above a block say what its output must contain (``<!-- expect: text -->``, ``\\n``
for a line break); a
block marked ``<!-- pytest -->`` is a test file and runs under pytest (in a subprocess, with the
plugin enabled the way the README says). No block is exempt.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from muxi_testing import LocalMuxiServer

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.MULTILINE | re.DOTALL)
_MARK = re.compile(r"<!-- (expect|pytest)(?::\s*(.*?))? -->")


@dataclass
class Block:
    """One fenced code block of the README."""

    language: str
    code: str
    line: int
    expect: list[str] = field(default_factory=list)
    pytest: bool = False

    def __str__(self) -> str:
        return f"README.md:{self.line}"


def blocks(text: str) -> list[Block]:
    """The fenced blocks, with the marker comments on the lines just above each."""
    found = []
    for match in _FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        block = Block(match.group(1), match.group(2), line)
        above = text[: match.start()].splitlines()
        while above and above[-1].startswith("<!--"):
            mark = _MARK.fullmatch(above.pop().strip())
            assert mark is not None, f"unknown marker above {block}"
            if mark.group(1) == "pytest":
                block.pytest = True
            else:
                block.expect.insert(0, mark.group(2).replace("\\n", "\n"))  # "\n" for a line break
        found.append(block)
    return found


BLOCKS = blocks(README.read_text(encoding="utf-8"))
PYTHON = [b for b in BLOCKS if b.language == "python"]


def test_the_readme_has_the_sections_the_issue_asks_for() -> None:
    text = README.read_text(encoding="utf-8")
    headings = re.findall(r"^## (.+)$", text, re.MULTILINE)
    for wanted in ("Quickstart (sync)", "Quickstart (async)", "Quickstart (trio)", "Streaming",
                   "Errors and retries", "Webhooks", "Transports, and writing your own",
                   "Testing your app with the local server", "How it differs from the official SDK"):
        assert wanted in headings
    first = BLOCKS[0]  # the two commands come first
    assert first.language == "bash" and [line.split()[:2] for line in first.code.splitlines()] == [
        ["make", "demo"], ["make", "test"]]
    assert len(PYTHON) >= 10 and all(b.language in ("python", "bash", "") for b in BLOCKS)


def test_bash_blocks_name_real_make_targets() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.MULTILINE))
    mentioned = re.findall(r"`?make ([a-z][a-z-]*)", README.read_text(encoding="utf-8"))
    assert mentioned and set(mentioned) <= targets, set(mentioned) - targets
    for block in BLOCKS:
        if block.language == "bash":
            for line in block.code.splitlines():
                assert line.split()[0] in ("make", "python", "pip"), line


@pytest.fixture(scope="module")
def local() -> Iterator[LocalMuxiServer]:
    with LocalMuxiServer() as server:
        yield server
        assert server.errors == []


@pytest.fixture
def readme_env(local: LocalMuxiServer, monkeypatch: pytest.MonkeyPatch) -> LocalMuxiServer:
    for name in list(os.environ):
        if name.startswith("MUXI_") and name != "MUXI_DEBUG":  # the suite's secret audit keeps debug on
            monkeypatch.delenv(name)
    for name, value in local.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(ROOT)
    return local


@pytest.mark.parametrize("block", [b for b in PYTHON if not b.pytest], ids=str)
def test_python_block_runs(block: Block, readme_env: LocalMuxiServer, capsys: pytest.CaptureFixture[str]) -> None:
    code = compile(block.code, str(block), "exec")
    exec(code, {"__name__": "__main__", "__file__": str(README)})  # the README's own code
    out = capsys.readouterr().out
    # Every block says what it must print, except the one-line conftest.py the pytest block needs.
    assert block.expect or block.code.startswith("pytest_plugins = "), f"{block} has no expect marker"
    for expected in block.expect:
        assert expected in out, f"{block}: {expected!r} not in output:\n{out}"


@pytest.mark.parametrize("block", [b for b in PYTHON if b.pytest], ids=str)
def test_pytest_block_passes(block: Block, tmp_path: Path) -> None:
    conftest = next(b for b in PYTHON if "pytest_plugins" in b.code)  # the README's conftest.py line
    (tmp_path / "conftest.py").write_text(conftest.code)
    (tmp_path / "test_from_readme.py").write_text(block.code)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUXI_")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error", str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    tests = block.code.count("\ndef test_")
    assert f"{tests} passed" in result.stdout

