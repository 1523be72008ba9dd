"""Scripted chat: the reply (never a model) and the runtime's stream frames around it.

The frames copy the real runtime's (``runtime-chat-stream.sse``): ``: keepalive`` comments, then
unnamed ``data: {"token": {...}}`` frames (progress, thinking, planning ..., ``content`` deltas, a
``completed`` token with the whole answer), an optional ``event: ui`` frame and ``event: done``.
Token objects keep the runtime's key order: request_id, user_id, session_id, type, content,
timestamp, then the type's own fields. JSON is compact and every line ends in LF.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from muxi_proto.sse import format_comment, format_event

from ._wire import compact

__all__ = [
    "DONE_FRAME",
    "KEEPALIVE",
    "ReplyFunction",
    "ScriptedReply",
    "TokenScript",
    "echo",
    "error_frame",
    "resolve_reply",
    "split_deltas",
    "token_frame",
    "ui_frame",
]

KEEPALIVE = format_comment("keepalive")
DONE_FRAME = format_event('{"finished":true}', event="done")
AGENT_ID = "assistant"
AGENT_NAME = "Assistant"
ROUTER_ID = "muxi-generalist"  # the runtime's built-in generalist plans first (as in the captures)
ROUTER_NAME = "MUXI Generalist"
_DELTA = re.compile(r"\s*\S+")


@dataclass(frozen=True)
class ScriptedReply:
    """A scripted answer: the text, and optional UI widgets (sent as an ``event: ui`` frame)."""

    text: str
    ui: Sequence[dict[str, Any]] | None = None


ReplyFunction = Callable[[str], "str | ScriptedReply"]
"""``message -> reply``: the text (or a :class:`ScriptedReply`) the formation answers with."""


def echo(message: str) -> str:
    """The default script: answer with the message itself."""
    return message


def resolve_reply(reply: ReplyFunction, message: str) -> ScriptedReply:
    """Call the script and normalise what it returns; a wrong type raises TypeError."""
    result = reply(message)
    if isinstance(result, str):
        return ScriptedReply(result)
    if isinstance(result, ScriptedReply) and isinstance(result.text, str):
        if result.ui is not None and not all(isinstance(w, dict) for w in result.ui):
            raise TypeError("ScriptedReply.ui must be a sequence of dicts")
        return result
    raise TypeError(f"a reply function must return str or ScriptedReply, not {type(result).__name__}")


def split_deltas(text: str) -> list[str]:
    """The answer in word-sized ``content`` deltas that join back to exactly ``text``."""
    parts = _DELTA.findall(text)
    tail = text[len("".join(parts)):]
    if tail:
        if parts:
            parts[-1] += tail
        else:
            parts = [tail]
    return parts


def token_frame(token: dict[str, Any]) -> bytes:
    """``data: {"token": ...}`` plus the blank line."""
    return format_event(compact({"token": token}))


def ui_frame(widgets: Sequence[dict[str, Any]]) -> bytes:
    """``event: ui`` with ``{"ui": [...]}``."""
    return format_event(compact({"ui": list(widgets)}), event="ui")


def error_frame(message: str, kind: str) -> bytes:
    """The frame of a failure that escapes the chat: ``event: error``, no ``done`` after it."""
    text = message.replace("\r", "").replace("\n", " ")[:200] or "Request failed"
    return format_event(compact({"error": text, "type": kind}), event="error")


class TokenScript:
    """The token objects of one chat, in the runtime's order."""

    __slots__ = ("agent_id", "message", "request_id", "session_id", "user_id")

    def __init__(self, *, request_id: str, user_id: str, session_id: str, message: str, agent_id: str | None) -> None:
        self.request_id = request_id
        self.user_id = user_id
        self.session_id = session_id
        self.message = message
        self.agent_id = agent_id

    def _token(self, kind: str, content: str, timestamp: float, **extra: Any) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "user_id": self.user_id,
            "session_id": self.session_id,
            "type": kind,
            "content": content,
            "timestamp": timestamp,
            **extra,
        }

    def progress(self, timestamp: float) -> list[dict[str, Any]]:
        """Everything before the answer: progress, thinking and planning tokens."""
        preview = self.message[:100]
        t = timestamp
        return [
            self._token("progress", "Let me see...", t, stage="init", skip_rephrase=True),
            self._token("thinking", "On it...", t, stage="process_sync_start", original_message=self.message,
                        agent_name=None, skip_clarification=False, skip_rephrase=True),
            self._token("planning", "Determining the best agent to handle this request...", t,
                        stage="agent_selection", message_preview=preview, agent_requested=self.agent_id),
            self._token("progress", "I'll use an agent with the right capabilities to help the user with their "
                        "request.", t, stage="agent_selected", selected_agent=ROUTER_ID),
            self._token("progress", "Processing request...", t, stage="agent_processing", agent_name=ROUTER_ID),
            self._token("planning", "Planning approach to handle the user's request...", t, stage="agent_planning",
                        agent_name=ROUTER_NAME, agent_id=ROUTER_ID, message_preview=preview, has_tools=False,
                        tool_count=0),
            self._token("progress", "Creating plan...", t, stage="creating_plan", agent_name=ROUTER_ID, tool_count=0,
                        skip_rephrase=True),
            self._token("planning", "Planning approach to handle the user's request...", t, stage="agent_planning",
                        agent_name=AGENT_NAME, agent_id=AGENT_ID, message_preview=preview, has_tools=False,
                        tool_count=0),
            self._token("progress", "Creating plan...", t, stage="creating_plan", agent_name=AGENT_ID, tool_count=0,
                        skip_rephrase=True),
            self._token("progress", "Preparing response...", t, stage="response_preparation", has_persona=True,
                        response_format="markdown", skip_rephrase=True),
        ]

    def content(self, delta: str, timestamp: float) -> dict[str, Any]:
        """One answer delta."""
        return self._token("content", delta, timestamp, stage="response_generation", skip_rephrase=True)

    def completed(self, text: str, timestamp: float, processing_ms: int) -> dict[str, Any]:
        """The authoritative whole answer."""
        return self._token("completed", text, timestamp, status="success", processing_time_ms=processing_ms,
                           agent_used=ROUTER_ID)
