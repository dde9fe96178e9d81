"""Seed 002's template and persona-instance endpoints and its WebSocket events, through the real edge."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from edge.mesh import create_app
from services.common.settings import Settings
from tests.auth.conftest import ADMIN_KEY
from tests.persona.conftest import Personas

Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def edge(personas: Personas, settings: Settings, stack: AsyncExitStack) -> AsyncIterator[Client]:
    async with TestClient(TestServer(create_app(settings))) as client:
        yield client


async def _user(edge: Client, email: str) -> dict[str, str]:
    reply = await edge.post("/api/v1/auth/register", json={"email": email, "password": "correct horse 1"})
    return {"Authorization": f"Bearer {(await reply.json())['access_token']}"}


async def _json(reply: Any, status: int) -> Any:
    assert reply.status == status, await reply.text()
    return await reply.json() if status != 204 else None


async def test_seed_002_templates_and_instances_over_rest_and_websocket(edge: Client) -> None:
    login = await _json(await edge.post("/api/v1/admin/login", json={"api_key": ADMIN_KEY}), 200)
    admin = {"Authorization": f"Bearer {login['access_token']}"}
    alice = await _user(edge, "alice@example.com")

    refused = await edge.post("/api/v1/templates", headers=alice, json={"name": "mine"})
    assert refused.status == 403 and (await refused.json())["error"]["code"] == "PERMISSION_DENIED"
    template = await _json(await edge.post("/api/v1/templates", headers=admin, json={
        "name": "Concierge", "category": "assistant", "systemPrompt": "You are {{name}}.", "published": True,
        "config": {"temperature": 0.5, "variables": {"name": "Max"}}, "overridableKeys": ["temperature"]}), 201)
    template_id = template["template_id"]
    listed = await _json(await edge.get("/api/v1/templates?category=assistant", headers=alice), 200)
    assert [t["name"] for t in listed["templates"]] == ["Concierge"] and listed["total_size"] == 1
    checked = await _json(await edge.post(f"/api/v1/templates/{template_id}/validate", headers=admin,
                                          json={"config": {"temperature": 5}}), 200)
    assert checked["valid"] is False and checked["problems"][0]["field"] == "config.temperature"
    clone = await _json(await edge.post(f"/api/v1/templates/{template_id}/clone", headers=admin, json={}), 201)
    assert clone["name"] == "Concierge (copy)"
    assert (await _json(await edge.put(f"/api/v1/templates/{clone['template_id']}", headers=admin,
                                       json={"description": "v2"}), 200))["version"] == 2
    await _json(await edge.delete(f"/api/v1/templates/{clone['template_id']}", headers=admin), 204)

    instance = await _json(await edge.post("/api/v1/personas/instances", headers=alice, json={
        "template_id": template_id, "name": "My concierge", "overrides": {"temperature": 0.9}}), 201)
    path = f"/api/v1/personas/instances/{instance['instance_id']}"
    assert instance["effective_config"]["temperature"] == 0.9 and instance["status"] == "idle"
    bad = await edge.post(f"{path}/execute", headers=alice, json={})
    problem = await _json(bad, 400)
    assert problem["error"]["code"] == "INVALID_ARGUMENT" and problem["status_code"] == 400

    async with edge.ws_connect("/api/v1/ws", headers=alice) as socket:
        await socket.send_json({"type": "command", "event": "subscribe", "id": "cmd_1",
                                "data": {"events": ["instance.status.*", "execution.complete*"]}})
        assert (await socket.receive_json(timeout=5))["type"] == "response"
        execution = await _json(await edge.post(f"{path}/execute", headers=alice,
                                                json={"input": "book a table"}), 202)
        assert execution["status"] == "queued"
        frames = [await socket.receive_json(timeout=5) for _ in range(3)]
    assert [f["event"] for f in frames] == ["instance.status.changed", "execution.completed",
                                            "instance.status.changed"]
    assert {k: frames[0]["data"][k] for k in ("instance_id", "previous_status", "new_status")} == {
        "instance_id": instance["instance_id"], "previous_status": "idle", "new_status": "running"}
    assert frames[1]["data"]["output"] == "echo: book a table" and frames[2]["data"]["new_status"] == "idle"

    history = await _json(await edge.get(f"{path}/history", headers=alice), 200)
    assert [e["status"] for e in history["executions"]] == ["completed"]
    logs = await _json(await edge.get(f"{path}/logs?level=info", headers=alice), 200)
    assert logs["entries"][0]["message"] == "instance created" and logs["total_size"] == 5
    stopped = await _json(await edge.post(f"{path}/stop", headers=alice, json={}), 200)
    assert stopped["status"] == "stopped"

    bob = await _user(edge, "bob@example.com")
    assert (await edge.get(path, headers=bob)).status == 404
    await _json(await edge.delete(path, headers=alice), 204)
    assert (await edge.get(path, headers=alice)).status == 404
