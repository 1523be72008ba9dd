"""Play a scenario against one target with raw HTTP (``http.client``) and record what came back.

The same runner drives the real runtime (``make record-runtime``) and the local server (the
fidelity test), so both see byte-for-byte the same requests: no client library in between, no
retries, one connection per request. Streams are read frame by frame with a deadline; webhooks
land in a stdlib receiver (:class:`WebhookInbox`).
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from .scenarios import NO_BODY, Hook, Poll, Raw, Req, Scenario, Step

__all__ = ["Exchange", "Target", "WebhookInbox", "play"]

HEADERS_KEPT = ("content-type",)  # the headers whose values users' code branches on
MISSING = object()


@dataclass
class Target:
    """Where a scenario runs: the formation's root URL (``prefix`` + ``/v1/...``) and its keys."""

    url: str
    admin_key: str
    client_key: str
    webhooks: WebhookInbox
    prefix: str = ""
    values: dict[str, str] = field(default_factory=dict)
    """Run-specific strings (keys, model string, paths) -> their ``<<name>>`` placeholder."""
    stream_cap: float | None = None
    """At most this long on a stream that sends nothing (the local server: no need to wait as long)."""


@dataclass
class Exchange:
    """One recorded step: the request as templated, and the answer as received (not normalised)."""

    step: str
    request: dict[str, Any]
    status: int
    headers: dict[str, str]
    body: Any = None
    events: list[dict[str, Any]] | None = None
    compare: str = "shape"
    differs: str | None = None


@dataclass
class Received:
    """A webhook the inbox received."""

    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookInbox:
    """A webhook receiver on 127.0.0.1 (random port) that keeps every POST and answers 200."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.received: list[Received] = []
        inbox = self

        class _Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                item = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with inbox._cond:
                    inbox.received.append(item)
                    inbox._cond.notify_all()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "11")
                self.end_headers()
                self.wfile.write(b'{"ok":true}')

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> WebhookInbox:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait(self, match: Callable[[Received], bool], timeout: float) -> Received | None:
        """The first webhook ``match`` accepts, waiting up to ``timeout`` seconds (None on timeout)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for item in self.received:
                    if match(item):
                        return item
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)


# --- templating ------------------------------------------------------------------------------------


def fill(value: Any, variables: dict[str, str]) -> Any:
    """``<<name>>`` replaced by the variable's value, in every string inside ``value``."""
    if isinstance(value, str):
        if "<<" in value:
            for name, text in variables.items():
                value = value.replace(f"<<{name}>>", text)
        return value
    if isinstance(value, list):
        return [fill(v, variables) for v in value]
    if isinstance(value, dict):
        return {fill(k, variables): fill(v, variables) for k, v in value.items()}
    return value


# --- requests --------------------------------------------------------------------------------------


def _headers(target: Target, req: Req, variables: dict[str, str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    if req.key in ("admin", "both"):
        headers["X-Muxi-Admin-Key"] = target.admin_key
    if req.key in ("client", "both"):
        headers["X-Muxi-Client-Key"] = target.client_key
    if req.key == "wrong-admin":
        headers["X-Muxi-Admin-Key"] = "wrong-admin-key"
    if req.key == "wrong-client":
        headers["X-Muxi-Client-Key"] = "wrong-client-key"
    if req.user is not None:
        headers["X-Muxi-User-ID"] = fill(req.user, variables)
    for name, value in req.headers.items():
        headers[name] = fill(value, variables)
    return headers


def _body(req: Req, variables: dict[str, str]) -> tuple[bytes | None, str | None]:
    if req.body is NO_BODY:
        return None, None
    if isinstance(req.body, Raw):
        return req.body.data, req.body.content_type
    return json.dumps(fill(req.body, variables)).encode(), "application/json"


def _parse_sse(buffer: str, items: list[dict[str, Any]]) -> str:
    """Dispatch every complete SSE frame in ``buffer`` into ``items``; returns the unparsed rest."""
    while True:
        end = buffer.find("\n\n")
        if end < 0:
            return buffer
        frame, buffer = buffer[:end], buffer[end + 2 :]
        event, data, comments = None, [], []
        for line in frame.split("\n"):
            if line.startswith(":"):
                comments.append(line[1:].strip())
            elif line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:][1:] if line[5:6] == " " else line[5:])
        for text in comments:
            items.append({"comment": text})
        if data or event:
            text = "\n".join(data)
            try:
                payload: Any = json.loads(text)
            except ValueError:
                payload = text
            items.append({"event": event or "message", "data": payload})


def _read_stream(
    response: http.client.HTTPResponse, sock: socket.socket | None, req: Req, cap: float | None
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    buffer = ""
    window = req.stream_seconds if cap is None or req.stream_until != ("never",) else min(cap, req.stream_seconds)
    deadline = time.monotonic() + window
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        if sock is not None:
            sock.settimeout(remaining)
        try:
            chunk = response.read1(65536)
        except TimeoutError:
            break
        if not chunk:
            break
        buffer = _parse_sse(buffer + chunk.decode("utf-8", "replace").replace("\r\n", "\n"), items)
        if any(i.get("event") in req.stream_until for i in items):
            break
    if buffer.strip():
        items.append({"incomplete": buffer})
    return items


def send(target: Target, req: Req, variables: dict[str, str]) -> Exchange:
    """Perform one request; the exchange keeps the raw answer."""
    parts = urlsplit(target.url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=req.timeout)
    path = target.prefix + fill(req.path, variables)
    body, content_type = _body(req, variables)
    headers = _headers(target, req, variables)
    if content_type is not None and "Content-Type" not in headers:
        headers["Content-Type"] = content_type
    if req.accept is not None:
        headers["Accept"] = req.accept
    try:
        conn.request(req.method, path, body=body, headers=headers)
        response = conn.getresponse()
        kept = {name: value for name in HEADERS_KEPT if (value := response.getheader(name)) is not None}
        ctype = kept.get("content-type", "")
        events = None
        parsed: Any = None
        if "text/event-stream" in ctype and response.status == 200:
            events = _read_stream(response, conn.sock, req, target.stream_cap)
        else:
            raw = response.read()
            if "json" in ctype:
                try:
                    parsed = json.loads(raw)
                except ValueError:
                    parsed = {"<non-json>": raw.decode("utf-8", "replace")}
            else:
                parsed = raw.decode("utf-8", "replace")
    finally:
        conn.close()
    request: dict[str, Any] = {"method": req.method, "path": req.path, "key": req.key}
    if req.user is not None:
        request["user"] = req.user
    if isinstance(req.body, Raw):
        request["body"] = {"<raw>": req.body.data.decode("utf-8", "replace")[:200]}
    elif req.body is not NO_BODY:
        request["body"] = req.body
    return Exchange(req.name, request, response.status, kept, parsed, events, req.compare, req.differs)


def _capture(step: Req, exchange: Exchange, variables: dict[str, str]) -> None:
    """Store the captured values; where the answer has none (an error), a stand-in the next steps
    can still use (``uncaptured-<name>-<tag>``), so both targets send the same requests."""
    for name, getter in step.capture.items():
        try:
            value = getter(exchange)
        except (KeyError, IndexError, TypeError):
            value = None
        variables[name] = value if isinstance(value, str) and value else f"uncaptured-{name}-{variables['tag']}"


def _hook_exchange(step: Hook, item: Received | None) -> Exchange:
    request = {"method": "WEBHOOK", "path": step.name, "key": "none"}
    if item is None:
        return Exchange(step.name, request, 0, {}, None, None, step.compare, step.differs)
    headers = {name: item.headers[name] for name in step.headers if name in item.headers}
    return Exchange(step.name, request, 200, headers, item.json(), None, step.compare, step.differs)


# SQLite under the runtime's own background writers sometimes answers 500 "database is locked":
# a flake of the runtime's storage, not behaviour, so such a step is sent again (a few times).
FLAKES = ("database is locked",)
FLAKE_RETRIES = 4


def _flaky(exchange: Exchange) -> bool:
    if exchange.status != 500 or not isinstance(exchange.body, dict):
        return False
    error = exchange.body.get("error")
    message = error.get("message") if isinstance(error, dict) else None
    return isinstance(message, str) and any(flake in message for flake in FLAKES)


def send_steady(target: Target, req: Req, variables: dict[str, str]) -> Exchange:
    """:func:`send`, again while the answer is a storage flake (see ``FLAKES``)."""
    for attempt in range(FLAKE_RETRIES):
        exchange = send(target, req, variables)
        if not _flaky(exchange):
            break
        time.sleep(0.5 * (attempt + 1))
    return exchange


def play(target: Target, scenario: Scenario, variables: dict[str, str]) -> list[Exchange]:
    """Every step of ``scenario`` against ``target``, in order; ``variables`` gains the captures."""
    out: list[Exchange] = []
    step: Step
    for step in scenario.steps:
        if isinstance(step, Hook):
            item = target.webhooks.wait(lambda r, s=step: s.match(r.json(), variables), step.timeout)
            out.append(_hook_exchange(step, item))
            continue
        if isinstance(step, Poll):
            deadline = time.monotonic() + step.timeout
            while True:
                exchange = send_steady(target, step.req, variables)
                if step.until(exchange) or time.monotonic() > deadline:
                    break
                time.sleep(step.interval)
            _capture(step.req, exchange, variables)
        else:
            exchange = send_steady(target, step, variables)
            _capture(step, exchange, variables)
        out.append(exchange)
    return out
