"""``python -m muxi_testing``: the local MUXI server for other processes and other languages.

Serves until SIGINT or SIGTERM (exit status 0). The settings a client needs go to stdout, one line
each, flushed at once (everything else goes to stderr)::

    $ python -m muxi_testing --formation ./my-formation --trigger notify=http://127.0.0.1:9000/hook
    MUXI_SERVER_URL=http://127.0.0.1:38211
    MUXI_KEY_ID=MUXI_...
    MUXI_SECRET_KEY=sk_...
    MUXI_FORMATION_ID=my-formation
    MUXI_CLIENT_KEY=...
    MUXI_ADMIN_KEY=...
    MUXI_TESTING_CONTROL_URL=http://127.0.0.1:38211/_testing/

``--print-env`` writes them as ``export NAME='value'`` lines instead; ``--env-file PATH`` also
writes that form to ``PATH`` once the server is listening (atomically: the file appears complete
or not at all) and removes it at exit, so a shell or a test runner in any language loads the
settings in one step::

    python -m muxi_testing --env-file .muxi-env & until [ -f .muxi-env ]; do sleep 0.1; done
    . ./.muxi-env

Faults, traffic, webhook deliveries and triggers are reachable from other processes through the
control route at ``MUXI_TESTING_CONTROL_URL`` (:mod:`muxi_testing.control`).
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from ._chat import echo
from ._webhooks import DEFAULT_RETRY_DELAYS
from .formation import FormationError
from .server import LocalMuxiServer


def _trigger(text: str) -> tuple[str, str]:
    name, sep, url = text.partition("=")
    if not sep or not name or not url.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"expected NAME=URL with an http(s) URL, got {text!r}")
    return name, url


def _delays(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds separated by commas, got {text!r}") from None
    if any(v < 0 for v in values):
        raise argparse.ArgumentTypeError("delays must be >= 0")
    return values


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m muxi_testing",
        description="Serve a local MUXI-compatible server on 127.0.0.1 until interrupted.",
    )
    parser.add_argument("--port", type=int, default=0, help="port to bind (default: any free port)")
    parser.add_argument("--formation", metavar="DIR",
                        help="serve this formation directory (formation.afs, agents/, triggers/, sops/); "
                             "default: the built-in demo formation")
    parser.add_argument("--formation-id", help="the start formation's id (default: the formation's own)")
    parser.add_argument("--trigger", action="append", type=_trigger, default=[], metavar="NAME=URL",
                        help="deliver trigger NAME's async results as signed webhooks to URL (repeatable)")
    parser.add_argument("--reply", metavar="TEXT", help="every chat answers TEXT (default: the message itself)")
    parser.add_argument("--token-delay", type=float, default=0.0,
                        help="seconds between chat stream frames (default: 0)")
    parser.add_argument("--webhook-retry-delays", type=_delays, default=DEFAULT_RETRY_DELAYS, metavar="S,S,S",
                        help="seconds between webhook attempts (default: the runtime's 1,2,4)")
    for name in ("key-id", "secret-key", "admin-key", "client-key"):
        parser.add_argument(f"--{name}", help=f"the server's {name.replace('-', ' ')} (default: generated)")
    parser.add_argument("--print-env", action="store_true",
                        help="print the settings as shell `export NAME='value'` lines")
    parser.add_argument("--env-file", type=Path, metavar="PATH",
                        help="also write the settings (export lines) to PATH while serving")
    return parser


def _settings(server: LocalMuxiServer) -> dict[str, str]:
    return {**server.env(), "MUXI_TESTING_CONTROL_URL": server.control_url}


def _write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server; returns the exit status (0 after SIGINT or SIGTERM, 2 for bad arguments)."""
    parser = _parser()
    args = parser.parse_args(argv)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    reply_text = args.reply
    try:
        server = LocalMuxiServer(
            port=args.port, formation=args.formation, formation_id=args.formation_id,
            triggers=dict(args.trigger) or None, token_delay=args.token_delay,
            webhook_retry_delays=args.webhook_retry_delays,
            reply=(lambda message: reply_text) if reply_text is not None else echo,
            key_id=args.key_id, secret_key=args.secret_key, admin_key=args.admin_key, client_key=args.client_key,
        )
    except (FormationError, ValueError) as exc:
        parser.error(str(exc))
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    env_file: Path | None = args.env_file
    try:
        with server:
            settings = _settings(server)
            exports = "".join(f"export {name}={shlex.quote(value)}\n" for name, value in settings.items())
            if args.print_env:
                sys.stdout.write(exports)
            else:
                sys.stdout.write("".join(f"{name}={value}\n" for name, value in settings.items()))
            sys.stdout.flush()
            if env_file is not None:
                _write_atomically(env_file, exports)
            print(f"serving {server.formation_id} on {server.url}; stop with Ctrl+C", file=sys.stderr, flush=True)
            while not stop.wait(0.5):  # the wait wakes up for signals; the timeout keeps Windows responsive
                pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if env_file is not None:
            env_file.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
