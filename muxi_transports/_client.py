"""The two small loops that drive :class:`muxi_proto.exchange.Exchange` over a transport.

Everything about endpoints, signing, retries and decoding lives in ``muxi_proto``; what differs
between sync and async is only how to send, read, sleep and close, which is all that is here.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator
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

from .base import AsyncResponse, AsyncTransport, SyncResponse, Transport

__all__ = ["AsyncClient", "AsyncStream", "Stream", "SyncClient"]

R = TypeVar("R")
E = TypeVar("E")
C = TypeVar("C", ServerConfig, FormationConfig)

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
        **kwargs: Any,
    ) -> None:
        """``cfg``, or the config's fields as keywords (``MUXI_*`` variables fill the rest).

        ``transport`` defaults to a new :class:`HTTPCoreTransport` that :meth:`close` closes; a
        transport passed in stays the caller's. ``clock``, ``retry_policy`` and ``sleep`` are
        injectable for tests; ``max_body`` bounds JSON answers.
        """
        self._setup(cfg, kwargs, clock, retry_policy, max_body)
        if transport is None:
            from .httpcore_transport import HTTPCoreTransport

            transport = HTTPCoreTransport()
            self._owns_transport = True
        else:
            self._owns_transport = False
        self.transport: Transport = transport
        self._sleep = sleep

    def _send(self, ex: Exchange[Any]) -> tuple[SyncResponse, Step]:
        while True:
            request = ex.request()
            started = time.perf_counter()
            try:
                response = self.transport.send(request)
            except MuxiError as exc:
                self._log(request, type(exc).__name__, started, ex.attempt)
                delay = ex.failed(exc)
                self._log_retry(request, delay, exc.code)
                self._sleep(delay)
                continue
            self._log(request, response.status, started, ex.attempt)
            _note_latest(response.headers, self._logger)
            step = ex.received(response.status, response.headers)
            if step is not Step.RETRY:
                return response, step
            response.close()
            self._log_retry(request, ex.delay, response.status)
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

    def __enter__(self: Any) -> Any:
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
        **kwargs: Any,
    ) -> None:
        """As :class:`SyncClient`; the default transport is :class:`AsyncHTTPCoreTransport`."""
        self._setup(cfg, kwargs, clock, retry_policy, max_body)
        if transport is None:
            from .httpcore_transport import AsyncHTTPCoreTransport

            transport = AsyncHTTPCoreTransport()
            self._owns_transport = True
        else:
            self._owns_transport = False
        self.transport: AsyncTransport = transport

    async def _send(self, ex: Exchange[Any]) -> tuple[AsyncResponse, Step]:
        while True:
            request = ex.request()
            started = time.perf_counter()
            try:
                response = await self.transport.send(request)
            except MuxiError as exc:
                self._log(request, type(exc).__name__, started, ex.attempt)
                delay = ex.failed(exc)
                self._log_retry(request, delay, exc.code)
                await self.transport.sleep(delay)
                continue
            self._log(request, response.status, started, ex.attempt)
            _note_latest(response.headers, self._logger)
            step = ex.received(response.status, response.headers)
            if step is not Step.RETRY:
                return response, step
            await response.aclose()
            self._log_retry(request, ex.delay, response.status)
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

    async def __aenter__(self: Any) -> Any:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


class Stream(Generic[E]):
    """A blocking event stream: iterate it; it closes its connection when it ends, fails, or is closed.

    The stream ends after the terminal event (``done``, ``complete``, ``error``); a body that ends
    before it raises :class:`~muxi_proto.errors.StreamTruncatedError`.
    """

    __slots__ = ("_batch", "_batches", "_events", "_response", "machine")

    def __init__(self, response: SyncResponse, machine: StreamMachine[E]) -> None:
        self._response = response
        self.machine = machine
        # The events of each chunk come out of the machine as a list; `chain` hands them over one
        # by one in C, so a generator frame is resumed once per chunk, not once per event.
        self._batch: list[E] = []  # the list `chain` is in; emptied by close() so iteration stops
        self._batches = self._generate()
        self._events: Iterator[E] = chain.from_iterable(self._batches)

    @property
    def headers(self) -> Headers:
        """The response headers."""
        return self._response.headers

    def _generate(self) -> Generator[list[E], None, None]:
        machine = self.machine
        try:
            for chunk in self._response.iter_bytes():
                events = machine.feed(chunk)
                if events:
                    batch = events if type(events) is list else list(events)
                    self._batch = batch
                    yield batch
                if machine.finished:
                    break
            # Raises what the stream still owes: an error frame that came after other events of
            # its chunk, or a truncation; nothing after the terminal event.
            machine.eof()
        finally:
            self._response.close()

    def __iter__(self) -> Iterator[E]:
        return self._events

    def __next__(self) -> E:
        return next(self._events)

    # Chat conveniences (chat and audio chat streams).
    def tokens(self: Stream[ServerSentEvent]) -> Iterator[ChatToken]:
        """The typed ``{"token": ...}`` frames only."""
        for evt in self._events:
            token = chat_token(evt)
            if token is not None:
                yield token

    def text_deltas(self: Stream[ServerSentEvent], answer: ChatAnswer | None = None) -> Iterator[str]:
        """Answer text as it arrives (see :class:`~muxi_proto.streams.ChatAnswer`; pass one to keep
        the final text, ``replaced`` flag and ``ui`` widgets)."""
        answer = answer if answer is not None else ChatAnswer()
        for evt in self._events:
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
        self._batch.clear()  # events of the current chunk not handed out yet are dropped too
        self._response.close()

    def __enter__(self) -> Stream[E]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncStream(Generic[E]):
    """An async event stream: ``async for`` it; closes its connection when it ends, fails or is closed."""

    __slots__ = ("_events", "_response", "machine")

    def __init__(self, response: AsyncResponse, machine: StreamMachine[E]) -> None:
        self._response = response
        self.machine = machine
        self._events = self._generate()

    @property
    def headers(self) -> Headers:
        """The response headers."""
        return self._response.headers

    async def _generate(self) -> AsyncGenerator[E, None]:
        machine = self.machine
        try:
            async for chunk in self._response.aiter_bytes():
                for event in machine.feed(chunk):
                    yield event
                if machine.finished:
                    break
            machine.eof()  # as in Stream: an error frame not raised yet, or a truncation
        finally:
            await self._response.aclose()

    def __aiter__(self) -> AsyncIterator[E]:
        return self._events

    async def __anext__(self) -> E:
        return await self._events.__anext__()

    # Chat conveniences (chat and audio chat streams).
    async def tokens(self: AsyncStream[ServerSentEvent]) -> AsyncIterator[ChatToken]:
        """The typed ``{"token": ...}`` frames only."""
        async for evt in self._events:
            token = chat_token(evt)
            if token is not None:
                yield token

    async def text_deltas(
        self: AsyncStream[ServerSentEvent], answer: ChatAnswer | None = None
    ) -> AsyncIterator[str]:
        """Answer text as it arrives (pass a :class:`~muxi_proto.streams.ChatAnswer` to keep more)."""
        answer = answer if answer is not None else ChatAnswer()
        async for evt in self._events:
            delta = answer.add(evt)
            if delta:
                yield delta

    async def text(self: AsyncStream[ServerSentEvent]) -> str:
        """Consume the stream; return the final answer text."""
        answer = ChatAnswer()
        async for _ in self.text_deltas(answer):
            pass
        return answer.text

    async def aclose(self) -> None:
        """Stop reading and release the connection."""
        await self._events.aclose()
        await self._response.aclose()

    async def __aenter__(self) -> AsyncStream[E]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
