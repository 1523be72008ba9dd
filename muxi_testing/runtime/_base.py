"""What every runtime handler shares: the call being answered, refusals, the key check.

The order of checks is the runtime's (FastAPI's): routing (404, or 405 when only the method is
wrong), then decoding a JSON body (422 at the position of a decoding error), then the router's key
check (401), then validation of the query and the body against the runtime's OpenAPI schemas
(422), then the handler -- which checks ``X-Muxi-User-ID`` itself, with its own message.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .._context import ServerContext
from .._responder import Responder
from .._state import FormationRecord
from .._wire import Incoming, new_id, py_json
from ..envelopes import runtime_error, runtime_success
from .state import RuntimeState

__all__ = [
    "ADMIN_ONLY",
    "JSON_HEADERS",
    "SSE_HEADERS",
    "USER_REQUIRED",
    "USER_REQUIRED_CLIENT",
    "Call",
    "Handler",
    "Reject",
    "Route",
    "check_key",
    "keys_equal",
]

JSON_HEADERS = (("Content-Type", "application/json"),)
SSE_HEADERS = (
    ("Content-Type", "text/event-stream; charset=utf-8"),
    ("Cache-Control", "no-cache"),
    ("Connection", "keep-alive"),
)

# The runtime's own messages (tests/fixtures/runtime/default/keys.json).
ADMIN_REQUIRED = "A valid admin API key is required. Please provide the 'X-Muxi-Admin-Key' header."
ADMIN_INVALID = "Invalid admin API key. Please check your 'X-Muxi-Admin-Key' header value."
CLIENT_REQUIRED = "A valid client API key is required. Please provide the 'X-Muxi-Client-Key' header."
CLIENT_INVALID = "Invalid client API key. Please check your 'X-Muxi-Client-Key' header value."
EITHER_REQUIRED = "A valid API key is required. Provide either 'X-Muxi-Admin-Key' or 'X-Muxi-Client-Key' header."
ADMIN_ONLY = "Admin API key required for this endpoint"
USER_REQUIRED = "X-Muxi-User-ID header is required"
USER_REQUIRED_CLIENT = "X-Muxi-User-ID header is required when using client API key"


class Reject(Exception):
    """An error answer: status, message, the runtime's code (default: by status), error data."""

    def __init__(self, status: int, message: str, code: str | None = None, data: dict[str, Any] | None = None
                 ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.data = data


Handler = Callable[["Call"], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Route:
    """One runtime operation: who may call it, and its handler."""

    method: str
    path: str
    auth: str  # "public" | "admin" | "client" | "either"
    handler: Handler


def keys_equal(given: str, expected: str) -> bool:
    """Constant-time comparison of API keys."""
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


class Call:
    """One runtime request being answered."""

    __slots__ = ("body", "ctx", "idem_key", "inc", "is_admin", "out", "params", "query", "raw", "record",
                 "request_id", "route", "rt", "user_id")

    def __init__(self, ctx: ServerContext, inc: Incoming, out: Responder, record: FormationRecord,
                 rt: RuntimeState) -> None:
        self.ctx = ctx
        self.inc = inc
        self.out = out
        self.record = record
        self.rt = rt
        self.params: dict[str, str] = {}
        self.query: dict[str, Any] = {}
        self.body: Any = None
        """The body as validated against the operation's schema (defaults filled in)."""
        self.raw: Any = None
        """The body as decoded JSON (None when empty or undocumented)."""
        self.is_admin = False
        self.user_id: str | None = inc.header("x-muxi-user-id") or None
        self.request_id = new_id("req_")
        self.idem_key = inc.header("x-muxi-idempotency-key") or None
        self.route: Route | None = None

    @property
    def now(self) -> float:
        return self.ctx.clock()

    @property
    def storage_user(self) -> str:
        """Whose data this is: the header's user in multi-user mode, ``"0"`` in single-user mode."""
        if self.rt.spec.multi_user and self.user_id:
            return self.user_id
        return "0"

    def require_user(self, message: str = USER_REQUIRED, *, admin_too: bool = False) -> str | None:
        """The ``X-Muxi-User-ID`` value; 400 with the route's ``message`` when the client key has none.

        ``admin_too``: the header is required with the admin key as well.
        """
        if self.user_id is None and (admin_too or not self.is_admin):
            raise Reject(400, message, "INVALID_REQUEST")
        return self.user_id

    def require_admin(self) -> None:
        """401 unless the admin key was given (the scheduler's own check inside a dual-key router)."""
        given = self.inc.header("x-muxi-admin-key") or ""
        if not keys_equal(given, self.ctx.admin_key_for(self.record.id)):
            raise Reject(401, ADMIN_ONLY, "UNAUTHORIZED")

    def envelope(self, data: dict[str, Any], object_type: str, event_type: str, *, echo: bool = False) -> bytes:
        """A success envelope; ``echo`` puts the idempotency key in it, as the runtime does only on its
        three idempotent routes (``formation/server/idempotency.py``: ``_echo_key`` on their 2xx JSON)."""
        return py_json(runtime_success(
            data, request_id=self.request_id, timestamp_ms=int(self.now * 1000), object_type=object_type,
            event_type=event_type, idempotency_key=self.idem_key if echo else None,
        ))

    async def ok(
        self, data: dict[str, Any], object_type: str, event_type: str, *, status: int = 200, cache: bool = False
    ) -> None:
        """A success envelope; ``cache`` keeps it for idempotent replay (docs/protocol.md §9)."""
        body = self.envelope(data, object_type, event_type, echo=cache)
        if cache and self.idem_key:
            self.rt.idempotency.put(self.inc.path, self.idem_key, status, body, self.now)
        await self.out.send(status, JSON_HEADERS, body)

    async def replay(self) -> bool:
        """Answer with the cached body of an earlier request with the same idempotency key."""
        if not self.idem_key:
            return False
        cached = self.rt.idempotency.get(self.inc.path, self.idem_key, self.now)
        if cached is None:
            return False
        await self.out.send(cached[0], JSON_HEADERS, cached[1])
        return True

    async def fail(self, status: int, message: str, code: str | None = None, data: dict[str, Any] | None = None
                   ) -> None:
        body = runtime_error(status, message, request_id=self.request_id, timestamp_ms=int(self.now * 1000),
                             code=code, data=data)  # errors never echo the key
        await self.out.send(status, JSON_HEADERS, py_json(body))


def check_key(call: Call, auth: str) -> None:
    """The router's key check (401 with the runtime's message for the route's kind)."""
    if auth == "public":
        return
    ctx, formation_id = call.ctx, call.record.id
    admin = call.inc.header("x-muxi-admin-key") or ""
    client = call.inc.header("x-muxi-client-key") or ""
    admin_ok = bool(admin) and keys_equal(admin, ctx.admin_key_for(formation_id))
    client_ok = bool(client) and keys_equal(client, ctx.client_key_for(formation_id))
    if auth == "admin":
        if not admin:
            raise Reject(401, ADMIN_REQUIRED, "UNAUTHORIZED")
        if not admin_ok:
            raise Reject(401, ADMIN_INVALID, "UNAUTHORIZED")
        call.is_admin = True
    elif auth == "client":
        if not client:  # an admin key does not open client routes
            raise Reject(401, CLIENT_REQUIRED, "UNAUTHORIZED")
        if not client_ok:
            raise Reject(401, CLIENT_INVALID, "UNAUTHORIZED")
    else:
        if not (admin_ok or client_ok):
            raise Reject(401, EITHER_REQUIRED, "UNAUTHORIZED")
        call.is_admin = admin_ok
