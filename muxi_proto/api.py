"""How an endpoint description becomes a client method, written once for sync and async.

An endpoint is a small function in :mod:`muxi_proto.endpoints` that maps the method's Python
arguments to a :class:`Spec` (an :class:`~muxi_proto.requests.Operation` plus how to decode the
answer) or a :class:`StreamSpec`. Decorated with :func:`endpoint` / :func:`stream_endpoint` it becomes a
descriptor: on a sync client (a :class:`SyncInvoker`) it is a plain method returning the result;
on an async client (an :class:`AsyncInvoker`) the same method returns an awaitable. Type checkers
and IDEs see each method's real parameters and return type through the overloads below, so the
client classes contain no per-endpoint code at all.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Concatenate, Generic, ParamSpec, Protocol, TypeVar, overload

from .errors import MuxiError
from .requests import Operation
from .responses import Decode
from .sse import ServerSentEvent
from .streams import ChatAnswer, ChatToken

__all__ = [
    "AsyncEventIterator",
    "AsyncInvoker",
    "Endpoint",
    "EventIterator",
    "Spec",
    "StreamEndpoint",
    "StreamMachine",
    "StreamSpec",
    "SyncInvoker",
    "endpoint",
    "stream_endpoint",
]

P = ParamSpec("P")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)
E = TypeVar("E")
E_co = TypeVar("E_co", covariant=True)


@dataclass(frozen=True, slots=True)
class Spec(Generic[R]):
    """A request and how its answer becomes the method's result.

    ``finish`` post-processes the decoded answer (e.g. pick one secret out of the list).
    ``fallback`` is ``(error class, spec)``: when the request fails with that error, the fallback
    spec is run instead (``set_secret``: update, and create when the secret does not exist yet).
    """

    operation: Operation
    decode: Decode = Decode.JSON
    finish: Callable[[Any], R] | None = None
    fallback: tuple[type[MuxiError], Spec[R]] | None = None


class StreamMachine(Protocol[E_co]):
    """A pure stream state machine (see :mod:`muxi_proto.streams`): bytes in, events out."""

    def feed(self, data: bytes) -> Sequence[E_co]:
        """Decode a chunk; raise the typed error carried by an ``error`` frame."""

    @property
    def finished(self) -> bool:
        """True once the terminal event arrived: stop reading, release the connection."""

    def eof(self) -> None:
        """End of input: raise :class:`~muxi_proto.errors.StreamTruncatedError` if unfinished."""


@dataclass(frozen=True, slots=True)
class StreamSpec(Generic[E]):
    """A streamed request and the state machine that decodes its body."""

    operation: Operation
    machine: Callable[[], StreamMachine[E]]


class EventIterator(Protocol[E_co]):
    """What a sync stream method returns: iterate it, close it (or use ``with``).

    Chat streams also offer ``tokens()``, ``text_deltas()`` and ``text()``.
    """

    def __iter__(self) -> Iterator[E_co]: ...
    def __next__(self) -> E_co: ...
    def close(self) -> None: ...
    def __enter__(self) -> EventIterator[E_co]: ...
    def __exit__(self, *exc_info: object) -> None: ...
    def tokens(self: EventIterator[ServerSentEvent]) -> Iterator[ChatToken]: ...
    def text_deltas(self: EventIterator[ServerSentEvent], answer: ChatAnswer | None = None) -> Iterator[str]: ...
    def text(self: EventIterator[ServerSentEvent]) -> str: ...


class AsyncEventIterator(Protocol[E_co]):
    """What an async stream method's awaitable gives: ``async for`` it, ``aclose()`` it.

    Chat streams also offer ``tokens()``, ``text_deltas()`` and ``await text()``.
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


class SyncInvoker(abc.ABC):
    """Base of sync clients: runs specs to completion."""

    @abc.abstractmethod
    def _run(self, spec: Spec[R]) -> R:
        """Send, retry, decode."""

    @abc.abstractmethod
    def _open_stream(self, spec: StreamSpec[E]) -> EventIterator[E]:
        """Send and hand back the decoded event stream."""


class AsyncInvoker(abc.ABC):
    """Base of async clients."""

    @abc.abstractmethod
    async def _run(self, spec: Spec[R]) -> R:
        """Send, retry, decode."""

    @abc.abstractmethod
    async def _open_stream(self, spec: StreamSpec[E]) -> AsyncEventIterator[E]:
        """Send and hand back the decoded event stream."""


class _Descriptor(Generic[P, R]):
    #: The invoker method that carries out a built spec: ``_run`` or ``_open_stream``.
    _invoke: str

    def __init__(self, build: Callable[Concatenate[Any, P], Any]) -> None:
        self._build = build
        self.__name__ = build.__name__
        self.__doc__ = build.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.__name__ = name

    def spec(self, client: Any, *args: Any, **kwargs: Any) -> Any:
        """The :class:`Spec` / :class:`StreamSpec` for these arguments (for tests and tooling)."""
        return self._build(client, *args, **kwargs)

    def _bind(self, obj: Any) -> Any:
        build = self._build
        invoke = getattr(obj, self._invoke)
        if isinstance(obj, AsyncInvoker):
            async def call_async(*args: Any, **kwargs: Any) -> Any:
                return await invoke(build(obj, *args, **kwargs))
            return call_async

        def call(*args: Any, **kwargs: Any) -> Any:
            return invoke(build(obj, *args, **kwargs))
        return call

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self
        bound = self._bind(obj)
        bound.__name__ = self.__name__
        bound.__doc__ = self.__doc__
        return bound

    def __repr__(self) -> str:
        return f"<endpoint {self.__name__}>"


class Endpoint(_Descriptor[P, R]):
    """A request/response endpoint; see the module docstring."""

    _invoke = "_run"

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Endpoint[P, R]: ...
    @overload
    def __get__(self, obj: SyncInvoker, owner: type | None = None) -> Callable[P, R]: ...
    @overload
    def __get__(self, obj: AsyncInvoker, owner: type | None = None) -> Callable[P, Awaitable[R]]: ...
    def __get__(self, obj: Any, owner: Any = None) -> Any:
        return super().__get__(obj, owner)


class StreamEndpoint(_Descriptor[P, E]):
    """A streaming endpoint: sync clients return an iterator, async ones an awaitable of one."""

    _invoke = "_open_stream"

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> StreamEndpoint[P, E]: ...
    @overload
    def __get__(self, obj: SyncInvoker, owner: type | None = None) -> Callable[P, EventIterator[E]]: ...
    @overload
    def __get__(
        self, obj: AsyncInvoker, owner: type | None = None
    ) -> Callable[P, Awaitable[AsyncEventIterator[E]]]: ...
    def __get__(self, obj: Any, owner: Any = None) -> Any:
        return super().__get__(obj, owner)


def endpoint(build: Callable[Concatenate[Any, P], Spec[R]]) -> Endpoint[P, R]:
    """Make ``build(self, ...) -> Spec[R]`` a client method returning ``R``."""
    return Endpoint(build)


def stream_endpoint(build: Callable[Concatenate[Any, P], StreamSpec[E]]) -> StreamEndpoint[P, E]:
    """Make ``build(self, ...) -> StreamSpec[E]`` a client method returning a stream of ``E``."""
    return StreamEndpoint(build)
