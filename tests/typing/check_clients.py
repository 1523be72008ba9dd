"""Checked by ``mypy --strict`` in ``make test``: the clients' methods have real signatures and types.

Not run by pytest; ``assert_type`` fails type checking if the descriptors stop giving IDEs and type
checkers each method's true parameters and return type.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

from typing_extensions import assert_type

from muxi import AsyncFormationClient, AsyncServerClient, FormationClient, ServerClient
from muxi_proto.api import AsyncEventIterator, EventIterator
from muxi_proto.call import CallMachine, Send
from muxi_proto.config import FormationConfig, ServerConfig
from muxi_proto.endpoints import FormationAPI, ServerAPI
from muxi_proto.raw_response import RawResponse
from muxi_proto.schemas import ChatRequest, SessionMessage
from muxi_proto.specs import Spec
from muxi_proto.sse import ServerSentEvent
from muxi_proto.streams import ChatToken
from muxi_proto.types import (
    AgentInfo,
    AgentList,
    ChatResponse,
    FormationStatus,
    IngestionStatus,
    MemoryForget,
    MemoryRebuild,
    RequestInfo,
    ScheduledJobInfo,
    ServerStatus,
    SessionList,
    SessionMessages,
    Tuning,
    TuningWritten,
)


def context_managers() -> None:
    with ServerClient(url="http://h", key_id="k", secret_key="s") as server:
        assert_type(server, ServerClient)


async def async_context_managers() -> None:
    async with AsyncFormationClient(url="http://h") as formation:
        assert_type(formation, AsyncFormationClient)


def sync_calls(server: ServerClient, formation: FormationClient) -> None:
    assert_type(server.status(), ServerStatus)
    assert_type(server.ping(), str)
    assert_type(server.get_server_logs(lines=10), str)
    assert_type(server.download_formation("f", db=True), bytes)
    assert_type(formation.get_agent("a"), AgentInfo)
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
    assert_type(await server.status(), ServerStatus)
    assert_type(await formation.get_sessions("u", 5), SessionList)
    stream = await formation.chat_stream({"message": "hi"})
    assert_type(stream, AsyncEventIterator[ServerSentEvent])
    assert_type(await stream.text(), str)
    assert_type(stream.text_deltas(), AsyncIterator[str])
    async for evt in stream:
        assert_type(evt, ServerSentEvent)


def sans_io(cfg: FormationConfig, server_cfg: ServerConfig) -> None:
    api = FormationAPI(cfg)
    assert_type(api.get_agent("a"), CallMachine[AgentInfo])
    assert_type(api.chat_stream({"message": "hi"}, user_id="u"), CallMachine[ServerSentEvent])
    assert_type(FormationAPI.get_agent.prepare(cfg, "a"), CallMachine[AgentInfo])
    assert_type(ServerAPI.download_formation.prepare(server_cfg, "f", db=True), CallMachine[bytes])
    assert_type(FormationAPI.delete_secret.spec("k"), Spec[None])
    api.get_agent(1)  # type: ignore[arg-type]
    FormationAPI.get_agent.prepare(cfg)  # type: ignore[call-arg]
    step = api.get_agents().start()
    assert_type(step, Send)


def per_call_options(formation: FormationClient, server: AsyncServerClient) -> None:
    assert_type(formation.get_agents(timeout=5, extra_headers={"X-Trace": "1"}), AgentList)
    assert_type(formation.chat({"message": "hi"}, user_id="u", idempotency_key="job-1", max_retries=2),
                ChatResponse)
    assert_type(formation.with_options(timeout=2.5), FormationClient)
    assert_type(server.with_options(max_retries=3), AsyncServerClient)
    formation.get_agents(timeout="soon")  # type: ignore[arg-type]
    formation.get_agents(timout=5)  # type: ignore[call-arg]
    formation.with_options(retries=1)  # type: ignore[call-arg]


async def raw_responses(formation: FormationClient, aformation: AsyncFormationClient) -> None:
    raw = formation.with_raw_response.get_agents(timeout=3)
    assert_type(raw, RawResponse[AgentList])
    assert_type(raw.parse(), AgentList)
    assert_type(raw.status_code, int)
    assert_type(formation.with_raw_response.chat_stream({"message": "hi"}),
                RawResponse[EventIterator[ServerSentEvent]])
    araw = await aformation.with_raw_response.get_agents()
    assert_type(araw, RawResponse[AgentList])
    astream = await aformation.with_raw_response.chat_stream({"message": "hi"})
    assert_type(astream.parse(), AsyncEventIterator[ServerSentEvent])


def constructors() -> None:
    FormationClient(url="http://h", client_key="c", timeout=5, max_retries=2, proxy="http://p:3128")
    AsyncServerClient(url="http://h", key_id="k", secret_key="s", trust_env=False)
    FormationClient(url="http://h", client_kye="c")  # type: ignore[call-arg]
    ServerClient(url="http://h", key_id="k", secret_key="s", max_retries="3")  # type: ignore[arg-type]
    FormationAPI(url="http://h", admin_key="a", timeout=None)


def typed_results(formation: FormationClient, server: ServerClient) -> None:
    # Results are TypedDicts: a misspelt key is a type error (each ignore below is needed, or
    # --strict's warn_unused_ignores fails the check).
    status = formation.get_status()
    assert_type(status, FormationStatus)
    assert_type(status["agents"]["count"], int)
    assert_type(status["request_id"], str)
    status["agnets"]  # type: ignore[misc]  # "agnets" is not a valid TypedDict key
    assert_type(server.status()["port_pool"]["allocated"], int)
    server.status()["port_pool"]["alocated"]  # type: ignore[misc]
    answer = formation.chat({"message": "hi"}, user_id="u")
    assert_type(answer["message"]["content"], str)
    assert_type(answer.get("idempotency_key"), str | None)  # optional: only where the runtime echoes it
    answer["message"]["contents"]  # type: ignore[misc]
    messages = formation.get_session_messages("s", "u")
    assert_type(messages["messages"][0]["metadata"]["role"], str)
    assert_type(messages["messages"][0]["metadata"].get("request_id"), str | None)
    assert_type(formation.get_all_session_messages("s", "u", max_messages=10), SessionMessages)
    assert_type(formation.wait_for_request("r", "u", timeout=5), RequestInfo)
    assert_type(formation.get_scheduler_job("j")["cron_expression"], str | None)
    formation.get_scheduler_job("j")["cron"]  # type: ignore[misc]
    count: str = formation.get_sessions("u")["count"]  # type: ignore[assignment]  # an int
    del count
    as_mapping: Mapping[str, object] = formation.get_agents()  # a TypedDict is a Mapping[str, object]
    plain: dict[str, Any] = formation.get_agents()  # type: ignore[assignment]  # but not a dict[str, Any]
    del as_mapping, plain


def typed_payloads(formation: FormationClient) -> None:
    request: ChatRequest = {"message": "hi", "session_id": "s", "stream": False}
    formation.chat(request, user_id="u")
    formation.chat({"message": "hi", "anything": 1}, user_id="u")  # any mapping is accepted too
    bad: ChatRequest = {"mesage": "hi"}  # type: ignore[typeddict-unknown-key, typeddict-item]
    message: SessionMessage = {"role": "user", "content": "x", "timestamp": "2026-01-01T00:00:00Z"}
    formation.restore_session("s", "u", [message, {"role": "assistant", "content": "y", "timestamp": "t"}])
    missing: SessionMessage = {"role": "user", "content": "x"}  # type: ignore[typeddict-item]
    del bad, missing
    assert_type(formation.update_scheduler_job("j", message="m", title="t", timeout=3), ScheduledJobInfo)
    formation.update_scheduler_job("j", mesage="m")  # type: ignore[call-arg]
    formation.update_scheduler_job("j", schedule=5)  # type: ignore[arg-type]


def new_methods(formation: FormationClient, aformation: AsyncFormationClient, cfg: FormationConfig) -> None:
    assert_type(formation.forget_memory("u", "gmail", rebuild=False, sync=True), MemoryForget)
    formation.forget_memory("u", "gmail", rebuild="no")  # type: ignore[arg-type]
    formation.forget_memory("u")  # type: ignore[call-arg]
    assert_type(formation.update_tuning("# text"), TuningWritten)
    assert_type(formation.get_pending_tuning(), Tuning)
    assert_type(formation.get_memory_ingestion_status("ing_1", "u"), IngestionStatus)
    assert_type(formation.get_memory_ingestion_status("ing_1", "u")["items"][0]["disposition"], str)
    assert_type(formation.get_artifact_content("a", "u", version=2), bytes)
    assert_type(formation.get_skills(), dict[str, Any])  # never answered on this runtime: untyped
    formation.update_user_channels("u", channels={"email": {"to": "a@x.io"}}, timezone="UTC")
    formation.update_user_channels("u", channels="email")  # type: ignore[arg-type]
    formation.ingest_distilled_memories(b"{}", distillery_id="d", signature="s", timestamp=1)
    formation.ingest_distilled_memories({}, distillery_id="d", signature="s", timestamp=1)  # type: ignore[arg-type]
    assert_type(FormationAPI(cfg).rebuild_memory("u", dry_run=True), CallMachine[MemoryRebuild])
