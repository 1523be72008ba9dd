"""The suite-wide secret audit notices a leak (so its silence at the end of a run means something)."""

from __future__ import annotations

import logging

from muxi_proto.config import FormationConfig
from tests import secret_audit


def test_detector_finds_secrets_in_text() -> None:
    found = secret_audit.leaks(["GET /x key=adm_0123456789 ok", "nothing here"], {"adm_0123456789"})
    assert len(found) == 1 and "adm_" in found[0][0]
    assert secret_audit.leaks(["clean"], {"adm_0123456789"}) == []


def test_configs_register_their_secrets() -> None:
    FormationConfig(url="http://h", admin_key="adm_registered_123")
    assert "adm_registered_123" in secret_audit._secrets


def test_debug_logging_is_on_and_captured() -> None:
    logging.getLogger("muxi").debug("audit-probe-%d", 42)
    assert any("audit-probe-42" in t for t in secret_audit._texts)


def test_detector_finds_signatures_by_shape() -> None:
    sig = "Q7h/6/+TDi9KWre6Peoc2zkdh8qSiRGDTNB2+obpUUQ="
    assert secret_audit.leaks([f"debug: header was {sig}"], set(), {sig})
    assert not secret_audit.leaks([f"debug: header was {sig}"], set(), set())
