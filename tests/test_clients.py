"""Client behaviour over a mock transport: retries, errors, streams, logging, construction, closing."""

from __future__ import annotations

import io
import itertools
import json
import logging
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import muxi_proto.call as call_module
from muxi_proto import auth
from muxi_proto.bundle import pack_directory
from muxi_proto.config import FormationConfig, ServerConfig
from muxi_proto.errors import (
    AuthenticationError,
    BundleError,
    ConfigurationError,
    ConflictError,
    ConnectionError,
    NotFoundError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
    StreamError,
    StreamTruncatedError,
    ValidationError,
)
from muxi_proto.http import Request, Response
from muxi_proto.retry import RetryPolicy
from muxi_proto.streams import ChatAnswer
from muxi_testing.envelopes import control_error, control_success, runtime_error, runtime_success
from muxi_transports import (
    AsyncFormationClient,
    AsyncMockTransport,
    AsyncServerClient,
    FormationClient,
    MockTransport,
    ServerClient,
    StreamingResponse,
)

KEY_ID, SECRET = "MUXI_0123456789abcdef", "sk_" + "c" * 64
ADMIN, CLIENT = "adm_" + "d" * 20, "cli_" + "e" * 20
FID = "demo-formation"
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "formation"
JSON_H = (("Content-Type", "application/json"),)
SSE_H = (("Content-Type", "text/event-stream"),)


def ok(data: Any) -> Response:
    return Response(200, JSON_H, json.dumps(control_success(data)).encode())


def rt_ok(data: Any, request_id: str = "req_1") -> Response:
    return Response(200, JSON_H, json.dumps(runtime_success(data, request_id=request_id, timestamp_ms=1)).encode())


def sse(*frames: bytes) -> StreamingResponse:
    return StreamingResponse(200, SSE_H, list(frames))


def scripted(*answers: Response | StreamingResponse | Exception) -> Callable[[Request], Any]:
    it = iter(answers)

    def handler(_: Request) -> Any:
        answer = next(it)
        if isinstance(answer, Exception):
            raise answer
        return answer
    return handler


class Clock:
    """A clock that advances one second per reading (so each attempt is signed at a new time)."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        self.now += 1
        return self.now


def server(transport: Any, *, retries: int = 0, sleeps: list[float] | None = None, **kw: Any) -> ServerClient:
    record = sleeps if sleeps is not None else []
    return ServerClient(ServerConfig("http://127.0.0.1:7890", KEY_ID, SECRET, max_retries=retries, **kw),
                        transport=transport, clock=Clock(), sleep=record.append,
                        retry_policy=RetryPolicy(max_retries=retries, random=lambda: 0.5))


def formation(transport: Any, *, retries: int = 0, sleeps: list[float] | None = None, **kw: Any) -> FormationClient:
    record = sleeps if sleeps is not None else []
    cfg = FormationConfig(server_url="http://127.0.0.1:7890", formation_id=FID, admin_key=ADMIN,
                          client_key=CLIENT, max_retries=retries, **kw)
    return FormationClient(cfg, transport=transport, clock=Clock(), sleep=record.append,
                           retry_policy=RetryPolicy(max_retries=retries, random=lambda: 0.5))


def refused() -> ConnectionError:
    return ConnectionError(message="refused", details={"phase": "connect"})


def reset() -> ConnectionError:
    return ConnectionError(message="reset", details={})


# --- retries ---------------------------------------------------------------------------------------

def test_get_is_retried_with_backoff_same_key_fresh_signature() -> None:
    sleeps: list[float] = []
    t = MockTransport(scripted(Response(503), Response(502), ok({"formations": []})))
    assert server(t, retries=3, sleeps=sleeps).list_formations() == {"formations": []}
    assert len(t.requests) == 3
    assert sleeps == [0.5, 1.0]
    keys = {r.header("X-Muxi-Idempotency-Key") for r in t.requests}
    assert len(keys) == 1
    stamps = [r.header("Authorization") for r in t.requests]
    assert len(set(stamps)) == 3
    for r in t.requests:  # each attempt is validly signed for its own time
        ts = int(r.header("Authorization").split("timestamp=")[1].split(",")[0])  # type: ignore[union-attr]
        auth.verify_request(r.header("Authorization"), "GET", r.path, key_id=KEY_ID, secret_key=SECRET, now=ts)


def test_retry_after_seconds_and_date_are_honoured() -> None:
    sleeps: list[float] = []
    t = MockTransport(scripted(
        Response(429, (("Retry-After", "3"),), b""),
        Response(503, (("Retry-After", "Fri, 15 Jan 2027 08:00:10 GMT"),), b""),
        ok({})))
    c = ServerClient(ServerConfig("http://h", KEY_ID, SECRET), transport=t,
                     clock=lambda: 1_800_000_000.0,
                     sleep=sleeps.append, retry_policy=RetryPolicy(max_retries=2))
    # 2027-01-15T08:00:00Z is 1800000000: the date is ten seconds ahead of the clock.
    c.status()
    assert sleeps == [3.0, 10.0]


def test_retries_exhausted_raise_the_last_error_with_retry_after() -> None:
    t = MockTransport(scripted(*[Response(429, (("Retry-After", "1"),), b'{"message":"slow"}')] * 3))
    with pytest.raises(RateLimitError) as info:
        server(t, retries=2).status()
    assert info.value.retry_after == 1.0 and len(t.requests) == 3


def test_unsafe_post_is_not_retried_on_5xx_or_after_sending() -> None:
    t = MockTransport(scripted(Response(503, JSON_H, json.dumps(control_error(503, "busy")).encode())))
    with pytest.raises(ServerError):
        server(t, retries=5).start_formation(FID)
    assert len(t.requests) == 1
    t = MockTransport(scripted(reset()))
    with pytest.raises(ConnectionError):
        server(t, retries=5).start_formation(FID)
    assert len(t.requests) == 1


def test_post_that_never_left_is_retried() -> None:
    t = MockTransport(scripted(refused(), refused(), ok({"status": "running"})))
    assert server(t, retries=2).start_formation(FID) == {"status": "running"}
    assert len(t.requests) == 3


def test_idempotent_post_routes_are_retried_with_the_same_key() -> None:
    t = MockTransport(scripted(Response(500), reset(), rt_ok({"message": {"content": "hi"}})))
    result = formation(t, retries=2).chat({"message": "hello"}, user_id="u1")
    assert result["message"]["content"] == "hi"
    assert len({r.header("X-Muxi-Idempotency-Key") for r in t.requests}) == 1
    assert len(t.requests) == 3


def test_no_retries_by_default() -> None:
    t = MockTransport(scripted(Response(503)))
    with pytest.raises(ServerError):
        server(t).status()
    assert len(t.requests) == 1


def test_delete_is_retried_on_connection_loss() -> None:
    t = MockTransport(scripted(reset(), rt_ok({})))
    assert formation(t, retries=1).delete_secret("K") is None
    assert len(t.requests) == 2


@pytest.mark.anyio
async def test_async_retries_sleep_through_the_transport() -> None:
    slept: list[float] = []

    class Recording(AsyncMockTransport):
        async def sleep(self, seconds: float) -> None:
            slept.append(seconds)

    t = Recording(scripted(Response(503), refused(), ok({"ok": 1})))
    c = AsyncServerClient(ServerConfig("http://h", KEY_ID, SECRET), transport=t,
                          retry_policy=RetryPolicy(max_retries=2, random=lambda: 0.5))
    assert await c.status() == {"ok": 1}
    assert slept == [0.5, 1.0]
    assert len({r.header("X-Muxi-Idempotency-Key") for r in t.requests}) == 1


# --- errors --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("status", "cls"), [(400, ValidationError), (401, AuthenticationError),
                                             (404, NotFoundError), (409, ConflictError), (422, ValidationError),
                                             (500, ServerError), (503, ServerError)])
def test_typed_errors_from_both_envelopes(status: int, cls: type[Exception]) -> None:
    t = MockTransport(scripted(Response(status, JSON_H, json.dumps(control_error(status, "control says no")).encode())))
    with pytest.raises(cls) as info:
        server(t).list_formations()
    assert info.value.message == "control says no"  # type: ignore[attr-defined]
    body = runtime_error(status, "runtime says no", request_id="req_9", timestamp_ms=1, code="HANDLER_CODE")
    t = MockTransport(scripted(Response(status, JSON_H, json.dumps(body).encode())))
    with pytest.raises(cls) as info:
        formation(t).get_agents()
    err: Any = info.value
    assert (err.message, err.code, err.request_id, err.status_code) == ("runtime says no", "HANDLER_CODE", "req_9",
                                                                       status)


def test_missing_key_fails_before_sending() -> None:
    t = MockTransport(scripted())
    c = FormationClient(FormationConfig(url="http://h", client_key=CLIENT), transport=t)
    with pytest.raises(ConfigurationError, match="admin_key"):
        c.get_agents()
    assert t.requests == []


def test_get_secret_is_answered_from_the_list() -> None:
    t = MockTransport(scripted(rt_ok({"secrets": {"A": "a***"}}), rt_ok({"secrets": {"A": "a***"}})))
    c = formation(t)
    assert c.get_secret("A") == {"key": "A", "value": "a***"}
    with pytest.raises(NotFoundError):
        c.get_secret("B")
    assert all(r.method == "GET" and r.path.endswith("/secrets") for r in t.requests)


def test_set_secret_updates_then_creates_when_missing() -> None:
    missing = runtime_error(404, "Secret 'K' not found", code="SECRET_NOT_FOUND", request_id="r", timestamp_ms=1)
    t = MockTransport(scripted(Response(404, JSON_H, json.dumps(missing).encode()),
                               Response(201, JSON_H, json.dumps(runtime_success({}, request_id="r2",
                                                                                timestamp_ms=1)).encode())))
    assert formation(t).set_secret("K", "v") is None
    (put, post) = t.requests
    assert (put.method, put.path, json.loads(put.body)) == ("PUT", f"/api/{FID}/v1/secrets/K", {"value": "v"})
    assert (post.method, post.path, json.loads(post.body)) == ("POST", f"/api/{FID}/v1/secrets",
                                                              {"key": "K", "value": "v"})
    assert put.header("X-Muxi-Idempotency-Key") != post.header("X-Muxi-Idempotency-Key")


def test_set_secret_existing_is_one_request() -> None:
    t = MockTransport(scripted(rt_ok({"key": "K"})))
    formation(t).set_secret("K", "v")
    assert len(t.requests) == 1


def test_non_json_success_body_is_a_typed_error() -> None:
    t = MockTransport(scripted(Response(200, (("Content-Type", "text/html"),), b"<html>proxy</html>")))
    with pytest.raises(ResponseDecodeError):
        formation(t).get_agents()


def test_body_limit() -> None:
    t = MockTransport(scripted(Response(200, JSON_H, b'{"x": "' + b"a" * 2000 + b'"}')))
    c = ServerClient(ServerConfig("http://h", KEY_ID, SECRET), transport=t, max_body=1000)
    with pytest.raises(Exception) as info:
        c.status()
    assert type(info.value).__name__ == "LimitExceededError"
    assert t.open_responses == 0


# --- streams -------------------------------------------------------------------------------------------

TOKENS = [
    b": keepalive\n\n",
    b'data: {"token":{"type":"progress","content":"Thinking...","request_id":"req_7","session_id":"s1"}}\n\n',
    b'data: {"token":{"type":"content","content":"Hel","request_id":"req_7","session_id":"s1"}}\n\n',
    b'data: {"token":{"type":"content","content":"lo","request_id":"req_7","session_id":"s1"}}\n\n',
    b'data: {"token":{"type":"completed","content":"Hello!","request_id":"req_7","session_id":"s1"}}\n\n',
    b'event: ui\ndata: {"ui":[{"type":"options","options":["a"]}]}\n\n',
    b'event: done\ndata: {"finished":true}\n\n',
]


def test_chat_stream_events_tokens_and_text() -> None:
    t = MockTransport(lambda r: sse(*TOKENS))
    c = formation(t)
    events = list(c.chat_stream({"message": "hi"}, user_id="u"))
    assert [e["event"] for e in events] == ["message"] * 4 + ["ui", "done"]
    assert events[1] == {"event": "message", "data": TOKENS[2][6:-2].decode()}  # official dict shape
    assert [tok.type for tok in c.chat_stream({"message": "hi"}).tokens()] == [
        "progress", "content", "content", "completed"]
    answer = ChatAnswer()
    assert list(c.chat_stream({"message": "hi"}).text_deltas(answer)) == ["Hel", "lo", "!"]
    assert answer.text == "Hello!" and answer.ui == [{"type": "options", "options": ["a"]}]
    assert c.chat_stream({"message": "hi"}).text() == "Hello!"
    assert t.open_responses == 0


def test_stream_error_before_the_stream_is_raised_at_call_time() -> None:
    body = runtime_error(401, "A valid client API key is required.", request_id="r", timestamp_ms=1)
    t = MockTransport(scripted(Response(401, JSON_H, json.dumps(body).encode())))
    with pytest.raises(AuthenticationError):
        formation(t).chat_stream({"message": "hi"})
    assert t.open_responses == 0


def test_error_event_inside_a_chat_stream() -> None:
    t = MockTransport(lambda r: sse(TOKENS[1], b'event: error\ndata: {"error":"model exploded","type":"LLMError"}\n\n'))
    stream = formation(t).chat_stream({"message": "hi"})
    first = next(stream)
    assert first.event == "message"
    with pytest.raises(StreamError) as info:
        next(stream)
    assert info.value.message == "model exploded" and info.value.code == "LLMError"
    assert t.open_responses == 0


def test_truncated_chat_stream() -> None:
    t = MockTransport(lambda r: sse(*TOKENS[:3]))
    with pytest.raises(StreamTruncatedError):
        list(formation(t).chat_stream({"message": "hi"}))
    assert t.open_responses == 0


def test_deployment_stream_error_event_is_typed() -> None:
    t = MockTransport(lambda r: sse(b'event: error\ndata: {"error":"NotFound","message":"no such formation",'
                                    b'"stage":"lookup"}\n\n'))
    with pytest.raises(NotFoundError) as info:
        list(server(t).start_formation_stream("ghost"))
    assert info.value.code == "NotFound" and info.value.details["stage"] == "lookup"


def test_deployment_stream_progress_then_complete() -> None:
    t = MockTransport(lambda r: sse(b'event: progress\ndata: {"stage":"extract","message":"x","progress":50}\n\n',
                                    b'event: complete\ndata: {"formation_id":"f","status":"running"}\n\n',
                                    b"event: progress\ndata: {}\n\n"))  # after the terminal event: ignored
    events = list(server(t).restart_formation_stream(FID))
    assert [e.event for e in events] == ["progress", "complete"]
    assert events[0].json()["progress"] == 50


def test_stream_that_is_not_an_event_stream() -> None:
    t = MockTransport(scripted(ok({"status": "running"})))
    with pytest.raises(ResponseDecodeError, match="expected an event stream"):
        server(t).start_formation_stream(FID)


def test_breaking_out_of_a_stream_closes_it() -> None:
    def endless() -> Iterator[bytes]:
        for i in itertools.count():
            yield f'event: log\ndata: {{"line":"{i}"}}\n\n'.encode()

    t = MockTransport(lambda r: StreamingResponse(200, SSE_H, endless()))
    with server(t).stream_formation_logs(FID) as logs:
        for evt in logs:
            if evt.json()["line"] == "5":
                break
        assert t.open_responses == 1
    assert t.open_responses == 0


@pytest.mark.anyio
async def test_async_chat_stream_and_close() -> None:
    t = AsyncMockTransport(lambda r: sse(*TOKENS))
    c = AsyncFormationClient(FormationConfig(url="http://h", client_key=CLIENT), transport=t)
    stream = await c.chat_stream({"message": "hi"})
    assert [e.event async for e in stream][-1] == "done"
    assert await (await c.chat_stream({"message": "hi"})).text() == "Hello!"
    deltas = [d async for d in (await c.chat_stream({"message": "hi"})).text_deltas()]
    assert deltas == ["Hel", "lo", "!"]
    s = await c.chat_stream({"message": "hi"})
    async with s:
        await s.__anext__()
    assert t.open_responses == 0
    t2 = AsyncMockTransport(lambda r: sse(*TOKENS[:2]))
    c2 = AsyncFormationClient(FormationConfig(url="http://h", client_key=CLIENT), transport=t2)
    with pytest.raises(StreamTruncatedError):
        async for _ in await c2.chat_stream({"message": "hi"}):
            pass


# --- deploy bundles ------------------------------------------------------------------------------------

def test_deploy_from_bytes_tar_path_and_official_dict(tmp_path: Path) -> None:
    data = pack_directory(EXAMPLE, FID)
    tar_path = tmp_path / "bundle.tar.gz"
    tar_path.write_bytes(data)
    t = MockTransport(lambda r: Response(201, JSON_H, json.dumps(control_success({"id": FID})).encode()))
    c = server(t)
    for source in (data, tar_path, str(tar_path), {"path": str(EXAMPLE)}, EXAMPLE):
        assert c.deploy_formation(FID, source) == {"id": FID}
    assert c.deploy_formation(FID, payload=data) == {"id": FID}
    assert {r.body for r in t.requests} == {data}  # packing is reproducible
    for r in t.requests:
        assert (r.method, r.path, r.header("X-Formation-ID"), r.header("X-Formation-Version")) == (
            "POST", "/rpc/formations", FID, "1.0.0")
        with tarfile.open(fileobj=io.BytesIO(r.body), mode="r:gz") as tar:
            assert all(n.split("/")[0] == FID for n in tar.getnames())


def test_deploy_version_mismatch_fails_before_upload() -> None:
    t = MockTransport(scripted())
    with pytest.raises(BundleError):
        server(t).deploy_formation(FID, EXAMPLE, version="9.9.9")
    with pytest.raises(ConfigurationError):
        server(t).deploy_formation(FID)
    assert t.requests == []


# --- logging, version notice, construction, closing -------------------------------------------------------

def test_debug_logs_never_show_secrets(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="muxi")
    t = MockTransport(scripted(Response(503), ok({})))
    server(t, retries=1, debug=True).status()
    f = MockTransport(scripted(rt_ok({})))
    formation(f, debug=True).get_agents()
    text = caplog.text
    assert "GET http://127.0.0.1:7890/rpc/server/status -> 503" in text
    assert "attempt 2" in text and "retrying" in text
    for secret in (SECRET, ADMIN, CLIENT, "signature="):
        assert secret not in text


def test_no_debug_logs_by_default(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MUXI_DEBUG", raising=False)
    caplog.set_level(logging.DEBUG, logger="muxi")
    server(MockTransport(scripted(ok({})))).status()
    assert caplog.text == ""


def test_newer_sdk_warning_once_per_process(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(call_module, "_notice_given", False)
    latest = (("X-Muxi-SDK-Latest", "1.99990101.0"), *JSON_H)
    t = MockTransport(lambda r: Response(200, latest, b'{"success":true,"data":{}}'))
    c = server(t)
    c.status()
    c.status()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "1.99990101.0" in warnings[0].getMessage()


def test_older_sdk_header_gives_no_warning(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(call_module, "_notice_given", False)
    t = MockTransport(lambda r: Response(200, (("X-Muxi-SDK-Latest", "1.20200101.10"),), b"{}"))
    server(t).status()
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]


def test_environment_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUXI_SERVER_URL", "http://127.0.0.1:7890")
    monkeypatch.setenv("MUXI_KEY_ID", KEY_ID)
    monkeypatch.setenv("MUXI_SECRET_KEY", SECRET)
    monkeypatch.setenv("MUXI_FORMATION_ID", FID)
    monkeypatch.setenv("MUXI_CLIENT_KEY", CLIENT)
    t = MockTransport(lambda r: ok({}))
    ServerClient(transport=t).status()
    FormationClient(transport=t).get_triggers()
    assert t.requests[1].url == f"http://127.0.0.1:7890/api/{FID}/v1/triggers"
    assert t.requests[1].header("X-MUXI-CLIENT-KEY") == CLIENT


def test_cfg_and_keywords_together_are_refused() -> None:
    with pytest.raises(ConfigurationError):
        ServerClient(ServerConfig("http://h", "k", "s"), url="http://other")  # type: ignore[call-arg]


def test_closing_closes_only_owned_transports() -> None:
    mine = MockTransport(scripted())
    with ServerClient(ServerConfig("http://h", "k", "s"), transport=mine):
        pass
    assert not mine.closed
    owned = ServerClient(ServerConfig("http://h", "k", "s"))
    owned.close()
    with pytest.raises(ConnectionError, match="transport is closed"):
        owned.status()


def test_public_routes_send_no_credentials() -> None:
    t = MockTransport(lambda r: Response(200, (("Content-Type", "text/plain"),), b"pong")
                      if r.path == "/ping" else Response(200, JSON_H, b'{"success":true,"status":"ok"}'))
    c = server(t)
    assert c.ping() == "pong"
    assert c.health() == {"success": True, "status": "ok"}
    assert all(r.header("Authorization") is None for r in t.requests)
