"""Scripted chat: the reply (never a model) and the runtime's stream frames around it.

The frames are the real runtime's (``tests/fixtures/runtime/*/chat.json``): ``: keepalive``
comments, then unnamed ``data: {"token": {...}}`` frames -- status tokens (progress, thinking,
planning), ``content`` deltas, a ``completed`` token with the whole answer -- an optional
``event: ui`` frame, and ``event: done``. Token objects keep the runtime's key order:
request_id, user_id, session_id, type, content, timestamp, then the type's own fields. JSON is
compact and every line ends in LF.

Two paths, as recorded: the full one (agent selection, one planning step per agent, the
response preparation) and the fast path of a message that is mere social chatter ("hi",
"thanks": no planning, ``fast_path: true`` on the completed token).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ._wire import compact

__all__ = [
    "CHATTER",
    "DONE_FRAME",
    "KEEPALIVE",
    "ReplyFunction",
    "ScriptedReply",
    "TokenScript",
    "echo",
    "error_frame",
    "is_chatter",
    "resolve_reply",
    "split_deltas",
    "token_frame",
    "ui_frame",
]

KEEPALIVE = b": keepalive\n\n"
DONE_FRAME = b'event: done\ndata: {"finished":true}\n\n'
GENERALIST_ID = "muxi-generalist"  # the runtime's built-in agent, planned beside a lone formation agent
GENERALIST_NAME = "MUXI Generalist"
# The runtime's early heuristic for social chatter (its exact list); such messages skip planning.
CHATTER = frozenset({"hi", "hello", "hey", "thanks", "thank you", "ok", "okay", "got it"})
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


def is_chatter(message: str) -> bool:
    """Whether the runtime treats ``message`` as social chatter (its fast path)."""
    return message.lower().strip() in CHATTER


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


def _frame(payload: str, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


def token_frame(token: dict[str, Any]) -> bytes:
    """``data: {"token": ...}`` plus the blank line."""
    return _frame(compact({"token": token}))


def ui_frame(widgets: Sequence[dict[str, Any]]) -> bytes:
    """``event: ui`` with ``{"ui": [...]}``."""
    return _frame(compact({"ui": list(widgets)}), "ui")


def error_frame(message: str, kind: str) -> bytes:
    """The frame of a failure that escapes the chat: ``event: error``, no ``done`` after it."""
    text = message.replace("\r", "").replace("\n", " ")[:200] or "Request failed"
    return _frame(compact({"error": text, "type": kind}), "error")


class TokenScript:
    """The token objects of one chat, in the runtime's order and with its fields."""

    __slots__ = ("agents", "message", "request_id", "session_id", "tool_count", "user_id")

    def __init__(self, *, request_id: str, user_id: str, session_id: str, message: str,
                 agents: Sequence[dict[str, Any]], tool_count: int) -> None:
        self.request_id = request_id
        self.user_id = user_id
        self.session_id = session_id
        self.message = message
        self.agents = list(agents)
        self.tool_count = tool_count

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

    def _thinking(self, t: float) -> dict[str, Any]:
        return self._token("thinking", "Let me think about that...", t, stage="process_sync_start",
                           original_message=self.message, agent_name=None, skip_clarification=False,
                           skip_rephrase=True)

    def chatter(self, t: float) -> list[dict[str, Any]]:
        """The status tokens of the fast path."""
        return [
            self._token("progress", "On it...", t, stage="init", skip_rephrase=True),
            self._thinking(t),
            self._token("progress", "Preparing response...", t, stage="response_preparation", skip_rephrase=True),
        ]

    def progress(self, t: float, agent_requested: str | None = None) -> list[dict[str, Any]]:
        """The status tokens of the full path: selection, one planning step per agent, preparation."""
        agents = self.agents or [{"id": "assistant", "name": "Assistant"}]
        planned = agents if len(agents) > 1 else [*agents, {"id": GENERALIST_ID, "name": GENERALIST_NAME}]
        selected = str(agents[0].get("id"))
        preview = self.message[:100]
        tokens = [
            self._token("progress", "On it...", t, stage="init", skip_rephrase=True),
            self._thinking(t),
            self._token("planning", "Determining the best agent to handle this request...", t,
                        stage="agent_selection", message_preview=preview, agent_requested=agent_requested),
            self._token("progress", "I'll use an agent with the right capabilities to help the user with their "
                        "request.", t, stage="agent_selected", selected_agent=selected),
            self._token("progress", "Processing request...", t, stage="agent_processing", agent_name=selected),
        ]
        for agent in planned:
            agent_id = str(agent.get("id"))
            tokens.append(self._token("planning", "Planning approach to handle the user's request...", t,
                                      stage="agent_planning", agent_name=str(agent.get("name") or agent_id),
                                      agent_id=agent_id, message_preview=preview, has_tools=self.tool_count > 0,
                                      tool_count=self.tool_count))
            tokens.append(self._token("progress", "Creating plan...", t, stage="creating_plan", agent_name=agent_id,
                                      tool_count=self.tool_count, skip_rephrase=True))
        tokens.append(self._token("progress", "Preparing response...", t, stage="response_preparation",
                                  has_persona=True, response_format="markdown", skip_rephrase=True))
        return tokens

    def content(self, delta: str, timestamp: float) -> dict[str, Any]:
        """One answer delta."""
        return self._token("content", delta, timestamp, stage="response_generation", skip_rephrase=True)

    def completed(self, text: str, timestamp: float, processing_ms: int, *, fast_path: bool) -> dict[str, Any]:
        """The authoritative whole answer."""
        if fast_path:
            return self._token("completed", text, timestamp, status="success", processing_time_ms=processing_ms,
                               fast_path=True)
        selected = str(self.agents[0].get("id")) if self.agents else "assistant"
        return self._token("completed", text, timestamp, status="success", processing_time_ms=processing_ms,
                           agent_used=selected)
