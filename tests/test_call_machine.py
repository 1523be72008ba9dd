"""The call machine on its own: events in, instructions out, no I/O at all (docs/drivers.md)."""

from __future__ import annotations

import builtins
import json
import logging
import ssl
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import muxi_proto.call as call_module
from muxi_proto.call import (
    READ_BODY,
    CallMachine,
    CallSettings,
    CallState,
    Done,
    Fail,
    OpenStream,
    ReadBody,
    Send,
    Sleep,
    transport_error,
)
from muxi_proto.config import FormationConfig, ServerConfig
from muxi_proto.endpoints import FormationAPI, ServerAPI
from muxi_proto.errors import (
    CallStateError,
    ConnectionError,
    LimitExceededError,
    MuxiError,
    NotFoundError,
    ProtocolError,
    ResponseDecodeError,
    ServerError,
    TimeoutError,
    TLSError,
)
from muxi_proto.http import Headers, Request
from muxi_proto.requests import Auth, Operation, RequestBuilder
from muxi_proto.retry import RetryPolicy
from muxi_proto.specs import Spec
from muxi_proto.streams import ChatStream

JSON: Headers = (("Content-Type", "application/json"),)
SSE: Headers = (("Content-Type", "text/event-stream"),)
NOW = 1_800_000_000.0
FORMATION = FormationConfig(url="http://127.0.0.1:9", admin_key="adm_secret_key", client_key="cli_secret_key")
SERVER = ServerConfig("http://127.0.0.1:9", "MUXI_0123456789abcdef", "sk_" + "c" * 64)


def envelope(data: Any) -> bytes:
    return json.dumps({"object": "x", "success": True, "request": {"id": "req_1"}, "timestamp": 5,
                       "data": data}).encode()


def keys() -> Iterator[str]:
    n = 0
    while True:
        n += 1
        yield f"key-{n}"


def api(max_retries: int = 3, *, random: float = 0.5, max_body: int = 1 << 20, config: Any = FORMATION) -> Any:
    ids = keys()
    cls = FormationAPI if isinstance(config, FormationConfig) else ServerAPI
    return cls(config, retry_policy=RetryPolicy(max_retries=max_retries, random=lambda: random),
               clock=lambda: NOW, max_body=max_body, new_id=lambda: next(ids))


def run_ok(machine: CallMachine[Any], status: int, body: bytes, headers: Headers = JSON) -> Any:
    step = machine.head(status, headers)
    assert step is READ_BODY
    assert machine.data(body) is READ_BODY
    return machine.end()


# --- the happy paths ------------------------------------------------------------------------------------


def test_a_json_call_from_start_to_result() -> None:
    machine = api().get_agents()
    assert machine.state is CallState.IDLE
    send = machine.start()
    assert isinstance(send, Send) and send.request.method == "GET"
    assert send.request.url == "http://127.0.0.1:9/v1/agents"
    assert send.request.header("X-MUXI-ADMIN-KEY") == "adm_secret_key"
    assert machine.state is CallState.SENDING and machine.attempt == 1
    assert machine.head(200, JSON) is READ_BODY
    body = envelope({"agents": [], "count": 0})
    assert machine.data(body[:10]) is READ_BODY and machine.data(body[10:]) is READ_BODY
    done = machine.end()
    assert isinstance(done, Done)
    assert done.result == {"agents": [], "count": 0, "request_id": "req_1", "timestamp": 5}
    assert machine.state is CallState.DONE


def test_text_bytes_and_none_answers() -> None:
    server = api(config=SERVER)
    m = server.ping()
    m.start()
    text = (("Content-Type", "text/plain"),)
    assert run_ok(m, 200, b"pong", text) == Done("pong", 200, text)
    m = server.download_formation("bot-1")
    m.start()
    assert run_ok(m, 200, b"PK\x03\x04", ()) == Done(b"PK\x03\x04", 200, ())
    m = api().delete_secret("K")
    m.start()
    assert run_ok(m, 200, envelope({"deleted": True})) == Done(None, 200, JSON)


def test_a_stream_is_handed_to_its_machine() -> None:
    machine = api().chat_stream({"message": "hi"}, user_id="u")
    send = machine.start()
    assert send.request.header("Accept") == "text/event-stream" and send.request.stream
    step = machine.head(200, (("Content-Type", "text/event-stream; charset=utf-8"),))
    assert isinstance(step, OpenStream) and isinstance(step.decoder, ChatStream)
    assert machine.state is CallState.STREAMING
    events = step.decoder.feed(b'data: {"token":{"type":"content","content":"Hi"}}\n\nevent: done\ndata: {}\n\n')
    assert [e.event for e in events] == ["message", "done"] and step.decoder.finished
    with pytest.raises(CallStateError):
        machine.data(b"more")  # the stream machine owns the body now


def test_a_stream_call_that_gets_json_fails_with_a_decode_error() -> None:
    machine = api().chat_stream({"message": "hi"})
    machine.start()
    fail = run_ok(machine, 200, b'{"ok": true}')
    assert isinstance(fail, Fail) and isinstance(fail.error, ResponseDecodeError)


def test_an_error_before_the_stream_is_the_typed_error() -> None:
    machine = api().chat_stream({"message": "hi"})
    machine.start()
    body = json.dumps({"success": False, "error": {"code": "UNAUTHORIZED", "message": "no"}}).encode()
    fail = run_ok(machine, 401, body)
    assert isinstance(fail, Fail) and fail.error.code == "UNAUTHORIZED" and fail.error.status_code == 401


# --- retries --------------------------------------------------------------------------------------------


def test_a_503_with_retry_after_is_retried_after_that_delay_re_signed_with_the_same_key() -> None:
    clock = [NOW]
    server = ServerAPI(SERVER, retry_policy=RetryPolicy(max_retries=2), clock=lambda: clock[0])
    machine = server.status()
    first = machine.start().request
    sleep = machine.head(503, (("Retry-After", "7"),))
    assert sleep == Sleep(7.0) and machine.state is CallState.WAITING
    clock[0] += 7
    second = machine.resume().request
    assert machine.attempt == 2
    assert first.header("X-Muxi-Idempotency-Key") == second.header("X-Muxi-Idempotency-Key")
    assert first.header("Authorization") != second.header("Authorization")
    assert f"timestamp={int(NOW) + 7}," in (second.header("Authorization") or "")


def test_retry_after_is_capped_and_an_http_date_is_read() -> None:
    machine = api().get_agents()
    machine.start()
    assert machine.head(429, (("Retry-After", "3600"),)) == Sleep(60.0)
    machine.resume()
    assert machine.head(503, (("Retry-After", "Fri, 15 Jan 2027 08:00:30 GMT"),)) == Sleep(30.0)  # NOW + 30 s


def test_a_post_that_may_have_run_is_not_replayed() -> None:
    machine = api().create_secret("K", "V")  # POST /secrets: not deduplicated by the runtime
    machine.start()
    fail = run_ok(machine, 503, b'{"error": "busy"}')
    assert isinstance(fail, Fail) and isinstance(fail.error, ServerError)
    machine = api().create_secret("K", "V")
    machine.start()
    fail = machine.failed(ConnectionError(message="reset", details={"phase": "read"}))
    assert isinstance(fail, Fail) and fail.error.message == "reset"


def test_a_post_that_never_left_is_retried() -> None:
    machine = api().create_secret("K", "V")
    machine.start()
    assert machine.failed(ConnectionError(message="refused", details={"phase": "connect"})) == Sleep(0.5)
    assert isinstance(machine.resume(), Send)


def test_the_deduplicated_posts_are_retried_with_their_key() -> None:
    machine = api().chat({"message": "hi"}, user_id="u")
    key = machine.start().request.header("X-Muxi-Idempotency-Key")
    assert isinstance(machine.head(502, ()), Sleep)
    assert machine.resume().request.header("X-Muxi-Idempotency-Key") == key


def test_failures_that_are_not_connection_errors_are_not_retried() -> None:
    machine = api().get_agents()
    machine.start()
    fail = machine.failed(LimitExceededError(message="too big"))
    assert isinstance(fail, Fail) and isinstance(fail.error, LimitExceededError)


def test_retries_stop_after_max_retries() -> None:
    machine = api(max_retries=2).get_agents()
    machine.start()
    assert isinstance(machine.head(500, ()), Sleep)
    machine.resume()
    assert isinstance(machine.head(500, ()), Sleep)
    machine.resume()
    assert machine.head(500, ()) is READ_BODY
    fail = machine.end()
    assert isinstance(fail, Fail) and isinstance(fail.error, ServerError) and machine.attempt == 3


def test_a_retry_policy_without_a_count_takes_the_configs() -> None:
    cfg = FormationConfig(url="http://127.0.0.1:9", admin_key="a", max_retries=2)
    assert FormationAPI(cfg, retry_policy=RetryPolicy(initial_backoff=0.1)).settings.retry.max_retries == 2
    assert FormationAPI(cfg, retry_policy=RetryPolicy(max_retries=0)).settings.retry.max_retries == 0
    assert FormationAPI(cfg).settings.retry.max_retries == 2


# --- fallback, limits -----------------------------------------------------------------------------------


def test_set_secret_falls_back_to_create_as_a_new_request() -> None:
    machine = api().set_secret("NEW", "v")
    update = machine.start().request
    assert (update.method, update.url.rsplit("/v1", 1)[1]) == ("PUT", "/secrets/NEW")
    body = json.dumps({"success": False, "error": {"code": "SECRET_NOT_FOUND", "message": "x"}}).encode()
    machine.head(404, JSON)
    machine.data(body)
    create = machine.end()
    assert isinstance(create, Send)
    assert (create.request.method, create.request.url.rsplit("/v1", 1)[1]) == ("POST", "/secrets")
    assert json.loads(create.request.body) == {"key": "NEW", "value": "v"}
    assert create.request.header("X-Muxi-Idempotency-Key") != update.header("X-Muxi-Idempotency-Key")
    assert machine.attempt == 1
    assert run_ok(machine, 201, envelope({"key": "NEW"})) == Done(None, 201, JSON)


def test_the_body_limit() -> None:
    machine = api(max_body=10).get_agents()
    machine.start()
    machine.head(200, JSON)
    assert machine.data(b"12345") is READ_BODY
    fail = machine.data(b"678901")
    assert isinstance(fail, Fail) and isinstance(fail.error, LimitExceededError)
    assert machine.state is CallState.FAILED


# --- bad input gets a typed error and changes nothing ----------------------------------------------------


EVENTS = {
    "start": lambda m: m.start(),
    "resume": lambda m: m.resume(),
    "head": lambda m: m.head(200, JSON),
    "data": lambda m: m.data(b"{}"),
    "end": lambda m: m.end(),
    "failed": lambda m: m.failed(ConnectionError(message="x")),
}
ALLOWED = {
    CallState.IDLE: {"start"},
    CallState.SENDING: {"head", "failed"},
    CallState.READING: {"data", "end", "failed"},
    CallState.WAITING: {"resume"},
    CallState.STREAMING: set(),
    CallState.DONE: set(),
    CallState.FAILED: set(),
}


def machine_in(state: CallState) -> CallMachine[Any]:
    m = api().chat_stream({"message": "x"}) if state is CallState.STREAMING else api().get_agents()
    if state is CallState.IDLE:
        return m
    m.start()
    if state is CallState.WAITING:
        m.head(503, ())
    elif state is CallState.READING:
        m.head(200, JSON)
    elif state is CallState.STREAMING:
        m.head(200, SSE)
    elif state is CallState.DONE:
        run_ok(m, 200, envelope({}))
    elif state is CallState.FAILED:
        run_ok(m, 404, b"{}")
    assert m.state is state
    return m


@pytest.mark.parametrize("state", list(CallState))
@pytest.mark.parametrize("event", sorted(EVENTS))
def test_every_event_out_of_order_is_refused_and_changes_nothing(state: CallState, event: str) -> None:
    m = machine_in(state)
    if event in ALLOWED[state]:
        EVENTS[event](m)
        return
    before = (m.state, m.attempt, m.request)
    with pytest.raises(CallStateError) as info:
        EVENTS[event](m)
    assert info.value.details == {"state": state.value, "event": event}
    assert "docs/drivers.md" in info.value.message
    assert (m.state, m.attempt, m.request) == before


def test_a_head_twice_and_a_body_after_the_result() -> None:
    m = api().get_agents()
    m.start()
    m.head(200, JSON)
    with pytest.raises(CallStateError):
        m.head(200, JSON)
    m.data(envelope({}))
    assert isinstance(m.end(), Done)
    with pytest.raises(CallStateError):
        m.data(b"late")


@pytest.mark.parametrize("status", [99, 1000, True, "200", 200.0, None])
def test_a_status_that_is_not_http_is_refused(status: Any) -> None:
    m = api().get_agents()
    m.start()
    with pytest.raises(CallStateError):
        m.head(status, JSON)
    assert m.state is CallState.SENDING


def test_cancellation_is_not_a_transport_failure() -> None:
    m = api().get_agents()
    m.start()
    with pytest.raises(CallStateError):
        m.failed(KeyboardInterrupt())


# --- foreign exceptions are typed by the phase and class ----------------------------------------------


@pytest.mark.parametrize(("exc", "cls"), [
    (builtins.TimeoutError("slow"), TimeoutError),
    (OSError(111, "refused"), ConnectionError),
    (ssl.SSLCertVerificationError(1, "bad cert"), TLSError),
    (ssl.SSLError(1, "bad record"), TLSError),
    (ValueError("malformed header line"), ProtocolError),
])
def test_foreign_exceptions_become_typed_errors(exc: Exception, cls: type[MuxiError]) -> None:
    request = api().get_agents().start().request
    mapped = transport_error(exc, request, phase="connect")
    assert type(mapped) is cls
    assert mapped.details["phase"] == "connect" and mapped.__cause__ is exc
    assert "GET http://127.0.0.1:9/v1/agents" in mapped.message


def test_foreign_exception_texts_lose_the_credentials() -> None:
    request = api().get_agents().start().request
    mapped = transport_error(ValueError("bad header X-MUXI-ADMIN-KEY: adm_secret_key"), request, phase="send")
    assert "adm_secret_key" not in mapped.message and "***" in mapped.message


def test_failed_takes_a_foreign_exception_and_its_phase() -> None:
    m = api().create_secret("K", "V")
    m.start()
    assert isinstance(m.failed(OSError(111, "refused"), phase="connect"), Sleep)
    m.resume()
    fail = m.failed(OSError(104, "reset"), phase="read")
    assert isinstance(fail, Fail) and isinstance(fail.error, ConnectionError)


# --- logging and the SDK notice ---------------------------------------------------------------------


def test_debug_records_come_from_the_machine_without_secrets(caplog: pytest.LogCaptureFixture) -> None:
    cfg = FormationConfig(url="http://127.0.0.1:9", admin_key="adm_secret_key", debug=True, max_retries=1)
    m = FormationAPI(cfg, retry_policy=RetryPolicy(random=lambda: 0.5)).get_agents()
    with caplog.at_level(logging.DEBUG, logger="muxi"):
        m.start()
        m.head(503, ())
        m.resume()
        run_ok(m, 200, envelope({}))
    messages = [r.getMessage() for r in caplog.records]
    assert any("GET http://127.0.0.1:9/v1/agents -> 503" in t and "attempt 1" in t for t in messages)
    assert any(t.startswith("retrying GET") and "in 0.50s (503)" in t for t in messages)
    assert any("-> 200" in t and "attempt 2" in t for t in messages)
    assert not any("adm_secret_key" in t for t in messages)


@pytest.mark.parametrize(("env", "warned"), [(None, True), ("0", False), ("false", False), ("1", True)])
def test_the_sdk_notice_once_per_process_and_its_opt_out(
    env: str | None, warned: bool, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(call_module, "_notice_given", False)
    if env is None:
        monkeypatch.delenv("MUXI_SDK_VERSION_NOTIFICATION", raising=False)
    else:
        monkeypatch.setenv("MUXI_SDK_VERSION_NOTIFICATION", env)
    via_server = FormationConfig(server_url="http://127.0.0.1:9", formation_id="bot-1", admin_key="a")
    with caplog.at_level(logging.WARNING, logger="muxi"):
        for config in (FORMATION, via_server, via_server, via_server):  # a runtime reached directly: no notice
            m = FormationAPI(config).get_agents()
            m.start()
            m.head(200, (*JSON, ("X-Muxi-SDK-Latest", "99.20990101.0")))
    assert len([r for r in caplog.records if "newer SDK" in r.getMessage()]) == (1 if warned else 0)


# --- properties of the retry and fallback paths ---------------------------------------------------------

OUTCOMES = st.one_of(
    st.sampled_from([200, 201, 204, 400, 401, 404, 408, 409, 422, 429, 500, 502, 503, 504]).map(
        lambda s: ("status", s)),
    st.tuples(st.just("fail"), st.sampled_from(["connect", "pool", "read", "write", "send", "total", None]),
              st.booleans()),
)
OPERATIONS = st.builds(
    lambda method, idem: Operation(method, "/things", Auth.ADMIN, idempotent_route=idem),
    st.sampled_from(["GET", "DELETE", "POST", "PUT"]), st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(op=OPERATIONS, outcomes=st.lists(OUTCOMES, min_size=1, max_size=8), max_retries=st.integers(0, 4),
       retry_after=st.one_of(st.none(), st.integers(0, 500)))
def test_retry_property(op: Operation, outcomes: list[Any], max_retries: int, retry_after: int | None) -> None:
    ids = keys()
    settings_ = CallSettings(RequestBuilder(FORMATION, new_id=lambda: next(ids)),
                             RetryPolicy(max_retries=max_retries, random=lambda: 1.0), clock=lambda: NOW)
    machine: CallMachine[Any] = CallMachine(Spec(op), settings_)
    sends = [machine.start()]
    replay_safe = op.method in ("GET", "DELETE") or op.idempotent_route
    for outcome in outcomes:
        if outcome[0] == "status":
            status = outcome[1]
            headers: Headers = (("Retry-After", str(retry_after)),) if retry_after is not None else ()
            step: Any = machine.head(status, headers)
            retryable = status in (408, 429, 500, 502, 503, 504) and replay_safe
            if retryable and machine.attempt <= max_retries:
                assert isinstance(step, Sleep)
                expected = min(float(retry_after), 60.0) if retry_after is not None else min(
                    0.5 * 2 ** (machine.attempt - 1), 30.0) * 1.1
                assert step.seconds == pytest.approx(expected)
            else:
                assert step is READ_BODY
                machine.data(b"{}")
                final = machine.end()
                assert isinstance(final, Done) is (200 <= status <= 299)
                if isinstance(final, Fail):
                    assert final.error.status_code == status
                break
        else:
            _, phase, timeout = outcome
            error: MuxiError = (TimeoutError if timeout else ConnectionError)(
                message="x", details={} if phase is None else {"phase": phase})
            step = machine.failed(error)
            never_sent = phase in ("connect", "pool")
            if (replay_safe or never_sent) and machine.attempt <= max_retries:
                assert isinstance(step, Sleep)
            else:
                assert isinstance(step, Fail) and step.error is error
                break
        sends.append(machine.resume())
    assert len(sends) <= max_retries + 1
    assert len({s.request.header("X-Muxi-Idempotency-Key") for s in sends}) == 1
    assert machine.state in (CallState.DONE, CallState.FAILED, CallState.SENDING)


@settings(max_examples=100, deadline=None)
@given(update_status=st.sampled_from([200, 404, 409, 500, 503]), create_status=st.sampled_from([201, 409, 500]))
def test_fallback_property(update_status: int, create_status: int) -> None:
    machine = api(max_retries=0).set_secret("K", "V")
    sends = [machine.start()]
    step = run_ok(machine, update_status, envelope({}) if update_status < 300 else b"{}")
    if update_status == 404:  # only a missing secret falls back, and only once
        assert isinstance(step, Send)
        sends.append(step)
        step = run_ok(machine, create_status, envelope({}) if create_status < 300 else b"{}")
        assert isinstance(step, Done) is (create_status < 300)
    else:
        assert isinstance(step, Done) is (update_status < 300)
        if isinstance(step, Fail):
            assert not isinstance(step.error, NotFoundError)
    assert [s.request.method for s in sends] == ["PUT", "POST"][: len(sends)]
    assert len({s.request.header("X-Muxi-Idempotency-Key") for s in sends}) == len(sends)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(sorted(EVENTS)), max_size=12))
def test_any_event_sequence_either_follows_the_table_or_is_refused(events: list[str]) -> None:
    m = api().get_agents()
    for event in events:
        state = m.state
        if event in ALLOWED[state]:
            EVENTS[event](m)
        else:
            with pytest.raises(CallStateError):
                EVENTS[event](m)
            assert m.state is state


def test_instructions_are_values() -> None:
    request = Request("GET", "http://h/")
    assert Send(request) == Send(request) and Sleep(1.0) == Sleep(1.0) and Done(1) == Done(1)
    assert isinstance(READ_BODY, ReadBody)
    with pytest.raises(AttributeError):
        Sleep(1.0).seconds = 2.0  # type: ignore[misc]


def test_open_stream_events_types_the_chunk_iterators_failures_and_closes_once() -> None:
    closed: list[bool] = []

    def chunks() -> Iterator[bytes]:
        yield b'data: {"token":{"type":"content","content":"Hi"}}\n\n'
        raise ConnectionResetError(104, "reset by peer")

    machine = api().chat_stream({"message": "x"})
    machine.start()
    step = machine.head(200, SSE)
    assert isinstance(step, OpenStream) and step.request is machine.request
    events = step.events(chunks(), close=lambda: closed.append(True))
    assert next(events).event == "message"
    with pytest.raises(ConnectionError) as info:
        next(events)
    assert info.value.details["phase"] == "body" and isinstance(info.value.__cause__, ConnectionResetError)
    assert closed == [True]
    step2 = api().chat_stream({"message": "x"})
    step2.start()
    opened = step2.head(200, SSE)
    assert isinstance(opened, OpenStream)
    from muxi_proto.errors import StreamTruncatedError

    with pytest.raises(StreamTruncatedError):
        list(opened.events([b"data: {}\n\n"]))  # ends without its done event
