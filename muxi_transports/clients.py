"""The four clients: the endpoint tables of ``muxi_proto.endpoints`` on the sync and async loops.

Construction follows the official SDK: ``ServerClient(cfg)`` or ``ServerClient(url=..., key_id=...,
secret_key=...)``, with ``MUXI_*`` environment variables filling what is not given. ``transport=``
picks the HTTP implementation (default: the fastest that serves the settings, see ``_defaults``);
a transport passed in stays the caller's to close.
"""

from __future__ import annotations

from muxi_proto.config import FormationConfig, ServerConfig
from muxi_proto.endpoints import FormationAPI, ServerAPI

from ._client import AsyncClient, SyncClient

__all__ = ["AsyncFormationClient", "AsyncServerClient", "FormationClient", "ServerClient"]


class ServerClient(SyncClient[ServerConfig], ServerAPI):
    """Blocking client for the MUXI server (control plane)."""

    _config_type = ServerConfig


class AsyncServerClient(AsyncClient[ServerConfig], ServerAPI):
    """Async client for the MUXI server (asyncio or trio)."""

    _config_type = ServerConfig


class FormationClient(SyncClient[FormationConfig], FormationAPI):
    """Blocking client for one formation (runtime API)."""

    _config_type = FormationConfig


class AsyncFormationClient(AsyncClient[FormationConfig], FormationAPI):
    """Async client for one formation (asyncio or trio)."""

    _config_type = FormationConfig
