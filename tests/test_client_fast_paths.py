"""Shortcuts on the per-request path give exactly what the plain library calls give."""

from __future__ import annotations

import json
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from muxi_proto.config import ServerConfig
from muxi_proto.errors import ResponseDecodeError
from muxi_proto.http import Request
from muxi_proto.requests import RequestBuilder, new_uuid4
from muxi_proto.responses import parse_json
from muxi_transports._h11_exchange import host_header, wire_headers


def test_new_uuid4_is_a_version_4_uuid_in_the_standard_form() -> None:
    seen = set()
    for _ in range(2000):
        text = new_uuid4()
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
        assert str(parsed) == text
        seen.add(text)
    assert len(seen) == 2000
    # every variant digit occurs (the bits are random, not fixed)
    assert {text[19] for text in seen} == set("89ab")


def test_the_request_builder_uses_it_by_default() -> None:
    builder = RequestBuilder(ServerConfig(url="http://h", key_id="k", secret_key="s"))
    assert uuid.UUID(builder.new_id()).version == 4


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=12,
)


def _reference(body: bytes) -> object:
    try:
        return ("ok", json.loads(body))
    except (ValueError, RecursionError):
        return ("error", None)


def _ours(body: bytes) -> object:
    try:
        return ("ok", parse_json(body))
    except ResponseDecodeError:
        return ("error", None)


@given(JSON_VALUES, st.sampled_from(["utf-8", "utf-16", "utf-16-le", "utf-32", "utf-8-sig"]))
def test_parse_json_agrees_with_json_loads_in_every_encoding(value: object, encoding: str) -> None:
    body = json.dumps(value, ensure_ascii=False).encode(encoding, "surrogatepass")
    assert _ours(body) == _reference(body)


@given(st.binary(max_size=40))
def test_parse_json_agrees_with_json_loads_on_any_bytes(body: bytes) -> None:
    assert _ours(body) == _reference(body)
    assert _ours(b"{" + body) == _reference(b"{" + body)


@pytest.mark.parametrize(
    ("url", "host"),
    [("http://h/x", "h"), ("http://h:80/", "h"), ("https://h:443/", "h"), ("https://h:8443/", "h:8443"),
     ("http://[::1]:9/", "[::1]:9"), ("http://[::1]/", "[::1]")],
)
def test_host_header_with_and_without_a_known_origin(url: str, host: str) -> None:
    request = Request("GET", url)
    assert host_header(request) == host_header(request, request.origin) == host
    assert wire_headers(request) == wire_headers(request, request.origin)
