"""Users and their identifiers, notification channels, notifications (client key); credentials (either).

With persistent memory the runtime keeps a user table: ``POST /users/resolve`` creates a user
(``muxi_user_id`` a 21-character id, ``internal_user_id`` a counter) for a new identifier, and
identifiers link, list, look up and unlink as recorded (``tests/fixtures/runtime/*/users.json``).
Without persistent memory every one of these is 503 ``Database service is not available``.
Channels and notifications need a ``proactive`` block (503 otherwise); credentials fail inside the
runtime on SQLite (500, its own message) and are 503 without persistent memory.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from .._wire import new_id
from ._base import Call, Reject, Route
from .state import IdentifierRecord, UserRecord
from .validation import decode_json, is_missing

__all__ = ["ROUTES"]

NO_DATABASE = "Database service is not available"
NO_PROACTIVE = "Proactive notifications are not configured for this formation (missing 'proactive' block)"
NO_CREDENTIALS = "Credential service is not available"
CREDENTIAL_STORE_BUG = "Failed to create credential: 'EncryptedCredentialResolver' object has no attribute 'store'"
LINK_WITHOUT_USER = ("Failed to associate identifiers: IntegrityError('(sqlite3.IntegrityError) NOT NULL "
                     "constraint failed: users.formation_id')")
PYDANTIC_DOCS = "https://errors.pydantic.dev/2.14/v/missing"


def _database(c: Call) -> None:
    if not c.rt.spec.persistent_memory:
        raise Reject(503, NO_DATABASE, "SERVICE_UNAVAILABLE")


def _stamp(c: Call) -> str:
    return datetime.fromtimestamp(c.now, tz=timezone.utc).replace(tzinfo=None).isoformat()


def _normalise(identifier: str) -> str:
    return identifier.lower() if "@" in identifier else identifier


def _new_user(c: Call) -> UserRecord:
    user = UserRecord(new_id("", 21), c.rt.next_internal_user)
    c.rt.next_internal_user += 1
    c.rt.users[user.muxi_user_id] = user
    return user


def _link(c: Call, user: UserRecord, identifier: str, kind: str) -> None:
    previous = c.rt.identifiers.get(identifier)
    if previous is not None and previous in c.rt.users:
        owner = c.rt.users[previous]
        owner.identifiers = [i for i in owner.identifiers if i.identifier != identifier]
    c.rt.identifiers[identifier] = user.muxi_user_id
    user.identifiers = [i for i in user.identifiers if i.identifier != identifier]
    user.identifiers.append(IdentifierRecord(identifier, kind, _stamp(c)))


async def resolve_user(c: Call) -> None:
    try:
        body = decode_json(c.inc.body)
    except Exception:
        body = None
    if body is None or is_missing(body):
        raw = c.inc.body.decode("utf-8", "replace")
        try:
            json.loads(raw)
        except json.JSONDecodeError as exc:
            raise Reject(400, f"JSONDecodeError({exc.args[0]!r})", "INVALID_REQUEST") from None
        body = {}
    if not isinstance(body, dict) or not isinstance(body.get("identifier"), str):
        raise Reject(400, "1 validation error for ResolveRequest\nidentifier\n  Field required [type=missing, "
                     f"input_value={body!r}, input_type={type(body).__name__}]\n    For further information "
                     f"visit {PYDANTIC_DOCS}", "INVALID_REQUEST")
    _database(c)
    identifier = body["identifier"]
    key = _normalise(identifier)
    owner = c.rt.identifiers.get(key)
    user = c.rt.users.get(owner) if owner else None
    if user is None:
        user = _new_user(c)
        kind = body.get("identifier_type")
        _link(c, user, key, kind if isinstance(kind, str) and kind else "unknown")
    await c.ok({"identifier": identifier, "muxi_user_id": user.muxi_user_id,
                "internal_user_id": user.internal_user_id}, "user", "user.resolved")


def _user(c: Call, muxi_user_id: str) -> UserRecord:
    user = c.rt.users.get(muxi_user_id)
    if user is None:
        raise Reject(404, f"User not found: '{muxi_user_id}'", "RESOURCE_NOT_FOUND")
    return user


async def user_identifiers(c: Call) -> None:
    _database(c)
    user = _user(c, c.params["user_id"])
    items = [{"identifier": i.identifier, "type": i.type, "created_at": i.created_at} for i in user.identifiers]
    await c.ok({"muxi_user_id": user.muxi_user_id, "internal_user_id": user.internal_user_id, "identifiers": items,
                "count": len(items)}, "user_identifier_list", "user.identifiers.list")


def _parse_identifier(item: Any) -> tuple[str, str] | None:
    if isinstance(item, str):
        return item, "unknown"
    if isinstance(item, list) and len(item) == 2 and all(isinstance(x, str) for x in item):
        return item[0], item[1]
    if isinstance(item, dict) and isinstance(item.get("identifier"), str):
        return item["identifier"], str(item.get("type") or item.get("identifier_type") or "unknown")
    return None


async def link_identifiers(c: Call) -> None:
    _database(c)
    muxi_user_id = c.body.get("muxi_user_id")
    if not muxi_user_id:
        raise Reject(500, LINK_WITHOUT_USER, "INTERNAL_ERROR")  # the runtime's own failure, as recorded
    user = _user(c, muxi_user_id)
    linked = []
    for item in c.body["identifiers"]:
        parsed = _parse_identifier(item)
        if parsed is None:
            continue
        identifier, kind = _normalise(parsed[0]), parsed[1]
        _link(c, user, identifier, kind)
        linked.append({"identifier": identifier, "type": kind})
    await c.ok({"muxi_user_id": user.muxi_user_id, "identifiers": linked, "count": len(linked)},
               "user_identifier_list", "user.identifiers.associated")


async def unlink_identifier(c: Call) -> None:
    _database(c)
    identifier = _normalise(c.params["identifier"])
    owner = c.rt.identifiers.pop(identifier, None)
    if owner is None:
        raise Reject(404, f"Identifier '{c.params['identifier']}' not found", "RESOURCE_NOT_FOUND")
    user = c.rt.users.get(owner)
    if user is not None:
        user.identifiers = [i for i in user.identifiers if i.identifier != identifier]
    await c.ok({"message": f"Identifier '{c.params['identifier']}' removed successfully", "muxi_user_id": owner},
               "message", "user.identifier.deleted")


async def lookup_user(c: Call) -> None:
    _database(c)
    identifier = c.params["identifier"]
    owner = c.rt.identifiers.get(_normalise(identifier))
    user = c.rt.users.get(owner) if owner else None
    if user is None:
        raise Reject(404, f"Identifier not found: '{identifier}'", "RESOURCE_NOT_FOUND")
    await c.ok({"identifier": identifier, "muxi_user_id": user.muxi_user_id,
                "internal_user_id": user.internal_user_id}, "user", "user.resolved")


def _proactive(c: Call) -> None:
    if not isinstance(c.rt.spec.config.get("proactive"), dict):
        raise Reject(503, NO_PROACTIVE, "SERVICE_UNAVAILABLE")


async def get_channels(c: Call) -> None:
    _proactive(c)
    await c.ok({"user_id": c.params["user_id"], "preferred_channel": None, "channels": {}, "timezone": None},
               "user", "user.channels.retrieved")


async def update_channels(c: Call) -> None:
    _proactive(c)
    await c.ok({"user_id": c.params["user_id"], **c.body}, "user", "user.channels.updated")


async def notify(c: Call) -> None:
    _proactive(c)
    await c.ok({"user_id": c.body["user_id"], "delivered": [], "failed": []}, "notification", "notification.sent")


# --- credentials -----------------------------------------------------------------------------------


async def credential_services(c: Call) -> None:
    await c.ok({"services": [], "count": 0}, "credential_list", "credentials.listed")


async def list_credentials(c: Call) -> None:
    c.require_user(admin_too=True)
    await c.ok({"credentials": [], "count": 0}, "credential_list", "credentials.listed")


async def create_credential(c: Call) -> None:
    c.require_user(admin_too=True)
    if not c.rt.spec.persistent_memory:
        raise Reject(503, f"{NO_CREDENTIALS}. Ensure persistent memory is configured.", "SERVICE_UNAVAILABLE")
    raise Reject(500, CREDENTIAL_STORE_BUG, "INTERNAL_ERROR")


async def one_credential(c: Call) -> None:
    c.require_user(admin_too=True)
    if not c.rt.spec.persistent_memory:
        raise Reject(503, NO_CREDENTIALS, "SERVICE_UNAVAILABLE")
    raise Reject(404, f"Credential not found: {c.params['credential_id']}", "RESOURCE_NOT_FOUND")


ROUTES = [
    Route("GET", "/v1/users/{user_id}/channels", "client", get_channels),
    Route("PUT", "/v1/users/{user_id}/channels", "client", update_channels),
    Route("GET", "/v1/users/identifiers/{user_id}", "client", user_identifiers),
    Route("POST", "/v1/users/identifiers", "client", link_identifiers),
    Route("DELETE", "/v1/users/identifiers/{identifier}", "client", unlink_identifier),
    Route("GET", "/v1/users/{identifier}", "client", lookup_user),
    Route("POST", "/v1/users/resolve", "client", resolve_user),
    Route("POST", "/v1/notifications", "client", notify),
    Route("GET", "/v1/credentials/services", "either", credential_services),
    Route("GET", "/v1/credentials", "either", list_credentials),
    Route("POST", "/v1/credentials", "either", create_credential),
    Route("GET", "/v1/credentials/{credential_id}", "either", one_credential),
    Route("DELETE", "/v1/credentials/{credential_id}", "either", one_credential),
]
