"""Fault injection on the local server, seen through raw HTTP and through our clients' retries."""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from test_local_server_support import api, client, events, request, rpc

from muxi_proto.errors import (
    ConnectionError,
    MuxiError,
    ProtocolError,
    RateLimitError,
    ServerError,
    StreamTruncatedError,
    TimeoutError,
)
from muxi_proto.retry import RetryPolicy
from muxi_testing import Faults, LocalMuxiServer
from muxi_transports import FormationClient, ServerClient


@pytest.fixture
def server() -> Iterator[LocalMuxiServer]:
    with LocalMuxiServer() as srv:
        yield srv
        assert srv.errors == []


def _formation(server: LocalMuxiServer, retries: int = 0, **options: object) -> tuple[FormationClient, list[float]]:
    slept: list[float] = []
    fc = FormationClient(server.formation_config(**options), sleep=slept.append,  # type: ignore[arg-type]
                         retry_policy=RetryPolicy(max_retries=retries, initial_backoff=0.0, jitter=0.0))
    return fc, slept


# --- fail_next -------------------------------------------------------------------------------------------


def test_fail_next_control_plane_body_and_retry_after(server: LocalMuxiServer) -> None:
    server.faults.fail_next(status=503, retry_after=7)
    reply = rpc(server, "GET", "/rpc/formations")
    assert reply.status == 503 and reply.header("retry-after") == "7"
    assert reply.json() == {"error": "Service Unavailable", "message": "Injected fault", "code": 503}
    assert rpc(server, "GET", "/rpc/formations").status == 200  # one-shot
    assert server.faults.pending == 0


def test_fail_next_formation_plane_body(server: LocalMuxiServer) -> None:
    server.faults.fail_next(status=429, retry_after="3")
    reply = request(server, "GET", api(server, "/health"))
    assert reply.status == 429 and reply.header("retry-after") == "3"
    body = reply.json()
    assert body["success"] is False and body["error"]["code"] == "RATE_LIMITED"


def test_get_retries_through_failures_with_one_key_and_fresh_signatures(server: LocalMuxiServer) -> None:
    server.faults.fail_next(2, status=503, retry_after="0")
    clock = itertools.count(int(time.time()))
    slept: list[float] = []
    ctl = ServerClient(server.server_config(), clock=lambda: float(next(clock)), sleep=slept.append,
                       retry_policy=RetryPolicy(max_retries=2, initial_backoff=0.0))
    with ctl:
        assert ctl.list_formations()["total"] == 1
    assert slept == [0.0, 0.0]
    path = "/rpc/formations"
    assert server.traffic.count(path) == 3
    keys = server.traffic.idempotency_keys(path)
    assert len(set(keys)) == 1 and keys[0]
    signatures = server.traffic.authorizations(path)
    assert len(set(signatures)) == 3  # every attempt signed afresh


def test_retry_after_http_date_surfaces_on_the_error(server: LocalMuxiServer) -> None:
    when = datetime.now(timezone.utc) + timedelta(seconds=120)
    server.faults.fail_next(status=429, retry_after=when)
    raw = request(server, "GET", "/health")
    assert raw.header("retry-after") == format_datetime(when, usegmt=True)
    server.faults.fail_next(status=429, retry_after=when)
    seen = server.traffic
    fc, _ = _formation(server)
    with fc, pytest.raises(RateLimitError) as info:
        fc.get_status()
    assert info.value.retry_after is not None and 100 < info.value.retry_after <= 121
    assert seen.records()[-1].path == api(server, "/status")


def test_idempotent_post_is_retried_with_the_same_key_and_chats_once(server: LocalMuxiServer) -> None:
    server.faults.fail_next(status=503, retry_after="0", path_prefix=api(server, "/chat"))
    fc, slept = _formation(server, retries=1)
    with fc:
        assert fc.chat({"message": "once"}, user_id="u")["message"]["content"] == "once"
    assert slept == [0.0]
    keys = server.traffic.idempotency_keys(api(server, "/chat"))
    assert len(keys) == 2 and keys[0] == keys[1]
    with FormationClient(server.formation_config()) as check:
        assert check.get_requests("u")["count"] == 1  # the failed attempt was not processed


def test_non_idempotent_post_is_not_retried_on_5xx(server: LocalMuxiServer) -> None:
    server.faults.fail_next(status=503, path_prefix=api(server, "/secrets"))
    fc, slept = _formation(server, retries=3)
    with fc, pytest.raises(ServerError):
        fc.create_secret("K", "v")
    assert slept == [] and server.traffic.count(api(server, "/secrets")) == 1


def test_path_prefix_scopes_faults(server: LocalMuxiServer) -> None:
    server.faults.fail_next(status=500, path_prefix="/rpc/server/")
    assert request(server, "GET", "/health").status == 200
    assert rpc(server, "GET", "/rpc/formations").status == 200
    assert rpc(server, "GET", "/rpc/server/status").status == 500
    assert server.faults.pending == 0


# --- drops and garbage ---------------------------------------------------------------------------------


def test_drop_before_headers_is_retried_for_gets(server: LocalMuxiServer) -> None:
    server.faults.drop_next(when="headers")
    fc, slept = _formation(server, retries=1)
    with fc:
        assert fc.health()["status"] == "healthy"
    assert len(slept) == 1 and server.traffic.count(api(server, "/health")) == 2


def test_dropped_deploy_reached_the_server_and_is_not_replayed(server: LocalMuxiServer, tmp_path: object) -> None:
    from pathlib import Path

    from test_local_server_support import bundle

    server.faults.drop_next(when="headers", path_prefix="/rpc/formations")
    ctl = ServerClient(server.server_config(), retry_policy=RetryPolicy(max_retries=3, initial_backoff=0.0))
    with ctl, pytest.raises(ConnectionError):
        ctl.deploy_formation("dropped-one", bundle(Path(str(tmp_path)), "dropped-one"))
    assert server.traffic.count("/rpc/formations", method="POST") == 1
    assert server.formation_status("dropped-one") == "running"  # it was processed: the answer was lost


def test_drop_mid_body_breaks_the_json_answer(server: LocalMuxiServer) -> None:
    server.faults.drop_next(when="mid_body")
    fc, _ = _formation(server)
    with fc, pytest.raises(MuxiError) as info:
        fc.get_config()
    assert isinstance(info.value, ConnectionError)


def test_drop_mid_stream_truncates_a_chat_stream(server: LocalMuxiServer) -> None:
    server.faults.drop_next(when="mid_stream", path_prefix=api(server, "/chat"))
    fc, _ = _formation(server)
    received = []
    with fc, pytest.raises((StreamTruncatedError, ConnectionError)):
        for evt in fc.chat_stream({"message": "cut me"}, user_id="u"):
            received.append(evt)
    assert len(received) == 1  # the first event arrived, then the connection went away


def test_drop_mid_stream_on_a_deployment_stream(server: LocalMuxiServer) -> None:
    server.faults.drop_next(when="mid_stream", path_prefix="/rpc/formations/")
    with ServerClient(server.server_config()) as ctl, pytest.raises((StreamTruncatedError, ConnectionError)):
        list(ctl.restart_formation_stream(server.formation_id))
    assert server.wait_until(lambda s: s.formation_status() == "running")  # the restart itself went on


def test_garbage_is_a_protocol_error(server: LocalMuxiServer) -> None:
    server.faults.garbage_next()
    fc, _ = _formation(server)
    with fc:
        with pytest.raises(ProtocolError):
            fc.get_status()
        assert fc.get_status()["formation"]["id"] == server.formation_id


def test_garbage_bytes_on_the_wire(server: LocalMuxiServer) -> None:
    server.faults.garbage_next(data=b"\x16\x03\x01 not http")
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        received = b""
        while chunk := sock.recv(4096):
            received += chunk
    assert received == b"\x16\x03\x01 not http"


# --- latency and slow streams --------------------------------------------------------------------------


def test_latency_trips_the_client_timeout(server: LocalMuxiServer) -> None:
    server.faults.latency(2.0, path_prefix=api(server, "/status"))
    fc, _ = _formation(server, timeout=0.2)
    with fc:
        with pytest.raises(TimeoutError):
            fc.get_status()
        assert fc.health()["status"] == "healthy"  # other paths are not delayed
    server.faults.latency(0)
    assert not server.faults.active
    assert server.wait_until(lambda s: s.open_connections == 0)


def test_slow_stream_still_delivers_every_frame(server: LocalMuxiServer) -> None:
    server.faults.slow_stream(0.005)
    reply = request(server, "POST", api(server, "/chat"), headers=client(server, "u"),
                    json_body={"message": "slow but sure"})
    evts = events(reply.body)
    assert evts[-1].event == "done" and evts[-2].json()["token"]["content"] == "slow but sure"
    server.faults.clear()
    assert not server.faults.active


# --- counters, API checks, threads ---------------------------------------------------------------------


def test_connection_counters(server: LocalMuxiServer) -> None:
    with FormationClient(server.formation_config()) as fc:
        for _ in range(3):
            fc.health()
        assert server.open_connections == 1  # keep-alive: one connection for all three
    assert server.wait_until(lambda s: s.open_connections == 0 and s.connections_closed == 1)
    assert server.connections_opened == 1


def test_traffic_records_hide_authorization_in_repr(server: LocalMuxiServer) -> None:
    rpc(server, "GET", "/rpc/formations")
    record = server.traffic.records("/rpc/formations")[-1]
    assert record.authorization is not None and record.authorization.startswith("MUXI-HMAC")
    assert "signature" not in repr(record) and "MUXI-HMAC" not in repr(record)
    server.traffic.clear()
    assert server.traffic.total == 0 and server.traffic.count() == 0


@pytest.mark.parametrize(("call", "error"), [
    (lambda f: f.fail_next(0), ValueError),
    (lambda f: f.fail_next(status=200), ValueError),
    (lambda f: f.fail_next(retry_after=-1), ValueError),
    (lambda f: f.fail_next(retry_after=datetime(2030, 1, 1)), ValueError),  # naive: refused
    (lambda f: f.drop_next(when="later"), ValueError),
    (lambda f: f.garbage_next(data=b""), ValueError),
    (lambda f: f.latency(-1), ValueError),
    (lambda f: f.slow_stream(-0.1), ValueError),
])
def test_fault_arguments_are_checked(call: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        call(Faults())  # type: ignore[operator]


def test_faults_configured_from_another_thread_while_requests_flow(server: LocalMuxiServer) -> None:
    def configure() -> None:
        for _ in range(50):
            server.faults.fail_next(status=503, path_prefix="/never/")
        server.faults.clear()

    worker = threading.Thread(target=configure)
    worker.start()
    for _ in range(50):
        assert request(server, "GET", "/health").status == 200
    worker.join()
    assert server.faults.pending == 0
