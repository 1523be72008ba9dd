"""Async iterators for what the blocking code does with C built-ins (``filter``, ``map``, ``chain``).

Plain iterator objects, never async generators: trio warns about each async generator the garbage
collector finalises, and one abandoned mid-stream would be closed by the collector, not by
``aclose()``. The generated blocking code uses the built-ins instead (see the ``# sync:`` lines of
``_async/``), which run in C.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator
from typing import Generic, TypeVar

__all__ = ["Chain", "Mapped", "NonEmpty"]

T = TypeVar("T")
U = TypeVar("U")


class NonEmpty:
    """``stream``'s chunks without the empty ones (blocking: ``filter(None, stream)``)."""

    __slots__ = ("_iterator",)

    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self._iterator = stream.__aiter__()

    def __aiter__(self) -> NonEmpty:
        return self

    async def __anext__(self) -> bytes:
        while True:
            chunk = await self._iterator.__anext__()
            if chunk:
                return chunk


class Chain(Generic[T]):
    """The items of each list ``batches`` gives, one by one (blocking: ``chain.from_iterable``).

    A list emptied while its items are being handed out ends at once, as with ``chain``.
    """

    __slots__ = ("_batches", "_current")

    def __init__(self, batches: AsyncIterator[list[T]]) -> None:
        self._batches = batches
        self._current: Iterator[T] = iter(())

    def __aiter__(self) -> Chain[T]:
        return self

    async def __anext__(self) -> T:
        for item in self._current:
            return item
        while True:
            self._current = iter(await self._batches.__anext__())
            for item in self._current:
                return item


class Mapped(Generic[T, U]):
    """``convert(item)`` for each item of ``source``, skipping false results (blocking:
    ``filter(None, map(convert, source))``)."""

    __slots__ = ("_convert", "_source")

    def __init__(self, convert: Callable[[T], U | None], source: AsyncIterator[T]) -> None:
        self._convert = convert
        self._source = source

    def __aiter__(self) -> Mapped[T, U]:
        return self

    async def __anext__(self) -> U:
        while True:
            value = self._convert(await self._source.__anext__())
            if value:
                return value
