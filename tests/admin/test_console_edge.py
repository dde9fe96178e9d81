"""Seed 000's, 002's and 003's admin endpoints and seed 001's integrations through the real edge."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from edge.mesh import create_app
from tests.admin.console_mesh import Console, auth_unit, console_fixture, eventually, settings  # noqa: F401
from tests.auth.conftest import ADMIN_KEY, auth_channel, quick_throttle, stack  # noqa: F401

Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def edge(console: Console) -> AsyncIterator[Client]:
    """The edge on GATEWAY_PORT, where the admin unit's health checks look for it."""
    server = TestServer(create_app(console.settings), host="127.0.0.1", port=console.settings.gateway_port)
    async with TestClient(server) as client:
        yield client


async def _json(reply: Any, status: int) -> Any:
    assert reply.status == status, await reply.text()
    return await reply.json() if status != 204 else None


async def test_admin_console_over_rest(edge: Client) -> None:
    login = await _json(await edge.post("/api/v1/admin/login", json={"api_key": ADMIN_KEY}), 200)
    admin = {"Authorization": f"Bearer {login['access_token']}"}
    user = await _json(await edge.post("/api/v1/auth/register", json={"email": "ada@example.com",
                                                                      "password": "correct horse 1"}), 201)
    ada = {"Authorization": f"Bearer {user['access_token']}"}
    for path in ("/api/v1/admin/platform/stats", "/api/v1/admin/system/health", "/admin/monitoring/services",
                 "/admin/config", "/admin/config/history", "/api/v1/admin/audit", "/api/v1/admin/system/logs",
                 "/admin/bot/config", "/admin/bot/commands", "/admin/monitoring/metrics"):
        refused = await edge.get(path, headers=ada)
        assert refused.status == 403, path

    services = await _json(await edge.get("/admin/monitoring/services", headers=admin), 200)
    assert services["gateway"]["healthy"] is True and services["gateway"]["uptime"] >= 0  # seed 003's shape
    assert services["auth"]["healthy"] is True and services["persona"]["healthy"] is False
    health = await _json(await edge.get("/api/v1/admin/system/health", headers=admin), 200)
    assert health["status"] == "degraded" and health["services"]["llm"]["status"] == "healthy"
    assert (await _json(await edge.get("/admin/monitoring/health", headers=admin), 200))["version"]

    updated = await _json(await edge.put("/admin/config", headers=admin, json={"config": {"key": "value"}}), 200)
    assert updated["version"] == 1 and updated["config"]["key"] == "value"
    bad = await _json(await edge.patch("/api/v1/admin/system/config", headers=admin,
                                       json={"config": {"logs.retention_days": "forever"}}), 400)
    assert bad["error"]["code"] == "INVALID_ARGUMENT" and bad["status_code"] == 400
    fields = [v["field"] for d in bad["error"]["details"] for v in d.get("field_violations", [])]
    assert fields == ["config.logs.retention_days"]
    current = await _json(await edge.get("/api/v1/admin/system/config", headers=admin), 200)
    assert current["version"] == 1 and current["config"]["logs.retention_days"] == 14
    history = await _json(await edge.get("/admin/config/history", headers=admin), 200)
    assert [v["version"] for v in history["versions"]] == [1] and history["versions"][0]["changed_keys"] == ["key"]

    await _json(await edge.put("/admin/bot/config", headers=admin,
                               json={"config": {"max_file_size": 10485760, "supported_languages": ["en", "es"]}}),
                200)
    command = await _json(await edge.post("/admin/bot/commands", headers=admin,
                                           json={"name": "help", "response_text": "Ask me anything"}), 201)
    assert command["name"] == "help" and command["command_id"]
    path = f"/admin/bot/commands/{command['command_id']}"
    assert (await _json(await edge.put(path, headers=admin, json={"usage": "/help"}), 200))["usage"] == "/help"
    await _json(await edge.delete(path, headers=admin), 204)
    assert (await edge.delete(path, headers=admin)).status == 404
    status = await _json(await edge.get("/admin/bot/status", headers=admin), 200)
    assert status["status"] == "online"
    assert (await _json(await edge.get("/admin/bot/stats?start_date=2026-01-01", headers=admin), 200)) is not None

    stats = await _json(await edge.get("/api/v1/admin/platform/stats", headers=admin), 200)
    assert stats["total_users"] >= 2
    metrics = await _json(await edge.get("/admin/monitoring/metrics", headers=admin), 200)
    assert metrics["units"]["admin"]["memory_bytes"]
    await _json(await edge.get("/api/v1/admin/system/logs?level=warning", headers=admin), 200)

    async def audit() -> Any:
        return await _json(await edge.get("/api/v1/admin/audit?resource_type=config", headers=admin), 200)

    trail = await eventually(audit, lambda body: len(body.get("entries", [])) == 3)
    assert {e["resource_id"] for e in trail["entries"]} == {"system", "bot"}
    assert {e["outcome"] for e in trail["entries"]} == {"succeeded", "failed"}

    # Seed 001's integrations: a user's own, checked like every body.
    refused = await _json(await edge.post("/api/v1/integrations", headers=ada, json={
        "kind": "webhook", "name": "local", "url": "http://127.0.0.1:9/hook"}), 400)
    assert [v["field"] for d in refused["error"]["details"] for v in d.get("field_violations", [])] == ["url"]
    made = await _json(await edge.post("/api/v1/integrations", headers=ada, json={
        "kind": "teams", "name": "Team room", "url": "https://example.webhook.office.com/webhookb2/abc/def",
        "events": ["workflow.run.*"]}), 201)
    assert made["url"] == "https://example.webhook.office.com/webhookb2/****" and "secret" not in made
    listed = await _json(await edge.get("/api/v1/integrations", headers=ada), 200)
    assert [i["name"] for i in listed["integrations"]] == ["Team room"]
    await _json(await edge.delete(f"/api/v1/integrations/{made['integration_id']}", headers=ada), 204)
