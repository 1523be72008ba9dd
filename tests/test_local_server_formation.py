"""The local server's formation plane: what the fidelity test's shape comparison does not pin down.

Keys, framing byte for byte, keepalives, held streams, idempotent replays, failing chat scripts.
Every expectation is the real runtime's: the captures in ``tests/fixtures/`` and the recordings in
``tests/fixtures/runtime/`` (the file is named where a test relies on it; docs/protocol.md §8-§12).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from test_local_server_support import (
    Reply,
    admin,
    api,
    client,
    events,
    fixture_json,
    fixture_text,
    open_stream,
    request,
    shape,
)

from muxi_testing import LocalMuxiServer, ScriptedReply


@pytest.fixture
def server() -> Iterator[LocalMuxiServer]:
    with LocalMuxiServer() as srv:
        yield srv
        assert srv.errors == []


def _runtime_error(reply: Reply, status: int, code: str) -> dict[str, Any]:
    assert reply.status == status, reply.body
    assert reply.content_type == "application/json"
    body: dict[str, Any] = reply.json()
    assert list(body) == ["object", "timestamp", "type", "request", "success", "error", "data"]
    assert body["object"] == "error" and body["success"] is False and body["data"] == {}
    assert body["error"]["code"] == code
    assert set(body["error"]) == {"code", "message", "data"}
    return body


# --- keys and users (§8) ---------------------------------------------------------------------------------

ADMIN_ROUTES = [("GET", "/status"), ("GET", "/config"), ("GET", "/agents"), ("GET", "/secrets"),
                ("GET", "/memory"), ("GET", "/memory/stats"), ("GET", "/memory/buffers"), ("GET", "/audit"),
                ("GET", "/llm/settings"), ("GET", "/mcp/tools"), ("GET", "/overlord"), ("GET", "/tuning")]
CLIENT_ROUTES = [("GET", "/triggers"), ("GET", "/sops"), ("GET", "/sessions"), ("POST", "/users/resolve")]
# Either key; the admin key needs no X-Muxi-User-ID there (default/keys.json, credentials.json).
EITHER_ROUTES = [("GET", "/requests"), ("GET", "/credentials/services"), ("GET", "/scheduler/jobs"),
                 ("GET", "/artifacts")]

ADMIN_REQUIRED = "A valid admin API key is required. Please provide the 'X-Muxi-Admin-Key' header."
CLIENT_REQUIRED = "A valid client API key is required. Please provide the 'X-Muxi-Client-Key' header."
EITHER_REQUIRED = "A valid API key is required. Provide either 'X-Muxi-Admin-Key' or 'X-Muxi-Client-Key' header."


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
def test_admin_routes_refuse_the_client_key(server: LocalMuxiServer, method: str, path: str) -> None:
    for headers in ({}, client(server, "u1")):
        body = _runtime_error(request(server, method, api(server, path), headers=headers), 401, "UNAUTHORIZED")
        assert body["error"]["message"] == ADMIN_REQUIRED
        assert body["type"] == "error.authentication"
    wrong = request(server, method, api(server, path), headers={"X-MUXI-ADMIN-KEY": "nope"})
    assert _runtime_error(wrong, 401, "UNAUTHORIZED")["error"]["message"] == \
        "Invalid admin API key. Please check your 'X-Muxi-Admin-Key' header value."
    assert request(server, method, api(server, path), headers=admin(server)).status == 200


@pytest.mark.parametrize(("method", "path"), CLIENT_ROUTES)
def test_client_routes_refuse_the_admin_key(server: LocalMuxiServer, method: str, path: str) -> None:
    body_json = {"identifier": "x@example.com"} if method == "POST" else None
    for headers in ({}, admin(server, **{"X-Muxi-User-ID": "u1"})):
        reply = request(server, method, api(server, path), headers=headers, json_body=body_json)
        assert _runtime_error(reply, 401, "UNAUTHORIZED")["error"]["message"] == CLIENT_REQUIRED
    ok = request(server, method, api(server, path), headers=client(server, "u1"), json_body=body_json)
    assert ok.status == 200, ok.body


@pytest.mark.parametrize(("method", "path"), EITHER_ROUTES)
def test_either_key_routes(server: LocalMuxiServer, method: str, path: str) -> None:
    refused = _runtime_error(request(server, method, api(server, path)), 401, "UNAUTHORIZED")
    assert refused["error"]["message"] == EITHER_REQUIRED
    assert request(server, method, api(server, path), headers=client(server, "u1")).status == 200
    admin_ok = request(server, method, api(server, path), headers=admin(server))
    assert admin_ok.status == (400 if path == "/artifacts" else 200)  # artifacts want a user whatever the key


def test_scheduler_routes_need_the_admin_key_inside_the_either_key_router(server: LocalMuxiServer) -> None:
    # default/keys.json, scheduler.json: any valid key passes the router, then the handler wants the admin key.
    for path in ("/scheduler", "/scheduler/jobs/job_x"):
        refused = request(server, "GET", api(server, path), headers=client(server, "u1"))
        assert _runtime_error(refused, 401, "UNAUTHORIZED")["error"]["message"] == \
            "Admin API key required for this endpoint"
        assert _runtime_error(request(server, "GET", api(server, path)), 401, "UNAUTHORIZED")["error"][
            "message"] == EITHER_REQUIRED
    assert request(server, "GET", api(server, "/scheduler"), headers=admin(server)).status == 200


def test_runtime_401_matches_the_capture(server: LocalMuxiServer) -> None:
    ours = request(server, "GET", api(server, "/status")).json()
    real = fixture_json("runtime-error-401.json")
    assert shape(ours) == shape(real)
    assert ours["error"] == real["error"]
    assert ours["type"] == real["type"] and re.fullmatch(r"req_[A-Za-z0-9_-]{21}", ours["request"]["id"])


def test_user_header_required_with_the_client_key_on_user_routes(server: LocalMuxiServer) -> None:
    # Each route says it its own way (default/keys.json, credentials.json, memory.json, streams.json).
    plain = "X-Muxi-User-ID header is required"
    with_key = "X-Muxi-User-ID header is required when using client API key"
    for path, message in (("/sessions", plain), ("/credentials", plain), ("/memory/buffer", plain),
                          ("/artifacts", plain), ("/requests", with_key), ("/scheduler/jobs", with_key)):
        reply = request(server, "GET", api(server, path), headers=client(server))
        body = _runtime_error(reply, 400, "INVALID_REQUEST")
        assert body["error"]["message"] == message, path
    # The admin key needs no user on the either-key routes; chat defaults the user to "0".
    assert request(server, "GET", api(server, "/requests"), headers=admin(server)).status == 200
    chat = request(server, "POST", api(server, "/chat"), headers=client(server),
                   json_body={"message": "hi", "stream": False})
    assert chat.json()["data"]["user_id"] == "0"


def test_user_header_required_with_the_admin_key_too_on_memory_routes(server: LocalMuxiServer) -> None:
    # default/memory.json (buffer_admin), and the runtime's routes that share its user check.
    for path in ("/memory/buffer", "/memories", "/history", "/credentials", "/artifacts"):
        reply = request(server, "GET", api(server, path), headers=admin(server))
        assert _runtime_error(reply, 400, "INVALID_REQUEST")["error"]["message"] == \
            "X-Muxi-User-ID header is required", path
    # ...but clearing a buffer with the admin key needs no user (default/memory.json: clear_buffer_admin).
    cleared = request(server, "DELETE", api(server, "/memory/buffer"), headers=admin(server)).json()["data"]
    assert cleared["user_id"] is None


def test_user_id_in_query_or_body_is_ignored(server: LocalMuxiServer) -> None:
    answer = request(server, "POST", api(server, "/chat"), headers=client(server, "alice"),
                     json_body={"message": "hi", "stream": False, "user_id": "bob", "session_id": "s-a"}).json()
    assert answer["data"]["user_id"] == "alice"  # the header's user, not the body's
    sessions = request(server, "GET", api(server, "/sessions?user_id=bob"), headers=client(server, "alice")).json()
    assert [(s["session_id"], s["user_id"]) for s in sessions["data"]["sessions"]] == [("s-a", "0")]
    # Single-user mode (default/user_isolation.json): everyone is user "0", so bob sees alice's session.
    bob = request(server, "GET", api(server, "/sessions?user_id=alice"), headers=client(server, "bob")).json()
    assert [s["session_id"] for s in bob["data"]["sessions"]] == ["s-a"]


def test_health_is_bare_and_public(server: LocalMuxiServer) -> None:
    body = request(server, "GET", api(server, "/health")).json()
    assert set(body) == {"status", "version", "uptime_seconds"} and body["status"] == "healthy"


def test_unknown_runtime_route_and_method(server: LocalMuxiServer) -> None:
    _runtime_error(request(server, "GET", api(server, "/nope"), headers=admin(server)), 404, "RESOURCE_NOT_FOUND")
    _runtime_error(request(server, "PATCH", api(server, "/secrets"), headers=admin(server)), 405,
                   "METHOD_NOT_ALLOWED")
    root = request(server, "GET", f"/api/{server.formation_id}/")  # the runtime's "Up" page
    assert (root.status, root.content_type) == (200, "text/html; charset=utf-8") and b"<title>Up</title>" in root.body


def test_draft_mode_reaches_the_same_runtime(server: LocalMuxiServer) -> None:
    reply = request(server, "GET", f"/draft/{server.formation_id}/v1/health")
    assert reply.status == 200 and reply.json()["status"] == "healthy"


def test_sdk_latest_header_only_when_the_request_names_an_sdk() -> None:
    with LocalMuxiServer(sdk_latest="9.20990101.0") as srv:
        named = request(srv, "GET", api(srv, "/health"), headers={"X-Muxi-SDK": "python/1.0"})
        assert named.header("x-muxi-sdk-latest") == "9.20990101.0"
        assert request(srv, "GET", api(srv, "/health")).header("x-muxi-sdk-latest") is None


# --- envelope and chat JSON (§9, §10) ------------------------------------------------------------------


def test_chat_json_matches_the_capture(server: LocalMuxiServer) -> None:
    # The capture is the runtime's early path for a greeting (default/chat.json: json_greeting).
    reply = request(server, "POST", api(server, "/chat"),
                    headers=client(server, "alice", **{"X-Muxi-Idempotency-Key": "k-123"}),
                    json_body={"message": "hi", "stream": False, "session_id": "sess2"})
    assert reply.status == 200 and reply.content_type == "application/json"
    server.reply = lambda message: message
    ours, real = reply.json(), fixture_json("runtime-chat-json.json")
    assert shape(ours) == shape(real)
    assert list(ours) == list(real)
    assert list(ours["data"]["message"]["metadata"]) == list(real["data"]["message"]["metadata"])
    assert (ours["object"], ours["type"], ours["request"]["idempotency_key"]) == ("message", "chat.completed", "k-123")
    assert (ours["data"]["user_id"], ours["data"]["session_id"], ours["data"]["request_id"]) == (
        "alice", "sess2", None)
    assert isinstance(ours["timestamp"], int) and ours["timestamp"] > 1_000_000_000_000  # milliseconds
    assert json.dumps(ours, separators=(",", ":"), ensure_ascii=False).encode() == reply.body  # compact


def test_only_the_idempotent_routes_echo_the_idempotency_key(server: LocalMuxiServer) -> None:
    # formation/server/idempotency.py: the key is echoed into the 2xx JSON answers of the three
    # @idempotent routes (chat, triggers, scheduler jobs); other routes and errors leave it null.
    key = {"X-Muxi-Idempotency-Key": "k-echo"}
    status = request(server, "GET", api(server, "/sessions"), headers=client(server, "alice", **key))
    assert status.status == 200 and status.json()["request"]["idempotency_key"] is None
    refused = request(server, "POST", api(server, "/chat"), headers=client(server, "alice", **key), json_body={})
    assert refused.status == 422 and refused.json()["request"]["idempotency_key"] is None


def test_chat_validation_and_async_mode(server: LocalMuxiServer) -> None:
    missing = request(server, "POST", api(server, "/chat"), headers=client(server, "u"), json_body={})
    body = _runtime_error(missing, 422, "INVALID_PARAMS")
    assert body["type"] == "error.validation"
    assert body["error"]["message"] == "Validation failed: 1 error(s)"
    assert body["error"]["data"] == {"validation_errors": [
        {"field": "message", "msg": "Field required", "type": "string", "error": "missing"}]}
    bad_json = request(server, "POST", api(server, "/chat"), headers=client(server, "u"), body=b"{nope")
    _runtime_error(bad_json, 422, "INVALID_PARAMS")
    async_mode = request(server, "POST", api(server, "/chat"), headers=client(server, "u"),
                         json_body={"message": "hi", "mode": "async"})
    assert _runtime_error(async_mode, 501, "METHOD_NOT_FOUND")["error"]["message"].startswith(
        "Async mode requires webhook configuration")


def test_failing_script_is_a_500_in_json_mode(server: LocalMuxiServer) -> None:
    def broken(message: str) -> str:
        raise RuntimeError("model exploded")

    server.reply = broken
    reply = request(server, "POST", api(server, "/chat"), headers=client(server, "u"),
                    json_body={"message": "hi", "stream": False})
    assert _runtime_error(reply, 500, "INTERNAL_ERROR")["error"]["message"] == "model exploded"


# --- chat streams (§11) -----------------------------------------------------------------------------------


def _frames(text: str) -> list[str]:
    assert "\r" not in text and text.endswith("\n\n")
    return text[:-2].split("\n\n")


def _frame_kind(frame: str) -> str:
    if frame.startswith(":"):
        return frame
    lines = frame.split("\n")
    if lines[0].startswith("event: "):
        return lines[0]
    return "token:" + json.loads(lines[0][6:])["token"]["type"]


def _kinds(text: str) -> list[str]:
    kinds: list[str] = []
    for frame in _frames(text):
        kind = _frame_kind(frame)
        if not (kind == "token:content" and kinds and kinds[-1] == kind):
            kinds.append(kind)
    return kinds


def _token_keys(text: str) -> dict[str, list[str]]:
    keys: dict[str, list[str]] = {}
    for frame in _frames(text):
        if frame.startswith("data: "):
            token = json.loads(frame[6:])["token"]
            keys.setdefault(token["type"], list(token))
    return keys


def _chat_stream(server: LocalMuxiServer, payload: dict[str, Any], user: str = "0") -> Reply:
    return request(server, "POST", api(server, "/chat"), headers=client(server, user), json_body=payload)


@pytest.mark.parametrize("capture", ["runtime-chat-stream.sse", "runtime-chat-stream-2.sse"])
def test_chat_stream_framing_matches_the_capture(server: LocalMuxiServer, capture: str) -> None:
    reply = _chat_stream(server, {"message": "Hello from the fake model.", "session_id": "sess1"})
    assert reply.status == 200
    assert reply.content_type == "text/event-stream; charset=utf-8"
    ours, real = reply.body.decode(), fixture_text(capture)
    # Frame for frame the same kinds in the same order: keepalives, token types, done (how an answer is
    # cut into content deltas is the model's business, so a run of deltas counts as one).
    assert _kinds(ours) == _kinds(real)
    # Each token type carries the runtime's keys in the runtime's order.
    real_keys = _token_keys(real)
    assert {k: v[:6] for k, v in _token_keys(ours).items()} == {k: v[:6] for k, v in real_keys.items()}
    assert _token_keys(ours)["completed"] == real_keys["completed"]
    assert _token_keys(ours)["content"] == real_keys["content"]
    for frame in _frames(ours):
        if frame.startswith("data: "):  # compact JSON, as the runtime writes it
            payload = frame[6:]
            assert json.dumps(json.loads(payload), separators=(",", ":"), ensure_ascii=False) == payload
    assert ours.endswith('event: done\ndata: {"finished":true}\n\n')
    assert ours.startswith(": keepalive\n\n: keepalive\n\ndata: ")


def test_chat_stream_is_the_default_and_its_text_is_the_reply(server: LocalMuxiServer) -> None:
    server.reply = lambda message: f"You said: {message}"
    reply = _chat_stream(server, {"message": "ping pong", "request_id": "req_fixed1"}, user="carol")
    tokens = [e.json()["token"] for e in events(reply.body) if e.event == "message"]
    # default/chat.json: a request_id in the body names the request; tokens carry the storage user "0".
    assert {t["request_id"] for t in tokens} == {"req_fixed1"} and {t["user_id"] for t in tokens} == {"0"}
    deltas = "".join(t["content"] for t in tokens if t["type"] == "content")
    assert deltas == "You said: ping pong" == tokens[-1]["content"]
    assert tokens[-1]["type"] == "completed" and tokens[-1]["status"] == "success"


def test_chat_stream_ui_frame(server: LocalMuxiServer) -> None:
    widgets = [{"type": "buttons", "buttons": [{"label": "Yes"}, {"label": "No"}]}]
    server.reply = lambda message: ScriptedReply("Pick one", ui=widgets)
    evts = events(_chat_stream(server, {"message": "choose"}).body)
    assert [e.event for e in evts[-2:]] == ["ui", "done"]
    assert evts[-2].json() == {"ui": widgets}
    data = request(server, "POST", api(server, "/chat"), headers=client(server, "u"),
                   json_body={"message": "choose", "stream": False}).json()["data"]
    assert data["message"]["ui"] == widgets


def test_chat_stream_error_frame_has_no_done(server: LocalMuxiServer) -> None:
    def broken(message: str) -> str:
        raise ValueError("bad\nthing")

    server.reply = broken
    reply = _chat_stream(server, {"message": "hi"})
    assert reply.status == 200
    evts = events(reply.body)
    assert evts[-1].event == "error" and all(e.event != "done" for e in evts)
    assert evts[-1].json() == {"error": "bad thing", "type": "ValueError"}


def test_idle_seconds_are_filled_with_keepalives() -> None:
    with LocalMuxiServer(token_delay=0.06, keepalive_interval=0.025) as srv:
        text = request(srv, "POST", api(srv, "/chat"), headers=client(srv, "u"),
                       json_body={"message": "one two"}).body.decode()
        frames = _frames(text)
        # Between every two events, the 60 ms gaps hold two 25 ms keepalives.
        assert frames[:4] == [": keepalive"] * 4
        kinds = [_frame_kind(f) for f in frames]
        assert kinds.count(": keepalive") == 2 + 2 * (len(kinds) - kinds.count(": keepalive") - 1)


def test_held_streams_wait_with_keepalives_then_finish() -> None:
    with LocalMuxiServer(keepalive_interval=0.02) as srv:
        srv.hold_streams()
        with open_stream(srv, "POST", api(srv, "/chat"), headers=client(srv, "u"),
                         json_body={"message": "later"}) as stream:
            assert srv.wait_until(lambda s: s.held_streams == 1)
            while stream.raw.count(b": keepalive") < 4:
                stream.raw += stream.response.read1(65536)
            assert b"data:" not in stream.raw
            srv.release_streams()
            rest = stream.response.read()
        assert (stream.raw + rest).endswith(b'event: done\ndata: {"finished":true}\n\n')


# --- idempotency (§9) ----------------------------------------------------------------------------------


def test_idempotent_replay_of_chat_json(server: LocalMuxiServer) -> None:
    headers = client(server, "u", **{"X-Muxi-Idempotency-Key": "same-key"})
    first = request(server, "POST", api(server, "/chat"), headers=headers, json_body={"message": "a", "stream": False})
    again = request(server, "POST", api(server, "/chat"), headers=headers, json_body={"message": "b", "stream": False})
    assert first.status == again.status == 200 and first.body == again.body
    other_key = client(server, "u", **{"X-Muxi-Idempotency-Key": "k2"})
    other = request(server, "POST", api(server, "/chat"), headers=other_key,
                    json_body={"message": "a", "stream": False})
    assert other.body != first.body
    requests = request(server, "GET", api(server, "/requests"), headers=client(server, "u")).json()["data"]
    assert requests["count"] == 2  # the replay did not chat again


def test_streams_are_never_cached(server: LocalMuxiServer) -> None:
    headers = client(server, "u", **{"X-Muxi-Idempotency-Key": "stream-key"})
    one = request(server, "POST", api(server, "/chat"), headers=headers, json_body={"message": "x"})
    two = request(server, "POST", api(server, "/chat"), headers=headers, json_body={"message": "x"})
    assert one.content_type.startswith("text/event-stream") and two.content_type.startswith("text/event-stream")
    assert one.body != two.body  # fresh request ids and timestamps
    as_json = request(server, "POST", api(server, "/chat"), headers=headers,
                      json_body={"message": "x", "stream": False})
    assert as_json.json()["object"] == "message"


def test_idempotent_replay_of_triggers_and_jobs(server: LocalMuxiServer) -> None:
    headers = client(server, "u", **{"X-Muxi-Idempotency-Key": "trig-1"})
    body = {"data": {"message": "go"}, "use_async": False}
    first = request(server, "POST", api(server, "/triggers/echo"), headers=headers, json_body=body)
    assert first.json()["data"] == {"status": "completed", "content": "go"}
    assert request(server, "POST", api(server, "/triggers/echo"), headers=headers, json_body=body).body == first.body
    job_headers = admin(server, **{"X-Muxi-Idempotency-Key": "job-1", "X-Muxi-User-ID": "u"})
    job = {"type": "recurring", "schedule": "0 9 * * *", "message": "Morning"}
    made = request(server, "POST", api(server, "/scheduler/jobs"), headers=job_headers, json_body=job)
    assert made.status == 201
    assert request(server, "POST", api(server, "/scheduler/jobs"), headers=job_headers, json_body=job).body == made.body
    jobs = request(server, "GET", api(server, "/scheduler/jobs"), headers=client(server, "u")).json()["data"]
    assert jobs["count"] == 1 and jobs["jobs"][0]["user_id"] == "u"


# --- secrets, triggers, other routes -------------------------------------------------------------------


def test_secrets_crud_codes(server: LocalMuxiServer) -> None:
    url = api(server, "/secrets")
    created = request(server, "POST", url, headers=admin(server),
                      json_body={"key": "API_TOKEN", "value": "abcdefghijkl"})
    assert created.status == 201 and created.json()["data"] == {"message": "Secret 'API_TOKEN' created successfully"}
    dup = request(server, "POST", url, headers=admin(server), json_body={"key": "API_TOKEN", "value": "x"})
    assert _runtime_error(dup, 409, "SECRET_EXISTS")["error"]["message"] == "Secret 'API_TOKEN' already exists"
    listing = request(server, "GET", url, headers=admin(server)).json()["data"]
    assert listing == {"secrets": {"API_TOKEN": "abc\u2022\u2022\u2022\u2022jkl"},
                       "count": 1}  # default/secrets.json: first and last three characters of a short value
    _runtime_error(request(server, "GET", url + "/API_TOKEN", headers=admin(server)), 405, "METHOD_NOT_ALLOWED")
    missing = request(server, "PUT", url + "/NOPE", headers=admin(server), json_body={"value": "v"})
    assert _runtime_error(missing, 404, "SECRET_NOT_FOUND")["error"]["message"] == "Secret 'NOPE' not found"
    assert request(server, "PUT", url + "/API_TOKEN", headers=admin(server), json_body={"value": "v2"}).status == 200
    assert request(server, "DELETE", url + "/API_TOKEN", headers=admin(server)).status == 200
    _runtime_error(request(server, "DELETE", url + "/API_TOKEN", headers=admin(server)), 404, "SECRET_NOT_FOUND")
    _runtime_error(request(server, "POST", url, headers=admin(server), json_body={"key": "K"}), 422, "INVALID_PARAMS")


def test_triggers(server: LocalMuxiServer) -> None:
    listing = request(server, "GET", api(server, "/triggers"), headers=client(server)).json()["data"]
    assert listing == {"formation_id": server.formation_id, "triggers": ["echo"], "count": 1}  # names
    missing = request(server, "POST", api(server, "/triggers/nope"), headers=client(server), json_body={"data": {}})
    # default/triggers.json: firing an unknown trigger is the template's 404, reading one is TRIGGER_NOT_FOUND
    assert _runtime_error(missing, 404, "RESOURCE_NOT_FOUND")["error"]["message"].startswith(
        "Trigger template 'nope' not found at: ")
    _runtime_error(request(server, "GET", api(server, "/triggers/nope"), headers=client(server)), 404,
                   "TRIGGER_NOT_FOUND")
    processing = request(server, "POST", api(server, "/triggers/echo"), headers=client(server),
                         json_body={"data": {"x": 1}})  # use_async defaults to true
    assert processing.json()["data"] == {"status": "processing"}


def test_logs_stream_needs_a_filter_like_the_capture(server: LocalMuxiServer) -> None:
    ours = request(server, "GET", api(server, "/logs"), headers=admin(server)).json()
    real = fixture_json("runtime-error-400.json")
    assert shape(ours) == shape(real) and ours["error"] == real["error"] and ours["type"] == real["type"]


def test_logs_stream_with_a_filter_opens_and_stays_silent(server: LocalMuxiServer) -> None:
    # default/streams.json: 200, text/event-stream, and nothing within the recording's window.
    with open_stream(server, "GET", api(server, "/logs?user_id=dave"), headers=admin(server)) as stream:
        assert stream.status == 200 and stream.header("content-type") == "text/event-stream; charset=utf-8"
        request(server, "POST", api(server, "/chat"), headers=client(server, "dave"), json_body={"message": "y"})
        assert stream.read_for(0.2) == b""


def test_request_events_route_is_broken_like_upstream(server: LocalMuxiServer) -> None:
    ours = request(server, "GET", api(server, "/events/s1/r1"), headers=client(server, "u")).json()
    real = fixture_json("runtime-error-500.json")
    assert shape(ours) == shape(real) and ours["error"] == real["error"]


def test_events_stream_opens_and_stays_silent(server: LocalMuxiServer) -> None:
    # default/streams.json: the runtime's /events sends nothing (and would send unparseable frames).
    with open_stream(server, "GET", api(server, "/events"), headers=client(server, "frank")) as stream:
        assert stream.header("content-type") == "text/event-stream; charset=utf-8"
        request(server, "POST", api(server, "/chat"), headers=client(server, "frank"),
                json_body={"message": "yes", "session_id": "fs"})
        assert stream.read_for(0.2) == b""


def test_sessions_and_requests_reflect_chats(server: LocalMuxiServer) -> None:
    for text in ("first", "second"):
        _chat_stream(server, {"message": text, "session_id": "conv"}, user="hana")
    session = request(server, "GET", api(server, "/sessions/conv"), headers=client(server, "hana")).json()["data"]
    assert session["message_count"] == 4
    messages = request(server, "GET", api(server, "/sessions/conv/messages?limit=3"),
                       headers=client(server, "hana")).json()["data"]
    assert messages["count"] == 3 and messages["has_more"] is True
    assert [m["text"] for m in messages["messages"]] == ["first", "first", "second"]  # oldest first
    # default/user_isolation.json: another user reads the same session in single-user mode.
    other = request(server, "GET", api(server, "/sessions/conv"), headers=client(server, "ivan"))
    assert other.status == 200
    reqs = request(server, "GET", api(server, "/requests"), headers=client(server, "hana")).json()["data"]
    assert reqs["count"] == 2 and {r["status"] for r in reqs["requests"]} == {"completed"}
    one = reqs["requests"][0]["request_id"]
    got = request(server, "GET", api(server, f"/requests/{one}"), headers=client(server, "hana")).json()["data"]
    assert (got["result"], got["user_id"]) == ("first", "0")
    _runtime_error(request(server, "GET", api(server, "/requests/req_none"), headers=client(server, "ivan")), 404,
                   "REQUEST_NOT_FOUND")
    untimed = request(server, "POST", api(server, "/sessions/conv/restore"), headers=client(server, "hana"),
                      json_body={"messages": [{"role": "user", "content": "reset"}]})
    _runtime_error(untimed, 422, "INVALID_PARAMS")  # default/sessions.json: timestamps are required
    timed = {"messages": [{"role": "user", "content": "reset", "timestamp": "2026-01-01T00:00:00Z"}]}
    restore = request(server, "POST", api(server, "/sessions/conv/restore"), headers=client(server, "hana"),
                      json_body=timed)
    assert restore.json()["data"] == {"session_id": "conv", "messages_loaded": 1, "messages_dropped": 0,
                                      "message": "Session restored successfully"}


@pytest.mark.parametrize(("method", "path", "headers_of", "body"), [
    ("GET", "/agents/assistant", "admin", None),
    ("GET", "/formation", "admin", None),
    ("GET", "/mcp/servers", "admin", None),
    ("GET", "/logging/destinations", "admin", None),
    ("GET", "/async", "admin", None),
    ("GET", "/a2a", "admin", None),
    ("GET", "/overlord/soul", "admin", None),
    ("GET", "/sops/customer-support", "client", None),
    ("POST", "/users/resolve", "client", {"identifier": "a@example.com"}),
    ("DELETE", "/memory/buffer", "client", None),
    ("POST", "/knowledge/rebuild", "admin", {}),
    ("DELETE", "/audit?confirm=clear-audit-log", "admin", None),
])
def test_other_endpoints_answer_envelopes(
    server: LocalMuxiServer, method: str, path: str, headers_of: str, body: Any
) -> None:
    headers = admin(server) if headers_of == "admin" else client(server, "u")
    reply = request(server, method, api(server, path), headers=headers, json_body=body)
    assert reply.status in (200, 201), reply.body
    envelope = reply.json()
    assert envelope["success"] is True and envelope["error"] is None and isinstance(envelope["data"], dict)


def test_not_found_codes(server: LocalMuxiServer) -> None:
    _runtime_error(request(server, "GET", api(server, "/agents/nobody"), headers=admin(server)), 404, "AGENT_NOT_FOUND")
    _runtime_error(request(server, "GET", api(server, "/scheduler/jobs/job_x"), headers=admin(server)), 404,
                   "RESOURCE_NOT_FOUND")
    _runtime_error(request(server, "DELETE", api(server, "/audit"), headers=admin(server)), 400, "INVALID_REQUEST")
