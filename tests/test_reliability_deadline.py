"""The overall per-attempt deadline (``Timeout.total``) on every (transport, flavour).

A server that trickles its answer a few bytes per second never trips a read timeout: every read
returns well within it. Only ``total`` ends such a call, with ``TimeoutError`` phase ``"total"``.
"""

from __future__ import annotations

from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st
from reliability_support import Flavour, call, eventually, held_connections, matrix_fixtures

from muxi_proto.config import FormationConfig, ServerConfig
from muxi_proto.errors import ConfigurationError, TimeoutError
from muxi_proto.http import Request, Timeout
from muxi_proto.requests import Auth, Operation, RequestBuilder
from muxi_proto.retry import RetryPolicy
from muxi_testing import LocalMuxiServer
from muxi_transports import AsyncHTTPCoreTransport, FormationClient, HTTPCoreTransport
from muxi_transports._deadline import Deadline, cut_to
from muxi_transports._errors import PhaseTimeout
from tests.rawserver import Action, Drip, RawRequest, RawServer, Send, Silent

flavour, anyio_backend = matrix_fixtures()

ADMIN, CLIENT = "muxi_admin_deadline_0123456789", "muxi_client_deadline_0123456789"
JSON = b'{"status":"running"}'
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(JSON)
#: Each byte arrives 0.05 s after the previous one, far inside the 2 s read timeout.
DRIP = 0.05
TRICKLE = Timeout(connect=2.0, read=2.0, write=2.0, pool=2.0, total=0.3)


def config(server: RawServer, timeout: Timeout = TRICKLE) -> FormationConfig:
    return FormationConfig(base_url=server.url + "/v1", admin_key=ADMIN, client_key=CLIENT, timeout=timeout)


# --- the value object and the knob ----------------------------------------------------------------


def test_total_is_off_by_default_and_the_official_number_keeps_its_meaning() -> None:
    assert Timeout().total is None and Timeout.of(5) == Timeout(5, 5, 5, 5, None)
    assert Timeout.of(5, total=12).total == 12
    cfg = FormationConfig(base_url="http://127.0.0.1:1/v1", admin_key=ADMIN, timeout=7)
    assert RequestBuilder(cfg).timeout == Timeout.of(7.0)


def test_a_timeout_object_as_the_config_timeout() -> None:
    wanted = Timeout(connect=1, read=2, write=3, pool=4, total=9)
    for cfg in (FormationConfig(base_url="http://127.0.0.1:1/v1", admin_key=ADMIN, timeout=wanted),
                ServerConfig("http://127.0.0.1:1", "MUXI_0123456789abcdef", "sk_" + "d" * 64, timeout=wanted)):
        builder = RequestBuilder(cfg)
        op = Operation("GET", "/status", Auth.ADMIN if isinstance(cfg, FormationConfig) else Auth.HMAC)
        assert builder.build(op, idempotency_key="k", timestamp=1).timeout == wanted
        streamed = builder.build(Operation("GET", "/x", op.auth, stream=True), idempotency_key="k", timestamp=1)
        assert streamed.timeout == Timeout(1, None, 3, 4, None)  # streams: no read limit, no deadline


@pytest.mark.parametrize("bad", [0, -1, float("nan"), True, "5", [1]])
@pytest.mark.parametrize("phase", ["connect", "read", "write", "pool", "total"])
def test_bad_timeout_values_are_configuration_errors(phase: str, bad: object) -> None:
    with pytest.raises(ConfigurationError, match=phase):
        Timeout(**{phase: bad})  # type: ignore[arg-type]


@given(st.one_of(st.none(), st.floats(min_value=1e-3, max_value=1e6)), st.floats(min_value=1e-3, max_value=1e6))
def test_for_stream_never_keeps_a_deadline(read: float | None, total: float) -> None:
    streamed = Timeout(read=read, total=total).for_stream()
    assert streamed.read is None and streamed.total is None


# --- enforcement on every transport ---------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("where", ["status line and headers", "body"])
async def test_a_trickling_server_hits_the_deadline(flavour: Flavour, where: str) -> None:
    script: list[Action] = [Drip(HEAD + JSON, DRIP)] if where != "body" else [Send(HEAD), Drip(JSON, DRIP)]
    with RawServer(script) as server:
        outcome = await call(flavour, config(server), "get_status")
        exc = outcome.raised(TimeoutError)
        assert exc.details["phase"] == "total" and "total timed out" in exc.message
        assert outcome.held == 0
        assert await eventually(lambda: server.open_connections == 0)


@pytest.mark.anyio
async def test_a_prompt_answer_is_unaffected_and_keeps_its_connection(flavour: Flavour) -> None:
    with RawServer([Send(HEAD + JSON), Silent()]) as server:
        outcome = await call(flavour, config(server, Timeout.of(2.0, total=5.0)), "get_status")
        assert outcome.value == {"status": "running"} and outcome.held == 1  # pooled for reuse


@pytest.mark.anyio
async def test_the_read_limit_still_names_its_phase_when_it_comes_first(flavour: Flavour) -> None:
    with RawServer([Silent()]) as server:
        timeout = Timeout(connect=2.0, read=0.1, write=2.0, pool=2.0, total=5.0)
        outcome = await call(flavour, config(server, timeout), "get_status")
        assert outcome.raised(TimeoutError).details["phase"] == "read"


@pytest.mark.anyio
async def test_a_silent_server_with_a_longer_read_limit_hits_the_deadline(flavour: Flavour) -> None:
    with RawServer([Silent()]) as server:
        timeout = Timeout(connect=2.0, read=5.0, write=2.0, pool=2.0, total=0.2)
        outcome = await call(flavour, config(server, timeout), "get_status")
        assert outcome.raised(TimeoutError).details["phase"] == "total"


@pytest.mark.anyio
async def test_connecting_is_inside_the_deadline(flavour: Flavour, unreachable_port: int) -> None:
    cfg = FormationConfig(base_url=f"http://127.0.0.1:{unreachable_port}/v1", admin_key=ADMIN,
                          timeout=Timeout(connect=5.0, read=5.0, write=5.0, pool=5.0, total=0.2))
    outcome = await call(flavour, cfg, "get_status")
    assert outcome.raised(TimeoutError).details["phase"] == "total"


@pytest.mark.anyio
async def test_every_retry_gets_a_fresh_deadline(flavour: Flavour) -> None:
    def script(request: RawRequest) -> list[Action]:
        first = request.connection_id == 1
        return [Drip(HEAD + JSON, DRIP)] if first else [Send(HEAD + JSON), Silent()]

    with RawServer(script) as server:
        policy = RetryPolicy(max_retries=1, initial_backoff=0.0, jitter=0.0)
        timeout = Timeout.of(2.0, total=1.0)  # the trickle needs ~5 s: only the retry answers in time
        outcome = await call(flavour, config(server, timeout), "get_status", client_options={"retry_policy": policy})
        assert outcome.value == {"status": "running"}
        assert len(server.requests) == 2


@pytest.mark.anyio
async def test_streams_have_no_deadline(flavour: Flavour) -> None:
    with LocalMuxiServer(token_delay=0.02) as server:  # a dozen frames: the stream outlives the deadline
        cfg = server.formation_config(timeout=Timeout(connect=2.0, read=2.0, write=2.0, pool=2.0, total=0.05))
        outcome = await call(flavour, cfg, "chat_stream", {"message": "slow"}, user_id="u", stream=True)
        assert outcome.error is None and outcome.value[-1].event == "done"


# --- the pool wait (httpcore transports bound the requests in flight) --------------------------------


def test_waiting_for_a_pooled_connection_is_inside_the_deadline_sync() -> None:
    with RawServer([Send(HEAD), Silent()]) as server, HTTPCoreTransport(max_connections=1) as transport:
        busy = transport.send(Request("GET", server.url, stream=True, timeout=Timeout.none()))
        with pytest.raises(TimeoutError) as info:
            transport.send(Request("GET", server.url, timeout=Timeout(2, 2, 2, 5, total=0.2)))
        assert info.value.details["phase"] == "total"
        busy.close()
        assert held_connections(transport) == 0


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_waiting_for_a_pooled_connection_is_inside_the_deadline_async(anyio_backend: str) -> None:
    with RawServer([Send(HEAD), Silent()]) as server:
        async with AsyncHTTPCoreTransport(max_connections=1) as transport:
            busy = await transport.send(Request("GET", server.url, stream=True, timeout=Timeout.none()))
            with pytest.raises(TimeoutError) as info:
                await transport.send(Request("GET", server.url, timeout=Timeout(2, 2, 2, 5, total=0.2)))
            assert info.value.details["phase"] == "total"
            await busy.aclose()


def test_one_byte_per_second_with_the_default_client() -> None:
    """The case as users meet it: one byte a second, read timeout 2 s, a 1.5 s deadline asked for."""
    with RawServer([Drip(HEAD + JSON, 1.0)]) as server:
        timeout = Timeout.of(2.0, total=1.5)
        with FormationClient(config(server, timeout)) as client, pytest.raises(TimeoutError) as info:
            client.get_status()
        assert info.value.details["phase"] == "total"
        assert client.transport.connections == 0  # type: ignore[attr-defined]
        assert server.wait_until(lambda s: s.open_connections == 0)


@given(total=st.floats(min_value=1e-3, max_value=1e4), elapsed=st.floats(min_value=0, max_value=2e4),
       step=st.one_of(st.none(), st.floats(min_value=1e-3, max_value=1e4)))
def test_each_step_gets_the_smaller_of_its_limit_and_the_time_left(
    total: float, elapsed: float, step: float | None
) -> None:
    with mock.patch("muxi_transports._deadline.time.monotonic", return_value=1000.0):
        deadline = Deadline(total)
    with mock.patch("muxi_transports._deadline.time.monotonic", return_value=1000.0 + elapsed):
        left = deadline.at - (1000.0 + elapsed)
        if left <= 0:
            with pytest.raises(PhaseTimeout) as info:
                deadline.limit(step)
            assert info.value.phase == "total"
            return
        limit, cut = deadline.limit(step)
    assert limit <= left and (step is None or limit <= step)
    assert cut == (step is None or step > left)
    assert limit == (left if cut else step)


@given(total=st.one_of(st.none(), st.floats(min_value=1e-3, max_value=1e4)),
       elapsed=st.floats(min_value=0, max_value=2e4),
       step=st.one_of(st.none(), st.floats(min_value=1e-3, max_value=1e4)),
       phase=st.sampled_from(["connect", "read", "write"]))
def test_a_step_that_times_out_is_total_exactly_when_the_deadline_set_its_limit(
    total: float | None, elapsed: float, step: float | None, phase: str
) -> None:
    with mock.patch("muxi_transports._deadline.time.monotonic", return_value=1000.0):
        deadline = None if total is None else Deadline(total)
    with mock.patch("muxi_transports._deadline.time.monotonic", return_value=1000.0 + elapsed):
        if deadline is not None and deadline.at <= 1000.0 + elapsed:
            with pytest.raises(PhaseTimeout, match="total"):
                cut_to(deadline, step)
            return
        limit, scope = cut_to(deadline, step)
    cut = deadline is not None and limit != step  # the time left, not the step's own limit
    with pytest.raises(PhaseTimeout) as info, scope:
        raise PhaseTimeout(phase)
    assert info.value.phase == ("total" if cut else phase)
    with pytest.raises(ValueError, match="unrelated"), scope:
        raise ValueError("unrelated")  # anything else passes through unchanged
    if deadline is None:
        assert limit == step
