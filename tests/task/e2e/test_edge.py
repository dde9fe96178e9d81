"""The seeds' task and workflow endpoints through the edge, against the real units (REST in, gRPC behind)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from edge.mesh import create_app
from services.common.settings import Settings
from tests.auth.conftest import ADMIN_KEY
from tests.task.e2e.conftest import Mesh

SEEDS = Path(__file__).resolve().parents[2] / "fixtures" / "seed_bodies.json"


@pytest.fixture
async def edge(mesh: Mesh, settings: Settings) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(create_app(settings))) as client:
        yield client


async def _signed_in(edge: TestClient) -> dict[str, str]:
    reply = await edge.post("/api/v1/auth/register", json={"email": "rest@example.com", "password": "correct horse 1"})
    assert reply.status == 201, await reply.text()
    return {"Authorization": f"Bearer {(await reply.json())['access_token']}"}


async def test_seed_000_tasks_and_seed_001_workflows_over_rest(edge: TestClient) -> None:
    alice = await _signed_in(edge)
    agent = await edge.post("/api/v1/agents", headers=alice, json={"name": "rest agent", "type": "echo"})
    assert agent.status == 201, await agent.text()
    agent_id = (await agent.json())["agent_id"]

    created = await edge.post("/api/v1/tasks", headers=alice, json={"agent_id": agent_id, "input": "over rest",
                                                                    "priority": 2, "wait": True})
    assert created.status == 201, await created.text()
    task = await created.json()
    assert (task["status"], task["output"]) == ("succeeded", "echo: over rest")
    listed = await edge.get("/api/v1/tasks", headers=alice, params={"status": "succeeded"})
    assert [t["task_id"] for t in (await listed.json())["tasks"]] == [task["task_id"]]
    logs = await edge.get(f"/api/v1/tasks/{task['task_id']}/logs", headers=alice)
    assert (await logs.json())["entries"][0]["message"].startswith("queued for agent")
    queued = await (await edge.post("/api/v1/tasks", headers=alice, json={"team_id": "nope", "input": "x"})).json()
    assert queued["status_code"] == 404
    watched = await edge.get(f"/api/v1/tasks/{task['task_id']}/watch", headers={**alice,
                                                                               "Accept": "application/x-ndjson"})
    frames = [json.loads(line) for line in (await watched.text()).splitlines() if line.strip()]
    assert [(f["type"], f["status"]) for f in frames] == [("task.snapshot", "succeeded")]  # final: then the end
    # Seed 000's cancel is a DELETE that answers with the task.
    cancelled = await edge.delete(f"/api/v1/tasks/{task['task_id']}", headers=alice)
    assert cancelled.status == 200 and (await cancelled.json())["status"] == "succeeded"  # already finished
    bad = await edge.post("/api/v1/tasks", headers=alice, json={"agent_id": agent_id, "priority": 99999})
    assert bad.status == 400
    assert {v["field"] for v in (await bad.json())["error"]["details"][-1]["field_violations"]} == {"input",
                                                                                                  "priority"}

    workflow = await edge.post("/api/v1/workflows", headers=alice, json={
        "name": "hello", "steps": [{"step_id": "greet", "agent_id": agent_id}]})
    assert workflow.status == 201, await workflow.text()
    workflow_id = (await workflow.json())["workflow_id"]
    body = next(b["body"] for b in json.loads(SEEDS.read_text()) if b["path"] == "/api/v1/workflows/{id}/execute")
    started = await edge.post(f"/api/v1/workflows/{workflow_id}/execute", headers=alice, json=body)
    assert started.status == 202, await started.text()
    run = await started.json()
    assert run["status"] == "pending" and run["input_data"] == {"prompt": "Hello world"}
    for _ in range(100):
        got = await (await edge.get(f"/api/v1/workflows/{workflow_id}/runs/{run['run_id']}", headers=alice)).json()
        if got["status"] == "succeeded":
            break
        await asyncio.sleep(0.05)
    assert got["steps"][0]["output"] == "echo: Hello world" and got["output"] == {"greet": "echo: Hello world"}
    runs = await (await edge.get(f"/api/v1/workflows/{workflow_id}/runs", headers=alice)).json()
    assert [r["run_id"] for r in runs["runs"]] == [run["run_id"]]

    login = await edge.post("/api/v1/admin/login", json={"api_key": ADMIN_KEY})
    admin = {"Authorization": f"Bearer {(await login.json())['access_token']}"}
    everything = await (await edge.get("/api/v1/admin/workflows", headers=admin)).json()
    assert [w["workflow_id"] for w in everything["workflows"]] == [workflow_id]
    assert (await edge.get("/api/v1/admin/workflows", headers=alice)).status == 403
    deleted = await edge.delete(f"/api/v1/admin/workflows/{workflow_id}", headers=admin)
    assert deleted.status == 204
    assert (await edge.get(f"/api/v1/workflows/{workflow_id}", headers=alice)).status == 404
