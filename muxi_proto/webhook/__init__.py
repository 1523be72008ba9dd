"""MUXI webhooks: signature verification, signing and typed parsing.

The runtime POSTs a JSON body with ``X-Muxi-Signature: t=<unix s>,v1=<hex>``, where the hex is
HMAC-SHA256(secret, ``f"{t}."`` + canonical JSON of the payload). It signs the *canonical* form
(compact, sorted keys, UTF-8) but, for completion and clarification webhooks, sends the body with
``json.dumps`` defaults (spaces, ``\\uXXXX`` escapes). So a signature is accepted when it matches
the raw body **or** the canonical re-serialisation of the parsed body (docs/protocol.md §12)::

    from muxi import webhook

    if not webhook.verify_signature(payload, signature, WEBHOOK_SECRET):
        ...  # reject with 401
    event = webhook.parse(payload)

Pure: no I/O. The clock is read with :func:`time.time` unless one is injected (``now=``, or the
``clock`` of a :class:`WebhookVerifier`).

Modules: ``event`` (the typed event and :func:`parse`), ``signature`` (the header, :func:`sign`,
:func:`verify_signature`), ``canonical`` (the JSON spellings a signature may cover), ``verifier``
(:class:`WebhookVerifier` and its replay store) and ``body`` (raw body to bytes and JSON).
"""

from __future__ import annotations

from ..errors import WebhookVerificationError
from .canonical import canonical_json
from .event import Clarification, ContentItem, ErrorDetails, WebhookEvent, parse
from .signature import DEFAULT_TOLERANCE, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, verify_signature
from .verifier import MemoryReplayStore, ReplayStore, WebhookVerifier

__all__ = [
    "DEFAULT_TOLERANCE",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "Clarification",
    "ContentItem",
    "ErrorDetails",
    "MemoryReplayStore",
    "ReplayStore",
    "WebhookEvent",
    "WebhookVerificationError",
    "WebhookVerifier",
    "canonical_json",
    "parse",
    "sign",
    "verify_signature",
]
