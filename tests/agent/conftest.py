"""The real agent unit beside the real auth and admin units (the hub its events go through).

Two users in two tenants (alice, bob) and a platform admin sign in through the
auth unit; a unit's service token comes from the auth unit too. The speech
unit is started only by the tests that need it (`Mesh.start_speech`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from agentmesh.v1 import admin_pb2, admin_pb2_grpc, agent_pb2_grpc, auth_pb2, auth_pb2_grpc, common_pb2
from google.rpc import error_details_pb2

from services.admin.wiring import SPEC as ADMIN
from services.agent.wiring import SPEC as AGENT
from services.common.bootstrap import RunningUnit, start
from services.common.errors import status_from_trailers
from services.common.servicecreds import service_secret
from services.common.settings import UNITS, Settings
from services.speech.wiring import SPEC as SPEECH
from tests.auth.conftest import (  # noqa: F401  (fixtures)
    ADMIN_KEY,
    Account,
    auth_channel,
    auth_unit,
    quick_throttle,
    signed_in,
    stack,
)
from tests.conftest import TEST_SECRET, free_port


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {"AGENTMESH_DATA_DIR": str(tmp_path / "data"), "JWT_SECRET": TEST_SECRET, "ADMIN_API_KEY": ADMIN_KEY}
    for unit in UNITS:
        env[f"AGENTMESH_{unit.upper()}_PORT"] = str(free_port())
    env.update(extra)
    return env


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env(env_for(tmp_path))


@dataclass
class Mesh:
    """The units of one test and stubs to call them."""

    settings: Settings
    stack: AsyncExitStack
    auth: grpc.aio.Channel
    agent_unit: RunningUnit
    channel: grpc.aio.Channel
    hub_channel: grpc.aio.Channel

    @property
    def agents(self) -> agent_pb2_grpc.AgentServiceStub:
        return agent_pb2_grpc.AgentServiceStub(self.channel)

    @property
    def teams(self) -> agent_pb2_grpc.TeamServiceStub:
        return agent_pb2_grpc.TeamServiceStub(self.channel)

    @property
    def definitions(self) -> agent_pb2_grpc.AgentDefinitionServiceStub:
        return agent_pb2_grpc.AgentDefinitionServiceStub(self.channel)

    async def service_metadata(self, unit: str = "task") -> list[tuple[str, str]]:
        """A unit's service token, issued by the auth unit for the deployment's service secret."""
        reply = await auth_pb2_grpc.AuthServiceStub(self.auth).IssueServiceToken(
            auth_pb2.IssueServiceTokenRequest(service=unit, secret=service_secret(self.settings))
        )
        return [("authorization", f"Bearer {reply.access_token}")]

    async def watch(self, who: Account, patterns: tuple[str, ...] = ("agent.*", "team.*")) -> Watch:
        call = admin_pb2_grpc.EventServiceStub(self.hub_channel).WatchEvents(
            admin_pb2.WatchEventsRequest(patterns=list(patterns)), metadata=who.metadata
        )
        await asyncio.sleep(0.3)  # the subscription is open before anything is published
        return Watch(call)

    async def start_speech(self) -> RunningUnit:
        return await start(SPEECH, self.settings, self.stack, port=self.settings.ports["speech"], metrics_port=0)


class Watch:
    """Events one subscriber receives, read with a deadline."""

    def __init__(self, call: Any) -> None:
        self.call = call

    async def next(self, count: int, within: float = 5.0) -> list[common_pb2.Event]:
        got: list[common_pb2.Event] = []

        async def read() -> None:
            while len(got) < count:
                got.append((await self.call.read()).event)

        await asyncio.wait_for(read(), within)
        return got

    async def quiet(self, seconds: float = 0.5) -> list[common_pb2.Event]:
        """What arrives within `seconds` (expected: nothing)."""
        got: list[common_pb2.Event] = []
        with suppress(TimeoutError):
            await asyncio.wait_for(self._drain(got), seconds)
        return got

    async def _drain(self, got: list[common_pb2.Event]) -> None:
        while True:
            got.append((await self.call.read()).event)


@pytest.fixture
async def mesh(auth_unit: RunningUnit, settings: Settings, stack: AsyncExitStack,  # noqa: F811
               auth_channel: grpc.aio.Channel) -> AsyncIterator[Mesh]:  # noqa: F811
    admin = await start(ADMIN, settings, stack, port=settings.ports["admin"], metrics_port=0)
    agent = await start(AGENT, settings, stack, port=0, metrics_port=0)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{agent.port}") as channel, \
            grpc.aio.insecure_channel(f"127.0.0.1:{admin.port}") as hub:
        yield Mesh(settings, stack, auth_channel, agent, channel, hub)


@dataclass(frozen=True)
class People:
    alice: Account
    bob: Account
    admin: Account


@pytest.fixture
async def people(auth_channel: grpc.aio.Channel) -> People:  # noqa: F811
    alice, bob = await signed_in(auth_channel), await signed_in(auth_channel)
    admin = await signed_in(auth_channel, role="admin")
    assert len({alice.tenant_id, bob.tenant_id, admin.tenant_id}) == 3
    return People(alice, bob, admin)


async def fails(call: Awaitable[Any], code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    assert info.value.code() == code, info.value.details()
    return info.value


def violations(err: grpc.aio.AioRpcError) -> dict[str, str]:
    """Field -> description of the BadRequest detail the unit attached."""
    status = status_from_trailers(err.trailing_metadata())
    assert status is not None
    found: dict[str, str] = {}
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            found.update({v.field: v.description for v in bad.field_violations})
    return found
