"""The README's and the user guide's code, run: every ```python block against a local server, its
bash blocks checked.

The pages are README.md and the guide's pages under docs/ (``GUIDE_PAGES``: the home page,
getting started and docs/guide/). Each Python block runs in-process as a fresh ``__main__``
module, from the repository root, with the ``MUXI_*`` variables of a local server set, exactly as
a reader would paste it into a file. HTML comments right above a block say what its output must
contain (``<!-- expect: text -->``, ``\\n`` for a line break); a block marked ``<!-- pytest -->``
is a test file and runs under pytest (in a subprocess, with the plugin enabled the way its page
says). No block is exempt.
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
GUIDE = ROOT / "docs" / "guide"
# The pages whose code a reader runs: the README, the site's home and getting-started pages, and
# every page of the user guide. (The background pages, docs/protocol.md and the like, quote wire
# captures and sketches, not programs.)
GUIDE_PAGES = [ROOT / "docs" / "index.md", ROOT / "docs" / "getting-started.md", *sorted(GUIDE.glob("*.md"))]
PAGES = [README, *GUIDE_PAGES]
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.MULTILINE | re.DOTALL)
_MARK = re.compile(r"<!-- (expect|pytest)(?::\s*(.*?))? -->")


@dataclass
class Block:
    """One fenced code block of a page."""

    language: str
    code: str
    line: int
    page: Path = README
    expect: list[str] = field(default_factory=list)
    pytest: bool = False

    def __str__(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(text: str, page: Path = README) -> list[Block]:
    """The fenced blocks of ``page``, with the marker comments on the lines just above each."""
    found = []
    for match in _FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        block = Block(match.group(1), match.group(2), line, page)
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


README_BLOCKS = blocks(README.read_text(encoding="utf-8"))
BLOCKS = [b for page in PAGES for b in blocks(page.read_text(encoding="utf-8"), page)]
PYTHON = [b for b in BLOCKS if b.language == "python"]

# What the issue asks the guide to cover, and the page that covers it (with the headings it has).
GUIDE_TOPICS = {
    "quickstarts.md": ["Blocking", "asyncio", "trio"],
    "streaming.md": ["Chat streams", "Deployment progress", "The SSE decoder"],
    "errors-and-retries.md": ["Typed errors", "Retries"],
    "options.md": [],
    "raw-responses.md": [],
    "waiting.md": [],
    "webhooks.md": [],
    "transports.md": ["The default", "Proxies and CA certificates", "Writing your own"],
    "own-io.md": [],
    "testing.md": ["Your own formation", "Webhooks to your receiver", "Faults", "With pytest"],
    "differences.md": [],
}


def test_the_readme_keeps_the_two_commands_and_a_short_tour() -> None:
    text = README.read_text(encoding="utf-8")
    first = README_BLOCKS[0]  # the two commands come first
    assert first.language == "bash" and [line.split()[:2] for line in first.code.splitlines()] == [
        ["make", "demo"], ["make", "test"]]
    tour = [b for b in README_BLOCKS if b.language == "python"]
    assert 3 <= len(tour) <= 6, "a short tour: a few runnable blocks, the rest is in the guide"
    assert len(text.encode()) < 12_000
    for page in [*GUIDE_PAGES[1:], ROOT / "docs" / "reference" / "index.md"]:  # it links to every page
        assert f"]({page.relative_to(ROOT)})" in text, f"the README does not link to {page.relative_to(ROOT)}"


def test_the_guide_has_the_pages_the_issue_asks_for() -> None:
    assert {p.name for p in GUIDE.glob("*.md")} == set(GUIDE_TOPICS)
    for name, wanted in GUIDE_TOPICS.items():
        text = (GUIDE / name).read_text(encoding="utf-8")
        assert text.startswith("# "), name
        headings = re.findall(r"^## (.+)$", text, re.MULTILINE)
        assert set(wanted) <= set(headings), (name, set(wanted) - set(headings))
    assert len(PYTHON) >= 20 and all(b.language in ("python", "bash", "") for b in BLOCKS)


def test_the_readme_driver_is_the_guide_s() -> None:
    # tests/test_example_drivers.py runs the README's driver through its scenarios; the guide's
    # copy must be the same code.
    def driver(page: Path) -> str:
        return next(b.code for b in PYTHON if b.page == page and "\ndef run(machine):" in b.code)

    assert driver(README) == driver(GUIDE / "own-io.md")


def test_bash_blocks_name_real_make_targets() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.MULTILINE))
    mentioned = [m for page in PAGES for m in re.findall(r"`?make ([a-z][a-z-]*)", page.read_text(encoding="utf-8"))]
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
    exec(code, {"__name__": "__main__", "__file__": str(block.page)})  # the page's own code
    out = capsys.readouterr().out
    # Every block says what it must print, except the one-line conftest.py the pytest block needs.
    assert block.expect or block.code.startswith("pytest_plugins = "), f"{block} has no expect marker"
    for expected in block.expect:
        assert expected in out, f"{block}: {expected!r} not in output:\n{out}"


@pytest.mark.parametrize("block", [b for b in PYTHON if b.pytest], ids=str)
def test_pytest_block_passes(block: Block, tmp_path: Path) -> None:
    conftest = next(b for b in PYTHON if b.page == block.page and "pytest_plugins" in b.code)  # its conftest.py
    (tmp_path / "conftest.py").write_text(conftest.code)
    (tmp_path / "test_from_the_guide.py").write_text(block.code)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUXI_")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error", str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    tests = block.code.count("\ndef test_")
    assert f"{tests} passed" in result.stdout

