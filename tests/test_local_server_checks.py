"""The local server's own HMAC and bundle checks, against the servers' rules and against the client.

They are written separately from the client's signer and bundle reader (``muxi_proto.auth``,
``muxi_proto.bundle``) so a client bug is refused instead of mirrored. Here: the rules' worked
examples and failure reasons, then differential properties -- what the client produces must pass,
and on arbitrary input the two implementations must agree (each is the other's oracle).
"""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from muxi_proto.auth import sign_request, verify_request
from muxi_proto.bundle import pack_directory, read_bundle
from muxi_proto.errors import AuthenticationError, BundleError
from muxi_testing.bundle_check import BundleRefused, check_bundle
from muxi_testing.hmac_check import HMACRefused, check_authorization

KEY, SECRET, TS = "MUXI_0123456789abcdef", "sk_test_secret", 1700000000


# --- HMAC -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "signature"), [
    ("GET", "Q7h/6/+TDi9KWre6Peoc2zkdh8qSiRGDTNB2+obpUUQ="),  # docs/protocol.md §2, worked example
    ("POST", "WEwIso1GQyQ7RgZAksPfySYigIkpjn9UbrYKD3KnJZI="),
])
def test_the_worked_example_is_accepted(method: str, signature: str) -> None:
    header = f"MUXI-HMAC key={KEY}, timestamp={TS}, signature={signature}"
    check_authorization(header, method, "/rpc/formations?x=1", key_id=KEY, secret=SECRET, now=TS)


@pytest.mark.parametrize(("header", "reason"), [
    (None, "Missing authorization header"),
    ("", "Missing authorization header"),
    ("Bearer x", "Invalid authorization header format"),
    (f"MUXI-HMAC key={KEY},timestamp={TS}, signature=x", "Invalid authorization header format"),
    (f"MUXI-HMAC key={KEY}, timestamp=soon, signature=x", "Invalid authorization header format"),
    (f"MUXI-HMAC key={KEY}, key={KEY}, signature=x", "Invalid authorization header format"),
    (f"MUXI-HMAC key=MUXI_other, timestamp={TS}, signature=x", "Invalid key"),
    (f"MUXI-HMAC key={KEY}, timestamp={TS - 301}, signature=x", "Request expired (timestamp too old or in future)"),
    (f"MUXI-HMAC key={KEY}, timestamp={TS}, signature=wrong", "Invalid signature"),
])
def test_each_refusal_has_the_servers_reason(header: str | None, reason: str) -> None:
    with pytest.raises(HMACRefused) as info:
        check_authorization(header, "GET", "/rpc/formations", key_id=KEY, secret=SECRET, now=TS)
    assert info.value.reason == reason


_TOKENS = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=24)


@settings(max_examples=200)
@given(method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "get"]), path=st.from_regex(r"/rpc/[a-z/]{0,20}",
       fullmatch=True), secret=_TOKENS, skew=st.integers(-400, 400))
def test_what_the_client_signs_the_server_accepts(method: str, path: str, secret: str, skew: int) -> None:
    header = sign_request(method, path, key_id=KEY, secret_key=secret, timestamp=TS)
    if abs(skew) <= 300:
        check_authorization(header, method, path, key_id=KEY, secret=secret, now=TS + skew)
    else:
        with pytest.raises(HMACRefused, match="expired"):
            check_authorization(header, method, path, key_id=KEY, secret=secret, now=TS + skew)


def _headers() -> st.SearchStrategy[str]:
    good = sign_request("GET", "/rpc/formations", key_id=KEY, secret_key=SECRET, timestamp=TS)
    mutated = st.builds(lambda i, c: good[:i] + c + good[i + 1:], st.integers(0, len(good) - 1),
                        st.sampled_from([",", " ", "=", "x", ""]))
    pieces = st.lists(st.sampled_from(["MUXI-HMAC ", "key=", KEY, ", ", "timestamp=", str(TS), "signature=",
                                       good.rsplit("=", 1)[0][-44:], "=", "x"]), max_size=10).map("".join)
    return st.one_of(st.just(good), mutated, pieces, st.text(max_size=40))


@settings(max_examples=400)
@given(header=_headers())
def test_the_server_check_and_the_client_verifier_agree(header: str) -> None:
    def ours() -> str:
        try:
            check_authorization(header, "GET", "/rpc/formations", key_id=KEY, secret=SECRET, now=TS)
        except HMACRefused as exc:
            return exc.reason
        return "ok"

    def clients() -> str:
        try:
            verify_request(header, "GET", "/rpc/formations", key_id=KEY, secret_key=SECRET, now=TS)
        except AuthenticationError as exc:
            return exc.message
        return "ok"

    assert ours() == clients()


# --- bundles --------------------------------------------------------------------------------------


def _tar(entries: list[tuple[str, bytes | None, bytes]]) -> bytes:
    """(name, data or None for a directory, type) -> tar.gz bytes."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, kind in entries:
            info = tarfile.TarInfo(name)
            info.type = kind
            if kind == tarfile.SYMTYPE:
                info.linkname = "elsewhere"
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return gzip.compress(raw.getvalue(), mtime=0)


CONFIG = b'id: shop\nversion: "1.2.0"\n'
FILE, DIR, LINK = tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE


def test_a_packed_directory_is_accepted_and_read(tmp_path: Path) -> None:
    (tmp_path / "agents").mkdir()
    (tmp_path / "formation.afs").write_text('schema: "1.0.0"\nid: shop\nversion: "1.2.0"  # released\n')
    (tmp_path / "agents" / "a.afs").write_text("id: a\n")
    checked = check_bundle(pack_directory(tmp_path, "shop"))
    assert (checked.top, checked.formation_id, checked.version) == ("shop", "shop", "1.2.0")
    assert set(checked.files) == {"formation.afs", "agents/a.afs"}


@pytest.mark.parametrize(("entries", "missing_config", "words"), [
    ([("a/formation.afs", CONFIG, FILE), ("b/x.md", b"x", FILE)], False, "exactly one top-level folder"),
    ([("formation.afs", CONFIG, FILE)], False, "outside the formation folder"),
    ([("a/formation.afs", CONFIG, FILE), ("a/link", None, LINK)], False, "unsupported entry type"),
    ([("/a/formation.afs", CONFIG, FILE)], False, "named top-level folder"),
    ([("./formation.afs", CONFIG, FILE)], False, "named top-level folder"),
    ([("a/../formation.afs", CONFIG, FILE)], False, "unsafe path"),
    ([("a/agents/x.afs", b"id: x\n", FILE)], True, "no formation.afs"),
])
def test_the_servers_refusals(entries: list[tuple[str, bytes | None, bytes]], missing_config: bool, words: str
                              ) -> None:
    with pytest.raises(BundleRefused) as info:
        check_bundle(_tar(entries))
    assert words in info.value.message and info.value.missing_config is missing_config


@pytest.mark.parametrize("data", [b"", b"not gzip at all", gzip.compress(b"not a tar archive" * 40)])
def test_what_is_not_a_tar_gz_is_refused(data: bytes) -> None:
    with pytest.raises(BundleRefused):
        check_bundle(data)


_NAMES = st.sampled_from(["shop/formation.afs", "shop/formation.yaml", "shop/agents/a.afs", "shop/agents/",
                          "other/x.md", "formation.afs", "shop/../x", "/shop/formation.afs", "./shop/x.md"])


@settings(max_examples=200, deadline=None)
@given(entries=st.lists(st.tuples(_NAMES, st.sampled_from([FILE, DIR, LINK])), min_size=1, max_size=5,
                        unique_by=lambda e: e[0]))
def test_the_server_check_and_the_client_reader_agree_on_what_deploys(entries: list[tuple[str, bytes]]) -> None:
    built = _tar([(name, None if kind == DIR else CONFIG, kind) for name, kind in entries])
    try:
        read_bundle(built)
        client_ok = True
    except BundleError:
        client_ok = False
    try:
        check_bundle(built)
        server_ok = True
    except BundleRefused:
        server_ok = False
    assert server_ok == client_ok, entries
