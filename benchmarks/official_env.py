"""Create ``benchmarks/.venv-official``: the official ``muxi`` SDK and httpx-sse, for comparisons.

The official package is also called ``muxi`` and would shadow our facade, so it lives in its own
virtual environment and benchmarks run it in a subprocess. Run ``python benchmarks/official_env.py``
(or let a benchmark call :func:`ensure`); it needs network access to PyPI the first time and is a
no-op once the environment holds the pinned versions.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

VENV = Path(__file__).resolve().parent / ".venv-official"
REQUIREMENTS = ("muxi==1.20260713.0", "httpx-sse==0.4.3")
_MARKER = VENV / ".installed"


def python() -> Path:
    """The interpreter of the official environment."""
    if os.name == "nt":
        return VENV / "Scripts" / "python.exe"
    return VENV / "bin" / "python"


def ensure(*, quiet: bool = True) -> Path:
    """Create or update the environment when needed; return its interpreter."""
    wanted = "\n".join(REQUIREMENTS)
    if python().exists() and _MARKER.exists() and _MARKER.read_text() == wanted:
        return python()
    if not python().exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    command = [str(python()), "-m", "pip", "install", "--disable-pip-version-check", *REQUIREMENTS]
    if quiet:
        command.insert(4, "--quiet")
    subprocess.run(command, check=True)
    _MARKER.write_text(wanted)
    return python()


if __name__ == "__main__":
    print(ensure(quiet="-v" not in sys.argv))
