"""The ``muxi`` facade: the official package's names, modules, methods and parameters."""

from __future__ import annotations

import importlib
import inspect
import json
from pathlib import Path
from typing import Any

import pytest

import muxi
import muxi_proto
import muxi_proto.webhook

OFFICIAL = json.loads((Path(__file__).parent / "fixtures" / "official_api.json").read_text())
# The official package's top-level names (muxi 1.20260713.0, muxi/__init__.py).
OFFICIAL_NAMES = ["__version__", "ServerClient", "ServerConfig", "AsyncServerClient", "FormationClient",
                  "FormationConfig", "AsyncFormationClient", "parse_ui_widgets", "webhook"]
RENAMED = {"payload": "bundle"}  # deploy/update take a bundle; `payload=` stays accepted as a keyword


def test_top_level_names() -> None:
    for name in OFFICIAL_NAMES:
        assert hasattr(muxi, name), name


@pytest.mark.parametrize("module", ["muxi.server", "muxi.formation", "muxi.webhook", "muxi.errors",
                                    "muxi.version", "muxi.auth"])
def test_official_modules_import(module: str) -> None:
    importlib.import_module(module)


def test_official_auth_helpers() -> None:
    from muxi.auth import build_auth_header, generate_hmac_signature
    from muxi_proto.auth import verify_request

    signature, ts = generate_hmac_signature("sk_x", "GET", "/rpc/formations?x=1")
    assert len(signature) == 44
    header = build_auth_header("MUXI_k", "sk_x", "GET", "/rpc/formations")
    verify_request(header, "GET", "/rpc/formations", key_id="MUXI_k", secret_key="sk_x", now=ts)


def test_webhook_is_the_same_module() -> None:
    import muxi.webhook

    assert muxi.webhook is muxi_proto.webhook
    from muxi import webhook

    assert webhook is muxi_proto.webhook


def test_errors_keep_official_names_and_attributes() -> None:
    from muxi import errors

    for name in ["MuxiError", "AuthenticationError", "AuthorizationError", "NotFoundError", "ConflictError",
                 "ValidationError", "RateLimitError", "ServerError", "ConnectionError", "map_error"]:
        assert hasattr(errors, name)
    err = errors.map_error(429, "", "slow down", {"a": 1}, 5)
    assert isinstance(err, errors.RateLimitError)
    assert (err.code, err.message, err.status_code, err.details, err.retry_after) == (
        "RATE_LIMITED", "slow down", 429, {"a": 1}, 5)
    assert isinstance(errors.map_error(503, "X", "m"), errors.ServerError)


def _client(cls_name: str) -> Any:
    cls = getattr(muxi, cls_name)
    if "Server" in cls_name:
        return cls(url="http://127.0.0.1:1", key_id="k", secret_key="s")
    return cls(url="http://127.0.0.1:1", admin_key="a", client_key="c")


@pytest.mark.parametrize("cls_name", sorted(OFFICIAL))
def test_every_official_method_exists_with_its_parameters(cls_name: str) -> None:
    cls = getattr(muxi, cls_name)
    for method, spec in OFFICIAL[cls_name].items():
        function = inspect.getattr_static(cls, method)
        assert inspect.isfunction(function), f"{cls_name}.{method} is a real function on the class"
        params = list(inspect.signature(getattr(cls, method)).parameters.values())
        assert params[0].name == "self", f"{cls_name}.{method}"
        params = params[1:]
        positional = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.POSITIONAL_ONLY)]
        renames = RENAMED if method.startswith(("deploy", "update")) else {}
        expected = [renames.get(n, n) for n in spec["positional"]]
        assert positional[: len(expected)] == expected, f"{cls_name}.{method}"
        extra_required = [p.name for p in params[len(expected):]
                          if p.default is p.empty and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
        assert not extra_required, f"{cls_name}.{method} adds required parameters {extra_required}"
        names = {p.name for p in params}
        for kw in spec["keyword_only"]:
            assert kw in names, f"{cls_name}.{method} lost keyword {kw}"
        if spec["var_keyword"]:
            assert any(p.kind is p.VAR_KEYWORD for p in params)
        if "payload" in spec["positional"] and method.startswith(("deploy", "update")):
            assert "payload" in names
        assert inspect.iscoroutinefunction(function) is spec["async"] is cls_name.startswith("Async"), method


@pytest.mark.parametrize("cls_name", sorted(OFFICIAL))
def test_methods_are_real_to_introspection_on_the_class_and_on_instances(cls_name: str) -> None:
    cls = getattr(muxi, cls_name)
    client = _client(cls_name)
    members = dict(inspect.getmembers(cls, callable))
    instance_members = dict(inspect.getmembers(client, inspect.ismethod))
    for method in OFFICIAL[cls_name]:
        assert method in members and method in instance_members, method
        on_class, bound = getattr(cls, method), getattr(client, method)
        assert callable(on_class) and callable(bound)
        assert on_class.__name__ == bound.__name__ == method
        assert on_class.__qualname__ == f"{cls.__name__}.{method}"
        assert on_class.__doc__ and on_class.__doc__ == bound.__doc__
        class_params = list(inspect.signature(on_class).parameters)
        assert class_params[0] == "self" and list(inspect.signature(bound).parameters) == class_params[1:]
        assert "*args" not in str(inspect.signature(bound)), method
        assert inspect.signature(bound).return_annotation is not inspect.Signature.empty, method
    if inspect.iscoroutinefunction(client.close):
        import anyio

        anyio.run(client.close)
    else:
        client.close()


@pytest.mark.parametrize("cls_name", sorted(OFFICIAL))
def test_help_and_pydoc_list_every_method_with_its_docstring(cls_name: str) -> None:
    import pydoc

    cls = getattr(muxi, cls_name)
    text = pydoc.render_doc(cls, renderer=pydoc.plaintext)
    for method in OFFICIAL[cls_name]:
        first_line = (getattr(cls, method).__doc__ or "").strip().splitlines()[0]
        signature = str(inspect.signature(getattr(cls, method)))
        assert f"{method}{signature}" in text, method
        assert first_line in text, method


def test_annotations_are_the_results_not_the_specs() -> None:
    from muxi_proto.api import AsyncEventIterator, EventIterator
    from muxi_proto.schemas import ChatRequest
    from muxi_proto.sse import ServerSentEvent
    from muxi_proto.types import AgentList, ChatResponse

    sig = inspect.signature(muxi.FormationClient.get_agents)
    assert sig.return_annotation is AgentList  # a TypedDict: a plain dict at run time
    assert inspect.signature(muxi.FormationClient.chat).return_annotation is ChatResponse
    assert inspect.signature(muxi.ServerClient.ping).return_annotation is str
    assert inspect.signature(muxi.FormationClient.chat_stream).return_annotation == EventIterator[ServerSentEvent]
    assert inspect.signature(muxi.AsyncFormationClient.chat_stream).return_annotation == (
        AsyncEventIterator[ServerSentEvent])
    assert inspect.signature(muxi.FormationClient.delete_secret).return_annotation is None
    from collections.abc import Mapping

    assert inspect.signature(muxi.FormationClient.chat).parameters["payload"].annotation == (
        ChatRequest | Mapping[str, Any])
    assert inspect.signature(muxi.FormationClient.chat).parameters["user_id"].annotation is str


def test_a_subclass_keeps_its_own_overrides() -> None:
    class Mine(muxi.FormationClient):
        def get_agents(self) -> dict[str, Any]:  # type: ignore[override]
            return {"mine": True}

    client = Mine(url="http://127.0.0.1:1", admin_key="a")
    assert client.get_agents() == {"mine": True}
    assert inspect.getattr_static(Mine, "get_status") is inspect.getattr_static(muxi.FormationClient, "get_status")
    client.close()


def test_async_methods_are_awaitable_and_sync_ones_are_not() -> None:
    from muxi import AsyncFormationClient, FormationClient

    cfg: dict[str, Any] = {"url": "http://127.0.0.1:1", "admin_key": "a", "client_key": "c"}
    sync, asynchronous = FormationClient(**cfg), AsyncFormationClient(**cfg)
    assert not inspect.iscoroutinefunction(sync.get_agents)
    assert inspect.iscoroutinefunction(asynchronous.get_agents)
    assert inspect.iscoroutinefunction(asynchronous.chat_stream)  # `await client.chat_stream(...)`
    assert sync.get_agents.__name__ == "get_agents" and "Agents" in (sync.get_agents.__doc__ or "")
    sync.close()


def test_parse_ui_widgets_is_lenient_like_the_official_helper() -> None:
    from muxi import parse_ui_widgets

    assert parse_ui_widgets({"event": "ui", "data": '{"ui":[{"type":"options"}]}'}) == [{"type": "options"}]
    assert parse_ui_widgets({"event": "ui", "data": "not json"}) == []
    assert parse_ui_widgets({"event": "message", "data": "{}"}) == []


def test_version() -> None:
    from muxi.version import __version__

    assert muxi.__version__ == __version__


@pytest.mark.parametrize("cls_name", sorted(OFFICIAL))
def test_constructors_show_their_real_keywords(cls_name: str) -> None:
    cls = getattr(muxi, cls_name)
    params = inspect.signature(cls).parameters
    fields = ["url", "key_id", "secret_key"] if "Server" in cls_name else [
        "formation_id", "url", "server_url", "base_url", "admin_key", "client_key", "mode"]
    for name in ["cfg", "transport", "retry_policy", "proxy", "trust_env", "max_retries", "timeout", "debug",
                 *fields]:
        assert name in params, name
    assert not any(p.kind is p.VAR_KEYWORD for p in params.values())
    other = "admin_key" if "Server" in cls_name else "key_id"
    with pytest.raises(muxi.errors.ConfigurationError, match=other):
        cls(url="http://127.0.0.1:1", **{other: "x"})


ALL_FORMATION = sorted({*muxi_proto.FormationAPI.endpoints, *muxi_proto.FormationAPI.helpers})


@pytest.mark.parametrize("cls_name", ["FormationClient", "AsyncFormationClient"])
def test_every_method_beyond_the_official_ones_is_real_too(cls_name: str) -> None:
    # The runtime's operations the official package has no method for (docs/api-coverage.md), and
    # the helpers: real functions with their own signatures and docstrings, in help() and pydoc.
    import pydoc

    cls = getattr(muxi, cls_name)
    extra = [m for m in ALL_FORMATION if m not in OFFICIAL[cls_name]]
    assert len(extra) >= 38
    client = _client(cls_name)
    raw_view = client.with_raw_response
    text = pydoc.render_doc(cls, renderer=pydoc.plaintext)
    for method in extra:
        function = inspect.getattr_static(cls, method)
        assert inspect.isfunction(function), method
        assert inspect.iscoroutinefunction(function) is cls_name.startswith("Async"), method
        signature = inspect.signature(getattr(cls, method))
        assert "*args" not in str(signature) and signature.return_annotation is not inspect.Signature.empty
        assert f"{method}{signature}" in text, method
        assert getattr(cls, method).__doc__.strip().splitlines()[0] in text, method
        assert callable(getattr(raw_view, method))
        assert list(inspect.signature(getattr(raw_view, method)).parameters) == list(signature.parameters)[1:]
    if inspect.iscoroutinefunction(client.close):
        import anyio

        anyio.run(client.close)
    else:
        client.close()
