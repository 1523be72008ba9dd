"""The four clients: the endpoint tables of ``muxi_proto.endpoints`` on the sync and async loops.

Construction follows the official SDK: ``ServerClient(cfg)`` or ``ServerClient(url=..., key_id=...,
secret_key=...)``, with ``MUXI_*`` environment variables filling what is not given. ``transport=``
picks the HTTP implementation (default: the fastest that serves the settings, see ``_defaults``);
a transport passed in stays the caller's to close.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, NoReturn, TypeVar, overload

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

V = TypeVar("V")


class _RawView(Generic[V]):
    """``client.with_raw_response``, read-only: a view of the client whose methods return raw responses."""

    def __init__(self, view: Callable[[Any], V]) -> None:
        self._view = view
        self.__doc__ = ("The same methods, returning a :class:`~muxi_proto.raw_response.RawResponse` (status, "
                        "headers, request id, attempts) around each result.")

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> _RawView[V]: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> V: ...
    def __get__(self, obj: object, owner: type | None = None) -> Any:
        return self if obj is None else self._view(obj)

    def __set__(self, obj: object, value: object) -> NoReturn:
        raise AttributeError("with_raw_response is read-only")


class RawServerClient(ServerAPI, SyncRawInvoker):
    """:class:`ServerClient`'s methods, each returning a raw response (``client.with_raw_response``)."""


class RawAsyncServerClient(ServerAPI, AsyncRawInvoker):
    """:class:`AsyncServerClient`'s methods, each returning a raw response."""


class RawFormationClient(FormationAPI, SyncRawInvoker):
    """:class:`FormationClient`'s methods, each returning a raw response (``client.with_raw_response``)."""


class RawAsyncFormationClient(FormationAPI, AsyncRawInvoker):
    """:class:`AsyncFormationClient`'s methods, each returning a raw response."""


class ServerClient(ServerAPI, SyncClient):
    """Blocking client for the MUXI server (control plane)."""

    with_raw_response = _RawView(RawServerClient)


class AsyncServerClient(ServerAPI, AsyncClient):
    """Async client for the MUXI server (asyncio or trio)."""

    with_raw_response = _RawView(RawAsyncServerClient)


class FormationClient(FormationAPI, SyncClient):
    """Blocking client for one formation (runtime API)."""

    with_raw_response = _RawView(RawFormationClient)


class AsyncFormationClient(FormationAPI, AsyncClient):
    """Async client for one formation (asyncio or trio)."""

    with_raw_response = _RawView(RawAsyncFormationClient)
