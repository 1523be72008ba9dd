"""Redirects are never followed: a 3xx pointing at another origin gets no request (so no key, no
signature) from any client, on any (transport, flavour). The 3xx becomes a typed error naming it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from reliability_support import Flavour, call, matrix_fixtures

from muxi_proto.config import FormationConfig, ServerConfig
from muxi_proto.errors import MuxiError
from muxi_proto.http import Response
from muxi_proto.responses import error_from_response
from muxi_proto.retry import RetryPolicy
from tests.httpserver import HTTPTestServer, ResponseWriter, ServerRequest
from tests.rawserver import RawServer, Reset

pytestmark = pytest.mark.anyio
flavour, anyio_backend = matrix_fixtures()

ADMIN, CLIENT = "muxi_admin_redirect_0123456789", "muxi_client_redirect_0123456789"
KEY_ID, SECRET = "MUXI_0123456789abcdef", "sk_redirect_" + "7" * 52


@pytest.fixture
def elsewhere() -> Iterator[RawServer]:
    """Another origin that records every connection and request reaching it."""
    with RawServer([Reset()]) as server:
        yield server


def redirecting(status: int, location: str) -> HTTPTestServer:
    async def handler(request: ServerRequest, response: ResponseWriter) -> None:
        await response.respond(status, [("Location", location), ("Content-Type", "text/html")],
                               b"<a href='elsewhere'>moved</a>")

    return HTTPTestServer(handler).start()


CALLS: list[tuple[str, str, tuple[Any, ...], dict[str, Any], bool]] = [
    ("admin key GET", "get_status", (), {}, False),
    ("client key POST", "chat", ({"message": "hi"},), {"user_id": "u"}, False),
    ("client key stream", "chat_stream", ({"message": "hi"},), {"user_id": "u"}, True),
]


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize(("what", "method", "args", "kwargs", "stream"), CALLS, ids=[c[0] for c in CALLS])
async def test_formation_keys_never_reach_another_origin(
    flavour: Flavour, elsewhere: RawServer, status: int,
    what: str, method: str, args: tuple[Any, ...], kwargs: dict[str, Any], stream: bool,
) -> None:
    origin = redirecting(status, f"{elsewhere.url}/v1/status")
    try:
        cfg = FormationConfig(base_url=origin.url + "/v1", admin_key=ADMIN, client_key=CLIENT, max_retries=3)
        outcome = await call(flavour, cfg, method, *args, stream=stream, **kwargs)
        error = outcome.raised(MuxiError)
        assert error.status_code == status
        assert error.details["location"] == f"{elsewhere.url}/v1/status"
        assert "not followed" in error.message
        assert len(origin.requests) == 1  # neither followed nor retried
    finally:
        origin.stop()
    assert elsewhere.connections_opened == 0 and elsewhere.requests == []


async def test_signed_control_plane_calls_never_reach_another_origin(
    flavour: Flavour, elsewhere: RawServer
) -> None:
    origin = redirecting(307, f"{elsewhere.url}/rpc/formations")
    try:
        cfg = ServerConfig(origin.url, KEY_ID, SECRET)
        policy = RetryPolicy(max_retries=3, initial_backoff=0.0)
        outcome = await call(flavour, cfg, "list_formations", client_options={"retry_policy": policy})
        assert outcome.raised(MuxiError).status_code == 307
        assert len(origin.requests) == 1
        assert origin.requests[0].header("authorization", ).startswith("MUXI-HMAC")  # type: ignore[union-attr]
    finally:
        origin.stop()
    assert elsewhere.connections_opened == 0


async def test_a_same_origin_redirect_is_not_followed_either(flavour: Flavour) -> None:
    origin = redirecting(302, "/v1/other")
    try:
        cfg = FormationConfig(base_url=origin.url + "/v1", admin_key=ADMIN)
        outcome = await call(flavour, cfg, "get_status")
        assert outcome.raised(MuxiError).details["location"] == "/v1/other"
        assert [r.target for r in origin.requests] == ["/v1/status"]
    finally:
        origin.stop()


@given(
    status=st.integers(min_value=300, max_value=399),
    user=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12),
    password=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ_", min_size=8, max_size=20),
    path=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789/?#%=&.-", max_size=300),
)
def test_redirect_errors_show_the_location_without_credentials(
    status: int, user: str, password: str, path: str
) -> None:
    location = f"https://{user}:{password}@other.example/{path}"
    error = error_from_response(Response(status, (("Location", location),)), now=0.0)
    assert error.status_code == status
    assert password not in error.message and password not in str(error.details)
    assert error.details["location"].startswith("https://other.example/")
    assert len(error.details["location"]) <= 200


@given(status=st.integers(min_value=300, max_value=399), location=st.text(max_size=500))
def test_any_location_gives_a_typed_error(status: int, location: str) -> None:
    error = error_from_response(Response(status, (("Location", location),)), now=0.0)
    assert isinstance(error, MuxiError) and error.status_code == status
    if location.strip():
        assert isinstance(error.details["location"], str) and len(error.details["location"]) <= 200
