"""AgentService CRUD, lists, secrets at rest and tenant isolation, against the real agent and auth units."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import grpc
from agentmesh.v1 import agent_pb2
from google.protobuf import field_mask_pb2, struct_pb2

from edge import jsoncodec
from tests.agent.conftest import Mesh, People, fails, violations
from tests.auth.conftest import Account
from tests.stored import stored_bytes

SEEDS = Path(__file__).resolve().parents[1] / "fixtures" / "seed_bodies.json"
Code = grpc.StatusCode


def _params(**values: Any) -> struct_pb2.Struct:
    params = struct_pb2.Struct()
    params.update(values)
    return params


async def _create(mesh: Mesh, who: Account, name: str = "helper", **fields: Any) -> agent_pb2.Agent:
    reply = await mesh.agents.CreateAgent(agent_pb2.CreateAgentRequest(name=name, **fields), metadata=who.metadata)
    agent: agent_pb2.Agent = reply.agent
    return agent


async def test_seed_001_create_body_works_and_the_key_stays_secret(mesh: Mesh, people: People) -> None:
    body = next(b["body"] for b in json.loads(SEEDS.read_text())
                if b["method"] == "POST" and b["path"] == "/api/v1/agents")
    alice = people.alice
    verbatim = agent_pb2.CreateAgentRequest()
    jsoncodec.parse(body, verbatim)
    assert verbatim.organization_id == "1"  # seed 001's numeric organization: no tenant of alice's
    await fails(mesh.agents.CreateAgent(verbatim, metadata=alice.metadata), Code.NOT_FOUND)

    request = agent_pb2.CreateAgentRequest()
    jsoncodec.parse({**body, "organization_id": alice.tenant_id}, request)
    reply = await mesh.agents.CreateAgent(request, metadata=alice.metadata)
    agent = reply.agent
    assert (agent.name, agent.type, agent.model, agent.provider) == ("My OpenAI Agent", "openai", "gpt-3.5-turbo",
                                                                     "openai")
    assert (agent.tenant_id, agent.owner_id, agent.status, agent.has_api_key) == (
        alice.tenant_id, alice.user_id, "created", True)
    assert agent.agent_id.startswith("agt_") and agent.HasField("created_at") and not agent.HasField("started_at")
    got = await mesh.agents.GetAgent(agent_pb2.GetAgentRequest(agent_id=agent.agent_id), metadata=alice.metadata)
    assert got.agent == agent
    secret = body["api_key"].encode()
    assert secret not in reply.SerializeToString() and secret not in got.SerializeToString()
    listed = await mesh.agents.ListAgents(agent_pb2.ListAgentsRequest(), metadata=alice.metadata)
    assert secret not in listed.SerializeToString()
    assert all(secret not in data for _, data in await stored_bytes(mesh.settings, "agent"))
    row = await mesh.agent_unit.db.fetch_one("SELECT api_key_sealed FROM agents WHERE agent_id = ?",
                                             (agent.agent_id,))
    assert row is not None and row["api_key_sealed"].startswith("v1.")


async def test_defaults_come_from_the_type(mesh: Mesh, people: People) -> None:
    plain = await _create(mesh, people.alice)
    assert (plain.type, plain.provider, plain.model, plain.has_api_key) == ("custom", "", "", False)
    echo = await _create(mesh, people.alice, type="echo", system_prompt="Be brief.", tools=["search", "search", "calc"],
                         description="  answers  ")
    assert (echo.provider, echo.system_prompt, list(echo.tools), echo.description) == (
        "echo", "Be brief.", ["search", "calc"], "answers")
    chosen = await _create(mesh, people.alice, type="openai", provider="vllm", model="llama-3")
    assert (chosen.provider, chosen.model) == ("vllm", "llama-3")


async def test_bad_input_is_invalid_argument_with_every_field_named(mesh: Mesh, people: People) -> None:
    err = await fails(mesh.agents.CreateAgent(agent_pb2.CreateAgentRequest(
        name=" ", type="nope", provider="Open AI", model="m" * 201, tools=[""], api_key="k" * 5000,
    ), metadata=people.alice.metadata), Code.INVALID_ARGUMENT)
    assert set(violations(err)) == {"name", "type", "provider", "model", "tools[0]", "api_key"}
    assert "unknown agent type 'nope'" in violations(err)["type"]
    err = await fails(mesh.agents.CreateAgent(agent_pb2.CreateAgentRequest(
        name="x", type="openai", parameters=_params(temperature=5, max_tokens=1.5, foo=1, stop=["ok", 3]),
    ), metadata=people.alice.metadata), Code.INVALID_ARGUMENT)
    found = violations(err)
    assert found["parameters.temperature"] == "must be at most 2"
    assert found["parameters.max_tokens"] == "must be an integer"
    assert found["parameters.foo"].startswith("is not a parameter of this agent type")
    assert found["parameters.stop[1]"] == "must be a string"
    for blank in (mesh.agents.GetAgent(agent_pb2.GetAgentRequest(), metadata=people.alice.metadata),
                  mesh.agents.StartAgent(agent_pb2.StartAgentRequest(agent_id="  "), metadata=people.alice.metadata)):
        assert violations(await fails(blank, Code.INVALID_ARGUMENT)) == {"agent_id": "is required"}
    listed = await mesh.agents.ListAgents(agent_pb2.ListAgentsRequest(), metadata=people.alice.metadata)
    assert listed.total_size == 0  # nothing half-written
    for bad in (agent_pb2.ListAgentsRequest(status="sleeping"), agent_pb2.ListAgentsRequest(filter="secret=1"),
                agent_pb2.ListAgentsRequest(order_by="name sideways"), agent_pb2.ListAgentsRequest(page_token="zz"),
                agent_pb2.ListAgentsRequest(page_size=-1)):
        await fails(mesh.agents.ListAgents(bad, metadata=people.alice.metadata), Code.INVALID_ARGUMENT)


async def test_list_pages_filters_and_orders(mesh: Mesh, people: People) -> None:
    alice = people.alice
    for name, kind in (("carol", "echo"), ("alpha", "custom"), ("bravo", "echo")):
        await _create(mesh, alice, name, type=kind)
    await _create(mesh, people.bob, "bobs")
    first = await mesh.agents.ListAgents(agent_pb2.ListAgentsRequest(page_size=2), metadata=alice.metadata)
    assert (first.total_size, len(first.agents)) == (3, 2) and first.next_page_token
    rest = await mesh.agents.ListAgents(agent_pb2.ListAgentsRequest(page_size=2, page_token=first.next_page_token),
                                        metadata=alice.metadata)
    assert [a.name for a in [*first.agents, *rest.agents]] == ["carol", "alpha", "bravo"] and not rest.next_page_token
    by_name = await mesh.agents.ListAgents(agent_pb2.ListAgentsRequest(order_by="name desc"), metadata=alice.metadata)
    assert [a.name for a in by_name.agents] == ["carol", "bravo", "alpha"]
    echoes = await mesh.agents.ListAgents(agent_pb2.ListAgentsRequest(type="echo", order_by="name"),
                                          metadata=alice.metadata)
    assert [a.name for a in echoes.agents] == ["bravo", "carol"]
    matched = await mesh.agents.ListAgents(agent_pb2.ListAgentsRequest(filter='name:"AR" AND provider=echo'),
                                           metadata=alice.metadata)
    assert [a.name for a in matched.agents] == ["carol"]
    offset = await mesh.agents.ListAgents(agent_pb2.ListAgentsRequest(limit=1, offset=2), metadata=alice.metadata)
    assert [a.name for a in offset.agents] == ["bravo"]
    created = await mesh.agents.ListAgents(agent_pb2.ListAgentsRequest(status="created"), metadata=alice.metadata)
    running = await mesh.agents.ListAgents(agent_pb2.ListAgentsRequest(status="running"), metadata=alice.metadata)
    assert (created.total_size, running.total_size) == (3, 0)


async def test_update_follows_the_mask_or_the_fields_present(mesh: Mesh, people: People) -> None:
    alice = people.alice
    agent = await _create(mesh, alice, type="echo", description="old", tools=["a"], api_key="sk-first-key",
                          parameters=_params(temperature=0.5))
    # No mask: only the fields present change; an empty tool list is "not present".
    reply = await mesh.agents.UpdateAgent(agent_pb2.UpdateAgentRequest(agent_id=agent.agent_id, name="renamed"),
                                          metadata=alice.metadata)
    updated = reply.agent
    assert (updated.name, updated.description, list(updated.tools), updated.has_api_key) == (
        "renamed", "old", ["a"], True)
    assert updated.updated_at.ToNanoseconds() > agent.updated_at.ToNanoseconds()
    # With a mask: tools named with an empty list are cleared; the key is removed by an empty string.
    masked = await mesh.agents.UpdateAgent(agent_pb2.UpdateAgentRequest(
        agent_id=agent.agent_id, description="ignored", update_mask=field_mask_pb2.FieldMask(paths=["tools", "apiKey"]),
    ), metadata=alice.metadata)
    assert (masked.agent.description, list(masked.agent.tools), masked.agent.has_api_key) == ("old", [], False)
    params = await mesh.agents.UpdateAgent(agent_pb2.UpdateAgentRequest(
        agent_id=agent.agent_id, parameters=_params(max_tokens=64), provider=""), metadata=alice.metadata)
    assert dict(params.agent.parameters) == {"max_tokens": 64} and params.agent.provider == "echo"
    err = await fails(mesh.agents.UpdateAgent(agent_pb2.UpdateAgentRequest(
        agent_id=agent.agent_id, parameters=_params(temperature="hot"), name=""), metadata=alice.metadata),
        Code.INVALID_ARGUMENT)
    assert violations(err) == {"name": "is required", "parameters.temperature": "must be a number"}
    for paths in (["type"], ["status"], ["nonsense"]):
        err = await fails(mesh.agents.UpdateAgent(agent_pb2.UpdateAgentRequest(
            agent_id=agent.agent_id, update_mask=field_mask_pb2.FieldMask(paths=paths)), metadata=alice.metadata),
            Code.INVALID_ARGUMENT)
        assert "update_mask" in violations(err)
    after = await mesh.agents.GetAgent(agent_pb2.GetAgentRequest(agent_id=agent.agent_id), metadata=alice.metadata)
    assert after.agent == params.agent  # the refused updates changed nothing


async def test_delete_removes_the_agent(mesh: Mesh, people: People) -> None:
    agent = await _create(mesh, people.alice)
    await mesh.agents.DeleteAgent(agent_pb2.DeleteAgentRequest(agent_id=agent.agent_id), metadata=people.alice.metadata)
    await fails(mesh.agents.GetAgent(agent_pb2.GetAgentRequest(agent_id=agent.agent_id),
                                     metadata=people.alice.metadata), Code.NOT_FOUND)
    await fails(mesh.agents.DeleteAgent(agent_pb2.DeleteAgentRequest(agent_id=agent.agent_id),
                                        metadata=people.alice.metadata), Code.NOT_FOUND)


async def test_another_tenants_agent_is_not_found(mesh: Mesh, people: People) -> None:
    alice, bob = people.alice, people.bob
    agent = await _create(mesh, alice, type="echo")
    ident = agent.agent_id
    calls = (
        mesh.agents.GetAgent(agent_pb2.GetAgentRequest(agent_id=ident), metadata=bob.metadata),
        mesh.agents.UpdateAgent(agent_pb2.UpdateAgentRequest(agent_id=ident, name="mine"), metadata=bob.metadata),
        mesh.agents.StartAgent(agent_pb2.StartAgentRequest(agent_id=ident), metadata=bob.metadata),
        mesh.agents.StopAgent(agent_pb2.StopAgentRequest(agent_id=ident), metadata=bob.metadata),
        mesh.agents.TestAgent(agent_pb2.TestAgentRequest(agent_id=ident, prompt="hi"), metadata=bob.metadata),
        mesh.agents.DeleteAgent(agent_pb2.DeleteAgentRequest(agent_id=ident), metadata=bob.metadata),
        mesh.agents.CreateAgent(agent_pb2.CreateAgentRequest(name="x", organization_id=alice.tenant_id),
                                metadata=bob.metadata),
    )
    for call in calls:
        err = await fails(call, Code.NOT_FOUND)
        assert "not found" in err.details()
    listed = await mesh.agents.ListAgents(agent_pb2.ListAgentsRequest(), metadata=bob.metadata)
    assert listed.total_size == 0
    still = await mesh.agents.GetAgent(agent_pb2.GetAgentRequest(agent_id=ident), metadata=alice.metadata)
    assert still.agent == agent
    await fails(mesh.agents.ListAgents(agent_pb2.ListAgentsRequest()), Code.UNAUTHENTICATED)


async def test_admins_list_every_tenant_and_may_create_in_any(mesh: Mesh, people: People) -> None:
    mine = await _create(mesh, people.alice, "a1")
    theirs = await _create(mesh, people.bob, "b1", type="echo")
    await fails(mesh.agents.AdminListAgents(agent_pb2.AdminListAgentsRequest(), metadata=people.alice.metadata),
                Code.PERMISSION_DENIED)
    everything = await mesh.agents.AdminListAgents(agent_pb2.AdminListAgentsRequest(), metadata=people.admin.metadata)
    assert [a.agent_id for a in everything.agents] == [mine.agent_id, theirs.agent_id]
    only_bob = await mesh.agents.AdminListAgents(agent_pb2.AdminListAgentsRequest(tenant_id=people.bob.tenant_id),
                                                 metadata=people.admin.metadata)
    assert [a.agent_id for a in only_bob.agents] == [theirs.agent_id]
    by_filter = await mesh.agents.AdminListAgents(agent_pb2.AdminListAgentsRequest(
        filter=f"tenant_id={people.alice.tenant_id}", owner_id=people.alice.user_id), metadata=people.admin.metadata)
    assert [a.agent_id for a in by_filter.agents] == [mine.agent_id]
    placed = await _create(mesh, people.admin, "for bob", organization_id=people.bob.tenant_id)
    assert (placed.tenant_id, placed.owner_id) == (people.bob.tenant_id, people.admin.user_id)
    seen = await mesh.agents.ListAgents(agent_pb2.ListAgentsRequest(), metadata=people.bob.metadata)
    assert placed.agent_id in [a.agent_id for a in seen.agents]
