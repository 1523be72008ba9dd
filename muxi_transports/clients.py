"""The four clients: the endpoint tables of ``muxi_proto.endpoints`` on the sync and async loops.

Construction follows the official SDK: ``ServerClient(cfg)`` or ``ServerClient(url=..., key_id=...,
secret_key=...)``, with ``MUXI_*`` environment variables filling what is not given. ``transport=``
picks the HTTP implementation (default: the fastest that serves the settings, see ``_defaults``);
a transport passed in stays the caller's to close.
"""

from __future__ import annotations

from muxi_proto.api import AsyncRawInvoker, SyncRawInvoker
from muxi_proto.endpoints import FormationAPI, ServerAPI

from ._async.client import AsyncClient
from ._sync.client import SyncClient

__all__ = [
    "AsyncFormationClient",
    "AsyncServerClient",
    "FormationClient",
    "RawAsyncFormationClient",
    "RawAsyncServerClient",
    "RawFormationClient",
    "RawServerClient",
    "ServerClient",
]


class ServerClient(ServerAPI, SyncClient):
    """Blocking client for the MUXI server (control plane)."""

    @property
    def with_raw_response(self) -> RawServerClient:
        """The same methods, returning a :class:`~muxi_proto.raw_response.RawResponse` (status,
        headers, request id, attempts) around each result."""
        return RawServerClient(self)


class AsyncServerClient(ServerAPI, AsyncClient):
    """Async client for the MUXI server (asyncio or trio)."""

    @property
    def with_raw_response(self) -> RawAsyncServerClient:
        """The same methods, returning a raw response around each result."""
        return RawAsyncServerClient(self)


class FormationClient(FormationAPI, SyncClient):
    """Blocking client for one formation (runtime API)."""

    @property
    def with_raw_response(self) -> RawFormationClient:
        """The same methods, returning a :class:`~muxi_proto.raw_response.RawResponse` (status,
        headers, request id, attempts) around each result."""
        return RawFormationClient(self)


class AsyncFormationClient(FormationAPI, AsyncClient):
    """Async client for one formation (asyncio or trio)."""

    @property
    def with_raw_response(self) -> RawAsyncFormationClient:
        """The same methods, returning a raw response around each result."""
        return RawAsyncFormationClient(self)


class RawServerClient(ServerAPI, SyncRawInvoker):
    """:class:`ServerClient`'s methods, each returning a raw response (``client.with_raw_response``)."""


class RawAsyncServerClient(ServerAPI, AsyncRawInvoker):
    """:class:`AsyncServerClient`'s methods, each returning a raw response."""


class RawFormationClient(FormationAPI, SyncRawInvoker):
    """:class:`FormationClient`'s methods, each returning a raw response (``client.with_raw_response``)."""


class RawAsyncFormationClient(FormationAPI, AsyncRawInvoker):
    """:class:`AsyncFormationClient`'s methods, each returning a raw response."""
