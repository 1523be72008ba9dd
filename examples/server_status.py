"""Is the MUXI server up, and what runs on it? (the user guide's ``examples/server_status.py``)

Settings come from ``MUXI_SERVER_URL``, ``MUXI_KEY_ID`` and ``MUXI_SECRET_KEY``::

    python examples/server_status.py
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from muxi import ServerClient
from muxi_proto.types import ServerStatus


def show_status(server: ServerClient, out: Callable[[str], None] = print) -> ServerStatus:
    """Print ping, health and a summary of ``status()``; return the status."""
    out(f"ping: {server.ping()}")  # the text "pong" (the official SDK returned len("pong") == 4)
    health = server.health()  # no credentials needed
    out(f"health: {health.get('status')} (server version {health.get('version', '?')})")
    status = server.status()  # HMAC-signed
    out(f"formations: {_describe(status.get('formations'))}")
    pool = status.get("port_pool")
    if isinstance(pool, dict):
        out(f"port pool: {pool.get('allocated', '?')} of {pool.get('total', '?')} ports in use")
    listing = server.list_formations()
    for formation in listing.get("formations", []):
        out(f"  - {formation.get('id')}: {formation.get('status')}")
    return status


def _describe(formations: Any) -> str:
    # The server's status answer is loosely specified: read what is there.
    if isinstance(formations, dict):
        counts = ", ".join(f"{value} {key}" for key, value in formations.items() if key != "total" and value)
        return f"{formations.get('total', '?')} in all" + (f" ({counts})" if counts else "")
    if isinstance(formations, list):
        return f"{len(formations)} in all"
    return str(formations)


def main() -> None:
    """Print the status of the server named by the ``MUXI_*`` variables."""
    with ServerClient() as server:
        show_status(server)


if __name__ == "__main__":
    main()
