"""Size limits and compression on every (transport, flavour): typed errors, bounded memory.

The decoder-level limits (SSE line and event size, bundle size, paths and members) are tested in
``test_sse.py``, ``test_streams.py`` and ``test_bundle.py``; here are the ones a transport owns:
the response head size, the JSON body size, and compression, which the client never asks for
(no ``Accept-Encoding``) and never undoes (a gzip bomb stays a small, undecodable body).
"""

from __future__ import annotations

import gzip
import tracemalloc
from collections.abc import Iterator

import pytest
from reliability_support import Flavour, call, eventually, matrix_fixtures

from muxi_proto.config import FormationConfig
from muxi_proto.errors import LimitExceededError, ProtocolError, ResponseDecodeError, StreamError
from muxi_proto.http import Timeout
from tests.httpserver import HTTPTestServer, ResponseWriter, ServerRequest
from tests.rawserver import Action, Finish, RawServer, Send

pytestmark = pytest.mark.anyio
flavour, anyio_backend = matrix_fixtures()

ADMIN, CLIENT = "muxi_admin_limits_0123456789", "muxi_client_limits_0123456789"
TIMEOUT = Timeout.of(5.0)
#: 64 MiB of zeros compress to about 64 KiB: inflating it would show in the memory peak.
BOMB = gzip.compress(bytes(64 * 1024 * 1024), compresslevel=9)
INFLATE_GUARD = 16 * 1024 * 1024


def config(url: str) -> FormationConfig:
    return FormationConfig(base_url=url + "/v1", admin_key=ADMIN, client_key=CLIENT, timeout=TIMEOUT)


def answer(head: bytes, body: bytes = b"") -> list[Action]:
    return [Send(head + b"\r\n" + body), Finish()]


@pytest.fixture
def recorder() -> Iterator[HTTPTestServer]:
    async def handler(request: ServerRequest, response: ResponseWriter) -> None:
        if request.target.endswith("/chat"):
            await response.respond(200, [("Content-Type", "text/event-stream")],
                                   b'data: {"token":{"type":"completed","content":"x"}}\n\nevent: done\ndata: {}\n\n')
        else:
            await response.respond(200, [("Content-Type", "application/json")], b"{}")

    with HTTPTestServer(handler) as server:
        yield server


async def test_accept_encoding_is_never_sent(flavour: Flavour, recorder: HTTPTestServer) -> None:
    assert (await call(flavour, config(recorder.url), "get_status")).error is None
    stream = await call(flavour, config(recorder.url), "chat_stream", {"message": "x"}, user_id="u", stream=True)
    assert stream.error is None
    assert len(recorder.requests) == 2
    for request in recorder.requests:
        names = {name.lower() for name, _ in request.headers}
        assert not names & {"accept-encoding", "te"}, request.headers


@pytest.mark.parametrize("kind", ["json", "stream"])
async def test_a_gzip_bomb_is_never_inflated(flavour: Flavour, kind: str) -> None:
    ctype = b"application/json" if kind == "json" else b"text/event-stream"
    head = b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n" % (
        ctype, len(BOMB))
    with RawServer(answer(head, BOMB)) as server:
        tracemalloc.start()
        try:
            if kind == "json":
                outcome = await call(flavour, config(server.url), "get_status")
                outcome.raised(ResponseDecodeError)
            else:
                outcome = await call(flavour, config(server.url), "chat_stream", {"message": "x"}, user_id="u",
                                     stream=True)
                outcome.raised(StreamError)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < INFLATE_GUARD, f"{peak} bytes traced: the body was inflated"


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_json_bodies_past_the_limit_are_refused(flavour: Flavour, framing: str) -> None:
    body = b'{"pad":"' + b"x" * 65_536 + b'"}'
    if framing == "content-length":
        script = answer(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n" % len(body),
                        body)
    else:
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 1000]), body[i:i + 1000])
                          for i in range(0, len(body), 1000))
        script = answer(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n",
                        chunks + b"0\r\n\r\n")
    with RawServer(script) as server:
        outcome = await call(flavour, config(server.url), "get_status", client_options={"max_body": 4096})
        assert "4096 bytes" in outcome.raised(LimitExceededError).message
        assert outcome.held == 0  # a half-read connection is never pooled
        assert await eventually(lambda: server.open_connections == 0)


async def test_a_48_kib_head_is_accepted(flavour: Flavour) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nX-Pad: %s\r\n" % (
        b"p" * 48 * 1024)
    with RawServer(answer(head, b"{}")) as server:
        assert (await call(flavour, config(server.url), "get_status")).value == {}


@pytest.mark.parametrize("shape", ["one value", "many headers"])
async def test_a_head_of_256_kib_is_refused(flavour: Flavour, shape: str) -> None:
    """h11 (anyio, trio) stops at 64 KiB, httpcore once 100 KiB are buffered without a complete head.

    httpcore checks its bound only while a head is incomplete and reads 64 KiB at a time, so a head
    that completes within the read that crosses 100 KiB passes (up to about 164 KiB): 256 KiB is
    refused whatever the read sizes, which is the guarantee (nothing buffers an unbounded head).
    """
    pad = b"X-Pad: " + b"p" * 256 * 1024 + b"\r\n" if shape == "one value" else b"X-P: q\r\n" * 40_000
    with RawServer(answer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" + pad, b"{}")) as server:
        outcome = await call(flavour, config(server.url), "get_status")
        assert "malformed response" in outcome.raised(ProtocolError).message
        assert outcome.held == 0
