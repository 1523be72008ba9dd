"""A tiny fake LLM that the real runtime talks to (docs/protocol.md §14).

The formation names the model ``ollama/fake:latest@127.0.0.1:<port>``; the runtime's Ollama
provider then asks ``GET /api/tags`` for the model list and sends OpenAI-style
``POST /v1/chat/completions`` requests, streamed or not. Every answer is the same short text, so
the tests know exactly what the formation must hand back. Prompts are recorded, so a test can
check that what it sent (a trigger's data, a chat message) really reached the model.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from tests.httpserver import HTTPTestServer, ResponseWriter, ServerRequest

__all__ = ["ANSWER", "MODEL", "FakeLLM"]

MODEL = "fake:latest"
ANSWER = "Hello from the fake model."
_JSON = [("Content-Type", "application/json")]


class FakeLLM:
    """An OpenAI-compatible endpoint on 127.0.0.1 (random port) that always answers :data:`ANSWER`."""

    def __init__(self, answer: str = ANSWER) -> None:
        self.answer = answer
        self.server = HTTPTestServer(self._handle)
        self._lock = threading.Lock()
        self._prompts: list[str] = []

    def start(self) -> FakeLLM:
        """Start serving; :attr:`port` is known afterwards."""
        self.server.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self.server.stop()

    @property
    def port(self) -> int:
        """The port the endpoint listens on."""
        return self.server.port

    @property
    def model(self) -> str:
        """The formation's model string for this endpoint."""
        return f"ollama/{MODEL}@127.0.0.1:{self.port}"

    def prompts(self) -> list[str]:
        """Every chat-completion request's messages so far, each joined into one string."""
        with self._lock:
            return list(self._prompts)

    def saw(self, text: str) -> bool:
        """Whether any prompt so far contained ``text``."""
        return any(text in prompt for prompt in self.prompts())

    async def _handle(self, request: ServerRequest, response: ResponseWriter) -> None:
        path = request.target.split("?", 1)[0].rstrip("/")
        if request.method == "GET" and path == "/api/tags":
            await _json(response, {"models": [{"name": MODEL, "model": MODEL, "size": 1}]})
        elif request.method == "POST" and path.endswith("/chat/completions"):
            await self._completion(request, response)
        elif request.method == "POST" and path.endswith("/embeddings"):
            await _embeddings(request, response)
        else:
            await _json(response, {"error": {"message": f"no route {request.method} {path}"}}, 404)

    async def _completion(self, request: ServerRequest, response: ResponseWriter) -> None:
        try:
            body = json.loads(request.body)
        except ValueError:
            await _json(response, {"error": {"message": "body is not JSON"}}, 400)
            return
        messages = body.get("messages") or []
        text = "\n".join(_content_text(m.get("content")) for m in messages if isinstance(m, dict))
        with self._lock:
            self._prompts.append(text)
        created = int(time.time())
        ident = f"chatcmpl-fake-{created}"
        if not body.get("stream"):
            await _json(response, {
                "id": ident, "object": "chat.completion", "created": created, "model": MODEL,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": self.answer},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": len(text.split()), "completion_tokens": 5, "total_tokens": 5},
            })
            return
        await response.start(200, [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")])
        words = self.answer.split(" ")
        for i, word in enumerate(words):
            delta: dict[str, Any] = {"content": word if i == 0 else " " + word}
            if i == 0:
                delta["role"] = "assistant"
            await response.write(_sse({"id": ident, "object": "chat.completion.chunk", "created": created,
                                       "model": MODEL, "choices": [{"index": 0, "delta": delta,
                                                                    "finish_reason": None}]}))
        await response.write(_sse({"id": ident, "object": "chat.completion.chunk", "created": created,
                                   "model": MODEL, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
        await response.write(b"data: [DONE]\n\n")
        await response.end()


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # multimodal parts
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


async def _embeddings(request: ServerRequest, response: ResponseWriter) -> None:
    try:
        body = json.loads(request.body)
    except ValueError:
        body = {}
    inputs = body.get("input", [])
    count = len(inputs) if isinstance(inputs, list) else 1
    data = [{"object": "embedding", "index": i, "embedding": [0.0] * 8} for i in range(count)]
    await _json(response, {"object": "list", "data": data, "model": MODEL})


async def _json(response: ResponseWriter, payload: Any, status: int = 200) -> None:
    await response.respond(status, _JSON, json.dumps(payload).encode())


def _sse(payload: Any) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"
