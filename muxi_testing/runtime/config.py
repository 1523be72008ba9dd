"""Health, the runtime's root page and OpenAPI document, and the formation's configuration views.

Every answer here is the formation's own configuration put through the runtime's defaults, as
recorded (``tests/fixtures/runtime/*/configuration.json``): a section the formation lacks answers
``{}`` (``/async``, ``/a2a``, ``/logging``, ``/memory``), the scheduler and overlord views fill in
defaults, hard-coded keys are masked in ``/formation``.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from .._wire import py_json
from ._base import JSON_HEADERS, Call, Reject, Route
from .validation import openapi_document

__all__ = ["ROUTES", "mask_config"]

# The runtime's root page ("Up"), byte for byte.
ROOT_PAGE = (
    b'<!DOCTYPE html>\n<html style="margin:0; padding:0; height:100%; color:white">\n<head>\n'
    b'<meta charset="utf-8">\n<meta name="viewport" content="width=device-width">\n<title>Up</title>\n'
    b'</head>\n<body style="margin:0; padding:0; height:100%; color:white">\n'
    b'<table width="100%" height="100%" cellpadding="0" cellspacing="0" border="0">\n'
    b'<tr><td align="center" bgcolor="green">Up</td></tr>\n</table>\n</body>\n</html>'
)

# The runtime's built-in MCP tool definitions (GET /v1/mcp/tools, recorded).
MCP_TOOLS: list[dict[str, Any]] = [
    {"name": "formation_list_agents", "description": "List all agents in the formation", "access": "admin",
     "parameters": {}},
    {"name": "formation_update_agent", "description": "Update agent configuration", "access": "admin",
     "parameters": {"agent_id": {"type": "string", "required": True},
                    "updates": {"type": "object", "required": True}}},
    {"name": "formation_manage_secrets", "description": "Manage formation secrets", "access": "admin",
     "parameters": {"action": {"type": "string", "enum": ["create", "update", "delete"], "required": True},
                    "key": {"type": "string", "required": True}, "value": {"type": "string", "required": False}}},
    {"name": "chat", "description": "Send a message to the formation", "access": "client",
     "parameters": {"message": {"type": "string", "required": True},
                    "user_id": {"type": "string", "required": False},
                    "files": {"type": "array", "required": False}}},
    {"name": "get_memories", "description": "Retrieve user memories", "access": "client",
     "parameters": {"user_id": {"type": "string", "required": True},
                    "limit": {"type": "integer", "required": False, "default": 10}}},
    {"name": "create_memory", "description": "Create a user memory", "access": "client",
     "parameters": {"user_id": {"type": "string", "required": True},
                    "content": {"type": "string", "required": True},
                    "metadata": {"type": "object", "required": False}}},
]

SCHEDULER_DEFAULTS = {"enabled": True, "timezone": "UTC", "check_interval_minutes": 1, "max_concurrent_jobs": 10,
                      "max_failures_before_pause": 3, "default_time": "09:00"}
OVERLORD_RESPONSE = {"format": "markdown", "widgets": False, "streaming": True}
OVERLORD_WORKFLOW = {
    "auto_decomposition": True, "plan_approval_threshold": 7, "complexity_method": "heuristic",
    "complexity_threshold": 7.0, "routing_strategy": "capability_based", "enable_agent_affinity": True,
    "error_recovery": "retry_with_backoff", "parallel_execution": True, "max_parallel_tasks": 5,
    "partial_results": True,
}
OVERLORD_CLARIFICATION = {"max_questions": 5, "style": "conversational", "persist_learned_info": False}

# Where the runtime masks hard-coded secrets in the configuration it shows.
SECRET_PATHS = (
    ("server", "api_keys", "admin_key"), ("server", "api_keys", "client_key"),
    ("llm", "api_keys", "openai"), ("llm", "api_keys", "anthropic"), ("llm", "api_keys", "google"),
    ("llm", "api_keys", "cohere"), ("llm", "api_keys", "huggingface"), ("overlord", "api_key"),
    ("database", "connection_string"), ("memory", "database", "url"), ("async", "webhook_secret"),
    ("webhooks", "secret"),
)
_KEY_LIKE = (re.compile(r"^sk-[a-zA-Z0-9]{20,}$"), re.compile(r"^sk-proj-[a-zA-Z0-9]{20,}$"),
             re.compile(r"^sk-ant-[a-zA-Z0-9-]{40,}$"), re.compile(r"^AIza[a-zA-Z0-9-_]{35}$"),
             re.compile(r"^sk_[a-zA-Z0-9_]{20,}$"))


def _should_mask(value: Any) -> bool:
    if not isinstance(value, str) or len(value) < 8 or "\u2022" in value or "***" in value:
        return False
    stripped = value.strip()
    return not (stripped.startswith("${{") and stripped.endswith("}}"))


def _mask(value: str) -> str:
    if len(value) <= 12:
        return "\u2022" * 8
    if value.startswith(("sk_", "pk_", "api_", "key_")):
        cut = value.find("_") + 1
        return f"{value[:cut]}{chr(0x2022) * 8}{value[-4:]}"
    return f"{value[:3]}{chr(0x2022) * 8}{value[-3:]}"


def _scan(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str) and any(p.match(value) for p in _KEY_LIKE) and _should_mask(value):
                node[key] = _mask(value)
            else:
                _scan(value)
    elif isinstance(node, list):
        for item in node:
            _scan(item)


def mask_config(config: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``config`` with hard-coded secrets masked the runtime's way (placeholders kept)."""
    out = copy.deepcopy(config)
    for path in SECRET_PATHS:
        node: Any = out
        for part in path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and _should_mask(node.get(path[-1])):
            node[path[-1]] = _mask(node[path[-1]])
    for agent in out.get("agents", []) if isinstance(out.get("agents"), list) else []:
        model = agent.get("model") if isinstance(agent, dict) else None
        if isinstance(model, dict) and _should_mask(model.get("api_key")):
            model["api_key"] = _mask(model["api_key"])
    _scan(out)
    return out


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


async def health(c: Call) -> None:
    body = {"status": "healthy", "version": c.rt.spec.version, "uptime_seconds": int(c.now - c.rt.started_at)}
    await c.out.send(200, JSON_HEADERS, py_json(body))


async def root(c: Call) -> None:
    await c.out.send(200, (("Content-Type", "text/html; charset=utf-8"),), ROOT_PAGE)


async def openapi(c: Call) -> None:
    await c.out.send(200, JSON_HEADERS, json.dumps(openapi_document(), separators=(",", ":")).encode())


async def status(c: Call) -> None:
    spec = c.rt.spec
    agents = spec.config.get("agents") or []
    servers = _dict(spec.config.get("mcp")).get("servers") or []
    memory = _dict(spec.config.get("memory"))
    await c.ok({
        "formation": {"id": spec.id, "name": spec.name, "description": spec.description, "version": spec.version},
        "agents": {"count": len(agents), "active": sum(1 for a in agents if _dict(a).get("active", True))},
        "mcp_servers": {"count": len(servers), "active": sum(1 for s in servers if _dict(s).get("active", True))},
        "stats": {
            "running": {"seconds": int(c.now - c.rt.started_at), "since": int(c.rt.started_at)},
            "memory": {"working_memory_mb": _dict(memory.get("working")).get("max_memory_mb", 512),
                       "memory_usage_mb": 96.0},
            "requests": {"total": 0, "active": 0},
            "buffer_size": _dict(memory.get("buffer")).get("size", 1000),
            "cpu_percent": 0.0,
        },
    }, "formation_status", "formation.status.retrieved")


async def config(c: Call) -> None:
    spec = c.rt.spec
    mcp = _dict(spec.config.get("mcp"))
    await c.ok({
        "formation_id": spec.id,
        "version": spec.version,
        "description": spec.description,
        "schema_version": spec.schema,
        "agents": {"total": len(spec.config.get("agents") or []), "resource": "/v1/agents"},
        "secrets": {"total": len(c.rt.secrets), "resource": "/v1/secrets"},
        "mcp": {"default_retry_attempts": mcp.get("default_retry_attempts", 3),
                "default_timeout_seconds": mcp.get("default_timeout_seconds", 30),
                "servers": {"total": len(mcp.get("servers") or []), "resource": "/v1/mcp/servers"}},
        **{name: {"resource": f"/v1/{path}"} for name, path in (
            ("overlord", "overlord"), ("llm", "llm/settings"), ("memory", "memory"), ("async", "async"),
            ("scheduler", "scheduler"), ("a2a", "a2a"), ("logging", "logging"))},
    }, "formation_config", "formation.config.retrieved")


def _with_store(c: Call, config: dict[str, Any]) -> dict[str, Any]:
    """The runtime fills in where its default SQLite store lives when ``memory.persistent`` is a mapping."""
    memory = config.get("memory")
    persistent = memory.get("persistent") if isinstance(memory, dict) else None
    if isinstance(persistent, dict) and persistent.get("enabled") is not False and not persistent.get(
            "connection_string"):
        directory = c.rt.spec.directory
        persistent["connection_string"] = f"{directory}/memory.db" if directory else "memory.db"
    return config


async def formation(c: Call) -> None:
    await c.ok(_with_store(c, mask_config(c.rt.spec.config)), "formation_config", "formation.config.retrieved")


async def overlord(c: Call) -> None:
    raw = _dict(c.rt.spec.config.get("overlord"))
    llm = _dict(c.rt.spec.config.get("llm"))
    await c.ok({
        "soul": raw.get("soul", ""),
        "llm": copy.deepcopy(raw.get("llm", {})),
        "caching": copy.deepcopy(_dict(llm.get("settings")).get("caching", {"enabled": True, "ttl": 3600})),
        "response": copy.deepcopy(raw.get("response", OVERLORD_RESPONSE)),
        "workflow": copy.deepcopy(raw.get("workflow", OVERLORD_WORKFLOW)),
        "clarification": copy.deepcopy(raw.get("clarification", OVERLORD_CLARIFICATION)),
    }, "overlord_config", "overlord.config.retrieved")


async def soul(c: Call) -> None:
    await c.ok({"soul": _dict(c.rt.spec.config.get("overlord")).get("soul", "")}, "soul", "soul.retrieved")


async def llm_settings(c: Call) -> None:
    await c.ok(c.rt.spec.section("llm"), "llm_settings", "llm.settings.retrieved")


def _mcp(c: Call) -> dict[str, Any]:
    return _dict(c.rt.spec.section("mcp"))


async def mcp_config(c: Call) -> None:
    mcp = _mcp(c)
    defaults = _dict(mcp.get("defaults"))
    await c.ok({
        "default_retry_attempts": defaults.get("retry_attempts", 3),
        "default_timeout_seconds": defaults.get("timeout_seconds", 30),
        "max_tool_iterations": defaults.get("max_tool_iterations", 10),
        "max_tool_calls": defaults.get("max_tool_calls", 50),
        "max_repeated_errors": defaults.get("max_repeated_errors", 3),
        "max_timeout_in_seconds": defaults.get("max_timeout_in_seconds", 300),
        "max_tool_timeout_in_seconds": defaults.get("max_tool_timeout_in_seconds", 30),
        "enhance_user_prompts": defaults.get("enhance_user_prompts", True),
        "servers": mcp.get("servers", []),
    }, "mcp_defaults", "mcp.defaults.retrieved")


async def mcp_servers(c: Call) -> None:
    servers = _mcp(c).get("servers") or []
    await c.ok({"servers": servers, "count": len(servers)}, "mcp_server_list", "mcp.server.list")


async def mcp_server(c: Call) -> None:
    server_id = c.params["server_id"]
    for server in _mcp(c).get("servers") or []:
        if isinstance(server, dict) and server.get("id") == server_id:
            await c.ok(server, "mcp_server", "mcp.server.retrieved")
            return
    raise Reject(404, f"MCP server '{server_id}' not found", "MCP_SERVER_NOT_FOUND")


async def mcp_tools(c: Call) -> None:
    await c.ok({"tools": copy.deepcopy(MCP_TOOLS)}, "list", "mcp_tool.list")


async def logging_config(c: Call) -> None:
    await c.ok(c.rt.spec.section("logging"), "logging", "logging.retrieved")


async def logging_destinations(c: Call) -> None:
    logging = _dict(c.rt.spec.section("logging"))
    system = _dict(logging.get("system"))
    destinations = []
    for index, stream in enumerate(_dict(logging.get("conversation")).get("streams") or []):
        if not isinstance(stream, dict):
            continue
        dest = {"id": stream.get("id", f"dest-{index}"), "transport": stream.get("transport", "stdout"),
                "level": stream.get("level", "INFO"), "format": stream.get("format", "jsonl"),
                "enabled": stream.get("enabled", True)}
        if "destination" in stream:
            dest["destination"] = stream["destination"]
        destinations.append(dest)
    await c.ok({
        "system": {"level": system.get("level", "debug"), "destination": system.get("destination", "stdout")},
        "conversation": {"destinations": destinations, "count": len(destinations)},
    }, "logging_destination_list", "logging.destinations.list")


async def async_config(c: Call) -> None:
    await c.ok(c.rt.spec.section("async"), "async", "async.retrieved")


async def a2a_config(c: Call) -> None:
    await c.ok(c.rt.spec.section("a2a"), "a2a", "a2a.retrieved")


async def memory_config(c: Call) -> None:
    await c.ok(_with_store(c, {"memory": c.rt.spec.section("memory")})["memory"], "memory_config",
               "memory.config.retrieved")


async def scheduler_config(c: Call) -> None:
    c.require_admin()
    await c.ok({**SCHEDULER_DEFAULTS, **_dict(c.rt.spec.section("scheduler"))}, "scheduler", "scheduler.retrieved")


async def list_agents(c: Call) -> None:
    agents = [copy.deepcopy(a) for a in c.rt.spec.agents]
    await c.ok({"agents": agents, "count": len(agents)}, "agent_list", "agent.list")


def find_agent(c: Call, agent_id: str) -> dict[str, Any]:
    for agent in c.rt.spec.agents:
        if agent.get("id") == agent_id:
            return agent
    raise Reject(404, f"Agent '{agent_id}' not found", "AGENT_NOT_FOUND")


async def get_agent(c: Call) -> None:
    await c.ok(copy.deepcopy(find_agent(c, c.params["agent_id"])), "agent", "agent.retrieved")


ROUTES = [
    Route("GET", "/v1/", "public", root),
    Route("GET", "/v1/v1", "public", root),
    Route("GET", "/", "public", root),
    Route("GET", "/openapi.json", "public", openapi),
    Route("GET", "/v1/health", "public", health),
    Route("GET", "/v1/agents", "admin", list_agents),
    Route("GET", "/v1/agents/{agent_id}", "admin", get_agent),
    Route("GET", "/v1/config", "admin", config),
    Route("GET", "/v1/formation", "admin", formation),
    Route("GET", "/v1/status", "admin", status),
    Route("GET", "/v1/overlord", "admin", overlord),
    Route("GET", "/v1/overlord/soul", "admin", soul),
    Route("GET", "/v1/mcp", "admin", mcp_config),
    Route("GET", "/v1/mcp/servers", "admin", mcp_servers),
    Route("GET", "/v1/mcp/servers/{server_id}", "admin", mcp_server),
    Route("GET", "/v1/mcp/tools", "admin", mcp_tools),
    Route("GET", "/v1/llm/settings", "admin", llm_settings),
    Route("GET", "/v1/logging", "admin", logging_config),
    Route("GET", "/v1/logging/destinations", "admin", logging_destinations),
    Route("GET", "/v1/memory", "admin", memory_config),
    Route("GET", "/v1/async", "admin", async_config),
    Route("GET", "/v1/a2a", "admin", a2a_config),
    Route("GET", "/v1/scheduler", "either", scheduler_config),
]
