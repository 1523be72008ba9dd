"""Helpers for the local server tests: raw HTTP with hand-built headers, bundles, SSE parsing.

The protocol tests talk to the server through ``http.client`` (not our transports), so a bug in
our client cannot make the server look right. No tests live here.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from muxi_proto.auth import sign_request
from muxi_proto.bundle import pack_directory
from muxi_proto.sse import ServerSentEvent, SSEDecoder
from muxi_testing import LocalMuxiServer

FIXTURES = Path(__file__).parent / "fixtures"


@dataclass
class Reply:
    """A complete answer as the wire carried it."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def content_type(self) -> str:
        return self.header("content-type") or ""


def _send(
    server: LocalMuxiServer,
    method: str,
    target: str,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    body: bytes,
    json_body: Any,
) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    """Send one request on a fresh connection; the connection and the unread response."""
    pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    if json_body is not None:
        body = json.dumps(json_body).encode()
        pairs.append(("Content-Type", "application/json"))
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.putrequest(method, target, skip_accept_encoding=True)
        for name, value in pairs:
            conn.putheader(name, value)
        if body or method in ("POST", "PUT"):
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body or None)
        return conn, conn.getresponse()
    except BaseException:
        conn.close()
        raise


def request(
    server: LocalMuxiServer,
    method: str,
    target: str,
    *,
    headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    json_body: Any = None,
) -> Reply:
    """One request on a fresh connection; the whole answer."""
    conn, response = _send(server, method, target, headers, body, json_body)
    try:
        return Reply(response.status, response.getheaders(), response.read())
    finally:
        conn.close()


class OpenStream:
    """A response read incrementally (for streams that never end by themselves)."""

    def __init__(self, conn: http.client.HTTPConnection, response: http.client.HTTPResponse) -> None:
        self.conn = conn
        self.response = response
        self.status = response.status
        self.raw = b""
        self.decoder = SSEDecoder()
        self.events: list[ServerSentEvent] = []

    def header(self, name: str) -> str | None:
        return self.response.getheader(name)

    def read_for(self, seconds: float) -> bytes:
        """What arrives within ``seconds`` (to show that a stream stays silent): the bytes read."""
        got = b""
        deadline = time.monotonic() + seconds
        sock = self.conn.sock
        while (remaining := deadline - time.monotonic()) > 0:
            if sock is not None:
                sock.settimeout(remaining)
            try:
                chunk = self.response.read1(65536)
            except (TimeoutError, OSError):
                break
            if not chunk:
                break
            got += chunk
        return got

    def read_until(self, predicate: Any, limit: int = 10_000) -> list[ServerSentEvent]:
        """Read chunks until ``predicate(events)`` holds; returns every event so far."""
        for _ in range(limit):
            if predicate(self.events):
                return self.events
            chunk = self.response.read1(65536)
            if not chunk:
                break
            self.raw += chunk
            self.events.extend(self.decoder.feed(chunk))
        assert predicate(self.events), (self.raw[-500:], self.events)
        return self.events

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> OpenStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_stream(
    server: LocalMuxiServer,
    method: str,
    target: str,
    *,
    headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    json_body: Any = None,
) -> OpenStream:
    """Send a request and return the response unread."""
    return OpenStream(*_send(server, method, target, headers, body, json_body))


def signed(server: LocalMuxiServer, method: str, path: str, *, timestamp: int | None = None) -> dict[str, str]:
    """The ``Authorization`` header for a control-plane request."""
    stamp = int(time.time()) if timestamp is None else timestamp
    return {"Authorization": sign_request(method, path.split("?", maxsplit=1)[0], key_id=server.key_id,
                                          secret_key=server.secret_key, timestamp=stamp)}


def rpc(server: LocalMuxiServer, method: str, target: str, **kwargs: Any) -> Reply:
    """A correctly signed control-plane request."""
    headers = dict(kwargs.pop("headers", {}))
    headers.update(signed(server, method, target))
    return request(server, method, target, headers=headers, **kwargs)


def admin(server: LocalMuxiServer, **extra: str) -> dict[str, str]:
    return {"X-MUXI-ADMIN-KEY": server.admin_key, **extra}


def client(server: LocalMuxiServer, user: str | None = None, **extra: str) -> dict[str, str]:
    headers = {"X-MUXI-CLIENT-KEY": server.client_key, **extra}
    if user is not None:
        headers["X-Muxi-User-ID"] = user
    return headers


def api(server: LocalMuxiServer, path: str, formation_id: str | None = None) -> str:
    """``/api/<formation>/v1<path>``."""
    return f"/api/{formation_id or server.formation_id}/v1{path}"


def events(body: bytes) -> list[ServerSentEvent]:
    """Every complete event of an SSE body."""
    return SSEDecoder().feed(body)


def bundle(tmp_path: Path, formation_id: str, *, version: str | None = "1.0.0", config_id: str | None = None,
           extra: str = "") -> bytes:
    """A real tar.gz bundle packed from a directory (``config_id`` overrides the id inside)."""
    root = tmp_path / f"src-{formation_id}-{version}-{config_id}-{len(extra)}"
    (root / "agents").mkdir(parents=True, exist_ok=True)
    lines = ['schema: "1.0.0"', f"id: {config_id or formation_id}", "name: Test formation"]
    if version is not None:
        lines.insert(2, f'version: "{version}"')
    (root / "formation.afs").write_text("\n".join(lines) + "\n" + extra)
    (root / "agents" / "assistant.afs").write_text("id: assistant\nname: Assistant\n")
    return pack_directory(root, formation_id)


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text()


def fixture_json(name: str) -> Any:
    return json.loads(fixture_text(name))


def shape(value: Any) -> Any:
    """The structure of a JSON value: dicts keep their keys, leaves become type names."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value[:1]]
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__
