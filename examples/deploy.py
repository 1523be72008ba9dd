"""Deploy a formation directory, or update it when it already runs, printing the server's progress.

What goes on the wire (docs/protocol.md §4): the directory packed as a reproducible ``tar.gz``
with one top-level folder named after the formation, sent raw to ``POST /rpc/formations`` (new) or
``PUT /rpc/formations/{id}`` (a blue-green update, zero downtime), with ``X-Formation-ID`` and
``X-Formation-Version`` headers and ``Accept: text/event-stream`` for the progress events. The
stream ends with ``complete``, or an ``error`` event that is raised as a typed error. Settings come
from ``MUXI_SERVER_URL``, ``MUXI_KEY_ID`` and ``MUXI_SECRET_KEY``::

    python examples/deploy.py                     # examples/formation/
    python examples/deploy.py path/to/formation
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from muxi import ServerClient
from muxi.errors import ConflictError, NotFoundError
from muxi_proto.api import EventIterator
from muxi_proto.bundle import FORMATION_FILES, top_level_value
from muxi_proto.sse import ServerSentEvent

HERE = Path(__file__).resolve().parent
DEFAULT_DIRECTORY = HERE / "formation"


def formation_id_of(directory: str | Path) -> str:
    """The ``id`` in the directory's formation file (``formation.afs``, ``.yaml`` or ``.yml``)."""
    for name in FORMATION_FILES:
        path = Path(directory) / name
        if path.is_file():
            formation_id = top_level_value(path.read_text(encoding="utf-8"), "id")
            if formation_id:
                return formation_id
            raise SystemExit(f"{path} has no top-level 'id'")
    raise SystemExit(f"{directory} has no formation file ({', '.join(FORMATION_FILES)})")


def deploy(
    server: ServerClient, directory: str | Path, *, out: Callable[[str], None] = print
) -> dict[str, Any]:
    """Deploy or update the formation in ``directory``; return the ``complete`` event's data.

    An update with nothing changed returns ``{"formation_id": ..., "status": "unchanged"}``.
    """
    formation_id = formation_id_of(directory)
    try:
        current = server.get_formation(formation_id)
    except NotFoundError:
        out(f"{formation_id} is new: POST /rpc/formations with the bundle")
        return _follow(server.deploy_formation_stream(formation_id, str(directory)), out)
    out(f"{formation_id} exists (version {current.get('formation_version', '?')}, {current.get('status')}): "
        f"blue-green update, PUT /rpc/formations/{formation_id}")
    try:
        return _follow(server.update_formation_stream(formation_id, str(directory)), out)
    except ConflictError as exc:
        if exc.code != "NoChange":  # e.g. another update still in progress
            raise
        out(f"unchanged: {exc.message}")  # the server compares bundles: the same bytes mean nothing to do
        return {"formation_id": formation_id, "status": "unchanged"}


def _follow(stream: EventIterator[ServerSentEvent], out: Callable[[str], None]) -> dict[str, Any]:
    """Print progress events; return the ``complete`` event's data (``error`` events raise)."""
    with stream:
        for event in stream:
            data = event.json()
            if event.event == "progress":
                out(f"  {data.get('stage', ''):<18} {data.get('message', '')}")
            elif event.event == "complete":
                versions = ""
                if data.get("new_version"):
                    versions = f", version {data.get('previous_version')} -> {data['new_version']}"
                out(f"complete: {data.get('formation_id')} {data.get('status')} on port {data.get('port')}{versions}")
                return dict(data)
    raise AssertionError("unreachable: a deployment stream ends with complete, or raises")  # pragma: no cover


def main(argv: Sequence[str] | None = None) -> None:
    """``deploy.py [DIRECTORY]`` (default: examples/formation/)."""
    args = list(sys.argv[1:] if argv is None else argv)
    directory = Path(args[0]) if args else DEFAULT_DIRECTORY
    with ServerClient() as server:
        deploy(server, directory)


if __name__ == "__main__":
    main()
