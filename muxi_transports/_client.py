"""The two small loops that drive :class:`muxi_proto.exchange.Exchange` over a transport.

Everything about endpoints, signing, retries and decoding lives in ``muxi_proto``; what differs
between sync and async is only how to send, read, sleep and close, which is all that is here.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from itertools import chain
from types import TracebackType
from typing import Any, Generic, TypeVar

from muxi_proto._version import __version__
from muxi_proto.api import AsyncInvoker, Spec, StreamMachine, StreamSpec, SyncInvoker
from muxi_proto.config import FormationConfig, ServerConfig, env_flag
from muxi_proto.errors import ConfigurationError, MuxiError
from muxi_proto.exchange import DEFAULT_MAX_BODY, Exchange, Step
from muxi_proto.http import Headers, Request, get_header
from muxi_proto.requests import RequestBuilder
from muxi_proto.retry import RetryPolicy
from muxi_proto.sse import ServerSentEvent
from muxi_proto.streams import ChatAnswer, ChatToken, chat_token
from muxi_proto.version import is_newer

from ._defaults import choose_async, choose_sync
from ._finalize import LoopHandle, close_abandoned
from .base import AsyncResponse, AsyncTransport, SyncResponse, Transport

__all__ = ["AsyncClient", "AsyncStream", "Stream", "SyncClient"]

R = TypeVar("R")
E = TypeVar("E")
T = TypeVar("T")
C = TypeVar("C", ServerConfig, FormationConfig)

_S = TypeVar("_S", bound="SyncClient[Any]")
_A = TypeVar("_A", bound="AsyncClient[Any]")

_sdk_notice_given = False


def _note_latest(headers: Headers, logger: logging.Logger) -> None:
    """Warn once per process when the server names a newer SDK (numeric comparison)."""
    global _sdk_notice_given  # noqa: PLW0603 - once per process, by design
    if _sdk_notice_given:
        return
    latest = get_header(headers, "x-muxi-sdk-latest")
    if latest is None:
        return
    _sdk_notice_given = True
    if is_newer(latest, __version__):
        logger.warning("muxi: a newer SDK is available: %s (this is %s)", latest, __version__)


class _Common(Generic[C]):
    """Configuration handling shared by both flavours."""

    _config_type: type[C]

    def _setup(
        self,
        cfg: C | None,
        kwargs: dict[str, Any],
        clock: Callable[[], float] | None,
        retry_policy: RetryPolicy | None,
        max_body: int,
    ) -> C:
        config_type = self._config_type
        if cfg is None:
            cfg = config_type.from_env(**kwargs)
        elif kwargs:
            raise ConfigurationError(
                "INVALID_CONFIG", f"pass either cfg or keyword settings, not both: {sorted(kwargs)}"
            )
        elif not isinstance(cfg, config_type):
            raise ConfigurationError("INVALID_CONFIG", f"cfg must be a {config_type.__name__}")
        self.config: C = cfg
        self._builder = RequestBuilder(cfg)
        self._policy = retry_policy or RetryPolicy(max_retries=cfg.max_retries)
        self._clock = clock or time.time
        self._max_body = max_body
        self._logger = cfg.logger or logging.getLogger("muxi")
        self._debug = cfg.debug or env_flag(os.environ.get("MUXI_DEBUG"))
        return cfg

    def _exchange(self, spec: Spec[R] | StreamSpec[Any]) -> Exchange[R]:
        return Exchange(self._builder, spec, self._policy, clock=self._clock, max_body=self._max_body)

    def _log(self, request: Request, status: int | str, started: float, attempt: int) -> None:
        if self._debug:
            self._logger.debug(
                "%s %s -> %s (%.3fs, attempt %d)",
                request.method, request.url, status, time.perf_counter() - started, attempt,
            )

    def _log_retry(self, request: Request, delay: float, why: object) -> None:
        if self._debug:
            self._logger.debug("retrying %s %s in %.2fs (%s)", request.method, request.url, delay, why)

    # What both loops do between their I/O steps (only sending, sleeping and closing differ).
    def _after_failure(self, ex: Exchange[Any], request: Request, exc: MuxiError, started: float) -> float:
        """Log a failed attempt; the delay before the next one (or ``exc`` re-raised)."""
        self._log(request, type(exc).__name__, started, ex.attempt)
        delay = ex.failed(exc)
        self._log_retry(request, delay, exc.code)
        return delay

    def _after_head(self, ex: Exchange[Any], request: Request, status: int, headers: Headers,
                    started: float) -> Step:
        """Log an answer's head and decide what to do with it (``Step.RETRY``: wait ``ex.delay``)."""
        self._log(request, status, started, ex.attempt)
        _note_latest(headers, self._logger)
        step = ex.received(status, headers)
        if step is Step.RETRY:
            self._log_retry(request, ex.delay, status)
        return step

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._builder.base_url}>"


class SyncClient(_Common[C], SyncInvoker):
    """Base of the blocking clients."""

    def __init__(
        self,
        cfg: C | None = None,
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
        **kwargs: Any,
    ) -> None:
        """``cfg``, or the config's fields as keywords (``MUXI_*`` variables fill the rest).

        ``transport`` defaults to the fastest that serves ``proxy`` (else ``HTTP(S)_PROXY``,
        ``ALL_PROXY``, ``NO_PROXY`` unless ``trust_env`` is off), ``http2`` and ``max_connections``
        (see :mod:`muxi_transports._defaults`); :meth:`close` closes it. A transport passed in stays
        the caller's. ``clock``, ``retry_policy`` and ``sleep`` are injectable for tests; ``max_body``
        bounds JSON answers.
        """
        self._setup(cfg, kwargs, clock, retry_policy, max_body)
        self.transport: Transport
        self.transport, self._owns_transport = choose_sync(
            transport, self._builder.base_url, proxy=proxy, trust_env=trust_env, http2=http2,
            max_connections=max_connections)
        self._sleep = sleep

    def _send(self, ex: Exchange[Any]) -> tuple[SyncResponse, Step]:
        while True:
            request = ex.request()
            started = time.perf_counter()
            try:
                response = self.transport.send(request)
            except MuxiError as exc:
                self._sleep(self._after_failure(ex, request, exc, started))
                continue
            step = self._after_head(ex, request, response.status, response.headers, started)
            if step is not Step.RETRY:
                return response, step
            response.close()
            self._sleep(ex.delay)

    def _run(self, spec: Spec[R]) -> R:
        ex = self._exchange(spec)
        while True:
            response, _ = self._send(ex)
            with response:
                try:
                    body = response.read(ex.max_body)
                except MuxiError as exc:
                    self._sleep(ex.failed(exc))
                    continue
            if ex.complete(response.status, response.headers, body):
                return ex.result  # type: ignore[return-value]

    def _open_stream(self, spec: StreamSpec[E]) -> Stream[E]:
        ex: Exchange[Any] = self._exchange(spec)
        response, step = self._send(ex)
        if step is Step.STREAM:
            return Stream(response, spec.machine())
        with response:
            body = response.read(ex.max_body)
        ex.complete(response.status, response.headers, body)  # always raises for streams
        raise AssertionError("unreachable")  # pragma: no cover

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


class AsyncClient(_Common[C], AsyncInvoker):
    """Base of the async clients (asyncio and trio)."""

    def __init__(
        self,
        cfg: C | None = None,
        *,
        transport: AsyncTransport | None = None,
        clock: Callable[[], float] | None = None,
        retry_policy: RetryPolicy | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        proxy: str | None = None,
        trust_env: bool = True,
        http2: bool = False,
        max_connections: int | None = None,
        **kwargs: Any,
    ) -> None:
        """As :class:`SyncClient` (the default transport follows the same rule, async)."""
        self._setup(cfg, kwargs, clock, retry_policy, max_body)
        self.transport: AsyncTransport
        self.transport, self._owns_transport = choose_async(
            transport, self._builder.base_url, proxy=proxy, trust_env=trust_env, http2=http2,
            max_connections=max_connections)

    async def _send(self, ex: Exchange[Any]) -> tuple[AsyncResponse, Step]:
        while True:
            request = ex.request()
            started = time.perf_counter()
            try:
                response = await self.transport.send(request)
            except MuxiError as exc:
                await self.transport.sleep(self._after_failure(ex, request, exc, started))
                continue
            step = self._after_head(ex, request, response.status, response.headers, started)
            if step is not Step.RETRY:
                return response, step
            await response.aclose()
            await self.transport.sleep(ex.delay)

    async def _run(self, spec: Spec[R]) -> R:
        ex = self._exchange(spec)
        while True:
            response, _ = await self._send(ex)
            async with response:
                try:
                    body = await response.aread(ex.max_body)
                except MuxiError as exc:
                    await self.transport.sleep(ex.failed(exc))
                    continue
            if ex.complete(response.status, response.headers, body):
                return ex.result  # type: ignore[return-value]

    async def _open_stream(self, spec: StreamSpec[E]) -> AsyncStream[E]:
        ex: Exchange[Any] = self._exchange(spec)
        response, step = await self._send(ex)
        if step is Step.STREAM:
            return AsyncStream(response, spec.machine())
        async with response:
            body = await response.aread(ex.max_body)
        ex.complete(response.status, response.headers, body)  # always raises for streams
        raise AssertionError("unreachable")  # pragma: no cover

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
