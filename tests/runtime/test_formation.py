"""The real-runtime suite: every flow on FormationClient, and on AsyncFormationClient under
asyncio and trio (``make test-runtime``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from conftest import Context
from flows import CALLED, Flow, run_async, run_sync
from harness import RuntimeFormation
from scenarios import FLOWS

from muxi import AsyncFormationClient, FormationClient
from muxi.errors import AuthenticationError, ConfigurationError

FlowFactory = Callable[[Context], Flow]
_ids = [flow.__name__.removeprefix("flow_") for flow in FLOWS]


_RAN: set[str] = set()


@pytest.mark.parametrize("flow", FLOWS, ids=_ids)
def test_sync(flow: FlowFactory, ctx: Context, client: FormationClient) -> None:
    run_sync(flow(ctx), client)
    _RAN.add(flow.__name__)


@pytest.mark.anyio
@pytest.mark.parametrize("flow", FLOWS, ids=_ids)
async def test_async(flow: FlowFactory, ctx: Context, async_client: AsyncFormationClient) -> None:
    await run_async(flow(ctx), async_client)


def test_sync_wrong_keys(runtime: RuntimeFormation) -> None:
    with FormationClient(url=runtime.url, admin_key="wrong-admin", client_key="wrong-client") as bad:
        with pytest.raises(AuthenticationError) as admin_route:
            bad.get_status()
        assert (admin_route.value.code, admin_route.value.status_code) == ("UNAUTHORIZED", 401)
        assert "wrong-admin" not in str(admin_route.value) and "wrong-admin" not in repr(bad)
        with pytest.raises(AuthenticationError) as client_route:
            bad.get_triggers()
        assert client_route.value.status_code == 401
        assert bad.health()["status"] == "healthy"  # public


def test_sync_missing_key(runtime: RuntimeFormation) -> None:
    # A client-key-only client refuses admin calls before sending anything.
    with FormationClient(url=runtime.url, client_key=runtime.client_key) as client_only:
        with pytest.raises(ConfigurationError):
            client_only.get_secrets()
        assert client_only.get_sops()["count"] == 1


@pytest.mark.anyio
async def test_async_wrong_keys(runtime: RuntimeFormation) -> None:
    async with AsyncFormationClient(url=runtime.url, admin_key="wrong-admin", client_key="wrong-client") as bad:
        with pytest.raises(AuthenticationError) as info:
            await bad.get_config()
        assert (info.value.code, info.value.status_code) == ("UNAUTHORIZED", 401)
        with pytest.raises(AuthenticationError):
            await bad.fire_trigger("greet", {"name": "x"})
        assert (await bad.health())["status"] == "healthy"


def test_every_formation_method_was_called_on_the_runtime() -> None:
    # Last in the file: after every flow ran (skipped when only some were selected).
    from muxi_proto.endpoints import FormationAPI

    if {flow.__name__ for flow in FLOWS} != _RAN:
        pytest.skip("only part of the flows ran")
    expected = set(FormationAPI.endpoints) | set(FormationAPI.helpers)
    assert expected - CALLED == set(), "methods no flow calls against the runtime"
