"""``muxi.formation``: the formation clients, their config and the ``ui`` widget helper."""

from muxi_proto.config import FormationConfig
from muxi_proto.streams import ui_widgets as parse_ui_widgets
from muxi_transports.clients import AsyncFormationClient, FormationClient

__all__ = ["AsyncFormationClient", "FormationClient", "FormationConfig", "parse_ui_widgets"]
