"""The driver of :class:`muxi_proto.call.CallMachine` over a transport, and the event stream it opens.

Every decision between I/O steps (requests, retries, limits, decoding, logging, the SDK notice) is
the call machine's; a driver sends, reads, sleeps and closes, and nothing else (docs/drivers.md).
Written once: the async source is ``_async/client.py``, the blocking driver is generated from it.
"""

from __future__ import annotations

# sync: import time
from collections.abc import AsyncIterator, Callable

# sync: from itertools import chain
from types import TracebackType
from typing import Any, Generic, TypeVar

from muxi_proto.api import AsyncInvoker
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

from .._aiter import Chain, Mapped  # async only
from .._finalize import AsyncCloser
from .base import AsyncResponse, AsyncTransport
from .defaults import choose_async

__all__ = ["AsyncClient", "AsyncStream"]

R = TypeVar("R")
E = TypeVar("E")

_C = TypeVar("_C", bound="AsyncClient")


class AsyncClient(AsyncInvoker):
    """Base of the clients: runs each method's call machine over :attr:`transport`."""

    def __init__(
        self,
        cfg: ServerConfig | FormationConfig | None = None,
        *,
        transport: AsyncTransport | None = None,
        clock: Callable[[], float] | None = None,
        retry_policy: RetryPolicy | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        # sync: sleep: Callable[[float], None] = time.sleep,
        proxy: str | None = None,
        trust_env: bool = True,
        http2: bool = False,
        max_connections: int | None = None,
        **kwargs: Unpack[ConfigFields],
    ) -> None:
        """``cfg``, or the config's fields as keywords (``MUXI_*`` variables fill the rest).

        ``transport`` defaults to the fastest that serves ``proxy`` (else ``HTTP(S)_PROXY``,
        ``ALL_PROXY``, ``NO_PROXY`` unless ``trust_env`` is off), ``http2`` and ``max_connections``
        (see :mod:`muxi_transports._defaults`); closing the client closes it. A transport passed in
        stays the caller's. ``clock`` and ``retry_policy`` are injectable for tests (and a blocking
        client's ``sleep``; an async client sleeps through its transport); ``max_body`` bounds JSON
        answers.
        """
        self._configure(cfg, dict(kwargs), retry_policy, clock, max_body, None)
        self.transport: AsyncTransport
        self.transport, self._owns_transport = choose_async(
            transport, self.settings.builder.base_url, proxy=proxy, trust_env=trust_env, http2=http2,
            max_connections=max_connections)
        # sync: self._sleep = sleep

    async def perform(self, machine: Machine[R], *, raw: bool = False) -> Any:
        """Run ``machine`` until it is done (its result), fails (raised), or opens its event stream
        (the :class:`AsyncStream` that owns the connection); with ``raw``, a :class:`RawResponse`
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
                await self.transport.sleep(step.seconds)  # sync: self._sleep(step.seconds)
                step = machine.resume()
            elif type(step) is Done:
                return _raw(machine, step, step.result) if raw else step.result
            elif type(step) is OpenStream:
                assert response is not None
                stream = AsyncStream(response, step.decoder)
                return _raw(machine, step, stream) if raw else stream
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

    # async only: begin
    async def close(self) -> None:
        """Alias of :meth:`aclose`."""
        await self.aclose()

    # async only: end
    async def __aenter__(self: _C) -> _C:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


def _raw(machine: Machine[Any], step: Done[Any] | OpenStream, result: Any) -> RawResponse[Any]:
    request = machine.request
    assert request is not None  # a call that got an answer has sent a request
    return RawResponse(step.status, step.headers, result, request, machine.attempt)


class AsyncStream(Generic[E]):
    """An event stream: iterate it (``async for``); it closes its connection when it ends, fails, or
    is closed.

    The stream ends after the terminal event (``done``, ``complete``, ``error``); a body that ends
    before it raises :class:`~muxi_proto.errors.StreamTruncatedError`. A stream dropped unfinished
    (``break`` out of the loop, a cancelled task, or simply forgotten) closes its connection once it
    is garbage collected (an async stream's, on its event loop); ``async with`` or :meth:`aclose`
    does it at a moment of your choosing.
    """

    __slots__ = ("_batches", "_events", "_response", "machine")

    def __init__(self, response: AsyncResponse, machine: StreamMachine[E]) -> None:
        self._response = response
        self.machine = machine
        # The events of each chunk come out of the machine as a list, handed over one by one (by
        # `itertools.chain` in C for a blocking stream: Python code runs once per chunk, not once per
        # event). The batches object owns the connection: whoever holds the events iterator (a `for`
        # loop) keeps it, and dropping the last reference closes it (no reference cycle, so at once).
        self._batches = _Batches(response, machine)
        self._events: AsyncIterator[E] = Chain(self._batches)  # sync: self._events = chain.from_iterable(self._batches)

    @property
    def headers(self) -> Headers:
        """The response headers."""
        return self._response.headers

    def __aiter__(self) -> AsyncIterator[E]:
        return self._events

    async def __anext__(self) -> E:
        return await self._events.__anext__()

    # Chat conveniences (chat and audio chat streams).
    def tokens(self: AsyncStream[ServerSentEvent]) -> AsyncIterator[ChatToken]:
        """The typed ``{"token": ...}`` frames only."""
        return Mapped(chat_token, self._events)  # sync: return filter(None, map(chat_token, self._events))

    def text_deltas(
        self: AsyncStream[ServerSentEvent], answer: ChatAnswer | None = None
    ) -> AsyncIterator[str]:
        """Answer text as it arrives (see :class:`~muxi_proto.streams.ChatAnswer`; pass one to keep
        the final text, ``replaced`` flag and ``ui`` widgets)."""
        add = (answer if answer is not None else ChatAnswer()).add
        return Mapped(add, self._events)  # sync: return filter(None, map(add, self._events))

    async def text(self: AsyncStream[ServerSentEvent]) -> str:
        """Consume the stream; return the final answer text."""
        answer = ChatAnswer()
        async for _ in self.text_deltas(answer):
            pass
        return answer.text

    async def aclose(self) -> None:
        """Stop reading and release the connection."""
        await self._batches.aclose()

    async def __aenter__(self) -> AsyncStream[E]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _finished(machine: StreamMachine[Any]) -> bool:
    # A call, not an attribute test: feed() changes ``finished``, which type checkers would
    # otherwise consider narrowed by the loop condition.
    return machine.finished


class _Batches(Generic[E]):
    """The events of a stream, one list per body chunk; owns and closes the connection.

    A plain iterator, not a generator: nothing refers back to it, so when the last holder (the
    stream, or the events iterator a loop is running) lets go, ``__del__`` closes an unfinished
    connection (:mod:`muxi_transports._finalize` says where that runs).
    """

    __slots__ = ("_batch", "_chunks", "_closer", "_done", "_machine", "_response")

    def __init__(self, response: AsyncResponse, machine: StreamMachine[E]) -> None:
        self._response = response
        self._machine = machine
        self._chunks = response.aiter_raw()  # an empty chunk feeds no events
        self._batch: list[E] = []  # the list being handed out; emptied by close() so iteration stops
        self._done = False
        self._closer = AsyncCloser.current()

    def __aiter__(self) -> _Batches[E]:
        return self

    async def __anext__(self) -> list[E]:
        if self._done:
            raise StopAsyncIteration
        machine = self._machine
        try:
            while not _finished(machine):
                try:
                    chunk = await self._chunks.__anext__()  # sync: chunk = next(self._chunks)
                except StopAsyncIteration:
                    break
                events = machine.feed(chunk)
                if events:
                    if _finished(machine):
                        await self._response.aclose()  # release the connection before the last events
                    batch = events if type(events) is list else list(events)
                    self._batch = batch
                    return batch
            self._done = True
            # After the terminal event: raises an error frame still owed (one that came after other
            # events of its chunk), else nothing. At the end of the body: raises the truncation.
            machine.eof()
        except BaseException:
            await self.aclose()
            raise
        await self._response.aclose()
        raise StopAsyncIteration

    async def aclose(self) -> None:
        self._done = True
        self._batch.clear()  # events of the current chunk not handed out yet are dropped too
        await self._response.aclose()

    def __del__(self) -> None:
        closer = getattr(self, "_closer", None)  # absent if __init__ failed
        if closer is not None and not self._done:
            closer.close_abandoned(self._response.aclose)
