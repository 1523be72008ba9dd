"""Every document the repository cites is in the repository, and every cited section exists.

Code, tests, examples and docs cite the protocol as ``docs/protocol.md §n``. A citation of a
document the reader cannot open (the team's background notes, ``PROTOCOL.md``, ``../shared``...)
or of a section that ``docs/protocol.md`` does not have is an error.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROTOCOL = ROOT / "docs" / "protocol.md"

_FOLDERS = ("muxi_proto", "muxi_transports", "muxi", "tests", "benchmarks", "examples", "docs", "scripts", ".ci")
_TOP_FILES = ("README.md", "Makefile", "pyproject.toml")
_SUFFIXES = {".py", ".pyi", ".md", ".afs", ".yaml", ".yml", ".toml", ".sh", ".txt", ".cfg", ".ini", ""}
_SKIP_DIRS = {"__pycache__", ".venv", ".venv-runtime", ".mypy_cache", ".ruff_cache", ".hypothesis", "results"}

# Places outside the repository that no reader of it can open.
_OUTSIDE = re.compile(r"\.\./shared\b|/work/shared\b|\bshared/(?:fixtures|hooks)\b")
# The team's background notes, which live outside the repository (docs/ has our own versions).
_BACKGROUND = re.compile(r"(?<![\w/-])(PROTOCOL|OFFICIAL_API|DESIGN|STYLE|GUIDE)\.md\b")
# A path into docs/, or a Markdown link to a local .md file: both must exist.
_DOCS_PATH = re.compile(r"(?<![\w./-])(docs/[\w./-]+\.md)\b")
_MD_LINK = re.compile(r"\]\((?!\w+:)([^)#\s]+\.md)(?:#[^)]*)?\)")
_URL = re.compile(r"[a-z][a-z0-9+.-]*://\S+")
# A citation of the protocol page and what follows it on the line: "§9", "§8-§12", "§2, §8",
# "sections 5 and 11".
_CITATION = re.compile(r"docs/protocol\.md((?:[ ,;]*(?:§+\s*\d+(?:\s*[-\u2013]\s*§?\s*\d+)?|sections?\s+\d+"
                       r"(?:\s*(?:,|and|-|\u2013)\s*\d+)*))*)")
_NUMBER_OR_RANGE = re.compile(r"(\d+)(?:\s*[-\u2013]\s*§?\s*(\d+))?")
_HEADING = re.compile(r"^## §(\d+) ", re.MULTILINE)

# Files owned by other engineers that still cite PROTOCOL.md / OFFICIAL_API.md; the lead rewrites
# them (PROTOCOL.md §n is docs/protocol.md §n) when merging, then empties this set.
PENDING: frozenset[str] = frozenset()


def _files() -> list[Path]:
    found = [ROOT / name for name in _TOP_FILES if (ROOT / name).is_file()]
    for folder in _FOLDERS:
        for path in sorted((ROOT / folder).rglob("*")):
            if (path.is_file() and path.suffix in _SUFFIXES and not _SKIP_DIRS & set(path.parts)
                    and path != Path(__file__).resolve()):  # this file's examples are deliberate
                found.append(path)
    return found


@cache
def protocol_sections() -> frozenset[int]:
    """The section numbers docs/protocol.md has (its ``## §n`` headings)."""
    return frozenset(int(n) for n in _HEADING.findall(PROTOCOL.read_text(encoding="utf-8")))


def _exists(cited: str, folder: Path) -> bool:
    """A cited document path exists, from the repository root or from the citing file's folder."""
    return any((base / cited).resolve().is_file() for base in (ROOT, folder))


def _sections(citation_tail: str) -> list[int]:
    """The section numbers a citation names; a range ``§8-§12`` names each section in it."""
    numbers: list[int] = []
    for first, last in _NUMBER_OR_RANGE.findall(citation_tail):
        numbers.extend(range(int(first), int(last or first) + 1))
    return numbers


def offenders(path: Path, folder: Path | None = None) -> list[str]:
    """``line: problem`` for every reference in ``path`` that a reader of the repository cannot follow.

    ``folder`` is where the file sits for relative links (its own folder unless given).
    """
    folder = path.parent if folder is None else folder
    text = path.read_text(encoding="utf-8", errors="replace")
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        plain = _URL.sub(" ", line)
        for match in _OUTSIDE.finditer(plain):
            problems.append(f"{number}: {match.group(0)!r} is outside the repository")
        for match in _BACKGROUND.finditer(plain):
            problems.append(f"{number}: {match.group(0)!r} is not in the repository (cite docs/ instead)")
        cited = [m.group(1) for m in _DOCS_PATH.finditer(plain)]
        if path.suffix == ".md":
            cited += [m.group(1) for m in _MD_LINK.finditer(line)]
        for name in cited:
            if not _exists(name, folder):
                problems.append(f"{number}: {name!r} is not in the repository")
        for match in _CITATION.finditer(plain):
            for section in _sections(match.group(1)):
                if section not in protocol_sections():
                    problems.append(f"{number}: docs/protocol.md has no §{section}")
        if folder == PROTOCOL.parent and path.suffix == ".md":  # bare "§n" in the docs
            for section in re.findall(r"§(\d+)", plain):
                if int(section) not in protocol_sections():
                    problems.append(f"{number}: docs/protocol.md has no §{section}")
    return problems


def _report(paths: list[Path]) -> dict[str, list[str]]:
    found = {str(p.relative_to(ROOT)): offenders(p) for p in paths}
    return {name: problems for name, problems in found.items() if problems}


def test_the_protocol_keeps_its_fourteen_sections_in_order() -> None:
    # Citations all over the code rely on this numbering: it only ever grows at the end.
    numbers = [int(n) for n in _HEADING.findall(PROTOCOL.read_text(encoding="utf-8"))]
    assert numbers == list(range(1, len(numbers) + 1))
    assert len(numbers) >= 14


def test_no_reference_outside_the_repository_except_the_pending_files() -> None:
    bad = _report([p for p in _files() if str(p.relative_to(ROOT)) not in PENDING])
    assert not bad, "references a reader of the repository cannot follow:\n" + "\n".join(
        f"  {name}:{problem}" for name, problems in bad.items() for problem in problems
    )


def test_no_reference_outside_the_repository_anywhere() -> None:
    bad = _report(_files())
    assert not bad, "references a reader of the repository cannot follow:\n" + "\n".join(
        f"  {name}:{problem}" for name, problems in bad.items() for problem in problems
    )


def test_pending_files_are_real_files() -> None:
    assert all((ROOT / name).is_file() for name in PENDING)


@pytest.mark.parametrize(
    ("line", "problems"),
    [
        ("see docs/protocol.md §9", 0),
        ("(docs/protocol.md §8-§12)", 0),
        ("docs/protocol.md §2, §8 and README.md", 0),
        ("docs/protocol.md sections 5 and 11", 0),
        ("docs/protocol.md §15", 1),
        ("docs/protocol.md §13-§16", 2),
        ("as PROTOCOL.md §4 says", 1),
        ("from OFFICIAL_API.md column 3", 1),
        ("in ../shared/fixtures", 1),
        ("https://github.com/muxi-ai/server/blob/main/README.md", 0),
        ("docs/nowhere.md", 1),
        ("a file called sops/deploy.md in a test bundle", 0),
    ],
)
def test_the_checker_itself(tmp_path: Path, line: str, problems: int) -> None:
    path = tmp_path / "example.py"
    path.write_text(f"# {line}\n", encoding="utf-8")
    assert len(offenders(path)) == problems, offenders(path)


@pytest.mark.parametrize(
    ("line", "problems"),
    [
        ("[the protocol](protocol.md) and [its §9](protocol.md#9-formation)", 0),
        ("[gone](nowhere.md)", 1),
        ("[upstream](https://example.com/x.md)", 0),
        ("as §4 and §14 say", 0),
        ("as §15 says", 1),
    ],
)
def test_the_checker_on_a_page_in_docs(tmp_path: Path, line: str, problems: int) -> None:
    path = tmp_path / "page.md"  # checked as if it sat in docs/: bare "§n", links relative to docs/
    path.write_text(line + "\n", encoding="utf-8")
    assert len(offenders(path, PROTOCOL.parent)) == problems, offenders(path, PROTOCOL.parent)
