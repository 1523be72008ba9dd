"""verify_signature, sign and canonical_json against the real runtime capture and hostile input."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from muxi_proto import webhook
from muxi_proto.errors import ConfigurationError, MuxiError, WebhookVerificationError

FIXTURE = Path(__file__).parent / "fixtures" / "runtime-webhooks.jsonl"
ADMIN_KEY = "test-admin-key"
CLIENT_KEY = "test-client-key"
SECRET = "whsec-unit-test"
T = 1795945191


def _capture() -> tuple[bytes, str]:
    record = json.loads(FIXTURE.read_text().splitlines()[0])
    return record["raw"].encode("utf-8"), record["headers"]["x-muxi-signature"]


RAW, HEADER = _capture()

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=16,
)
json_objects = st.dictionaries(st.text(max_size=6), json_values, max_size=6)


def _hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


# --- the real capture (docs/protocol.md §12) ---------------------------------------------------


def test_fixture_is_the_protocol_capture() -> None:
    assert HEADER == "t=1795945191,v1=882e1031809802edfa3649a761f9dbc7b0094c1d886c082b839e04188e4c0c6d"
    assert RAW.startswith(b'{"id": "req_ua3plOOgTyOQYJLK2mmwU", "object": "response"')


@pytest.mark.parametrize("now", [T, T + 300, T - 300, T + 299.9])
def test_real_capture_verifies_with_the_admin_key(now: float) -> None:
    assert webhook.verify_signature(RAW, HEADER, ADMIN_KEY, now=now) is True
    assert webhook.verify_signature(RAW.decode(), HEADER, ADMIN_KEY, now=now) is True


def test_real_capture_fails_with_the_client_key() -> None:
    assert webhook.verify_signature(RAW, HEADER, CLIENT_KEY, now=T) is False


def test_real_capture_is_signed_over_the_canonical_form_not_the_raw_bytes() -> None:
    # What the official SDK checks (raw bytes only) does not match: that is why it rejects it.
    signature = HEADER.split("v1=")[1]
    assert _hex(ADMIN_KEY, b"%d." % T + RAW) != signature
    canonical = json.dumps(json.loads(RAW), separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    assert _hex(ADMIN_KEY, b"%d." % T + canonical.encode()) == signature
    assert webhook.canonical_json(json.loads(RAW)) == canonical.encode()


@pytest.mark.parametrize("now", [T + 301, T - 301, T + 10_000, 0.0, float("nan")])
def test_real_capture_fails_outside_the_tolerance(now: float) -> None:
    assert webhook.verify_signature(RAW, HEADER, ADMIN_KEY, now=now) is False


def test_tolerance_positional_and_official_keyword_alias() -> None:
    assert webhook.verify_signature(RAW, HEADER, ADMIN_KEY, 600, now=T + 500) is True
    assert webhook.verify_signature(RAW, HEADER, ADMIN_KEY, tolerance=600, now=T + 500) is True
    assert webhook.verify_signature(RAW, HEADER, ADMIN_KEY, tolerance_seconds=600, now=T + 500) is True
    assert webhook.verify_signature(RAW, HEADER, ADMIN_KEY, tolerance_seconds=60, now=T + 61) is False
    assert webhook.verify_signature(RAW, HEADER, ADMIN_KEY, tolerance=0, now=T) is True


@pytest.mark.parametrize(
    "kwargs",
    [{"tolerance": 10, "tolerance_seconds": 20}, {"tolerance": -1}, {"tolerance_seconds": float("nan")}],
)
def test_bad_tolerance_is_a_configuration_error(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        webhook.verify_signature(RAW, HEADER, ADMIN_KEY, now=T, **kwargs)


def test_tampered_content_of_the_capture_fails() -> None:
    tampered = RAW.replace(b"Hello from the fake model.", b"Hello from the evil model.")
    assert webhook.verify_signature(tampered, HEADER, ADMIN_KEY, now=T) is False
    assert webhook.verify_signature(RAW.replace(b'"0"', b'"1"'), HEADER, ADMIN_KEY, now=T) is False


def test_whitespace_and_key_order_do_not_matter_for_a_canonical_signature() -> None:
    # By design: the runtime signs the meaning (canonical JSON), not one spelling of it.
    respelled = json.dumps(dict(reversed(list(json.loads(RAW).items()))), indent=2).encode()
    assert webhook.verify_signature(respelled, HEADER, ADMIN_KEY, now=T) is True


# --- raw-signed payloads: every byte counts -------------------------------------------------------


def test_tampering_any_byte_of_a_raw_signed_payload_fails() -> None:
    header = webhook.sign(RAW, SECRET, timestamp=T)
    assert webhook.verify_signature(RAW, header, SECRET, now=T) is True
    for index in range(len(RAW)):
        for mask in (0x01, 0x20, 0x80):
            tampered = bytearray(RAW)
            tampered[index] ^= mask
            assert webhook.verify_signature(bytes(tampered), header, SECRET, now=T) is False, (index, mask)
    assert webhook.verify_signature(RAW + b" ", header, SECRET, now=T) is False
    assert webhook.verify_signature(RAW[:-1], header, SECRET, now=T) is False


@settings(deadline=None, max_examples=300)
@given(body=st.binary(min_size=1, max_size=200), data=st.data())
@example(body=b"[1e+16]", data=None)
def test_a_tampered_raw_signed_body_never_verifies_unless_it_means_the_same(
    body: bytes, data: st.DataObject | None
) -> None:
    header = webhook.sign(body, SECRET, timestamp=T)
    assert webhook.verify_signature(body, header, SECRET, now=T) is True
    if data is None:
        index, mask = 3, ord("+") ^ ord("0")  # [1e016]: the same number, spelled differently
    else:
        index = data.draw(st.integers(0, len(body) - 1))
        mask = data.draw(st.integers(1, 255))
    tampered = bytearray(body)
    tampered[index] ^= mask
    if webhook.verify_signature(bytes(tampered), header, SECRET, now=T):
        # Only possible through the canonical path: the tampered text is another spelling of a body
        # that was itself canonical JSON, so nothing the receiver reads has changed.
        assert webhook.canonical_json(json.loads(bytes(tampered))) == body


# --- canonical-signed payloads as the runtime sends them -----------------------------------------

PAYLOAD = {
    "id": "req_1",
    "status": "completed",
    "response": [{"type": "text", "text": "héllo ☃ 😀 \u2028 \"quoted\" \\ back\nslash"}],
    "nested": {"b": 1, "a": "ü", "z": [1, 2.5, None, True, False, -0.0, 10**20]},
}


def test_canonical_signed_payload_sent_with_default_json_dumps_verifies() -> None:
    header = webhook.sign(PAYLOAD, SECRET, timestamp=T)  # a dict is signed in canonical form
    wire = json.dumps(PAYLOAD).encode()  # what aiohttp's json= sends: spaces and \uXXXX escapes
    assert b"\\u00e9" in wire and b", " in wire and b"\\ud83d\\ude00" in wire
    assert webhook.verify_signature(wire, header, SECRET, now=T) is True
    assert webhook.verify_signature(json.dumps(PAYLOAD, ensure_ascii=False), header, SECRET, now=T) is True
    assert webhook.verify_signature(webhook.canonical_json(PAYLOAD), header, SECRET, now=T) is True
    assert webhook.verify_signature(wire, header, "another-secret", now=T) is False


@settings(deadline=None, max_examples=200)
@given(payload=json_objects, indent=st.sampled_from([None, 2]), ascii_only=st.booleans())
def test_any_json_object_signed_canonically_verifies_in_any_spelling(
    payload: dict[str, Any], indent: int | None, ascii_only: bool
) -> None:
    header = webhook.sign(payload, SECRET, timestamp=T)
    wire = json.dumps(payload, indent=indent, ensure_ascii=ascii_only).encode()
    assert webhook.verify_signature(wire, header, SECRET, now=T) is True


# The runtime serialises with orjson, whose float spelling differs from Python's for some values.
# Expected bytes below were produced by orjson 3.8.3 (old) and 3.13.0 (new) and are kept literal.
ORJSON_CASES = [
    ({"processing_time": 5e-05}, b'{"processing_time":0.00005}'),
    ({"processing_time": 1.25e-05}, b'{"processing_time":0.0000125}'),
    ({"a": 1e-07, "b": [-2.5e-09]}, b'{"a":1e-7,"b":[-2.5e-9]}'),
    ({"big": 1e16, "small": 1e-06}, b'{"big":1e+16,"small":1e-6}'),  # orjson >= 3.11.7
    ({"big": 1e16, "small": 1e-06}, b'{"big":1e16,"small":1e-6}'),  # orjson < 3.11.7
    ({"big": 1.5e300}, b'{"big":1.5e300}'),  # orjson < 3.11.7
    ({"x": float("nan"), "y": [float("inf")]}, b'{"x":null,"y":[null]}'),
]


@pytest.mark.parametrize(("payload", "runtime_canonical"), ORJSON_CASES)
def test_orjson_float_spellings_of_the_runtime_verify(
    payload: dict[str, Any], runtime_canonical: bytes
) -> None:
    header = webhook.sign(runtime_canonical, SECRET, timestamp=T)  # what the runtime signs
    wire = json.dumps(payload).encode()  # what it sends
    assert webhook.verify_signature(wire, header, SECRET, now=T) is True


# --- header syntax ------------------------------------------------------------------------------


def _sig(body: bytes = RAW, secret: str = SECRET, t: int = T) -> str:
    return _hex(secret, b"%d." % t + body)


@pytest.mark.parametrize(
    "template",
    [
        "t={t},v1={s}",
        "t={t}, v1={s}",
        "t={t},  v1={s} ",
        "v1={s},t={t}",
        "t={t},v0=deadbeef,v1={s}",
        "t={t},v1={other},v1={s}",
        "t={t},v1={s},v1={other}",
        "t={t},v1=not-hex,v1={s}",
        "t={t},v1={upper}",
        "t={t},v2=future,v1={s}",
    ],
)
def test_accepted_header_forms(template: str) -> None:
    header = template.format(t=T, s=_sig(), other=_sig(secret="other"), upper=_sig().upper())
    assert webhook.verify_signature(RAW, header, SECRET, now=T) is True
    assert webhook.verify_signature(RAW, header.encode(), SECRET, now=T) is True


@pytest.mark.parametrize(
    "template",
    [
        "",
        " ",
        "garbage",
        "t={t}",
        "v1={s}",
        "t=,v1={s}",
        "t=abc,v1={s}",
        "t=-{t},v1={s}",
        "t=+{t},v1={s}",
        "t=1_795_945_191,v1={s}",
        "t=١٧٩٥٩٤٥١٩١,v1={s}",
        "t={t},t={t},v1={s}",
        "t={t},v1={s},",
        "t={t},,v1={s}",
        "t={t};v1={s}",
        "t={t},v1",
        "t={t},v1={s}0",
        "t={t},v1={short}",
        "t={t},v1={spaced}",
        "t={t},v0={s}",
        "t={t}\x00,v1={s}",
        "T={t},V1={s}",
        "t=1795945191000000000000,v1={s}",
    ],
)
def test_malformed_headers_are_false(template: str) -> None:
    good = _sig()
    header = template.format(t=T, s=good, short=good[:-2], spaced=good[:30] + " " + good[31:])
    assert webhook.verify_signature(RAW, header, SECRET, now=T) is False


def test_missing_header_is_false_and_oversized_header_is_false() -> None:
    assert webhook.verify_signature(RAW, None, SECRET, now=T) is False
    assert webhook.verify_signature(RAW, b"", SECRET, now=T) is False
    huge = f"t={T}," + "v0=x," * 5000 + f"v1={_sig()}"
    assert webhook.verify_signature(RAW, huge, SECRET, now=T) is False


def test_key_rotation_header_with_one_v1_per_secret() -> None:
    header = f"t={T},v1={_sig(secret='old-secret')},v1={_sig(secret='new-secret')}"
    assert webhook.verify_signature(RAW, header, "old-secret", now=T) is True
    assert webhook.verify_signature(RAW, header, "new-secret", now=T) is True
    assert webhook.verify_signature(RAW, header, "third-secret", now=T) is False


@settings(deadline=None, max_examples=300)
@given(t=st.integers(T - 400, T + 400), digest=st.binary(min_size=32, max_size=32), real=st.booleans())
def test_exact_and_spaced_header_forms_agree(t: int, digest: bytes, real: bool) -> None:
    # The runtime's exact form takes a fast path; the general parser must give the same answers.
    hex_digest = _sig(t=t) if real else digest.hex()
    exact = webhook.verify_signature(RAW, f"t={t},v1={hex_digest}", SECRET, now=T)
    spaced = webhook.verify_signature(RAW, f"t={t}, v1={hex_digest}", SECRET, now=T)
    assert exact is spaced
    assert exact is (real and abs(t - T) <= 300)


@settings(deadline=None, max_examples=500)
@given(header=st.text(max_size=300) | st.binary(max_size=300) | st.none())
@example(header="t=1795945191,v1=" + "\u00e9" * 64)
@example(header="t=1795945191,v1=" + "0" * 63 + "\u0660")
@example(header="t=" + "9" * 5000 + ",v1=" + "0" * 64)
def test_no_header_string_raises(header: str | bytes | None) -> None:
    assert webhook.verify_signature(RAW, header, SECRET, now=T) is False


@settings(deadline=None, max_examples=300)
@given(
    t=st.text(max_size=20) | st.integers(-(10**20), 10**20).map(str),
    sigs=st.lists(st.text(max_size=70) | st.just(_sig()), max_size=3),
    sep=st.sampled_from([",", ", ", " ,", ",,"]),
)
def test_near_valid_headers_never_raise(t: str, sigs: list[str], sep: str) -> None:
    header = sep.join([f"t={t}", *(f"v1={s}" for s in sigs)])
    result = webhook.verify_signature(RAW, header, SECRET, now=T)
    assert isinstance(result, bool)
    if result:
        assert int(t.strip()) == T


# --- hostile payloads ---------------------------------------------------------------------------


@settings(deadline=None, max_examples=300)
@given(body=st.binary(max_size=300) | st.text(max_size=100))
@example(body=b"[" * 100_000)
@example(body=b'{"a": "\\ud800"}')
@example(body="{\"a\": \"\ud800\"}")
@example(body=b"1" * 5000)
@example(body=b"\xef\xbb\xbf{}")
@example(body=b'{"a": NaN, "b": -Infinity, "c": 1e999}')
def test_no_payload_raises(body: bytes | str) -> None:
    header = f"t={T},v1={_sig(b'something else')}"
    assert webhook.verify_signature(body, header, SECRET, now=T) is False


def test_deeply_nested_canonical_candidate_is_false_not_recursion_error() -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    assert webhook.verify_signature(body, f"t={T},v1={_sig()}", SECRET, now=T) is False


def test_other_byte_containers_are_accepted() -> None:
    header = webhook.sign(RAW, SECRET, timestamp=T)
    assert webhook.verify_signature(bytearray(RAW), header, SECRET, now=T) is True
    assert webhook.verify_signature(memoryview(RAW), header, SECRET, now=T) is True


def test_payload_of_the_wrong_type_is_a_typed_error() -> None:
    with pytest.raises(WebhookVerificationError):
        webhook.verify_signature({"a": 1}, HEADER, SECRET, now=T)  # type: ignore[arg-type]


@pytest.mark.parametrize("secret", ["", b"", None])
@pytest.mark.parametrize("header", [HEADER, None, "", "garbage"])
def test_empty_secret_raises_a_typed_error(secret: Any, header: str | None) -> None:
    with pytest.raises(WebhookVerificationError) as info:
        webhook.verify_signature(RAW, header, secret, now=T)
    assert isinstance(info.value, MuxiError)


def test_bytes_secret_is_the_same_as_str_secret() -> None:
    assert webhook.verify_signature(RAW, HEADER, ADMIN_KEY.encode(), now=T) is True


def test_real_clock_is_the_default() -> None:
    import time

    now = int(time.time())
    header = webhook.sign(RAW, SECRET, timestamp=now)
    assert webhook.verify_signature(RAW, header, SECRET) is True
    stale = webhook.sign(RAW, SECRET, timestamp=now - 3600)
    assert webhook.verify_signature(RAW, stale, SECRET) is False


# --- sign and canonical_json --------------------------------------------------------------------


def test_sign_format_and_inputs() -> None:
    header = webhook.sign(RAW, SECRET, timestamp=T)
    assert re.fullmatch(r"t=1795945191,v1=[0-9a-f]{64}", header)
    assert header == f"t={T},v1={_sig()}"
    assert webhook.sign(RAW.decode(), SECRET, timestamp=T) == header
    payload = json.loads(RAW)
    assert webhook.sign(payload, ADMIN_KEY, timestamp=T) == HEADER  # reproduces the runtime
    assert webhook.sign(payload, SECRET, timestamp=T) == webhook.sign(
        webhook.canonical_json(payload), SECRET, timestamp=T
    )


@pytest.mark.parametrize("timestamp", [-1, 1.5, True, "1795945191"])
def test_sign_rejects_a_bad_timestamp(timestamp: Any) -> None:
    with pytest.raises(ConfigurationError):
        webhook.sign(RAW, SECRET, timestamp=timestamp)


def test_sign_rejects_an_empty_secret_and_unserialisable_payloads() -> None:
    with pytest.raises(WebhookVerificationError):
        webhook.sign(RAW, "", timestamp=T)
    with pytest.raises(WebhookVerificationError):
        webhook.sign({"when": object()}, SECRET, timestamp=T)


def test_canonical_json_spelling() -> None:
    assert webhook.canonical_json({"b": [1, 2.5, None], "a": "é☃\n"}) == (
        '{"a":"é☃\\n","b":[1,2.5,null]}'.encode()
    )


@settings(deadline=None, max_examples=200)
@given(payload=json_values)
def test_canonical_json_is_a_fixed_point(payload: Any) -> None:
    canonical = webhook.canonical_json(payload)
    assert webhook.canonical_json(json.loads(canonical)) == canonical
