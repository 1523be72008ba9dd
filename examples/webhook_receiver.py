"""A minimal MUXI webhook endpoint: a plain ASGI app, no web framework.

It does what the user guide's webhook section does: verify the signature, parse the event and
branch on its status. Run it under any ASGI server, for example::

    MUXI_WEBHOOK_SECRET=<formation admin key> uvicorn examples.webhook_receiver:app --port 8000

and give the runtime ``webhook_url=http://127.0.0.1:8000/webhooks/muxi``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from muxi import webhook  # the user guide's import (the very module muxi_proto.webhook)

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]

WEBHOOK_PATH = "/webhooks/muxi"
MAX_BODY_BYTES = 1 << 20  # webhooks are small; refuse anything bigger instead of buffering it


def handle_event(event: webhook.WebhookEvent) -> None:
    """Act on a verified event (here: print it, as the user guide does)."""
    if event.status == "completed":
        for item in event.content:
            if item.type == "text":
                print(item.text)
    elif event.status == "failed":
        print(f"Error: {event.error.message if event.error else 'unknown error'}")
    elif event.status == "awaiting_clarification":
        print(f"Question: {event.clarification.question if event.clarification else ''}")
    else:  # a retry-escalation webhook ("achieved", "stuck", ...) or a status added later
        print(f"{event.kind}: {event.status}")


def make_app(
    secret: str,
    on_event: Callable[[webhook.WebhookEvent], None] = handle_event,
    *,
    clock: Callable[[], float] = time.time,
) -> ASGIApp:
    """An ASGI app that accepts signed MUXI webhooks at ``POST /webhooks/muxi``."""

    async def app(scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["path"] != WEBHOOK_PATH:
            await _respond(send, 404, {"error": "not found"})
            return
        if scope["method"] != "POST":
            await _respond(send, 405, {"error": "method not allowed"}, [(b"allow", b"POST")])
            return
        try:
            payload = await _read_body(receive)
        except _Disconnected:
            return
        if payload is None:
            await _respond(send, 413, {"error": "payload too large"})
            return
        if not secret:
            await _respond(send, 500, {"error": "webhook secret not configured"})
            return

        signature = _header(scope, b"x-muxi-signature")
        if not webhook.verify_signature(payload, signature, secret, now=clock()):
            await _respond(send, 401, {"error": "invalid signature"})
            return
        try:
            event = webhook.parse(payload)
        except webhook.WebhookVerificationError as exc:
            await _respond(send, 400, {"error": exc.message})
            return
        on_event(event)
        await _respond(send, 200, {"received": True, "request_id": event.request_id})

    return app


class _Disconnected(Exception):
    """The client went away before the body was complete."""


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None when it exceeds MAX_BODY_BYTES."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _header(scope: MutableMapping[str, Any], name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value)
    return None


async def _respond(
    send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    data = json.dumps(body).encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(data)),
                    *(headers or [])],
    })
    await send({"type": "http.response.body", "body": data})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


app = make_app(os.environ.get("MUXI_WEBHOOK_SECRET", ""))
