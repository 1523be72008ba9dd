"""Fuzz targets: each takes arbitrary bytes and may only end normally or with a typed error.

Shared by the atheris driver (``make fuzz``, millions of inputs) and by ``tests/test_fuzz_sample.py``
(a small hypothesis sample in every ``make test``). A target raising anything else — or the SSE
decoder disagreeing with the reference parser — is a bug.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import tarfile
from collections.abc import Callable

from muxi_proto import auth, webhook
from muxi_proto.bundle import read_bundle
from muxi_proto.errors import (
    AuthenticationError,
    BundleError,
    LimitExceededError,
    MuxiError,
    WebhookVerificationError,
)
from muxi_proto.http import Response
from muxi_proto.responses import Decode, decode_response, error_from_response, parse_retry_after
from muxi_proto.sse import SSEDecoder
from muxi_proto.streams import ChatStream, DeploymentStream, LogStream
from tests import h11_oracle, sse_reference

__all__ = ["TARGETS"]

SSE_LIMIT = 512


def _split(data: bytes) -> tuple[int, bytes]:
    return (data[0] if data else 0), data[1:]


def sse_differential(data: bytes) -> None:
    """The decoder, fed in chunks of a fuzz-chosen size, agrees with the spec's reference parser."""
    size, body = _split(data)
    step = size % 17 + 1
    decoder = SSEDecoder(max_size=SSE_LIMIT)
    events = []
    failed = False
    try:
        for i in range(0, len(body), step):
            events.extend(decoder.feed(body[i:i + step]))
        decoder.end()
    except LimitExceededError:
        failed = True
    ref = sse_reference.parse(body, max_size=SSE_LIMIT)
    if ref.error or failed:
        assert ref.error and failed, ("limit disagreement", ref.error, failed)
        return
    got = [(e.event, e.data, e.id, e.retry) for e in events]
    want = [(e.event, e.data, e.id, e.retry) for e in ref.events]
    assert got == want, (got, want)
    assert decoder.in_event == ref.in_event


def streams(data: bytes) -> None:
    """MUXI stream machines: only typed errors, whatever the frames."""
    kind, body = _split(data)
    machine = (ChatStream, DeploymentStream, LogStream)[kind % 3]()
    try:
        for i in range(0, len(body), 64):
            machine.feed(body[i:i + 64])
            if machine.finished:
                break
        machine.eof()
    except MuxiError:
        pass


def envelope(data: bytes) -> None:
    """Response decoding of any status and body: a result or a MuxiError."""
    head, body = data[:2], data[2:]
    status = 100 + int.from_bytes(head.ljust(2, b"\0"), "big") % 500
    ctype = ("application/json", "text/plain", "text/html")[len(body) % 3]
    headers = (("Content-Type", ctype), ("Retry-After", body[:12].decode("latin-1")),
               ("Location", body[12:140].decode("latin-1")))  # 3xx errors quote it (without userinfo)
    response = Response(status, headers, body)
    for decode in Decode:
        with contextlib.suppress(MuxiError):
            decode_response(response, decode=decode, now=1.8e9)
    assert isinstance(error_from_response(response, now=1.8e9), MuxiError)


def hmac_header(data: bytes) -> None:
    """Authorization header verification: None or AuthenticationError."""
    header = data.decode("utf-8", "replace")
    with contextlib.suppress(AuthenticationError):
        auth.verify_request(header, "GET", "/rpc/formations", key_id="MUXI_k", secret_key="sk_s", now=1.8e9)


def webhook_header(data: bytes) -> None:
    """Webhook verification never raises for any header or payload; parse raises only its typed error."""
    cut = data[0] % (len(data) or 1) if data else 0
    header, payload = data[:cut].decode("latin-1"), data[cut:]
    result = webhook.verify_signature(payload, header, "whsec", now=1795945191)
    assert result in (True, False)
    with contextlib.suppress(WebhookVerificationError):
        webhook.parse(payload)


def retry_after(data: bytes) -> None:
    """Retry-After parsing: None or a non-negative number."""
    value = parse_retry_after(data.decode("utf-8", "replace"), now=1.8e9)
    assert value is None or value >= 0


def bundle(data: bytes) -> None:
    """Bundle reading of raw bytes, of gzipped bytes and of a tar with fuzzed members: BundleError only."""
    for candidate in (data, gzip.compress(data, mtime=0), _tar_of(data)):
        with contextlib.suppress(BundleError):
            read_bundle(candidate, max_size=1 << 20, max_files=64)


def _tar_of(data: bytes) -> bytes:
    # A well-formed archive whose member names and contents come from the input, so the fuzzer reaches
    # the path checks (.., absolute, duplicates, missing formation file) and the version scanner.
    parts = data.split(b"\0")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for i in range(0, min(len(parts), 8) - 1, 2):
            name = parts[i].decode("utf-8", "replace")[:100] or "x"
            info = tarfile.TarInfo(name)
            content = parts[i + 1]
            info.size = len(content)
            try:
                tar.addfile(info, io.BytesIO(content))
            except (ValueError, UnicodeError):
                continue
    return buf.getvalue()


_HEADS = (b"", b"HTTP/1.1 200 OK\r\n", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
          b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")


def http_response(data: bytes) -> None:
    """The default transports' HTTP/1.1 reader (fast head codec, bulk chunked decoding) agrees with h11:
    same head, body, outcome and reuse decision, whatever the bytes and however they are cut."""
    control, body = _split(data)
    wire = _HEADS[control % 4] + body
    step = control // 4 % 13 + 1
    pieces = [wire[i:i + step] for i in range(0, len(wire), step)]
    method = "HEAD" if control % 7 == 0 else "GET"
    eof = control % 2 == 1
    ours, expected = h11_oracle.ours(method, pieces, eof), h11_oracle.oracle(method, pieces, eof)
    if ours != expected:
        raise AssertionError(f"reader disagrees with h11: {ours!r} != {expected!r}")


TARGETS: dict[str, Callable[[bytes], None]] = {
    "sse": sse_differential,
    "streams": streams,
    "envelope": envelope,
    "hmac": hmac_header,
    "webhook": webhook_header,
    "retry_after": retry_after,
    "bundle": bundle,
    "http_response": http_response,
}
