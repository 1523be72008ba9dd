"""The documentation site builds without a warning, and its API reference is complete.

The site is built once, as ``make docs`` builds it (``mkdocs build --strict``), into a temporary
directory. Then: every public name of the four packages is in its objects inventory, and every
endpoint and helper method of the four clients (made at class creation, so only inspection sees
them: docs/reference/index.md) is on the reference page with its signature and docstring.
"""

from __future__ import annotations

import html
import inspect
import re
import subprocess
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import muxi
import muxi_proto
import muxi_testing
import muxi_transports
from muxi import AsyncFormationClient, AsyncServerClient, FormationClient, ServerClient

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = (FormationClient, AsyncFormationClient, ServerClient, AsyncServerClient)


@dataclass
class Site:
    path: Path
    output: str
    inventory: dict[str, str]  # name -> page#anchor

    def page(self, name: str) -> str:
        return (self.path / name / "index.html").read_text(encoding="utf-8")


def read_inventory(path: Path) -> dict[str, str]:
    """A Sphinx objects inventory (version 2): four header lines, then zlib-compressed entries."""
    data = path.read_bytes()
    header = data.split(b"\n", 4)
    assert header[0] == b"# Sphinx inventory version 2"
    entries: dict[str, str] = {}
    for line in zlib.decompress(header[4]).decode().splitlines():
        name, _domain_role, _priority, uri, _shown = line.split(" ", 4)
        entries[name] = uri.replace("$", name)
    return entries


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    target = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(target)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return Site(target, output, read_inventory(target / "objects.inv"))


def test_the_build_is_warning_free(site: Site) -> None:
    # --strict fails on mkdocs' own warnings; this also catches what is only printed (a Python
    # warning from an import while inspecting, an error logged below the warning level).
    noisy = [line for line in site.output.splitlines() if not line.startswith("INFO    -  ")]
    assert noisy == [], "\n".join(noisy)
    assert re.search(r"Documentation built in [\d.]+ seconds", site.output)


def _documented(site: Site, module: Any, name: str) -> bool:
    obj = getattr(module, name)
    paths = {f"{module.__name__}.{name}"}
    if inspect.isclass(obj) or inspect.isfunction(obj):
        paths.add(f"{obj.__module__}.{obj.__qualname__}")
    elif inspect.ismodule(obj):
        paths.add(obj.__name__)
    return bool(paths & site.inventory.keys())


@pytest.mark.parametrize("module", [muxi, muxi_proto, muxi_transports, muxi_testing], ids=lambda m: m.__name__)
def test_every_public_name_is_in_the_reference(site: Site, module: Any) -> None:
    names = [n for n in module.__all__ if n != "__version__"]
    missing = [n for n in names if not _documented(site, module, n)]
    assert missing == [], f"{module.__name__}: not in the reference: {missing}"


def _sections(page: str) -> dict[str, str]:
    """Each documented object's text (heading, signature, docstring) by its anchor."""
    parts = re.split(r'<h\d id="([\w.]+)" class="doc doc-heading">', page)
    found = {}
    for anchor, body in zip(parts[1::2], parts[2::2], strict=True):
        text = html.unescape(re.sub(r"<[^>]+>", "", body))
        found[anchor] = re.sub(r"\s+", " ", text)
    return found


def _first_words(doc: str) -> str:
    """The start of a docstring up to its first markup (``code``, a role), spaces normalised."""
    return re.sub(r"\s+", " ", re.split(r"[`:]", doc.strip(), maxsplit=1)[0]).strip()


@pytest.mark.parametrize("client", CLIENTS, ids=lambda c: c.__name__)
def test_every_endpoint_method_is_in_the_reference_with_its_signature_and_docstring(
    site: Site, client: type
) -> None:
    sections = _sections(site.page("reference/muxi"))
    names = [*client.endpoints, *client.helpers]  # type: ignore[attr-defined]
    assert len(names) >= 20
    for name in names:
        anchor = f"muxi.{client.__name__}.{name}"
        assert f"muxi_transports.clients.{client.__name__}.{name}" in site.inventory
        assert anchor in sections, f"{anchor} is not on the page"
        text = sections[anchor]
        method = getattr(client, name)
        signature = inspect.signature(method)
        params = [p for p in signature.parameters.values() if p.name != "self"]
        for param in params:
            assert re.search(rf"\b{param.name}\b", text), f"{anchor}: no parameter {param.name!r} in {text!r}"
        assert f"{name}(" in text, f"{anchor}: no signature in {text!r}"
        assert "->" in text, f"{anchor}: no return annotation"
        assert _first_words(inspect.getdoc(method) or "") in text, f"{anchor}: docstring missing: {text!r}"


def test_the_endpoint_count_is_what_the_registries_say(site: Site) -> None:
    # ~90 methods in all: every one of them has its anchor on the page.
    sections = _sections(site.page("reference/muxi"))
    expected = {f"muxi.{c.__name__}.{n}" for c in CLIENTS for n in [*c.endpoints, *c.helpers]}
    assert len({n for c in (FormationClient, ServerClient) for n in [*c.endpoints, *c.helpers]}) >= 90
    assert expected <= sections.keys(), sorted(expected - sections.keys())


@pytest.mark.parametrize("client", CLIENTS, ids=lambda c: c.__name__)
def test_the_constructor_shows_the_config_fields(site: Site, client: type) -> None:
    # As inspect.signature(FormationClient) shows: the config's fields, not **config_fields.
    text = _sections(site.page("reference/muxi"))[f"muxi.{client.__name__}"]
    head = text.split(")", 1)[0]
    for name in inspect.signature(client).parameters:
        assert re.search(rf"\b{name}\b", head), f"{client.__name__}: {name} not in {head!r}"
    assert "config_fields" not in head and "kwargs" not in head


def test_docstring_roles_become_links(site: Site) -> None:
    # ":class:`~muxi_proto.call.CallMachine`" in a docstring is a link on the site, not raw reST.
    page = site.page("reference/proto-endpoints")
    assert ":class:" not in page and ":meth:" not in page
    assert re.search(r'<a class="autorefs autorefs-internal"[^>]*href="[^"]*#muxi_proto\.CallMachine"', page)


def test_every_page_of_the_docs_folder_is_on_the_site(site: Site) -> None:
    pages = [p.relative_to(ROOT / "docs") for p in (ROOT / "docs").rglob("*.md")]
    assert len(pages) >= 25
    for page in pages:
        built = "index.html" if page.name == "index.md" else f"{page.with_suffix('')}/index.html"
        if page.name == "index.md" and page.parent != Path():
            built = f"{page.parent}/index.html"
        assert (site.path / built).is_file(), page


def test_the_site_loads_nothing_from_other_hosts(site: Site) -> None:
    # Scripts, stylesheets and images are the site's own (code is highlighted at build time), so it
    # works offline and from a file:// URL.
    external = re.compile(r'<(?:script|link|img)\b[^>]*\b(?:src|href)="(?:https?:)?//[^"]*"')
    for page in site.path.rglob("*.html"):
        assert not external.findall(page.read_text(encoding="utf-8")), page
    assert (site.path / "css" / "pygments.css").read_text(encoding="utf-8").count(".highlight") > 10


def test_constants_do_not_carry_their_type_s_docstring(site: Site) -> None:
    # Inspection reads an attribute's __doc__, which for 300 or "formation" is int's or str's.
    for page in site.path.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert "Create a new string object from the given object" not in text, page
        assert "Convert a number or string to an integer" not in text, page
