"""``make demo``: the user guide's flows, end to end, with readable output.

Without ``MUXI_SERVER_URL`` the demo starts the local MUXI-compatible server
(:class:`muxi_testing.LocalMuxiServer`, 127.0.0.1, a free port, in memory) and runs:

1. server status (ping, health, status, formations);
2. formation health;
3. a deployment of ``examples/formation/`` with the server's progress events;
4. a chat streamed token by token, three times: blocking, asyncio and trio;
5. an asynchronous trigger whose result arrives by webhook, verified and parsed.

With ``MUXI_SERVER_URL`` (and ``MUXI_KEY_ID``, ``MUXI_SECRET_KEY``, ``MUXI_FORMATION_ID`` and
``MUXI_CLIENT_KEY``; the admin key is not needed there) it runs against that server instead. There, step 3 runs
only when asked (``--deploy`` or ``MUXI_DEMO_DEPLOY=1``): it deploys or updates the formation
``demo-formation`` on your server, which nobody should get by surprise. Step 5 is skipped: it needs
a trigger whose webhook URL reaches this machine, which only the local server lets the demo add.

Exit status: 0 when every step that ran succeeded, 1 when one failed, 2 for incomplete settings.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the sibling examples, also when run as `python examples/demo.py`

import chat_stream  # noqa: E402 - after the path set-up above
import deploy  # noqa: E402
import formation_health  # noqa: E402
import server_status  # noqa: E402
import webhook_receiver  # noqa: E402

from muxi import FormationClient, ServerClient, __version__, webhook  # noqa: E402
from muxi.errors import ConfigurationError, MuxiError  # noqa: E402
from muxi_proto.http import Request, Timeout  # noqa: E402
from muxi_testing import LocalMuxiServer  # noqa: E402
from muxi_transports import HTTPCoreTransport  # noqa: E402

USER_ID = "demo-user"
QUESTION = "What does MUXI do?"
TRIGGER = "demo-webhook"
WEBHOOK_DEADLINE = 10.0  # seconds; the local server delivers within milliseconds


def scripted_answer(message: str) -> str:
    """The local server's chat script (no model runs here, and the answer says so)."""
    return (f"You asked: {message!r}. MUXI runs formations of AI agents: deploy them, chat with them, "
            "and get long jobs back by webhook. (A scripted answer from the local server, not a model.)")


def say(text: str = "") -> None:
    print(text, flush=True)


def detail(text: str) -> None:
    say(f"   {text}")


class Demo:
    """The steps, and whether each one passed."""

    def __init__(self, local: LocalMuxiServer | None, *, deploy_wanted: bool) -> None:
        self.local = local
        self.deploy_wanted = deploy_wanted
        self.failures: list[str] = []
        self._number = 0

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        self._number += 1
        say()
        say(f"{self._number}. {title}")
        try:
            yield
        except MuxiError as exc:  # typed errors carry no secrets (code, message, status)
            self.failures.append(title)
            detail(f"FAILED: {type(exc).__name__}: {exc}")

    def run(self) -> int:
        with self.step("Server status"), ServerClient() as server:
            server_status.show_status(server, out=detail)
        with self.step("Formation health"), FormationClient() as formation:
            formation_health.show_health(formation, out=detail)
        with self.step(f"Deploy {deploy.DEFAULT_DIRECTORY.relative_to(HERE.parent)}/"):
            if self.local is None and not self.deploy_wanted:
                detail("skipped: this is your server; pass --deploy or set MUXI_DEMO_DEPLOY=1 to deploy or "
                       f"update formation {deploy.formation_id_of(deploy.DEFAULT_DIRECTORY)!r} on it")
            else:
                if self.local is not None:
                    detail("the local server starts with demo-formation running, so this is an update")
                with ServerClient() as server:
                    deploy.deploy(server, deploy.DEFAULT_DIRECTORY, out=detail)
        with self.step(f"Chat, streamed token by token ({QUESTION!r})"):
            self.chat()
        with self.step("Webhook: an asynchronous trigger, its result delivered to a local receiver"):
            if self.local is None:
                detail("skipped: it needs a trigger whose webhook URL reaches this machine; only the local "
                       "server lets the demo add one (run `make demo` without MUXI_SERVER_URL to see it)")
            else:
                self.webhook(self.local)
        say()
        if self.failures:
            say(f"Done, with {len(self.failures)} failed step(s): {', '.join(self.failures)}.")
            return 1
        say("Done: every step succeeded.")
        return 0

    def chat(self) -> None:
        runs: list[tuple[str, Callable[[], str]]] = [
            ("sync (httpcore)", lambda: chat_stream.chat_sync(QUESTION, user_id=USER_ID)),
            ("asyncio (httpcore)", lambda: asyncio.run(chat_stream.chat_async(QUESTION, user_id=USER_ID))),
        ]
        if importlib.util.find_spec("trio") is None:
            detail("trio: skipped, trio is not installed (pip install 'muxi-client[trio]')")
        else:
            runs.append(("trio (TrioTransport)", lambda: chat_stream.chat_trio(QUESTION, user_id=USER_ID)))
        answers = []
        for label, run in runs:
            sys.stdout.write(f"   {label + ':':<24}")  # the tokens follow on this line as they arrive
            try:
                answers.append(run())
            except BaseException:
                sys.stdout.write("\n")
                raise
        if len(set(answers)) != 1 or not answers[0]:
            raise MuxiError("DEMO_MISMATCH", f"the loops got different answers: {answers!r}")
        detail(f"the same {len(answers[0])}-character answer on each loop")

    def webhook(self, local: LocalMuxiServer) -> None:
        events: list[webhook.WebhookEvent] = []
        arrived = threading.Event()

        def on_event(event: webhook.WebhookEvent) -> None:  # called only after the signature verified
            events.append(event)
            arrived.set()

        # examples/webhook_receiver.py's ASGI app, verifying with the formation's admin key.
        app = webhook_receiver.make_app(local.admin_key, on_event)
        with ASGIReceiver(app) as receiver:
            url = receiver.url + webhook_receiver.WEBHOOK_PATH
            local.add_trigger(TRIGGER, url, description="Answer asynchronously, by webhook")
            detail(f"receiver: examples/webhook_receiver.py on {url}")
            detail(f"trigger {TRIGGER!r} delivers to it (a local-server setting)")
            with FormationClient() as formation:
                accepted = formation.fire_trigger(TRIGGER, {"message": "Summarise today's orders"},
                                                  async_mode=True, user_id=USER_ID)
            detail(f"fired with use_async=true: {accepted['status']} (request {accepted['request_id']})")
            if not arrived.wait(WEBHOOK_DEADLINE):
                raise MuxiError("DEMO_TIMEOUT", f"no verified webhook within {WEBHOOK_DEADLINE:.0f} s")
            event = events[0]
            raw = receiver.requests[0]
            detail(f"webhook received: POST {raw.target}, {len(raw.body)} bytes, signature verified with "
                   "muxi.webhook.verify_signature")
            detail("(as the real runtime does, the body is sent with json.dumps spacing but signed over its "
                   "canonical JSON: verify_signature accepts either form)")
            detail(f"parsed with muxi.webhook.parse: status {event.status!r}, request {event.request_id} "
                   f"({'the one fired' if event.request_id == accepted['request_id'] else 'ANOTHER REQUEST'})")
            detail(f"text: {event.text}")
            if event.request_id != accepted["request_id"] or event.status != "completed":
                raise MuxiError("DEMO_MISMATCH", "the webhook does not match the fired request")
            self.forged(url, raw.body)

    def forged(self, url: str, body: bytes) -> None:
        """The same body signed with a wrong secret must be refused (verification is not a formality)."""
        signature = webhook.sign(body, "not-the-admin-key", timestamp=int(time.time()))
        headers = (("Content-Type", "application/json"), (webhook.SIGNATURE_HEADER, signature))
        with HTTPCoreTransport() as transport, transport.send(
                Request("POST", url, headers, body, timeout=Timeout.of(10))) as response:
            response.read()
        if response.status != 401:
            raise MuxiError("DEMO_MISMATCH", f"a forged webhook got {response.status}, not 401")
        detail("the same body signed with a wrong secret: 401 invalid signature")


Message = MutableMapping[str, Any]


@dataclass(frozen=True)
class ReceivedRequest:
    """A request the ASGI receiver got: its target and body."""

    target: str
    body: bytes


class ASGIReceiver:
    """Serve an ASGI app on 127.0.0.1 with the standard library (one thread, a whole request in,
    a whole response out): enough for a webhook receiver, with no server dependency."""

    def __init__(self, app: webhook_receiver.ASGIApp) -> None:
        self.requests: list[ReceivedRequest] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append(ReceivedRequest(self.path, body))
                status, headers, payload = asyncio.run(_call_asgi(app, self.command, self.path, self.headers.items(),
                                                                  body))
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> ASGIReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


async def _call_asgi(
    app: webhook_receiver.ASGIApp, method: str, target: str, headers: Iterable[tuple[str, str]], body: bytes
) -> tuple[int, list[tuple[str, str]], bytes]:
    path, _, query = target.partition("?")
    scope: Message = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "path": path,
        "query_string": query.encode(),
        "headers": [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers],
    }
    delivered = False

    async def receive() -> Message:
        nonlocal delivered
        if delivered:
            return {"type": "http.disconnect"}
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    status, out_headers, parts = 500, [("Content-Type", "text/plain")], [b"no response"]

    async def send(message: Message) -> None:
        nonlocal status, out_headers
        if message["type"] == "http.response.start":
            status = message["status"]
            out_headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers", [])
                           if k.lower() != b"content-length"]  # set from the whole body
            parts.clear()
        elif message["type"] == "http.response.body":
            parts.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, out_headers, b"".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; returns the exit status."""
    parser = argparse.ArgumentParser(description="The muxi-client demo (see the module docstring).")
    parser.add_argument("--deploy", action="store_true",
                        help="with MUXI_SERVER_URL: deploy or update examples/formation/ on that server")
    args = parser.parse_args(argv)
    deploy_wanted = args.deploy or os.environ.get("MUXI_DEMO_DEPLOY", "") not in ("", "0", "false", "no")
    say(f"muxi-client {__version__} demo")
    if os.environ.get("MUXI_SERVER_URL", "").strip():
        return remote(deploy_wanted)
    with LocalMuxiServer(reply=scripted_answer, token_delay=0.02, step_delay=0.05,
                         webhook_retry_delays=(0.2, 0.5, 1.0)) as local:
        for name in ("MUXI_FORMATION_URL", "MUXI_FORMATION_MODE"):  # they would point elsewhere
            os.environ.pop(name, None)
        os.environ.update(local.env())  # the examples read MUXI_* like any app would
        say(f"Server: a local MUXI-compatible server on {local.url}, started for this demo "
            f"(set MUXI_SERVER_URL and the other MUXI_* variables to use yours), formation {local.formation_id}")
        return Demo(local, deploy_wanted=deploy_wanted).run()


def remote(deploy_wanted: bool) -> int:
    """The demo against the server named by the ``MUXI_*`` variables."""
    parts = urlsplit(os.environ["MUXI_SERVER_URL"].strip())
    shown = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()  # never echo user:password@
    say(f"Server: {shown} (from MUXI_SERVER_URL), formation {os.environ.get('MUXI_FORMATION_ID', '(not set)')}")
    try:  # fail early, and clearly, on incomplete settings
        ServerClient().close()
        with FormationClient() as formation:
            if not formation.config.client_key:
                raise ConfigurationError("MISSING_CONFIG", "chat needs the formation's client key (MUXI_CLIENT_KEY)")
    except ConfigurationError as exc:
        say(f"Incomplete settings: {exc.message}")
        say("Set MUXI_SERVER_URL, MUXI_KEY_ID, MUXI_SECRET_KEY, MUXI_FORMATION_ID and MUXI_CLIENT_KEY, "
            "or unset MUXI_SERVER_URL to use the local server.")
        return 2
    return Demo(None, deploy_wanted=deploy_wanted).run()


if __name__ == "__main__":
    sys.exit(main())
