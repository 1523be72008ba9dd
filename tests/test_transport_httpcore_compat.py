"""Why each workaround in ``muxi_transports._httpcore_compat`` exists, pinned against the installed httpcore.

Each test shows the behaviour of httpcore itself that a workaround answers, and then the workaround
at work. When an httpcore upgrade makes the first half fail, the workaround can probably go.
"""

from __future__ import annotations

import inspect
import itertools
import ssl
from typing import Any

import httpcore
import pytest
from conftest import ServeFactory

from muxi_proto.http import Request
from muxi_transports import AsyncHTTPCoreTransport, HTTPCoreTransport
from muxi_transports._httpcore_compat import (
    InFlightLimit,
    RequestBody,
    leftover_bytes,
    pin_alpn,
    stale_connection,
)
from tests.httpserver import ResponseWriter, ServerRequest
from tests.rawserver import Finish, RawServer, Send, Silent

JSON = [("Content-Type", "application/json")]
FORGED = b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n{\"f\":1}"


# 1. bytes after the end of a response ---------------------------------------------------------------------


def test_httpcore_reuses_a_connection_with_bytes_after_the_response_and_leftover_bytes_sees_them() -> None:
    script = [Send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}" + FORGED), Silent()]
    timeout = {"timeout": {"connect": 5.0, "read": 5.0, "write": 5.0, "pool": 5.0}}
    with RawServer(lambda request: script) as server, httpcore.ConnectionPool() as pool:
        first = pool.request("GET", server.url + "/", extensions=timeout)
        # httpcore answers the next request from the bytes already buffered: the forged response.
        second = pool.request("GET", server.url + "/", extensions=timeout)
        assert (first.content, second.content) == (b"{}", b'{"f":1}')
        assert len(server.requests) == 1  # the second request never reached a server
    with RawServer(lambda request: script) as server, httpcore.ConnectionPool() as pool, \
            pool.stream("GET", server.url + "/", extensions=timeout) as response:
        assert response.read() == b"{}"
        assert leftover_bytes(response)  # what HTTPCoreTransport checks before letting the pool keep it
    with RawServer(lambda request: [Send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"), Finish()]) as server, \
            httpcore.ConnectionPool() as pool, pool.stream("GET", server.url + "/", extensions=timeout) as response:
        assert response.read() == b"{}"
        assert not leftover_bytes(response)


# 2. the sync pool's queue (encode/httpcore#1110) -----------------------------------------------------------


class _Stub(httpcore.ConnectionInterface):
    """A connection that only answers the pool's questions."""

    def __init__(self, origin: httpcore.Origin, *, idle: bool) -> None:
        self._origin = origin
        self.idle = idle

    def can_handle_request(self, origin: httpcore.Origin) -> bool:
        return origin == self._origin

    def is_available(self) -> bool:
        return self.idle

    def is_idle(self) -> bool:
        return self.idle

    def is_closed(self) -> bool:
        return False

    def has_expired(self) -> bool:
        return False

    def close(self) -> None:
        pass


def test_httpcores_pool_closes_a_connection_it_has_assigned_to_a_queued_request() -> None:
    from httpcore._sync.connection_pool import PoolRequest

    a, b = httpcore.Origin(b"http", b"a.test", 80), httpcore.Origin(b"http", b"b.test", 80)
    pool = httpcore.ConnectionPool(max_connections=2, max_keepalive_connections=2)
    idle, busy = _Stub(a, idle=True), _Stub(b, idle=False)
    pool._connections = [idle, busy]
    waiting = PoolRequest(httpcore.Request("GET", "http://a.test/"))
    pool._requests = [waiting]
    assert pool._assign_requests_to_connections() == []
    assert waiting.connection is idle  # handed over, but the waiting thread has not woken up yet
    pool._requests.append(PoolRequest(httpcore.Request("GET", "http://c.test/")))
    closing = pool._assign_requests_to_connections()  # another thread's pass, at the connection limit
    assert idle in closing and waiting.connection is idle  # closed under the request it was given to


def test_our_limit_keeps_httpcores_queue_empty() -> None:
    assert InFlightLimit.pool_limits(10, 20) == (None, 10)  # no limit in httpcore: it never queues
    limit = InFlightLimit(1)
    permit = limit.take(None)
    assert permit is not None and limit.take(0.01) is None
    permit.release()
    permit.release()  # once only
    again = limit.take(0.01)
    assert again is not None
    again.release()


# 3. a shared SSL context's ALPN list -----------------------------------------------------------------------


class _Spy(ssl.SSLContext):
    calls: list[list[str]]

    def set_alpn_protocols(self, alpn_protocols: Any) -> None:
        self.calls.append(list(alpn_protocols))
        super().set_alpn_protocols(alpn_protocols)


def test_httpcore_sets_alpn_on_its_context_at_every_connection(
    serve: ServeFactory, server_ssl_context: ssl.SSLContext, ca_path: str
) -> None:
    async def hello(request: ServerRequest, response: ResponseWriter) -> None:
        await response.respond(200, [*JSON, ("Connection", "close")], b"{}")

    server = serve(hello, ssl_context=server_ssl_context)
    spy = _Spy(ssl.PROTOCOL_TLS_CLIENT)
    spy.load_verify_locations(ca_path)
    spy.calls = []
    with httpcore.ConnectionPool(ssl_context=spy) as pool:
        for _ in range(3):
            assert pool.request("GET", server.url + "/").status == 200
    assert spy.calls == [["http/1.1"]] * 3  # a write to the shared context per connection
    pinned = pin_alpn(ssl.create_default_context(), ["http/1.1"])
    pinned.set_alpn_protocols(["http/1.1"])  # the same list: nothing changes
    with pytest.raises(Exception, match="cannot change"):
        pinned.set_alpn_protocols(["h2", "http/1.1"])


# 4. and 5. no async generators left to the garbage collector ----------------------------------------------


def test_httpcore_wraps_bytes_bodies_in_an_async_generator_and_ours_is_none() -> None:
    plain = httpcore.Request("POST", "http://a.test/", content=b"x")
    assert inspect.isasyncgen(plain.stream.__aiter__())  # type: ignore[union-attr]
    ours = httpcore.Request("POST", "http://a.test/", content=RequestBody(b"x"))
    assert not inspect.isasyncgen(ours.stream.__aiter__())  # type: ignore[union-attr]
    assert list(RequestBody(b"x")) == list(RequestBody(b"x")) == [b"x"]  # iterable again for a resend


@pytest.mark.anyio
async def test_httpcores_response_bodies_are_async_generators(serve: ServeFactory) -> None:
    async def big(request: ServerRequest, response: ResponseWriter) -> None:
        await response.respond(200, JSON, b"[" + b"1," * 50_000 + b"1]")

    server = serve(big)
    async with httpcore.AsyncConnectionPool() as pool, pool.stream("GET", server.url + "/") as response:
        iterator = response.stream.__aiter__()  # type: ignore[union-attr]
        # Abandoned half-way, this chain would be finalised by the GC (trio warns, and the suite's
        # warnings are errors): read it to its end here.
        assert inspect.isasyncgen(iterator)
        async for _ in iterator:
            pass
    # Ours, abandoned after one chunk: closing ends the chain at once, no warning (end_body).
    async with AsyncHTTPCoreTransport() as transport:
        response = await transport.send(Request("GET", server.url + "/"))
        assert await response.aiter_bytes().__anext__()
        await response.aclose()


# 6. stale keep-alive connections ---------------------------------------------------------------------------


def _drops_the_second_request() -> Any:
    count = itertools.count(1)

    async def handler(request: ServerRequest, response: ResponseWriter) -> None:
        if request.connection_id == 1 and next(count) == 2:
            await response.abort()  # the server dropped the idle connection as the request went out
            return
        await response.respond(200, JSON, b'{"n":%d}' % request.connection_id)

    return handler


def test_httpcore_fails_a_request_on_a_connection_closed_as_it_went_out(serve: ServeFactory) -> None:
    server = serve(_drops_the_second_request())
    with httpcore.ConnectionPool() as pool:
        assert pool.request("GET", server.url + "/").status == 200
        with pytest.raises((httpcore.NetworkError, httpcore.RemoteProtocolError)):
            pool.request("GET", server.url + "/")


@pytest.mark.anyio
async def test_our_transports_send_it_again_once_on_a_new_connection(serve: ServeFactory) -> None:
    for transport in (HTTPCoreTransport(), AsyncHTTPCoreTransport()):
        server = serve(_drops_the_second_request())
        request = Request("GET", server.url + "/")
        if isinstance(transport, HTTPCoreTransport):
            with transport:
                bodies = [transport.send(request).read() for _ in range(2)]
        else:
            async with transport:
                bodies = [await (await transport.send(request)).aread() for _ in range(2)]
        assert bodies == [b'{"n":1}', b'{"n":2}']


@pytest.mark.parametrize(("exc", "reused", "received", "peer_closed", "again"), [
    (httpcore.RemoteProtocolError("x"), True, 0, True, True),
    (httpcore.ReadError("reset"), True, 0, False, True),
    (httpcore.WriteError("broken pipe"), True, 0, False, True),
    (httpcore.RemoteProtocolError("x"), False, 0, True, False),  # a new connection: the server's answer
    (httpcore.RemoteProtocolError("x"), True, 12, True, False),  # part of a response came
    (httpcore.RemoteProtocolError("malformed"), True, 0, False, False),
    (httpcore.ReadTimeout("slow"), True, 0, False, False),
    (httpcore.LocalProtocolError("bad header"), True, 0, False, False),
])
def test_which_failures_are_a_stale_connection(
    exc: Exception, reused: bool, received: int, peer_closed: bool, again: bool
) -> None:
    assert stale_connection(exc, reused=reused, received=received, peer_closed=peer_closed) is again
