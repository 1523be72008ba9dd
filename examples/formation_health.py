"""Is a formation healthy? (the user guide's ``examples/formation_health.py``)

Settings come from ``MUXI_SERVER_URL`` and ``MUXI_FORMATION_ID`` (through the server's proxy), or
``MUXI_FORMATION_URL`` (the runtime directly); health needs no key::

    python examples/formation_health.py
"""

from __future__ import annotations

from collections.abc import Callable

from muxi import FormationClient
from muxi_proto.types import FormationHealth


def show_health(formation: FormationClient, out: Callable[[str], None] = print) -> FormationHealth:
    """Print the formation's health; return it (``status`` is ``healthy`` or ``unhealthy``)."""
    health = formation.health()
    name = formation.config.formation_id or formation.config.resolved_base_url
    out(f"{name}: {health.get('status')} (runtime {health.get('version', '?')}, "
        f"up {health.get('uptime_seconds', '?')} s)")
    return health


def main() -> None:
    """Print the health of the formation named by the ``MUXI_*`` variables."""
    with FormationClient() as formation:
        show_health(formation)


if __name__ == "__main__":
    main()
