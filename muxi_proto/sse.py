"""Server-sent events: an incremental decoder over bytes, and an encoder.

:class:`SSEDecoder` follows the WHATWG HTML "parsing an event stream" algorithm: bytes in, in chunks
of any size, :class:`ServerSentEvent` values out. It never touches I/O; the caller feeds it whatever
the transport delivered and calls :meth:`SSEDecoder.end` at end of input.

How it stays fast and linear (this is the hot path of every stream):

* Line ends are found in the *bytes* (``rfind`` on each new chunk, never on the buffer), so a line
  that arrives one byte at a time costs O(n) in total: its bytes wait in a ``bytearray`` and are
  decoded once, when the line is complete. Splitting at an ASCII line end never cuts a UTF-8
  sequence, so decoding complete lines region by region equals decoding the whole stream.
* All complete lines of a chunk are decoded in one call and cut with one ``str.split`` at every
  "blank line, then ``data: ``"; when no piece in between holds another line, every piece is a
  whole one-line event (the MUXI norm) and the events are built by ``map`` without a per-line
  Python loop. Anything else (named events, ids, multi-line data, CR line ends...) takes the
  general line-by-line path, which the property tests hold to a literal reference parser.
* A maximum line / event size (default 16 MiB) bounds the memory; going over it raises
  :class:`~muxi_proto.errors.LimitExceededError` as soon as it is seen, before buffering more.
"""

from __future__ import annotations

import json as _json
import re
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from typing import Any, Final

from .errors import ConfigurationError, LimitExceededError, StreamError

__all__ = [
    "DEFAULT_MAX_SIZE",
    "SSEDecoder",
    "ServerSentEvent",
    "format_comment",
    "format_event",
]

DEFAULT_MAX_SIZE: Final = 16 * 1024 * 1024
"""Default bound on one line (bytes) and on one event's data (characters)."""

_BOM: Final = b"\xef\xbb\xbf"
# Python refuses to parse longer decimal strings (int_max_str_digits); such a retry value is
# meaningless anyway, so it is ignored like an invalid one.
_MAX_RETRY_DIGITS: Final = 4000
_REPR_DATA: Final = 120
_KEEPALIVE: Final = "\n\n: keepalive\n\n"  # as the MUXI runtime sends it, with the blank line before
_KEEPALIVE_FRAME: Final = b": keepalive\n\n"
_DATA_FRAME: Final = re.compile(rb"data: ([^\r\n]*)\n\n").fullmatch  # one whole one-line data frame


class ServerSentEvent(Mapping[str, Any]):
    """One dispatched event: ``event`` type, ``data`` text, ``id`` in force, ``retry`` in force.

    It also reads like the official SDK's event dicts: ``evt["data"]``, ``evt.get("event")``,
    ``"data" in evt`` and ``dict(evt)``. Its keys are ``event`` and ``data``, plus ``id`` when an
    event id is in force and ``retry`` when the server set a reconnection time, so an event from a
    MUXI stream (which uses neither) compares equal to ``{"event": ..., "data": ...}``.
    Treat it as immutable.
    """

    __slots__ = ("_json", "data", "event", "id", "retry")
    _json: Any  # set by json() on first use

    def __init__(self, event: str, data: str, id: str = "", retry: int | None = None) -> None:
        self.event: Final = event
        self.data: Final = data
        self.id: Final = id
        self.retry: Final = retry

    def json(self) -> Any:
        """``data`` parsed as JSON (parsed once, then cached).

        Raises :class:`~muxi_proto.errors.StreamError` (code ``INVALID_JSON``) when it is not JSON.
        """
        try:
            return self._json
        except AttributeError:
            pass
        try:
            value = _json.loads(self.data)
        except ValueError as exc:
            pos = getattr(exc, "pos", None)
            where = f" at position {pos}" if pos is not None else ""
            raise StreamError(
                "INVALID_JSON",
                f"the data of an {self.event!r} event is not JSON{where}",
                details={"event": self.event, "data": self.data[:_REPR_DATA]},
            ) from None
        self._json = value
        return value

    # --- mapping view ------------------------------------------------------------------------

    def _keys(self) -> tuple[str, ...]:
        if self.id:
            return ("event", "data", "id", "retry") if self.retry is not None else ("event", "data", "id")
        return ("event", "data") if self.retry is None else ("event", "data", "retry")

    def __getitem__(self, key: str) -> Any:
        if key == "data":
            return self.data
        if key == "event":
            return self.event
        if (key == "id" and self.id) or (key == "retry" and self.retry is not None):
            return getattr(self, key)
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        """``evt[key]`` or ``default`` when the event has no such key."""
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        return key in self._keys()

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())

    def to_dict(self) -> dict[str, Any]:
        """A plain ``dict`` with the mapping's keys (what the official SDK yields)."""
        return {key: self[key] for key in self._keys()}

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ServerSentEvent):
            return (self.event, self.data, self.id, self.retry) == (
                other.event, other.data, other.id, other.retry)
        if isinstance(other, Mapping):
            return self.to_dict() == dict(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # equal to dicts, which are unhashable

    def __repr__(self) -> str:
        data = self.data if len(self.data) <= _REPR_DATA else self.data[:_REPR_DATA] + "..."
        extra = f", id={self.id!r}" if self.id else ""
        extra += f", retry={self.retry!r}" if self.retry is not None else ""
        return f"ServerSentEvent(event={self.event!r}, data={data!r}{extra})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (ServerSentEvent, (self.event, self.data, self.id, self.retry))


class _Message(ServerSentEvent):
    """A :class:`ServerSentEvent` of the MUXI norm (unnamed, no id or retry in force), built with
    one argument: the other three are class attributes that shadow the base's slots. Constructing
    events is the largest cost of decoding, and three fewer arguments save about a fifth of it."""

    __slots__ = ()
    event = "message"  # type: ignore[misc]  # (Final in the base: never assigned per instance here)
    id = ""  # type: ignore[misc]
    retry = None  # type: ignore[misc]

    def __init__(self, data: str) -> None:  # (no super().__init__: the base sets all four)
        self.data = data  # type: ignore[misc]


class SSEDecoder:
    """Incremental WHATWG event-stream parser: ``feed(bytes) -> [ServerSentEvent]``.

    Any chunking of the same bytes gives the same events. Input is UTF-8 (invalid bytes become
    U+FFFD); one leading byte order mark is skipped; lines end at CR, LF or CRLF (a CRLF split
    across chunks is one line end). An event is dispatched at a blank line when it has data; what
    is pending at end of input is discarded (the spec's rule) and :attr:`in_event` tells whether
    there was any, i.e. whether the stream was cut in the middle of an event.

    ``max_size`` bounds one line (in bytes, without its line end) and one event's data (in
    characters). Going over it raises :class:`~muxi_proto.errors.LimitExceededError` at once; when
    events were decoded earlier in the same ``feed`` call they are returned first and the error is
    raised by the next call (so nothing already received is lost). After an error every call
    raises it again.
    """

    __slots__ = (
        "_buf", "_data", "_data_len", "_dirty", "_ended", "_error", "_event_type", "_halt",
        "_id_buffer", "_last_event_id", "_max", "_named", "_retry", "_skip_lf", "_special",
        "_started",
    )

    def __init__(self, *, max_size: int = DEFAULT_MAX_SIZE) -> None:
        if max_size < 1:
            raise ConfigurationError(message="max_size must be at least 1")
        self._max = max_size
        self._buf = bytearray()  # bytes of the line not yet ended (or of a possible BOM at start)
        self._started = False  # past the point where a byte order mark may appear
        self._skip_lf = False  # the last chunk ended with CR: an LF first in the next one is its pair
        self._data: list[str] = []
        self._data_len = 0
        self._event_type = ""
        self._id_buffer = ""
        self._last_event_id = ""
        self._retry: int | None = None
        self._dirty = False  # a non-blank line was seen since the last blank line
        self._named = 0  # events dispatched with an `event:` type
        self._error: LimitExceededError | None = None
        self._ended = False
        self._halt: StreamError | LimitExceededError | None = None  # what every call raises now
        self._special = True  # _prefix has work: the stream start, or a pending CRLF half

    # --- state ------------------------------------------------------------------------------

    @property
    def retry(self) -> int | None:
        """The last valid ``retry:`` value (milliseconds), or ``None``."""
        return self._retry

    @property
    def last_event_id(self) -> str:
        """The last event id in force at the last blank line (what a reconnect would send)."""
        return self._last_event_id

    @property
    def max_size(self) -> int:
        """The configured bound on a line and on an event's data."""
        return self._max

    @property
    def in_event(self) -> bool:
        """True when the input so far stops inside an event or a line: end of input now is a cut."""
        return self._dirty or bool(self._buf)

    @property
    def named_count(self) -> int:
        """How many events so far had an ``event:`` field; unchanged means all were ``message``
        (lets a caller skip looking at the events of a chunk)."""
        return self._named

    @property
    def ended(self) -> bool:
        """True once :meth:`end` was called."""
        return self._ended

    # --- input ------------------------------------------------------------------------------

    def feed(self, data: bytes | bytearray | memoryview) -> list[ServerSentEvent]:
        """Decode one chunk of the stream; return the events it completed (often none)."""
        if self._halt is not None:
            raise self._halt.with_traceback(None)
        if type(data) is not bytes:
            data = bytes(data)
        if self._special:
            data = self._prefix(data)
            if not data:
                return []
        if not self._dirty and not self._buf:
            # The runtime writes every frame as its own HTTP chunk: a whole "data: value" frame,
            # or a keepalive, fed alone on a clean state (no field since the last blank line).
            frame = _DATA_FRAME(data)
            if frame is not None and len(data) - 2 <= self._max:
                text = frame[1].decode("utf-8", "replace")
                return [self._new_message()(text)]
            if data == _KEEPALIVE_FRAME and len(data) - 2 <= self._max:
                return []
        if 13 in data:  # CR (an int: much cheaper than looking for b"\r")
            if data[-1] == 13:
                self._skip_lf = self._special = True
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        buf = self._buf
        cut = data.rfind(b"\n")
        if cut < 0:
            if len(buf) + len(data) > self._max:
                self._fail(self._line_too_long())
            buf += data
            return []
        out: list[ServerSentEvent] = []
        try:
            if buf:
                buf += data[:cut]
                head: bytes | bytearray = buf
            else:
                head = data[:cut]
            if len(head) <= self._max:
                self._lines_text(head.decode("utf-8", "replace"), out)
            else:
                self._lines_checked(head, out)
            buf.clear()
            if len(data) - cut - 1 > self._max:
                raise self._line_too_long()
            buf += data[cut + 1:]
        except LimitExceededError as exc:
            self._fail(exc, raise_it=not out)
        return out

    def _prefix(self, data: bytes) -> bytes:
        # The rare cases at the start of a chunk: a possible byte order mark at the start of the
        # stream, and the LF of a CRLF whose CR ended the previous chunk.
        if not self._started:
            if self._buf:
                data = bytes(self._buf) + data
                self._buf.clear()
            if len(data) < 3 and _BOM.startswith(data):
                self._buf += data  # maybe the start of a byte order mark: wait for more
                return b""
            self._started = True
            if data.startswith(_BOM):
                data = data[3:]
        if self._skip_lf and data:
            self._skip_lf = False
            if data[0] == 10:
                data = data[1:]
        self._special = self._skip_lf
        return data

    def end(self) -> None:
        """Signal end of input. Nothing is dispatched (an unfinished event is dropped, per spec);
        read :attr:`in_event` to learn whether the input stopped mid-event."""
        if self._error is not None:
            raise self._error.with_traceback(None)
        self._ended = True
        if len(self._buf) > self._max:  # only possible for a would-be BOM and a tiny limit
            self._fail(self._line_too_long())
        self._halt = StreamError(message="data fed to an SSE decoder after end()")

    # --- internals --------------------------------------------------------------------------

    def _fail(self, exc: LimitExceededError, *, raise_it: bool = True) -> None:
        # The stream cannot resynchronise after part of a line was dropped: the error sticks.
        self._buf.clear()
        self._error = self._halt = exc
        if raise_it:
            raise exc

    def _line_too_long(self) -> LimitExceededError:
        return LimitExceededError(
            message=f"an SSE line is longer than the limit of {self._max} bytes",
            details={"limit": self._max, "what": "line"},
        )

    def _lines_checked(self, head: bytes | bytearray, out: list[ServerSentEvent]) -> None:
        # Slow path for a region longer than the limit: check every line before decoding it.
        limit = self._max
        for raw in head.split(b"\n"):
            if len(raw) > limit:
                raise self._line_too_long()
            self._line(raw.decode("utf-8", "replace"), out)

    def _lines_text(self, text: str, out: list[ServerSentEvent]) -> None:
        # `text` is complete lines joined by LF. Cutting it at "\n\ndata: " (a line end, a blank
        # line, then a data line) gives pieces that each start a fresh event with the value of its
        # first data line; a piece followed by another one ends with a blank line, so its event is
        # dispatched. A piece without LF is a whole one-line event: the MUXI norm, built in bulk.
        # A comment between two blank lines changes nothing (the state after a blank line is
        # already reset), so the runtime's keepalives can go before the cut.
        text = "\n\n".join(text.split(_KEEPALIVE))  # (one scan; replace() makes two)
        pieces = text.split("\n\ndata: ")
        last = len(pieces) - 1
        first = pieces[0]
        if last and not self._dirty and first[:6] == "data: " and "\n" not in first:
            # A one-line event completed by this chunk (the state is clean: no field since the
            # last blank line, so the id in force is already current).
            out.append(self._new_message()(first[6:]))
        else:
            self._block(first, out)
            if last == 0:
                return
            self._dispatch(out)
        if last > 1:
            new = self._new_message()
            middle = pieces[1:last]
            if "\n" not in "".join(middle):  # (a copy and a memchr: cheaper than counting LFs)
                out += map(new, middle)
            else:
                append = out.append
                for piece in middle:
                    if "\n" in piece:
                        self._data_piece(piece, out)
                        self._dispatch(out)
                        new = self._new_message()
                    else:
                        append(new(piece))
        tail = pieces[last]
        lf = tail.find("\n")
        if lf >= 0 and lf == len(tail) - 1:
            # "value\n": its line then a blank line (the text stops before the final line end), so
            # a whole one-line event: the usual end of a chunk that ends between two events.
            out.append(self._new_message()(tail[:lf]))
        elif lf >= 0:
            self._data_piece(tail, out)
        else:
            # One data line of an event still open; the state was clean (a dispatch just
            # happened) and the line is shorter than this text, so within the limit.
            self._data = [tail]
            self._data_len = len(tail)
            self._dirty = True

    def _new_message(self) -> Callable[[str], ServerSentEvent]:
        # The constructor of an unnamed event with the id and retry now in force (the state is
        # clean: no field since the last blank line).
        if not self._id_buffer and self._retry is None:
            return _Message
        return partial(ServerSentEvent, "message", id=self._id_buffer, retry=self._retry)

    def _data_piece(self, piece: str, out: list[ServerSentEvent]) -> None:
        # A piece of text that follows "data: " at the start of a line.
        lf = piece.find("\n")
        if lf < 0:
            self._data_value(piece)
            return
        self._data_value(piece[:lf])
        for line in piece[lf + 1:].split("\n"):
            self._line(line, out)

    def _block(self, block: str, out: list[ServerSentEvent]) -> None:
        if "\n" in block:
            for line in block.split("\n"):
                self._line(line, out)
        else:
            self._line(block, out)

    def _line(self, line: str, out: list[ServerSentEvent]) -> None:
        if not line:
            self._dispatch(out)
            return
        self._dirty = True
        if line[0] == ":":
            return
        field, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if field == "data":
            self._data_value(value)
        elif field == "event":
            self._event_type = value
        elif field == "id":
            if "\0" not in value:
                self._id_buffer = value
        elif field == "retry" and value.isdigit() and value.isascii():
            digits = value.lstrip("0") or "0"
            if len(digits) <= _MAX_RETRY_DIGITS:
                self._retry = int(digits)

    def _data_value(self, value: str) -> None:
        self._dirty = True
        size = self._data_len + len(value) + (1 if self._data else 0)
        if size > self._max:
            raise LimitExceededError(
                message=f"an SSE event's data is longer than the limit of {self._max} characters",
                details={"limit": self._max, "what": "event"},
            )
        self._data.append(value)
        self._data_len = size

    def _dispatch(self, out: list[ServerSentEvent]) -> None:
        self._last_event_id = self._id_buffer
        self._dirty = False
        if self._data:
            if self._event_type:
                self._named += 1
            out.append(ServerSentEvent(
                self._event_type or "message", "\n".join(self._data), self._id_buffer, self._retry))
            self._data = []
            self._data_len = 0
        self._event_type = ""


# --- encoder ------------------------------------------------------------------------------------


def _check_field(name: str, value: str) -> None:
    if "\r" in value or "\n" in value:
        raise ConfigurationError(message=f"an SSE {name} cannot contain CR or LF")


def format_event(
    data: str,
    *,
    event: str | None = None,
    id: str | None = None,
    retry: int | None = None,
) -> bytes:
    """Encode one event (for servers and tests), ending with the blank line that dispatches it.

    Multi-line ``data`` becomes one ``data:`` line per line; CR, LF and CRLF inside it are all line
    ends, so the decoder gives the text back with LF line ends. ``event`` and ``id`` may not
    contain CR or LF (``id`` not NUL either); ``retry`` is a non-negative int. Bad arguments raise
    :class:`~muxi_proto.errors.ConfigurationError`.
    """
    parts: list[str] = []
    if event is not None:
        _check_field("event type", event)
        parts.append(f"event: {event}\n")
    if id is not None:
        _check_field("id", id)
        if "\0" in id:
            raise ConfigurationError(message="an SSE id cannot contain NUL")
        parts.append(f"id: {id}\n")
    if retry is not None:
        if type(retry) is not int or retry < 0:
            raise ConfigurationError(message="an SSE retry must be a non-negative int")
        parts.append(f"retry: {retry}\n")
    if "\r" in data:
        data = data.replace("\r\n", "\n").replace("\r", "\n")
    parts.append("data: " + data.replace("\n", "\ndata: ") + "\n\n")
    return _encode("".join(parts))


def format_comment(text: str = "") -> bytes:
    """Encode a comment line plus a blank line, e.g. ``format_comment("keepalive")``.

    Comments are invisible to the decoder; servers send them to keep idle connections open.
    """
    _check_field("comment", text)
    return _encode(f": {text}\n\n" if text else ":\n\n")


def _encode(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigurationError(message="SSE text must be valid Unicode (no lone surrogates)") from None
