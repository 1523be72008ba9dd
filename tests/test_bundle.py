"""Deployment bundles: packing, the top-level version scanner, hostile bundles, load_bundle."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import stat
import sys
import tarfile
import tempfile
import tracemalloc
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from muxi_proto.bundle import (
    DEFAULT_FORMATION_VERSION,
    BundleInfo,
    PreparedBundle,
    formation_version,
    is_excluded,
    load_bundle,
    pack_directory,
    read_bundle,
    top_level_value,
)
from muxi_proto.errors import BundleError, ConfigurationError, MuxiError

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "formation"
FID = "demo-formation"
FORMATION = 'schema: "1.0.0"\nid: {id}\nversion: {version}\ndescription: test formation\n'


def write(path: Path, text: str | bytes = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def formation_dir(root: Path, *, fid: str = FID, version: str = '"1.0.0"') -> Path:
    write(root / "formation.afs", FORMATION.format(id=fid, version=version))
    write(root / "agents" / "assistant.afs", "schema: \"1.0.0\"\nid: assistant\n")
    return root


def members(data: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return tar.getmembers()


def names(data: bytes) -> list[str]:
    return [m.name for m in members(data)]


def tar_bytes(entries: list[tuple[str, str, bytes | str]], *, fmt: int = tarfile.PAX_FORMAT) -> bytes:
    """An uncompressed tar: (name, kind, payload) with kind file/dir/symlink/hardlink/chr/blk/fifo."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for name, kind, payload in entries:
            info = tarfile.TarInfo(name)
            data = payload.encode() if isinstance(payload, str) else payload
            if kind == "file":
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
                continue
            info.type = {
                "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE,
                "chr": tarfile.CHRTYPE, "blk": tarfile.BLKTYPE, "fifo": tarfile.FIFOTYPE,
            }[kind]
            if kind in ("symlink", "hardlink"):
                info.linkname = data.decode()
            tar.addfile(info)
    return buf.getvalue()


def gz(raw: bytes) -> bytes:
    return gzip.compress(raw, mtime=0)


def bundle(entries: list[tuple[str, str, bytes | str]], **kw: int) -> bytes:
    return gz(tar_bytes(entries, **kw))


def ok_entries(top: str = FID, version: str = '"1.0.0"') -> list[tuple[str, str, bytes | str]]:
    return [
        (top, "dir", b""),
        (f"{top}/formation.afs", "file", FORMATION.format(id=top, version=version)),
        (f"{top}/agents", "dir", b""),
        (f"{top}/agents/a.afs", "file", "id: a\n"),
    ]


def rejects(data: bytes, fragment: str, **kw: int) -> BundleError:
    with pytest.raises(BundleError) as info:
        read_bundle(data, **kw)
    assert fragment in str(info.value), str(info.value)
    return info.value


# --- Packing ------------------------------------------------------------------------------------


def test_pack_layout_and_exclusions_at_any_depth(tmp_path: Path) -> None:
    root = formation_dir(tmp_path / "src")
    write(root / "secrets.enc", b"\x00enc")  # kept: the runtime needs the encrypted secrets
    write(root / "sops" / "deploy.md", "steps")
    write(root / "run.sh", "#!/bin/sh\n").chmod(0o755)
    write(root / "empty" / ".keep", "")
    excluded = [
        ".git/config", ".muxi/state.json", "secrets", ".env", ".env.local", ".envrc",
        "node_modules/pkg/index.js", "__pycache__/m.cpython-311.pyc", "tool.pyc",
        "agents/.git", "agents/__pycache__/a.pyc", "sops/node_modules/x", "sops/.env.production",
        "deep/er/secrets/api.txt", "deep/er/.muxi/x", "deep/er/helper.pyc",
    ]
    for rel in excluded:
        write(root / rel, "SECRET=1")
    data = pack_directory(root, FID)

    assert names(data) == [
        FID,
        f"{FID}/agents",
        f"{FID}/agents/assistant.afs",
        f"{FID}/deep",
        f"{FID}/deep/er",
        f"{FID}/empty",
        f"{FID}/empty/.keep",
        f"{FID}/formation.afs",
        f"{FID}/run.sh",
        f"{FID}/secrets.enc",
        f"{FID}/sops",
        f"{FID}/sops/deploy.md",
    ]
    for m in members(data):
        assert m.isdir() or m.isreg()
        assert (m.uid, m.gid, m.uname, m.gname, m.mtime) == (0, 0, "", "", 0)
        expected_mode = 0o755 if m.isdir() or m.name.endswith("run.sh") else 0o644
        assert m.mode == expected_mode, m.name
    info = read_bundle(data)
    assert info.top_level == FID and info.formation_file == "formation.afs"
    assert not any("SECRET" in n or n.startswith("./") for n in info.files)


def test_pack_raw_tar_has_no_dot_entry_and_dirs_end_with_slash(tmp_path: Path) -> None:
    raw = gzip.decompress(pack_directory(formation_dir(tmp_path), FID))
    first_name = raw[:100].rstrip(b"\0")
    assert first_name == FID.encode() + b"/"
    assert b"./" not in [raw[i : i + 2] for i in range(0, len(raw), 512)]


@pytest.mark.parametrize(
    ("name", "excluded"),
    [(".git", True), (".env", True), (".env.local", True), (".envrc", True), ("x.pyc", True),
     ("secrets", True), ("node_modules", True), ("__pycache__", True), (".muxi", True),
     ("secrets.enc", False), ("env", False), ("my.env", False), ("x.py", False), ("SECRETS", False),
     (".gitignore", False), ("x.pyc.txt", False)],
)
def test_is_excluded(name: str, excluded: bool) -> None:
    assert is_excluded(name) is excluded


def test_pack_is_deterministic(tmp_path: Path) -> None:
    root = formation_dir(tmp_path / "a")
    first = pack_directory(root, FID)
    assert pack_directory(root, FID) == first
    # Times, ownership-free permissions and the path of the directory do not matter...
    os.utime(root / "formation.afs", (1, 1))
    (root / "agents" / "assistant.afs").chmod(0o600)
    copy = formation_dir(tmp_path / "b")
    assert pack_directory(root, FID) == first
    assert pack_directory(copy, FID) == first
    # ... content, names and the executable bit do.
    write(root / "agents" / "assistant.afs", "schema: \"1.0.0\"\nid: assistant2\n")
    assert pack_directory(root, FID) != first
    (copy / "agents" / "assistant.afs").chmod(0o755)
    assert pack_directory(copy, FID) != first
    # gzip header: no timestamp, no file name.
    assert first[4:8] == b"\0\0\0\0"
    assert first[3] & 0x08 == 0


def test_pack_uses_formation_id_as_top_level(tmp_path: Path) -> None:
    data = pack_directory(formation_dir(tmp_path, fid="other-one"), "other-one")
    assert {n.split("/")[0] for n in names(data)} == {"other-one"}


@pytest.mark.parametrize("filename", ["formation.afs", "formation.yaml", "formation.yml"])
def test_pack_accepts_each_formation_file_name(tmp_path: Path, filename: str) -> None:
    write(tmp_path / filename, FORMATION.format(id=FID, version="2.0.0"))
    info = read_bundle(pack_directory(tmp_path, FID))
    assert (info.formation_file, info.version) == (filename, "2.0.0")


def test_afs_wins_over_yaml(tmp_path: Path) -> None:
    write(tmp_path / "formation.yaml", FORMATION.format(id=FID, version="1.0.0"))
    write(tmp_path / "formation.afs", FORMATION.format(id=FID, version="3.0.0"))
    info = read_bundle(pack_directory(tmp_path, FID))
    assert (info.formation_file, info.version) == ("formation.afs", "3.0.0")


def test_pack_rejects_missing_formation_file(tmp_path: Path) -> None:
    write(tmp_path / "agents" / "formation.afs", "id: nested\n")  # only the top level counts
    with pytest.raises(BundleError) as info:
        pack_directory(tmp_path, FID)
    assert info.value.code == "MISSING_FORMATION_FILE"
    assert "formation.afs" in str(info.value)


def test_pack_rejects_non_directory(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="not a directory"):
        pack_directory(tmp_path / "missing", FID)
    with pytest.raises(BundleError, match="not a directory"):
        pack_directory(write(tmp_path / "file.txt"), FID)


def test_pack_rejects_invalid_formation_id(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        pack_directory(formation_dir(tmp_path), "Bad_ID")
    with pytest.raises(ConfigurationError):
        pack_directory(formation_dir(tmp_path), "admin")


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
@pytest.mark.parametrize("target", ["inside", "outside"])
def test_pack_refuses_symlinks(tmp_path: Path, target: str) -> None:
    root = formation_dir(tmp_path / "src")
    outside = write(tmp_path / "private.txt", "do not ship")
    link_to = outside if target == "outside" else root / "agents" / "assistant.afs"
    (root / "agents" / "link.afs").symlink_to(link_to)
    with pytest.raises(BundleError) as info:
        pack_directory(root, FID)
    assert info.value.code == "UNSAFE_PATH"
    assert "agents/link.afs" in str(info.value) and "symbolic link" in str(info.value)
    assert "private" not in str(info.value)  # the target is never read or shown


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_pack_skips_excluded_symlinks_and_refuses_linked_formation_file(tmp_path: Path) -> None:
    root = formation_dir(tmp_path / "src")
    (root / "node_modules").symlink_to(tmp_path)  # excluded by name: never looked at
    assert FID + "/node_modules" not in names(pack_directory(root, FID))
    other = formation_dir(tmp_path / "other")
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "formation.afs").symlink_to(other / "formation.afs")
    with pytest.raises(BundleError, match="not a regular file"):
        pack_directory(linked, FID)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_pack_refuses_fifo(tmp_path: Path) -> None:
    root = formation_dir(tmp_path)
    os.mkfifo(root / "pipe")
    with pytest.raises(BundleError, match="'pipe' is not a regular file or directory"):
        pack_directory(root, FID)


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="needs POSIX permissions")
def test_pack_reports_unreadable_file(tmp_path: Path) -> None:
    root = formation_dir(tmp_path)
    write(root / "locked.txt").chmod(0)
    with pytest.raises(BundleError, match=r"cannot read 'locked\.txt'"):
        pack_directory(root, FID)


def test_pack_maps_os_errors_to_bundle_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import muxi_proto.bundle.packer as bundle_module

    root = formation_dir(tmp_path)
    write(root / "locked.txt")
    real_open, real_fstat = os.open, os.fstat

    def deny(path: str, flags: int, *args: int) -> int:
        if str(path).endswith("locked.txt"):
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *args)

    monkeypatch.setattr(bundle_module.os, "open", deny)
    with pytest.raises(BundleError, match=r"cannot read 'locked\.txt': Permission denied"):
        pack_directory(root, FID)
    monkeypatch.setattr(bundle_module.os, "open", real_open)

    def grown(fd: int) -> os.stat_result:  # the file shrinks between fstat and read
        st = real_fstat(fd)
        fields = list(st)
        fields[stat.ST_SIZE] = st.st_size + 10
        return os.stat_result(fields)

    monkeypatch.setattr(bundle_module.os, "fstat", grown)
    with pytest.raises(BundleError, match="cannot read"):
        pack_directory(root, FID)


@pytest.mark.skipif(sys.platform != "linux", reason="needs byte file names")
def test_pack_refuses_non_utf8_names(tmp_path: Path) -> None:
    root = formation_dir(tmp_path)
    with open(os.path.join(os.fsencode(root), b"bad\xff.txt"), "wb") as fh:
        fh.write(b"x")
    with pytest.raises(BundleError, match="not valid UTF-8"):
        pack_directory(root, FID)


def test_pack_fails_early_when_too_large(tmp_path: Path) -> None:
    root = formation_dir(tmp_path)
    write(root / "noise.bin", os.urandom(8 * 1024 * 1024))  # incompressible
    tracemalloc.start()
    try:
        with pytest.raises(BundleError) as info:
            pack_directory(root, FID, max_size=256 * 1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.code == "BUNDLE_TOO_LARGE"
    assert "15 s" in str(info.value)
    assert peak < 3 * 1024 * 1024  # the 8 MiB file was never held, nor its compressed form


def test_pack_within_limit_is_a_valid_bundle(tmp_path: Path) -> None:
    root = formation_dir(tmp_path)
    write(root / "data" / "big.txt", "line\n" * 100_000)
    data = pack_directory(root, FID, max_size=64 * 1024)
    assert len(data) <= 64 * 1024
    assert f"{FID}/data/big.txt" in read_bundle(data).files


def test_pack_rejects_bad_limit(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        pack_directory(formation_dir(tmp_path), FID, max_size=0)


def test_example_formation_packs_and_loads() -> None:
    prepared = load_bundle(EXAMPLE, FID)
    assert prepared.version == "1.0.0"
    assert f"{FID}/agents/assistant.afs" in prepared.info.files
    assert prepared.data == pack_directory(EXAMPLE, FID)


_SAFE_NAME = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,10}", fullmatch=True).filter(
    lambda n: not is_excluded(n) and n not in ("formation.afs", "formation.yaml", "formation.yml")
)
_TREE = st.dictionaries(
    st.lists(_SAFE_NAME, min_size=1, max_size=3).map(tuple), st.binary(max_size=300), max_size=12
)


@settings(max_examples=40, deadline=None)
@given(tree=_TREE, junk=st.lists(st.sampled_from([".git", ".env.x", "a.pyc", "secrets", "__pycache__"]),
                                 max_size=3))
def test_pack_read_roundtrip(tree: dict[tuple[str, ...], bytes], junk: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write(root / "formation.afs", FORMATION.format(id=FID, version="1.2.3"))
        expected = {f"{FID}/", f"{FID}/formation.afs"}
        for parts, content in tree.items():
            path = root.joinpath(*parts)
            if any(p.is_file() for p in [root.joinpath(*parts[:i]) for i in range(1, len(parts))]):
                continue
            if path.is_dir():
                continue
            write(path, content)
            for i in range(1, len(parts)):
                expected.add(f"{FID}/{'/'.join(parts[:i])}/")
            expected.add(f"{FID}/{'/'.join(parts)}")
        for name in junk:
            write(root / "agents" / name / "x", "hidden")
            expected.add(f"{FID}/agents/")
        data = pack_directory(root, FID)
        info = read_bundle(data)
        assert set(info.files) == expected
        assert info.version == "1.2.3"
        assert data == pack_directory(root, FID)
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for parts, content in tree.items():
                name = f"{FID}/{'/'.join(parts)}"
                if name in expected:
                    extracted = tar.extractfile(name)
                    assert extracted is not None and extracted.read() == content


# --- Top-level version scanner ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("version: 1.2.3\n", "1.2.3"),
        ('version: "1.2.3"\n', "1.2.3"),
        ("version: '1.2.3'\n", "1.2.3"),
        ("version:   1.2.3   # released\n", "1.2.3"),
        ('version: "1.2.3"  # quoted\n', "1.2.3"),
        ("version : 1.2.3\n", "1.2.3"),
        ('"version": 1.2.3\n', "1.2.3"),
        ("'version': '1.2.3'\n", "1.2.3"),
        ("version:\t2.0\n", "2.0"),
        ("version: 1.10\n", "1.10"),  # the server reads the text, not a float
        ("version: 1.0#x\n", "1.0#x"),  # '#' starts a comment only after a blank
        ("id: a\r\nversion: 3.0.0\r\n", "3.0.0"),
        ("id: a\rversion: 3.0.0\r", "3.0.0"),
        ("\ufeffversion: 4.0.0\n", "4.0.0"),
        ("description: x\u2028version: 4.1.0\x85id: y\u2029", "4.1.0"),  # libyaml's other breaks
        ("%YAML 1.2\n---\nversion: 5.0.0\n...\n", "5.0.0"),
        ("--- # doc\nversion: 5.1.0\n", "5.1.0"),
        ("version: 1.0.0\n---\nversion: 9.9.9\n", "1.0.0"),
        ("id: x\n---\nversion: 9.9.9\n", None),  # only the first document counts
        ("id: x\n...\nversion: 9.9.9\n", None),
        ("# c\n...\nversion: 9.9.8\n", "9.9.8"),  # a leading "..." closes nothing
        ("---\n...\nversion: 9.9.7\n", None),  # an empty first document
        ('version: "a\\"b\\\\c\\x41\\u00e9"\n', 'a"b\\cAé'),
        ("version: 'it''s'\n", "it's"),
        ("version:\nid: x\n", None),
        ("version: ~\n", None),
        ("version: null\n", None),
        ('version: ""\n', None),
        ("version: # none\nid: x\n", None),
        ("id: x\n", None),
        ("", None),
        ("# version: 1.0\n", None),
        ("meta:\n  version: 9.9.9\n", None),
        ("meta:\n    version: 9.9.9\nversion: 1.0.0\n", "1.0.0"),
        ("agents:\n- version: 9\n- id: a\nversion: 2\n", "2"),
        ("agents:\n  - id: a\n    version: 9\n", None),
        ("description: |\n  version: 9.9.9\n\n  more\nversion: 1.1.1\n", "1.1.1"),
        ("description: >-\n   version: 9.9.9\n", None),
        ('description: |\n  "an unbalanced quote\n  [and bracket\nversion: 1.1.2\n', "1.1.2"),
        ("agents:\n  - |\n    it's {open\nversion: 1.1.3\n", "1.1.3"),
        ('name: plain start\n  "quoted continuation\nversion: 1.1.4\n', "1.1.4"),
        ('description: "multi\nversion: 9.9.9\n  line"\nversion: 1.2.0\n', "1.2.0"),
        ("description: 'it''s\nversion: 9.9.9'\n", None),
        ("tags: [a,\nversion: 9.9.9, 'x]'\n ]\nversion: 1.3.0\n", "1.3.0"),
        ("tags: {a: \"}\",\nversion: 9}\n", None),
        ("name: plain text\n  version: 9 continues\nversion: 1.4.0\n", "1.4.0"),
        ("- version: 9\n", None),  # a sequence root
        ("just text\n", None),
        ("  id: x\n  version: 6.0.0\n  meta:\n    version: 9\n", "6.0.0"),  # an indented root
        ('{"id": "x", "version": "7.0.0"}\n', "7.0.0"),  # JSON is YAML
        ('{"id": "x", "version": 7.10}\n', "7.10"),
        ('{"id": "x"}\n', None),
        ("--- |\n  version: 1\n", None),  # a block scalar root
        # Found by the PyYAML oracle (tests/test_formation_file_oracle.py); the scanner once said None:
        ("&a id: x\nversion: 1.0\n", "1.0"),  # an anchor on another key
        ("&r\nversion: 6\n", "6"),  # the root's properties on a line of their own
        ("!!map\nversion: 7\n", "7"),
        ('{"id": "\x85", "version": "1.0"}', "1.0"),  # a NEL in a JSON string is no line break there
        # ... and once refused: the dedent ends the first document, all the server reads.
        (" id:\n  - x\n!\n version:\n  - 1\n", None),
    ],
)
def test_formation_version_examples(text: str, expected: str | None) -> None:
    assert formation_version(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("version: 1.0\nversion: 2.0\n", "duplicate"),
        ("version: |\n  1.0\n", "block scalar"),
        ("version: [1, 0]\n", "not a collection"),
        ("version: {major: 1}\n", "not a collection"),
        ("version:\n  major: 1\n", "same line"),
        ("version:\n- 1\n", "same line"),
        ("version: 1.0\n  .1\n", "continues"),
        ('version: "1.0\n  .1"\n', "does not close"),
        ('version: "1.0" junk\n', "after its closing quote"),
        ("version: &v 1.0\n", "anchor"),
        ("version: !!str 1.0\n", "anchor, tag"),
        ("version: *v\n", "alias"),
        ("version: a: b\n", "not a valid plain scalar"),
        ("version: @1\n", "not a valid plain scalar"),
        ('version: "\\q"\n', "invalid escape"),
        ('version: "\\ud800"\n', "invalid escape"),
        ('{"version": [1]}\n', "must be a scalar"),
        ('{"version": "1", "version": "2"}\n', "duplicate"),
        ("{version: 1.0}\n", "only understood as JSON"),
        # Found by the PyYAML oracle; the scanner once answered None (or "1.0" for the tab):
        ("? version\n: 1.0\n", "explicit key"),
        ("? |-\n  version\n: 1.0\n", "explicit key"),
        ("&a version: 1.0\n", "anchor or tag on its key"),
        ("!!str version: 1.0\n", "anchor or tag on its key"),
        ("version:\n|\n 1.0\n", "same line"),  # the block scalar at column 0 is the value
        ("\tversion: 1.0\n", "indented with a tab"),
        ("id: x\n\tversion: 1.0\n", "indented with a tab"),
        ("version:1.0\nid: x\n", "blank after its colon"),
        ('{"version": "1.0\x85"}', "line separator"),  # YAML folds the raw NEL, JSON keeps it
    ],
)
def test_formation_version_refuses_what_it_cannot_read_exactly(text: str, fragment: str) -> None:
    with pytest.raises(BundleError) as info:
        formation_version(text)
    assert fragment in str(info.value)


def test_top_level_value_reads_other_keys() -> None:
    text = "id: my-bot\nmeta:\n  id: nested\nversion: 1.0.0\n"
    assert top_level_value(text, "id") == "my-bot"
    assert top_level_value(text, "version") == "1.0.0"
    with pytest.raises(BundleError, match="'meta' must be a scalar"):
        top_level_value(text, "meta")  # a mapping: only a requested key's shape is checked


_VERSION = st.from_regex(r"[0-9]{1,3}(\.[0-9]{1,3}){0,2}(-[a-z0-9]{1,4})?", fullmatch=True)
_KEY = st.sampled_from(["id", "name", "schema", "description", "llm", "agents", "meta", "Version"])
_WORD = st.from_regex(r"[a-z][a-z0-9._-]{0,8}( [a-z0-9._-]{1,8})?", fullmatch=True)


@st.composite
def _decoy(draw: st.DrawFn) -> list[str]:
    """Lines that mention version but never as a root key."""
    key, word, v = draw(_KEY), draw(_WORD), draw(_VERSION)
    return draw(st.sampled_from([
        [f"{key}: {word}"],
        [f"{key}:", f"  version: {v}", f"  other: {word}"],
        [f"{key}:", f"  - version: {v}", f"  - {word}"],
        [f"{key}:", f"- {word}", f"- version: {v}"],
        [f"{key}: |", f"  version: {v}", "", f"  {word}"],
        [f"{key}: >-", f"    version: {v}"],
        [f"{key}: |", '  "unbalanced', f"  [version: {v}"],
        [f"{key}:", "  - >", "    it's {open"],
        [f"{key}: {word}", f"  'continued {v}"],
        [f'{key}: "first', f"version: {v}", f'  {word}"'],
        [f"{key}: 'it''s", f"version: {v}'"],
        [f"{key}: [a,", f"version: {v}, b]"],
        [f"{key}: {{x: '}}',", f"version: {v}}}"],
        [f"# version: {v}"],
        [f"{key}: {word} # version: {v}"],
        [f"{key}: {word}", f"  version: {v} more words"],
        [f"  # version: {v}"],
        [""],
    ]))


@st.composite
def _target(draw: st.DrawFn) -> tuple[list[str], str]:
    v = draw(_VERSION)
    line = draw(st.sampled_from([
        f"version: {v}", f"version:   {v}   # comment", f'version: "{v}"', f"version: '{v}'",
        f"version : {v}", f'"version": {v}', f"'version': \"{v}\"", f"version: {v} #",
    ]))
    return [line], v


@settings(max_examples=300)
@given(
    decoys=st.lists(_decoy(), max_size=8),
    target=st.none() | _target(),
    position=st.integers(min_value=0),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    prefix=st.sampled_from(["", "---\n", "%YAML 1.2\n---\n", "\ufeff", "# head\n\n"]),
    suffix=st.sampled_from(["", "\n", "...\nversion: 0.0.1\n", "---\nversion: 0.0.2\n"]),
)
def test_formation_version_property(
    decoys: list[list[str]], target: tuple[list[str], str] | None, position: int, newline: str,
    prefix: str, suffix: str,
) -> None:
    blocks = list(decoys)
    if target is not None:
        blocks.insert(position % (len(blocks) + 1), target[0])
    body = newline.join(line for block in blocks for line in block)
    text = prefix + body + ("\n" if body and suffix else "") + suffix
    expected = target[1] if target else None
    content = any(not line.strip(" ").startswith("#") and line.strip(" ") for block in blocks for line in block)
    if not content and "---" not in prefix and "version" in suffix:
        expected = suffix.rsplit(" ", 1)[1].strip()  # nothing before it: the suffix is the first document
    assert formation_version(text) == expected


_QUOTABLE = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x85\u2028\u2029"), max_size=30
)


@given(value=_QUOTABLE)
def test_double_quoted_values_decode_like_json(value: str) -> None:
    text = f"id: x\nversion: {json.dumps(value, ensure_ascii=False)}\n"
    assert formation_version(text) == (value or None)


@given(value=_QUOTABLE.filter(lambda v: "\t" not in v))
def test_single_quoted_values_round_trip(value: str) -> None:
    text = "version: '" + value.replace("'", "''") + "' # c\n"
    assert formation_version(text) == (value or None)


@given(text=st.text(max_size=400))
def test_formation_version_on_any_text_returns_or_raises_bundle_error(text: str) -> None:
    try:
        result = formation_version(text)
    except BundleError:
        return
    assert result is None or isinstance(result, str)


@given(lines=st.lists(st.sampled_from([
    "version: 1", "  version: 2", "- version: 3", 'a: "x', "b: 'y", "c: [", "d: {", "]", "}", '"', "'",
    "e: |", "  text", "---", "...", "# c", "", "f: g", "  - h", "version:", "\tversion: 4",
]), max_size=12))
def test_formation_version_on_yaml_soup_returns_or_raises_bundle_error(lines: list[str]) -> None:
    try:
        result = formation_version("\n".join(lines))
    except BundleError:
        return
    assert result is None or isinstance(result, str)


# --- read_bundle: valid inputs ------------------------------------------------------------------------


def test_read_bundle_describes_a_bundle() -> None:
    raw = tar_bytes(ok_entries(version="2.1.0"))
    info = read_bundle(gz(raw))
    assert info == BundleInfo(
        top_level=FID,
        formation_file="formation.afs",
        version="2.1.0",
        formation_id=FID,
        files=(f"{FID}/", f"{FID}/formation.afs", f"{FID}/agents/", f"{FID}/agents/a.afs"),
        size=len(raw),
    )


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT])
def test_read_bundle_reads_long_and_unicode_names_in_every_format(fmt: int) -> None:
    long_dir = "/".join(["d" * 60] * 2)  # > 100 bytes: PAX record, GNU long name or ustar prefix
    entries = [*ok_entries(), (f"{FID}/{long_dir}/file.txt", "file", "x")]
    if fmt != tarfile.USTAR_FORMAT:
        entries.append((f"{FID}/agents/café-😀.afs", "file", "y"))
    info = read_bundle(bundle(entries, fmt=fmt))
    assert f"{FID}/{long_dir}/file.txt" in info.files
    if fmt != tarfile.USTAR_FORMAT:
        assert f"{FID}/agents/café-😀.afs" in info.files


def test_read_bundle_accepts_concatenated_gzip_members() -> None:
    raw = tar_bytes(ok_entries())
    data = gz(raw[:1024]) + gz(raw[1024:])
    assert read_bundle(data).files == read_bundle(gz(raw)).files


def test_read_bundle_accepts_missing_end_of_archive_blocks() -> None:
    raw = tar_bytes(ok_entries()).rstrip(b"\0")
    raw += b"\0" * (-len(raw) % 512)  # back to a block boundary, no zero blocks after it
    assert read_bundle(gz(raw)).formation_id == FID


def test_read_bundle_ignores_harmless_global_pax_header() -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT,
                      pax_headers={"comment": "abc123"}) as tar:  # what `git archive` writes
        for name, _, payload in ok_entries()[1:2]:
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload.encode() if isinstance(payload, str) else payload))
    assert read_bundle(gz(buf.getvalue())).formation_file == "formation.afs"


def test_read_bundle_tolerates_zero_padding_inside_the_tar_stream() -> None:
    raw = tar_bytes(ok_entries()) + bytes(10240)
    assert read_bundle(gz(raw)).size == len(raw)


# --- read_bundle: hostile inputs ----------------------------------------------------------------------


def test_rejects_absolute_path() -> None:
    err = rejects(bundle([*ok_entries(), ("/etc/cron.d/evil", "file", "x")]), "absolute path")
    assert err.code == "UNSAFE_PATH"


@pytest.mark.parametrize("name", [f"{FID}/../../etc/passwd", f"{FID}/agents/../../x", ".."])
def test_rejects_dot_dot(name: str) -> None:
    rejects(bundle([*ok_entries(), (name, "file", "x")]), "'..'")


@pytest.mark.parametrize("name", ["./", "."])
def test_rejects_dot_entry(name: str) -> None:
    rejects(bundle([(name, "dir", b""), *ok_entries()]), "'./' entry")


def test_rejects_dot_and_empty_components() -> None:
    rejects(bundle([*ok_entries(), (f"{FID}/./x", "file", "x")]), "'.' path component")
    rejects(bundle([*ok_entries(), (f"{FID}//x", "file", "x")]), "'.' path component")


@pytest.mark.parametrize(
    ("kind", "label"),
    [("symlink", "a symbolic link"), ("hardlink", "a hard link"), ("chr", "a character device"),
     ("blk", "a block device"), ("fifo", "a FIFO")],
)
def test_rejects_links_and_devices(kind: str, label: str) -> None:
    target = "/etc/passwd" if kind in ("symlink", "hardlink") else b""
    err = rejects(bundle([*ok_entries(), (f"{FID}/agents/x", kind, target)]), label)
    assert err.code == "UNSAFE_PATH"


def test_rejects_two_top_level_folders() -> None:
    rejects(bundle([*ok_entries(), ("other/file.txt", "file", "x")]), "more than one top-level entry")


def test_rejects_top_level_file() -> None:
    rejects(bundle([("formation.afs", "file", "id: x\n")]), "is a file, not a folder")


def test_rejects_missing_formation_file() -> None:
    entries = [(FID, "dir", b""), (f"{FID}/agents/formation.afs", "file", "id: x\n")]
    err = rejects(bundle(entries), "no formation.afs, formation.yaml, formation.yml")
    assert err.code == "MISSING_FORMATION_FILE"


def test_rejects_formation_file_that_is_a_directory() -> None:
    entries = [(FID, "dir", b""), (f"{FID}/formation.afs", "dir", b"")]
    rejects(bundle(entries), "no formation.afs")


def test_rejects_duplicates_and_file_directory_clashes() -> None:
    rejects(bundle([*ok_entries(), (f"{FID}/agents/a.afs", "file", "again")]), "twice")
    rejects(bundle([*ok_entries(), (f"{FID}/agents/a.afs/x", "file", "x")]), "both a file and a folder")
    rejects(bundle([*ok_entries(), (f"{FID}/agents", "file", "x")]), "twice")
    clash_first = [(f"{FID}/x/y", "file", "1"), (f"{FID}/x", "file", "2"), *ok_entries()[1:]]
    rejects(bundle(clash_first), "both a file and a folder")


def test_rejects_empty_archive_and_empty_bytes() -> None:
    rejects(gz(bytes(1024)), "no files")
    rejects(b"", "empty")


def test_rejects_non_utf8_formation_file() -> None:
    entries = [(FID, "dir", b""), (f"{FID}/formation.afs", "file", b"id: \xff\n")]
    rejects(bundle(entries), "not UTF-8")


def test_rejects_oversized_formation_file() -> None:
    entries = [(FID, "dir", b""), (f"{FID}/formation.afs", "file", b"#" * (1024 * 1024 + 1))]
    rejects(bundle(entries), "larger than")


@pytest.mark.parametrize("data", [b"PK\x03\x04 a zip", b"hello world", b"\x1f"])
def test_rejects_non_gzip(data: bytes) -> None:
    rejects(data, "not gzip data")


def test_rejects_gzip_garbage() -> None:
    rejects(b"\x1f\x8b" + os.urandom(200), "not valid gzip data")


def test_rejects_truncated_gzip() -> None:
    data = bundle(ok_entries())
    for cut in (1, 4, 8, 30, len(data) // 2):
        rejects(data[:-cut], "truncated")


def test_rejects_corrupt_crc() -> None:
    data = bytearray(bundle(ok_entries()))
    data[-8] ^= 0xFF  # the CRC32 in the gzip trailer
    rejects(bytes(data), "not valid gzip data")


def test_rejects_trailing_garbage_after_gzip() -> None:
    rejects(bundle(ok_entries()) + b"garbage", "trailing data")
    rejects(bundle(ok_entries()) + b"\0\0\0\0", "trailing data")


def test_rejects_gzip_of_non_tar() -> None:
    rejects(gz(b"not a tar archive" * 100), "invalid tar header")


def test_rejects_bad_tar_checksum() -> None:
    raw = bytearray(tar_bytes(ok_entries()))
    raw[512 * 3 + 10] ^= 0x01  # a name byte of a later header, checksum left as it was
    rejects(gz(bytes(raw)), "bad checksum")


def test_rejects_tar_truncated_mid_member() -> None:
    raw = tar_bytes([*ok_entries(), (f"{FID}/big", "file", "x" * 5000)])
    start = raw.index(b"x" * 100)
    rejects(gz(raw[: start + 1000]), "truncated")
    rejects(gz(raw[: start - 200]), "truncated inside a tar header")


def test_rejects_unsupported_member_types() -> None:
    raw = bytearray(tar_bytes(ok_entries()))
    header = 512 * 3  # the header of agents/a.afs... after formation.afs and its data block
    assert raw[header : header + len(FID)] == FID.encode()
    raw[header + 156] = ord("7")  # contiguous file: not something the server extracts
    checksum = sum(raw[header : header + 148]) + 256 + sum(raw[header + 156 : header + 512])
    raw[header + 148 : header + 156] = b"%06o\0 " % checksum
    rejects(gz(bytes(raw)), "unsupported tar type")


def test_rejects_directory_carrying_data() -> None:
    raw = bytearray(tar_bytes(ok_entries()))
    header = 0  # the top-level directory
    raw[header + 124 : header + 136] = b"%011o\0" % 512
    checksum = sum(raw[header : header + 148]) + 256 + sum(raw[header + 156 : header + 512])
    raw[header + 148 : header + 156] = b"%06o\0 " % checksum
    rejects(gz(bytes(raw)), "carries data")


def _gzip_stream(parts: list[tuple[bytes, int]]) -> bytes:
    """gzip of ``data * repeat`` for each part, built chunk by chunk (never the whole in memory)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    out = [comp.compress(data) for data, repeat in parts for _ in range(repeat)]
    out.append(comp.flush())
    return b"".join(out)


def _header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    return info.tobuf(tarfile.USTAR_FORMAT)


def test_rejects_decompression_bomb_without_inflating_it() -> None:
    formation = FORMATION.format(id="bomb", version="1.0.0").encode()
    big = 256 * 1024 * 1024
    data = _gzip_stream([
        (_header("bomb/formation.afs", len(formation)) + formation.ljust(512, b"\0"), 1),
        (_header("bomb/zeros.bin", big), 1),
        (bytes(1024 * 1024), big // (1024 * 1024)),
        (bytes(1024), 1),
    ])
    assert len(data) < big // 500  # a real bomb: tiny on the wire
    truncated = data[:-64]  # were it all inflated, this would be reported as truncation
    tracemalloc.start()
    try:
        err = rejects(truncated, "unpacks to more than 1048576 bytes", max_size=1024 * 1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert err.code == "BUNDLE_TOO_LARGE"
    assert peak < 8 * 1024 * 1024


def test_rejects_too_many_members_and_stops_reading() -> None:
    entries = [*ok_entries(), *[(f"{FID}/f{i}", "file", "x") for i in range(50)]]
    data = bundle(entries)
    err = rejects(data[: len(data) * 3 // 4], "more than 10 members", max_files=10)
    assert err.code == "TOO_MANY_FILES"
    assert len(read_bundle(data, max_files=54).files) == 54


def test_read_bundle_rejects_bad_arguments() -> None:
    with pytest.raises(ConfigurationError):
        read_bundle(bundle(ok_entries()), max_size=0)
    with pytest.raises(ConfigurationError):
        read_bundle(bundle(ok_entries()), max_files=-1)
    with pytest.raises(BundleError, match="bytes, not str"):
        read_bundle("not bytes")  # type: ignore[arg-type]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=2000) | st.binary(max_size=2000).map(lambda b: b"\x1f\x8b" + b)
       | st.binary(max_size=3000).map(gz))
def test_read_bundle_on_arbitrary_bytes_returns_or_raises_bundle_error(data: bytes) -> None:
    try:
        info = read_bundle(data, max_size=1024 * 1024)
    except BundleError:
        return
    assert isinstance(info, BundleInfo)


_VALID_RAW = tar_bytes(ok_entries())


@settings(max_examples=300)
@given(flips=st.lists(st.tuples(st.integers(0, len(_VALID_RAW) - 1), st.integers(1, 255)), min_size=1,
                      max_size=4), cut=st.integers(0, len(_VALID_RAW)))
def test_read_bundle_on_mutated_tars_returns_or_raises_bundle_error(flips: list[tuple[int, int]],
                                                                    cut: int) -> None:
    raw = bytearray(_VALID_RAW)
    for index, mask in flips:
        raw[index] ^= mask
    try:
        info = read_bundle(gz(bytes(raw[:cut] if cut % 3 == 0 else raw)), max_size=1024 * 1024)
    except BundleError:
        return
    assert all(not n.startswith(("/", "./")) and ".." not in n.split("/") for n in info.files)
    assert {n.split("/")[0] for n in info.files} == {info.top_level}


# --- load_bundle ------------------------------------------------------------------------------------


def test_load_directory(tmp_path: Path) -> None:
    root = formation_dir(tmp_path, version="1.4.0")
    prepared = load_bundle(root, FID)
    assert isinstance(prepared, PreparedBundle)
    assert prepared.data == pack_directory(root, FID)
    assert (prepared.version, prepared.formation_id) == ("1.4.0", FID)
    assert prepared.sha256 == hashlib.sha256(prepared.data).hexdigest()
    assert prepared.size == len(prepared.data)
    assert prepared.content_type == "application/gzip"
    assert load_bundle(str(root), FID).data == prepared.data


@pytest.mark.parametrize("suffix", [".tar.gz", ".tgz"])
def test_load_tar_gz_file(tmp_path: Path, suffix: str) -> None:
    data = bundle(ok_entries(version="'2.0.0'"))
    path = write(tmp_path / f"bundle{suffix}", data)
    prepared = load_bundle(path, FID)
    assert (prepared.data, prepared.version) == (data, "2.0.0")


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview])
def test_load_bytes(wrap: type) -> None:
    data = bundle(ok_entries())
    prepared = load_bundle(wrap(data), FID)
    assert prepared.data == data and isinstance(prepared.data, bytes)


@pytest.mark.parametrize("key", ["path", "bundle_path", "directory", "bundle"])
def test_load_dict_sources(tmp_path: Path, key: str) -> None:
    root = formation_dir(tmp_path / "src", version="1.5.0")
    archive = write(tmp_path / "b.tgz", pack_directory(root, FID))
    value: object = {"directory": root, "path": archive, "bundle_path": str(archive),
                     "bundle": archive.read_bytes()}[key]
    prepared = load_bundle({key: value}, FID)
    assert prepared.version == "1.5.0"
    assert prepared.data == pack_directory(root, FID)
    assert load_bundle({key: value, "version": "1.5.0"}, FID).version == "1.5.0"
    with pytest.raises(BundleError) as info:
        load_bundle({key: value, "version": "9.0.0"}, FID)
    assert info.value.code == "VERSION_MISMATCH"


def test_load_dict_errors_explain_what_is_accepted(tmp_path: Path) -> None:
    with pytest.raises(BundleError) as info:
        load_bundle({"name": "x"}, FID)
    for key in ("'path'", "'bundle_path'", "'directory'", "'bundle'"):
        assert key in str(info.value)
    with pytest.raises(BundleError, match="exactly one of"):
        load_bundle({}, FID)
    with pytest.raises(BundleError, match="exactly one of"):
        load_bundle({"path": tmp_path, "directory": tmp_path}, FID)
    with pytest.raises(BundleError, match="disagrees"):
        load_bundle({"path": tmp_path, "version": "1.0.0"}, FID, version="2.0.0")
    with pytest.raises(BundleError, match="not a dict"):
        load_bundle({"path": {"path": "x"}}, FID)


def test_load_version_rules(tmp_path: Path) -> None:
    with_version = formation_dir(tmp_path / "a", version="2.0.0")
    assert load_bundle(with_version, FID, version="2.0.0").version == "2.0.0"
    with pytest.raises(BundleError) as info:
        load_bundle(with_version, FID, version="2.0.1")
    assert info.value.code == "VERSION_MISMATCH"
    assert "'2.0.1'" in str(info.value) and "'2.0.0'" in str(info.value)

    without = tmp_path / "b"
    write(without / "formation.afs", f"id: {FID}\ndescription: d\n")
    assert load_bundle(without, FID).version == DEFAULT_FORMATION_VERSION
    assert load_bundle(without, FID, version="1.0.0").version == "1.0.0"
    with pytest.raises(BundleError, match=r"assumes 1\.0\.0"):
        load_bundle(without, FID, version="2.0.0")


@pytest.mark.parametrize("bad", ["", "  ", "1.0\r\nX-Evil: 1", "1.0\x00", "1.0.0-é", 1.0])
def test_load_refuses_versions_that_cannot_be_a_header(tmp_path: Path, bad: object) -> None:
    with pytest.raises(BundleError, match="version"):
        load_bundle(formation_dir(tmp_path), FID, version=bad)  # type: ignore[arg-type]


def test_load_checks_top_level_folder_and_id(tmp_path: Path) -> None:
    with pytest.raises(BundleError) as info:
        load_bundle(bundle(ok_entries(top="other-bot")), FID)
    assert info.value.code == "FORMATION_ID_MISMATCH"
    assert "top-level folder is 'other-bot'" in str(info.value)

    entries = ok_entries()
    entries[1] = (f"{FID}/formation.afs", "file", FORMATION.format(id="someone-else", version="1.0.0"))
    with pytest.raises(BundleError, match="IDMismatch"):
        load_bundle(bundle(entries), FID)

    entries[1] = (f"{FID}/formation.afs", "file", "description: no id\n")
    with pytest.raises(BundleError, match="no top-level 'id'"):
        load_bundle(bundle(entries), FID)

    with pytest.raises(BundleError, match="IDMismatch"):  # a directory packed under the wrong id
        load_bundle(formation_dir(tmp_path, fid="someone-else"), FID)


def test_load_source_errors(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="does not exist"):
        load_bundle(tmp_path / "nope.tgz", FID)
    with pytest.raises(BundleError, match="pass its directory"):
        load_bundle(formation_dir(tmp_path) / "formation.afs", FID)
    with pytest.raises(BundleError, match="not gzip"):
        load_bundle(write(tmp_path / "notes.txt", "hello"), FID)
    with pytest.raises(BundleError, match="cannot read"):
        load_bundle("bad\0path", FID)
    with pytest.raises(BundleError, match="unsupported bundle source int"):
        load_bundle(42, FID)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        load_bundle(tmp_path, "Not Valid")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_load_never_opens_a_fifo(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.tgz")
    with pytest.raises(BundleError, match="neither a directory nor a regular file"):
        load_bundle(tmp_path / "pipe.tgz", FID)


def test_load_enforces_max_size(tmp_path: Path) -> None:
    data = bundle([*ok_entries(), (f"{FID}/noise", "file", os.urandom(50_000))])
    path = write(tmp_path / "b.tgz", data)
    for source in (path, data, {"bundle": data}):
        with pytest.raises(BundleError) as info:
            load_bundle(source, FID, max_size=10_000)  # type: ignore[arg-type]
        assert info.value.code == "BUNDLE_TOO_LARGE"
    assert load_bundle(path, FID, max_size=len(data)).data == data


def test_prepared_bundle_repr_omits_the_body() -> None:
    prepared = load_bundle(bundle(ok_entries()), FID)
    text = repr(prepared)
    assert "data=" not in text and prepared.sha256 in text and len(text) < 300


def test_bundle_errors_are_muxi_errors() -> None:
    with pytest.raises(MuxiError) as info:
        read_bundle(b"junk")
    assert isinstance(info.value, BundleError)
    assert info.value.code == "INVALID_BUNDLE"


def test_packed_permissions_ignore_umask_and_owner(tmp_path: Path) -> None:
    root = formation_dir(tmp_path)
    (root / "formation.afs").chmod(stat.S_IRUSR | stat.S_IWUSR)
    modes = {m.name: m.mode for m in members(pack_directory(root, FID))}
    assert modes[f"{FID}/formation.afs"] == 0o644
