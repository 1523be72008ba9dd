"""A formation as the local server serves it: read from a formation directory, or the built-in demo.

A formation directory is what you deploy (docs/protocol.md §4)::

    my-formation/
      formation.afs        # id, name, version, llm, overlord, server.api_keys, agents, memory, ...
      agents/*.afs         # one agent per file (listed by id under ``agents:`` in formation.afs)
      triggers/*.md        # trigger templates; front matter ``webhook: <url>`` for async deliveries
      sops/*.md            # standard operating procedures

:func:`load_formation` reads it the way the runtime does (YAML, via PyYAML) and keeps only what
the runtime's answers are built from: the parsed configuration, the agents, the triggers with their
templates and webhook URLs, the SOPs, and whether persistent memory and multi-user mode are on.
Reading a directory needs PyYAML (``pip install 'muxi-client[testing]'``); the built-in demo
formation (:func:`demo_formation`) does not.
"""

from __future__ import annotations

import copy
import json
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

__all__ = [
    "FormationError", "FormationSpec", "SopSpec", "Trigger", "demo_formation", "formation_from_files",
    "load_formation",
]

DEFAULT_FORMATION_ID = "demo-formation"
_FIELD = re.compile(r"\$\{\{\s*data\.([A-Za-z_][A-Za-z0-9_]*)")
_SECRET = re.compile(r"^\$\{\{\s*secrets\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$")
_PLACEHOLDER = re.compile(r"\$\{\{\s*data\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.DOTALL)


class FormationError(ValueError):
    """The formation directory cannot be served: the message says what is wrong and where."""


@dataclass(frozen=True)
class Trigger:
    """A trigger (``triggers/<name>.md``): ``POST /triggers/{name}`` renders its template with the
    request's ``data`` and answers it; async firings POST a signed webhook to ``webhook_url``.

    ``template``: the file's body after the front matter, with ``${{ data.X }}`` placeholders;
    None for a trigger defined in code, which answers ``data["message"]`` (or the data as JSON).
    ``source``: the file's text, as ``GET /triggers/{name}`` shows it.
    """

    name: str
    webhook_url: str | None = None
    description: str = ""
    template: str | None = None
    source: str | None = None

    @property
    def content(self) -> str:
        """The trigger file's text (front matter included)."""
        if self.source is not None:
            return self.source
        head = f'---\nwebhook: "{self.webhook_url}"\n---\n' if self.webhook_url else ""
        return head + (self.template if self.template is not None else "${{ data.message }}\n")

    @property
    def data_fields(self) -> list[str]:
        """The ``${{ data.X }}`` fields the template uses, in order of first use."""
        return list(dict.fromkeys(_FIELD.findall(self.content)))

    def render(self, data: Any) -> str:
        """The message this trigger sends for ``data``."""
        if self.template is None:
            text = data.get("message") if isinstance(data, dict) else None
            return text if isinstance(text, str) else json.dumps(data, separators=(",", ":"), ensure_ascii=False)

        def value(match: re.Match[str]) -> str:
            item = data.get(match.group(1)) if isinstance(data, dict) else None
            return "" if item is None else str(item)

        return _PLACEHOLDER.sub(value, self.template)


@dataclass(frozen=True)
class SopSpec:
    """A standard operating procedure (``sops/<name>.md``): its body after the front matter."""

    name: str
    content: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FormationSpec:
    """Everything the runtime's answers about one formation are built from."""

    config: dict[str, Any]
    """``formation.afs`` as parsed, with the agents expanded (what ``GET /v1/formation`` shows)."""
    agents: tuple[dict[str, Any], ...]
    triggers: dict[str, Trigger]
    sops: dict[str, SopSpec]
    directory: Path | None = None
    files: dict[str, str] = field(default_factory=dict, repr=False)
    """The formation's text files (relative path -> text), for the bundle the server reports."""

    @property
    def id(self) -> str:
        return str(self.config.get("id") or DEFAULT_FORMATION_ID)

    @property
    def name(self) -> str:
        return str(self.config.get("name") or self.id)

    @property
    def description(self) -> str:
        return str(self.config.get("description") or "")

    @property
    def version(self) -> str:
        return str(self.config.get("version") or "1.0.0")

    @property
    def schema(self) -> str:
        return str(self.config.get("schema") or "1.0.0")

    def section(self, name: str) -> Any:
        """A top-level section of the configuration (``{}`` when absent), as a copy."""
        return copy.deepcopy(self.config.get(name, {}))

    @property
    def persistent_memory(self) -> bool:
        """Whether the formation has persistent memory (the runtime's default: SQLite)."""
        memory = self.config.get("memory")
        persistent = memory.get("persistent") if isinstance(memory, dict) else None
        return not (persistent is False or (isinstance(persistent, dict) and persistent.get("enabled") is False))

    @property
    def connection_string(self) -> str:
        memory = self.config.get("memory")
        persistent = memory.get("persistent") if isinstance(memory, dict) else None
        value = persistent.get("connection_string") if isinstance(persistent, dict) else None
        return str(value or "")

    @property
    def multi_user(self) -> bool:
        """Multi-user mode: only PostgreSQL (or another non-SQLite store) keeps users apart.

        With SQLite -- the default, and even with ``multi_user: true`` (recorded) -- the runtime is
        single-user: every ``X-Muxi-User-ID`` maps to user ``"0"``.
        """
        if not self.persistent_memory:
            return False
        conn = self.connection_string
        return bool(conn) and not (conn.endswith(".db") or "sqlite" in conn)

    def api_key(self, kind: str) -> str | None:
        """``server.api_keys.<kind>_key`` when the formation sets one (secrets resolved from the environment)."""
        server = self.config.get("server")
        keys = server.get("api_keys") if isinstance(server, dict) else None
        value = keys.get(f"{kind}_key") if isinstance(keys, dict) else None
        if not isinstance(value, str) or not value:
            return None
        secret = _SECRET.match(value.strip())
        if secret is not None:
            return os.environ.get(secret.group(1)) or None
        return value

    def with_id(self, formation_id: str) -> FormationSpec:
        """The same formation under another id."""
        config = copy.deepcopy(self.config)
        config["id"] = formation_id
        config["formation_id"] = formation_id
        return replace(self, config=config)


def _yaml() -> Any:
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - the test extra installs it
        raise FormationError(
            "reading a formation directory needs PyYAML: pip install 'muxi-client[testing]' (or pyyaml)"
        ) from None
    return yaml


def _parse_yaml(text: str, where: str) -> dict[str, Any]:
    yaml = _yaml()
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise FormationError(f"{where}: {exc}") from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise FormationError(f"{where}: the top level must be a mapping")
    return value


def _front_matter(text: str, where: str) -> tuple[dict[str, Any], str]:
    match = _FRONT_MATTER.match(text)
    if match is None:
        return {}, text
    yaml = _yaml()
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        raise FormationError(f"{where}: front matter: {exc}") from None
    return (meta if isinstance(meta, dict) else {}), text[match.end():]


def _agents(files: dict[str, str], config: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """The runtime's agents: inline ones from formation.afs, then every file of ``agents/`` (``.afs``,
    then ``.yaml``, then ``.yml``, each sorted; ``active: false`` skipped). An id listed in
    formation.afs without a file is an error here (the runtime would serve without it)."""
    found: dict[str, str] = {}
    for suffix in (".afs", ".yaml", ".yml"):
        for name in sorted(files):
            if name.startswith("agents/") and name.endswith(suffix) and name.count("/") == 1:
                found.setdefault(name[len("agents/"):-len(suffix)], name)
    listed = config.get("agents")
    agents = [dict(entry) for entry in listed if isinstance(entry, dict)] if isinstance(listed, list) else []
    for entry in listed if isinstance(listed, list) else []:
        if not isinstance(entry, dict) and str(entry) not in found:
            raise FormationError(f"{where}: agent {entry!r} is listed but agents/{entry}.afs is missing")
    for stem, name in found.items():
        agent = _parse_yaml(files[name], f"{where}/{name}")
        agent.setdefault("id", stem)
        if agent.get("active", True):
            agents.append(agent)
    for agent in agents:
        agent["source"] = "formation"
    return agents


def formation_from_files(files: dict[str, str], directory: Path | None = None, where: str = "formation"
                         ) -> FormationSpec:
    """A formation from its files' texts (``formation.afs``, ``agents/x.afs``, ... relative paths)."""
    name = next((n for n in ("formation.afs", "formation.yaml", "formation.yml") if n in files), None)
    if name is None:
        raise FormationError(f"{where}: no formation.afs (or formation.yaml) in it")
    config = _parse_yaml(files[name], f"{where}/{name}")
    if not isinstance(config.get("id"), str) or not config["id"]:
        raise FormationError(f"{where}: {name} has no id")
    agents = _agents(files, config, where)
    config["agents"] = [copy.deepcopy(a) for a in agents]
    config["formation_id"] = config["id"]
    triggers = {}
    sops = {}
    for path in sorted(files):
        folder, _, file_name = path.partition("/")
        if "/" in file_name or not file_name.endswith(".md"):
            continue
        stem = file_name[:-3]
        if folder == "triggers":
            meta, body = _front_matter(files[path], f"{where}/{path}")
            webhook = meta.get("webhook")
            triggers[stem] = Trigger(stem, webhook if isinstance(webhook, str) else None,
                                     str(meta.get("description") or ""), body, files[path])
        elif folder == "sops":
            _meta, body = _front_matter(files[path], f"{where}/{path}")
            sops[stem] = SopSpec(stem, body.strip())
    return FormationSpec(config, tuple(agents), triggers, sops, directory, dict(files))


_WANTED_SUFFIXES = (".afs", ".yaml", ".yml", ".md")


def load_formation(directory: str | os.PathLike[str]) -> FormationSpec:
    """Read a formation directory; :class:`FormationError` says what cannot be served and why."""
    root = Path(directory)
    if not root.is_dir():
        raise FormationError(f"{root}: not a directory")
    files = {}
    for path in root.rglob("*"):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and path.suffix in _WANTED_SUFFIXES and not rel.startswith("."):
            try:
                files[rel] = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise FormationError(f"{path}: {exc}") from None
    return formation_from_files(files, root.resolve(), str(root))


DEMO_AGENT = {
    "schema": "1.0.0",
    "id": "assistant",
    "name": "Assistant",
    "description": "Answers questions.",
    "system_message": "You are a helpful assistant.",
    "source": "formation",
}
DEMO_SOP = "# Customer support\n\n1. Greet the user.\n2. Understand the problem.\n3. Resolve or escalate."


def demo_formation(formation_id: str = DEFAULT_FORMATION_ID) -> FormationSpec:
    """The built-in formation: one agent, no triggers, one SOP, SQLite-style persistent memory."""
    config: dict[str, Any] = {
        "schema": "1.0.0",
        "id": formation_id,
        "name": "Demo formation",
        "description": "A formation served by the local MUXI server.",
        "version": "1.0.0",
        "llm": {"models": [{"text": "openai/gpt-4o-mini"}]},
        "overlord": {"soul": "You are a helpful assistant served by the local MUXI server."},
        "agents": [dict(DEMO_AGENT)],
        "scheduler": {"enabled": True},
        "formation_id": formation_id,
    }
    return FormationSpec(config, (dict(DEMO_AGENT),), {}, {"customer-support": SopSpec("customer-support", DEMO_SOP)})
