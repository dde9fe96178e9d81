"""Issue 6's walk through the edge, REST and WebSocket only, against the real auth, admin, agent, speech and
task units: an agent started and given a task watched to completion, its logs, a long task cancelled, a team
task, a three-step workflow passing outputs along, and a second tenant that sees and touches none of it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from edge.mesh import create_app
from services.common.settings import Settings
from tests.task.e2e.conftest import Mesh
from tests.task.e2e.llm_server import HoldingModelServer

PASSWORD = "correct horse 1"


@pytest.fixture
async def edge(mesh: Mesh, settings: Settings) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(create_app(settings))) as client:
        yield client


async def _user(edge: TestClient, email: str) -> dict[str, str]:
    reply = await edge.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    assert reply.status == 201, await reply.text()
    return {"Authorization": f"Bearer {(await reply.json())['access_token']}"}


async def _json(response: Any, status: int) -> Any:
    assert response.status == status, await response.text()
    return await response.json()


async def test_agents_tasks_teams_and_workflows_through_the_edge(
    edge: TestClient, model_server: HoldingModelServer
) -> None:
    alice, bob = await _user(edge, "alice@example.com"), await _user(edge, "bob@example.com")

    agent = await _json(await edge.post("/api/v1/agents", headers=alice, json={"name": "scribe", "type": "echo"}), 201)
    started = await _json(await edge.post(f"/api/v1/agents/{agent['agent_id']}/start", headers=alice, json={}), 200)
    assert started["status"] == "running"

    # A task, watched to completion over WebSocket, then its logs.
    task = await _json(await edge.post("/api/v1/tasks", headers=alice,
                                       json={"agent_id": agent["agent_id"], "input": "write a haiku"}), 201)
    assert task["status"] in ("queued", "running", "succeeded")
    frames = []
    async with edge.ws_connect(f"/api/v1/tasks/{task['task_id']}/ws", headers=alice) as socket:
        async for message in socket:
            frames.append(message.json())
    assert frames and frames[-1]["status"] == "succeeded"
    done = await _json(await edge.get(f"/api/v1/tasks/{task['task_id']}", headers=alice), 200)
    assert (done["status"], done["output"]) == ("succeeded", "echo: write a haiku")
    logs = await _json(await edge.get(f"/api/v1/tasks/{task['task_id']}/logs", headers=alice), 200)
    assert len(logs["entries"]) >= 2

    # A long task (the model holds the call open) is cancelled; the model call is dropped within a second.
    remote = await _json(await edge.post("/api/v1/agents", headers=alice, json={
        "name": "remote", "type": "openai", "provider": "openai", "api_key": "sk-test-walk"}), 201)
    long = await _json(await edge.post("/api/v1/tasks", headers=alice,
                                       json={"agent_id": remote["agent_id"], "input": "hold: a long one"}), 201)
    await _until(lambda: model_server.holding > 0)
    assert (await edge.delete(f"/api/v1/tasks/{long['task_id']}", headers=bob)).status == 404  # not bob's
    cancelled = await _json(await edge.delete(f"/api/v1/tasks/{long['task_id']}", headers=alice), 200)
    assert cancelled["status"] == "cancelled"
    await _until(lambda: model_server.abandoned["hold: a long one"] > 0, within=1.0)
    model_server.release()

    # A team task: a sequential team passes each member's answer to the next.
    second = await _json(await edge.post("/api/v1/agents", headers=alice, json={"name": "editor", "type": "echo"}), 201)
    team = await _json(await edge.post("/api/v1/teams", headers=alice, json={
        "name": "pair", "strategy": "sequential", "agent_ids": [agent["agent_id"], second["agent_id"]]}), 201)
    team_task = await _json(await edge.post("/api/v1/tasks", headers=alice, json={
        "team_id": team["team_id"], "input": "draft", "wait": True}), 201)
    assert (team_task["status"], team_task["output"]) == ("succeeded", "echo: echo: draft")

    # A three-step workflow whose steps pass their outputs along.
    workflow = await _json(await edge.post("/api/v1/workflows", headers=alice, json={"name": "chain", "steps": [
        {"step_id": "one", "agent_id": agent["agent_id"], "prompt_template": "{{input.topic}}"},
        {"step_id": "two", "agent_id": agent["agent_id"], "prompt_template": "more {{steps.one.output}}",
         "depends_on": ["one"]},
        {"step_id": "three", "agent_id": second["agent_id"], "prompt_template": "last {{steps.two.output}}",
         "depends_on": ["two"]},
    ]}), 201)
    run = await _json(await edge.post(f"/api/v1/workflows/{workflow['workflow_id']}/execute", headers=alice,
                                      json={"input_data": {"topic": "otters"}, "async_execution": False}), 202)
    assert run["status"] == "succeeded"
    assert {s["step_id"]: s["output"] for s in run["steps"]}["three"] == "echo: last echo: more echo: otters"

    # Tenant B sees none of it and can touch none of it: 404, never 403-with-data.
    for path in (f"/api/v1/agents/{agent['agent_id']}", f"/api/v1/tasks/{task['task_id']}",
                 f"/api/v1/teams/{team['team_id']}", f"/api/v1/workflows/{workflow['workflow_id']}",
                 f"/api/v1/workflows/{workflow['workflow_id']}/runs/{run['run_id']}"):
        assert (await edge.get(path, headers=bob)).status == 404, path
    assert (await edge.post(f"/api/v1/tasks/{task['task_id']}/cancel", headers=bob, json={})).status == 404
    assert (await edge.post(f"/api/v1/agents/{agent['agent_id']}/stop", headers=bob, json={})).status == 404
    assert (await _json(await edge.get("/api/v1/tasks", headers=bob), 200))["tasks"] == []


async def _until(condition: Any, within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "not in time"
        await asyncio.sleep(0.02)
