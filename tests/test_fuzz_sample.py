"""A small sample of the fuzz targets on every ``make test`` (``make fuzz`` runs millions)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.targets import TARGETS

SSE_ALPHABET = st.sampled_from([b"data:", b"data: x", b"event:", b"id:", b"retry:", b":", b" ", b"\r", b"\n",
                                b"\r\n", b"\xef\xbb\xbf", b"\xc3", b"\xa9", b"\0", b"x", b"12"])
inputs = st.one_of(st.binary(max_size=600), st.lists(SSE_ALPHABET, max_size=80).map(b"".join))


@pytest.mark.parametrize("name", sorted(TARGETS))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=inputs)
def test_target_sample(name: str, data: bytes) -> None:
    TARGETS[name](data)
