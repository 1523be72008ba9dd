"""MUXI stream semantics on top of the SSE decoder: pure state machines, one per stream kind.

Every kind has the same shape, so the sync and async clients share one loop::

    stream = ChatStream()               # DeploymentStream(), LogStream(), EventStream()
    for chunk in body:                  # `async for` in the async client
        for evt in stream.feed(chunk):  # ServerSentEvent values; comments never appear
            yield evt
        if stream.finished:             # terminal event seen: stop reading, release the connection
            break
    stream.eof()                        # raises StreamTruncatedError if the terminal event is missing

``feed`` raises the typed error of an ``event: error`` frame. When other events came before that
frame in the same chunk, ``feed`` returns them first, with ``finished`` set, and the error is raised
by ``eof()`` (or the next ``feed``), so nothing the server sent is lost. Data after a terminal event
is ignored.

The kinds (docs/protocol.md §5 and §11):

* :class:`ChatStream` (``POST /chat``, ``/audiochat``): unnamed ``{"token": ...}`` frames, an optional
  ``ui`` frame, then ``done``; ``error`` raises :class:`~muxi_proto.errors.StreamError`.
* :class:`DeploymentStream` (deploy, update, start, restart, rollback): ``progress`` frames, then one
  ``complete`` or ``error``; ``error`` raises the error class matching the server's type code.
* :class:`LogStream` (``logs?follow=true``, formation ``/logs``) and :class:`EventStream`
  (``/events*``): never end by themselves; ``error`` frames raise.

Typed views for chat: :func:`chat_token`, :func:`ui_widgets` and the :class:`ChatAnswer` accumulator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Final

from .errors import (
    ConflictError,
    MuxiError,
    NotFoundError,
    ServerError,
    StreamError,
    StreamTruncatedError,
    ValidationError,
)
from .sse import DEFAULT_MAX_SIZE, ServerSentEvent, SSEDecoder

__all__ = [
    "DEPLOYMENT_ERRORS",
    "ChatAnswer",
    "ChatStream",
    "ChatToken",
    "DeploymentStream",
    "EventStream",
    "LogStream",
    "MuxiStream",
    "chat_token",
    "deployment_error",
    "stream_error",
    "ui_widgets",
]

_PREVIEW: Final = 200  # how much of an undecodable error frame goes into an error's details


class MuxiStream:
    """The shared state machine: decode SSE, stop at a terminal event, raise on ``error`` frames.

    Subclasses set ``terminal`` (event names that end the stream) and ``needs_terminal`` (whether
    end of input before one is a truncation), and may override :meth:`error_for`.
    """

    terminal: ClassVar[frozenset[str]] = frozenset()
    needs_terminal: ClassVar[bool] = False
    kind: ClassVar[str] = "SSE"

    __slots__ = ("_decoder", "_pending", "finished", "terminal_event")

    def __init__(self, *, max_size: int = DEFAULT_MAX_SIZE) -> None:
        self._decoder = SSEDecoder(max_size=max_size)
        self._pending: MuxiError | None = None  # an error frame to raise once its events are out
        self.finished = False
        """True once the terminal event (or an error frame) arrived: stop reading."""
        self.terminal_event: ServerSentEvent | None = None
        """The event that ended the stream (``done``, ``complete``), if any."""

    @property
    def decoder(self) -> SSEDecoder:
        """The underlying decoder (``last_event_id``, ``retry``, ``in_event``)."""
        return self._decoder

    def feed(self, data: bytes | bytearray | memoryview) -> list[ServerSentEvent]:
        """Decode a chunk; return its events up to and including a terminal one."""
        if self._pending is not None:
            raise self._pending.with_traceback(None)
        if self.finished:
            return []
        decoder = self._decoder
        named = decoder.named_count
        events = decoder.feed(data)
        if decoder.named_count == named:
            return events  # only unnamed events: nothing to look at (the hot path)
        for index, evt in enumerate(events):
            name = evt.event
            if name == "message":
                continue
            if name == "error":
                self.finished = True
                self._pending = self.error_for(evt)
                if index == 0:
                    raise self._pending
                return events[:index]
            if name in self.terminal:
                self.finished = True
                self.terminal_event = evt
                return events[: index + 1]
        return events

    def eof(self) -> None:
        """Signal end of input; raise what the stream still owes.

        Raises an error frame's error not raised yet, a decoder limit error, or
        :class:`~muxi_proto.errors.StreamTruncatedError` when this kind needs a terminal event
        and none came. A no-op after the terminal event and for never-ending kinds.
        """
        if self._pending is not None:
            raise self._pending.with_traceback(None)
        if self.finished:
            return
        cut_mid_event = self._decoder.in_event
        if not self._decoder.ended:
            self._decoder.end()
        if self.needs_terminal:
            names = " or ".join(f"`{name}`" for name in sorted(self.terminal))
            where = " in the middle of an event" if cut_mid_event else ""
            raise StreamTruncatedError(
                message=f"the {self.kind} stream ended{where} without {names}",
                details={"kind": self.kind, "in_event": cut_mid_event},
            )

    def error_for(self, evt: ServerSentEvent) -> MuxiError:
        """The exception an ``event: error`` frame stands for."""
        return stream_error(evt)


class ChatStream(MuxiStream):
    """``POST /chat`` and ``/audiochat`` streams: tokens, optional ``ui``, then ``done``."""

    terminal = frozenset({"done"})
    needs_terminal = True
    kind = "chat"
    __slots__ = ()


class DeploymentStream(MuxiStream):
    """Control-plane deployment streams: ``progress`` frames, then ``complete`` or ``error``."""

    terminal = frozenset({"complete"})
    needs_terminal = True
    kind = "deployment"
    __slots__ = ()

    def error_for(self, evt: ServerSentEvent) -> MuxiError:
        """The typed error matching the server's type code (see :func:`deployment_error`)."""
        return deployment_error(evt)


class LogStream(MuxiStream):
    """Log follow streams (``connected``, then ``log`` events; ``error`` raises). Never ends."""

    kind = "log"
    __slots__ = ()


class EventStream(MuxiStream):
    """``/events*`` streams: unnamed JSON frames, never ending by themselves; ``error`` raises."""

    kind = "event"
    __slots__ = ()


# --- errors --------------------------------------------------------------------------------------


def _error_payload(evt: ServerSentEvent) -> dict[str, Any] | None:
    try:
        payload = evt.json()
    except StreamError:
        return None
    return payload if isinstance(payload, dict) else None


def stream_error(evt: ServerSentEvent) -> StreamError:
    """The :class:`~muxi_proto.errors.StreamError` for a chat (or log/event) ``error`` frame.

    The runtime sends ``{"error": "<message>", "type": "<ExceptionClass>"}``: ``code`` is the
    ``type`` (``"STREAM_ERROR"`` when absent), ``message`` the ``error`` text and ``details`` the
    whole payload. A frame that is not a JSON object keeps its text in ``details["data"]``.
    """
    payload = _error_payload(evt)
    if payload is None:
        text = evt.data[:_PREVIEW]
        return StreamError(message=text or "the server sent an error event", details={"data": text})
    message = payload.get("error") or payload.get("message") or "the server sent an error event"
    code = payload.get("type") or payload.get("code")
    return StreamError(str(code) if code else None, str(message), details=payload,
                       request_id=_opt_str(payload.get("request_id")))


# Deployment error type codes (docs/protocol.md §5) and the class each maps to; others are
# ServerError. Each is the class of the status the server answers for the same failure without a
# stream (the bundle and rollback checks are 400s, a missing runtime image a 404).
DEPLOYMENT_ERRORS: Final[dict[str, type[MuxiError]]] = {
    "NotFound": NotFoundError,
    "RuntimeNotFound": NotFoundError,
    "AlreadyRunning": ConflictError,
    "FormationExists": ConflictError,
    "NoChange": ConflictError,
    "VersionMismatch": ValidationError,
    "IDMismatch": ValidationError,
    "MissingHeader": ValidationError,
    "InvalidFormationID": ValidationError,
    "ExtractError": ValidationError,
    "ParseError": ValidationError,
    "SecretsError": ValidationError,
    "ResolveError": ValidationError,
    "NoPreviousVersion": ValidationError,
}


def deployment_error(evt: ServerSentEvent) -> MuxiError:
    """The typed error for a deployment ``event: error`` frame.

    ``{"error": "NotFound", "message": ..., "stage": ..., "details": ...}`` becomes
    ``NotFoundError(code="NotFound", message=..., details=<the whole payload>)``; see
    ``DEPLOYMENT_ERRORS`` for the mapping. ``status_code`` is 0: the HTTP answer itself was 200.
    """
    payload = _error_payload(evt)
    if payload is None:
        text = evt.data[:_PREVIEW]
        return ServerError(
            "STREAM_ERROR", text or "the deployment failed", details={"data": text})
    code = str(payload.get("error") or "STREAM_ERROR")
    message = str(payload.get("message") or code)
    return DEPLOYMENT_ERRORS.get(code, ServerError)(code, message, details=payload)


# --- chat views ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ChatToken:
    """One ``{"token": {...}}`` chat frame, typed.

    ``type`` is progress, thinking, planning, replanning, content (an answer delta), finalizing,
    error, completed (``content`` is the whole answer), failed or cancelled. ``raw`` is the token
    object as sent (every other field: ``stage``, ``status``, ``stream_discontinuity``...).
    """

    type: str
    content: str
    request_id: str | None = None
    session_id: str | None = None
    user_id: str | None = None
    timestamp: float | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def discontinuity(self) -> bool:
        """True when the runtime says the streamed deltas must be replaced by this content."""
        return bool(self.raw.get("stream_discontinuity"))


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def chat_token(evt: ServerSentEvent) -> ChatToken | None:
    """The :class:`ChatToken` of an unnamed ``{"token": ...}`` frame; ``None`` for other frames.

    A bare string token (``{"token": "text"}``) is read as a content delta. Raises
    :class:`~muxi_proto.errors.StreamError` when the frame's data is not JSON or the token is
    neither an object nor a string.
    """
    if evt.event != "message":
        return None
    payload = evt.json()
    if not isinstance(payload, dict) or "token" not in payload:
        return None
    token = payload["token"]
    if isinstance(token, str):
        return ChatToken("content", token, raw={"type": "content", "content": token})
    if not isinstance(token, dict):
        raise StreamError(
            "INVALID_TOKEN", "a chat token is neither an object nor a string",
            details={"token": repr(token)[:_PREVIEW]})
    timestamp = token.get("timestamp")
    return ChatToken(
        type=str(token.get("type") or "content"),
        content=_content_text(token.get("content")),
        request_id=_opt_str(token.get("request_id")),
        session_id=_opt_str(token.get("session_id")),
        user_id=_opt_str(token.get("user_id")),
        timestamp=float(timestamp) if isinstance(timestamp, int | float) else None,
        raw=token,
    )


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    return content if isinstance(content, str) else str(content)


def ui_widgets(evt: ServerSentEvent) -> list[dict[str, Any]]:
    """The widgets of an ``event: ui`` frame (``{"ui": [...]}``); ``[]`` for other frames.

    Unknown widget types are returned as they are (ignore what you do not render). Raises
    :class:`~muxi_proto.errors.StreamError` when a ``ui`` frame is not JSON or not shaped like one.
    """
    if evt.event != "ui":
        return []
    payload = evt.json()
    widgets = payload.get("ui", []) if isinstance(payload, dict) else None
    if not isinstance(widgets, list) or not all(isinstance(w, dict) for w in widgets):
        raise StreamError(
            "INVALID_UI", "a ui frame is not {\"ui\": [widget objects]}",
            details={"data": evt.data[:_PREVIEW]})
    return widgets


class ChatAnswer:
    """Pure accumulator for "just the answer" of a chat stream, sync or async alike::

        answer = ChatAnswer()
        for evt in events:              # or `async for`
            delta = answer.add(evt)
            if delta:
                print(delta, end="")    # content as it arrives
        answer.text                     # the final answer

    ``add`` returns the text to append to what was shown so far: each ``content`` delta, and at
    ``completed`` whatever the deltas missed (all of it when nothing was streamed). ``text`` is the
    authoritative answer: the ``completed`` token's content when one came, else the deltas joined.
    When ``completed`` says ``stream_discontinuity`` (or its content does not extend the deltas),
    ``replaced`` becomes True: what was shown must be replaced by ``text``. A ``failed`` or
    ``cancelled`` token raises :class:`~muxi_proto.errors.StreamError` (code ``CHAT_FAILED`` /
    ``CHAT_CANCELLED``) with the token in ``details``.
    """

    __slots__ = ("_deltas", "_final", "completed", "replaced", "request_id", "session_id", "ui")

    def __init__(self) -> None:
        self._deltas: list[str] = []
        self._final: str | None = None
        self.completed = False
        """True once the ``completed`` token arrived."""
        self.replaced = False
        """True when the final text does not extend the streamed deltas."""
        self.request_id: str | None = None
        self.session_id: str | None = None
        self.ui: list[dict[str, Any]] = []
        """Widgets of the ``ui`` frame, if any."""

    @property
    def streamed(self) -> str:
        """Everything :meth:`add` returned so far, joined."""
        return "".join(self._deltas)

    @property
    def text(self) -> str:
        """The answer: the ``completed`` content when it came, else the deltas so far."""
        return self._final if self._final is not None else self.streamed

    def add(self, evt: ServerSentEvent) -> str:
        """Take one event; return the text to show now (``""`` when none)."""
        if evt.event == "ui":
            self.ui.extend(ui_widgets(evt))
            return ""
        token = chat_token(evt)
        if token is None:
            return ""
        self.request_id = token.request_id or self.request_id
        self.session_id = token.session_id or self.session_id
        if token.type == "content":
            if self._final is not None or not token.content:
                return ""
            self._deltas.append(token.content)
            return token.content
        if token.type == "completed":
            return self._complete(token)
        if token.type in ("failed", "cancelled"):
            raise StreamError(
                f"CHAT_{token.type.upper()}",
                token.content or f"the chat request {token.type}",
                details=token.raw,
                request_id=token.request_id,
            )
        return ""

    def _complete(self, token: ChatToken) -> str:
        self.completed = True
        final = token.content
        self._final = final
        shown = self.streamed
        if token.discontinuity or not final.startswith(shown):
            self.replaced = True
            return ""
        rest = final[len(shown):]
        if rest:
            self._deltas.append(rest)
        return rest

