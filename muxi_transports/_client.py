"""The blocking and async drivers of :class:`muxi_proto.call.CallMachine` over a transport.

Every decision between I/O steps (requests, retries, limits, decoding, logging, the SDK notice) is
the call machine's; a driver sends, reads, sleeps and closes, and nothing else (docs/drivers.md).
The two drivers differ only in ``await``.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from itertools import chain
from types import TracebackType
from typing import Any, Generic, TypeVar

from muxi_proto.api import AsyncInvoker, SyncInvoker
from muxi_proto.call import DEFAULT_MAX_BODY, READ_BODY, Done, Machine, OpenStream, Send, Sleep
from muxi_proto.config import ConfigFields, FormationConfig, ServerConfig
from muxi_proto.errors import MuxiError
from muxi_proto.http import Headers
from muxi_proto.options import Unpack
from muxi_proto.raw_response import RawResponse
from muxi_proto.retry import RetryPolicy
from muxi_proto.specs import StreamMachine
from muxi_proto.sse import ServerSentEvent
from muxi_proto.streams import ChatAnswer, ChatToken, chat_token

from ._defaults import choose_async, choose_sync
from ._finalize import LoopHandle, close_abandoned
from .base import AsyncResponse, AsyncTransport, SyncResponse, Transport

__all__ = ["AsyncClient", "AsyncStream", "Stream", "SyncClient"]

R = TypeVar("R")
E = TypeVar("E")
T = TypeVar("T")

_S = TypeVar("_S", bound="SyncClient")
_A = TypeVar("_A", bound="AsyncClient")


class SyncClient(SyncInvoker):
    """Base of the blocking clients."""

    def __init__(
        self,
        cfg: ServerConfig | FormationConfig | None = None,
        *,
        transport: Transport | None = None,
        clock: Callable[[], float] | None = None,
        retry_policy: RetryPolicy | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        sleep: Callable[[float], None] = time.sleep,
        proxy: str | None = None,
        trust_env: bool = True,
        http2: bool = False,
        max_connections: int | None = None,
        **kwargs: Unpack[ConfigFields],
    ) -> None:
        """``cfg``, or the config's fields as keywords (``MUXI_*`` variables fill the rest).

        ``transport`` defaults to the fastest that serves ``proxy`` (else ``HTTP(S)_PROXY``,
        ``ALL_PROXY``, ``NO_PROXY`` unless ``trust_env`` is off), ``http2`` and ``max_connections``
        (see :mod:`muxi_transports._defaults`); :meth:`close` closes it. A transport passed in stays
        the caller's. ``clock``, ``retry_policy`` and ``sleep`` are injectable for tests; ``max_body``
        bounds JSON answers.
        """
        self._configure(cfg, dict(kwargs), retry_policy, clock, max_body, None)
        self.transport: Transport
        self.transport, self._owns_transport = choose_sync(
            transport, self.settings.builder.base_url, proxy=proxy, trust_env=trust_env, http2=http2,
            max_connections=max_connections)
        self._sleep = sleep

    def perform(self, machine: Machine[R], *, raw: bool = False) -> Any:
        """Run ``machine`` until it is done (its result), fails (raised), or opens its event stream
        (a :class:`Stream` that owns the connection); with ``raw``, a :class:`RawResponse` around
        either."""
        step: Any = machine.start()
        response: SyncResponse | None = None
        while True:
            if type(step) is Send:
                try:
                    response = self.transport.send(step.request)
                except MuxiError as exc:  # transports raise only typed errors
                    step = machine.failed(exc)
                    continue
                step = machine.head(response.status, response.headers)
            if step is READ_BODY:  # the usual path: straight after the head, in the same turn
                assert response is not None
                try:
                    with response:
                        for chunk in response.iter_bytes():
                            step = machine.data(chunk)
                            if step is not READ_BODY:
                                break
                        else:
                            step = machine.end()
                except MuxiError as exc:
                    step = machine.failed(exc)
                if type(step) is Done:
                    return _raw(machine, step, step.result) if raw else step.result
            elif type(step) is Sleep:
                if response is not None:
                    response.close()
                self._sleep(step.seconds)
                step = machine.resume()
            elif type(step) is Done:
                return _raw(machine, step, step.result) if raw else step.result
            elif type(step) is OpenStream:
                assert response is not None
                stream = Stream(response, step.decoder)
                return _raw(machine, step, stream) if raw else stream
            elif type(step) is not Send:  # Fail
                if response is not None:
                    response.close()
                raise step.error

    def perform_stream(self, machine: Machine[Any], *, raw: bool = False) -> Any:
        """Run a stream call's ``machine`` until its event stream opens."""
        return self.perform(machine, raw=raw)

    def _copied(self) -> None:
        self._owns_transport = False  # a with_options() copy shares its original's transport

    def close(self) -> None:
        """Close the transport if this client created it."""
        if self._owns_transport:
            self.transport.close()

    def __enter__(self: _S) -> _S:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncClient(AsyncInvoker):
    """Base of the async clients (asyncio and trio)."""

    def __init__(
        self,
        cfg: ServerConfig | FormationConfig | None = None,
        *,
        transport: AsyncTransport | None = None,
        clock: Callable[[], float] | None = None,
        retry_policy: RetryPolicy | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        proxy: str | None = None,
        trust_env: bool = True,
        http2: bool = False,
        max_connections: int | None = None,
        **kwargs: Unpack[ConfigFields],
    ) -> None:
        """As :class:`SyncClient` (the default transport follows the same rule, async)."""
        self._configure(cfg, dict(kwargs), retry_policy, clock, max_body, None)
        self.transport: AsyncTransport
        self.transport, self._owns_transport = choose_async(
            transport, self.settings.builder.base_url, proxy=proxy, trust_env=trust_env, http2=http2,
            max_connections=max_connections)

    async def perform(self, machine: Machine[R], *, raw: bool = False) -> Any:
        """Run ``machine`` until it is done (its result), fails (raised), or opens its event stream
        (an :class:`AsyncStream` that owns the connection); with ``raw``, a :class:`RawResponse`
        around either."""
        step: Any = machine.start()
        response: AsyncResponse | None = None
        while True:
            if type(step) is Send:
                try:
                    response = await self.transport.send(step.request)
                except MuxiError as exc:  # transports raise only typed errors
                    step = machine.failed(exc)
                    continue
                step = machine.head(response.status, response.headers)
            if step is READ_BODY:  # the usual path: straight after the head, in the same turn
                assert response is not None
                try:
                    async with response:
                        async for chunk in response.aiter_bytes():
                            step = machine.data(chunk)
                            if step is not READ_BODY:
                                break
                        else:
                            step = machine.end()
                except MuxiError as exc:
                    step = machine.failed(exc)
                if type(step) is Done:
                    return _raw(machine, step, step.result) if raw else step.result
            elif type(step) is Sleep:
                if response is not None:
                    await response.aclose()
                await self.transport.sleep(step.seconds)
                step = machine.resume()
            elif type(step) is Done:
                return _raw(machine, step, step.result) if raw else step.result
            elif type(step) is OpenStream:
                assert response is not None
                astream = AsyncStream(response, step.decoder)
                return _raw(machine, step, astream) if raw else astream
            elif type(step) is not Send:  # Fail
                if response is not None:
                    await response.aclose()
                raise step.error

    async def perform_stream(self, machine: Machine[Any], *, raw: bool = False) -> Any:
        """Run a stream call's ``machine`` until its event stream opens."""
        return await self.perform(machine, raw=raw)

    def _copied(self) -> None:
        self._owns_transport = False  # a with_options() copy shares its original's transport

    async def aclose(self) -> None:
        """Close the transport if this client created it."""
        if self._owns_transport:
            await self.transport.aclose()

    async def close(self) -> None:
        """Alias of :meth:`aclose`."""
        await self.aclose()

    async def __aenter__(self: _A) -> _A:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


def _raw(machine: Machine[Any], step: Done[Any] | OpenStream, result: Any) -> RawResponse[Any]:
    request = machine.request
    assert request is not None  # a call that got an answer has sent a request
    return RawResponse(step.status, step.headers, result, request, machine.attempt)


class Stream(Generic[E]):
    """A blocking event stream: iterate it; it closes its connection when it ends, fails, or is closed.

    The stream ends after the terminal event (``done``, ``complete``, ``error``); a body that ends
    before it raises :class:`~muxi_proto.errors.StreamTruncatedError`. A stream dropped unfinished
    (``break`` out of a ``for`` loop, or simply forgotten) closes its connection when it is
    garbage collected; ``with`` or :meth:`close` does it at a moment of your choosing.
    """

    __slots__ = ("_batches", "_events", "_response", "machine")

    def __init__(self, response: SyncResponse, machine: StreamMachine[E]) -> None:
        self._response = response
        self.machine = machine
        # The events of each chunk come out of the machine as a list; `chain` hands them over one
        # by one in C, so Python code runs once per chunk, not once per event. The batches object
        # owns the connection: whoever holds the iterator (a `for` loop) keeps it, and dropping the
        # last reference closes it (no reference cycle, so at once).
        self._batches = _Batches(response, machine)
        self._events: Iterator[E] = chain.from_iterable(self._batches)

    @property
    def headers(self) -> Headers:
        """The response headers."""
        return self._response.headers

    def __iter__(self) -> Iterator[E]:
        return self._events

    def __next__(self) -> E:
        return next(self._events)

    # Chat conveniences (chat and audio chat streams).
    def tokens(self: Stream[ServerSentEvent]) -> Iterator[ChatToken]:
        """The typed ``{"token": ...}`` frames only."""
        for evt in self:
            token = chat_token(evt)
            if token is not None:
                yield token

    def text_deltas(self: Stream[ServerSentEvent], answer: ChatAnswer | None = None) -> Iterator[str]:
        """Answer text as it arrives (see :class:`~muxi_proto.streams.ChatAnswer`; pass one to keep
        the final text, ``replaced`` flag and ``ui`` widgets)."""
        answer = answer if answer is not None else ChatAnswer()
        for evt in self:
            delta = answer.add(evt)
            if delta:
                yield delta

    def text(self: Stream[ServerSentEvent]) -> str:
        """Consume the stream; return the final answer text."""
        answer = ChatAnswer()
        for _ in self.text_deltas(answer):
            pass
        return answer.text

    def close(self) -> None:
        """Stop reading and release the connection."""
        self._batches.close()

    def __enter__(self) -> Stream[E]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()



def _finished(machine: StreamMachine[Any]) -> bool:
    # A call, not an attribute test: feed() changes ``finished``, which type checkers would
    # otherwise consider narrowed by the loop condition.
    return machine.finished


class _Batches(Generic[E]):
    """The events of a sync stream, one list per body chunk; owns and closes the connection.

    A plain iterator, not a generator: nothing refers back to it, so when the last holder (the
    stream, or the ``chain`` a ``for`` loop is running) lets go, ``__del__`` closes an unfinished
    connection at once.
    """

    __slots__ = ("_batch", "_chunks", "_done", "_machine", "_response")

    def __init__(self, response: SyncResponse, machine: StreamMachine[E]) -> None:
        self._response = response
        self._machine = machine
        self._chunks = response.iter_bytes()
        self._batch: list[E] = []  # the list `chain` is in; emptied by close() so iteration stops
        self._done = False

    def __iter__(self) -> _Batches[E]:
        return self

    def __next__(self) -> list[E]:
        if self._done:
            raise StopIteration
        machine = self._machine
        try:
            while not _finished(machine):
                chunk = next(self._chunks, None)
                if chunk is None:
                    break
                events = machine.feed(chunk)
                if events:
                    if _finished(machine):
                        self._response.close()  # release the connection before the last events
                    batch = events if type(events) is list else list(events)
                    self._batch = batch
                    return batch
            self._done = True
            # After the terminal event: raises an error frame still owed (one that came after other
            # events of its chunk), else nothing. At the end of the body: raises the truncation.
            machine.eof()
        except BaseException:
            self.close()
            raise
        self._response.close()
        raise StopIteration

    def close(self) -> None:
        self._done = True
        self._batch.clear()  # events of the current chunk not handed out yet are dropped too
        self._response.close()

    def __del__(self) -> None:
        response = getattr(self, "_response", None)  # absent if __init__ failed
        if response is not None and not getattr(self, "_done", True):
            close_abandoned(response.close)


class AsyncStream(Generic[E]):
    """An async event stream: ``async for`` it; closes its connection when it ends, fails or is closed.

    A stream dropped unfinished (``break``, a cancelled task, or forgotten) has its connection
    closed on its event loop once it is garbage collected; ``async with`` or :meth:`aclose` does it
    at once.
    """

    # Plain iterator objects, no async generators: trio warns about each async generator the
    # garbage collector finalises, and a generator holding ``self`` would delay the collection.
    __slots__ = ("_chunks", "_done", "_loop", "_pending", "_response", "_settled", "machine")

    def __init__(self, response: AsyncResponse, machine: StreamMachine[E]) -> None:
        self._response = response
        self.machine = machine
        self._chunks = response.aiter_bytes()
        self._pending: deque[E] = deque()
        self._done = False
        self._settled = False  # eof() has been called
        self._loop = LoopHandle.current()

    @property
    def headers(self) -> Headers:
        """The response headers."""
        return self._response.headers

    def __aiter__(self) -> AsyncIterator[E]:
        return self

    async def __anext__(self) -> E:
        pending = self._pending
        while not pending:
            if self._done:
                if not self._settled:  # ended by its terminal event: an error frame may be owed
                    self._settled = True
                    self.machine.eof()
                raise StopAsyncIteration
            try:
                try:
                    chunk = await self._chunks.__anext__()
                except StopAsyncIteration:
                    self._done = self._settled = True
                    self.machine.eof()  # raises when the terminal event never came
                else:
                    pending.extend(self.machine.feed(chunk))
                    self._done = self.machine.finished
            except BaseException:
                self._done = True
                self._pending.clear()
                await self._response.aclose()
                raise
            if self._done:
                await self._response.aclose()  # release the connection before the last events
        return pending.popleft()

    # Chat conveniences (chat and audio chat streams).
    def tokens(self: AsyncStream[ServerSentEvent]) -> AsyncIterator[ChatToken]:
        """The typed ``{"token": ...}`` frames only."""
        return _Mapped(self, chat_token)

    def text_deltas(
        self: AsyncStream[ServerSentEvent], answer: ChatAnswer | None = None
    ) -> AsyncIterator[str]:
        """Answer text as it arrives (pass a :class:`~muxi_proto.streams.ChatAnswer` to keep more)."""
        add = (answer if answer is not None else ChatAnswer()).add
        return _Mapped(self, lambda evt: add(evt) or None)

    async def text(self: AsyncStream[ServerSentEvent]) -> str:
        """Consume the stream; return the final answer text."""
        answer = ChatAnswer()
        async for _ in self.text_deltas(answer):
            pass
        return answer.text

    async def aclose(self) -> None:
        """Stop reading and release the connection."""
        self._done = self._settled = True
        self._pending.clear()
        await self._response.aclose()

    async def __aenter__(self) -> AsyncStream[E]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __del__(self) -> None:
        loop = getattr(self, "_loop", None)  # absent if __init__ failed
        if loop is not None and not self._done:
            loop.spawn(self._response.aclose)


class _Mapped(Generic[E, T]):
    """``stream``'s events through ``convert``, skipping those it maps to None (no async generator)."""

    __slots__ = ("_convert", "_stream")

    def __init__(self, stream: AsyncStream[E], convert: Callable[[E], T | None]) -> None:
        self._stream = stream
        self._convert = convert

    def __aiter__(self) -> _Mapped[E, T]:
        return self

    async def __anext__(self) -> T:
        while True:
            value = self._convert(await self._stream.__anext__())
            if value is not None:
                return value
