"""``client.with_raw_response``: status, headers, request id and attempts around every kind of result."""

from __future__ import annotations

import inspect
import json
from typing import Any

import pytest

from muxi_proto.errors import NotFoundError
from muxi_proto.http import Request, Response
from muxi_proto.raw_response import RawResponse
from muxi_transports import (
    AsyncFormationClient,
    AsyncMockTransport,
    AsyncServerClient,
    FormationClient,
    MockTransport,
    ServerClient,
    StreamingResponse,
)

JSON_H = (("Content-Type", "application/json"),)
NOW = 1_800_000_000


def answer(request: Request) -> Response | StreamingResponse:
    if request.stream:
        return StreamingResponse(200, (("Content-Type", "text/event-stream"), ("X-Request-ID", "rid-s")), [
            b'data: {"token":{"type":"content","content":"Hi"}}\n\n', b'event: done\ndata: {}\n\n'])
    if request.path.endswith("/ping"):
        return Response(200, (("Content-Type", "text/plain"),), b"pong")
    if request.path.endswith("/agents/missing"):
        return Response(404, JSON_H, b'{"success": false, "error": {"code": "AGENT_NOT_FOUND", "message": "no"}}')
    headers = (*JSON_H, ("X-Request-ID", "rid-1"), ("Retry-After", "12"), ("X-RateLimit-Remaining", "9"),
               ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"))
    body = {"object": "x", "success": True, "request": {"id": "req_env"}, "timestamp": 1, "data": {"n": 1}}
    return Response(201, headers, json.dumps(body).encode())


class Flaky:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, request: Request) -> Response | StreamingResponse:
        self.calls += 1
        return Response(503, JSON_H, b"{}") if self.calls == 1 else answer(request)


def test_a_json_result_with_its_response() -> None:
    client = FormationClient(url="http://127.0.0.1:9", admin_key="adm_secret_value", client_key="c",
                             transport=MockTransport(answer))
    raw = client.with_raw_response.get_agents()
    assert isinstance(raw, RawResponse)
    assert raw.status_code == 201 and raw.parse() == raw.result == {"n": 1, "request_id": "req_env", "timestamp": 1}
    assert raw.request_id == "req_env"  # the envelope's id wins over the header
    assert raw.header("x-ratelimit-remaining") == "9" and raw.header_values("set-cookie") == ["a=1", "b=2"]
    assert raw.retry_after(now=NOW) == 12.0
    assert raw.request.method == "GET" and raw.request.url.endswith("/v1/agents") and raw.attempts == 1
    assert "adm_secret_value" not in repr(raw) and "adm_secret_value" not in repr(client.with_raw_response)


def test_text_results_take_the_request_id_from_the_header() -> None:
    def handler(request: Request) -> Response:
        return Response(200, (("Content-Type", "text/plain"), ("X-Request-ID", "rid-text")), b"pong")

    server = ServerClient(url="http://127.0.0.1:9", key_id="k", secret_key="s", transport=MockTransport(handler))
    raw = server.with_raw_response.ping()
    assert (raw.parse(), raw.request_id, raw.status_code) == ("pong", "rid-text", 200)


def test_attempts_count_the_retries_and_options_still_apply() -> None:
    transport = MockTransport(Flaky())
    client = FormationClient(url="http://127.0.0.1:9", admin_key="a", transport=transport, sleep=lambda _: None)
    raw = client.with_raw_response.get_agents(max_retries=1, extra_headers={"X-Trace": "t"})
    assert raw.attempts == 2 and raw.status_code == 201
    assert raw.request is not None and raw.request.header("X-Trace") == "t"


def test_errors_are_raised_as_usual() -> None:
    client = FormationClient(url="http://127.0.0.1:9", admin_key="a", transport=MockTransport(answer))
    with pytest.raises(NotFoundError):
        client.with_raw_response.get_agent("missing")


def test_a_stream_in_a_raw_response() -> None:
    client = FormationClient(url="http://127.0.0.1:9", client_key="c", transport=MockTransport(answer))
    raw = client.with_raw_response.chat_stream({"message": "hi"}, user_id="u")
    assert raw.status_code == 200 and raw.request_id == "rid-s"
    with raw.parse() as stream:
        assert stream.text() == "Hi"


def test_the_raw_views_are_real_to_introspection() -> None:
    view = type(FormationClient(url="http://127.0.0.1:9", admin_key="a").with_raw_response)
    assert inspect.isfunction(inspect.getattr_static(view, "get_agents"))
    assert "RawResponse" in str(inspect.signature(view.get_agents).return_annotation)
    assert set(FormationClient.endpoints) <= {n for n, _ in inspect.getmembers(view, callable)}


@pytest.mark.anyio
async def test_async_raw_responses() -> None:
    transport = AsyncMockTransport(Flaky())

    async def no_sleep(_: float) -> None:
        return None

    transport.sleep = no_sleep  # type: ignore[method-assign]
    client = AsyncFormationClient(url="http://127.0.0.1:9", admin_key="a", client_key="c", transport=transport,
                                  max_retries=1)
    raw = await client.with_raw_response.get_agents()
    assert (raw.status_code, raw.attempts, raw.request_id) == (201, 2, "req_env")
    raw_stream: Any = await client.with_raw_response.chat_stream({"message": "hi"})
    async with raw_stream.parse() as stream:
        assert await stream.text() == "Hi"
    assert inspect.iscoroutinefunction(type(client.with_raw_response).get_agents)
    server = AsyncServerClient(url="http://127.0.0.1:9", key_id="k", secret_key="s",
                               transport=AsyncMockTransport(answer))
    assert (await server.with_raw_response.ping()).parse() == "pong"
    await client.aclose()
    await server.aclose()
