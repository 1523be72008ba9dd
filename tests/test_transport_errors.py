"""The error boundary: every library exception becomes a typed MuxiError naming method and URL."""

from __future__ import annotations

import builtins
import importlib
import socket
import ssl

import anyio
import h11
import httpcore
import pytest
import trio

from muxi_proto import errors
from muxi_proto.http import Request, without_userinfo
from muxi_transports._errors import (
    ClosedBeforeResponse,
    IncompleteBody,
    PhaseTimeout,
    TransportClosed,
    map_errors,
    map_exception,
)

CE, PE, TE = errors.ConnectionError, errors.ProtocolError, errors.TimeoutError
NO_RESPONSE = "server closed the connection without sending a response"
# ExceptionGroup is built in from 3.11; anyio brings the backport on 3.10.
ExceptionGroup = getattr(builtins, "ExceptionGroup", None) or importlib.import_module(
    "exceptiongroup"
).ExceptionGroup

REQ = Request("POST", "http://127.0.0.1:4321/rpc/formations", (("X-Muxi-Secret-Key", "sk_TOPSECRET"),))


def _caused(outer: BaseException, inner: BaseException) -> BaseException:
    outer.__cause__ = inner
    return outer


def _verify_error() -> ssl.SSLCertVerificationError:
    exc = ssl.SSLCertVerificationError(1, "certificate verify failed")
    exc.verify_message = "unable to get local issuer certificate"
    return exc


@pytest.mark.parametrize(
    ("exc", "cls", "reason"),
    [
        (ConnectionRefusedError(111, "refused"), errors.ConnectionError, "connection refused"),
        (_caused(OSError("All connection attempts failed"), ConnectionRefusedError(111, "x")),
         errors.ConnectionError, "connection refused"),
        (_caused(OSError("all attempts failed"), ExceptionGroup("g", [ConnectionRefusedError(111, "x")])),
         errors.ConnectionError, "connection refused"),
        (socket.gaierror(-2, "Name or service not known"), errors.ConnectionError,
         "name resolution failed ([Errno -2] Name or service not known)"),
        (_caused(httpcore.ConnectError("x"), socket.gaierror(-2, "Name or service not known")),
         errors.ConnectionError, "name resolution failed ([Errno -2] Name or service not known)"),
        (ConnectionResetError(104, "reset"), errors.ConnectionError, "connection reset by peer"),
        (_caused(anyio.BrokenResourceError(), ConnectionResetError(104, "x")), errors.ConnectionError,
         "connection reset by peer"),
        (_caused(trio.BrokenResourceError(), BrokenPipeError(32, "x")), errors.ConnectionError,
         "connection closed by peer while sending"),
        (anyio.EndOfStream(), errors.ConnectionError, "connection closed by peer"),
        (anyio.ClosedResourceError(), errors.ConnectionError, "connection lost (ClosedResourceError)"),
        (_verify_error(), errors.TLSError,
         "TLS certificate verification failed (unable to get local issuer certificate)"),
        (_caused(httpcore.ConnectError("x"), _verify_error()), errors.TLSError,
         "TLS certificate verification failed (unable to get local issuer certificate)"),
        (ssl.SSLEOFError(8, "EOF"), errors.ConnectionError, "connection closed by peer during TLS"),
        (PhaseTimeout("read"), errors.TimeoutError, "read timed out"),
        (httpcore.ConnectTimeout("x"), errors.TimeoutError, "connect timed out"),
        (httpcore.WriteTimeout("x"), errors.TimeoutError, "write timed out"),
        (httpcore.PoolTimeout("x"), errors.TimeoutError, "pool timed out"),
        (trio.TooSlowError(), errors.TimeoutError, "timed out"),
        (builtins.TimeoutError(), errors.TimeoutError, "timed out"),
        (IncompleteBody("got 3 body bytes"), PE, "response body ended early (got 3 body bytes)"),
        (ClosedBeforeResponse(), CE, NO_RESPONSE),
        (ClosedBeforeResponse(17), CE, "server closed the connection before the response head was complete "
         "(17 bytes)"),
        (_caused(ClosedBeforeResponse(), httpcore.RemoteProtocolError("x")), CE, NO_RESPONSE),
        # By type alone (the transports tell a cut-short response apart where they read it, not by text):
        (httpcore.RemoteProtocolError("Server disconnected without sending a response."), PE,
         "malformed response (Server disconnected without sending a response.)"),
        (h11.RemoteProtocolError("illegal status line"), PE, "malformed response (illegal status line)"),
        (TransportClosed(), errors.ConnectionError, "transport is closed"),
        (httpcore.ProxyError("407 Proxy Authentication Required"), errors.ConnectionError,
         "proxy error (407 Proxy Authentication Required)"),
        (httpcore.ReadError(""), errors.ConnectionError, "connection lost"),
        (httpcore.UnsupportedProtocol("bad"), errors.ConfigurationError, "unsupported URL (bad)"),
    ],
)
def test_mapping(exc: BaseException, cls: type[errors.MuxiError], reason: str) -> None:
    mapped = map_exception(exc, REQ)
    assert type(mapped) is cls
    assert mapped.message == f"POST http://127.0.0.1:4321/rpc/formations: {reason}"
    assert mapped.details["method"] == "POST"
    assert mapped.details["url"] == "http://127.0.0.1:4321/rpc/formations"
    assert "sk_TOPSECRET" not in str(mapped) + repr(mapped)


def test_timeout_phase_in_details() -> None:
    mapped = map_exception(PhaseTimeout("connect"), REQ)
    assert isinstance(mapped, errors.TimeoutError) and isinstance(mapped, builtins.TimeoutError)
    assert mapped.details["phase"] == "connect"


def test_local_protocol_errors_never_quote_header_values() -> None:
    exc = h11.LocalProtocolError("Illegal header value b'sk_TOPSECRET\\r\\n'")
    mapped = map_exception(_caused(httpcore.LocalProtocolError(str(exc)), exc), REQ)
    assert isinstance(mapped, errors.ProtocolError)
    assert "sk_TOPSECRET" not in str(mapped)


def test_long_library_messages_are_cut() -> None:
    mapped = map_exception(h11.RemoteProtocolError("x" * 5000), REQ)
    assert mapped is not None and len(mapped.message) < 300


@pytest.mark.parametrize("exc", [ValueError("bug"), KeyError("k"), errors.NotFoundError(message="x")])
def test_unknown_and_already_typed_errors_pass_through(exc: Exception) -> None:
    assert map_exception(exc, REQ) is None
    with pytest.raises(type(exc)) as info, map_errors(REQ):
        raise exc
    assert info.value is exc


def test_cancellation_is_never_mapped() -> None:
    class FakeCancelled(BaseException):
        pass

    with pytest.raises(FakeCancelled), map_errors(REQ):
        raise FakeCancelled


def test_map_errors_chains_the_original() -> None:
    original = ConnectionResetError(104, "reset")
    with pytest.raises(errors.ConnectionError) as info, map_errors(REQ):
        raise original
    assert info.value.__cause__ is original


def test_urls_lose_userinfo_in_messages() -> None:
    assert without_userinfo("http://user:pw@host:1/p?q=1") == "http://host:1/p?q=1"
    assert without_userinfo("http://host/p") == "http://host/p"
    mapped = map_exception(ConnectionRefusedError(), Request("GET", "http://u:secret@127.0.0.1/x"))
    assert mapped is not None and "secret" not in str(mapped)


@pytest.mark.parametrize(
    ("exc", "never_sent"),
    [
        (ConnectionRefusedError(111, "refused"), True),
        (socket.gaierror(-2, "Name or service not known"), True),
        (httpcore.ConnectError("boom"), True),
        (ConnectionResetError(104, "reset"), False),
        (httpcore.ReadError("gone"), False),
        (h11.RemoteProtocolError("illegal status line"), False),
    ],
)
def test_connect_phase_marks_requests_that_never_left(exc: BaseException, never_sent: bool) -> None:
    mapped = map_exception(exc, REQ)
    assert mapped is not None
    assert (mapped.details.get("phase") == "connect") is never_sent
