"""Coverage-guided fuzzing of the targets in ``targets.py`` with atheris (``make fuzz``).

    python -m tests.fuzz.run_atheris TARGET RUNS

Runs ``RUNS`` inputs against ``TARGET`` and prints ``TARGET RUNS``; a crash (an untyped exception or a
failed assertion) stops the run with atheris' report and a non-zero exit status.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    import muxi_proto  # noqa: F401 - instrumented for coverage feedback
    import muxi_transports._h11_exchange  # noqa: F401 - the default transports' HTTP/1.1 reader
    from tests.fuzz.targets import TARGETS


def main() -> None:
    name, runs = sys.argv[1], int(sys.argv[2])
    target = TARGETS[name]
    atheris.Setup([sys.argv[0], f"-runs={runs}", "-max_len=4096", *sys.argv[3:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
