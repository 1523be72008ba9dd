"""Protocol faults from a raw-socket server, through the real clients, on every (transport, flavour).

Each case must end in a typed :class:`MuxiError` subclass (never a hang, never a raw library
exception) and leave no connection open: the transport holds none afterwards, and the server, which
waits for the client to close its side, sees the connection closed.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import anyio.to_thread
import pytest
from reliability_support import HANG_GUARD, Flavour, call, eventually, matrix_fixtures

from muxi_proto.config import FormationConfig
from muxi_proto.errors import (
    ConnectionError,
    MuxiError,
    ProtocolError,
    StreamTruncatedError,
    TimeoutError,
)
from muxi_proto.http import Timeout
from muxi_testing import LocalMuxiServer
from tests.httpserver import HTTPTestServer, ResponseWriter, ServerRequest
from tests.rawserver import Action, Finish, RawServer, Reset, Send, Silent

pytestmark = pytest.mark.anyio
flavour, anyio_backend = matrix_fixtures()

ADMIN, CLIENT = "muxi_admin_faults_0123456789", "muxi_client_faults_0123456789"
JSON_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
SSE_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
TOKEN = b'data: {"token":{"type":"content","content":"x"}}\n\n'
SHORT = Timeout(connect=2.0, read=0.15, write=2.0, pool=2.0)


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def config(server: RawServer | HTTPTestServer, timeout: Timeout = SHORT) -> FormationConfig:
    return FormationConfig(base_url=server.url + "/v1", admin_key=ADMIN, client_key=CLIENT, timeout=timeout)


# (case, script, expected error class, expected phase or None)
JSON_CASES: list[tuple[str, list[Action], type[MuxiError], str | None]] = [
    ("reset before the status line", [Reset()], ConnectionError, None),
    ("closed before the status line", [Finish()], ConnectionError, None),
    ("reset mid-headers", [Send(b"HTTP/1.1 200 OK\r\nContent-Ty"), Reset()], ConnectionError, None),
    ("framing field in the trailer",
     [Send(JSON_HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + chunk(b"{}") + b"0\r\nContent-Length: x\r\n\r\n"),
      Silent()], ProtocolError, None),
    ("two Transfer-Encodings in the trailer",
     [Send(JSON_HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + chunk(b"{}")
           + b"0\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"), Silent()], ProtocolError, None),
    ("reset mid-body", [Send(JSON_HEAD + b'Content-Length: 100\r\n\r\n{"a":'), Reset()], ConnectionError, None),
    ("truncated chunked body",
     [Send(JSON_HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + chunk(b'{"a":1')), Finish()], ProtocolError, None),
    ("chunk size line that is not hex",
     [Send(JSON_HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"), Finish()], ProtocolError, None),
    ("Content-Length longer than the body", [Send(JSON_HEAD + b"Content-Length: 100\r\n\r\n{}"), Finish()],
     ProtocolError, None),
    ("Content-Length longer than the body, then silence",
     [Send(JSON_HEAD + b"Content-Length: 100\r\n\r\n{}"), Silent()], TimeoutError, "read"),
    ("two different Content-Lengths",
     [Send(JSON_HEAD + b"Content-Length: 2\r\nContent-Length: 5\r\n\r\n{}"), Finish()], ProtocolError, None),
    ("malformed status line", [Send(b"HTTP/1.1 OK 200\r\n\r\n"), Finish()], ProtocolError, None),
    ("not HTTP at all", [Send(b"\x00\xffNOT HTTP\r\n\r\n"), Finish()], ProtocolError, None),
    ("1 MiB header value", [Send(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n"), Finish()],
     ProtocolError, None),
    ("1 MiB of small headers", [Send(b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 150_000 + b"\r\n"), Finish()],
     ProtocolError, None),
    ("silent server", [Silent()], TimeoutError, "read"),
]

# (case, script, expected error class, whether the HTTP response itself was complete)
STREAM_CASES: list[tuple[str, list[Action], type[MuxiError], bool]] = [
    ("reset mid-stream", [Send(SSE_HEAD + chunk(TOKEN)), Reset()], ConnectionError, False),
    ("closed mid-stream", [Send(SSE_HEAD + chunk(TOKEN)), Finish()], ProtocolError, False),
    ("reset before the stream's status line", [Reset()], ConnectionError, False),
    # A complete HTTP response whose events lack the terminal one: the connection may be pooled.
    ("stream ends without its terminal event", [Send(SSE_HEAD + chunk(TOKEN) + b"0\r\n\r\n"), Silent()],
     StreamTruncatedError, True),
]


@pytest.fixture
def closed_port() -> Iterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    yield port


async def _assert_released(outcome_held: int, server: RawServer) -> None:
    assert outcome_held == 0, "the transport kept a connection after a failed call"
    assert await eventually(lambda: server.open_connections == 0), "the client never closed its socket"


@pytest.mark.parametrize(("case", "script", "error", "phase"), JSON_CASES, ids=[c[0] for c in JSON_CASES])
async def test_json_call_fault(
    flavour: Flavour, case: str, script: list[Action], error: type[MuxiError], phase: str | None
) -> None:
    with RawServer(script) as server:
        outcome = await call(flavour, config(server), "get_status")
        exc = outcome.raised(error)
        if phase is not None:
            assert exc.details["phase"] == phase
        assert exc.details["url"] == f"{server.url}/v1/status"
        assert exc.__cause__ is not None or isinstance(exc, StreamTruncatedError)  # the library's error kept
        await _assert_released(outcome.held, server)
        assert len(server.requests) == 1 and server.errors == []


@pytest.mark.parametrize(("case", "script", "error", "complete"), STREAM_CASES, ids=[c[0] for c in STREAM_CASES])
async def test_stream_fault(
    flavour: Flavour, case: str, script: list[Action], error: type[MuxiError], complete: bool
) -> None:

    with RawServer(script) as server:
        outcome = await call(flavour, config(server), "chat_stream", {"message": "hi"}, user_id="u", stream=True)
        outcome.raised(error)
        if complete:
            assert outcome.held <= 1  # a healthy keep-alive connection; closing the client closes it
            assert await eventually(lambda: server.open_connections == 0)
        else:
            await _assert_released(outcome.held, server)
        assert len(server.requests) == 1 and server.errors == []


# A head cut short by the end of the connection, at several points and in each way the head is read
# (our codec, h11 for bare-LF or interim responses): a plain ConnectionError on every transport, never a
# ProtocolError, so a retry decision on the error type is the same whichever transport runs.
TRUNCATED_HEADS = {
    "in the status line": b"HTTP/1.1 2",
    "after the status line": b"HTTP/1.1 200 OK\r\n",
    "mid-header": b"HTTP/1.1 200 OK\r\nContent-Ty",
    "before the blank line": JSON_HEAD + b"Content-Length: 2\r\n",
    "bare-LF head": b"HTTP/1.1 200 OK\nContent-Type: application/json\n",
    "after an interim response": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-",
    "only an interim response": b"HTTP/1.1 100 Continue\r\n\r\n",
}


@pytest.mark.parametrize("cut", list(TRUNCATED_HEADS))
async def test_a_head_cut_short_by_the_server_closing_is_a_connection_error(flavour: Flavour, cut: str) -> None:
    with RawServer([Send(TRUNCATED_HEADS[cut]), Finish()]) as server:
        outcome = await call(flavour, config(server), "get_status")
        exc = outcome.raised(ConnectionError)
        assert type(exc) is ConnectionError, exc
        assert "closed the connection" in exc.message
        await _assert_released(outcome.held, server)


async def test_connection_refused(flavour: Flavour, closed_port: int) -> None:
    cfg = FormationConfig(base_url=f"http://127.0.0.1:{closed_port}/v1", admin_key=ADMIN, timeout=SHORT)
    outcome = await call(flavour, cfg, "get_status")
    exc = outcome.raised(ConnectionError)
    assert type(exc) is ConnectionError and exc.details["phase"] == "connect"
    assert "connection refused" in exc.message and outcome.held == 0


FORGED = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{\"forged\":true}"
GENUINE = JSON_HEAD + b'Content-Length: 16\r\n\r\n{"genuine":true}'
_LF_HEAD = JSON_HEAD.replace(b"\r\n", b"\n")
#: A complete ``{}`` response in each way a client reads one: framed by length or chunks, with a head
#: our fast codec reads or one it hands to h11 (bare LF line ends).
COMPLETE_RESPONSES = {
    "content-length": JSON_HEAD + b"Content-Length: 2\r\n\r\n{}",
    "chunked": JSON_HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + chunk(b"{}") + b"0\r\n\r\n",
    "content-length, bare LF head": _LF_HEAD + b"Content-Length: 2\n\n{}",
    "chunked, bare LF head": _LF_HEAD + b"Transfer-Encoding: chunked\n\n" + chunk(b"{}") + b"0\r\n\r\n",
}


@pytest.mark.parametrize("framing", list(COMPLETE_RESPONSES))
async def test_bytes_after_a_complete_response_never_answer_the_next_request(flavour: Flavour, framing: str) -> None:
    """A body shorter than the bytes sent: the rest must not be read as the next response (desync)."""

    def script(request: object) -> list[Action]:
        if server.connections_opened == 1:  # no FIN: nothing tells the client the connection is spent
            return [Send(COMPLETE_RESPONSES[framing] + FORGED), Silent()]
        return [Send(GENUINE), Finish()]

    with RawServer(script) as server:
        transport = flavour.make_transport()
        try:
            first = await call(flavour, config(server), "get_status", transport=transport)
            second = await call(flavour, config(server), "get_status", transport=transport)
        finally:
            if flavour.sync:
                transport.close()  # type: ignore[union-attr]
            else:
                await transport.aclose()  # type: ignore[union-attr]
        assert first.value == {} and first.held == 0  # the declared body; the connection is dropped
        assert second.value == {"genuine": True}
        assert len(server.requests) == 2 and server.connections_opened == 2


async def test_bytes_arriving_on_an_idle_connection_retire_it(flavour: Flavour) -> None:
    """The stray bytes come after the client has read the response and pooled the connection."""
    pooled, sent = threading.Event(), threading.Event()

    async def handler(request: ServerRequest, response: ResponseWriter) -> None:
        if request.connection_id == 1:
            await response.respond(200, [("Content-Type", "application/json")], b"{}")
            await anyio.to_thread.run_sync(pooled.wait, HANG_GUARD)
            await response.write_raw(FORGED)  # on loopback, in the client's buffer once this returns
            sent.set()
            await response.stay_silent()
        else:
            await response.respond(200, [("Content-Type", "application/json")], b'{"genuine":true}')

    with HTTPTestServer(handler) as server:
        transport = flavour.make_transport()
        try:
            first = await call(flavour, config(server), "get_status", transport=transport)
            assert first.value == {} and first.held == 1  # a clean response: pooled
            pooled.set()
            assert await eventually(sent.is_set)
            second = await call(flavour, config(server), "get_status", transport=transport)
        finally:
            pooled.set()
            if flavour.sync:
                transport.close()  # type: ignore[union-attr]
            else:
                await transport.aclose()  # type: ignore[union-attr]
        assert second.value == {"genuine": True}
        assert [r.connection_id for r in server.requests] == [1, 2]


# --- the local MUXI server's own fault injection ---------------------------------------------------------


@pytest.fixture(scope="module")
def muxi_server() -> Iterator[LocalMuxiServer]:
    with LocalMuxiServer() as server:
        yield server
        assert server.errors == []


def _inject(server: LocalMuxiServer, fault: str) -> None:
    api = f"/api/{server.formation_id}/v1/"
    if fault == "garbage":
        server.faults.garbage_next(path_prefix=api)
    elif fault == "latency":
        server.faults.latency(2.0, path_prefix=api)
    else:
        server.faults.drop_next(when=fault, path_prefix=api)  # type: ignore[arg-type]


# (fault, method, whether it is a stream, expected error)
LOCAL_CASES: list[tuple[str, str, bool, type[MuxiError]]] = [
    ("headers", "get_status", False, ConnectionError),
    ("mid_body", "get_config", False, ConnectionError),  # a ProtocolError (body ended early) or a reset
    ("garbage", "get_status", False, ProtocolError),
    ("latency", "get_status", False, TimeoutError),
    ("headers", "chat_stream", True, ConnectionError),
    ("mid_stream", "chat_stream", True, ConnectionError),  # reset, or a chunked body that ended early
]


@pytest.mark.parametrize(("fault", "method", "stream", "error"), LOCAL_CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in LOCAL_CASES])
async def test_local_server_faults(
    flavour: Flavour, muxi_server: LocalMuxiServer, fault: str, method: str, stream: bool, error: type[MuxiError]
) -> None:
    assert await eventually(lambda: muxi_server.open_connections == 0)
    _inject(muxi_server, fault)
    try:
        cfg = muxi_server.formation_config(timeout=SHORT)
        args: tuple[object, ...] = ({"message": "cut"},) if stream else ()
        kwargs = {"user_id": "u"} if stream else {}
        outcome = await call(flavour, cfg, method, *args, stream=stream, **kwargs)
        outcome.raised(error)
        assert outcome.held == 0
        assert await eventually(lambda: muxi_server.open_connections == 0)
        assert muxi_server.faults.pending == 0
    finally:
        muxi_server.faults.clear()
