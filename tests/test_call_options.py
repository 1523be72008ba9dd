"""Per-call options on every method, and ``with_options``: sync, asyncio and trio, over a mock transport."""

from __future__ import annotations

import inspect
import json
from typing import Any

import pytest
from test_endpoints import CASES, _answer, _args, _clients

from muxi_proto.errors import ConfigurationError, ServerError
from muxi_proto.http import Request, Response, Timeout
from muxi_proto.options import OPTION_NAMES
from muxi_transports import (
    AsyncFormationClient,
    AsyncMockTransport,
    FormationClient,
    MockTransport,
    ServerClient,
)

JSON_H = (("Content-Type", "application/json"),)


def ok(_: Request) -> Response:
    return Response(200, JSON_H, json.dumps({"success": True, "data": {"ok": True}}).encode())


def formation(handler: Any = ok, **kwargs: Any) -> tuple[FormationClient, MockTransport]:
    transport = MockTransport(handler)
    return FormationClient(url="http://127.0.0.1:9", admin_key="adm", client_key="cli", transport=transport,
                           **kwargs), transport


@pytest.mark.parametrize(("plane", "name"), CASES)
def test_every_method_takes_every_option(plane: str, name: str) -> None:
    server_cfg, formation_cfg = _clients()
    transport = MockTransport(lambda r: _answer(r, stream=r.stream, name=name))
    cls = ServerClient if plane == "server" else FormationClient
    client = cls(server_cfg if plane == "server" else formation_cfg, transport=transport)
    assert set(inspect.signature(getattr(cls, name)).parameters) | {"kwargs"} >= OPTION_NAMES
    args, kwargs = _args(name)
    result = getattr(client, name)(*args, **kwargs, timeout=4, extra_headers={"X-Trace": "t-1"},
                                   idempotency_key="job-42", max_retries=0)
    if hasattr(result, "close"):
        result.close()
    request = transport.requests[0]
    assert request.header("X-Trace") == "t-1"
    assert request.header("X-Muxi-Idempotency-Key") == "job-42"
    expected = Timeout.of(4)
    assert request.timeout == (expected.for_stream() if request.stream else expected)


def test_an_option_changes_only_its_call() -> None:
    client, transport = formation(timeout=30)
    client.get_agents(timeout=None)
    client.get_agents()
    assert transport.requests[0].timeout == Timeout.none()
    assert transport.requests[1].timeout == Timeout.of(30)
    assert transport.requests[0].header("X-Muxi-Idempotency-Key") != transport.requests[1].header(
        "X-Muxi-Idempotency-Key")


def test_extra_headers_replace_ours_of_the_same_name() -> None:
    client, transport = formation()
    client.get_agents(extra_headers={"x-muxi-client": "my-app/1.0"})
    values = [v for k, v in transport.requests[0].headers if k.lower() == "x-muxi-client"]
    assert values == ["my-app/1.0"]


@pytest.mark.parametrize("options", [
    {"timeout": "soon"}, {"timeout": -1}, {"timeout": True},
    {"extra_headers": {"X-Bad": "a\r\nInjected: yes"}}, {"extra_headers": {"Bad Name": "x"}},
    {"extra_headers": {"X-Number": 1}}, {"extra_headers": ["X", "y"]},
    {"idempotency_key": ""}, {"idempotency_key": "a\nb"}, {"idempotency_key": 5},
    {"max_retries": -1}, {"max_retries": 1.5}, {"max_retries": True},
])
def test_bad_options_are_refused_before_anything_is_sent(options: dict[str, Any]) -> None:
    client, transport = formation()
    with pytest.raises(ConfigurationError) as info:
        client.get_agents(**options)
    assert transport.requests == []
    assert "Injected: yes" not in str(info.value)
    with pytest.raises(ConfigurationError):
        client.with_options(**options)


def test_an_unknown_option_on_with_options() -> None:
    client, _ = formation()
    with pytest.raises(ConfigurationError, match="retries"):
        client.with_options(retries=2)  # type: ignore[call-arg]


def flaky(statuses: list[int]) -> Any:
    def handler(request: Request) -> Response:
        status = statuses.pop(0) if statuses else 200
        if status != 200:
            return Response(status, JSON_H, b'{"error": "busy"}')
        return ok(request)
    return handler


def test_max_retries_per_call_and_the_key_across_retries() -> None:
    client, transport = formation(flaky([503, 503]), sleep=lambda _: None)
    with pytest.raises(ServerError):
        client.get_agents()  # the config's max_retries is 0
    assert len(transport.requests) == 1
    assert client.get_agents(max_retries=2, idempotency_key="k-1") == {"ok": True}
    keys = [r.header("X-Muxi-Idempotency-Key") for r in transport.requests[1:]]
    assert keys == ["k-1", "k-1"]


def test_a_chosen_key_makes_a_rerun_of_a_job_the_same_request() -> None:
    client, transport = formation()
    for _ in range(2):  # a queue worker running the same job twice, after a crash
        client.chat({"message": "summarise order 7"}, user_id="u", idempotency_key="order-7-summary")
    assert {r.header("X-Muxi-Idempotency-Key") for r in transport.requests} == {"order-7-summary"}


def test_with_options_makes_a_copy_that_shares_the_transport() -> None:
    client, transport = formation()
    traced = client.with_options(extra_headers={"X-Trace": "a"}, timeout=3)
    both = traced.with_options(extra_headers={"X-Tenant": "t"})
    assert type(traced) is FormationClient and traced.transport is client.transport
    both.get_agents()
    traced.get_agents(timeout=9)
    client.get_agents()
    first, second, third = transport.requests
    assert (first.header("X-Trace"), first.header("X-Tenant"), first.timeout) == ("a", "t", Timeout.of(3))
    assert (second.header("X-Trace"), second.header("X-Tenant"), second.timeout) == ("a", None, Timeout.of(9))
    assert (third.header("X-Trace"), third.timeout) == (None, Timeout.of(30))
    closed: list[bool] = []
    transport.close = lambda: closed.append(True)  # type: ignore[method-assign]
    traced.close()
    assert closed == []  # the copy does not own the transport
    both_key = both.with_options(idempotency_key="same")
    both_key.get_agents()
    both_key.get_agents()
    assert [r.header("X-Muxi-Idempotency-Key") for r in transport.requests[-2:]] == ["same", "same"]


def test_the_sans_io_api_takes_options_too() -> None:
    from muxi_proto import FormationAPI

    api = FormationAPI(url="http://127.0.0.1:9", admin_key="adm").with_options(timeout=2)
    request = api.get_agents(extra_headers={"X-Trace": "z"}).start().request
    assert request.timeout == Timeout.of(2) and request.header("X-Trace") == "z"
    request = FormationAPI.get_agents.prepare(api, idempotency_key="abc").start().request
    assert request.header("X-Muxi-Idempotency-Key") == "abc"


@pytest.mark.anyio
async def test_async_clients_take_options_and_with_options() -> None:
    transport = AsyncMockTransport(flaky([503]))

    async def no_sleep(_: float) -> None:
        return None

    transport.sleep = no_sleep  # type: ignore[method-assign]
    client = AsyncFormationClient(url="http://127.0.0.1:9", admin_key="adm", client_key="cli", transport=transport)
    copy = client.with_options(max_retries=1, extra_headers={"X-Trace": "async"})
    assert await copy.get_agents(timeout=6) == {"ok": True}
    assert [r.header("X-Trace") for r in transport.requests] == ["async", "async"]
    assert transport.requests[0].timeout == Timeout.of(6)
    stream_transport = AsyncMockTransport(lambda r: _answer(r, stream=True, name="chat_stream"))
    streaming = AsyncFormationClient(url="http://127.0.0.1:9", client_key="cli", transport=stream_transport)
    stream = await streaming.chat_stream({"message": "hi"}, user_id="u", idempotency_key="chat-1")
    assert [e.event async for e in stream][-1] == "done"
    assert stream_transport.requests[0].header("X-Muxi-Idempotency-Key") == "chat-1"
    await copy.aclose()
    await client.aclose()
