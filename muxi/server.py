"""``muxi.server``: the control-plane clients and their config."""

from muxi_proto.config import ServerConfig
from muxi_transports.clients import AsyncServerClient, ServerClient

__all__ = ["AsyncServerClient", "ServerClient", "ServerConfig"]
