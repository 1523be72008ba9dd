"""Bring your own I/O: a transport over the standard library's ``http.client``.

muxi-client builds, signs, retries and decodes every request itself; a transport only moves bytes.
Subclass :class:`muxi_transports.Transport`, implement ``send(request) -> SyncResponse``, raise only
``muxi_proto.errors`` types, and hand it to a client::

    formation = FormationClient(transport=HTTPClientTransport())

Run it (``MUXI_*`` variables set, e.g. by ``python -m muxi_testing``)::

    python examples/custom_transport.py
"""

from __future__ import annotations

import http.client
import ssl
from collections.abc import Iterator

from muxi import FormationClient
from muxi_proto import errors
from muxi_proto.http import Request
from muxi_transports import SyncResponse, Transport


class HTTPClientTransport(Transport):
    """One ``http.client`` connection per request: no pooling, which keeps the example short."""

    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        self._context = context or ssl.create_default_context()

    def send(self, request: Request) -> SyncResponse:
        if request.scheme == "https":
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                request.host, request.port, timeout=request.timeout.connect, context=self._context)
        else:
            conn = http.client.HTTPConnection(request.host, request.port, timeout=request.timeout.connect)
        phase = "connect"  # a failure while connecting proves the request never left (safe to retry)
        try:
            conn.connect()
            assert conn.sock is not None
            conn.sock.settimeout(request.timeout.read)  # None for streams: they may idle for minutes
            phase = "request"
            conn.putrequest(request.method, request.target, skip_accept_encoding=True)
            for name, value in request.headers:
                conn.putheader(name, value)
            if request.body or request.method in ("POST", "PUT"):
                conn.putheader("Content-Length", str(len(request.body)))
            conn.endheaders(request.body or None)
            response = conn.getresponse()
        except Exception as exc:
            conn.close()
            raise _mapped(exc, request, phase) from exc
        return SyncResponse(response.status, tuple(response.getheaders()), _body(response, request),
                            request=request, on_close=conn.close)


def _body(response: http.client.HTTPResponse, request: Request) -> Iterator[bytes]:
    """The body as it arrives (``read1`` returns what is there, so streams are not buffered)."""
    try:
        while chunk := response.read1(65536):
            yield chunk
    except Exception as exc:
        raise _mapped(exc, request, "read") from exc


def _mapped(exc: Exception, request: Request, phase: str) -> errors.MuxiError:
    """Library exceptions become the typed errors the clients understand (never with headers)."""
    where = f"{request.method} {request.url}: {type(exc).__name__}: {exc}"
    details = {"phase": phase}
    if isinstance(exc, TimeoutError):
        return errors.TimeoutError(message=f"{phase} timed out: {where}", details=details)
    if isinstance(exc, ssl.SSLError):
        return errors.TLSError(message=where, details=details)
    if isinstance(exc, http.client.HTTPException):  # bad status line, incomplete body...
        return errors.ProtocolError(message=where, details=details)
    if isinstance(exc, OSError):  # refused, reset, unreachable, DNS
        return errors.ConnectionError(message=where, details=details)
    raise exc  # a bug, not a network failure: let it show


def main() -> None:
    """Health and one chat through the custom transport (settings from ``MUXI_*`` variables)."""
    with HTTPClientTransport() as transport, FormationClient(transport=transport) as formation:
        print("health:", formation.health()["status"])
        answer = formation.chat({"message": "Hello over http.client"}, user_id="example-user")
        print("answer:", answer["message"]["content"])
        print("streamed:", formation.chat_stream({"message": "And streamed"}, user_id="example-user").text())


if __name__ == "__main__":
    main()
