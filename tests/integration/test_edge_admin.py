"""Maintenance mode end to end: an admin flips it over REST, users see the event and then 503."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import pytest
from aiohttp.test_utils import TestClient

from edge.app import DISPATCHER
from services.admin.wiring import SPEC as ADMIN
from services.common.bootstrap import RunningUnit, start
from services.common.settings import Settings
from tests.auth.conftest import ADMIN_KEY


@pytest.fixture
async def admin_unit(auth_unit: RunningUnit, settings: Settings) -> AsyncIterator[RunningUnit]:
    async with AsyncExitStack() as stack:
        yield await start(ADMIN, settings, stack, port=settings.ports["admin"], metrics_port=0)


async def test_maintenance_through_the_edge(admin_unit: RunningUnit, edge: TestClient) -> None:
    account = {"email": "u@example.com", "password": "correct horse 1"}
    registered = await edge.post("/api/v1/auth/register", json=account)
    user = {"Authorization": f"Bearer {(await registered.json())['access_token']}"}
    login = await edge.post("/api/v1/admin/login", json={"api_key": ADMIN_KEY})
    admin = {"Authorization": f"Bearer {(await login.json())['access_token']}"}

    async with edge.ws_connect("/api/v1/ws", headers=user) as socket:
        await socket.send_json({"type": "command", "event": "subscribe", "data": {"events": ["system.*"]}, "id": "1"})
        assert (await socket.receive_json(timeout=5))["type"] == "response"
        switched = await edge.post("/api/v1/admin/system/maintenance", headers=admin,
                                   json={"enabled": True, "message": "upgrading the database"})
        assert switched.status == 200 and (await switched.json())["enabled"] is True
        frame = await socket.receive_json(timeout=5)
        assert frame["event"] == "system.maintenance" and frame["data"]["enabled"] is True

    state = await edge.get("/api/v1/system/maintenance")
    assert (await state.json())["message"] == "upgrading the database"
    app = edge.server.app
    assert app is not None
    await app[DISPATCHER].authenticate.maintenance.refresh()  # type: ignore[union-attr]
    refused = await edge.get("/api/v1/users/me", headers=user)
    assert refused.status == 503 and (await refused.json())["detail"] == "upgrading the database"
    assert (await edge.get("/api/v1/users/me", headers=admin)).status == 200
    off = await edge.post("/api/v1/admin/system/maintenance", headers=admin, json={"enabled": False})
    assert (await off.json())["enabled"] is False
    await app[DISPATCHER].authenticate.maintenance.refresh()  # type: ignore[union-attr]
    assert (await edge.get("/api/v1/users/me", headers=user)).status == 200
