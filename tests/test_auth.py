"""HMAC signing and the server's verification (docs/protocol.md §2)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from muxi_proto import auth
from muxi_proto.errors import AuthenticationError

SECRET = "sk_test_secret"
KEY = "MUXI_0123456789abcdef"
TS = 1700000000


@pytest.mark.parametrize(
    ("method", "signature"),
    [
        ("GET", "Q7h/6/+TDi9KWre6Peoc2zkdh8qSiRGDTNB2+obpUUQ="),
        ("POST", "WEwIso1GQyQ7RgZAksPfySYigIkpjn9UbrYKD3KnJZI="),
    ],
)
def test_protocol_worked_example(method: str, signature: str) -> None:
    header = auth.sign_request(method, "/rpc/formations", key_id=KEY, secret_key=SECRET, timestamp=TS)
    assert header == f"MUXI-HMAC key={KEY}, timestamp={TS}, signature={signature}"
    assert len(signature) == 44


def test_method_is_uppercased_and_query_is_not_signed() -> None:
    a = auth.sign_request("get", "/rpc/server/logs?lines=5", key_id=KEY, secret_key=SECRET, timestamp=TS)
    b = auth.sign_request("GET", "/rpc/server/logs", key_id=KEY, secret_key=SECRET, timestamp=TS)
    assert a == b


def _verify(header: str | None, *, method: str = "GET", path: str = "/rpc/formations",
            now: float = TS, key: str = KEY, secret: str = SECRET) -> None:
    auth.verify_request(header, method, path, key_id=key, secret_key=secret, now=now)


def _reason(header: str | None, **kw: object) -> str:
    with pytest.raises(AuthenticationError) as info:
        _verify(header, **kw)  # type: ignore[arg-type]
    err = info.value
    assert err.status_code == 401
    assert err.details == {"error": "Unauthorized", "message": err.message, "code": 401}
    return err.message


GOOD = auth.sign_request("GET", "/rpc/formations", key_id=KEY, secret_key=SECRET, timestamp=TS)


def test_valid_header_passes_with_or_without_query() -> None:
    _verify(GOOD)
    _verify(GOOD, path="/rpc/formations?x=1")


@pytest.mark.parametrize("header", [None, ""])
def test_missing_header(header: str | None) -> None:
    assert _reason(header) == "Missing authorization header"


@pytest.mark.parametrize(
    "header",
    [
        "Bearer abc",
        "MUXI-HMAC",
        "MUXI-HMAC key=a,timestamp=1,signature=x",  # wrong separator
        f"MUXI-HMAC key={KEY}, timestamp={TS}",  # missing signature
        f"MUXI-HMAC key={KEY}, timestamp=abc, signature=x",
        f"MUXI-HMAC key={KEY}, timestamp={TS}, signature=x, extra=1",
        f'MUXI-HMAC key="{KEY}", timestamp={TS}, signature=x, key=y',
        f"MUXI-HMAC key=, timestamp={TS}, signature=x",
        f"muxi-hmac key={KEY}, timestamp={TS}, signature=x",
        f"MUXI-HMAC key={KEY}, timestamp=--5, signature=x",
    ],
)
def test_invalid_format(header: str) -> None:
    assert _reason(header) == "Invalid authorization header format"


def test_invalid_key_is_checked_before_time_and_signature() -> None:
    header = auth.sign_request("GET", "/rpc/formations", key_id="MUXI_other", secret_key="x", timestamp=1)
    assert _reason(header) == "Invalid key"


@pytest.mark.parametrize("skew", [301, -301, 10_000])
def test_expired(skew: int) -> None:
    assert _reason(GOOD, now=TS + skew) == "Request expired (timestamp too old or in future)"


@pytest.mark.parametrize("skew", [300, -300, 0])
def test_tolerance_is_inclusive_both_ways(skew: int) -> None:
    _verify(GOOD, now=TS + skew)


@pytest.mark.parametrize(
    "kw", [{"method": "POST"}, {"path": "/rpc/formations/x"}, {"secret": "sk_other"}]
)
def test_invalid_signature(kw: dict[str, str]) -> None:
    assert _reason(GOOD, **kw) == "Invalid signature"


_text = st.text(st.characters(min_codepoint=33, max_codepoint=0x2FFF, exclude_characters=",="), min_size=1)


@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
    path=st.text(min_size=1).map(lambda s: "/" + s.replace("?", "")),
    key=_text,
    secret=st.text(min_size=1),
    ts=st.integers(min_value=0, max_value=2**40),
    skew=st.integers(min_value=-300, max_value=300),
)
def test_sign_verify_round_trip(method: str, path: str, key: str, secret: str, ts: int, skew: int) -> None:
    header = auth.sign_request(method, path, key_id=key, secret_key=secret, timestamp=ts)
    auth.verify_request(header, method, path, key_id=key, secret_key=secret, now=ts + skew)


@given(header=st.one_of(st.none(), st.text(), st.binary().map(lambda b: b.decode("latin-1"))))
def test_any_header_is_accepted_or_rejected_with_a_typed_error(header: str | None) -> None:
    try:
        _verify(header)
    except AuthenticationError as exc:
        assert exc.message in {
            auth.MISSING_HEADER, auth.INVALID_FORMAT, auth.INVALID_KEY, auth.EXPIRED, auth.INVALID_SIGNATURE,
        }
