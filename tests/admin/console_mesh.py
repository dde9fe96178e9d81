"""The admin unit's console beside the real auth, agent, task and speech units, each at its configured address.

Every unit listens on the gRPC and metrics ports the settings name (free ports
of this run), so the admin unit finds them the way it does in production:
health checks, /metrics, and calls under its service token. The persona and
analytics units are not started: they are the "stopped" units of the health
tests. The edge is the one the edge tests start. Test modules import the
fixtures they use by name.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import grpc
import pytest
from agentmesh.v1 import admin_pb2_grpc, agent_pb2, agent_pb2_grpc

from services.admin.wiring import SPEC as ADMIN
from services.agent.wiring import SPEC as AGENT
from services.auth.wiring import SPEC as AUTH
from services.common.bootstrap import RunningUnit, UnitSpec, start
from services.common.settings import UNITS, Settings
from services.speech.wiring import SPEC as SPEECH
from services.task.wiring import SPEC as TASK
from tests.agent.conftest import env_for
from tests.auth.conftest import Account, signed_in
from tests.conftest import free_port

T = TypeVar("T")
SPECS: dict[str, UnitSpec] = {"admin": ADMIN, "agent": AGENT, "task": TASK, "speech": SPEECH}


def console_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = env_for(tmp_path, GATEWAY_PORT=str(free_port()), AGENTMESH_SUPERVISED="1", LLM_CACHE_TTL="0", **extra)
    for unit in UNITS:
        env[f"AGENTMESH_{unit.upper()}_METRICS_PORT"] = str(free_port())
    return env


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env(console_env(tmp_path))


@pytest.fixture
async def auth_unit(stack: AsyncExitStack, settings: Settings) -> RunningUnit:
    """The auth unit at its configured gRPC and metrics ports."""
    return await start(AUTH, settings, stack)


@dataclass
class Console:
    settings: Settings
    admin_channel: grpc.aio.Channel
    auth_channel: grpc.aio.Channel
    units: dict[str, RunningUnit]
    stacks: dict[str, AsyncExitStack] = field(default_factory=dict)
    people: dict[str, Account] = field(default_factory=dict)

    @property
    def platform(self) -> admin_pb2_grpc.PlatformAdminServiceStub:
        return admin_pb2_grpc.PlatformAdminServiceStub(self.admin_channel)

    @property
    def bot(self) -> admin_pb2_grpc.BotAdminServiceStub:
        return admin_pb2_grpc.BotAdminServiceStub(self.admin_channel)

    @property
    def integrations(self) -> admin_pb2_grpc.IntegrationServiceStub:
        return admin_pb2_grpc.IntegrationServiceStub(self.admin_channel)

    @property
    def hub(self) -> admin_pb2_grpc.EventServiceStub:
        return admin_pb2_grpc.EventServiceStub(self.admin_channel)

    async def stop(self, unit: str) -> None:
        await self.stacks.pop(unit).aclose()

    async def agent(self, who: Account, name: str = "scribe", *, running: bool = True) -> str:
        """An echo agent of the user's tenant, started unless asked otherwise."""
        async with grpc.aio.insecure_channel(self.settings.address("agent")) as channel:
            agents = agent_pb2_grpc.AgentServiceStub(channel)
            created = await agents.CreateAgent(agent_pb2.CreateAgentRequest(name=name, type="echo"),
                                               metadata=who.metadata)
            if running:
                await agents.StartAgent(agent_pb2.StartAgentRequest(agent_id=created.agent.agent_id),
                                        metadata=who.metadata)
            return str(created.agent.agent_id)


async def eventually(read: Callable[[], Awaitable[T]], done: Callable[[T], bool], within: float = 5.0) -> T:
    """What `read` answers once `done` holds (the hub's followers store in the background)."""
    async with asyncio.timeout(within):
        while True:
            value = await read()
            if done(value):
                return value
            await asyncio.sleep(0.05)


@pytest.fixture(name="console")
async def console_fixture(auth_unit: RunningUnit, settings: Settings, stack: AsyncExitStack,
                  auth_channel: grpc.aio.Channel) -> AsyncIterator[Console]:
    units: dict[str, RunningUnit] = {"auth": auth_unit}
    stacks: dict[str, AsyncExitStack] = {}
    for name, spec in SPECS.items():  # the admin unit first: its hub follower sees everything after
        own = AsyncExitStack()
        stack.push_async_callback(own.aclose)
        units[name] = await start(spec, settings, own)
        stacks[name] = own
    async with grpc.aio.insecure_channel(settings.address("admin")) as admin_channel:
        console = Console(settings, admin_channel, auth_channel, units, stacks)
        console.people = {"admin": await signed_in(auth_channel, role="admin"),
                          "alice": await signed_in(auth_channel), "bob": await signed_in(auth_channel)}
        yield console

