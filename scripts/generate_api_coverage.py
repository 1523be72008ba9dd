"""Rewrite the table of ``docs/api-coverage.md`` from the recorded OpenAPI document and the endpoint table.

    python scripts/generate_api_coverage.py            # rewrite the table
    python scripts/generate_api_coverage.py --check    # exit 1 if the page is out of date

``tests/test_api_coverage.py`` runs the check in ``make test``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fidelity.coverage import render  # noqa: E402

PAGE = ROOT / "docs" / "api-coverage.md"
OPENAPI = ROOT / "muxi_testing" / "recordings" / "openapi.json"
BEGIN, END = "<!-- coverage table: generated -->\n", "<!-- end of coverage table -->\n"


def rewritten(page: str, table: str) -> str:
    """``page`` with the text between the markers replaced by ``table``."""
    head, _, rest = page.partition(BEGIN)
    _, _, tail = rest.partition(END)
    if not rest or END not in rest:
        raise SystemExit(f"{PAGE}: the markers are missing")
    return f"{head}{BEGIN}{table}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    page = PAGE.read_text(encoding="utf-8")
    text = rewritten(page, render(json.loads(OPENAPI.read_text(encoding="utf-8"))))
    if args.check:
        if text != page:
            print(f"{PAGE} is out of date: run python scripts/generate_api_coverage.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
