"""The transport interface: what a client needs from an HTTP implementation, and nothing more.

A transport sends a :class:`muxi_proto.http.Request` and returns a response whose body is an
iterator (sync) or async iterator (async) of byte chunks. It owns pooling, TLS, timeouts and
cleanup, and knows nothing about MUXI. Errors leave a transport only as
:class:`muxi_proto.errors.MuxiError` subclasses (``ConnectionError``, ``TimeoutError``,
``TLSError``, ``ProtocolError``).

Writing your own transport means subclassing :class:`Transport` or :class:`AsyncTransport` and
implementing ``send`` (and ``close`` / ``aclose`` if it holds resources; an async transport may
also override ``sleep``, which its clients wait with between retries).

The classes are written once, async, in ``_async/base.py``; ``Transport`` and ``SyncResponse`` are
generated from it (``_sync/base.py``, ``scripts/unasync.py``).
"""

from __future__ import annotations

from ._async.base import AsyncResponse, AsyncTransport
from ._sync.base import SyncResponse, Transport

__all__ = [
    "AsyncResponse",
    "AsyncTransport",
    "SyncResponse",
    "Transport",
]
