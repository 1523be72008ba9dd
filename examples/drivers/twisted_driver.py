"""A driver for ``muxi_proto`` on Twisted's reactor, over ``twisted.web.client.Agent``.

Written from docs/drivers.md alone. The Agent speaks HTTP/1.1 (it adds ``Host`` and
``Content-Length`` itself, so it gets ``request.headers`` only), pools keep-alive connections,
and streams bodies through ``deliverBody``; this driver maps its outcomes and failures to the
machine's events and phases (docs/drivers.md §4), adds the timeouts the Agent lacks (§5) and
waits on the reactor's clock for each ``Sleep``. Everything returns Deferreds, used from the
reactor thread::

    driver = TwistedDriver(reactor)
    agents = await driver.run(api.get_agents())                 # in an async def run by the reactor
    d = driver.run(api.chat_stream({"message": "hi"}, user_id="u1"), on_event=show)
    d.cancel()                                                  # closes a stream early

https needs Twisted's ``tls`` extra (pyOpenSSL, service_identity): certificates are verified by
``BrowserLikePolicyForHTTPS`` (pass ``tls_policy=BrowserLikePolicyForHTTPS(trustRoot=...)`` for a
private CA). Run it against a local server (``--local``) or the one the ``MUXI_*`` variables name::

    python examples/drivers/twisted_driver.py --local
"""

# Twisted's annotations are partial and zope interfaces are opaque to mypy without a plugin.
# mypy: disallow-untyped-calls=False
from __future__ import annotations

import argparse
import socket
import ssl
from collections.abc import Callable
from typing import Any, cast

from twisted.internet import defer, error, task
from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.internet.protocol import Protocol, connectionDone
from twisted.python.failure import Failure
from twisted.web.client import (
    Agent,
    BrowserLikePolicyForHTTPS,
    HTTPConnectionPool,
    RequestGenerationFailed,
    RequestTransmissionFailed,
    ResponseDone,
    ResponseFailed,
    ResponseNeverReceived,
)
from twisted.web.http import PotentialDataLoss
from twisted.web.http_headers import Headers as TwistedHeaders
from twisted.web.iweb import IAgentEndpointFactory, IBodyProducer, IPolicyForHTTPS, IResponse
from zope.interface import implementer  # type: ignore[import-untyped]

from muxi_proto import (
    READ_BODY,
    CallMachine,
    ChatAnswer,
    Done,
    Fail,
    FormationAPI,
    MuxiError,
    OpenStream,
    Request,
    Send,
    ServerAPI,
    Sleep,
    Step,
    StreamMachine,
    transport_error,
)

__all__ = ["TwistedDriver"]

_FOREVER = 10.0**9  # HostnameEndpoint wants a number: "no connect limit" is a very long one
_BODY_METHODS = (b"POST", b"PUT", b"PATCH")  # Content-Length even when empty (docs/drivers.md §3)


# --- what the Agent needs -----------------------------------------------------------------------------------


@implementer(IBodyProducer)
class _Bytes:
    """The request body, written at once (the Agent sends ``Content-Length: len(body)``)."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.length = len(body)

    def startProducing(self, consumer: Any) -> defer.Deferred[None]:
        consumer.write(self.body)
        return defer.succeed(None)

    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass


@implementer(IAgentEndpointFactory)
class _Endpoints:
    """Connects for one attempt with its connect timeout, and tells it when connecting failed."""

    def __init__(self, attempt: _Attempt, tls_policy: Any) -> None:
        self.attempt = attempt
        self.tls_policy = tls_policy

    def endpointForURI(self, uri: Any) -> Any:
        attempt = self.attempt
        connect = attempt.request.timeout.connect
        endpoint: Any = HostnameEndpoint(
            attempt.driver.reactor, attempt.request.host, attempt.request.port,
            timeout=_FOREVER if connect is None else connect)
        if uri.scheme == b"https":
            creator = self.tls_policy.creatorForNetloc(uri.host, uri.port)
            endpoint = wrapClientTLS(creator, endpoint)
        return _TracedEndpoint(endpoint, attempt)


@implementer(IStreamClientEndpoint)
class _TracedEndpoint:
    def __init__(self, inner: Any, attempt: _Attempt) -> None:
        self.inner = inner
        self.attempt = attempt

    def connect(self, factory: Any) -> defer.Deferred[Any]:
        self.attempt.phase = "connect"

        def connected(protocol: Any) -> Any:
            self.attempt.sending()
            return protocol

        def failed(reason: Failure) -> Failure:
            self.attempt.connect_failed = True
            return reason

        result: defer.Deferred[Any] = self.inner.connect(factory).addCallbacks(connected, failed)
        return result


class _Body(Protocol):
    """Receives a response body: ``on_data(chunk)`` returns False to stop reading (and close)."""

    def __init__(self, attempt: _Attempt, on_data: Callable[[bytes], bool]) -> None:
        self.attempt = attempt
        self.on_data = on_data
        self.stopping = False
        self.reason: Failure | None = None  # why the body ended (ResponseDone when it all arrived)
        self.done: defer.Deferred[None] = defer.Deferred(lambda _: self.stop())

    def connectionMade(self) -> None:
        self.attempt.abort = self.stop

    def dataReceived(self, data: bytes) -> None:
        if self.stopping:
            return
        self.attempt.progress()
        if not self.on_data(data):
            self.stop()

    def stop(self) -> None:
        """Close the response (its connection is not reused), on the reactor's next turn.

        Not at once: data arrives from inside the Agent's parser, and a response whose last bytes
        are in the same chunk goes back to the pool right after; closing it now would leave a
        closing connection in the pool. On the next turn the response is either finished (read to
        its end, rightly pooled: stopping is then a no-op) or still running (closed, never pooled).
        """
        if not self.stopping:
            self.stopping = True
            self.attempt.driver.reactor.callLater(0, self._stop_now)

    def _stop_now(self) -> None:
        transport: Any = self.transport  # the Agent's producer of the body
        if transport is not None:
            transport.stopProducing()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.reason = reason
        if not self.done.called:
            self.done.callback(None)


def _cancelled(exc: BaseException) -> bool:
    """Whether the Agent failed because its Deferred was cancelled (it wraps the CancelledError)."""
    if isinstance(exc, defer.CancelledError):
        return True
    reasons = getattr(exc, "reasons", None) or []
    return any(reason.check(defer.CancelledError) for reason in reasons)


def _builtin(exc: BaseException) -> BaseException:
    """Twisted's failure as the standard exception ``transport_error`` types (docs/drivers.md §4).

    Twisted's errors are not ``OSError`` subclasses: unmapped, a refused connection would read
    as a protocol error.
    """
    if isinstance(exc, (ResponseNeverReceived, ResponseFailed, RequestTransmissionFailed, RequestGenerationFailed)):
        reasons = [r.value for r in exc.reasons if not r.check(defer.CancelledError)] or [r.value for r in exc.reasons]
        return _builtin(reasons[0]) if reasons else ConnectionResetError(str(exc))
    mapped: BaseException
    if isinstance(exc, (error.TimeoutError, error.TCPTimedOutError, defer.TimeoutError)):
        mapped = TimeoutError(str(exc))
    elif isinstance(exc, error.ConnectionRefusedError):
        mapped = ConnectionRefusedError(str(exc))
    elif isinstance(exc, error.DNSLookupError):
        mapped = socket.gaierror(str(exc))
    elif isinstance(exc, (error.ConnectionLost, error.ConnectionDone, error.ConnectionAborted)):
        mapped = ConnectionResetError(str(exc))
    elif isinstance(exc, error.ConnectError):
        mapped = ConnectionError(str(exc))
    elif type(exc).__module__.startswith(("OpenSSL", "service_identity")) or isinstance(exc, error.CertificateError):
        mapped = ssl.SSLError(str(exc))  # a handshake or verification failure
    else:
        return exc  # a malformed response (twisted.web's ParseError...): a ProtocolError
    mapped.__cause__ = exc
    return mapped


# --- one attempt --------------------------------------------------------------------------------------------------


class _Attempt:
    """One attempt's phase and timers: ``read`` and ``total`` limits the Agent does not have."""

    def __init__(self, driver: TwistedDriver, request: Request) -> None:
        self.driver = driver
        self.request = request
        self.phase = "write"  # a pooled connection: the request goes out at once
        self.connect_failed = False
        self.expired: str | None = None  # the phase whose timeout fired
        self.abort: Callable[[], object] = lambda: None  # what cancels the step in progress
        self._step: Any = None  # IDelayedCall
        self._total: Any = None
        if request.timeout.total is not None:
            self._total = driver.reactor.callLater(request.timeout.total, self._expire, "total")

    def sending(self) -> None:
        """Connected: the Agent sends the request and waits for the head (one step to us)."""
        self.phase = "write"
        self._arm()

    def reading_body(self) -> None:
        self.phase = "body"
        self._arm()

    def progress(self) -> None:
        if self._step is not None:
            self._arm()

    def _arm(self) -> None:
        if self._step is not None and self._step.active():
            self._step.cancel()
        self._step = None
        limit = self.request.timeout.read
        if limit is not None and not self.request.stream:
            self._step = self.driver.reactor.callLater(limit, self._expire, "read")

    def _expire(self, which: str) -> None:
        self.expired = "total" if which == "total" else ("body" if self.phase == "body" else "read")
        self.abort()

    def failure(self, exc: BaseException | None) -> tuple[BaseException, str]:
        """The exception to report and its phase."""
        if self.expired is not None:
            return TimeoutError(f"{self.expired} timed out"), self.expired
        if exc is None:
            exc = ConnectionResetError("the response failed")
        if self.connect_failed:
            return _builtin(exc), "connect"
        if isinstance(exc, (RequestTransmissionFailed, RequestGenerationFailed)):
            return _builtin(exc), "write"
        # A TLS handshake failure shows up here too ("read"): the endpoint reports the TCP connection
        # before the handshake, and telling the two apart needs Twisted's private state. "read" is
        # the safe side of docs/drivers.md §4: it never makes the machine replay a request.
        return _builtin(exc), ("body" if self.phase == "body" else "read")

    def finish(self) -> None:
        for call in (self._step, self._total):
            if call is not None and call.active():
                call.cancel()
        self._step = self._total = None


# --- the driver -------------------------------------------------------------------------------------------------------


class TwistedDriver:
    """Runs call machines on a Twisted reactor; call its methods from the reactor thread.

    ``pool``: the keep-alive connections (a persistent ``HTTPConnectionPool`` by default, with
    its automatic retry turned off: the machine decides every retry). ``tls_policy`` verifies
    https servers.
    """

    def __init__(self, reactor: Any = None, *, pool: HTTPConnectionPool | None = None,
                 tls_policy: IPolicyForHTTPS | None = None) -> None:
        if reactor is None:
            from twisted.internet import reactor as default_reactor
            reactor = default_reactor
        self.reactor = reactor
        self.pool = pool or HTTPConnectionPool(reactor, persistent=True)
        self.pool.retryAutomatically = False  # a replay the machine did not decide could repeat a POST
        self.tls_policy: Any = tls_policy or BrowserLikePolicyForHTTPS()

    def sleep(self, seconds: float) -> defer.Deferred[None]:
        """Wait before the next attempt, as the machine said (``Sleep``), on the reactor's clock."""
        return task.deferLater(self.reactor, seconds)

    def run(self, machine: CallMachine[Any], *, on_event: Callable[[Any], object] | None = None
            ) -> defer.Deferred[Any]:
        """Drive one call; the Deferred fires with its result, or fails with its typed error.

        For a stream call, ``on_event(event)`` gets each event as it arrives and the Deferred
        fires with None once the stream ended cleanly (or fails with the typed error, after the
        events that did arrive). Cancelling the Deferred stops the call: a stream closes early.
        """
        return defer.Deferred.fromCoroutine(self._run(machine, on_event))

    async def _run(self, machine: CallMachine[Any], on_event: Callable[[Any], object] | None) -> Any:
        step: Step[Any] = machine.start()
        while True:
            if isinstance(step, Done):
                return step.result
            if isinstance(step, Fail):
                raise step.error
            if isinstance(step, Sleep):
                await self.sleep(step.seconds)
                step = machine.resume()  # the next attempt, signed now
                continue
            assert isinstance(step, Send), step
            if step.request.stream and on_event is None:
                raise TypeError("a stream call needs on_event=")
            step = await self._attempt(machine, step.request, on_event)

    async def _attempt(self, machine: CallMachine[Any], request: Request,
                       on_event: Callable[[Any], object] | None) -> Step[Any]:
        attempt = _Attempt(self, request)
        try:
            return await self._exchange(machine, request, attempt, on_event)
        finally:
            attempt.finish()

    async def _exchange(self, machine: CallMachine[Any], request: Request, attempt: _Attempt,
                        on_event: Callable[[Any], object] | None) -> Step[Any]:
        agent = Agent.usingEndpointFactory(self.reactor, _Endpoints(attempt, self.tls_policy), self.pool)
        headers = TwistedHeaders()
        for name, value in request.headers:  # Host and Content-Length: the Agent adds them
            headers.addRawHeader(name, value)
        method = request.method.encode("ascii")
        body = _Bytes(request.body) if request.body or method in _BODY_METHODS else None
        pending = agent.request(method, request.url.encode("ascii"), headers, cast(IBodyProducer, body))
        attempt.abort = pending.cancel
        if attempt.phase == "write":  # no connect (a pooled connection): the head timeout starts now
            attempt.sending()
        try:
            response: IResponse = await pending
        except Exception as exc:  # the Agent's failures, classified by phase
            if attempt.expired is None and _cancelled(exc):
                raise defer.CancelledError() from exc  # the caller cancelled: not an I/O failure (§4)
            failure, phase = attempt.failure(exc)
            return machine.failed(failure, phase=phase)
        head_headers = tuple((k.decode("latin-1"), v.decode("latin-1"))
                             for k, values in response.headers.getAllRawHeaders() for v in values)
        step: Step[Any] = machine.head(response.code, head_headers)
        attempt.reading_body()
        if isinstance(step, OpenStream):
            assert on_event is not None
            attempt.finish()  # no read timeout, no total for streams (docs/drivers.md §5)
            await self._stream(step.decoder, response, request, attempt, on_event)
            return Done(None)
        if step is not READ_BODY:
            unread = _Body(attempt, lambda _: False)  # a Sleep or Fail right after the head: close it unread
            cast(Any, response).deliverBody(unread)
            unread.stop()
            return step
        limit: list[Fail] = []

        def on_data(chunk: bytes) -> bool:
            outcome = machine.data(chunk)
            if isinstance(outcome, Fail):  # the body limit: stop reading, close
                limit.append(outcome)
                return False
            return True

        receiver = _Body(attempt, on_data)
        cast(Any, response).deliverBody(receiver)
        await receiver.done
        reason = receiver.reason
        assert reason is not None
        if limit:
            return limit[0]
        if reason.check(ResponseDone, PotentialDataLoss):  # the whole body (PotentialDataLoss: close-delimited)
            return machine.end()
        failure, phase = attempt.failure(reason.value)
        return machine.failed(failure, phase=phase)

    async def _stream(self, decoder: StreamMachine[Any], response: IResponse, request: Request,
                      attempt: _Attempt, on_event: Callable[[Any], object]) -> None:
        errors: list[MuxiError] = []
        receiver: _Body

        def on_data(chunk: bytes) -> bool:
            try:
                events = decoder.feed(chunk)
            except MuxiError as exc:  # an ``event: error`` frame, typed
                errors.append(exc)
                return False
            for event in events:
                if receiver.done.called:  # cancelled from a callback: nothing more to hand out
                    return False
                on_event(event)
            return not decoder.finished  # the terminal event: stop reading and close (§6)

        receiver = _Body(attempt, on_data)
        cast(Any, response).deliverBody(receiver)
        await receiver.done
        reason = receiver.reason
        assert reason is not None
        if errors:
            raise errors[0]
        if not decoder.finished and not reason.check(ResponseDone, PotentialDataLoss):
            exc, _ = attempt.failure(reason.value)  # mid-stream: not retried, raised typed (§6)
            raise transport_error(exc, request, phase="body")
        decoder.eof()  # raises StreamTruncatedError when the terminal event never came

    def close(self) -> defer.Deferred[None]:
        """Close the pooled connections."""
        closed: defer.Deferred[None] = self.pool.closeCachedConnections()
        return closed


async def demo(driver: TwistedDriver, server: ServerAPI, formation: FormationAPI) -> None:
    """A signed server call, a formation call, and a chat answer streamed token by token."""
    status = await driver.run(server.status())
    print("server:", status["formations"]["running"], "formation(s) running")
    print("agents:", (await driver.run(formation.get_agents()))["count"])
    answer = ChatAnswer()
    print("answer: ", end="")
    await driver.run(formation.chat_stream({"message": "Hello from Twisted"}, user_id="example-user"),
                     on_event=lambda event: print(answer.add(event), end="", flush=True))
    print()
    await driver.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--local", action="store_true", help="start a local MUXI server in this process")
    args = parser.parse_args(argv)

    def run(reactor: Any, server: ServerAPI, formation: FormationAPI) -> defer.Deferred[None]:
        return defer.Deferred.fromCoroutine(demo(TwistedDriver(reactor), server, formation))

    if args.local:
        from muxi_testing import LocalMuxiServer

        with LocalMuxiServer() as local:  # task.react runs the reactor, then exits the process
            task.react(run, (ServerAPI(local.server_config(max_retries=2)),
                             FormationAPI(local.formation_config(max_retries=2))))
    # the MUXI_* variables name the server, the formation and the keys
    task.react(run, (ServerAPI(max_retries=2), FormationAPI(max_retries=2)))


if __name__ == "__main__":
    main()
