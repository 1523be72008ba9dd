"""``wait_for_request``: a poll machine, alone (injected time) and through the clients (sync, asyncio, trio)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from muxi_proto import FormationAPI
from muxi_proto.call import READ_BODY, CallState, Done, Fail, Send, Sleep
from muxi_proto.errors import CallStateError, ConfigurationError, NotFoundError, TimeoutError
from muxi_proto.http import Request, Response
from muxi_testing import LocalMuxiServer
from muxi_transports import AsyncFormationClient, AsyncMockTransport, FormationClient, MockTransport

JSON_H = (("Content-Type", "application/json"),)


def status_body(status: str) -> bytes:
    return json.dumps({"success": True, "request": {"id": "r"}, "timestamp": 1,
                       "data": {"request_id": "req_1", "status": status, "progress": 0.5}}).encode()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def api(clock: Clock) -> FormationAPI:
    cfg_api = FormationAPI(url="http://127.0.0.1:9", client_key="cli")
    from dataclasses import replace

    cfg_api.settings = replace(cfg_api.settings, timer=clock)
    return cfg_api


def test_polls_until_finished_sleeping_the_interval() -> None:
    clock = Clock()
    machine = api(clock).wait_for_request("req_1", "u", timeout=10, interval=2)
    step: Any = machine.start()
    statuses = ["processing", "running", "completed"]
    polls = []
    while True:
        assert isinstance(step, Send)
        polls.append(step.request.url)
        assert machine.head(200, JSON_H) is READ_BODY
        step = machine.body(status_body(statuses.pop(0)))
        if isinstance(step, Done):
            break
        assert step == Sleep(2.0) and machine.state is CallState.WAITING
        clock.now += 2
        step = machine.resume()
    assert step.result["status"] == "completed" and machine.polls == 3
    assert all(url.endswith("/v1/requests/req_1") for url in polls)
    with pytest.raises(CallStateError):
        machine.start()


def test_gives_up_at_the_deadline_with_the_last_status() -> None:
    clock = Clock()
    machine = api(clock).wait_for_request("req_1", "u", timeout=5, interval=2)
    machine.start()
    machine.head(200, JSON_H)
    assert machine.body(status_body("processing")) == Sleep(2.0)
    clock.now += 4
    machine.resume()
    machine.head(200, JSON_H)
    assert machine.body(status_body("processing")) == Sleep(1.0)  # only what is left of the 5 s
    clock.now += 1
    machine.resume()
    machine.head(200, JSON_H)
    fail = machine.body(status_body("processing"))
    assert isinstance(fail, Fail) and isinstance(fail.error, TimeoutError)
    assert fail.error.details["phase"] == "total" and fail.error.details["last"]["status"] == "processing"


NOT_FOUND = b'{"success": false, "error": {"code": "REQUEST_NOT_FOUND", "message": "no"}}'


def test_a_poll_that_fails_fails_the_wait() -> None:
    machine = api(Clock()).wait_for_request("nope", "u")
    machine.start()
    machine.head(500, JSON_H)
    fail = machine.body(b'{"success": false, "error": {"code": "INTERNAL_ERROR", "message": "no"}}')
    assert isinstance(fail, Fail) and fail.error.status_code == 500


def test_an_unknown_request_is_polled_again_for_ten_seconds_then_raised() -> None:
    # The runtime tracks an async trigger's request only once its background task has started, so
    # the first polls may be 404 (docs/runtime.md); an id that stays unknown fails after 10 s.
    clock = Clock()
    machine = api(clock).wait_for_request("req_1", "u", interval=4)
    machine.start()
    machine.head(404, JSON_H)
    assert machine.body(NOT_FOUND) == Sleep(4.0) and machine.state is CallState.WAITING
    clock.now += 4
    machine.resume()
    machine.head(200, JSON_H)
    done = machine.body(status_body("completed"))
    assert isinstance(done, Done) and machine.polls == 2
    machine = api(clock).wait_for_request("nope", "u", interval=4)
    machine.start()
    for wait in (4.0, 4.0, 2.0):  # the last wait is what is left of the 10 s
        machine.head(404, JSON_H)
        assert machine.body(NOT_FOUND) == Sleep(wait)
        clock.now += wait
        machine.resume()
    machine.head(404, JSON_H)
    fail = machine.body(NOT_FOUND)
    assert isinstance(fail, Fail) and isinstance(fail.error, NotFoundError) and machine.polls == 4


@pytest.mark.parametrize("bad", [{"timeout": 0}, {"interval": -1}, {"timeout": "x"}])
def test_bad_arguments(bad: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        api(Clock()).wait_for_request("r", "u", **bad)


def test_events_between_polls_are_refused() -> None:
    machine = api(Clock()).wait_for_request("req_1", "u", interval=1)
    machine.start()
    machine.head(200, JSON_H)
    machine.body(status_body("pending"))
    with pytest.raises(CallStateError):
        machine.head(200, JSON_H)


def sequence(*statuses: str) -> Any:
    remaining = list(statuses)

    def handler(request: Request) -> Response:
        return Response(200, JSON_H, status_body(remaining.pop(0)))
    return handler


def test_through_the_blocking_client_the_driver_sleeps() -> None:
    slept: list[float] = []
    client = FormationClient(url="http://127.0.0.1:9", client_key="cli", sleep=slept.append,
                             transport=MockTransport(sequence("pending", "processing", "failed")))
    assert client.wait_for_request("req_1", "u", interval=0.25)["status"] == "failed"
    assert slept == [0.25, 0.25]


@pytest.mark.anyio
async def test_through_the_async_client() -> None:
    transport = AsyncMockTransport(sequence("processing", "completed"))
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    transport.sleep = sleep  # type: ignore[method-assign]
    async with AsyncFormationClient(url="http://127.0.0.1:9", client_key="cli", transport=transport) as client:
        assert (await client.wait_for_request("req_1", "u", interval=0.5))["status"] == "completed"
    assert slept == [0.5]


@pytest.fixture(scope="module")
def server() -> Iterator[LocalMuxiServer]:
    with LocalMuxiServer() as srv:
        yield srv


def test_an_async_trigger_waited_for_against_the_local_server(server: LocalMuxiServer) -> None:
    with FormationClient(server.formation_config()) as client:
        name = client.get_triggers()["triggers"][0]
        name = name if isinstance(name, str) else name["name"]
        fired = client.fire_trigger(name, {"text": "hello"}, async_mode=True, user_id="u1")
        final = client.wait_for_request(fired["request_id"], "u1", timeout=20, interval=0.05)
    assert final["status"] == "completed", final
