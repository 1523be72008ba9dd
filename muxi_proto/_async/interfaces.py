"""What a client's stream methods return and what a driver implements, as types.

Written once: ``_async/interfaces.py`` is the source, ``_sync/interfaces.py`` (``EventIterator``,
``Runner``) is generated from it. :mod:`muxi_proto.api` builds the client bases on them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol, TypeVar

from ..call import CallMachine, Machine
from ..sse import ServerSentEvent
from ..streams import ChatAnswer, ChatToken

__all__ = ["AsyncEventIterator", "AsyncRunner"]

R = TypeVar("R")
E_co = TypeVar("E_co", covariant=True)


class AsyncEventIterator(Protocol[E_co]):
    """What a stream method gives: iterate it (``async for``), close it (or use ``async with``).

    Chat streams also offer ``tokens()``, ``text_deltas()`` and ``text()``.
    """

    def __aiter__(self) -> AsyncIterator[E_co]: ...
    async def __anext__(self) -> E_co: ...
    async def aclose(self) -> None: ...
    async def __aenter__(self) -> AsyncEventIterator[E_co]: ...
    async def __aexit__(self, *exc_info: object) -> None: ...
    def tokens(self: AsyncEventIterator[ServerSentEvent]) -> AsyncIterator[ChatToken]: ...
    def text_deltas(
        self: AsyncEventIterator[ServerSentEvent], answer: ChatAnswer | None = None
    ) -> AsyncIterator[str]: ...
    async def text(self: AsyncEventIterator[ServerSentEvent]) -> str: ...


class AsyncRunner:
    """What a driver implements: :meth:`perform` and :meth:`perform_stream` (a loop over the call
    machine, see docs/drivers.md); every endpoint becomes a real client method calling them."""

    async def perform(self, machine: Machine[R], *, raw: bool = False) -> Any:
        """Run ``machine`` to its result (send, read, sleep between retries, close); with ``raw``,
        to a :class:`~muxi_proto.raw_response.RawResponse` around it."""
        raise NotImplementedError

    async def perform_stream(self, machine: CallMachine[Any], *, raw: bool = False) -> Any:
        """Run ``machine`` until its event stream opens and return the stream (``raw``: as for
        :meth:`perform`)."""
        raise NotImplementedError
