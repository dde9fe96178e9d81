"""The agent unit as the runner's directory: the same question asked at the same moment is one call.

A real gRPC server stands in for the agent unit's ResolveWorkers, holding its
answers on a gate so that concurrent asks can be lined up; the client is the
unit's own AgentDirectory over a real channel.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from agentmesh.v1 import admin_pb2, admin_pb2_grpc, agent_pb2, agent_pb2_grpc, common_pb2

from services.admin.wiring import SPEC as ADMIN
from services.common.authctx import Actor
from services.common.bootstrap import start
from services.common.llm import RemoteCallError
from services.common.servicecreds import RenewingToken, ServiceCredentials
from services.common.settings import Settings
from services.common.tokens import Keys, TokenIssuer
from services.task.remote import AgentDirectory
from tests.task.conftest import eventually, task_env

ALICE = Actor("alice", "tenant-a", "user")
BOB = Actor("bob", "tenant-a", "user")


class HeldAgents(agent_pb2_grpc.AgentServiceServicer):
    """ResolveWorkers that answers when the gate opens, with the agent asked for, or with a scripted error."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.gate = asyncio.Event()
        self.error: grpc.StatusCode | None = None

    async def ResolveWorkers(self, request: agent_pb2.ResolveWorkersRequest,
                             context: grpc.aio.ServicerContext) -> agent_pb2.ResolveWorkersResponse:
        metadata = {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
        self.calls.append((request.agent_id, metadata.get("x-user-id", "")))
        await self.gate.wait()
        if self.error is not None:
            await context.abort(self.error, f"agent {request.agent_id}: scripted")
        agent = agent_pb2.Agent(agent_id=request.agent_id, name=f"agent {request.agent_id}", provider="echo")
        return agent_pb2.ResolveWorkersResponse(agents=[agent_pb2.AgentRuntime(agent=agent)])


@dataclass
class Held:
    agents: HeldAgents
    directory: AgentDirectory
    settings: Settings


@pytest.fixture
async def held(tmp_path: Path) -> AsyncIterator[Held]:
    agents = HeldAgents()
    server = grpc.aio.server()
    agent_pb2_grpc.add_AgentServiceServicer_to_server(agents, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    settings = Settings.from_env(task_env(tmp_path))
    credentials = ServiceCredentials(channel, settings, "task")
    token, _ = TokenIssuer(Keys.from_settings(settings), settings).issue(typ="access", sub="service:task",
                                                                         role="service")

    async def issued() -> tuple[str, float]:  # the auth unit is not running: a token signed with the same keys
        return token, 3600.0

    credentials.token = RenewingToken(issued)
    directory = AgentDirectory(channel, credentials, timeout=5.0)
    yield Held(agents, directory, settings)
    agents.gate.set()
    await directory.aclose()
    await channel.close()
    await server.stop(0)


async def _until_calls(agents: HeldAgents, count: int) -> None:
    async def arrived() -> bool:
        return len(agents.calls) >= count

    await eventually(arrived)


async def test_concurrent_asks_of_the_same_question_share_one_call(held: Held) -> None:
    same = [asyncio.create_task(held.directory.resolve(ALICE, agent_id="a1")) for _ in range(5)]
    others = [asyncio.create_task(held.directory.resolve(BOB, agent_id="a1")),
              asyncio.create_task(held.directory.resolve(ALICE, agent_id="a2"))]
    await _until_calls(held.agents, 3)
    await asyncio.sleep(0.05)  # room for a fourth call, had the asks not been shared
    assert sorted(held.agents.calls) == [("a1", "alice"), ("a1", "bob"), ("a2", "alice")]
    held.agents.gate.set()
    answers = await asyncio.gather(*same, *others)
    assert {w.agents[0].agent_id for w in answers[:5]} == {"a1"}
    assert [w.agents[0].agent_id for w in answers[5:]] == ["a1", "a2"]


async def test_without_a_feed_of_changes_an_answer_is_not_kept_for_later_asks(held: Held) -> None:
    held.agents.gate.set()
    await held.directory.resolve(ALICE, agent_id="a1")
    await held.directory.resolve(ALICE, agent_id="a1")
    assert held.agents.calls == [("a1", "alice"), ("a1", "alice")]


async def test_a_refusal_reaches_every_waiter(held: Held) -> None:
    held.agents.error = grpc.StatusCode.NOT_FOUND
    waiting = [asyncio.create_task(held.directory.resolve(ALICE, agent_id="gone")) for _ in range(3)]
    await _until_calls(held.agents, 1)
    held.agents.gate.set()
    outcomes = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(o, RemoteCallError) and o.code == grpc.StatusCode.NOT_FOUND for o in outcomes)
    assert len(held.agents.calls) == 1


async def test_a_waiter_that_goes_away_leaves_the_call_to_the_others(held: Held) -> None:
    leaving = asyncio.create_task(held.directory.resolve(ALICE, agent_id="a1"))
    staying = asyncio.create_task(held.directory.resolve(ALICE, agent_id="a1"))
    await _until_calls(held.agents, 1)
    leaving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leaving
    held.agents.gate.set()
    assert (await staying).agents[0].agent_id == "a1"
    assert len(held.agents.calls) == 1


async def _changed(hub: admin_pb2_grpc.EventServiceStub, settings: Settings, kind: str, tenant_id: str) -> None:
    """The agent unit announces a change (its service token, signed with the platform's keys)."""
    token, _ = TokenIssuer(Keys.from_settings(settings), settings).issue(typ="access", sub="service:agent",
                                                                         role="service")
    await hub.PublishEvent(admin_pb2.PublishEventRequest(event=common_pb2.Event(type=kind, tenant_id=tenant_id)),
                           metadata=[("authorization", f"Bearer {token}")])


async def test_answers_are_kept_while_the_hub_tells_of_changes_and_forgotten_at_one(held: Held) -> None:
    held.agents.gate.set()
    carol = Actor("carol", "tenant-b", "user")
    async with AsyncExitStack() as stack:
        admin = await start(ADMIN, held.settings, stack, port=0, metrics_port=0)
        channel = await stack.enter_async_context(grpc.aio.insecure_channel(f"127.0.0.1:{admin.port}"))
        hub = admin_pb2_grpc.EventServiceStub(channel)
        held.directory.follow(channel)

        async def live() -> bool:
            return held.directory._live

        await eventually(live)
        for _ in range(3):
            await held.directory.resolve(ALICE, agent_id="a1")
            await held.directory.resolve(carol, agent_id="b1")
        assert held.agents.calls == [("a1", "alice"), ("b1", "carol")]  # asked once each, then kept
        # A change in tenant B forgets tenant B's answers only.
        await _changed(hub, held.settings, "agent.status.changed", "tenant-b")

        async def asked_again() -> bool:
            await held.directory.resolve(carol, agent_id="b1")
            return len(held.agents.calls) == 3

        await eventually(asked_again, within=2.0)
        await held.directory.resolve(ALICE, agent_id="a1")
        assert held.agents.calls[2:] == [("b1", "carol")]
        await _changed(hub, held.settings, "team.member_added", "tenant-a")

        async def alice_asked_again() -> bool:
            await held.directory.resolve(ALICE, agent_id="a1")
            return held.agents.calls[-1] == ("a1", "alice")

        await eventually(alice_asked_again, within=2.0)
        # The hub goes away: nothing is kept until its feed is live again.
        await admin.drain(0.1)
        await admin.server.stop(0)

        async def not_live() -> bool:
            return not held.directory._live

        await eventually(not_live)
        before = len(held.agents.calls)
        await held.directory.resolve(ALICE, agent_id="a1")
        await held.directory.resolve(ALICE, agent_id="a1")
        assert len(held.agents.calls) == before + 2


async def test_an_answer_asked_for_before_the_feed_was_live_is_not_kept(held: Held) -> None:
    async with AsyncExitStack() as stack:
        early = asyncio.create_task(held.directory.resolve(ALICE, agent_id="a1"))  # out while nothing follows
        await _until_calls(held.agents, 1)
        admin = await start(ADMIN, held.settings, stack, port=0, metrics_port=0)
        channel = await stack.enter_async_context(grpc.aio.insecure_channel(f"127.0.0.1:{admin.port}"))
        held.directory.follow(channel)

        async def live() -> bool:
            return held.directory._live

        await eventually(live)
        held.agents.gate.set()
        await early  # its answer may predate a change the feed never saw: not kept
        await held.directory.resolve(ALICE, agent_id="a1")
        await held.directory.resolve(ALICE, agent_id="a1")
        assert len(held.agents.calls) == 2
