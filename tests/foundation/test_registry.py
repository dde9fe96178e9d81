"""Consul: units register with a gRPC health check and leave on drain; the edge balances over passing instances.

The agent is tests/consul_agent.py (Consul itself cannot run here); it speaks
the agent's HTTP API and runs the gRPC checks itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import grpc
import pytest
from agentmesh.v1 import admin_pb2, admin_pb2_grpc, speech_pb2, speech_pb2_grpc
from aiohttp.test_utils import TestClient, TestServer

from edge.app import DISPATCHER
from edge.mesh import create_app
from services.admin.wiring import SPEC as ADMIN
from services.auth.wiring import SPEC as AUTH
from services.common.bootstrap import RunningUnit, start
from services.common.channels import BalancedChannel, unit_channel
from services.common.settings import Settings
from services.common.tokens import Keys, TokenIssuer
from services.speech.wiring import SPEC as SPEECH
from tests.agent.conftest import env_for
from tests.conftest import free_port
from tests.consul_agent import FakeConsulAgent


@pytest.fixture
async def agent() -> AsyncIterator[tuple[FakeConsulAgent, str]]:
    fake = FakeConsulAgent()
    async with TestServer(fake.app, host="127.0.0.1") as server:
        yield fake, f"http://127.0.0.1:{server.port}"


@pytest.fixture
def settings(tmp_path: Path, agent: tuple[FakeConsulAgent, str]) -> Settings:
    return Settings.from_env(env_for(tmp_path, CONSUL_HTTP_ADDR=agent[1], CONSUL_CHECK_INTERVAL="0.1",
                                     AGENTMESH_SUPERVISED="1"))


async def _until(condition: object, within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_a_unit_registers_with_a_grpc_check_and_leaves_on_drain(
    agent: tuple[FakeConsulAgent, str], settings: Settings
) -> None:
    fake, _ = agent
    async with AsyncExitStack() as stack:
        unit = await start(AUTH, settings, stack, port=settings.ports["auth"], metrics_port=0)
        service_id = f"agentmesh-auth-127.0.0.1-{unit.port}"
        await _until(lambda: service_id in fake.services and fake.services[service_id].status == "passing")
        entry = fake.services[service_id]
        assert (entry.name, entry.port, entry.tags) == ("agentmesh-auth", unit.port, ["agentmesh", "auth"])
        assert entry.grpc_target == f"127.0.0.1:{unit.port}" and entry.meta["metrics_port"] == str(unit.metrics_port)
        await unit.drain(0)
        assert fake.deregistrations == [service_id] and service_id not in fake.services


async def test_a_unit_starts_without_the_agent_and_registers_once_it_answers(tmp_path: Path) -> None:
    port = free_port()
    settings = Settings.from_env(env_for(tmp_path, CONSUL_HTTP_ADDR=f"http://127.0.0.1:{port}",
                                         AGENTMESH_SUPERVISED="1"))
    fake = FakeConsulAgent()
    async with AsyncExitStack() as stack:
        unit = await start(AUTH, settings, stack, port=settings.ports["auth"], metrics_port=0)  # the agent is away
        await asyncio.sleep(0.3)
        async with TestServer(fake.app, host="127.0.0.1", port=port):
            await _until(lambda: any(s.port == unit.port for s in fake.services.values()), within=15.0)


async def test_the_edge_takes_passing_instances_in_turn_and_drops_one_that_leaves(
    agent: tuple[FakeConsulAgent, str], settings: Settings
) -> None:
    async with AsyncExitStack() as stack:
        first, second, second_stack = await _two_speech_replicas(agent, settings, stack)
        async with TestClient(TestServer(create_app(settings))) as edge:
            reply = await edge.post("/api/v1/auth/register", json={"email": "ada@example.com",
                                                                     "password": "correct horse 1"})
            headers = {"Authorization": f"Bearer {(await reply.json())['access_token']}"}
            await _until(lambda: len(edge.app[DISPATCHER].pool.replicas("speech")) == 2)
            side = edge.app[DISPATCHER].pool.channel("speech")  # the edge's own calls (health) balance too
            assert isinstance(side, BalancedChannel) and len(side.replicas) == 2
            for _ in range(6):
                answered = await edge.get("/api/v1/llm/models", headers=headers)
                assert answered.status == 200
            assert (_calls(first), _calls(second)) == (3, 3)

            await second.drain(0)  # leaves Consul first: the edge stops sending to it
            await second_stack.aclose()
            await _until(lambda: len(edge.app[DISPATCHER].pool.replicas("speech")) == 1)
            assert side.replicas == edge.app[DISPATCHER].pool.replicas("speech")
            for _ in range(4):
                assert (await edge.get("/api/v1/llm/models", headers=headers)).status == 200
            assert _calls(first) == 7


async def _two_speech_replicas(agent: tuple[FakeConsulAgent, str], settings: Settings,
                               stack: AsyncExitStack) -> tuple[RunningUnit, RunningUnit, AsyncExitStack]:
    """The auth unit and two speech units, both passing in Consul; the second on a stack of its own."""
    fake, address = agent
    await start(AUTH, settings, stack, port=settings.ports["auth"], metrics_port=0)
    first = await start(SPEECH, settings, stack, port=settings.ports["speech"], metrics_port=0)
    second_stack = AsyncExitStack()
    second = await start(SPEECH, Settings.from_env(env_for(
        settings.data_dir.parent / "second", CONSUL_HTTP_ADDR=address, CONSUL_CHECK_INTERVAL="0.1",
        AGENTMESH_SUPERVISED="1", JWT_SECRET=settings.jwt_secret)), second_stack, metrics_port=0)
    await _until(lambda: sum(s.name == "agentmesh-speech" and s.status == "passing"
                             for s in fake.services.values()) == 2)
    return first, second, second_stack


def _calls(unit: RunningUnit) -> int:
    return int(unit.metrics.registry.get_sample_value(
        "grpc_server_started_total", {"grpc_service": "agentmesh.v1.LlmService", "grpc_method": "ListModels"}) or 0)



async def test_a_unit_calls_another_units_passing_instances_in_turn(
    agent: tuple[FakeConsulAgent, str], settings: Settings
) -> None:
    async with AsyncExitStack() as stack:
        first, second, second_stack = await _two_speech_replicas(agent, settings, stack)
        channel = unit_channel(settings, "speech")  # what the agent, task and persona units call speech over
        stack.push_async_callback(channel.close)
        assert isinstance(channel, BalancedChannel)
        await _until(lambda: len(channel.replicas) == 2)
        issuer = TokenIssuer(Keys.from_settings(settings), settings)
        token, _ = issuer.issue(typ="access", sub="service:agent", role="service")
        models = speech_pb2_grpc.LlmServiceStub(channel)
        for _ in range(6):
            await models.ListModels(speech_pb2.ListModelsRequest(), metadata=[("authorization", f"Bearer {token}")])
        assert (_calls(first), _calls(second)) == (3, 3)

        await second.drain(0)
        await second_stack.aclose()
        await _until(lambda: len(channel.replicas) == 1)
        for _ in range(4):
            await models.ListModels(speech_pb2.ListModelsRequest(), metadata=[("authorization", f"Bearer {token}")])
        assert _calls(first) == 7


async def test_the_admin_monitor_counts_a_units_passing_instances(
    agent: tuple[FakeConsulAgent, str], settings: Settings
) -> None:
    async with AsyncExitStack() as stack:
        _, second, second_stack = await _two_speech_replicas(agent, settings, stack)
        admin = await start(ADMIN, settings, stack, port=settings.ports["admin"], metrics_port=0)
        issuer = TokenIssuer(Keys.from_settings(settings), settings)
        token, _ = issuer.issue(typ="access", sub="root", role="admin", tid="platform")
        channel = await stack.enter_async_context(grpc.aio.insecure_channel(f"127.0.0.1:{admin.port}"))
        platform = admin_pb2_grpc.PlatformAdminServiceStub(channel)

        async def speech() -> admin_pb2.ServiceStatus:
            reply = await platform.GetServicesStatus(admin_pb2.GetServicesStatusRequest(),
                                                     metadata=[("authorization", f"Bearer {token}")])
            return reply.services["speech"]

        await _until_async(lambda: _instances(speech, 2))
        assert (await speech()).status in ("healthy", "degraded")
        await second.drain(0)
        await second_stack.aclose()
        await _until_async(lambda: _instances(speech, 1))
        status = await speech()
        assert status.healthy and status.message == ""


async def _instances(read: Callable[[], Awaitable[admin_pb2.ServiceStatus]], count: int) -> bool:
    return (await read()).instances == count


async def _until_async(condition: Callable[[], Awaitable[bool]], within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)
