"""Start a real MUXI formation: ``python -I launch_runtime.py FORMATION_DIR PORT``.

Runs under the runtime's own virtual environment (``.venv-runtime``), never the project's: the
runtime's package is also called ``muxi``. ``-I`` keeps the repository's ``muxi/`` off ``sys.path``.
The formation listens on 127.0.0.1:PORT until it is terminated, or until the test process that
started it (``MUXI_TEST_PARENT_PID``) goes away, so a killed test run leaves no runtime behind.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    parent = os.environ.get("MUXI_TEST_PARENT_PID")
    if not parent or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return
    if os.getppid() != int(parent):  # the parent died before prctl took effect
        sys.exit(1)


async def _serve(formation_dir: str, port: int) -> None:
    from muxi.runtime import Formation  # type: ignore[import-not-found]  # the runtime's, not our facade

    formation = Formation()
    await formation.load(formation_dir)
    await formation.start_server(host="127.0.0.1", port=port, block=True)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        sys.stderr.write("usage: launch_runtime.py FORMATION_DIR PORT\n")
        return 2
    _die_with_parent()
    asyncio.run(_serve(argv[1], int(argv[2])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
