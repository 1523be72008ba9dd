"""Formation secrets (admin key): list masked, create, update, delete, reload.

Names are stored upper-cased (the runtime's secrets manager normalises them); answers echo the
name as given. Values are masked the runtime's way: the first and last few characters stay
visible (``first-value`` -> ``fir••••lue``), which leaks a little of each secret, as recorded.
"""

from __future__ import annotations

import re

from ._base import Call, Reject, Route

__all__ = ["ROUTES", "mask_secret"]

BULLETS = "\u2022" * 8
_PREFIXES = ("sk-", "pk-", "ghp_", "ghs_", "pat_", "key-", "tok-", "lin_")
_PROTOCOL = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)")


def mask_secret(value: str | None) -> str:
    """A secret value as ``GET /secrets`` shows it."""
    if not value:
        return BULLETS
    match = _PROTOCOL.match(value)
    protocol = match.group(1) if match else ""
    rest = value[len(protocol):]
    prefix = next((len(p) for p in _PREFIXES if rest.startswith(p)), 0)
    if protocol:
        return f"{protocol}{rest[:2]}{chr(0x2022) * 7}{rest[-4:]}" if len(rest) > 8 else f"{protocol}{BULLETS}"
    if len(rest) > 12:
        if prefix:
            return f"{rest[:prefix + 2]}{chr(0x2022) * 6}{rest[-4:]}"
        return f"{rest[:4]}{BULLETS}{rest[-4:]}"
    if len(rest) > 6:
        return f"{rest[:3]}{chr(0x2022) * 4}{rest[-3:]}"
    return BULLETS


async def list_secrets(c: Call) -> None:
    shown = {name: mask_secret(value) for name, value in sorted(c.rt.secrets.items())}
    await c.ok({"secrets": shown, "count": len(shown)}, "secret_list", "secret.list")


async def create_secret(c: Call) -> None:
    key, value = c.body["key"], c.body["value"]
    if key.upper() in c.rt.secrets:
        raise Reject(409, f"Secret '{key}' already exists", "SECRET_EXISTS")
    c.rt.secrets[key.upper()] = value
    await c.ok({"message": f"Secret '{key}' created successfully"}, "secret", "secret.created", status=201)


async def reload_secrets(c: Call) -> None:
    await c.ok({"message": "Secrets reloaded successfully using add-or-override merge semantics",
                "added": [], "overwritten": [], "preserved": [], "count": len(c.rt.secrets)},
               "secret", "secret.reloaded")


async def update_secret(c: Call) -> None:
    key = c.params["key"]
    if key.upper() not in c.rt.secrets:
        raise Reject(404, f"Secret '{key}' not found", "SECRET_NOT_FOUND")
    c.rt.secrets[key.upper()] = c.body["value"]
    await c.ok({"message": f"Secret '{key}' updated successfully"}, "secret", "secret.updated")


async def delete_secret(c: Call) -> None:
    key = c.params["key"]
    if key.upper() not in c.rt.secrets:
        raise Reject(404, f"Secret '{key}' not found", "SECRET_NOT_FOUND")
    if f"secrets.{key.upper()}" in str(c.rt.spec.config):
        raise Reject(409, f"Cannot delete secret '{key}' because it is currently in use by the formation "
                     "configuration", "SECRET_IN_USE")
    del c.rt.secrets[key.upper()]
    await c.ok({"message": f"Secret '{key}' deleted successfully"}, "secret", "secret.deleted")


ROUTES = [
    Route("GET", "/v1/secrets", "admin", list_secrets),
    Route("POST", "/v1/secrets", "admin", create_secret),
    Route("POST", "/v1/secrets/reload", "admin", reload_secrets),
    Route("PUT", "/v1/secrets/{key}", "admin", update_secret),
    Route("DELETE", "/v1/secrets/{key}", "admin", delete_secret),
]
