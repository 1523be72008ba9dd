"""verify_signature's inline path (the runtime's header shape, raw-signed bytes) and its keyed-HMAC cache."""

from __future__ import annotations

import hashlib
import hmac

from hypothesis import given, settings
from hypothesis import strategies as st

from muxi_proto import webhook
from muxi_proto.webhook import signature

T = 1_795_945_191


def reference(payload: bytes, header: str, secret: str, now: float, tolerance: float = 300) -> bool:
    """A literal verifier for raw-signed bodies and the exact header shape."""
    t_part, _, v1 = header.partition(",v1=")
    t = int(t_part[2:])
    if abs(now - t) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, v1)


@settings(max_examples=200, deadline=None)
@given(
    payload=st.binary(max_size=300),
    secret=st.text(min_size=1, max_size=20),
    other=st.text(min_size=1, max_size=20),
    skew=st.integers(-400, 400),
    flip=st.integers(0, 63),
)
def test_raw_signed_bodies_agree_with_a_literal_verifier(
    payload: bytes, secret: str, other: str, skew: int, flip: int
) -> None:
    header = webhook.sign(payload, secret, timestamp=T)
    now = T + skew
    assert webhook.verify_signature(payload, header, secret, now=now) is reference(payload, header, secret, now)
    assert webhook.verify_signature(payload, header, other, now=T) is (other == secret)
    digits = list(header)
    index = len("t=1795945191,v1=") + flip
    digits[index] = "0" if digits[index] != "0" else "1"
    tampered = "".join(digits)
    assert webhook.verify_signature(payload, tampered, secret, now=T) is False


def test_many_secrets_in_turn_each_verify_only_their_own_signatures() -> None:
    secrets = [f"secret-{i}" for i in range(3 * signature._KEYED_MAX)]
    body = b'{"id": "req_1", "status": "completed"}'
    headers = [webhook.sign(body, s, timestamp=T) for s in secrets]
    for _ in range(2):
        for i, secret in enumerate(secrets):
            assert webhook.verify_signature(body, headers[i], secret, now=T)
            assert not webhook.verify_signature(body, headers[i - 1], secret, now=T)
    assert len(signature._keyed_cache) <= signature._KEYED_MAX


def test_uppercase_hex_and_bytes_headers_still_take_the_general_path() -> None:
    body = b"{}"
    header = webhook.sign(body, "s", timestamp=T)
    upper = header[: header.index("v1=") + 3] + header[header.index("v1=") + 3:].upper()
    assert webhook.verify_signature(body, upper, "s", now=T)
    assert webhook.verify_signature(body, header.encode(), "s", now=T)
    assert webhook.verify_signature(bytearray(body), header, "s", now=T)
    assert webhook.verify_signature(body.decode(), header, "s", now=T)


def test_the_real_runtime_webhook_verifies_through_its_canonical_form() -> None:
    raw = (
        b'{"id": "req_ua3plOOgTyOQYJLK2mmwU", "object": "response", "status": "completed", "timestamp": '
        b'1795945191337, "formation_id": "proto-test", "user_id": "0", "processing_time": 0.41510868072509766, '
        b'"processing_mode": "async", "webhook_url": "http://127.0.0.1:18999/hook", "error": null, "response": '
        b'[{"type": "text", "text": "Hello from the fake model."}]}'
    )
    header = "t=1795945191,v1=882e1031809802edfa3649a761f9dbc7b0094c1d886c082b839e04188e4c0c6d"
    assert webhook.verify_signature(raw, header, "test-admin-key", now=T)
    assert not webhook.verify_signature(raw, header, "test-admin-key", now=T + 301)
    assert not webhook.verify_signature(raw, header, "wrong-key", now=T)
