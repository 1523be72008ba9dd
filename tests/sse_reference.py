"""A plain, literal implementation of the WHATWG event-stream parsing rules, used as an oracle.

It favours obviousness over speed: the whole input at once, one character at a time, the data
buffer kept exactly as the spec describes it (each value followed by LF). Tests compare
:class:`muxi_proto.sse.SSEDecoder`, fed in arbitrary chunks, against it.

Two things are not in the spec and are mirrored here on purpose: the size limit (a line longer
than ``max_size`` bytes, or an event's data longer than ``max_size`` characters, is an error) and
``retry`` values with more than 4000 significant digits being ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field

BOM = "\ufeff"


@dataclass
class RefEvent:
    event: str
    data: str
    id: str
    retry: int | None


@dataclass
class RefResult:
    events: list[RefEvent] = field(default_factory=list)
    last_event_id: str = ""
    retry: int | None = None
    in_event: bool = False
    error: bool = False  # the size limit was exceeded (events holds what came before)


def spec_lines(data: bytes) -> tuple[list[str], str]:
    """Decode the whole stream, drop one leading BOM, split at CRLF / LF / CR.

    Returns the complete lines and what follows the last line end (the unterminated rest).
    """
    text = data.decode("utf-8", "replace")
    if text.startswith(BOM):
        text = text[1:]
    lines: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\r":
            lines.append("".join(current))
            current = []
            if i + 1 < len(text) and text[i + 1] == "\n":
                i += 1
        elif char == "\n":
            lines.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    return lines, "".join(current)


def raw_lines(data: bytes) -> tuple[list[bytes], bytes]:
    """The same split done on the bytes (for the size limit, which counts bytes)."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines: list[bytes] = []
    start = 0
    i = 0
    while i < len(data):
        byte = data[i]
        if byte in (0x0D, 0x0A):
            lines.append(data[start:i])
            if byte == 0x0D and i + 1 < len(data) and data[i + 1] == 0x0A:
                i += 1
            start = i + 1
        i += 1
    return lines, data[start:]


def _ascii_digits(value: str) -> bool:
    return value != "" and all(char in "0123456789" for char in value)


def parse(data: bytes, max_size: int | None = None) -> RefResult:
    """Interpret a whole event stream the way the spec says (plus the size limit if given)."""
    result = RefResult()
    lines, rest = spec_lines(data)
    sizes = [len(line) for line in raw_lines(data)[0]]
    assert len(sizes) == len(lines)
    data_buffer = ""
    event_type = ""
    id_buffer = ""
    dirty = False
    for line, size in zip(lines, sizes, strict=True):
        if max_size is not None and size > max_size:
            result.error = True
            return result
        if line == "":
            # Dispatch: the id buffer becomes the last event id whether or not there is data.
            result.last_event_id = id_buffer
            dirty = False
            if data_buffer == "":
                event_type = ""
                continue
            if data_buffer.endswith("\n"):
                data_buffer = data_buffer[:-1]
            result.events.append(RefEvent(event_type or "message", data_buffer, id_buffer, result.retry))
            data_buffer = ""
            event_type = ""
            continue
        dirty = True
        if line.startswith(":"):
            continue
        if ":" in line:
            name, value = line.split(":", 1)
            if value.startswith(" "):
                value = value[1:]
        else:
            name, value = line, ""
        if name == "event":
            event_type = value
        elif name == "data":
            data_buffer += value + "\n"
            if max_size is not None and len(data_buffer) - 1 > max_size:
                result.error = True
                return result
        elif name == "id":
            if "\0" not in value:
                id_buffer = value
        elif name == "retry" and _ascii_digits(value) and len(value.lstrip("0")) <= 4000:
            result.retry = int(value.lstrip("0") or "0")
        # any other field is ignored
    raw_rest = raw_lines(data)[1]
    if max_size is not None and len(raw_rest) > max_size:
        result.error = True
        return result
    result.in_event = dirty or rest != ""
    return result
