"""``POST /v1/chat`` and ``/v1/audiochat``: the scripted answer, as JSON or as the runtime's stream.

Recorded behaviour reproduced here (``tests/fixtures/runtime/*/chat.json``):

- the JSON answer is ``{message: {role, content, artifacts: null, metadata: {session_id}}, user_id,
  session_id, request_id: null}``; social chatter ("hi", "thanks") takes the runtime's early path:
  ``metadata: {handled_by, is_actionable, fast_path, early_heuristic, processing_time_ms}`` and
  ``session_id: null`` unless the request named one;
- a message over 100,000 characters is refused in-band: HTTP 200 with
  ``metadata.error_code = "INPUT_VALIDATION_ERROR"`` (JSON), or an ``event: error`` frame
  (``AttributeError``, the runtime's own bug) when streamed;
- ``mode: "async"`` is 501; the chat answer's ``user_id`` is the header's (``"0"`` without one),
  while stream tokens, sessions and requests carry the storage user (``"0"`` in single-user mode);
- the request tracker keeps a streamed chat under the tokens' ``request_id`` and a JSON chat under
  an id of its own that the answer never shows (so ``GET /requests/<answer's id>`` is 404).
"""

from __future__ import annotations

import time
from typing import Any

import anyio

from .._chat import (
    DONE_FRAME,
    KEEPALIVE,
    ScriptedReply,
    TokenScript,
    error_frame,
    is_chatter,
    resolve_reply,
    split_deltas,
    token_frame,
    ui_frame,
)
from .._wire import new_id
from ._base import SSE_HEADERS, Call, Reject, Route
from .state import BufferMessage, TrackedRequest

__all__ = ["ROUTES", "answer", "record_exchange"]

MAX_MESSAGE = 100_000
ASYNC_UNSUPPORTED = (
    "Async mode requires webhook configuration. Use stream=true for real-time responses or mode=sync for "
    "immediate responses."
)
AUDIO_ONLY = "Only audio files (audio/*) are accepted. For video or other files, use /chat with the files parameter."
OVERSIZED_STREAM_ERROR = ("'MuxiResponse' object has no attribute '__aiter__'", "AttributeError")


def _too_long(length: int) -> str:
    return (f"Message too long: {length:,} characters (max: {MAX_MESSAGE:,}).\n\nTry:\n- Breaking into multiple "
            "messages\n- Uploading content as a file\n- Summarizing the key points")


def tool_count(c: Call) -> int:
    """The tools each agent plans with (the runtime's built-ins: more with persistent memory)."""
    return 7 if c.rt.spec.persistent_memory else 2


def record_exchange(c: Call, message: str, session_id: str | None, reply: ScriptedReply, tracked_id: str) -> None:
    """The buffer messages and the request tracker's record of one answered message."""
    now = c.now
    user = c.storage_user
    if session_id:
        session = c.rt.session(user, session_id, now)
        for role, text in (("user", message), ("assistant", reply.text)):
            session.messages.append(BufferMessage(text, {
                "role": role, "timestamp": now, "agent_id": "overlord", "user_id": user, "session_id": session_id,
                "request_id": tracked_id, "formation_id": c.rt.spec.id}, now))
        session.last_activity = now
    c.rt.track(TrackedRequest(tracked_id, user, "completed", now, now, reply.text))
    c.record.logs.add(f'INFO:     127.0.0.1 - "POST {c.inc.path} HTTP/1.1" 200 OK')


def answer(c: Call, message: str) -> ScriptedReply:
    """The scripted reply; a failing script is the formation failing (500), as the runtime does."""
    try:
        return resolve_reply(c.ctx.reply, message)
    except Exception as exc:
        c.record.logs.add(f"ERROR:    chat request failed: {type(exc).__name__}: {exc}", "stderr")
        raise Reject(500, str(exc) or type(exc).__name__, "INTERNAL_ERROR") from None


async def chat(c: Call) -> None:
    body = c.body
    if body.get("mode") == "async":
        raise Reject(501, ASYNC_UNSUPPORTED, "METHOD_NOT_FOUND")
    await converse(c, body["message"], body.get("session_id"), body.get("agent_id"), body.get("stream") is not False,
                   body.get("request_id"))


async def audiochat(c: Call) -> None:
    body = c.body
    names = []
    for item in body["files"]:
        ctype = item.get("content_type") or item.get("type") if isinstance(item, dict) else None
        if not isinstance(ctype, str) or not ctype.startswith("audio/"):
            raise Reject(400, AUDIO_ONLY, "VALIDATION_ERROR", {"field": "files", "invalid_content_type": ctype})
        names.append(str(item.get("filename") or item.get("name") or "audio"))
    await converse(c, f"[audio: {', '.join(names)}]", body.get("session_id"), body.get("agent_id"),
                   body.get("stream") is not False, body.get("request_id"))


async def converse(
    c: Call, message: str, session_id: str | None, agent_id: str | None, stream: bool, request_id: str | None = None
) -> None:
    """Answer one message. A ``request_id`` in the body names the request: the envelope's id, the
    answer's ``request_id``, the stream tokens' and the tracker's (otherwise each is generated)."""
    if request_id:
        c.request_id = request_id
    if stream:
        await _stream(c, message, session_id or new_id("sess_", 16), agent_id, request_id)
        return
    if await c.replay():
        return
    user = c.user_id or "0"
    if len(message) > MAX_MESSAGE:
        await c.ok({"message": {"role": "assistant", "content": _too_long(len(message)), "artifacts": None,
                                "metadata": {"error_code": "INPUT_VALIDATION_ERROR", "error_type": "validation"}},
                    "user_id": user, "session_id": None, "request_id": request_id}, "message", "chat.completed")
        return
    started = time.perf_counter()
    reply = answer(c, message)
    elapsed_ms = (time.perf_counter() - started) * 1000
    metadata: dict[str, Any]
    stored_in = session_id or new_id("sess_", 16)  # the buffer always gets a session
    if is_chatter(message):  # the early path answers without naming the session it made up
        metadata = {"handled_by": "overlord_direct", "is_actionable": False, "fast_path": True,
                    "early_heuristic": True, "processing_time_ms": elapsed_ms}
    else:
        session_id = stored_in
        metadata = {"session_id": session_id}
    record_exchange(c, message, stored_in, reply, request_id or new_id("req_"))
    answer_json: dict[str, Any] = {"role": "assistant", "content": reply.text, "artifacts": None, "metadata": metadata}
    if reply.ui:
        answer_json["ui"] = list(reply.ui)
    await c.ok({"message": answer_json, "user_id": user, "session_id": session_id, "request_id": request_id},
               "message", "chat.completed", cache=True)


async def _stream(c: Call, message: str, session_id: str, agent_id: str | None, request_id: str | None) -> None:
    out = c.out
    ctx = c.ctx
    await out.open_stream(200, SSE_HEADERS)
    tracked = request_id or new_id("req_")
    script = TokenScript(request_id=tracked, user_id=c.storage_user, session_id=session_id, message=message,
                         agents=c.rt.spec.agents, tool_count=tool_count(c))
    chatter = is_chatter(message)

    async def produce() -> None:
        clock = ctx.clock
        started = time.perf_counter()
        # The runtime opens every chat stream with two keepalive comments (see the recordings).
        if not await out.frame(KEEPALIVE) or not await out.frame(KEEPALIVE):
            return
        if ctx.stream_gate is not None and not await _held(c):
            return
        if len(message) > MAX_MESSAGE:  # the runtime fails here, with its own AttributeError
            await out.frame(error_frame(*OVERSIZED_STREAM_ERROR))
            await out.close_stream()
            return
        c.rt.track(TrackedRequest(tracked, c.storage_user, "processing", c.now))
        tokens = script.chatter(clock()) if chatter else script.progress(clock(), agent_id)
        for token in tokens:
            if not await _pause(c) or not await out.frame(token_frame(token)):
                return
        try:
            reply = resolve_reply(ctx.reply, message)
        except Exception as exc:  # escapes the chat: an error frame and no `done`
            c.rt.requests[tracked].status = "failed"
            await out.frame(error_frame(str(exc), type(exc).__name__))
            await out.close_stream()
            return
        elapsed_ms = (time.perf_counter() - started) * 1000
        record_exchange(c, message, session_id, reply, tracked)
        for delta in split_deltas(reply.text):
            if not await _pause(c) or not await out.frame(token_frame(script.content(delta, clock()))):
                return
        if not await _pause(c):
            return
        if not await out.frame(token_frame(script.completed(reply.text, clock(), int(elapsed_ms), fast_path=chatter))):
            return
        if reply.ui and not await out.frame(ui_frame(reply.ui)):
            return
        if await out.frame(DONE_FRAME):
            await out.close_stream()

    await out.guarded(produce)


async def _held(c: Call) -> bool:
    """Wait at the stream gate (``LocalMuxiServer.hold_streams``), keepalives while idle."""
    ctx = c.ctx
    ctx.held_streams += 1
    try:
        while ctx.stream_gate is not None and not ctx.stream_gate.is_set():
            with anyio.move_on_after(ctx.keepalive_interval):
                await ctx.stream_gate.wait()
            if ctx.stream_gate is not None and not ctx.stream_gate.is_set() and not await c.out.frame(KEEPALIVE):
                return False
    finally:
        ctx.held_streams -= 1
    return True


async def _pause(c: Call) -> bool:
    """Wait the configured token delay, sending ``: keepalive`` each idle interval."""
    delay = c.ctx.token_delay
    if delay <= 0:
        return True
    interval = c.ctx.keepalive_interval
    while delay >= interval > 0:
        await anyio.sleep(interval)
        delay -= interval
        if not await c.out.frame(KEEPALIVE):
            return False
    if delay > 0:
        await anyio.sleep(delay)
    return True


ROUTES = [
    Route("POST", "/v1/chat", "client", chat),
    Route("POST", "/v1/audiochat", "client", audiochat),
]
