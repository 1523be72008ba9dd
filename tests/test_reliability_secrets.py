"""Keys, secrets and signatures never show in a repr, a message or a traceback the library produces.

The suite-wide audit (``tests/secret_audit.py``) searches every log record and error message of the
run; these tests aim at what it does not see: ``repr()`` of the objects users hold, and whole
tracebacks (chained causes included) of errors raised mid-request, on every transport and flavour,
including servers that echo our headers back in lines the HTTP parser quotes.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st
from reliability_support import Flavour, call, matrix_fixtures

from muxi_proto.call import CallMachine, CallSettings
from muxi_proto.config import FormationConfig, ServerConfig
from muxi_proto.errors import AuthenticationError, ConfigurationError, MuxiError, ProtocolError
from muxi_proto.http import Request, Timeout
from muxi_proto.requests import Auth, Operation, RequestBuilder
from muxi_proto.retry import RetryPolicy
from muxi_proto.specs import Spec
from muxi_proto.webhook import sign, verify_signature
from muxi_testing import LocalMuxiServer
from muxi_transports import (
    AnyIOTransport,
    AsyncFormationClient,
    AsyncHTTPCoreTransport,
    AsyncServerClient,
    FormationClient,
    HTTPCoreTransport,
    ServerClient,
    SocketTransport,
)
from muxi_transports._errors import map_errors, map_exception
from tests.rawserver import Action, Finish, RawRequest, RawServer, Reset, Send, Silent

flavour, anyio_backend = matrix_fixtures()

KEY_ID = "MUXI_00112233aabbccdd"
SECRET = "sk_reliability_" + "5e" * 24
ADMIN = "muxi_admin_reliability_" + "a1" * 12
CLIENT = "muxi_client_reliability_" + "c3" * 12
WEBHOOK_SECRET = "whsec_reliability_" + "9f" * 12
SECRETS = (SECRET, ADMIN, CLIENT, WEBHOOK_SECRET)
SIGNATURE = re.compile(r"signature=([A-Za-z0-9+/]{43}=)")
SECRET_HEADERS = ("authorization", "x-muxi-admin-key", "x-muxi-client-key")


def assert_clean(text: str, extra: tuple[str, ...] = ()) -> None:
    for secret in (*SECRETS, *extra):
        assert secret not in text, f"{secret[:6]}... leaked: {text[:400]!r}"


def everything(exc: BaseException) -> str:
    """Message, repr and the full traceback with every chained cause and context."""
    return f"{exc}\n{exc!r}\n" + "".join(traceback.format_exception(exc))


def signatures(requests: list[RawRequest]) -> tuple[str, ...]:
    found = []
    for request in requests:
        match = SIGNATURE.search(request.header("authorization") or "")
        if match:
            found.append(match.group(1))
    return tuple(found)


# --- reprs ---------------------------------------------------------------------------------------------


@pytest.fixture
def configs() -> Iterator[tuple[ServerConfig, FormationConfig]]:
    yield (ServerConfig("http://127.0.0.1:9", KEY_ID, SECRET, max_retries=2, timeout=Timeout(total=5)),
           FormationConfig(base_url="http://127.0.0.1:9/v1", admin_key=ADMIN, client_key=CLIENT))


def test_reprs_of_configs_clients_transports_and_requests(configs: tuple[ServerConfig, FormationConfig]) -> None:
    server_cfg, formation_cfg = configs
    objects: list[Any] = [server_cfg, formation_cfg]
    for cls, cfg in ((ServerClient, server_cfg), (FormationClient, formation_cfg),
                     (AsyncServerClient, server_cfg), (AsyncFormationClient, formation_cfg)):
        client = cls(cfg)
        objects += [client, client.transport, client.settings, client.settings.builder, client.config]
    objects += [HTTPCoreTransport(), AsyncHTTPCoreTransport(), AnyIOTransport(), SocketTransport()]
    hmac_builder, key_builder = RequestBuilder(server_cfg), RequestBuilder(formation_cfg)
    settings = CallSettings(hmac_builder, RetryPolicy(), clock=lambda: 1_800_000_000)
    call_ = CallMachine(Spec(Operation("GET", "/rpc/formations", Auth.HMAC)), settings)
    signed = call_.start().request
    secret_value = Operation("POST", "/secrets", Auth.ADMIN, body=b'{"key":"K","value":"' + SECRET.encode() + b'"}')
    secret_call = CallMachine(Spec(secret_value), CallSettings(key_builder, RetryPolicy()))
    objects += [call_, signed, secret_value, secret_call, key_builder.build(
        Operation("GET", "/status", Auth.ADMIN), idempotency_key="k", timestamp=1)]
    match = SIGNATURE.search(signed.header("authorization") or "")
    assert match is not None
    for obj in objects:
        assert_clean(f"{obj!r} {obj}", (match.group(1),))


def test_reprs_of_responses_and_streams() -> None:
    with LocalMuxiServer(admin_key=ADMIN, client_key=CLIENT) as server:
        for sync_transport in (HTTPCoreTransport(), SocketTransport()):
            with sync_transport as transport, FormationClient(server.formation_config(), transport=transport) as fc:
                stream = fc.chat_stream({"message": "hi"}, user_id="u")
                assert_clean(f"{stream!r} {stream._response!r} {transport!r} {server!r} {server.traffic!r}")
                stream.close()

        async def main() -> str:
            async with AnyIOTransport() as t, AsyncFormationClient(server.formation_config(), transport=t) as afc:
                astream = await afc.chat_stream({"message": "hi"}, user_id="u")
                try:
                    return f"{astream!r} {astream._response!r} {t!r} {afc!r}"
                finally:
                    await astream.aclose()

        assert_clean(anyio.run(main))
        assert_clean(repr(server.traffic.records()))


def test_webhook_secret_never_in_errors() -> None:
    body = b'{"id":"req_1","status":"completed"}'
    header = sign(body, WEBHOOK_SECRET, timestamp=1_800_000_000)
    assert verify_signature(body, header, WEBHOOK_SECRET, tolerance=10**10)
    assert not verify_signature(body.replace(b"req_1", b"req_2"), header, WEBHOOK_SECRET, tolerance=10**10)
    assert_clean(header)


def test_bad_credentials_are_refused_without_being_echoed() -> None:
    for bad in (ADMIN[:10] + "\r\nX-Evil: 1" + ADMIN[10:], ADMIN + "\x00"):
        with pytest.raises(ConfigurationError) as info:
            FormationConfig(base_url="http://127.0.0.1:9/v1", admin_key=bad)
        assert_clean(everything(info.value), (bad.strip(),))
    with pytest.raises(ConfigurationError) as info:
        FormationConfig(base_url=f"http://user:{ADMIN}@127.0.0.1:9/v1", admin_key="x" * 10)
    assert_clean(everything(info.value))
    with pytest.raises(ConfigurationError) as info:
        ServerConfig(f"https://{KEY_ID}:{SECRET}@muxi.example.com?x=1", KEY_ID, SECRET)
    assert_clean(everything(info.value))


# --- tracebacks of errors raised mid-request -----------------------------------------------------------


def echo_first_secret(request: RawRequest) -> list[Action]:
    """A hostile server: a valid status line, then a secret header of ours as an illegal line."""
    line = next(f"{k} {v}" for k, v in request.headers if k.lower() in SECRET_HEADERS)
    return [Send(b"HTTP/1.1 200 OK\r\n" + line.encode() + b"\r\n\r\n"), Finish()]


SCRIPTS: list[tuple[str, Any]] = [
    ("echoes a key in a header line", echo_first_secret),
    ("echoes a key in the status line",
     lambda r: [Send(next(f"HTTP/1.1 {v}" for k, v in r.headers if k.lower() in SECRET_HEADERS).encode()
                     + b"\r\n\r\n"), Finish()]),
    ("resets mid-body", [Send(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{"), Reset()]),
    ("stays silent", [Silent()]),
    ("answers 401", [Send(b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: 30\r\n"
                          b"\r\n{\"message\":\"Invalid signature\"}"), Finish()]),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("case", "script"), SCRIPTS, ids=[c[0] for c in SCRIPTS])
async def test_tracebacks_mid_request_hold_no_secret(flavour: Flavour, case: str, script: Any) -> None:
    timeout = Timeout(connect=2.0, read=0.1, write=2.0, pool=2.0)
    with RawServer(script) as server:
        for cfg, method in ((ServerConfig(server.url, KEY_ID, SECRET, timeout=timeout), "list_formations"),
                            (FormationConfig(base_url=server.url + "/v1", admin_key=ADMIN, client_key=CLIENT,
                                             timeout=timeout), "get_status"),
                            (FormationConfig(base_url=server.url + "/v1", client_key=CLIENT, timeout=timeout),
                             "get_sessions")):
            args = ("user-1",) if method == "get_sessions" else ()
            outcome = await call(flavour, cfg, method, *args)
            assert isinstance(outcome.error, MuxiError), outcome
            assert_clean(everything(outcome.error), signatures(server.requests))


@pytest.mark.anyio
async def test_wrong_key_answered_by_a_real_server(flavour: Flavour) -> None:
    with LocalMuxiServer() as server:
        wrong = ServerConfig(server.url, server.key_id, SECRET)
        outcome = await call(flavour, wrong, "list_formations")
        assert isinstance(outcome.error, AuthenticationError)
        stamps = tuple(a.rsplit("signature=", 1)[-1] for a in server.traffic.authorizations() if a)
        assert_clean(everything(outcome.error), stamps)


@pytest.mark.anyio
async def test_header_values_that_cannot_be_encoded_stay_out_of_tracebacks(flavour: Flavour) -> None:
    with RawServer([Finish()]) as server:
        headers = (("X-MUXI-ADMIN-KEY", ADMIN + "\n" + ADMIN),)  # would split the header: h11 refuses
        request = Request("GET", server.url + "/x", headers, timeout=Timeout.of(2))
        transport = flavour.make_transport()
        if flavour.sync:
            with pytest.raises(ProtocolError) as info:
                transport.send(request)  # type: ignore[union-attr]
            transport.close()  # type: ignore[union-attr]
        else:
            with pytest.raises(ProtocolError) as info:
                await transport.send(request)
            await transport.aclose()  # type: ignore[union-attr]
    assert "rejected by the HTTP encoder" in info.value.message
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert_clean(everything(info.value))


@given(secret=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=8, max_size=60),
       before=st.text(max_size=40), after=st.text(max_size=40))
def test_mapped_errors_never_quote_a_header_value(secret: str, before: str, after: str) -> None:
    import h11

    request = Request("GET", "http://127.0.0.1:9/x", (("X-Key", secret), ("Authorization", f"Scheme sig={secret}")))
    library_error = h11.RemoteProtocolError(f"illegal header line: {before}{secret}{after}")
    mapped = map_exception(library_error, request)
    assert mapped is not None and secret not in mapped.message
    with pytest.raises(ProtocolError) as info, map_errors(request):
        raise library_error
    assert secret not in "".join(traceback.format_exception(info.value))
