"""The four clients: the endpoint tables of ``muxi_proto.endpoints`` on the sync and async loops.

Construction follows the official SDK: ``ServerClient(cfg)`` or ``ServerClient(url=..., key_id=...,
secret_key=...)``, with ``MUXI_*`` environment variables filling what is not given. ``transport=``
picks the HTTP implementation (default: httpcore); a transport passed in stays the caller's to close.
"""

from __future__ import annotations

from muxi_proto.endpoints import FormationAPI, ServerAPI

from ._client import AsyncClient, SyncClient

__all__ = ["AsyncFormationClient", "AsyncServerClient", "FormationClient", "ServerClient"]


class ServerClient(ServerAPI, SyncClient):
    """Blocking client for the MUXI server (control plane)."""


class AsyncServerClient(ServerAPI, AsyncClient):
    """Async client for the MUXI server (asyncio or trio)."""


class FormationClient(FormationAPI, SyncClient):
    """Blocking client for one formation (runtime API)."""


class AsyncFormationClient(FormationAPI, AsyncClient):
    """Async client for one formation (asyncio or trio)."""
