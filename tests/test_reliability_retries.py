"""5xx storms and ``Retry-After`` against the local server, on every (transport, flavour).

Waits are recorded, not slept. Each case counts the attempts that reached the server and checks
what the retry rules promise: GET retried with capped exponential backoff, ``Retry-After``
honoured in both forms (capped when absurd, ignored when invalid), unsafe POSTs never replayed,
one idempotency key per logical call, and a fresh HMAC timestamp on every attempt.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from email.utils import format_datetime

import pytest
from reliability_support import Flavour, Outcome, call, matrix_fixtures, recording_sleeps

from muxi_proto.auth import parse_authorization, verify_request
from muxi_proto.config import FormationConfig, ServerConfig
from muxi_proto.errors import RateLimitError, ServerError
from muxi_proto.retry import RetryPolicy
from muxi_testing import LocalMuxiServer

pytestmark = pytest.mark.anyio
flavour, anyio_backend = matrix_fixtures()

POLICY = RetryPolicy(max_retries=4, initial_backoff=0.1, max_backoff=10.0, jitter=0.0, max_retry_after=5.0)
LIST = "/rpc/formations"


@pytest.fixture(scope="module")
def server() -> Iterator[LocalMuxiServer]:
    with LocalMuxiServer() as srv:
        yield srv
        assert srv.errors == []


@pytest.fixture(autouse=True)
def clean(server: LocalMuxiServer) -> Iterator[None]:
    server.faults.clear()
    server.traffic.clear()
    yield
    assert server.faults.pending == 0, "a configured fault was never used"


async def _call(
    flavour: Flavour, cfg: ServerConfig | FormationConfig, method: str, *args: object,
    clock: object = None, **kwargs: object,
) -> tuple[Outcome, list[float]]:
    transport = flavour.make_transport()
    delays, options = recording_sleeps(flavour, transport)
    options["retry_policy"] = POLICY
    if clock is not None:
        options["clock"] = clock
    try:
        outcome = await call(flavour, cfg, method, *args, client_options=options, transport=transport, **kwargs)
    finally:
        if flavour.sync:
            transport.close()  # type: ignore[union-attr]
        else:
            await transport.aclose()  # type: ignore[union-attr]
    return outcome, delays


async def test_get_storm_backs_off_with_one_key_and_fresh_signatures(
    flavour: Flavour, server: LocalMuxiServer
) -> None:

    for status in (500, 502, 503, 504):
        server.faults.fail_next(status=status, path_prefix=LIST)
    ticks = itertools.count(int(time.time()))
    outcome, delays = await _call(flavour, server.server_config(), "list_formations",
                                  clock=lambda: float(next(ticks)))
    assert outcome.error is None and outcome.value["total"] >= 1
    assert delays == [0.1, 0.2, 0.4, 0.8]  # initial * 2**n, no jitter
    assert server.traffic.count(LIST) == 5
    keys = server.traffic.idempotency_keys(LIST)
    assert len(set(keys)) == 1 and keys[0]
    authorizations = [a for a in server.traffic.authorizations(LIST) if a]
    stamps = [int(parse_authorization(a)["timestamp"]) for a in authorizations]
    assert len(stamps) == 5 and stamps == sorted(set(stamps))  # a new timestamp on every attempt
    for value, stamp in zip(authorizations, stamps, strict=True):  # each one validly signed for its time
        verify_request(value, "GET", LIST, key_id=server.key_id, secret_key=server.secret_key, now=stamp)


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_in_seconds(flavour: Flavour, server: LocalMuxiServer, status: int) -> None:
    server.faults.fail_next(status=status, retry_after=3, path_prefix=LIST)
    outcome, delays = await _call(flavour, server.server_config(), "list_formations")
    assert outcome.error is None and delays == [3.0]
    assert server.traffic.count(LIST) == 2


async def test_retry_after_as_an_http_date(flavour: Flavour, server: LocalMuxiServer) -> None:
    now = float(int(time.time()))
    when = datetime.fromtimestamp(now + 4, timezone.utc)
    server.faults.fail_next(status=503, retry_after=format_datetime(when, usegmt=True), path_prefix=LIST)
    outcome, delays = await _call(flavour, server.server_config(), "list_formations", clock=lambda: now)
    assert outcome.error is None and delays == [4.0]


@pytest.mark.parametrize("value", ["99999999", "1" + "0" * 40], ids=["huge", "absurd"])
async def test_absurd_retry_after_is_capped(flavour: Flavour, server: LocalMuxiServer, value: str) -> None:
    server.faults.fail_next(status=503, retry_after=value, path_prefix=LIST)
    outcome, delays = await _call(flavour, server.server_config(), "list_formations")
    assert outcome.error is None and delays == [POLICY.max_retry_after]


@pytest.mark.parametrize("value", ["soon", "-3", "1.5", "Wed, 99 Foo 2030 25:61:61 GMT", "", "0x10"])
async def test_invalid_retry_after_is_ignored(flavour: Flavour, server: LocalMuxiServer, value: str) -> None:
    server.faults.fail_next(status=503, retry_after=value, path_prefix=LIST)
    outcome, delays = await _call(flavour, server.server_config(), "list_formations")
    assert outcome.error is None and delays == [POLICY.initial_backoff]  # plain backoff instead


async def test_exhausted_retries_raise_the_last_answer(flavour: Flavour, server: LocalMuxiServer) -> None:
    server.faults.fail_next(POLICY.max_retries + 1, status=429, retry_after=1, path_prefix=LIST)
    outcome, delays = await _call(flavour, server.server_config(), "list_formations")
    error = outcome.raised(RateLimitError)
    assert error.status_code == 429 and error.retry_after == 1.0
    assert delays == [1.0] * POLICY.max_retries
    assert server.traffic.count(LIST) == POLICY.max_retries + 1


async def test_unsafe_posts_are_never_replayed(flavour: Flavour, server: LocalMuxiServer) -> None:
    start = f"/rpc/formations/{server.formation_id}/restart"
    server.faults.fail_next(status=503, retry_after=0, path_prefix=start)
    outcome, delays = await _call(flavour, server.server_config(), "restart_formation", server.formation_id)
    outcome.raised(ServerError)
    assert delays == [] and server.traffic.count(start) == 1
    secrets = f"/api/{server.formation_id}/v1/secrets"
    server.faults.fail_next(status=502, path_prefix=secrets)
    outcome, delays = await _call(flavour, server.formation_config(), "create_secret", "RETRY_KEY", "value")
    outcome.raised(ServerError)
    assert delays == [] and server.traffic.count(secrets) == 1


async def test_idempotent_post_is_replayed_with_its_key(flavour: Flavour, server: LocalMuxiServer) -> None:
    chat = f"/api/{server.formation_id}/v1/chat"
    server.faults.fail_next(2, status=503, path_prefix=chat)
    outcome, delays = await _call(flavour, server.formation_config(), "chat", {"message": "once"}, user_id="r")
    assert outcome.value["message"]["content"] == "once"
    assert delays == [0.1, 0.2]
    keys = server.traffic.idempotency_keys(chat)
    assert len(keys) == 3 and len(set(keys)) == 1 and keys[0]
