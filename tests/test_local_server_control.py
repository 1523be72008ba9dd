"""The local server's control plane against the protocol facts (docs/protocol.md §2-§5), over raw HTTP."""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_local_server_support import (
    Reply,
    api,
    bundle,
    events,
    open_stream,
    request,
    rpc,
    signed,
)

from muxi_proto.auth import compute_signature
from muxi_testing import LocalMuxiServer

NOT_FOUND_BODY = b'{"error":"Not Found","message":"Endpoint not found","code":404}\n'


@pytest.fixture
def server() -> Iterator[LocalMuxiServer]:
    with LocalMuxiServer() as srv:
        yield srv
        assert srv.errors == []


def _unauthorized(reply: Reply) -> str:
    assert reply.status == 401
    assert reply.content_type == "application/json"
    body = reply.json()
    assert body == {"error": "Unauthorized", "message": body["message"], "code": 401}
    assert reply.body.endswith(b"\n")  # Go's json.Encoder
    message: str = body["message"]
    return message


# --- public endpoints, routing ------------------------------------------------------------------------


def test_health_is_bare_and_needs_no_auth(server: LocalMuxiServer) -> None:
    reply = request(server, "GET", "/health")
    assert reply.status == 200
    assert reply.body == b'{"success":true,"status":"ok","version":"1.0.0-local"}'


def test_ping_is_text_pong(server: LocalMuxiServer) -> None:
    reply = request(server, "GET", "/ping")
    assert (reply.status, reply.content_type, reply.body) == (200, "text/plain", b"pong")


@pytest.mark.parametrize("target", ["/nope", "/rpc/nope", "/rpc/formations/x/y/z", "/rpc/formations/", "/api"])
def test_unknown_routes_answer_the_404_body_before_any_auth(server: LocalMuxiServer, target: str) -> None:
    reply = request(server, "GET", target)
    assert reply.status == 404
    assert reply.body == NOT_FOUND_BODY


@pytest.mark.parametrize(("method", "target"), [
    ("POST", "/health"), ("DELETE", "/rpc/formations"), ("GET", "/rpc/formations/x/start"),
    ("POST", "/rpc/formations/x/logs"), ("PATCH", "/rpc/formations/x"),
])
def test_wrong_method_is_an_empty_405_without_auth(server: LocalMuxiServer, method: str, target: str) -> None:
    reply = request(server, method, target)
    assert reply.status == 405
    assert reply.body == b""


# --- HMAC -------------------------------------------------------------------------------------------------


def test_hmac_reasons_in_the_servers_check_order(server: LocalMuxiServer) -> None:
    path = "/rpc/formations"
    now = int(time.time())
    good = signed(server, "GET", path)["Authorization"]
    sig = compute_signature(server.secret_key, now, "GET", path)

    assert _unauthorized(request(server, "GET", path)) == "Missing authorization header"
    for bad in ("Bearer abc", "MUXI-HMAC key=a,timestamp=1,signature=x", f"MUXI-HMAC key={server.key_id}",
                "MUXI-HMAC key=a, timestamp=abc, signature=x", good.replace("MUXI-HMAC", "muxi-hmac")):
        assert _unauthorized(request(server, "GET", path, headers={"Authorization": bad})) == \
            "Invalid authorization header format", bad
    # A wrong key is reported before an expired timestamp or a wrong signature.
    stale = now - 10_000
    wrong_key = f"MUXI-HMAC key=MUXI_0000000000000000, timestamp={stale}, signature={sig}"
    assert _unauthorized(request(server, "GET", path, headers={"Authorization": wrong_key})) == "Invalid key"
    # An expired timestamp is reported before the signature is looked at.
    expired = f"MUXI-HMAC key={server.key_id}, timestamp={stale}, signature=AAAA"
    assert _unauthorized(request(server, "GET", path, headers={"Authorization": expired})) == \
        "Request expired (timestamp too old or in future)"
    future = f"MUXI-HMAC key={server.key_id}, timestamp={now + 10_000}, signature={sig}"
    assert _unauthorized(request(server, "GET", path, headers={"Authorization": future})) == \
        "Request expired (timestamp too old or in future)"
    flipped = ("B" if sig[0] == "A" else "A") + sig[1:]  # one character off
    bad_sig = f"MUXI-HMAC key={server.key_id}, timestamp={now}, signature={flipped}"
    assert _unauthorized(request(server, "GET", path, headers={"Authorization": bad_sig})) == "Invalid signature"
    assert request(server, "GET", path, headers={"Authorization": good}).status == 200


def test_signature_covers_method_and_path_but_not_the_query(server: LocalMuxiServer) -> None:
    target = "/rpc/server/logs?lines=5"
    assert request(server, "GET", target, headers=signed(server, "GET", "/rpc/server/logs")).status == 200
    post_sig = signed(server, "POST", "/rpc/server/logs")
    assert _unauthorized(request(server, "GET", target, headers=post_sig)) == "Invalid signature"
    other = signed(server, "GET", "/rpc/formations")
    assert _unauthorized(request(server, "GET", target, headers=other)) == "Invalid signature"


def test_timestamp_window_is_300_seconds_inclusive() -> None:
    clock_now = 1_700_000_000
    with LocalMuxiServer(clock=lambda: float(clock_now)) as srv:
        for offset, ok in ((300, True), (-300, True), (301, False), (-301, False)):
            headers = signed(srv, "GET", "/rpc/formations", timestamp=clock_now + offset)
            assert (request(srv, "GET", "/rpc/formations", headers=headers).status == 200) is ok, offset


def test_protocol_worked_example_is_accepted() -> None:
    with LocalMuxiServer(key_id="MUXI_0123456789abcdef", secret_key="sk_test_secret",
                         clock=lambda: 1_700_000_000.0) as srv:
        header = ("MUXI-HMAC key=MUXI_0123456789abcdef, timestamp=1700000000, "
                  "signature=Q7h/6/+TDi9KWre6Peoc2zkdh8qSiRGDTNB2+obpUUQ=")
        assert request(srv, "GET", "/rpc/formations", headers={"Authorization": header}).status == 200
        post = header.replace("Q7h/6/+TDi9KWre6Peoc2zkdh8qSiRGDTNB2+obpUUQ=",
                              "WEwIso1GQyQ7RgZAksPfySYigIkpjn9UbrYKD3KnJZI=")
        # Past the HMAC check, the deploy handler complains about the (missing) bundle instead.
        deploy = request(srv, "POST", "/rpc/formations", headers={"Authorization": post})
        assert deploy.status == 400 and deploy.json()["message"].startswith("Invalid Content-Type")
        assert request(srv, "GET", "/rpc/formations", headers={"Authorization": post}).status == 401


def test_generated_credentials_have_the_servers_formats() -> None:
    a, b = LocalMuxiServer(), LocalMuxiServer()
    assert a.key_id != b.key_id and a.secret_key != b.secret_key and a.admin_key != b.admin_key
    for srv in (a, b):
        assert srv.key_id.startswith("MUXI_") and len(srv.key_id) == 21
        int(srv.key_id[5:], 16)
        assert srv.secret_key.startswith("sk_") and len(srv.secret_key) == 67
        int(srv.secret_key[3:], 16)
        assert srv.secret_key not in repr(srv) and srv.admin_key not in repr(srv)


# --- envelopes and server endpoints ------------------------------------------------------------------


def test_success_envelope_and_list(server: LocalMuxiServer) -> None:
    reply = rpc(server, "GET", "/rpc/formations")
    assert reply.status == 200 and reply.content_type == "application/json"
    assert reply.body.startswith(b'{"success":true,"data":{"formations":[') and reply.body.endswith(b"}\n")
    data = reply.json()["data"]
    assert data["total"] == 1
    info = data["formations"][0]
    assert list(info) == ["id", "name", "port", "status", "pid", "uptime", "restart_count", "healthy", "version"]
    assert (info["id"], info["status"], info["healthy"]) == (server.formation_id, "running", True)


def test_get_formation_and_unknown(server: LocalMuxiServer) -> None:
    data = rpc(server, "GET", f"/rpc/formations/{server.formation_id}").json()["data"]
    assert list(data) == sorted(data)  # a Go map: sorted keys
    assert data["status"] == "running" and data["id"] == server.formation_id
    missing = rpc(server, "GET", "/rpc/formations/no-such-formation")
    assert missing.status == 404
    assert missing.body == b'{"error":"Not Found","message":"Formation not found","code":404}\n'


def test_server_status_shape(server: LocalMuxiServer) -> None:
    data = rpc(server, "GET", "/rpc/server/status").json()["data"]
    assert set(data) == {"server", "formations", "port_pool", "runtime"}
    assert data["formations"] == {"crashed": 0, "running": 1, "stopped": 0, "total": 1}
    assert data["port_pool"]["allocated"] == 1


def test_server_logs_are_text_lines_with_lines_parameter(server: LocalMuxiServer) -> None:
    for _ in range(5):
        rpc(server, "GET", "/rpc/formations")
    reply = rpc(server, "GET", "/rpc/server/logs?lines=3")
    assert reply.status == 200 and reply.content_type == "text/plain"
    lines = reply.body.decode().splitlines()
    assert len(lines) == 3 and all(json.loads(line)["message"] == "RPC request" for line in lines)
    assert len(rpc(server, "GET", "/rpc/server/logs?lines=0").body.decode().splitlines()) == 6  # default 100
    assert len(rpc(server, "GET", "/rpc/server/logs?lines=junk").body.decode().splitlines()) == 7


# --- deploy ----------------------------------------------------------------------------------------------


def _deploy(server: LocalMuxiServer, body: bytes, *, formation_id: str | None = "fresh-one",
            version: str | None = None, ctype: str = "application/gzip", sse: bool = False) -> Reply:
    headers = {"Content-Type": ctype}
    if formation_id is not None:
        headers["X-Formation-ID"] = formation_id
    if version is not None:
        headers["X-Formation-Version"] = version
    if sse:
        headers["Accept"] = "text/event-stream"
    return rpc(server, "POST", "/rpc/formations", headers=headers, body=body)


def _error_message(reply: Reply, status: int) -> str:
    assert reply.status == status, reply.body
    body = reply.json()
    assert set(body) == {"error", "message", "code"} and body["code"] == status
    message: str = body["message"]
    return message


def test_deploy_checks_in_the_servers_order(server: LocalMuxiServer, tmp_path: Path) -> None:
    good = bundle(tmp_path, "fresh-one")
    assert _error_message(_deploy(server, good, ctype="application/json"), 400) == \
        "Invalid Content-Type. Expected application/gzip with a formation bundle (tar.gz)"
    assert _error_message(_deploy(server, good, formation_id=None), 400) == \
        "Missing X-Formation-ID header. Provide the formation ID for early conflict detection."
    assert _error_message(_deploy(server, good, formation_id="api"), 400) == \
        'Invalid X-Formation-ID: formation ID "api" is reserved'
    assert _error_message(_deploy(server, good, formation_id="ab"), 400) == \
        "Invalid X-Formation-ID: formation ID must be 3-50 characters"
    assert _error_message(_deploy(server, good, formation_id="Bad_Id"), 400) == \
        "Invalid X-Formation-ID: formation ID must contain only lowercase letters, numbers, and hyphens"
    assert _error_message(_deploy(server, good, formation_id=server.formation_id), 409) == \
        f"Formation '{server.formation_id}' already exists. Use PUT to update."
    assert _error_message(_deploy(server, b"not a gzip"), 400).startswith("Failed to extract bundle: ")
    assert _error_message(_deploy(server, bundle(tmp_path, "fresh-one", config_id="other-one")), 400) == \
        "Formation ID mismatch: expected 'fresh-one' but config contains 'other-one'"
    assert _error_message(_deploy(server, good, version="2.0.0"), 400) == \
        "Formation version mismatch: expected '2.0.0' but config contains '1.0.0'"
    # No version in the bundle means 1.0.0, which is also the header's default.
    assert _deploy(server, bundle(tmp_path, "fresh-one", version=None)).status == 201


def test_deploy_rejects_bad_layouts(server: LocalMuxiServer, tmp_path: Path) -> None:
    import gzip
    import tarfile

    def tgz(names: list[str]) -> bytes:
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w") as tar:
            for name in names:
                data = b"id: fresh-one\n"
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return gzip.compress(raw.getvalue())

    two_tops = _deploy(server, tgz(["fresh-one/formation.afs", "other/formation.afs"]))
    assert _error_message(two_tops, 400).startswith("Failed to extract bundle: ")
    no_file = _deploy(server, tgz(["fresh-one/readme.md"]))
    assert _error_message(no_file, 400).startswith("Failed to find formation config: ")
    flat = _deploy(server, tgz(["formation.afs"]))
    assert _error_message(flat, 400).startswith("Failed to extract bundle: ")


def test_deploy_json_answers_201_and_serves_the_new_formation(server: LocalMuxiServer, tmp_path: Path) -> None:
    reply = _deploy(server, bundle(tmp_path, "fresh-one"))
    assert reply.status == 201
    data = reply.json()["data"]
    assert list(data) == ["formation_id", "port", "status", "url", "health_url", "pid"]
    assert data["status"] == "running" and data["url"] == f"{server.url}/api/fresh-one"
    assert request(server, "GET", "/api/fresh-one/v1/health").json()["status"] == "healthy"
    assert rpc(server, "GET", "/rpc/formations").json()["data"]["total"] == 2


def test_deploy_stream_frames(server: LocalMuxiServer, tmp_path: Path) -> None:
    reply = _deploy(server, bundle(tmp_path, "fresh-one"), sse=True)
    assert reply.status == 200
    assert reply.content_type == "text/event-stream"
    assert reply.header("cache-control") == "no-cache"
    frames = reply.body.split(b"\n\n")
    assert frames[-1] == b""
    for frame in frames[:-1]:  # exactly `event: <name>` + one compact JSON data line, LF only
        name, data = frame.split(b"\n")
        assert name in (b"event: progress", b"event: complete")
        assert data.startswith(b"data: {") and b"\r" not in frame
        assert json.dumps(json.loads(data[6:]), separators=(",", ":")).encode() == data[6:]
    evts = events(reply.body)
    assert [e.event for e in evts].count("complete") == 1 and evts[-1].event == "complete"
    stages = [e.json()["stage"] for e in evts[:-1]]
    assert stages == ["extracting", "spawning", "health_check", "health_check"]
    assert evts[-2].json() == {"stage": "health_check", "message": "Health check attempt 1/300...",
                               "attempt": 1, "max_attempts": 300}
    assert evts[-1].json()["formation_id"] == "fresh-one"


def test_errors_before_the_stream_are_plain_json(server: LocalMuxiServer, tmp_path: Path) -> None:
    reply = _deploy(server, bundle(tmp_path, server.formation_id), formation_id=server.formation_id, sse=True)
    assert reply.status == 409 and reply.content_type == "application/json"
    after = _deploy(server, bundle(tmp_path, "fresh-one", config_id="nope-nope"), sse=True)
    assert after.status == 200  # the body was read and the stream opened: the failure is an event
    evts = events(after.body)
    assert evts[-1].event == "error"
    assert evts[-1].json() == {"error": "IDMismatch", "stage": "validating",
                               "message": "Formation ID mismatch: expected 'fresh-one' but config contains "
                                          "'nope-nope'"}


@pytest.mark.parametrize(("action", "stage", "frames"), [
    ("start", "validating", 1), ("restart", "stopping", 1), ("rollback", "validating", 2),
])
def test_actions_on_unknown_formation_stream_200_then_not_found(
    server: LocalMuxiServer, action: str, stage: str, frames: int
) -> None:
    reply = rpc(server, "POST", f"/rpc/formations/ghost-formation/{action}", headers={"Accept": "text/event-stream"})
    assert reply.status == 200 and reply.content_type == "text/event-stream"
    evts = events(reply.body)
    assert len(evts) == frames
    assert evts[-1].event == "error"
    assert evts[-1].json() == {"error": "NotFound", "message": "Formation not found", "stage": stage}
    plain = rpc(server, "POST", f"/rpc/formations/ghost-formation/{action}")
    assert _error_message(plain, 404) == "Formation not found"


def test_lifecycle_transitions(server: LocalMuxiServer) -> None:
    fid = server.formation_id
    assert _error_message(rpc(server, "POST", f"/rpc/formations/{fid}/start"), 409) == "Formation is already running"
    stopped = rpc(server, "POST", f"/rpc/formations/{fid}/stop").json()
    assert stopped == {"success": True, "data": {"id": fid, "message": "Formation stopped successfully",
                                                  "status": "stopped"}}
    assert _error_message(rpc(server, "POST", f"/rpc/formations/{fid}/stop"), 409) == "Formation is already stopped"
    proxied = request(server, "GET", api(server, "/health"))
    assert proxied.status == 503
    assert proxied.json() == {"error": "Formation unavailable", "code": 503,
                              "message": f"Formation '{fid}' is not running (status: stopped)"}
    info = rpc(server, "GET", "/rpc/formations").json()["data"]["formations"][0]
    assert (info["status"], info["healthy"], info["pid"]) == ("stopped", False, 0)
    started = rpc(server, "POST", f"/rpc/formations/{fid}/start").json()["data"]
    assert started["status"] == "running" and started["message"] == "Formation started"
    restarted = rpc(server, "POST", f"/rpc/formations/{fid}/restart").json()["data"]
    assert restarted["restart_count"] == 1
    assert request(server, "GET", api(server, "/health")).status == 200
    deleted = rpc(server, "DELETE", f"/rpc/formations/{fid}").json()
    assert deleted == {"success": True, "data": {"id": fid, "message": "Formation deleted successfully"}}
    gone = request(server, "GET", api(server, "/health"))
    assert gone.status == 404
    assert gone.body == (f'{{"error": "Formation not found", "message": "No formation with id \'{fid}\'", '
                         '"code": 404}').encode()


def test_status_is_starting_while_a_start_runs(tmp_path: Path) -> None:
    with LocalMuxiServer(step_delay=0.05, health_check_attempts=40) as srv:
        fid = srv.formation_id
        rpc(srv, "POST", f"/rpc/formations/{fid}/stop")
        with open_stream(srv, "POST", f"/rpc/formations/{fid}/start",
                         headers={**signed(srv, "POST", f"/rpc/formations/{fid}/start"),
                                  "Accept": "text/event-stream"}) as stream:
            stream.read_until(lambda evts: any(e.json().get("stage") == "health_check" for e in evts))
            info = rpc(srv, "GET", f"/rpc/formations/{fid}").json()["data"]
            assert (info["status"], info["healthy"]) == ("starting", None)
            assert request(srv, "GET", api(srv, "/health")).status == 503
            stream.read_until(lambda evts: evts[-1].event == "complete")
        assert srv.formation_status() == "running"


def test_update_rollback_and_no_change(server: LocalMuxiServer, tmp_path: Path) -> None:
    assert _deploy(server, bundle(tmp_path, "fresh-one")).status == 201
    v2 = bundle(tmp_path, "fresh-one", version="2.0.0")
    headers = {"Content-Type": "application/gzip", "X-Formation-Version": "2.0.0"}
    updated = rpc(server, "PUT", "/rpc/formations/fresh-one", headers=headers, body=v2).json()["data"]
    assert (updated["version"], updated["previous_version"], updated["deployment_type"]) == (2, 1, "blue-green")
    same = rpc(server, "PUT", "/rpc/formations/fresh-one", headers=headers, body=v2)
    assert _error_message(same, 409) == "Bundle is identical to current version - nothing to update"
    mismatch = rpc(server, "PUT", "/rpc/formations/fresh-one", headers={"Content-Type": "application/gzip"},
                   body=bundle(tmp_path, "fresh-one", version="3.0.0"))
    assert _error_message(mismatch, 400) == \
        "Formation version mismatch: header says '1.0.0' but bundle contains '3.0.0'"
    assert _error_message(rpc(server, "PUT", "/rpc/formations/ghost-formation", headers=headers, body=v2), 404) == \
        "Formation not found"
    rolled = rpc(server, "POST", "/rpc/formations/fresh-one/rollback").json()["data"]
    assert (rolled["version"], rolled["previous_version"]) == (1, 2)
    assert rpc(server, "GET", "/rpc/formations/fresh-one").json()["data"]["formation_version"] == "1.0.0"
    no_prev = rpc(server, "POST", f"/rpc/formations/{server.formation_id}/rollback")
    assert _error_message(no_prev, 400) == "No previous version available for rollback"


def test_update_stream_frames(server: LocalMuxiServer, tmp_path: Path) -> None:
    fid = server.formation_id
    body = bundle(tmp_path, fid, version="1.1.0")
    reply = rpc(server, "PUT", f"/rpc/formations/{fid}", body=body,
                headers={"Content-Type": "application/gzip", "X-Formation-Version": "1.1.0",
                         "Accept": "text/event-stream"})
    evts = events(reply.body)
    stages = [e.json()["stage"] for e in evts if e.event == "progress"]
    assert stages == ["extracting", "validating", "spawning_staging", "health_check", "health_check", "swapping",
                      "stopping_old"]
    done = evts[-1].json()
    assert evts[-1].event == "complete" and (done["previous_version"], done["new_version"]) == ("1", "2")
    assert done["port"] != 8001  # blue-green: the staging port now serves


def test_cancel_update(tmp_path: Path) -> None:
    with LocalMuxiServer(step_delay=0.02, health_check_attempts=500) as srv:
        fid = srv.formation_id
        no_update = rpc(srv, "POST", f"/rpc/formations/{fid}/cancel-update")
        assert _error_message(no_update, 400) == "No update in progress for this formation"
        path = f"/rpc/formations/{fid}"
        body = bundle(tmp_path, fid, version="1.1.0")
        with open_stream(srv, "PUT", path, body=body, headers={
            **signed(srv, "PUT", path), "Content-Type": "application/gzip", "X-Formation-Version": "1.1.0",
            "Accept": "text/event-stream"}) as stream:
            first = stream.read_until(lambda evts: any(e.json()["stage"] == "spawning_staging" for e in evts))
            staging = next(e.json()["staging_port"] for e in first if e.json()["stage"] == "spawning_staging")
            busy = rpc(srv, "PUT", path, headers={"Content-Type": "application/gzip"}, body=body)
            assert _error_message(busy, 409) == "Formation is already being updated"
            cancelled = rpc(srv, "POST", f"{path}/cancel-update")
            assert cancelled.status == 200
            assert cancelled.json() == {"current_port": 8001, "formation_id": fid, "message":
                                        "Update cancelled successfully", "staging_port": staging, "status": "running"}
            evts = stream.read_until(lambda evts: evts[-1].event == "error")
            assert evts[-1].json()["error"] == "HealthCheckFailed"
        assert rpc(srv, "GET", path).json()["data"]["formation_version"] == "1.0.0"


def test_logs_json_lines_and_streams(server: LocalMuxiServer) -> None:
    fid = server.formation_id
    for i in range(5):
        server.add_log_line(f"line {i}")
    server.add_log_line("oops", stream="stderr")
    data = rpc(server, "GET", f"/rpc/formations/{fid}/logs?lines=2").json()["data"]
    assert data["logs"]["stdout"] == ["line 3", "line 4"] and data["logs"]["stderr"] == ["oops"]
    assert data["total_lines"] == {"stderr": 1, "stdout": 7}
    only = rpc(server, "GET", f"/rpc/formations/{fid}/logs?stream=stderr").json()["data"]
    assert list(only["logs"]) == ["stderr"]
    assert _error_message(rpc(server, "GET", "/rpc/formations/ghost-formation/logs"), 404) == "Formation not found"


def test_log_follow_stream(server: LocalMuxiServer) -> None:
    fid = server.formation_id
    target = f"/rpc/formations/{fid}/logs?follow=true"
    with open_stream(server, "GET", target, headers=signed(server, "GET", target)) as stream:
        assert stream.header("content-type") == "text/event-stream"
        evts = stream.read_until(lambda evts: len(evts) >= 1)
        assert (evts[0].event, evts[0].json()) == ("connected", {"formation_id": fid})
        server.add_log_line("hello follow")
        server.add_log_line("not on stdout", stream="stderr")
        server.add_log_line("second")
        evts = stream.read_until(lambda evts: len(evts) >= 3)
        assert [(e.event, e.json()) for e in evts[1:]] == [
            ("log", {"formation_id": fid, "line": "hello follow"}), ("log", {"formation_id": fid, "line": "second"})]
    assert server.wait_until(lambda s: s.open_connections == 0)


def test_download_is_a_zip_of_the_formation(server: LocalMuxiServer) -> None:
    reply = rpc(server, "GET", f"/rpc/formations/{server.formation_id}/download")
    assert reply.status == 200 and reply.content_type == "application/zip"
    assert reply.header("content-disposition") == f'attachment; filename="{server.formation_id}.zip"'
    names = zipfile.ZipFile(io.BytesIO(reply.body)).namelist()
    assert "formation.afs" in names and "agents/assistant.afs" in names
