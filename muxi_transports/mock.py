"""Transports that answer from a function instead of the network: for users' tests and ours.

::

    def handler(request: Request) -> Response:
        return Response(200, (("Content-Type", "application/json"),), b'{"ok": true}')

    transport = MockTransport(handler)

A handler may also return a :class:`StreamingResponse` whose body is an iterable (or, for
:class:`AsyncMockTransport`, an async iterable) of chunks, to exercise streaming code. Exceptions
raised by the handler (``MuxiError`` or any other) propagate unchanged, so a handler can simulate
``ConnectionError`` or ``TimeoutError``. Every request is recorded in ``transport.requests``.
"""

from __future__ import annotations

from ._async.mock import AsyncMockTransport
from ._mocking import StreamingResponse
from ._sync.mock import MockTransport

__all__ = ["AsyncMockTransport", "MockTransport", "StreamingResponse"]
