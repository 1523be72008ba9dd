"""``get_all_session_messages``: one request at the runtime's maximum, a typed error beyond it
(muxi_proto/paging.py, docs/runtime.md), alone and through the clients."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from muxi_proto import FormationAPI
from muxi_proto.call import READ_BODY, Done, Fail, Send
from muxi_proto.errors import ConfigurationError, LimitExceededError, ServerError
from muxi_proto.http import Request, Response
from muxi_transports import AsyncFormationClient, AsyncMockTransport, FormationClient, MockTransport

JSON_H = (("Content-Type", "application/json"),)


def page(count: int, has_more: bool) -> bytes:
    messages = [{"text": f"m{i}", "metadata": {"role": "user"}, "timestamp": float(i)} for i in range(count)]
    return json.dumps({"success": True, "request": {"id": "req_p"}, "timestamp": 5, "data": {
        "session_id": "s1", "messages": messages, "count": count, "has_more": has_more}}).encode()


def api() -> FormationAPI:
    return FormationAPI(url="http://127.0.0.1:9", client_key="cli")


def _query(step: Any) -> dict[str, str]:
    assert isinstance(step, Send)
    return dict(parse_qsl(urlsplit(step.request.url).query))


def test_one_request_at_the_maximum_gives_every_message() -> None:
    machine = api().get_all_session_messages("s1", "u")
    step = machine.start()
    assert _query(step) == {"limit": "1000"} and step.request.header("X-Muxi-User-ID") == "u"
    assert urlsplit(step.request.url).path == "/v1/sessions/s1/messages"
    assert machine.head(200, JSON_H) is READ_BODY
    done = machine.body(page(3, False))
    assert isinstance(done, Done) and [m["text"] for m in done.result["messages"]] == ["m0", "m1", "m2"]
    assert machine.polls == 1


def test_more_than_asked_for_is_a_typed_error_not_a_truncated_list() -> None:
    machine = api().get_all_session_messages("s1", "u", max_messages=2)
    assert _query(machine.start()) == {"limit": "2"}
    machine.head(200, JSON_H)
    fail = machine.body(page(2, True))
    assert isinstance(fail, Fail) and isinstance(fail.error, LimitExceededError)
    assert fail.error.details == {"session_id": "s1", "limit": 2, "received": 2}
    assert "ignores `before`" in fail.error.message


@pytest.mark.parametrize("bad", [0, 1001, True, 2.5, "10"])
def test_max_messages_is_bounded_by_the_runtime(bad: Any) -> None:
    with pytest.raises(ConfigurationError):
        api().get_all_session_messages("s1", "u", max_messages=bad)


def test_errors_of_the_call_are_raised() -> None:
    machine = api().get_all_session_messages("s1", "u")
    machine.start()
    machine.head(500, JSON_H)
    fail = machine.body(b'{"success": false, "error": {"code": "INTERNAL_ERROR", "message": "boom"}}')
    assert isinstance(fail, Fail) and isinstance(fail.error, ServerError)


def _answer(request: Request) -> Response:
    limit = int(dict(parse_qsl(urlsplit(request.url).query))["limit"])
    return Response(200, JSON_H, page(min(limit, 4), limit < 4))


def test_through_the_blocking_client() -> None:
    transport = MockTransport(_answer)
    with FormationClient(url="http://127.0.0.1:9", client_key="c", transport=transport) as client:
        assert client.get_all_session_messages("s1", "u")["count"] == 4
        with pytest.raises(LimitExceededError):
            client.get_all_session_messages("s1", "u", max_messages=3)
    assert len(transport.requests) == 2


@pytest.mark.anyio
async def test_through_the_async_client() -> None:
    transport = AsyncMockTransport(_answer)
    async with AsyncFormationClient(url="http://127.0.0.1:9", client_key="c", transport=transport) as client:
        assert (await client.get_all_session_messages("s1", "u"))["has_more"] is False
        raw = await client.with_raw_response.get_all_session_messages("s1", "u")
        assert raw.status_code == 200 and raw.parse()["count"] == 4
