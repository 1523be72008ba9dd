"""Build helpers for the documentation site (mkdocs.yml names this file twice).

- As a griffe extension (``RstRoles``): the package's docstrings are written for ``help()`` and
  pydoc, in reST's inline style (``:class:`~muxi_proto.call.CallMachine```, a paragraph ending in
  ``::`` before an indented example). The site renders docstrings as Markdown, so each role becomes
  an optional cross-reference (a link where the target is on the site, plain code elsewhere: private
  helpers and the standard library are not) and ``::`` becomes ``:``. Nothing in the packages
  changes; ``help()`` sees the docstrings as written.
- As a mkdocs hook (``on_startup``, ``on_post_build``): the reference inspects every module of each package (the
  clients' endpoint methods exist only at run time, docs/reference/index.md says why), and that
  includes ``muxi_transports.testing``, the deprecated alias of ``muxi_testing``, whose import warns.
  The build silences that one warning, since nothing on the site imports or documents that alias.
  After the build, the hook writes the stylesheet of the code Pygments highlighted (the site loads
  nothing from other hosts, so highlight.js from a CDN is not an option).
"""

from __future__ import annotations

import inspect
import re
import types
import warnings
from pathlib import Path
from typing import Any

import griffe

# How griffe's inspector turns an ``inspect.Parameter`` into its own (private in griffe, and the
# docs extra pins griffe's version). Used for the clients' constructor signatures, below.
from griffe._internal.agents.inspector import _convert_parameter

# :role:`target`, :role:`~dotted.target` or :role:`title <target>`.
_ROLE = re.compile(r":(?:py:)?(class|meth|func|attr|mod|data|exc|obj):`(~?)([^`<]+?)(?:\s*<([^`>]+)>)?`")
_DOUBLE_COLON = re.compile(r"(?<=\S)::[ \t]*$", re.MULTILINE)  # "text::" ends a paragraph before a code block
_LONE_DOUBLE_COLON = re.compile(r"^[ \t]*::[ \t]*\n", re.MULTILINE)  # "::" alone on a line


def _runtime_path(value: Any, owner: str, name: str) -> str:
    """The documented path of ``value``, found as ``name`` in the namespace ``owner``."""
    if isinstance(value, types.ModuleType):
        return value.__name__
    if isinstance(value, type | types.FunctionType):
        return f"{value.__module__}.{value.__qualname__}"
    return f"{owner}.{name}"


def _resolve(obj: griffe.Object | griffe.Alias, name: str) -> str:
    """The path ``name`` stands for in ``obj``'s docstring, looked up as Python would: in the class
    (``obj`` itself or its class, members inherited included), then in the module's globals."""
    head, _, rest = name.partition(".")
    scopes = [obj] if obj.is_class else []
    if obj.parent is not None and obj.parent.is_class:
        scopes.append(obj.parent)
    for scope in scopes:
        try:
            runtime = griffe.dynamic_import(scope.path)
        except ImportError:
            continue
        if head in dir(runtime):
            return f"{scope.path}.{name}"
    # Then the module's globals, then its package's, up to the top: a docstring may name a class
    # its module does not import (``ConfigurationError`` in a submodule) but its package exports.
    module: griffe.Object | None = obj.module
    while module is not None:
        try:
            namespace = vars(griffe.dynamic_import(module.path))
        except ImportError:
            break
        if head in namespace:
            found = _runtime_path(namespace[head], module.path, head)
            return f"{found}.{rest}" if rest else found
        module = module.parent
    return name


def rewrite(text: str, obj: griffe.Object | griffe.Alias) -> str:
    """``text`` with reST roles as optional autorefs and ``::`` as ``:``."""

    def role(match: re.Match[str]) -> str:
        kind, short, target, explicit = match.groups()
        if explicit:  # :class:`title <target>`
            title, target = target.strip(), explicit.strip()
        else:
            title = target.rsplit(".", 1)[-1] if short else target
        if kind in ("meth", "func"):
            title += "()"
        path = target if "." in target and target.split(".", 1)[0] in _ROOTS else _resolve(obj, target)
        return f'<autoref identifier="{path}" optional><code>{title}</code></autoref>'

    text = _ROLE.sub(role, text)
    text = _LONE_DOUBLE_COLON.sub("\n", text)
    return _DOUBLE_COLON.sub(":", text)


_STDLIB_INTERNALS = frozenset({"typing", "builtins", "abc", "typing_extensions", "collections"})
_ROOTS = frozenset({"muxi", "muxi_proto", "muxi_transports", "muxi_testing"})


_POSITIONAL_OR_KEYWORD = griffe.ParameterKind("positional or keyword")


def _into_stdlib(member: griffe.Object | griffe.Alias) -> bool:
    """An alias into the standard library (not loaded, so griffe cannot render it)."""
    return isinstance(member, griffe.Alias) and member.target_path.split(".", 1)[0] in _STDLIB_INTERNALS


class RstRoles(griffe.Extension):
    """Rewrite every docstring of a loaded package, and fix two things inspection gets wrong."""

    def on_class_members(self, *, node: Any, cls: griffe.Class, agent: Any, **kwargs: Any) -> None:
        """A class with its own ``__signature__`` (the clients and sans-IO APIs: their config's
        fields instead of ``**config_fields``) shows that one, as ``inspect.signature`` does."""
        for name, member in list(cls.members.items()):
            # Protocols get typing's placeholder __init__ and the like: nothing to document, and an
            # alias into a module that is not loaded cannot be rendered.
            if _into_stdlib(member):
                del cls.members[name]
        runtime = getattr(node, "obj", None)
        own = vars(runtime).get("__signature__") if isinstance(runtime, type) else None
        if not isinstance(own, inspect.Signature):
            return
        doc = inspect.getdoc(vars(runtime).get("__init__") or runtime.__init__)  # type: ignore[misc]
        # (usually inherited: the clients define no __init__ of their own)
        cls.set_member("__init__", griffe.Function(
            "__init__",
            parameters=griffe.Parameters(
                griffe.Parameter("self", kind=_POSITIONAL_OR_KEYWORD),
                *(_convert_parameter(p, parent=cls, member="__init__") for p in own.parameters.values()),
            ),
            docstring=griffe.Docstring(doc) if doc else None,
            analysis="dynamic",
        ))

    def on_module_members(self, *, node: Any, mod: griffe.Module, agent: Any, **kwargs: Any) -> None:
        """A type alias such as ``Step = Send | ReadBody | ...`` is, once imported, an object of
        ``typing`` or ``builtins``, which inspection records as an alias into those modules (not
        loaded, so not renderable): record it as an attribute whose value is the alias itself."""
        runtime = getattr(node, "obj", None)
        for name, member in list(mod.members.items()):
            if not _into_stdlib(member):
                continue
            value = getattr(runtime, name, None)
            if value is None or isinstance(value, type | types.FunctionType | types.BuiltinFunctionType):
                continue  # a class or function imported from the standard library: a real alias
            shown = repr(value).replace("typing.", "").replace("collections.abc.", "")
            attribute = griffe.Attribute(name, value=shown, analysis="dynamic")
            attribute.labels.add("module-attribute")
            mod.set_member(name, attribute)

    def on_attribute_instance(self, *, node: Any, attr: griffe.Attribute, agent: Any, **kwargs: Any) -> None:
        """Inspection takes an attribute's docstring from its value, which for a constant is the
        docstring of its type (``str``'s for ``plane = "formation"``): drop that one."""
        value = getattr(node, "obj", None)
        if attr.docstring is not None and getattr(value, "__doc__", None) == getattr(type(value), "__doc__", 0):
            attr.docstring = None  # (compared by value: a built-in type's __doc__ is made anew on each read)

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        seen: set[int] = set()
        stack: list[griffe.Object] = [pkg]
        while stack:
            obj = stack.pop()
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if obj.docstring is not None:
                obj.docstring.value = rewrite(obj.docstring.value, obj)
            stack.extend(member for member in obj.members.values() if isinstance(member, griffe.Object))


def on_startup(**kwargs: Any) -> None:
    """mkdocs hook: see the module docstring."""
    warnings.filterwarnings("ignore", message=r"muxi_transports\.testing is deprecated", category=DeprecationWarning)


def on_post_build(*, config: Any, **kwargs: Any) -> None:
    """mkdocs hook: the colours of the code Pygments highlighted, as ``css/pygments.css``."""
    from pygments.formatters import HtmlFormatter  # type: ignore[import-untyped]

    target = Path(config["site_dir"]) / "css" / "pygments.css"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(HtmlFormatter(style="default").get_style_defs(".highlight") + "\n", encoding="utf-8")
