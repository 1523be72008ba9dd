"""The retry policy: every branch, table-driven, plus properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from muxi_proto.retry import RETRYABLE_STATUSES, Failure, Received, RetryPolicy


def mid() -> float:
    return 0.5  # jitter factor exactly 1


POLICY = RetryPolicy(max_retries=3, random=mid)


@pytest.mark.parametrize(
    ("method", "idempotent", "outcome", "retry"),
    [
        # GET / DELETE: connection failures and the retryable statuses
        ("GET", False, Failure(reached_server=False), True),
        ("GET", False, Failure(reached_server=True), True),
        ("DELETE", False, Failure(reached_server=True), True),
        *[("GET", False, Received(s), True) for s in sorted(RETRYABLE_STATUSES)],
        *[("DELETE", False, Received(s), True) for s in sorted(RETRYABLE_STATUSES)],
        *[("GET", False, Received(s), False) for s in (200, 201, 301, 400, 401, 403, 404, 409, 422, 501, 505)],
        # POST / PUT: only when the request provably never reached the server...
        ("POST", False, Failure(reached_server=False), True),
        ("PUT", False, Failure(reached_server=False), True),
        ("POST", False, Failure(reached_server=True), False),
        ("PUT", False, Failure(reached_server=True), False),
        *[("POST", False, Received(s), False) for s in sorted(RETRYABLE_STATUSES)],
        *[("PUT", False, Received(s), False) for s in sorted(RETRYABLE_STATUSES)],
        # ...or on the routes the runtime deduplicates by idempotency key
        ("POST", True, Failure(reached_server=True), True),
        *[("POST", True, Received(s), True) for s in sorted(RETRYABLE_STATUSES)],
        ("POST", True, Received(400), False),
        ("post", True, Received(500), True),
        ("get", False, Received(503), True),
    ],
)
def test_what_is_retried(method: str, idempotent: bool, outcome: Failure | Received, retry: bool) -> None:
    assert POLICY.decide(1, method, outcome, idempotent_route=idempotent).retry is retry


def test_attempts_are_bounded_by_max_retries() -> None:
    outcome = Received(503)
    assert [POLICY.decide(n, "GET", outcome).retry for n in (1, 2, 3, 4, 5)] == [True, True, True, False, False]
    assert not RetryPolicy(max_retries=0).decide(1, "GET", outcome).retry


def test_backoff_doubles_from_half_a_second_and_caps_at_30() -> None:
    policy = RetryPolicy(max_retries=100, random=mid)
    delays = [policy.decide(n, "GET", Failure(False)).delay for n in range(1, 10)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert policy.decide(99, "GET", Failure(False)).delay == 30.0


@pytest.mark.parametrize(("draw", "factor"), [(0.0, 0.9), (1.0, 1.1), (0.75, 1.05)])
def test_jitter_is_ten_percent_from_the_injected_source(draw: float, factor: float) -> None:
    policy = RetryPolicy(max_retries=5, random=lambda: draw)
    assert policy.decide(3, "GET", Received(500)).delay == pytest.approx(2.0 * factor)


def test_retry_after_seconds_replaces_backoff() -> None:
    d = POLICY.decide(1, "GET", Received(429, (("Retry-After", "7"),)))
    assert d.retry and d.delay == 7.0


def test_retry_after_http_date() -> None:
    d = POLICY.decide(1, "GET", Received(503, (("retry-after", "Thu, 01 Jan 2026 00:00:10 GMT"),)),
                      now=1767225600.0)  # 2026-01-01T00:00:00Z
    assert d.delay == pytest.approx(10.0)


def test_retry_after_is_capped_and_garbage_ignored() -> None:
    assert POLICY.decide(1, "GET", Received(429, (("Retry-After", "86400"),))).delay == 60.0
    assert RetryPolicy(max_retries=1, max_retry_after=5).decide(
        1, "GET", Received(429, (("Retry-After", "99999999999999999999999"),))).delay == 5.0
    assert POLICY.decide(1, "GET", Received(429, (("Retry-After", "later"),))).delay == 0.5


def test_retry_after_never_makes_an_unsafe_post_retryable() -> None:
    assert not POLICY.decide(1, "POST", Received(429, (("Retry-After", "1"),))).retry


@given(
    attempt=st.integers(min_value=1, max_value=1000),
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
    idempotent=st.booleans(),
    status=st.one_of(st.none(), st.integers(min_value=100, max_value=599)),
    reached=st.booleans(),
    retry_after=st.one_of(st.none(), st.text(max_size=40)),
    draw=st.floats(min_value=0.0, max_value=1.0),
    max_retries=st.integers(min_value=0, max_value=10),
)
def test_decisions_are_sane(attempt: int, method: str, idempotent: bool, status: int | None,
                            reached: bool, retry_after: str | None, draw: float, max_retries: int) -> None:
    policy = RetryPolicy(max_retries=max_retries, random=lambda: draw)
    headers = () if retry_after is None else (("Retry-After", retry_after),)
    outcome = Failure(reached) if status is None else Received(status, headers)
    d = policy.decide(attempt, method, outcome, idempotent_route=idempotent, now=1.8e9)
    assert 0.0 <= d.delay <= 60.0
    if d.retry:
        assert attempt <= max_retries
        safe = method in ("GET", "DELETE") or idempotent
        assert safe or (status is None and not reached)
        assert status is None or status in RETRYABLE_STATUSES
