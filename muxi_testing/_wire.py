"""Small wire helpers shared by both planes of the local server: JSON spellings, ids, requests."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl, unquote

from muxi_proto.http import Headers

from ._http import ServerRequest

__all__ = ["Incoming", "compact", "go_json", "go_time", "new_id", "py_json", "sse_frame"]

_GO_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
                             "\u2028": "\\u2028", "\u2029": "\\u2029"})


def go_json(value: Any, *, newline: bool = True) -> bytes:
    """JSON as Go's ``json.NewEncoder(w).Encode`` writes it: compact, HTML characters escaped,
    UTF-8, and a trailing newline (the MUXI server answers through that encoder)."""
    text = compact(value).translate(_GO_ESCAPES)
    return (text + "\n" if newline else text).encode()


def compact(value: Any) -> str:
    """Compact JSON text (the runtime's spelling; never a raw line break, so one ``data:`` line)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def py_json(value: Any) -> bytes:
    """JSON as the runtime (Starlette's ``JSONResponse``) writes it: compact UTF-8."""
    return compact(value).encode()


def sse_frame(data: str, event: str | None = None) -> bytes:
    """One SSE frame: ``event:`` (when named), one ``data:`` line, the blank line (``data`` has no line break)."""
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {data}\n\n".encode()


def go_time(seconds: float) -> str:
    """A Unix time in Go's ``time.Time`` JSON form (RFC 3339, UTC, sub-second digits trimmed)."""
    stamp = datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return stamp.rstrip("0").rstrip(".") + "Z"


def new_id(prefix: str, length: int = 21) -> str:
    """``prefix`` plus ``length`` URL-safe random characters (the runtime's ``req_...`` ids)."""
    return prefix + secrets.token_urlsafe(length)[:length]


@dataclass(frozen=True, slots=True)
class Incoming:
    """One request as the handlers see it: the raw path, the decoded path and the query."""

    method: str
    raw_path: str
    path: str
    query_string: str
    headers: Headers
    body: bytes

    @classmethod
    def from_request(cls, request: ServerRequest) -> Incoming:
        """Split the request target; ``path`` is percent-decoded (what Go's ``r.URL.Path`` holds)."""
        raw_path, _, query = request.target.partition("?")
        path = unquote(raw_path) if "%" in raw_path else raw_path
        return cls(request.method, raw_path, path, query, request.headers, request.body)

    def header(self, name: str) -> str | None:
        """First value of header ``name`` (case-insensitive), or None."""
        lower = name.lower()
        for key, value in self.headers:
            if key.lower() == lower:
                return value
        return None

    def query(self) -> dict[str, str]:
        """Query parameters, first value wins (as Go's ``Query().Get`` and Starlette read them)."""
        out: dict[str, str] = {}
        if self.query_string:
            for key, value in parse_qsl(self.query_string, keep_blank_values=True):
                out.setdefault(key, value)
        return out
