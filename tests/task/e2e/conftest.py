"""The real auth, agent, speech and admin units (and the task unit) in this process, on their configured ports.

Agents are created through the real agent unit; tasks call the real speech
unit, whose `echo` provider answers `echo: <prompt>`, and whose `openai`
provider talks to a local OpenAI-compatible server (llm_server.py) that can
hold a call open. Accounts come from the real auth unit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from agentmesh.v1 import admin_pb2_grpc, agent_pb2, agent_pb2_grpc, task_pb2_grpc

from services.admin.wiring import SPEC as ADMIN
from services.agent.wiring import SPEC as AGENT
from services.auth.wiring import SPEC as AUTH
from services.common.bootstrap import RunningUnit, start
from services.common.settings import UNITS, Settings
from services.speech.wiring import SPEC as SPEECH
from services.task.wiring import SPEC as TASK
from tests.auth.conftest import ADMIN_KEY, Account, signed_in
from tests.conftest import TEST_SECRET, free_port
from tests.task.e2e.llm_server import HoldingModelServer


def mesh_env(tmp_path: Path, model_url: str, **extra: str) -> dict[str, str]:
    env = {"AGENTMESH_DATA_DIR": str(tmp_path / "data"), "JWT_SECRET": TEST_SECRET, "ADMIN_API_KEY": ADMIN_KEY,
           "OPENAI_BASE_URL": model_url, "LLM_CACHE_TTL": "0", "AGENTMESH_GRACE_PERIOD": "1",
           "AGENTMESH_LEASE_TTL": "2"}
    for unit in UNITS:
        env[f"AGENTMESH_{unit.upper()}_PORT"] = str(free_port())
    env.update(extra)
    return env


@pytest.fixture
async def model_server() -> AsyncIterator[HoldingModelServer]:
    server = HoldingModelServer()
    await server.start()
    yield server
    await server.stop()


@dataclass
class Mesh:
    settings: Settings
    stack: AsyncExitStack
    auth: grpc.aio.Channel
    channels: dict[str, grpc.aio.Channel]
    units: dict[str, RunningUnit]

    async def start_task(self, stack: AsyncExitStack | None = None) -> RunningUnit:
        """The task unit on its configured port (a restart passes a stack of its own)."""
        unit = await start(TASK, self.settings, stack or self.stack, port=self.settings.ports["task"],
                           metrics_port=0)
        self.units["task"] = unit
        return unit

    @property
    def tasks(self) -> task_pb2_grpc.TaskServiceStub:
        return task_pb2_grpc.TaskServiceStub(self.channels["task"])

    @property
    def workflows(self) -> task_pb2_grpc.WorkflowServiceStub:
        return task_pb2_grpc.WorkflowServiceStub(self.channels["task"])

    @property
    def agents(self) -> agent_pb2_grpc.AgentServiceStub:
        return agent_pb2_grpc.AgentServiceStub(self.channels["agent"])

    @property
    def teams(self) -> agent_pb2_grpc.TeamServiceStub:
        return agent_pb2_grpc.TeamServiceStub(self.channels["agent"])

    @property
    def hub(self) -> admin_pb2_grpc.EventServiceStub:
        return admin_pb2_grpc.EventServiceStub(self.channels["admin"])

    async def account(self) -> Account:
        return await signed_in(self.auth)

    async def agent(self, who: Account, name: str, *, kind: str = "echo", **fields: object) -> str:
        request = agent_pb2.CreateAgentRequest(name=name, type=kind, **fields)  # type: ignore[arg-type]
        reply = await self.agents.CreateAgent(request, metadata=who.metadata)
        return str(reply.agent.agent_id)


async def open_mesh(settings: Settings, stack: AsyncExitStack, *, with_task: bool = True) -> Mesh:
    units = {}
    for spec in (AUTH, ADMIN, AGENT, SPEECH):
        units[spec.name] = await start(spec, settings, stack, port=settings.ports[spec.name], metrics_port=0)
    channels = {}
    for unit in ("auth", "admin", "agent", "speech", "task"):
        channels[unit] = await stack.enter_async_context(
            grpc.aio.insecure_channel(f"127.0.0.1:{settings.ports[unit]}"))
    mesh = Mesh(settings, stack, channels["auth"], channels, units)
    if with_task:
        await mesh.start_task()
    return mesh


@pytest.fixture
def settings(tmp_path: Path, model_server: HoldingModelServer) -> Settings:
    return Settings.from_env(mesh_env(tmp_path, model_server.base_url))


@pytest.fixture
async def mesh(settings: Settings) -> AsyncIterator[Mesh]:
    async with AsyncExitStack() as stack:
        yield await open_mesh(settings, stack)
