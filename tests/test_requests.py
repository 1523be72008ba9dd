"""Request building: headers of docs/protocol.md §6, credentials per route, signing per attempt."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from muxi_proto import auth
from muxi_proto.call import CallMachine, CallSettings
from muxi_proto.config import FormationConfig, ServerConfig
from muxi_proto.errors import ConfigurationError
from muxi_proto.http import Request, Timeout
from muxi_proto.requests import Auth, Operation, RequestBuilder, client_header, encode_json, quote_segment
from muxi_proto.retry import RetryPolicy
from muxi_proto.specs import Spec

SERVER = ServerConfig("http://127.0.0.1:7890", "MUXI_0123456789abcdef", "sk_" + "a" * 64, _app="console")
FORMATION = FormationConfig(server_url="http://127.0.0.1:7890", formation_id="bot-1",
                            admin_key="adm", client_key="cli")


def ids() -> object:
    counter = itertools.count(1)
    return lambda: f"key-{next(counter)}"


def machine(builder: RequestBuilder, op: Operation, clock: object = lambda: 1700000000) -> CallMachine[object]:
    return CallMachine(Spec(op), CallSettings(builder, RetryPolicy(max_retries=3), clock=clock))  # type: ignore[arg-type]


def test_common_headers() -> None:
    b = RequestBuilder(SERVER, new_id=ids())  # type: ignore[arg-type]
    req = machine(b, Operation("GET", "/rpc/formations", Auth.HMAC)).start().request
    assert req.url == "http://127.0.0.1:7890/rpc/formations"
    assert req.header("X-Muxi-SDK", ).startswith("python/")  # type: ignore[union-attr]
    assert req.header("x-muxi-client") == client_header()
    assert req.header("X-Muxi-Idempotency-Key") == "key-1"
    assert req.header("X-Muxi-App") == "console"
    assert req.header("Accept") is None
    assert "/py3." in client_header() and "-" in client_header().split("/")[0]


def test_hmac_signs_the_path_without_query_and_verifies() -> None:
    b = RequestBuilder(SERVER)
    op = Operation("GET", "/rpc/server/logs", Auth.HMAC, query=Operation.query_from({"lines": 5}))
    req = machine(b, op, lambda: 1700000000.9).start().request
    assert req.target == "/rpc/server/logs?lines=5"
    auth.verify_request(req.header("Authorization"), "GET", req.target, key_id=SERVER.key_id,
                        secret_key=SERVER.secret_key, now=1700000000)


def test_base_url_path_prefix_is_signed() -> None:
    cfg = ServerConfig("https://gw.example.com/muxi", "k", "s")
    req = RequestBuilder(cfg).build(Operation("GET", "/rpc/formations", Auth.HMAC), idempotency_key="x",
                                    timestamp=1)
    assert req.path == "/muxi/rpc/formations"
    auth.verify_request(req.header("Authorization"), "GET", req.path, key_id="k", secret_key="s", now=1)


def test_each_attempt_is_signed_afresh_with_the_same_idempotency_key() -> None:
    now = [1700000000]
    call = machine(RequestBuilder(SERVER), Operation("GET", "/rpc/formations/x", Auth.HMAC), lambda: now[0])
    first = call.start().request
    call.head(503, ())  # retried: a GET
    now[0] = 1700000042
    second = call.resume().request
    assert call.attempt == 2
    assert first.header("X-Muxi-Idempotency-Key") == second.header("X-Muxi-Idempotency-Key")
    assert first.header("Authorization") != second.header("Authorization")
    assert "timestamp=1700000042," in second.header("Authorization")  # type: ignore[operator]


def test_formation_credentials_per_route_kind() -> None:
    b = RequestBuilder(FORMATION)
    def build(a: Auth) -> Request:
        return b.build(Operation("GET", "/x", a), idempotency_key="k", timestamp=0)
    assert build(Auth.ADMIN).header("X-MUXI-ADMIN-KEY") == "adm"
    assert build(Auth.ADMIN).header("X-MUXI-CLIENT-KEY") is None
    assert build(Auth.CLIENT).header("X-MUXI-CLIENT-KEY") == "cli"
    assert build(Auth.CLIENT).header("X-MUXI-ADMIN-KEY") is None
    assert build(Auth.EITHER).header("X-MUXI-CLIENT-KEY") == "cli"
    public = build(Auth.NONE)
    assert public.header("X-MUXI-CLIENT-KEY") is None and public.header("X-MUXI-ADMIN-KEY") is None
    assert build(Auth.ADMIN).url == "http://127.0.0.1:7890/api/bot-1/v1/x"


def test_either_falls_back_to_the_admin_key() -> None:
    b = RequestBuilder(FormationConfig(url="http://h", admin_key="adm"))
    req = b.build(Operation("GET", "/requests", Auth.EITHER), idempotency_key="k", timestamp=0)
    assert req.header("X-MUXI-ADMIN-KEY") == "adm"


@pytest.mark.parametrize(("cfg", "kind", "needs"), [
    (FormationConfig(url="http://h", client_key="c"), Auth.ADMIN, "admin_key"),
    (FormationConfig(url="http://h", admin_key="a"), Auth.CLIENT, "client_key"),
    (FormationConfig(url="http://h"), Auth.EITHER, "admin_key"),
])
def test_missing_credential_is_a_configuration_error_before_sending(
        cfg: FormationConfig, kind: Auth, needs: str) -> None:
    with pytest.raises(ConfigurationError, match=needs):
        RequestBuilder(cfg).build(Operation("GET", "/x", kind), idempotency_key="k", timestamp=0)


def test_hmac_on_a_formation_config_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        RequestBuilder(FORMATION).build(Operation("GET", "/rpc/x", Auth.HMAC), idempotency_key="k",
                                        timestamp=0)


def test_user_body_stream_and_extra_headers() -> None:
    op = Operation("POST", "/chat", Auth.CLIENT, body=encode_json({"message": "héllo"}),
                   content_type="application/json", user_id="alice", stream=True,
                   headers=(("X-Extra", "1"),))
    req = RequestBuilder(FORMATION).build(op, idempotency_key="k", timestamp=0)
    assert req.body == '{"message":"héllo"}'.encode()
    assert req.header("Content-Type") == "application/json"
    assert req.header("X-Muxi-User-ID") == "alice"
    assert req.header("Accept") == "text/event-stream"
    assert req.header("X-Extra") == "1"
    assert req.stream and req.timeout.read is None and req.timeout.connect == 30.0


def test_timeouts_from_config() -> None:
    b = RequestBuilder(FormationConfig(url="http://h", admin_key="a", timeout=5))
    assert b.build(Operation("GET", "/x", Auth.ADMIN), idempotency_key="k", timestamp=0).timeout == Timeout.of(5)
    b = RequestBuilder(FormationConfig(url="http://h", admin_key="a", timeout=None))
    assert b.build(Operation("GET", "/x", Auth.ADMIN), idempotency_key="k", timestamp=0).timeout == Timeout.none()


def test_query_from_drops_none_and_spells_booleans() -> None:
    assert Operation.query_from({"a": None, "b": True, "c": False, "d": 3}) == (
        ("b", "true"), ("c", "false"), ("d", "3"))


def test_request_repr_hides_headers() -> None:
    req = RequestBuilder(FORMATION).build(Operation("GET", "/x", Auth.ADMIN), idempotency_key="k", timestamp=0)
    assert "adm" not in repr(req)


@given(st.text(min_size=1))
def test_quote_segment_keeps_ids_inside_one_segment(value: str) -> None:
    q = quote_segment(value)
    assert "/" not in q and "?" not in q and "#" not in q


def test_quote_segment_rejects_empty() -> None:
    with pytest.raises(ConfigurationError):
        quote_segment("")


def test_unique_idempotency_keys_by_default() -> None:
    b = RequestBuilder(FORMATION)
    op = Operation("GET", "/x", Auth.ADMIN)
    keys = {machine(b, op).idempotency_key for _ in range(100)}
    assert len(keys) == 100
