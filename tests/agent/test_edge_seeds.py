"""The seeds' agent, team and agent-definition endpoints over REST, through the real edge to the real units."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from edge.mesh import create_app
from services.admin.wiring import SPEC as ADMIN
from services.agent.wiring import SPEC as AGENT
from services.common.bootstrap import RunningUnit, start
from services.common.settings import Settings
from tests.auth.conftest import ADMIN_KEY

Client = TestClient[web.Request, web.Application]
SEEDS = Path(__file__).resolve().parents[1] / "fixtures" / "seed_bodies.json"


@pytest.fixture
async def edge(auth_unit: RunningUnit, settings: Settings, stack: AsyncExitStack) -> AsyncIterator[Client]:
    await start(ADMIN, settings, stack, port=settings.ports["admin"], metrics_port=0)
    await start(AGENT, settings, stack, port=settings.ports["agent"], metrics_port=0)
    async with TestClient(TestServer(create_app(settings))) as client:
        yield client


async def _bearer(edge: Client, email: str) -> tuple[dict[str, str], str]:
    reply = await edge.post("/api/v1/auth/register", json={"email": email, "password": "correct horse 1"})
    body = await reply.json()
    return {"Authorization": f"Bearer {body['access_token']}"}, body["user"]["tenant_id"]


async def test_seed_000_and_001_agent_endpoints(edge: Client) -> None:
    alice, tenant = await _bearer(edge, "alice@example.com")
    seed = next(b["body"] for b in json.loads(SEEDS.read_text())
                if b["method"] == "POST" and b["path"] == "/api/v1/agents")
    missing = await edge.post("/api/v1/agents", headers=alice, json=seed)
    assert missing.status == 404 and (await missing.json())["error"]["code"] == "NOT_FOUND"
    created = await edge.post("/api/v1/agents", headers=alice, json={**seed, "organization_id": tenant})
    assert created.status == 201
    agent = await created.json()
    assert (agent["type"], agent["has_api_key"], agent["status"]) == ("openai", True, "created")
    assert "api_key" not in agent and seed["api_key"] not in await created.text()
    path = f"/api/v1/agents/{agent['agent_id']}"
    assert (await (await edge.get(path, headers=alice)).json())["name"] == "My OpenAI Agent"
    updated = await edge.put(path, headers=alice, json={"description": "translator", "parameters": {"top_p": 2}})
    assert updated.status == 400
    problem = (await updated.json())["error"]
    assert problem["code"] == "INVALID_ARGUMENT" and "parameters.top_p" in json.dumps(problem["details"])
    started = await edge.post(f"{path}/start", headers=alice, json={})
    assert started.status == 200 and (await started.json())["status"] == "running"
    stopped = await edge.post(f"{path}/stop", headers=alice, json={})
    assert (await stopped.json())["status"] == "stopped"
    listed = await (await edge.get("/api/v1/agents?status=stopped&page_size=10", headers=alice)).json()
    assert [a["agent_id"] for a in listed["agents"]] == [agent["agent_id"]] and listed["total_size"] == 1

    team = await edge.post("/api/v1/teams", headers=alice, json={"name": "crew", "agent_ids": [agent["agent_id"]]})
    assert team.status == 201
    team_id = (await team.json())["team_id"]
    changed = await edge.put(f"/api/v1/teams/{team_id}", headers=alice, json={"strategy": "round_robin"})
    assert (await changed.json())["strategy"] == "round_robin"
    assert (await (await edge.get("/api/v1/teams", headers=alice)).json())["total_size"] == 1
    removed = await edge.delete(f"/api/v1/teams/{team_id}/members/{agent['agent_id']}", headers=alice)
    assert removed.status == 204
    assert (await edge.delete(f"/api/v1/teams/{team_id}", headers=alice)).status == 204

    bob, _ = await _bearer(edge, "bob@example.com")
    assert (await edge.get(path, headers=bob)).status == 404
    assert (await edge.get("/api/v1/admin/agents", headers=alice)).status == 403
    login = await edge.post("/api/v1/admin/login", json={"api_key": ADMIN_KEY})
    admin = {"Authorization": f"Bearer {(await login.json())['access_token']}"}
    everything = await (await edge.get("/api/v1/admin/agents", headers=admin)).json()
    assert [a["agent_id"] for a in everything["agents"]] == [agent["agent_id"]]
    assert (await edge.delete(path, headers=alice)).status == 204
    assert (await edge.get(path, headers=alice)).status == 404


async def test_seed_002_agent_definitions(edge: Client) -> None:
    user, _ = await _bearer(edge, "carol@example.com")
    login = await edge.post("/api/v1/admin/login", json={"api_key": ADMIN_KEY})
    admin = {"Authorization": f"Bearer {(await login.json())['access_token']}"}
    body = {"name": "summarizer", "display_name": "Summarizer", "default_provider": "echo",
            "parameter_schema": {"type": "object", "properties": {"length": {"type": "integer", "minimum": 10}}}}
    assert (await edge.post("/api/v1/admin/agent-definitions", headers=user, json=body)).status == 403
    created = await edge.post("/api/v1/admin/agent-definitions", headers=admin, json=body)
    assert created.status == 201
    definition = await created.json()
    path = f"/api/v1/admin/agent-definitions/{definition['definition_id']}"
    names = [d["name"] for d in (await (await edge.get("/api/v1/agent-definitions", headers=user)).json())
             ["definitions"]]
    assert names == ["custom", "echo", "openai", "summarizer"]
    assert (await (await edge.get(path, headers=user)).json())["display_name"] == "Summarizer"
    renamed = await edge.put(path, headers=admin, json={"display_name": "Summaries"})
    assert (await renamed.json())["display_name"] == "Summaries"
    refused = await edge.post("/api/v1/agents", headers=user, json={"name": "s", "type": "summarizer",
                                                                     "parameters": {"length": 3}})
    assert refused.status == 400
    assert (await edge.delete(path, headers=admin)).status == 204
    assert (await edge.get(path, headers=admin)).status == 404
