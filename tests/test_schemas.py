"""The payload types (``muxi_proto.schemas``) against the runtime's recorded OpenAPI document.

- the generated module is what ``scripts/generate_schemas.py`` makes of the recorded document (a
  re-recorded runtime whose request models changed fails here until the script is run again);
- every endpoint with a request model sends a body that model accepts: the required fields, no
  field the model does not have, the model's types; an endpoint that takes the model's fields as
  keyword parameters takes all of them, and each one it is given goes on the wire.
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import pytest

from muxi_proto import schemas
from muxi_proto.config import FormationConfig
from muxi_proto.endpoints import FormationAPI
from tests.fidelity.coverage import PREFIX, operations

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = json.loads((ROOT / "muxi_testing" / "recordings" / "openapi.json").read_text(encoding="utf-8"))
COMPONENTS: dict[str, Any] = DOCUMENT["components"]["schemas"]


def test_generated_module_matches_the_recorded_document() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "generate_schemas.py"), "--check"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("name", schemas.__all__)
def test_each_typeddict_has_the_models_fields_and_required_keys(name: str) -> None:
    kind = getattr(schemas, name)
    model = COMPONENTS[name]
    assert set(typing.get_type_hints(kind)) == set(model.get("properties", {}))
    assert kind.__required_keys__ == frozenset(model.get("required", []))


def conforms(value: Any, schema: dict[str, Any], where: str = "body") -> list[str]:
    """Why ``value`` is not what ``schema`` (an OpenAPI fragment) describes; empty when it is."""
    if "$ref" in schema:
        return conforms(value, COMPONENTS[schema["$ref"].rsplit("/", 1)[-1]], where)
    if "anyOf" in schema:
        if any(not conforms(value, option, where) for option in schema["anyOf"]):
            return []
        return [f"{where}: {value!r} matches none of {schema['anyOf']}"]
    kind = schema.get("type")
    checks = {"string": str, "boolean": bool, "integer": int, "number": (int, float), "array": list,
              "object": dict, "null": type(None)}
    if kind is None:
        return []
    if not isinstance(value, checks[kind]) or (kind in ("integer", "number") and isinstance(value, bool)):
        return [f"{where}: {value!r} is not {kind}"]
    problems: list[str] = []
    if kind == "array":
        for i, item in enumerate(value):
            problems += conforms(item, schema.get("items", {}), f"{where}[{i}]")
    if kind == "object" and "properties" in schema:
        props = schema["properties"]
        problems += [f"{where}: required {k!r} missing" for k in schema.get("required", []) if k not in value]
        problems += [f"{where}: {k!r} is not a field of {schema.get('title')}" for k in value if k not in props]
        for k, v in value.items():
            if k in props:
                problems += conforms(v, props[k], f"{where}.{k}")
    return problems


def _sample(schema: dict[str, Any]) -> Any:
    """A value of the fragment's type (not null)."""
    if "$ref" in schema:
        return {}
    if "anyOf" in schema:
        return _sample(next(s for s in schema["anyOf"] if s.get("type") != "null"))
    return {"string": "s", "boolean": True, "integer": 3, "number": 1.5, "array": ["s"],
            "object": {"k": {"v": 1}}}.get(schema.get("type", "string"), "s")


def _operation_of(name: str) -> Any:
    route = FormationAPI.endpoints[name].route
    for op in operations(DOCUMENT):
        if op.method == route.method and op.path.count("/") == (PREFIX + route.path).count("/"):
            import re

            pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(op.path))
            if re.fullmatch(pattern, PREFIX + route.path.replace("{", "").replace("}", "")):
                return op
    return None


WITH_PAYLOAD = {n: op for n in FormationAPI.endpoints if (op := _operation_of(n)) is not None and op.payload}
CFG = FormationConfig(url="http://127.0.0.1:9", admin_key="a", client_key="c")


def _field_parameters(name: str) -> dict[str, inspect.Parameter]:
    params = inspect.signature(FormationAPI.endpoints[name]._build).parameters
    return {p.name: p for p in list(params.values())[1:] if p.kind is not p.VAR_KEYWORD}


# Endpoints that keep the official SDK's parameters (a payload mapping, or names of their own) rather
# than one parameter per field; their bodies are checked from tests/test_endpoints.py's sample calls.
OFFICIAL_SHAPES = {"chat", "chat_stream", "audio_chat", "audio_chat_stream", "create_secret", "update_secret",
                   "set_secret", "fire_trigger", "create_scheduler_job", "update_scheduler_job", "add_memory",
                   "create_credential", "restore_session", "link_user_identifier", "ingest_memories"}


def test_every_endpoint_with_a_request_model_is_checked() -> None:
    assert set(WITH_PAYLOAD) >= OFFICIAL_SHAPES
    field_methods = set(WITH_PAYLOAD) - OFFICIAL_SHAPES
    assert len(field_methods) == 10, sorted(field_methods)


@pytest.mark.parametrize("name", sorted(set(WITH_PAYLOAD) - OFFICIAL_SHAPES))
def test_field_parameters_are_the_models_fields(name: str) -> None:
    model = COMPONENTS[WITH_PAYLOAD[name].payload]
    props, required = model.get("properties", {}), set(model.get("required", []))
    params = _field_parameters(name)
    route = FormationAPI.endpoints[name].route
    body_params = {n: p for n, p in params.items() if n not in route.params}
    # Every field is a parameter; a required field has no default, an optional one defaults to None.
    assert set(props) <= set(body_params), f"{name} lacks {set(props) - set(body_params)}"
    for field in props:
        has_default = body_params[field].default is not inspect.Parameter.empty
        assert has_default is (field not in required), (name, field)
    # Given every field, the body carries each one, as the model types it; given only the required
    # ones, the body has only those (the runtime's defaults apply).
    values = {f: _sample(props[f]) for f in props}
    path_args = {p: "p1" for p in route.params}
    extra = {n: True for n in body_params if n not in props and n not in path_args}  # query flags (sync)
    body = json.loads(FormationAPI.endpoints[name].spec(**path_args, **values, **extra).operation.body or b"{}")
    assert body == values
    assert conforms(body, model) == []
    minimal = {f: values[f] for f in props if f in required}
    body = json.loads(FormationAPI.endpoints[name].spec(**path_args, **minimal).operation.body or b"{}")
    assert body == minimal and conforms(body, model) == []


@pytest.mark.parametrize("name", sorted(OFFICIAL_SHAPES))
def test_official_shaped_bodies_are_accepted_by_the_model(name: str) -> None:
    from test_endpoints import _args

    args, kwargs = _args(name)
    operation = FormationAPI.endpoints[name].spec(*args, **kwargs).operation
    body = json.loads(operation.body or b"null")
    assert conforms(body, COMPONENTS[WITH_PAYLOAD[name].payload]) == [], name
