"""Server-sent events: an incremental decoder over bytes, and an encoder.

:class:`SSEDecoder` follows the WHATWG HTML "parsing an event stream" algorithm: bytes in, in chunks
of any size, :class:`ServerSentEvent` values out. It never touches I/O; the caller feeds it whatever
the transport delivered and calls :meth:`SSEDecoder.end` at end of input.

How it stays fast whatever the events look like (this is the hot path of every stream):

* A chunk without a blank line is only appended to a buffer of raw bytes. A chunk with one has
  everything up to its last blank line decoded once (so a line that arrives one byte at a time
  costs O(n) in all) and parsed as whole events, in one go. The blank line is found in the new
  chunk only (a reverse search, usually one ``memrchr``), never in the buffer.
* Whole events are split by one regex compiled for the *shape* of the stream's events: its line
  ends (LF, CRLF, CR), the field lines before the data line (``event:``, ``id:``, ``retry:``, in
  the stream's order and spelling) and whether comments (keepalives) come first. The decoder
  learns the shape from the stream itself, and learns again when events stop matching it. The
  split gives, per event, its field values and the value of its data line: events are then
  built in bulk (``map``), with no per-line or per-event Python loop (a shape with one field
  line, the usual named, id or retry stream, has a shorter way for the few events of a small
  chunk). Multi-line data is split in bulk too; anything else (other fields, comments inside
  events, a mix of line ends) goes through the line-by-line machine, which the property tests
  hold to a literal reference parser.
* Events arrive as soon as their blank line does: ``feed`` returns every event its chunk
  completed. An unfinished event larger than 256 KiB, and anything near ``max_size``, is read
  line by line instead, so memory stays bounded and the size limit is checked at once.
* A maximum line / event size (default 16 MiB) bounds the memory; going over it raises
  :class:`~muxi_proto.errors.LimitExceededError` as soon as it is seen, before buffering more.
"""

from __future__ import annotations

import json as _json
import re
from collections.abc import Iterator, Mapping
from itertools import repeat
from operator import contains, or_
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


_EOL_CLASS: Final = {"\n": "[^\n]", "\r": "[^\r]", "\r\n": "[^\r\n]"}
_PREFIX: Final = {"\n": b"\n\n", "\r": b"\r\r", "\r\n": b"\r\n\r\n"}
_PREFIX_TEXT: Final = {"\n": "\n\n", "\r": "\r\r", "\r\n": "\r\n\r\n"}
_FIELDS: Final = ("event", "id", "retry")
# Raw bytes of an unfinished event kept as they came (with max_size as a further bound); past this,
# the line-by-line machine reads it (a huge event, or one that never ends: memory stays bounded).
_BUFFER_CAP: Final = 256 * 1024
_SAMPLE_LINES: Final = 64  # lines looked at when learning the shape of a stream's events
_SAMPLE_TEXT: Final = 8192  # (and characters)
# Comments between events (keepalives) take the slow way in a shape without comments; past this
# share of events (over windows of _WINDOW events) the shape takes comments first. (A comment
# last or alone in a chunk costs little: small chunks rarely need the comment-aware shape.)
_COMMENT_SHARE: Final = 32
_WINDOW: Final = 64


class _Shape:
    """The shape of a stream's events, compiled: a regex that splits decoded text at every event
    of this shape, with one group per field.

    A shape is the line-end style, whether comment lines (and blank lines) may come first, the
    field lines before the first ``data`` line (their exact prefixes, e.g. ``"event: "``, in
    order) and the ``data`` line's prefix (``"data: "`` or ``"data:"``). Splitting text at
    "blank line, those lines, the ``data`` prefix" gives, per event of the shape, its field values
    (the groups) and then the rest up to the next one: the value of its data line when nothing
    else follows it, which is the usual case and needs no per-line work.
    """

    __slots__ = ("comments", "data", "eol", "fast", "header", "kinds", "literal", "multi", "skip", "split", "width")

    def __init__(self, eol: str, comments: bool, header: tuple[str, ...], data: str) -> None:
        self.eol = eol
        self.comments = comments
        self.header = header
        self.data = data
        end = re.escape(eol)
        value = _EOL_CLASS[eol] + "*"
        pattern = end + end
        if comments:
            # Comment lines, each maybe followed by a blank line: after a blank line nothing is
            # pending, so they change nothing (possessive: no backtracking into them).
            pattern += f"(?::{value}+{end}(?:{end})?+)*+"
        kinds = []
        for prefix in header:
            kinds.append(prefix.rstrip(": "))
            # Any value: ids with NUL and invalid retry values are caught after the split.
            pattern += re.escape(prefix) + ("" if prefix.endswith(" ") else "(?! )") + f"({value}){end}"
        pattern += re.escape(data) + ("" if data.endswith(" ") else "(?! )")
        self.kinds = tuple(kinds)
        self.width = len(kinds) + 1
        self.split = re.compile(pattern).split
        # A text that is this, then a line, is one event of the shape with one data line.
        self.literal = eol + eol + data if not header and data.endswith(" ") else ""
        self.skip = len(self.literal)
        # The usual stream of unnamed events: `feed` parses it inline.
        self.fast = not header and data == "data: "
        # What separates the data lines of a multi-line event ("" for "data:" without a space:
        # a later "data: x" line would keep its space).
        self.multi = eol + data if data.endswith(" ") else ""


_SHAPES: dict[tuple[str, bool, tuple[str, ...], str], _Shape] = {}


def _shape(eol: str, comments: bool, header: tuple[str, ...], data: str) -> _Shape:
    # Keys hold field prefixes only (never values), so the cache stays small.
    key = (eol, comments, header, data)
    shape = _SHAPES.get(key)
    if shape is None:
        shape = _SHAPES[key] = _Shape(eol, comments, header, data)
    return shape


def _normalised(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def _learn(text: str, current: _Shape) -> _Shape | None:
    """The shape of the first event with data in ``text`` (LF line ends), or ``None``."""
    comments = False  # comment lines in the event, before its fields
    header: list[str] = []
    names: list[str] = []  # the fields of `header`
    text = text.lstrip("\n")  # (blank lines first: nothing was pending)
    start = 0
    for _ in range(_SAMPLE_LINES):
        end = text.find("\n", start)
        line = text[start:] if end < 0 else text[start:end]
        start = end + 1
        if not line:
            header = []  # a blank line: whatever came before had no data
            names = []
            comments = False
        elif line[0] == ":":
            if header:
                return None  # a comment between fields: not a shape
            comments = True
        else:
            name, colon, value = line.partition(":")
            if not colon:
                return None
            prefix = name + (": " if value[:1] == " " else ":")
            if name == "data":
                return _shape(current.eol, comments or current.comments, tuple(header), prefix)
            if name not in _FIELDS or name in names:
                return None
            header.append(prefix)
            names.append(name)
        if end < 0:
            break
    return None


def _line_ends(texts: list[str], eol: str) -> list[bool]:
    """Which of ``texts`` hold a line end (of texts whose line ends are ``eol``)."""
    if eol == "\r\n":
        return list(map(or_, map(contains, texts, repeat("\n")), map(contains, texts, repeat("\r"))))
    return list(map(contains, texts, repeat(eol)))


def _plain(text: str, eol: str) -> bool:
    """True when ``text`` holds no line end (of a text whose line ends are ``eol``)."""
    return ("\n" not in text and "\r" not in text) if eol == "\r\n" else eol not in text


class _Named(ServerSentEvent):
    """A :class:`ServerSentEvent` with an ``event`` type and no id or retry in force (see _Message)."""

    __slots__ = ()
    id = ""  # type: ignore[misc]
    retry = None  # type: ignore[misc]

    def __init__(self, event: str, data: str) -> None:  # (no super().__init__: the base sets all four)
        self.event = event  # type: ignore[misc]
        self.data = data  # type: ignore[misc]


class _Identified(ServerSentEvent):
    """An unnamed :class:`ServerSentEvent` with its id and no retry in force (see _Message)."""

    __slots__ = ()
    event = "message"  # type: ignore[misc]
    retry = None  # type: ignore[misc]

    def __init__(self, data: str, id: str) -> None:  # (no super().__init__: the base sets all four)
        self.data = data  # type: ignore[misc]
        self.id = id  # type: ignore[misc]


class _Retried(ServerSentEvent):
    """An unnamed :class:`ServerSentEvent` with a retry and no id in force (see _Message)."""

    __slots__ = ()
    event = "message"  # type: ignore[misc]
    id = ""  # type: ignore[misc]

    def __init__(self, data: str, retry: int) -> None:  # (no super().__init__: the base sets all four)
        self.data = data  # type: ignore[misc]
        self.retry = retry  # type: ignore[misc]


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
        "_bom", "_buf", "_cap", "_cut_comments", "_data", "_data_len", "_dirty", "_ended", "_eol", "_error",
        "_event_type", "_fast", "_fixes", "_halt", "_id_buffer", "_ints", "_last_event_id", "_limit", "_max", "_multi",
        "_named", "_one", "_open", "_pre", "_retry", "_seen", "_shape", "_single", "_skip_lf", "_slow",
        "_special", "_started", "_trailers", "_whole",
    )

    def __init__(self, *, max_size: int = DEFAULT_MAX_SIZE) -> None:
        if max_size < 1:
            raise ConfigurationError(message="max_size must be at least 1")
        self._max = max_size
        self._cap = min(max_size, _BUFFER_CAP)
        # Two modes. Whole events (the usual one): `_buf` holds a blank line (`_pre` bytes), then
        # the raw bytes of the event not finished yet; a chunk that completes events has them
        # parsed in one go, from that blank line to the chunk's last blank line. Open (`_open`):
        # the line machine below holds a parsed, unfinished event and `_buf` only the bytes of
        # the line not ended yet (for events larger than `_cap`, and whatever is near the limit).
        self._eol = "\n"  # the line ends of the last text parsed, which the blank line uses
        self._buf = bytearray(_PREFIX["\n"])
        self._pre = 2
        self._limit = 2 + self._cap  # `_buf` may grow to this many bytes before the line machine
        self._whole = 2 + max_size  # and whole events are parsed at once up to this many bytes
        self._open = False
        self._shape = _shape("\n", False, (), "data: ")
        self._multi = False  # the last events of the shape had more data lines: split those first
        self._single = True  # the last two chunks completed one event each (small chunks): try that first
        self._one = True  # (the last one did)
        self._fast = True  # the shape is `fast`, not `_multi`, and no id or retry is in force
        self._ints: dict[str, int] = {}  # retry values read so far
        self._seen = self._trailers = 0  # events, and comments after them, in the current window
        self._fixes = 0  # (and keepalives last in a chunk, dropped by `_trailer`)
        self._cut_comments = False  # many keepalives last in a chunk: cut before them
        self._bom = b""  # the first bytes of the stream while they may be a byte order mark
        self._started = False  # past the point where a byte order mark may appear
        self._skip_lf = False  # a parsed CR ended the last chunk: an LF first in the next is its pair
        self._special = True  # _prefix has work: the stream start, or a pending CRLF half
        self._slow = True  # _special, _open or _halt: `feed` takes its general path
        # The line machine (the spec's buffers; also the state between whole events).
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

    # --- state ------------------------------------------------------------------------------

    @property
    def retry(self) -> int | None:
        """The last valid ``retry:`` value (milliseconds), or ``None``."""
        if not self._open and b"retry" in self._buf:
            self._pending_retry()
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
        return self._dirty or len(self._buf) > self._pre or bool(self._bom)

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
        if self._slow or type(data) is not bytes:
            return self._feed_slow(data)
        # (`in` with an int is a memchr, and much cheaper than any method call.)
        buf = self._buf
        if 10 not in data:
            if 13 in data:
                # CR line ends: as `_feed_cr` finds (the last "\r\r") when `_buf` holds no LF.
                cut = data.rfind(b"\r\r")
                if cut >= 0 and 10 not in buf:
                    return self._complete(data, cut, cut + 2, "\r")
                return self._feed_cr(data)
            buf += data  # no line end: part of a line
            if len(buf) > self._limit:
                return self._to_lines(b"")
            return []
        if 13 in data:
            # CRLF line ends: as `_feed_cr` finds when no line end follows the last CRLF CRLF.
            cut = data.rfind(b"\r\n\r\n")
            if cut >= 0:
                rest = data[cut + 4:]
                if 10 not in rest and 13 not in rest:
                    return self._complete(data, cut, cut + 4, "\r\n")
            return self._feed_cr(data)
        cut = data.rfind(10) - 1  # the last blank line of the chunk: usually the last LF ends it
        if cut < 0 or data[cut] != 10:
            cut = data.rfind(b"\n\n", 0, cut + 1)
        if cut < 0:
            if data[0] == 10:  # one LF first: a blank line if the last line ended in `_buf`
                if len(buf) == self._pre:
                    data = data[1:]  # nothing pending: a blank line changes nothing
                elif buf[-1] == 10:
                    return self._complete(data, 0, 1, self._lf_ends())
            buf += data
            if len(buf) > self._limit:
                return self._to_lines(b"")
            return []
        if 13 in buf or len(buf) + cut > self._whole:
            return self._complete(data, cut, cut + 2, self._lf_ends())  # CR in `_buf`, or too long
        # The usual case, inline: whole events with LF line ends in `_buf` + `data[:cut]`.
        shape = self._shape
        if shape.eol != "\n":
            shape = self._shape = _shape("\n", shape.comments, shape.header, shape.data)
        end = cut + 2
        if self._cut_comments:
            # A keepalive right before the blank line changes nothing: leave it out, so that
            # the last event's value does not hold it (see `_trailer`, for when this is rare).
            at = data.rfind(10, 0, cut)
            if at > 0 and data[at + 1] == 58 and data[at - 1] == 10:
                cut = at - 1
        if cut:
            buf += data[:cut]
        text = buf.decode("utf-8", "replace")
        del buf[self._pre:]
        buf += data[end:]
        if len(buf) > self._limit:  # a long unfinished event after the last blank line
            out = self._parse(text, "\n")
            self._refresh()
            try:
                out += self._to_lines(b"")
            except LimitExceededError as exc:
                self._fail(exc, raise_it=not out)
            return out
        if self._fast:  # unnamed events, no id or retry in force: the MUXI norm (see `_fast`)
            if self._single:  # the last chunks had one event: maybe this one too (small chunks)
                skip = shape.skip
                if text[:skip] == shape.literal:
                    value = text[skip:]
                    if "\n" not in value:
                        return [_Message(value)]
            parts = shape.split(text)
            head = parts[0]
            if len(parts) == 1 and head[self._pre:self._pre + 1] == ":" and "\n" not in head[self._pre:]:
                return []  # one comment alone (a keepalive): nothing changes
            if not head:
                if len(parts) == 3:  # two events (512-byte chunks): no slice, join or map either
                    _, first, second = parts
                    if "\n" not in first and "\n" not in second:
                        self._single = self._one = False
                        self._seen += 2
                        if self._seen >= _WINDOW:
                            self._window()
                        return [_Message(first), _Message(second)]
                values = parts[1:]
                joined = "".join(values)
                if "\n" not in joined or self._trailer(values, joined, "\n"):
                    count = len(values)
                    self._single = self._one and count == 1
                    self._one = count == 1
                    self._seen += count
                    if self._seen >= _WINDOW:
                        self._window()
                    return list(map(_Message, values))
        else:
            parts = shape.split(text)
            if shape.width == 2 and not parts[0]:
                events = self._one_field(shape, parts, "\n")
                if events is not None:
                    return events
        out = self._parts(shape, parts, "\n", text)
        self._refresh()
        return out

    def _one_field(self, shape: _Shape, parts: list[str], eol: str) -> list[ServerSentEvent] | None:
        # A split (nothing before its first event) by a shape with one field line: when every
        # event has one data line and a value the field takes as it is (no NUL in an id, a retry
        # of ASCII digits), its events, as `_parts` would give them; else None, with nothing
        # changed. (Small chunks of id, retry and named streams: one or two events a chunk.)
        field = shape.kinds[0]
        if len(parts) == 3:  # one event (no map and no slices: they cost more than they save)
            value = parts[2]
            if ("\n" in value) if eol == "\n" else not _plain(value, eol):
                return None
            text = parts[1]
            if field == "retry":
                retry = self._ints.get(text)
                if retry is None:
                    if not self._known_retries(parts[1:2]):
                        return None
                    retry = self._ints[text]
                self._retry = retry
                event: ServerSentEvent = (ServerSentEvent("message", value, self._id_buffer, retry)
                                          if self._id_buffer else _Retried(value, retry))
            elif field == "id":
                if "\0" in text:
                    return None
                self._id_buffer = text
                event = (_Identified(value, text) if self._retry is None
                         else ServerSentEvent("message", value, text, self._retry))
            else:
                if text:
                    self._named += 1
                event = (_Named(text or "message", value) if not self._id_buffer and self._retry is None
                         else ServerSentEvent(text or "message", value, self._id_buffer, self._retry))
            self._last_event_id = self._id_buffer
            self._seen += 1
            if self._seen >= _WINDOW:
                self._window()
            return [event]
        if len(parts) == 5:  # two events (512-byte chunks of the usual events): the same way
            _, text, value, last, final = parts
            if ("\n" in value or "\n" in final) if eol == "\n" else not _plain(value + final, eol):
                return None
            if field == "retry":
                known = self._ints
                retry = known.get(text)
                after = known.get(last)
                if retry is None or after is None:
                    if not self._known_retries(parts[1::2]):
                        return None
                    retry = known[text]
                    after = known[last]
                self._retry = after
                if self._id_buffer:
                    pair = [ServerSentEvent("message", value, self._id_buffer, retry),
                            ServerSentEvent("message", final, self._id_buffer, after)]
                else:
                    pair = [_Retried(value, retry), _Retried(final, after)]
            elif field == "id":
                if "\0" in text or "\0" in last:
                    return None
                self._id_buffer = last
                if self._retry is None:
                    pair = [_Identified(value, text), _Identified(final, last)]
                else:
                    pair = [ServerSentEvent("message", value, text, self._retry),
                            ServerSentEvent("message", final, last, self._retry)]
            else:
                self._named += (text != "") + (last != "")
                if not self._id_buffer and self._retry is None:
                    pair = [_Named(text or "message", value), _Named(last or "message", final)]
                else:
                    pair = [ServerSentEvent(text or "message", value, self._id_buffer, self._retry),
                            ServerSentEvent(last or "message", final, self._id_buffer, self._retry)]
            self._last_event_id = self._id_buffer
            self._seen += 2
            if self._seen >= _WINDOW:
                self._window()
            return pair
        values = parts[2::2]
        joined = "".join(values)
        if ("\n" in joined) if eol == "\n" else not _plain(joined, eol):
            return None
        column = parts[1::2]
        count = len(values)
        if field == "retry":
            retries: list[Any] = list(map(self._ints.get, column))
            if None in retries:  # a value not read before
                if not self._known_retries(column):
                    return None
                retries = list(map(self._ints.__getitem__, column))
            self._retry = retries[-1]
            if self._id_buffer:
                out: list[ServerSentEvent] = list(
                    map(ServerSentEvent, repeat("message"), values, repeat(self._id_buffer), retries))
            else:
                out = list(map(_Retried, values, retries))
        elif field == "id":
            if "\0" in "".join(column):
                return None
            if self._retry is None:
                out = list(map(_Identified, values, column))
            else:
                out = list(map(ServerSentEvent, repeat("message"), values, column, repeat(self._retry)))
            self._id_buffer = column[-1]
        else:
            unnamed = column.count("")
            self._named += count - unnamed
            kinds = [name or "message" for name in column] if unnamed else column
            if not self._id_buffer and self._retry is None:
                out = list(map(_Named, kinds, values))
            else:
                out = list(map(ServerSentEvent, kinds, values, repeat(self._id_buffer), repeat(self._retry)))
        self._last_event_id = self._id_buffer
        self._seen += count
        if self._seen >= _WINDOW:
            self._window()
        return out

    def _known_retries(self, column: list[str]) -> bool:
        # Read the retry values of `column` into `_ints`; False (nothing read) when one is not
        # what a `retry` field takes as it is: ASCII digits (and not thousands of them).
        for text in column:
            if not (text.isdigit() and text.isascii() and len(text) <= _MAX_RETRY_DIGITS):
                return False
        known = self._ints
        if len(known) > 256:  # (a stream's retry values are few)
            known.clear()
        known.update((text, int(text)) for text in column)
        return True

    def _trailer(self, values: list[str], joined: str, eol: str) -> bool:
        # True when only the last of `values` has a line end, and what follows its first line is
        # a blank line then a comment (a keepalive that came last in the chunk): it is dropped.
        last = values[-1]
        if eol == "\n":
            at = last.find("\n")
            if last[at + 1:at + 3] != "\n:" or joined.find("\n") < len(joined) - len(last):
                return False
            value, rest = last[:at], last[at + 2:]
            if "\n" in rest:
                return False
        else:
            if not _plain("".join(values[:-1]), eol):
                return False
            value, _, rest = last.partition(eol + eol)
            if rest[:1] != ":" or not _plain(rest, eol) or not _plain(value, eol):
                return False
        values[-1] = value
        self._fixes += 1
        return True

    def _feed_slow(self, data: bytes | bytearray | memoryview) -> list[ServerSentEvent]:
        if self._halt is not None:
            raise self._halt.with_traceback(None)
        if type(data) is not bytes:
            data = bytes(data)
        if self._special:
            data = self._prefix(data)
        if not data:
            return []
        if self._open:
            return self._feed_lines(data)
        return self.feed(data)

    def _feed_cr(self, data: bytes) -> list[ServerSentEvent]:
        # The chunk has CR line ends. Every blank line holds "\n\n", "\r\r" or "\n\r" (CRLF CRLF
        # holds "\n\r"), and each of those is a blank line: find the last one.
        size = len(data)
        if 10 not in data:
            at = data.rfind(b"\r\r")
            end = at + 2
        else:
            at = data.rfind(b"\n\r")
            end = at + 2 if at >= 0 else -1
            # Blank lines of other kinds after it (a mix of line ends), where line ends remain.
            after = data[end + 1 if 0 <= end < size and data[end] == 10 else max(end, 0):]
            if 10 in after or 13 in after:
                other = data.find(b"\n\n", at + 1)
                if other >= 0:
                    other = data.rfind(b"\n\n", other)
                    at, end = other, other + 2
                other = data.find(b"\r\r", at + 1)
                if other >= 0:
                    other = data.rfind(b"\r\r", other)
                    if other + 2 > end:
                        at, end = other, other + 2
            if at > 0 and data[at] == 10 and data[at - 1] == 13:
                at -= 1  # cut before the CRLF, not inside it
        if at >= 0:
            if end < size and data[end - 1] == 13 and data[end] == 10:
                end += 1
            return self._complete(data, at, end, self._cr_ends(data))
        buf = self._buf
        first = data[0]
        if first in {10, 13}:  # one line end first (two would be a blank line, found above)
            end = 2 if size > 1 and first == 13 and data[1] == 10 else 1
            if len(buf) == self._pre:  # nothing pending: a blank line changes nothing
                if end == size and first == 13:
                    self._skip_lf = self._special = self._slow = True
                data = data[end:]
            elif buf[-1] == 10 or (buf[-1] == 13 and first == 13):
                # A blank line across the chunks (a CR last in `_buf` and an LF first here are
                # one CRLF, kept as it came: `_buf` holds raw bytes).
                return self._complete(data, 0, end, self._cr_ends(data))
        buf += data
        if len(buf) > self._limit:
            return self._to_lines(b"")
        return []

    def _lf_ends(self) -> str:
        # The line ends of whole events ending in a chunk without CR.
        buf = self._buf
        return "\r\n" if 13 in buf and buf.find(b"\r", self._pre) >= 0 else "\n"

    def _cr_ends(self, data: bytes) -> str:
        # The line ends of whole events ending in `data`, which has CR: CRLF (or a mix) when
        # `data` or `_buf` (past its blank line) has LF too.
        if 10 in data:
            return "\r\n"
        buf = self._buf
        return "\r\n" if 10 in buf and buf.find(b"\n", self._pre) >= 0 else "\r"

    def _prefix(self, data: bytes) -> bytes:
        # The rare cases at the start of a chunk: a possible byte order mark at the start of the
        # stream, and the LF of a CRLF whose CR ended the previous chunk.
        if not self._started:
            if self._bom:
                data = self._bom + data
                self._bom = b""
            if len(data) < 3 and _BOM.startswith(data):
                self._bom = data  # maybe the start of a byte order mark: wait for more
                return b""
            self._started = True
            if data.startswith(_BOM):
                data = data[3:]
        if self._skip_lf and data:
            self._skip_lf = False
            if data[0] == 10:
                data = data[1:]
        self._special = self._skip_lf
        self._slow = self._special or self._open or self._halt is not None
        return data

    def end(self) -> None:
        """Signal end of input. Nothing is dispatched (an unfinished event is dropped, per spec);
        read :attr:`in_event` to learn whether the input stopped mid-event."""
        if self._error is not None:
            raise self._error.with_traceback(None)
        if not self._open and b"retry" in self._buf:
            self._pending_retry()
        self._ended = True
        if len(self._bom) > self._max:  # only possible for a would-be BOM and a tiny limit
            self._fail(self._line_too_long())
        self._halt = StreamError(message="data fed to an SSE decoder after end()")
        self._slow = True

    # --- whole events -----------------------------------------------------------------------

    def _complete(self, data: bytes, cut: int, end: int, eol: str) -> list[ServerSentEvent]:
        # `data[cut:end]` ends the last blank line so far (it may hold the line end of the line
        # before it): parse `_buf` + `data[:cut]` as whole events, whose line ends are `eol`
        # ("\r\n" for CRLF and for any mix), and keep the rest.
        buf = self._buf
        pre = self._pre
        if cut:
            buf += data[:cut]
        elif len(buf) > pre and (buf[-1] == 10 or buf[-1] == 13):
            # The blank line is first in `data`: the line end before it came last in `_buf`
            # (a CR there and an LF first in `data` are one CRLF). Leave it out, as elsewhere.
            del buf[-2 if buf[-1] == 10 and buf[-2] == 13 and len(buf) - 2 >= pre else -1:]
        rest = data[end:]
        if not rest and data[-1] == 13:
            self._skip_lf = self._special = self._slow = True  # that CR may be half a CRLF
        if len(buf) - pre > self._max:
            return self._complete_checked(bytes(buf[pre:]), rest)
        shape = self._shape
        if shape.eol != eol:
            shape = self._shape = _shape(eol, shape.comments, shape.header, shape.data)
        text = buf.decode("utf-8", "replace")
        if eol != self._eol:
            text = _PREFIX_TEXT[eol] + text[pre:]
            self._eol = eol
            self._buf = buf = bytearray(_PREFIX[eol])
            self._pre = len(buf)
            self._limit = self._pre + self._cap
            self._whole = self._pre + self._max
        else:
            del buf[pre:]
        buf += rest
        if len(buf) > self._limit:  # a long unfinished event after the last blank line
            out = self._parse(text, eol)
            self._refresh()
            try:
                out += self._to_lines(b"")
            except LimitExceededError as exc:
                self._fail(exc, raise_it=not out)
            return out
        if self._fast and self._single:  # as in `feed`, for other line ends
            skip = shape.skip
            if text[:skip] == shape.literal:
                value = text[skip:]
                if ("\n" not in value and "\r" not in value) if eol == "\r\n" else eol not in value:
                    return [_Message(value)]
        parts = shape.split(text)
        if self._fast and not parts[0]:
            if len(parts) == 3:  # two events, as in `feed`
                _, first, second = parts
                both = first + second
                if ("\n" not in both and "\r" not in both) if eol == "\r\n" else eol not in both:
                    self._single = self._one = False
                    self._seen += 2
                    if self._seen >= _WINDOW:
                        self._window()
                    return [_Message(first), _Message(second)]
            values = parts[1:]
            joined = "".join(values)
            if (("\n" not in joined and "\r" not in joined) if eol == "\r\n" else eol not in joined) \
                    or self._trailer(values, joined, eol):
                count = len(values)
                self._single = self._one and count == 1
                self._one = count == 1
                self._seen += count
                if self._seen >= _WINDOW:
                    self._window()
                return list(map(_Message, values))
        out = self._parts(shape, parts, eol, text)
        self._refresh()
        return out

    def _complete_checked(self, region: bytes, rest: bytes) -> list[ServerSentEvent]:
        # Whole events longer than the limit in all: check every line before decoding it.
        out: list[ServerSentEvent] = []
        try:
            limit = self._max
            region = region.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            for raw in region.split(b"\n"):
                if len(raw) > limit:
                    raise self._line_too_long()
                self._line(raw.decode("utf-8", "replace"), out)
            self._dispatch(out)
            self._refresh()
            buf = self._buf
            del buf[self._pre:]
            buf += rest
            if len(buf) > self._limit:
                out += self._to_lines(b"")
        except LimitExceededError as exc:
            self._fail(exc, raise_it=not out)
        return out

    def _parse(self, text: str, eol: str) -> list[ServerSentEvent]:
        # `text`: a blank line, then whole events (without the blank line after the last one).
        shape = self._shape
        if shape.eol != eol:
            shape = self._shape = _shape(eol, shape.comments, shape.header, shape.data)
        return self._parts(shape, shape.split(text), eol, text)

    def _refresh(self) -> None:
        # After anything that may change the shape, `_multi`, the id or the retry in force.
        self._fast = self._shape.fast and not self._multi and not self._id_buffer and self._retry is None

    def _parts(self, shape: _Shape, parts: list[str], eol: str, text: str = "") -> list[ServerSentEvent]:
        # The events of a split of `text` by `shape` (see _parse); sets `_last_event_id` and the
        # learning state. With `text`, a better shape may still split it again (once).
        width = shape.width
        head = parts[0]
        if width == 2 and not head and len(parts) > 3 and not self._multi:
            # The usual case of a shape with one field: every event one data line, in bulk.
            values = parts[2::2]
            if _plain("".join(values), eol):
                count = len(values)
                self._single = self._one and count == 1
                self._one = count == 1
                out: list[ServerSentEvent] = []
                self._bulk(shape, parts, 0, count, out, values)
                self._last_event_id = self._id_buffer
                self._seen += count
                if self._seen >= _WINDOW:
                    self._window()
                return out
        size = len(parts)
        if size > 1:  # (a chunk of comments alone, e.g. a keepalive, does not count)
            self._single = self._one and size == width + 1
            self._one = size == width + 1
        self._last_event_id = self._id_buffer  # (in force since the last blank line)
        if size == width + 1 and not head:  # one event of the shape
            value = parts[width]
            whole = _plain(value, eol)
            if not whole and shape.multi:  # maybe more data lines and nothing else (small chunks)
                data_lines = value.split(shape.multi)
                if _plain("".join(data_lines), eol):
                    value = "\n".join(data_lines)
                    whole = True
            if whole:
                if width > 1:
                    one = [self._fields(shape, parts, 0, value)]
                    self._last_event_id = self._id_buffer
                    return one
                if not self._id_buffer and self._retry is None:
                    return [_Message(value)]
                return [ServerSentEvent("message", value, self._id_buffer, self._retry)]
        count = (size - 1) // width  # events of the shape
        alone = False  # `head` is one comment and no event
        if head:
            start = len(_PREFIX_TEXT[eol])
            alone = head[start:start + 1] == ":" and _plain(head[start:], eol)
        if not count and text and not alone:
            # No event has the shape: learn it from the first ones, before reading any.
            learned = _learn(_normalised(head[:_SAMPLE_TEXT]), shape)
            if learned is not None and learned is not shape:
                self._shape = learned
                self._multi = False
                return self._parts(learned, learned.split(text), eol)
        values = parts[width::width]
        flags: list[bool] = []
        datas = values
        plain = not self._multi and _plain("".join(values), eol)
        if count and not plain:
            # Some events of the shape have more lines before the next one: more data lines
            # (split in bulk when most events have them), other fields, comments, events of
            # other shapes. Those go one by one, the others in bulk between them.
            multi = shape.multi
            if multi and self._multi:
                lines = list(map(str.split, values, repeat(multi)))
                flags = _line_ends(list(map("".join, lines)), eol)
                if 2 * flags.count(True) > count:
                    self._multi = False  # most have other lines: not multi-line events after all
                    flags = _line_ends(values, eol)
                else:
                    datas = list(map("\n".join, lines))
            else:
                flags = _line_ends(values, eol)
                more = flags.count(True)
                if multi and 2 * more > count:
                    lines = list(map(str.split, values, repeat(multi)))
                    other = _line_ends(list(map("".join, lines)), eol)
                    if 2 * other.count(True) < more:
                        self._multi = True
                        flags = other
                        datas = list(map("\n".join, lines))
                elif text and 4 * more > count and not shape.comments:
                    # Comments after many events (keepalives): a shape that takes them first.
                    blank = eol + eol
                    piece = values[flags.index(True)]
                    if piece.partition(blank)[2][:1] == ":":
                        self._shape = shape = _shape(eol, True, shape.header, shape.data)
                        self._refresh()
                        return self._parts(shape, shape.split(text), eol)
        out = []
        if head and not alone:  # (a comment alone changes nothing)
            # Text before the first event of the shape (or all of it): other events, comments.
            self._general(head, out)
            self._dispatch(out)
            if not count or len(out) > 2 * count:
                self._relearn(head)  # most events had another shape
        if not count:
            self._last_event_id = self._id_buffer
            return out
        if plain:
            if width == 1 and not self._id_buffer and self._retry is None:
                if not out:
                    out = list(map(_Message, values))
                else:
                    out += map(_Message, values)
            else:
                self._bulk(shape, parts, 0, count, out, values)
                self._last_event_id = self._id_buffer
            self._seen += count
            if self._seen >= _WINDOW:
                self._window()
            return out
        more = flags.count(True)
        index = flags.index
        begin = first = 0
        trailers = 0
        while True:
            try:
                at = index(True, begin)
            except ValueError:
                at = count
            if at > begin:
                self._bulk(shape, parts, begin, at, out, datas[begin:at])
            if at == count:
                break
            if not begin and not trailers:
                first = at
            trailers += self._piece(shape, parts, at, values[at], out)
            begin = at + 1
        self._trailers += trailers
        self._last_event_id = self._id_buffer
        self._seen += count
        if self._seen >= _WINDOW:
            self._window()
        if 2 * (more - trailers) > count:
            # Most events had more lines: learn the shape from what follows the first one.
            piece = _normalised(values[first])
            self._relearn(piece[piece.find("\n") + 1:])
        return out

    def _window(self) -> None:
        # Comments between events (keepalives): past a share of them, the shape takes them
        # first; when many come last in a chunk, `feed` cuts before them.
        if _COMMENT_SHARE * self._trailers > self._seen and not self._shape.comments:
            shape = self._shape
            self._shape = _shape(shape.eol, True, shape.header, shape.data)
            self._refresh()
        self._cut_comments = 4 * self._fixes > self._seen
        self._seen = self._trailers = self._fixes = 0

    def _relearn(self, text: str) -> None:
        shape = _learn(_normalised(text), self._shape)
        if shape is not None:
            self._shape = shape
            self._multi = False

    def _fields(self, shape: _Shape, parts: list[str], base: int, value: str) -> ServerSentEvent:
        # One event of a split (a shape with fields) whose data is `value`: its fields in order,
        # as the line machine reads them.
        if shape.kinds == ("event",):  # (the usual one: no loop)
            kind = parts[base + 1]
            if not kind:
                return ServerSentEvent("message", value, self._id_buffer, self._retry)
            self._named += 1
            if not self._id_buffer and self._retry is None:
                return _Named(kind, value)
            return ServerSentEvent(kind, value, self._id_buffer, self._retry)
        kind = ""
        for offset, field in enumerate(shape.kinds, 1):
            text = parts[base + offset]
            if field == "event":
                kind = text
            elif field == "id":
                if "\0" not in text:
                    self._id_buffer = text
            else:
                self._retry_value(text)
        if kind:
            self._named += 1
        return ServerSentEvent(kind or "message", value, self._id_buffer, self._retry)

    def _bulk(self, shape: _Shape, parts: list[str], start: int, stop: int, out: list[ServerSentEvent],
              values: list[str]) -> None:
        # Events `start` to `stop` (not included) of a split, each with one data line (whose
        # values are `values`) or `values` their data: built without a per-event Python loop.
        width = shape.width
        if width == 1:
            if not self._id_buffer and self._retry is None:
                out += map(_Message, values)
            else:
                out += map(ServerSentEvent, repeat("message"), values, repeat(self._id_buffer),
                           repeat(self._retry))
            return
        count = stop - start
        if width == 2:  # one field (the usual named, id or retry stream): no loop
            field = shape.kinds[0]
            column = parts[width * start + 1:width * stop + 1:2]
            if field == "event":
                first = column[0]
                if column.count(first) == count:
                    if first:
                        self._named += count
                    kinds: Any = repeat(first or "message")
                else:
                    self._named += count - column.count("")
                    kinds = [name or "message" for name in column]
                if not self._id_buffer and self._retry is None:
                    out += map(_Named, kinds, values)
                else:
                    out += map(ServerSentEvent, kinds, values, repeat(self._id_buffer), repeat(self._retry))
                return
            if field == "id" and "\0" not in "".join(column):
                if self._retry is None:
                    out += map(_Identified, values, column)
                else:
                    out += map(ServerSentEvent, repeat("message"), values, column, repeat(self._retry))
                self._id_buffer = column[-1]
                return
            joined = "".join(column)
            if field == "retry" and joined.isdigit() and joined.isascii() and "" not in column \
                    and len(joined) <= _MAX_RETRY_DIGITS:
                first = column[0]
                if column.count(first) == count:
                    self._retry = int(first)
                    retries: Any = repeat(self._retry)
                else:
                    # (A stream's retry values are few: read each once.)
                    known = self._ints
                    retries = list(map(known.get, column))
                    if None in retries:
                        if len(known) > 256:
                            known.clear()
                        known.update((text, int(text)) for text in column)
                        retries = list(map(known.__getitem__, column))
                    self._retry = retries[-1]
                if self._id_buffer:
                    out += map(ServerSentEvent, repeat("message"), values, repeat(self._id_buffer), retries)
                else:
                    out += map(_Retried, values, retries)
                return
        columns = []
        for offset, field in enumerate(shape.kinds, 1):
            column = parts[width * start + offset:width * stop + offset:width]
            if field == "id":
                valid = "\0" not in "".join(column)  # an id with NUL is ignored
            elif field == "retry":  # only ASCII digits count (and not thousands of them)
                joined = "".join(column)
                valid = (joined.isdigit() and joined.isascii() and "" not in column
                         and len(joined) <= _MAX_RETRY_DIGITS)
            else:
                valid = True
            if not valid:  # some value is ignored: read these events one by one
                for index, value in enumerate(values, start):
                    out.append(self._fields(shape, parts, width * index, value))
                return
            columns.append((field, column))
        kinds = repeat("message")
        ids: Any = repeat(self._id_buffer)
        retries = repeat(self._retry)
        for field, column in columns:
            first = column[0]
            same = column.count(first) == count
            if field == "event":
                if same:
                    kinds = repeat(first or "message")
                    if first:
                        self._named += count
                else:
                    self._named += count - column.count("")
                    kinds = [name or "message" for name in column]
            elif field == "id":
                ids = column
                self._id_buffer = column[-1]
            elif same:
                self._retry = int(first)
                retries = repeat(self._retry)
            else:
                retries = list(map(int, column))
                self._retry = retries[-1]
        out += map(ServerSentEvent, kinds, values, ids, retries)

    def _piece(self, shape: _Shape, parts: list[str], index: int, piece: str, out: list[ServerSentEvent]) -> bool:
        # One event of the shape followed by more lines before the next one. True when they are
        # only a comment (a keepalive after the event).
        base = shape.width * index
        for offset, field in enumerate(shape.kinds, 1):
            text = parts[base + offset]
            if field == "event":
                self._event_type = text
            elif field == "id":
                if "\0" not in text:
                    self._id_buffer = text
            else:
                self._retry_value(text)
        piece = _normalised(piece)
        value, _, rest = piece.partition("\n")
        if rest[:1] == "\n":  # a blank line: the event ends with its one data line
            self._data_value(value)
            self._dispatch(out)
            rest = rest[1:]
            if rest[:1] == ":" and "\n" not in rest:
                return True  # then a comment
            self._general(rest, out)
        else:
            self._data_value(value)
            self._general(rest, out)
        self._dispatch(out)
        return False

    def _general(self, text: str, out: list[ServerSentEvent]) -> None:
        # Any text of whole lines (within the size limit), line by line.
        if "\r" in text:
            text = _normalised(text)
        for line in text.split("\n"):
            self._line(line, out)

    def _pending_retry(self) -> None:
        # A `retry` field takes effect when read: look for one in the complete lines of the
        # unfinished event (whose other fields wait for its blank line).
        raw = bytes(self._buf[self._pre:])
        cut = max(raw.rfind(b"\n"), raw.rfind(b"\r"))
        if cut < 0:
            return
        for line in _normalised(raw[:cut].decode("utf-8", "replace")).split("\n"):
            field, _, value = line.partition(":")
            if field == "retry":
                self._retry_value(value[1:] if value[:1] == " " else value)
        self._refresh()


    # --- line by line -------------------------------------------------------------------------

    def _to_lines(self, data: bytes) -> list[ServerSentEvent]:
        # The unfinished event grew past `_cap`: the line machine takes it from here.
        raw = bytes(self._buf[self._pre:]) + data
        self._open = self._slow = True
        self._buf = bytearray()
        self._pre = 0
        return self._feed_lines(raw)

    def _feed_lines(self, data: bytes) -> list[ServerSentEvent]:
        buf = self._buf
        cut = data.rfind(b"\n")
        cr = 13 in data
        if cr:
            cut = max(cut, data.rfind(b"\r"))
            if cut == len(data) - 1 and data[cut] == 13:
                self._skip_lf = self._special = True
        if cut < 0:
            if len(buf) + len(data) > self._max:
                self._fail(self._line_too_long())
            buf += data
            return []
        out: list[ServerSentEvent] = []
        try:
            stop = cut - 1 if cut and data[cut] == 10 and data[cut - 1] == 13 else cut
            buf += data[:stop]
            head = bytes(buf)
            if cr or 13 in head:
                head = head.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            if len(head) <= self._max:
                self._general(head.decode("utf-8", "replace"), out)
            else:
                for raw in head.split(b"\n"):
                    if len(raw) > self._max:
                        raise self._line_too_long()
                    self._line(raw.decode("utf-8", "replace"), out)
            rest = data[cut + 1:]
            if len(rest) > self._max:
                raise self._line_too_long()
            if self._dirty:
                buf.clear()
                buf += rest
            else:  # the event ended: back to whole events
                self._refresh()
                self._open = False
                self._slow = self._special
                self._buf = buf = bytearray(_PREFIX[self._eol])
                self._pre = len(buf)
                self._limit = self._pre + self._cap
                self._whole = self._pre + self._max
                buf += rest
        except LimitExceededError as exc:
            self._fail(exc, raise_it=not out)
        return out

    def _fail(self, exc: LimitExceededError, *, raise_it: bool = True) -> None:
        # The stream cannot resynchronise after part of a line was dropped: the error sticks.
        self._buf.clear()
        self._pre = 0
        self._error = self._halt = exc
        self._slow = True
        if raise_it:
            raise exc

    def _line_too_long(self) -> LimitExceededError:
        return LimitExceededError(
            message=f"an SSE line is longer than the limit of {self._max} bytes",
            details={"limit": self._max, "what": "line"},
        )

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
        elif field == "retry":
            self._retry_value(value)

    def _retry_value(self, value: str) -> None:
        if value.isdigit() and value.isascii():
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
