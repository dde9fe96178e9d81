"""TestAgent through the real speech unit, and ResolveWorkers for units only.

An OpenAI-compatible provider is played by a small local HTTP server (the
outside system), so that the agent's decrypted key can be seen arriving where
the speech unit sends it.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from agentmesh.v1 import agent_pb2
from aiohttp import web
from aiohttp.test_utils import TestServer
from google.protobuf import struct_pb2

from services.common.settings import Settings
from tests.agent.conftest import Mesh, People, env_for, fails, violations
from tests.auth.conftest import Account

Code = grpc.StatusCode
_prompts = itertools.count(1)


class ChatServer:
    """Answers POST /v1/chat/completions like an OpenAI-compatible server and records each request."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []
        self.app = web.Application()
        self.app.router.add_post("/v1/chat/completions", self._complete)

    async def _complete(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.seen.append((request.headers.get("Authorization", ""), body))
        text = f"heard {body['messages'][-1]['content']}"
        return web.json_response({
            "id": "c1", "object": "chat.completion", "model": body.get("model", ""),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        })


@pytest.fixture
async def chat_server() -> AsyncIterator[tuple[ChatServer, str]]:
    fake = ChatServer()
    server = TestServer(fake.app, host="127.0.0.1")
    await server.start_server()
    try:
        yield fake, f"http://127.0.0.1:{server.port}/v1"
    finally:
        await server.close()


@pytest.fixture
def settings(tmp_path: Path, chat_server: tuple[ChatServer, str]) -> Settings:
    return Settings.from_env(env_for(tmp_path, OPENAI_BASE_URL=chat_server[1]))


def _prompt() -> str:
    return f"prompt number {next(_prompts)} for the test"


async def _agent(mesh: Mesh, who: Account, **fields: Any) -> agent_pb2.Agent:
    reply = await mesh.agents.CreateAgent(agent_pb2.CreateAgentRequest(name=fields.pop("name", "a"), **fields),
                                          metadata=who.metadata)
    agent: agent_pb2.Agent = reply.agent
    return agent


def _struct(**values: Any) -> struct_pb2.Struct:
    result = struct_pb2.Struct()
    result.update(values)
    return result


async def test_test_agent_answers_through_the_speech_unit(mesh: Mesh, people: People) -> None:
    await mesh.start_speech()
    alice = people.alice
    agent = await _agent(mesh, alice, type="echo", system_prompt="Be terse.", parameters=_struct(max_tokens=4))
    try:
        reply = await mesh.agents.TestAgent(agent_pb2.TestAgentRequest(agent_id=agent.agent_id,
                                                                       prompt="one two three four five"),
                                            metadata=alice.metadata)
    except grpc.aio.AioRpcError as exc:
        if exc.code() == Code.UNIMPLEMENTED:
            pytest.xfail("the speech unit's LlmService.Generate is not built yet")
        raise
    assert reply.output == "echo: one two three"  # max_tokens 4 from the agent's parameters reached the model
    assert (reply.provider, reply.usage.completion_tokens) == ("echo", 4)
    assert reply.usage.prompt_tokens == 2 + 5  # the system prompt's two words went along
    assert reply.latency_ms >= 0 and reply.model
    override = await mesh.agents.TestAgent(agent_pb2.TestAgentRequest(
        agent_id=agent.agent_id, input="alpha beta gamma", parameters=_struct(max_tokens=2)), metadata=alice.metadata)
    assert override.output == "echo: alpha"
    # The agent itself is unchanged by a test's overrides, and needs no start.
    again = await mesh.agents.GetAgent(agent_pb2.GetAgentRequest(agent_id=agent.agent_id), metadata=alice.metadata)
    assert (dict(again.agent.parameters), again.agent.status) == ({"max_tokens": 4}, "created")


async def test_the_agents_own_key_reaches_the_provider(mesh: Mesh, people: People,
                                                       chat_server: tuple[ChatServer, str]) -> None:
    await mesh.start_speech()
    fake, _ = chat_server
    alice = people.alice
    agent = await _agent(mesh, alice, type="openai", model="local-model", api_key="sk-agents-own-key",
                         system_prompt="You translate.", parameters=_struct(temperature=0.25, top_p=0.5))
    prompt = _prompt()
    try:
        reply = await mesh.agents.TestAgent(agent_pb2.TestAgentRequest(agent_id=agent.agent_id, prompt=prompt),
                                            metadata=alice.metadata)
    except grpc.aio.AioRpcError as exc:
        if exc.code() == Code.UNIMPLEMENTED:
            pytest.xfail("the speech unit's LlmService.Generate is not built yet")
        raise
    assert (reply.output, reply.provider, reply.model) == (f"heard {prompt}", "openai", "local-model")
    [(authorization, body)] = fake.seen
    assert authorization == "Bearer sk-agents-own-key"
    assert body["model"] == "local-model" and body["temperature"] == 0.25
    assert body["messages"][0] == {"role": "system", "content": "You translate."}


async def test_test_agent_errors(mesh: Mesh, people: People) -> None:
    alice = people.alice
    agent = await _agent(mesh, alice, type="echo")
    err = await fails(mesh.agents.TestAgent(agent_pb2.TestAgentRequest(agent_id=agent.agent_id, prompt="  "),
                                            metadata=alice.metadata), Code.INVALID_ARGUMENT)
    assert set(violations(err)) == {"prompt"}
    err = await fails(mesh.agents.TestAgent(agent_pb2.TestAgentRequest(
        agent_id=agent.agent_id, prompt="hi", parameters=_struct(temperature=9)), metadata=alice.metadata),
        Code.INVALID_ARGUMENT)
    assert violations(err) == {"parameters.temperature": "must be at most 2"}
    # A type without a schema lets any parameters through; what the model call cannot take is still refused.
    await mesh.definitions.CreateAgentDefinition(agent_pb2.CreateAgentDefinitionRequest(name="free"),
                                                 metadata=people.admin.metadata)
    custom = await _agent(mesh, alice, type="free", parameters=_struct(max_tokens=-3))
    err = await fails(mesh.agents.TestAgent(agent_pb2.TestAgentRequest(agent_id=custom.agent_id, prompt="hi"),
                                            metadata=alice.metadata), Code.INVALID_ARGUMENT)
    assert "parameters.max_tokens" in violations(err)
    # The speech unit is not running: its unavailability reaches the caller as such.
    err = await fails(mesh.agents.TestAgent(agent_pb2.TestAgentRequest(agent_id=agent.agent_id, prompt=_prompt()),
                                            metadata=alice.metadata), Code.UNAVAILABLE)
    assert err.details().startswith("speech unit:")


# -- ResolveWorkers -------------------------------------------------------------------------------------------------


async def _resolve(mesh: Mesh, metadata: list[tuple[str, str]], **fields: str) -> agent_pb2.ResolveWorkersResponse:
    reply: agent_pb2.ResolveWorkersResponse = await mesh.agents.ResolveWorkers(
        agent_pb2.ResolveWorkersRequest(**fields), metadata=metadata)
    return reply


async def test_resolve_workers_is_for_units_only(mesh: Mesh, people: People) -> None:
    agent = await _agent(mesh, people.alice)
    for who in (people.alice, people.admin):
        await fails(_resolve(mesh, who.metadata, agent_id=agent.agent_id), Code.PERMISSION_DENIED)
    # A service token alone acts for nobody: the unit must name the user it acts for.
    await fails(_resolve(mesh, await mesh.service_metadata(), agent_id=agent.agent_id), Code.PERMISSION_DENIED)


async def test_resolve_workers_gives_agents_with_their_keys(mesh: Mesh, people: People) -> None:
    alice, bob = people.alice, people.bob
    unit = [*await mesh.service_metadata(), ("x-user-id", alice.user_id), ("x-client-id", alice.tenant_id)]
    keyed = await _agent(mesh, alice, name="keyed", type="echo", api_key="sk-resolve-me")
    plain = await _agent(mesh, alice, name="plain", type="echo")
    [runtime] = (await _resolve(mesh, unit, agent_id=keyed.agent_id)).agents
    assert (runtime.api_key, runtime.agent.agent_id, runtime.agent.has_api_key) == ("sk-resolve-me", keyed.agent_id,
                                                                                    True)
    team = (await mesh.teams.CreateTeam(agent_pb2.CreateTeamRequest(
        name="t", strategy="first_answer", agent_ids=[plain.agent_id, keyed.agent_id]), metadata=alice.metadata)).team
    resolved = await _resolve(mesh, unit, team_id=team.team_id)
    assert [(r.agent.agent_id, r.api_key) for r in resolved.agents] == [(plain.agent_id, ""),
                                                                        (keyed.agent_id, "sk-resolve-me")]
    assert (resolved.strategy, resolved.team.team_id, list(resolved.team.agent_ids)) == (
        "first_answer", team.team_id, [plain.agent_id, keyed.agent_id])
    assert list(resolved.agents[0].agent.team_ids) == [team.team_id]
    # Another tenant's agent or team is not found for a unit acting for bob.
    for_bob = [*await mesh.service_metadata(), ("x-user-id", bob.user_id), ("x-client-id", bob.tenant_id)]
    await fails(_resolve(mesh, for_bob, agent_id=keyed.agent_id), Code.NOT_FOUND)
    await fails(_resolve(mesh, for_bob, team_id=team.team_id), Code.NOT_FOUND)
    for fields in ({}, {"agent_id": keyed.agent_id, "team_id": team.team_id}):
        err = await fails(_resolve(mesh, unit, **fields), Code.INVALID_ARGUMENT)
        assert set(violations(err)) == {"agent_id", "team_id"}


async def test_stopped_agents_take_no_tasks(mesh: Mesh, people: People) -> None:
    alice = people.alice
    unit = [*await mesh.service_metadata(), ("x-user-id", alice.user_id), ("x-client-id", alice.tenant_id)]
    agent = await _agent(mesh, alice, type="echo")
    other = await _agent(mesh, alice, type="echo", name="other")
    team = (await mesh.teams.CreateTeam(agent_pb2.CreateTeamRequest(name="t", agent_ids=[other.agent_id,
                                                                                          agent.agent_id]),
                                        metadata=alice.metadata)).team
    assert len((await _resolve(mesh, unit, agent_id=agent.agent_id)).agents) == 1  # created: takes tasks (seed 001)
    await mesh.agents.StartAgent(agent_pb2.StartAgentRequest(agent_id=agent.agent_id), metadata=alice.metadata)
    assert (await _resolve(mesh, unit, agent_id=agent.agent_id)).agents[0].agent.status == "running"
    await mesh.agents.StopAgent(agent_pb2.StopAgentRequest(agent_id=agent.agent_id), metadata=alice.metadata)
    err = await fails(_resolve(mesh, unit, agent_id=agent.agent_id), Code.FAILED_PRECONDITION)
    assert "is not running" in err.details()
    err = await fails(_resolve(mesh, unit, team_id=team.team_id), Code.FAILED_PRECONDITION)
    assert agent.agent_id in err.details()
    empty = (await mesh.teams.CreateTeam(agent_pb2.CreateTeamRequest(name="empty"), metadata=alice.metadata)).team
    err = await fails(_resolve(mesh, unit, team_id=empty.team_id), Code.FAILED_PRECONDITION)
    assert "no members" in err.details()


async def test_resolve_workers_acting_for_the_submitter(mesh: Mesh, people: People) -> None:
    alice = people.alice
    agent = await _agent(mesh, alice, api_key="sk-delegated")
    delegated = [*await mesh.service_metadata(), ("x-user-id", alice.user_id), ("x-client-id", alice.tenant_id),
                 ("x-user-role", "user")]
    [runtime] = (await _resolve(mesh, delegated, agent_id=agent.agent_id)).agents
    assert runtime.api_key == "sk-delegated"
