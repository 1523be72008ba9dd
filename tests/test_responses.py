"""Decoding complete responses of both planes into results or typed errors."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from muxi_proto.errors import (
    AuthenticationError,
    AuthorizationError,
    ConflictError,
    MuxiError,
    NotFoundError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
    ValidationError,
)
from muxi_proto.http import Response
from muxi_proto.responses import Decode, decode_response, error_from_response, parse_retry_after
from muxi_testing import envelopes

FIXTURES = Path(__file__).parent / "fixtures"
JSON = (("Content-Type", "application/json"),)
NOW = 1_800_000_000.0


def _resp(status: int, body: Any, headers: tuple[tuple[str, str], ...] = JSON) -> Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Response(status, headers, raw)


def _raises(resp: Response) -> MuxiError:
    with pytest.raises(MuxiError) as info:
        decode_response(resp, now=NOW)
    return info.value


# --- success ---------------------------------------------------------------------------------------

def test_runtime_envelope_unwraps_with_request_id_and_timestamp() -> None:
    body = json.loads((FIXTURES / "runtime-chat-json.json").read_text())
    out = decode_response(_resp(200, body))
    assert out["message"]["content"] == "Hello from the fake model."
    assert out["request_id"] == "req_QytPaG2D9gZHdp3g2OQZu"
    assert out["timestamp"] == 1795945132582
    assert out["idempotency_key"] == "k-123"
    assert out["session_id"] == "sess2"


def test_data_keys_win_over_merged_ones() -> None:
    body = envelopes.runtime_success({"request_id": "inner"}, request_id="outer", timestamp_ms=5)
    assert decode_response(_resp(200, body))["request_id"] == "inner"


def test_control_plane_envelope() -> None:
    out = decode_response(_resp(201, envelopes.control_success({"formations": [], "total": 0})))
    assert out == {"formations": [], "total": 0}


def test_bare_objects_and_text_and_bytes() -> None:
    health = {"success": True, "status": "ok", "version": "1.2.3"}
    assert decode_response(_resp(200, health)) == health
    assert decode_response(Response(200, (), b"pong"), decode=Decode.TEXT) == "pong"
    assert decode_response(Response(200, (), b"PK\x03\x04"), decode=Decode.BYTES) == b"PK\x03\x04"
    assert decode_response(Response(200, (), b"")) is None
    assert decode_response(Response(204, (), b"")) is None


def test_non_json_success_where_json_is_due_is_typed() -> None:
    err = _raises(Response(200, (("Content-Type", "text/html"),), b"<html><b>hi</b></html>"))
    assert isinstance(err, ResponseDecodeError)
    assert "hi" in err.message


def test_success_false_envelope_on_2xx_is_raised() -> None:
    body = envelopes.runtime_error(400, "nope", request_id="r1", timestamp_ms=1)
    err = _raises(_resp(200, body))
    assert err.message == "nope" and err.code == "INVALID_REQUEST" and err.request_id == "r1"


# --- errors ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("name", "cls", "code", "status"),
    [
        ("runtime-error-400.json", ValidationError, "INVALID_REQUEST", 400),
        ("runtime-error-401.json", AuthenticationError, "UNAUTHORIZED", 401),
        ("runtime-error-500.json", ServerError, "INTERNAL_ERROR", 500),
    ],
)
def test_runtime_error_fixtures(name: str, cls: type[MuxiError], code: str, status: int) -> None:
    body = json.loads((FIXTURES / name).read_text())
    err = _raises(_resp(status, body))
    assert type(err) is cls
    assert err.code == code
    assert err.message == body["error"]["message"]
    assert err.status_code == status
    assert err.request_id == body["request"]["id"]
    assert err.details == body


@pytest.mark.parametrize(
    ("status", "cls", "code"),
    [
        (400, ValidationError, "VALIDATION_ERROR"),
        (401, AuthenticationError, "UNAUTHORIZED"),
        (403, AuthorizationError, "FORBIDDEN"),
        (404, NotFoundError, "NOT_FOUND"),
        (409, ConflictError, "CONFLICT"),
        (422, ValidationError, "VALIDATION_ERROR"),
        (429, RateLimitError, "RATE_LIMITED"),
        (500, ServerError, "SERVER_ERROR"),
        (502, ServerError, "SERVER_ERROR"),
        (503, ServerError, "SERVER_ERROR"),
        (405, MuxiError, "ERROR"),
        (418, MuxiError, "ERROR"),
    ],
)
def test_control_plane_errors_by_status(status: int, cls: type[MuxiError], code: str) -> None:
    err = _raises(_resp(status, envelopes.control_error(status, "Endpoint not found")))
    assert type(err) is cls
    assert err.code == code  # the int `code` of the control plane is never taken as the code
    assert err.message == "Endpoint not found"
    assert err.status_code == status
    assert err.details["code"] == status


def test_control_plane_401_reason() -> None:
    err = _raises(_resp(401, {"error": "Unauthorized", "message": "Invalid signature", "code": 401}))
    assert isinstance(err, AuthenticationError) and err.message == "Invalid signature"


def test_runtime_handler_code_kept_as_given() -> None:
    body = envelopes.runtime_error(409, "Secret 'X' already exists", code="SECRET_EXISTS",
                                   request_id="req_1", timestamp_ms=1)
    err = _raises(_resp(409, body))
    assert isinstance(err, ConflictError) and err.code == "SECRET_EXISTS"
    assert err.message == "Secret 'X' already exists"


def test_html_error_page_gives_excerpt() -> None:
    page = b"<html><head><title>502 Bad Gateway</title></head><body>" + b"x" * 5000 + b"</body></html>"
    err = _raises(Response(502, (("Content-Type", "text/html"),), page))
    assert isinstance(err, ServerError)
    assert err.message.startswith("502 Bad Gateway")
    assert len(err.message) <= 210
    assert err.details["body"] == err.message


def test_empty_error_body_uses_reason_phrase() -> None:
    err = _raises(Response(405, (), b""))
    assert err.message == "Method Not Allowed" and err.details == {}


def test_fastapi_detail_message() -> None:
    assert _raises(_resp(422, {"detail": "bad field"})).message == "bad field"


def test_retry_after_on_errors() -> None:
    err = _raises(_resp(429, {"message": "slow"}, (*JSON, ("Retry-After", "7"))))
    assert isinstance(err, RateLimitError) and err.retry_after == 7.0
    date = format_datetime(datetime.fromtimestamp(NOW + 30, tz=timezone.utc), usegmt=True)
    err = _raises(_resp(503, {"message": "busy"}, (*JSON, ("Retry-After", date))))
    assert err.retry_after == pytest.approx(30.0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None), ("", None), ("0", 0.0), ("120", 120.0), (" 5 ", 5.0), ("-1", None), ("1.5", None),
        ("soon", None), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0), ("99999999999999999999", float("inf")),
        ("Wed, 21 Oct 2015 07:28:00", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected


@given(st.text())
def test_parse_retry_after_never_raises(value: str) -> None:
    result = parse_retry_after(value, now=NOW)
    assert result is None or result >= 0


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
statuses = st.integers(min_value=100, max_value=599)
bodies = st.one_of(st.binary(max_size=300), json_values.map(lambda v: json.dumps(v).encode()))
header_sets = st.lists(
    st.tuples(st.sampled_from(["Content-Type", "Retry-After", "X-Request-ID", "X"]), st.text(max_size=30)),
    max_size=4,
).map(tuple)


@given(status=statuses, body=bodies, headers=header_sets, decode=st.sampled_from(list(Decode)))
def test_any_response_decodes_or_raises_a_muxi_error(
    status: int, body: bytes, headers: tuple[tuple[str, str], ...], decode: Decode
) -> None:
    try:
        decode_response(Response(status, headers, body), decode=decode, now=NOW)
    except MuxiError as exc:
        assert isinstance(exc.message, str) and isinstance(exc.code, str) and exc.code
        if not 200 <= status <= 299:
            assert exc.status_code == status
    else:
        assert 200 <= status <= 299


@given(status=st.integers(min_value=300, max_value=599), payload=json_values)
def test_error_message_is_always_a_string(status: int, payload: Any) -> None:
    err = error_from_response(_resp(status, payload), now=NOW)
    assert isinstance(err.message, str) and err.message
    assert isinstance(err.details, dict)


def test_str_of_an_error_carries_status_code_message_request_id_and_wait() -> None:
    body = (b'{"success": false, "request": {"id": "req_7"}, '
            b'"error": {"code": "AGENT_NOT_FOUND", "message": "no agent x"}}')
    err = error_from_response(Response(404, (("Content-Type", "application/json"),), body), now=0)
    assert str(err) == "AGENT_NOT_FOUND (HTTP 404): no agent x [request req_7]"
    limited = error_from_response(Response(429, (("Retry-After", "5"),), b""), now=0)
    assert str(limited).startswith("RATE_LIMITED (HTTP 429): ") and str(limited).endswith("[retry after 5 s]")
    from muxi_proto.errors import ConnectionError

    assert str(ConnectionError(message="GET http://h/: refused")) == "CONNECTION_ERROR: GET http://h/: refused"
