"""Lifecycle transitions, their events on the admin unit's hub, races, and a restart mid-transition."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import grpc
from agentmesh.v1 import agent_pb2, agent_pb2_grpc, common_pb2

from services.agent.wiring import SPEC as AGENT
from services.common.bootstrap import start
from tests.agent.conftest import Mesh, People, fails

Code = grpc.StatusCode


def _moves(events: list[common_pb2.Event]) -> list[tuple[str, str]]:
    return [(str(e.data["previous_status"]), str(e.data["new_status"]))
            for e in events if e.type == "agent.status.changed"]


async def test_start_and_stop_move_through_the_states_and_announce_them(mesh: Mesh, people: People) -> None:
    alice, bob = people.alice, people.bob
    watch = await mesh.watch(alice)
    bobs_watch = await mesh.watch(bob)
    agent = (await mesh.agents.CreateAgent(agent_pb2.CreateAgentRequest(name="worker", type="echo"),
                                           metadata=alice.metadata)).agent
    started = (await mesh.agents.StartAgent(agent_pb2.StartAgentRequest(agent_id=agent.agent_id),
                                            metadata=alice.metadata)).agent
    assert started.status == "running" and started.HasField("started_at")
    again = (await mesh.agents.StartAgent(agent_pb2.StartAgentRequest(agent_id=agent.agent_id),
                                          metadata=alice.metadata)).agent
    assert again.status == "running" and again.started_at == started.started_at  # idempotent
    stopped = (await mesh.agents.StopAgent(agent_pb2.StopAgentRequest(agent_id=agent.agent_id),
                                           metadata=alice.metadata)).agent
    assert stopped.status == "stopped" and stopped.started_at == started.started_at
    assert (await mesh.agents.StopAgent(agent_pb2.StopAgentRequest(agent_id=agent.agent_id),
                                        metadata=alice.metadata)).agent.status == "stopped"
    restarted = (await mesh.agents.StartAgent(agent_pb2.StartAgentRequest(agent_id=agent.agent_id),
                                              metadata=alice.metadata)).agent
    assert restarted.status == "running" and restarted.started_at.ToNanoseconds() > started.started_at.ToNanoseconds()

    events = await watch.next(7)
    assert events[0].type == "agent.created" and events[0].subject_id == agent.agent_id
    assert _moves(events) == [("created", "starting"), ("starting", "running"), ("running", "stopping"),
                              ("stopping", "stopped"), ("stopped", "starting"), ("starting", "running")]
    assert all(e.tenant_id == alice.tenant_id and e.source == "agent" for e in events)
    assert events[2].data["agent_id"] == agent.agent_id and events[2].data["reason"] == "started"
    assert await watch.quiet() == []  # the idempotent calls announced nothing

    # Bob sees none of it: the first event he gets is about his own agent.
    own = (await mesh.agents.CreateAgent(agent_pb2.CreateAgentRequest(name="bobs"), metadata=bob.metadata)).agent
    [first] = await bobs_watch.next(1)
    assert (first.type, first.subject_id, first.tenant_id) == ("agent.created", own.agent_id, bob.tenant_id)


async def test_update_and_delete_are_announced(mesh: Mesh, people: People) -> None:
    alice = people.alice
    watch = await mesh.watch(alice, ("agent.updated", "agent.deleted"))
    agent = (await mesh.agents.CreateAgent(agent_pb2.CreateAgentRequest(name="n", api_key="sk-zzz-secret"),
                                           metadata=alice.metadata)).agent
    await mesh.agents.UpdateAgent(agent_pb2.UpdateAgentRequest(agent_id=agent.agent_id, model="m2", api_key="sk-new"),
                                  metadata=alice.metadata)
    await mesh.agents.DeleteAgent(agent_pb2.DeleteAgentRequest(agent_id=agent.agent_id), metadata=alice.metadata)
    updated, deleted = await watch.next(2)
    assert (updated.type, list(updated.data.get_or_create_list("fields"))) == ("agent.updated", ["model", "api_key"])
    assert b"sk-new" not in updated.SerializeToString()
    assert (deleted.type, deleted.subject_id, deleted.tenant_id) == ("agent.deleted", agent.agent_id, alice.tenant_id)


async def test_a_provider_the_platform_lacks_puts_the_agent_in_error(mesh: Mesh, people: People) -> None:
    alice = people.alice
    cases = ((agent_pb2.CreateAgentRequest(name="x", provider="anthropic"), "provider 'anthropic' is not configured"),
             (agent_pb2.CreateAgentRequest(name="x", type="openai"), "provider 'openai' has no API key"))
    for request, reason in cases:
        agent = (await mesh.agents.CreateAgent(request, metadata=alice.metadata)).agent
        err = await fails(mesh.agents.StartAgent(agent_pb2.StartAgentRequest(agent_id=agent.agent_id),
                                                 metadata=alice.metadata), Code.FAILED_PRECONDITION)
        assert reason in err.details()
        failed = (await mesh.agents.GetAgent(agent_pb2.GetAgentRequest(agent_id=agent.agent_id),
                                             metadata=alice.metadata)).agent
        assert failed.status == "error" and reason in failed.status_message
    # Given a key, the openai agent starts; the error is cleared.
    await mesh.agents.UpdateAgent(agent_pb2.UpdateAgentRequest(agent_id=agent.agent_id, api_key="sk-live"),
                                  metadata=alice.metadata)
    fixed = (await mesh.agents.StartAgent(agent_pb2.StartAgentRequest(agent_id=agent.agent_id),
                                          metadata=alice.metadata)).agent
    assert (fixed.status, fixed.status_message) == ("running", "")


async def test_concurrent_starts_move_the_agent_once(mesh: Mesh, people: People) -> None:
    alice = people.alice
    watch = await mesh.watch(alice, ("agent.status.changed",))
    agent = (await mesh.agents.CreateAgent(agent_pb2.CreateAgentRequest(name="racer", type="echo"),
                                           metadata=alice.metadata)).agent
    request = agent_pb2.StartAgentRequest(agent_id=agent.agent_id)
    replies = await asyncio.gather(*(mesh.agents.StartAgent(request, metadata=alice.metadata) for _ in range(12)))
    assert {r.agent.status for r in replies} <= {"starting", "running"}
    assert len({r.agent.started_at.ToNanoseconds() for r in replies if r.agent.status == "running"}) == 1
    assert _moves(await watch.next(2)) == [("created", "starting"), ("starting", "running")]
    stops = await asyncio.gather(*(mesh.agents.StopAgent(agent_pb2.StopAgentRequest(agent_id=agent.agent_id),
                                                         metadata=alice.metadata) for _ in range(12)))
    assert {r.agent.status for r in stops} <= {"stopping", "stopped"}
    assert _moves(await watch.next(2)) == [("running", "stopping"), ("stopping", "stopped")]
    assert await watch.quiet() == []


async def test_deleting_a_running_agent_stops_it_first(mesh: Mesh, people: People) -> None:
    alice = people.alice
    agent = (await mesh.agents.CreateAgent(agent_pb2.CreateAgentRequest(name="busy", type="echo"),
                                           metadata=alice.metadata)).agent
    watch = await mesh.watch(alice, ("agent.status.changed", "agent.deleted"))
    await mesh.agents.StartAgent(agent_pb2.StartAgentRequest(agent_id=agent.agent_id), metadata=alice.metadata)
    # Events go out in the background: the start's are awaited before the delete's are counted.
    assert _moves(await watch.next(2)) == [("created", "starting"), ("starting", "running")]
    await mesh.agents.DeleteAgent(agent_pb2.DeleteAgentRequest(agent_id=agent.agent_id), metadata=alice.metadata)
    events = await watch.next(3)
    assert _moves(events) == [("running", "stopping"), ("stopping", "stopped")]
    assert events[2].type == "agent.deleted"


async def test_a_restart_settles_agents_left_mid_transition(mesh: Mesh, people: People) -> None:
    alice = people.alice
    make = [(await mesh.agents.CreateAgent(agent_pb2.CreateAgentRequest(name=n, type="echo", api_key="sk-kept"),
                                           metadata=alice.metadata)).agent.agent_id for n in ("a", "b")]
    # The unit died between the two writes of a start and of a stop.
    await mesh.agent_unit.db.execute("UPDATE agents SET status = 'starting' WHERE agent_id = ?", (make[0],))
    await mesh.agent_unit.db.execute("UPDATE agents SET status = 'stopping' WHERE agent_id = ?", (make[1],))
    await mesh.agent_unit.drain(0)
    async with AsyncExitStack() as stack:
        unit = await start(AGENT, mesh.settings, stack, port=0, metrics_port=0)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{unit.port}") as channel:
            stub = agent_pb2_grpc.AgentServiceStub(channel)
            first, second = [(await stub.GetAgent(agent_pb2.GetAgentRequest(agent_id=i), metadata=alice.metadata)).agent
                             for i in make]
            assert (first.status, second.status) == ("error", "stopped")
            assert "restarted" in first.status_message
            again = await stub.StartAgent(agent_pb2.StartAgentRequest(agent_id=first.agent_id), metadata=alice.metadata)
            assert again.agent.status == "running" and again.agent.has_api_key  # the sealed key still opens
