"""examples/webhook_receiver.py, driven as an ASGI app on asyncio and on trio."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, MutableMapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from muxi_proto import webhook

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = Path(__file__).parent / "fixtures" / "runtime-webhooks.jsonl"
RECORD = json.loads(FIXTURE.read_text().splitlines()[0])
RAW: bytes = RECORD["raw"].encode()
HEADER: str = RECORD["headers"]["x-muxi-signature"]
T = 1795945191
SECRET = "test-admin-key"

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def load_example() -> ModuleType:
    path = ROOT / "examples" / "webhook_receiver.py"
    spec = importlib.util.spec_from_file_location("webhook_receiver", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def example() -> ModuleType:
    return load_example()


async def call(
    app: Callable[..., Any],
    *,
    body: bytes | Sequence[bytes] = b"",
    signature: str | None = None,
    method: str = "POST",
    path: str = "/webhooks/muxi",
    disconnect_early: bool = False,
) -> tuple[int | None, dict[str, Any] | None]:
    """Call the app like an ASGI server would; return (status, decoded JSON body)."""
    chunks = [body] if isinstance(body, bytes) else list(body)
    inbox: list[MutableMapping[str, Any]] = [
        {"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1}
        for index, chunk in enumerate(chunks)
    ]
    if disconnect_early:
        inbox = inbox[:1]
        inbox[0]["more_body"] = True
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        return inbox.pop(0) if inbox else {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    headers = [(b"content-type", b"application/json"), (b"host", b"127.0.0.1:8000")]
    if signature is not None:
        headers.append((b"X-Muxi-Signature", signature.encode()))
    scope = {"type": "http", "method": method, "path": path, "headers": headers}
    await app(scope, receive, send)
    if not sent:
        return None, None
    assert sent[0]["type"] == "http.response.start" and sent[1]["type"] == "http.response.body"
    payload = sent[1]["body"]
    assert dict(sent[0]["headers"])[b"content-length"] == b"%d" % len(payload)
    return sent[0]["status"], json.loads(payload)


def make(example: ModuleType, secret: str = SECRET, now: float = T) -> tuple[Any, list[webhook.WebhookEvent]]:
    events: list[webhook.WebhookEvent] = []
    return example.make_app(secret, events.append, clock=lambda: now), events


async def test_the_real_runtime_webhook_is_accepted(example: ModuleType) -> None:
    app, events = make(example)
    status, body = await call(app, body=RAW, signature=HEADER)
    assert (status, body) == (200, {"received": True, "request_id": "req_ua3plOOgTyOQYJLK2mmwU"})
    assert [event.text for event in events] == ["Hello from the fake model."]


async def test_a_body_in_many_chunks_is_reassembled(example: ModuleType) -> None:
    app, events = make(example)
    chunks = [RAW[i : i + 7] for i in range(0, len(RAW), 7)]
    assert (await call(app, body=chunks, signature=HEADER))[0] == 200
    assert events[0].raw == json.loads(RAW)


@pytest.mark.parametrize(
    ("secret", "signature", "now"),
    [("test-client-key", HEADER, T), (SECRET, None, T), (SECRET, "t=1,v1=00", T), (SECRET, HEADER, T + 3600)],
)
async def test_bad_signatures_are_401_and_never_reach_the_handler(
    example: ModuleType, secret: str, signature: str | None, now: float
) -> None:
    app, events = make(example, secret=secret, now=now)
    assert await call(app, body=RAW, signature=signature) == (401, {"error": "invalid signature"})
    assert events == []


async def test_tampered_body_is_401(example: ModuleType) -> None:
    app, events = make(example)
    tampered = RAW.replace(b"fake model", b"real model")
    assert (await call(app, body=tampered, signature=HEADER))[0] == 401
    assert events == []


async def test_signed_but_not_a_json_object_is_400(example: ModuleType) -> None:
    app, events = make(example)
    status, body = await call(app, body=b"[1, 2]", signature=webhook.sign(b"[1, 2]", SECRET, timestamp=T))
    assert status == 400 and body is not None and "JSON object" in body["error"]
    assert events == []


async def test_default_handler_branches_on_status(
    example: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    app = example.make_app(SECRET, clock=lambda: T)
    payloads = [
        {"id": "r1", "status": "failed", "error": {"code": "processing_failed", "message": "model down"}},
        {"request_id": "r2", "status": "awaiting_clarification", "clarification_question": "Which city?"},
        {"request_id": "r3", "state": "stuck", "attempts": 3, "report": {}, "timestamp": T + 0.5},
    ]
    for payload in payloads:
        signature = webhook.sign(payload, SECRET, timestamp=T)  # canonical, like the runtime
        assert (await call(app, body=json.dumps(payload).encode(), signature=signature))[0] == 200
    assert (await call(app, body=RAW, signature=HEADER))[0] == 200
    assert capsys.readouterr().out.splitlines() == [
        "Error: model down", "Question: Which city?", "escalation: stuck", "Hello from the fake model."
    ]


async def test_routing_limits_and_configuration(example: ModuleType) -> None:
    app, events = make(example)
    assert (await call(app, path="/other", body=RAW, signature=HEADER))[0] == 404
    assert (await call(app, method="GET"))[0] == 405
    too_big = [b"x" * 65536] * (example.MAX_BODY_BYTES // 65536 + 1)
    assert (await call(app, body=too_big, signature=HEADER))[0] == 413
    assert await call(app, body=RAW, signature=HEADER, disconnect_early=True) == (None, None)
    unconfigured, _ = make(example, secret="")
    assert (await call(unconfigured, body=RAW, signature=HEADER))[0] == 500
    assert events == []


async def test_lifespan_and_other_scopes(example: ModuleType) -> None:
    app, _ = make(example)
    inbox = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return inbox.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": "lifespan"}, receive, send)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    await app({"type": "websocket"}, receive, send)
    assert len(sent) == 2


async def test_module_level_app_reads_the_secret_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Without MUXI_WEBHOOK_SECRET it refuses everything rather than accept anything.
    monkeypatch.delenv("MUXI_WEBHOOK_SECRET", raising=False)
    assert await call(load_example().app, body=RAW, signature=HEADER) == (
        500, {"error": "webhook secret not configured"}
    )
    monkeypatch.setenv("MUXI_WEBHOOK_SECRET", "test-client-key")
    assert (await call(load_example().app, body=RAW, signature=HEADER))[0] == 401
