"""Fixtures for the real-runtime suite (``make test-runtime``; not part of ``make test``).

One session starts, on 127.0.0.1 with ports chosen at run time: the fake LLM (:mod:`fake_llm`),
a webhook receiver, and a real MUXI formation (``tests/runtime/formation``) in the runtime's own
virtual environment. Tests talk to it with the ``muxi`` facade's clients, sync and async.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.register_assert_rewrite("scenarios", "flows")  # plain asserts there report their values

from fake_llm import FakeLLM  # noqa: E402
from harness import RuntimeFormation  # noqa: E402

from muxi import AsyncFormationClient, FormationClient  # noqa: E402
from tests.httpserver import HTTPTestServer, ResponseWriter, ServerRequest  # noqa: E402

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything here needs the real runtime: mark it so (``-m "not runtime"`` skips it)."""
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.runtime)


@dataclass(frozen=True)
class Context:
    """What a flow may use besides the client: the runtime, the fake LLM, the webhook receiver."""

    runtime: RuntimeFormation
    llm: FakeLLM
    webhooks: HTTPTestServer
    tag: str  # unique per test: keeps names (users, secrets, sessions) from colliding

    def name(self, prefix: str) -> str:
        """A name unique to this test run and test."""
        return f"{prefix}-{self.tag}"


async def _accept_webhook(request: ServerRequest, response: ResponseWriter) -> None:
    await response.respond(200, [("Content-Type", "application/json")], b'{"ok":true}')


@pytest.fixture(scope="session")
def fake_llm() -> Iterator[FakeLLM]:
    """The OpenAI-compatible endpoint the formation's model points at."""
    llm = FakeLLM().start()
    yield llm
    llm.stop()


@pytest.fixture(scope="session")
def webhooks() -> Iterator[HTTPTestServer]:
    """Receives the runtime's webhooks; tests look at ``.requests`` (and wait on them)."""
    with HTTPTestServer(_accept_webhook) as server:
        yield server


@pytest.fixture(scope="session")
def runtime(
    fake_llm: FakeLLM, webhooks: HTTPTestServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RuntimeFormation]:
    """A real formation, started once for the session and stopped at the end."""
    formation = RuntimeFormation(
        workdir=tmp_path_factory.mktemp("runtime"),
        llm_model=fake_llm.model,
        webhook_url=f"{webhooks.url}/hook",
    )
    formation.start()
    try:
        yield formation
    finally:
        formation.stop()


@pytest.fixture
def ctx(runtime: RuntimeFormation, fake_llm: FakeLLM, webhooks: HTTPTestServer) -> Context:
    """The flow context, with a tag unique to this test."""
    return Context(runtime, fake_llm, webhooks, secrets.token_hex(4))


@pytest.fixture
def client(runtime: RuntimeFormation) -> Iterator[FormationClient]:
    """A blocking client with both keys (each endpoint picks the key it needs)."""
    with FormationClient(url=runtime.url, admin_key=runtime.admin_key, client_key=runtime.client_key) as c:
        yield c


@pytest.fixture
async def async_client(runtime: RuntimeFormation) -> AsyncIterator[AsyncFormationClient]:
    """An async client with both keys, on the test's event loop (asyncio or trio)."""
    async with AsyncFormationClient(
        url=runtime.url, admin_key=runtime.admin_key, client_key=runtime.client_key
    ) as c:
        yield c
