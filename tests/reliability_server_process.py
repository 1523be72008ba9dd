"""The local MUXI server in a child process, driven line by line over stdin (for memory tests).

With the server out of the process, everything the test process allocates is the client's.
Prints ``READY <json settings>`` once serving, then answers each command on its own line:

- ``hold`` -> new chat streams wait after their opening keepalive (answers ``ok``);
- ``held`` -> the number of chat streams waiting at the gate;
- ``open`` -> the number of open connections;
- ``release`` -> lets every held stream run (and later ones), answers ``ok``;
- ``errors`` -> how many unexpected server errors there were;
- ``quit`` (or end of input) -> stops.
"""

from __future__ import annotations

import json
import sys

from muxi_testing import LocalMuxiServer


def main() -> int:
    with LocalMuxiServer() as server:
        settings = {"url": server.url, "formation_id": server.formation_id, "client_key": server.client_key,
                    "admin_key": server.admin_key}
        print("READY", json.dumps(settings), flush=True)
        answers = {
            "held": lambda: server.held_streams,
            "open": lambda: server.open_connections,
            "errors": lambda: len(server.errors),
        }
        for line in sys.stdin:
            command = line.strip()
            if command == "quit":
                break
            if command in ("hold", "release"):
                (server.hold_streams if command == "hold" else server.release_streams)()
                print("ok", flush=True)
            elif command in answers:
                print(answers[command](), flush=True)
            else:
                print(f"unknown command {command!r}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
