"""``python -m muxi_testing``: run the local MUXI server until SIGINT or SIGTERM.

Prints the ``MUXI_*`` settings a client needs, one ``NAME=value`` line each, then serves::

    $ python -m muxi_testing --port 7890
    MUXI_SERVER_URL=http://127.0.0.1:7890
    MUXI_KEY_ID=MUXI_...
    ...

The lines go to stdout (flushed at once) so a parent process can read them; everything else goes
to stderr.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from .server import DEFAULT_FORMATION_ID, LocalMuxiServer


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m muxi_testing",
        description="Serve a local MUXI-compatible server on 127.0.0.1 until interrupted.",
    )
    parser.add_argument("--port", type=int, default=0, help="port to bind (default: any free port)")
    parser.add_argument("--formation-id", default=DEFAULT_FORMATION_ID,
                        help=f"formation deployed at start (default: {DEFAULT_FORMATION_ID})")
    parser.add_argument("--token-delay", type=float, default=0.0,
                        help="seconds between chat stream frames (default: 0)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server; returns the exit status (0 after SIGINT or SIGTERM)."""
    args = _parser().parse_args(argv)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server = LocalMuxiServer(port=args.port, formation_id=args.formation_id, token_delay=args.token_delay)
        with server:
            for name, value in server.env().items():
                sys.stdout.write(f"{name}={value}\n")
            sys.stdout.flush()
            print(f"serving on {server.url}; stop with Ctrl+C", file=sys.stderr, flush=True)
            while not stop.wait(0.5):  # the wait wakes up for signals; the timeout keeps Windows responsive
                pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
