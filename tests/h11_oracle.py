"""h11 as the oracle for our own HTTP/1.1 response readers (bulk chunked decoding, the fast head codec).

``oracle`` feeds h11 alone, piece by piece: the behaviour before our shortcuts existed. ``ours`` runs
the transports' :class:`ClientExchange` on the same pieces. Property tests compare the two.

Outcomes: ``complete``, ``need-data``, ``incomplete`` (the body cut short by the end of the
connection), ``closed`` (the connection ended before the response head was complete, after any
number of bytes: a ``ConnectionError`` on every transport), ``protocol`` (malformed).
"""

from __future__ import annotations

import h11

from muxi_proto.http import Request
from muxi_transports._errors import ClosedBeforeResponse, IncompleteBody
from muxi_transports._h11_exchange import END, MAX_HEAD_SIZE, NEED_DATA, ClientExchange, ResponseHead

Outcome = tuple[object, bytes, str, bool]


def oracle(method: str, pieces: list[bytes], eof: bool) -> Outcome:
    """h11 alone, chunk by chunk: the behaviour before bulk decoding."""
    conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_SIZE)
    conn.send(h11.Request(method=method, target="/", headers=[("Host", "h")]))
    conn.send(h11.EndOfMessage())
    feed = iter([*pieces, b""] if eof else pieces)
    head: object = None
    body = b""
    closed = False
    while True:
        state = conn.their_state
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError:
            if closed and state is h11.SEND_BODY:
                return head, body, "incomplete", False
            # The end of the connection is fed only once h11 asked for more data, so an error now is
            # about the head it was still waiting for (none, or part of one): the peer went away.
            if closed and state is h11.SEND_RESPONSE:
                return head, body, "closed", False
            return head, body, "protocol", False
        if event is h11.NEED_DATA:
            piece = next(feed, None)
            if piece is None:
                return head, body, "need-data", False
            closed = closed or not piece
            conn.receive_data(piece)
            continue
        if isinstance(event, h11.Response):
            head = (event.status_code, [(k, v) for k, v in event.headers.raw_items()])
        elif type(event) is h11.Data:
            body += bytes(event.data)
        elif type(event) is h11.EndOfMessage:
            extra, got_eof = conn.trailing_data
            reusable = conn.our_state is h11.DONE and conn.their_state is h11.DONE and not extra and not got_eof
            return head, body, "complete", reusable


def ours(method: str, pieces: list[bytes], eof: bool) -> Outcome:
    exchange = ClientExchange()
    exchange.request_bytes(Request(method, "http://h/"))
    feed = iter([*pieces, b""] if eof else pieces)
    head: object = None
    body = b""
    try:
        result = exchange.next_head()
        while result is NEED_DATA:
            piece = next(feed, None)
            if piece is None:
                return head, body, "need-data", False
            exchange.feed(piece)
            result = exchange.next_head()
        assert isinstance(result, ResponseHead)
        head = (result.status, [(k.encode("latin-1"), v.encode("latin-1")) for k, v in result.headers])
        while True:
            chunk = exchange.next_body()
            if chunk is END:
                return head, body, "complete", exchange.reusable
            if chunk is NEED_DATA:
                piece = next(feed, None)
                if piece is None:
                    return head, body, "need-data", False
                exchange.feed(piece)
                continue
            assert isinstance(chunk, bytes)
            body += chunk
    except IncompleteBody:
        return head, body, "incomplete", False
    except ClosedBeforeResponse:
        return head, body, "closed", False
    except h11.RemoteProtocolError:
        return head, body, "protocol", False
