"""``muxi.auth``: the official SDK's signing helpers, on ``muxi_proto.auth`` (the current time)."""

from __future__ import annotations

import time

from muxi_proto.auth import compute_signature, sign_request

__all__ = ["build_auth_header", "generate_hmac_signature"]


def generate_hmac_signature(secret_key: str, method: str, path: str) -> tuple[str, int]:
    """``(base64 signature, timestamp)`` for ``method path`` signed now (query not signed)."""
    timestamp = int(time.time())
    return compute_signature(secret_key, timestamp, method, path), timestamp


def build_auth_header(key_id: str, secret_key: str, method: str, path: str) -> str:
    """The ``Authorization`` header value for ``method path``, signed now."""
    return sign_request(method, path, key_id=key_id, secret_key=secret_key, timestamp=int(time.time()))
