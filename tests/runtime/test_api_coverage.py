"""The drift check against the live runtime: its ``/openapi.json`` against the endpoint table.

Fails on any operation the runtime publishes that no client method reaches, and on any method
whose route the runtime no longer has (tests/fidelity/coverage.py; the same check runs on the
recorded document in ``make test``).
"""

from __future__ import annotations

import json
import urllib.request

from harness import RuntimeFormation

from tests.fidelity.coverage import drift, operations


def test_every_live_operation_is_reached_and_every_route_exists(runtime: RuntimeFormation) -> None:
    with urllib.request.urlopen(f"{runtime.url}/openapi.json", timeout=30) as answer:
        document = json.load(answer)
    problems = drift(document)
    assert not problems, "the runtime's API and the client's methods differ:\n" + "\n".join(problems)
    assert len(operations(document)) == 103
