"""``muxi.formation``: the formation clients, their config and the ``ui`` widget helper."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from muxi_proto.config import FormationConfig
from muxi_transports.clients import AsyncFormationClient, FormationClient

__all__ = ["AsyncFormationClient", "FormationClient", "FormationConfig", "parse_ui_widgets"]


def parse_ui_widgets(event: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Widgets of an ``event: ui`` stream frame; ``[]`` for other or malformed frames.

    The official helper's lenient behaviour (``muxi_proto.streams.ui_widgets`` is the strict one,
    raising a typed error on a malformed ``ui`` frame).
    """
    if event.get("event") != "ui":
        return []
    try:
        parsed = json.loads(str(event.get("data", "")) or "{}")
    except ValueError:
        return []
    ui = parsed.get("ui") if isinstance(parsed, dict) else None
    return [w for w in ui if isinstance(w, dict)] if isinstance(ui, list) else []
