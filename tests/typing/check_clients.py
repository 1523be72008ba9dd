"""Checked by ``mypy --strict`` in ``make test``: the clients' methods have real signatures and types.

Not run by pytest; ``assert_type`` fails type checking if the descriptors stop giving IDEs and type
checkers each method's true parameters and return type.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from typing_extensions import assert_type

from muxi import AsyncFormationClient, AsyncServerClient, FormationClient, ServerClient
from muxi_proto.api import AsyncEventIterator, EventIterator
from muxi_proto.call import CallMachine, Send
from muxi_proto.config import FormationConfig, ServerConfig
from muxi_proto.endpoints import FormationAPI, ServerAPI
from muxi_proto.raw_response import RawResponse
from muxi_proto.specs import Spec
from muxi_proto.sse import ServerSentEvent
from muxi_proto.streams import ChatToken


def context_managers() -> None:
    with ServerClient(url="http://h", key_id="k", secret_key="s") as server:
        assert_type(server, ServerClient)


async def async_context_managers() -> None:
    async with AsyncFormationClient(url="http://h") as formation:
        assert_type(formation, AsyncFormationClient)


def sync_calls(server: ServerClient, formation: FormationClient) -> None:
    assert_type(server.status(), dict[str, Any])
    assert_type(server.ping(), str)
    assert_type(server.get_server_logs(lines=10), str)
    assert_type(server.download_formation("f", db=True), bytes)
    assert_type(formation.get_agent("a"), dict[str, Any])
    assert_type(formation.delete_secret("k"), None)
    stream = formation.chat_stream({"message": "hi"}, user_id="u")
    assert_type(stream, EventIterator[ServerSentEvent])
    assert_type(stream.text(), str)
    assert_type(stream.tokens(), Iterator[ChatToken])
    for evt in stream:
        assert_type(evt, ServerSentEvent)
    assert_type(server.deploy_formation_stream("f", b"..."), EventIterator[ServerSentEvent])
    formation.get_agent(1)  # type: ignore[arg-type]
    formation.fire_trigger("t", {}, nonsense=True)  # type: ignore[call-arg]


async def async_calls(server: AsyncServerClient, formation: AsyncFormationClient) -> None:
    assert_type(await server.status(), dict[str, Any])
    assert_type(await formation.get_sessions("u", 5), dict[str, Any])
    stream = await formation.chat_stream({"message": "hi"})
    assert_type(stream, AsyncEventIterator[ServerSentEvent])
    assert_type(await stream.text(), str)
    assert_type(stream.text_deltas(), AsyncIterator[str])
    async for evt in stream:
        assert_type(evt, ServerSentEvent)


def sans_io(cfg: FormationConfig, server_cfg: ServerConfig) -> None:
    api = FormationAPI(cfg)
    assert_type(api.get_agent("a"), CallMachine[dict[str, Any]])
    assert_type(api.chat_stream({"message": "hi"}, user_id="u"), CallMachine[ServerSentEvent])
    assert_type(FormationAPI.get_agent.prepare(cfg, "a"), CallMachine[dict[str, Any]])
    assert_type(ServerAPI.download_formation.prepare(server_cfg, "f", db=True), CallMachine[bytes])
    assert_type(FormationAPI.delete_secret.spec("k"), Spec[None])
    api.get_agent(1)  # type: ignore[arg-type]
    FormationAPI.get_agent.prepare(cfg)  # type: ignore[call-arg]
    step = api.get_agents().start()
    assert_type(step, Send)


def per_call_options(formation: FormationClient, server: AsyncServerClient) -> None:
    assert_type(formation.get_agents(timeout=5, extra_headers={"X-Trace": "1"}), dict[str, Any])
    assert_type(formation.chat({"message": "hi"}, user_id="u", idempotency_key="job-1", max_retries=2),
                dict[str, Any])
    assert_type(formation.with_options(timeout=2.5), FormationClient)
    assert_type(server.with_options(max_retries=3), AsyncServerClient)
    formation.get_agents(timeout="soon")  # type: ignore[arg-type]
    formation.get_agents(timout=5)  # type: ignore[call-arg]
    formation.with_options(retries=1)  # type: ignore[call-arg]


async def raw_responses(formation: FormationClient, aformation: AsyncFormationClient) -> None:
    raw = formation.with_raw_response.get_agents(timeout=3)
    assert_type(raw, RawResponse[dict[str, Any]])
    assert_type(raw.parse(), dict[str, Any])
    assert_type(raw.status_code, int)
    assert_type(formation.with_raw_response.chat_stream({"message": "hi"}),
                RawResponse[EventIterator[ServerSentEvent]])
    araw = await aformation.with_raw_response.get_agents()
    assert_type(araw, RawResponse[dict[str, Any]])
    astream = await aformation.with_raw_response.chat_stream({"message": "hi"})
    assert_type(astream.parse(), AsyncEventIterator[ServerSentEvent])


def constructors() -> None:
    FormationClient(url="http://h", client_key="c", timeout=5, max_retries=2, proxy="http://p:3128")
    AsyncServerClient(url="http://h", key_id="k", secret_key="s", trust_env=False)
    FormationClient(url="http://h", client_kye="c")  # type: ignore[call-arg]
    ServerClient(url="http://h", key_id="k", secret_key="s", max_retries="3")  # type: ignore[arg-type]
    FormationAPI(url="http://h", admin_key="a", timeout=None)
