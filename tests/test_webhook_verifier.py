"""WebhookVerifier: key rotation, injected clock, replay protection, and its bounded store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from muxi_proto import webhook
from muxi_proto.errors import ConfigurationError, WebhookVerificationError

FIXTURE = Path(__file__).parent / "fixtures" / "runtime-webhooks.jsonl"
RECORD = json.loads(FIXTURE.read_text().splitlines()[0])
RAW: bytes = RECORD["raw"].encode()
HEADER: str = RECORD["headers"]["x-muxi-signature"]
T = 1795945191


class Clock:
    """A settable clock (seconds)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_real_capture_with_an_injected_clock() -> None:
    clock = Clock(T + 10)
    verifier = webhook.WebhookVerifier("test-admin-key", clock=clock)
    assert verifier.verify(RAW, HEADER) is True
    clock.now = T + 400
    assert webhook.WebhookVerifier("test-admin-key", clock=clock).verify(RAW, HEADER) is False
    assert webhook.WebhookVerifier("test-client-key", clock=Clock(T)).verify(RAW, HEADER) is False


def test_key_rotation_accepts_any_configured_secret() -> None:
    verifier = webhook.WebhookVerifier(["new-secret", "old-secret"], clock=Clock(T), replay_store=None)
    for secret in ("new-secret", "old-secret", b"old-secret"):
        assert verifier.verify(RAW, webhook.sign(RAW, secret, timestamp=T)) is True
    assert verifier.verify(RAW, webhook.sign(RAW, "retired-secret", timestamp=T)) is False
    both = webhook.sign(RAW, "old-secret", timestamp=T) + "," + webhook.sign(
        RAW, "new-secret", timestamp=T
    ).split(",")[1]
    assert webhook.WebhookVerifier("new-secret", clock=Clock(T)).verify(RAW, both) is True
    assert webhook.WebhookVerifier("old-secret", clock=Clock(T)).verify(RAW, both) is True


def test_a_replay_is_rejected_and_a_fresh_signature_is_not() -> None:
    clock = Clock(T)
    verifier = webhook.WebhookVerifier("s3cret", clock=clock)
    header = webhook.sign(RAW, "s3cret", timestamp=T)
    assert verifier.verify(RAW, header) is True
    assert verifier.verify(RAW, header) is False
    # Reordered or padded headers carrying the same signature are the same delivery.
    assert verifier.verify(RAW, header.replace(",", ", ") + ",v0=abc") is False
    # The runtime re-signs each delivery attempt: a new timestamp is a new delivery.
    clock.now = T + 2
    assert verifier.verify(RAW, webhook.sign(RAW, "s3cret", timestamp=T + 2)) is True


def test_a_replay_in_another_spelling_is_rejected() -> None:
    verifier = webhook.WebhookVerifier("test-admin-key", clock=Clock(T))
    assert verifier.verify(RAW, HEADER) is True
    respelled = json.dumps(json.loads(RAW), indent=1).encode()
    assert verifier.verify(respelled, HEADER) is False


def test_failed_verifications_are_not_recorded() -> None:
    store = webhook.MemoryReplayStore()
    verifier = webhook.WebhookVerifier("s3cret", clock=Clock(T), replay_store=store)
    header = webhook.sign(RAW, "s3cret", timestamp=T)
    assert verifier.verify(RAW + b"x", header) is False
    assert len(store) == 0
    assert verifier.verify(RAW, header) is True
    assert len(store) == 1


def test_replay_protection_can_be_switched_off() -> None:
    verifier = webhook.WebhookVerifier("s3cret", clock=Clock(T), replay_store=None)
    header = webhook.sign(RAW, "s3cret", timestamp=T)
    assert verifier.verify(RAW, header) is True
    assert verifier.verify(RAW, header) is True


def test_a_custom_store_receives_keys_that_hold_no_secret() -> None:
    calls: list[tuple[bytes, float, float]] = []

    class Store:
        def check_and_record(self, key: bytes, expires_at: float, now: float) -> bool:
            calls.append((key, expires_at, now))
            return len(calls) == 1

    verifier = webhook.WebhookVerifier("s3cret", tolerance=60, clock=Clock(T + 5), replay_store=Store())
    header = webhook.sign(RAW, "s3cret", timestamp=T)
    assert verifier.verify(RAW, header) is True
    assert verifier.verify(RAW, header) is False
    key, expires_at, now = calls[0]
    assert (expires_at, now) == (T + 60, T + 5)
    assert key.startswith(b"%d." % T) and b"s3cret" not in key
    assert calls[1][0] == key


def test_expired_entries_are_pruned() -> None:
    clock = Clock(T)
    store = webhook.MemoryReplayStore()
    verifier = webhook.WebhookVerifier("s3cret", tolerance=30, clock=clock, replay_store=store)
    for offset in range(5):
        assert verifier.verify(RAW, webhook.sign(RAW, "s3cret", timestamp=T + offset)) is True
    assert len(store) == 5
    clock.now = T + 100
    assert verifier.verify(RAW, webhook.sign(RAW, "s3cret", timestamp=T + 100)) is True
    assert len(store) == 1


def test_the_store_is_bounded_and_evicts_the_entry_closest_to_expiry() -> None:
    store = webhook.MemoryReplayStore(max_entries=3)
    for index, expires_at in enumerate([50.0, 10.0, 30.0, 40.0]):
        assert store.check_and_record(b"k%d" % index, expires_at, now=0.0) is True
    assert len(store) == 3
    assert store.check_and_record(b"k1", 10.0, now=0.0) is True  # evicted: expired soonest
    assert store.check_and_record(b"k0", 50.0, now=0.0) is False


def test_verify_and_parse() -> None:
    verifier = webhook.WebhookVerifier("test-admin-key", clock=Clock(T))
    event = verifier.verify_and_parse(RAW, HEADER)
    assert event.request_id == "req_ua3plOOgTyOQYJLK2mmwU"
    with pytest.raises(WebhookVerificationError):
        verifier.verify_and_parse(RAW, HEADER)  # now a replay


def test_reprs_hide_secrets() -> None:
    verifier = webhook.WebhookVerifier(["test-admin-key", "other-secret"])
    text = repr(verifier)
    assert "test-admin-key" not in text and "other-secret" not in text
    assert "2 hidden" in text


@pytest.mark.parametrize("secrets", ["", [], ["ok", ""], [None]])
def test_empty_secrets_are_rejected(secrets: object) -> None:
    with pytest.raises(WebhookVerificationError):
        webhook.WebhookVerifier(secrets)  # type: ignore[arg-type]


def test_bad_configuration_is_rejected() -> None:
    with pytest.raises(ConfigurationError):
        webhook.WebhookVerifier("s", tolerance=-5)
    with pytest.raises(ConfigurationError):
        webhook.MemoryReplayStore(max_entries=0)


@settings(deadline=None, max_examples=300)
@given(
    header=st.text(max_size=120) | st.none(),
    t=st.integers(T - 1000, T + 1000),
    tamper=st.booleans(),
    rotate=st.booleans(),
)
def test_verifier_and_function_agree(header: str | None, t: int, tamper: bool, rotate: bool) -> None:
    # One implementation behind both: same answers for junk, fresh, stale and tampered input.
    if header is None or rotate:
        header = webhook.sign(RAW, "old" if rotate else "k", timestamp=t)
    body = RAW + b" " if tamper else RAW
    verifier = webhook.WebhookVerifier(["k", "old"], clock=Clock(T), replay_store=None)
    expected = webhook.verify_signature(body, header, "k", now=T) or webhook.verify_signature(
        body, header, "old", now=T
    )
    assert verifier.verify(body, header) is expected


class ReplayStoreMachine(RuleBasedStateMachine):
    """MemoryReplayStore against a model, fed as the verifier feeds it.

    A key carries its timestamp t, so it always comes with the same expiry (t + tolerance), and it
    is only offered while |now - t| <= tolerance. With room to spare the store must match the model
    exactly; when bounded it may forget a key (letting a replay through), never invent one.
    """

    TOLERANCE = 10

    def __init__(self) -> None:
        super().__init__()
        self.bounded = webhook.MemoryReplayStore(max_entries=4)
        self.roomy = webhook.MemoryReplayStore(max_entries=10_000)
        self.model: dict[bytes, float] = {}
        self.now = 0

    @rule(advance=st.integers(0, 8))
    def tick(self, advance: int) -> None:
        self.now += advance

    @rule(offset=st.integers(-TOLERANCE, TOLERANCE), signature=st.sampled_from([b"x", b"y"]))
    def record(self, offset: int, signature: bytes) -> None:
        t = self.now + offset
        key, expires_at = b"%d." % t + signature, t + self.TOLERANCE
        self.model = {k: e for k, e in self.model.items() if e >= self.now}
        expected_new = key not in self.model
        if expected_new:
            self.model[key] = expires_at
        assert self.roomy.check_and_record(key, expires_at, self.now) is expected_new
        if not self.bounded.check_and_record(key, expires_at, self.now):
            assert not expected_new
        assert self.bounded.check_and_record(key, expires_at, self.now) is False  # just recorded

    @invariant()
    def sizes(self) -> None:
        assert len(self.bounded) <= 4
        assert len(self.roomy) == len(self.model)


TestReplayStore = ReplayStoreMachine.TestCase
TestReplayStore.settings = settings(deadline=None, max_examples=300, stateful_step_count=60)
