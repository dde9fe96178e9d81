"""WebSockets and maintenance mode through the edge, against real units.

The admin and speech units are played by small servicers here (those units are
built in later issues): an event feed, a chat stream and the maintenance
switch; the auth unit is the real one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import pytest
from agentmesh.v1 import admin_pb2, common_pb2, speech_pb2
from aiohttp.test_utils import TestClient

from edge.app import DISPATCHER
from services.common import authctx
from services.common.bootstrap import Resources, RunningUnit, UnitSpec, start
from services.common.settings import Settings

PASSWORD = "correct horse 1"


class Events:
    def __init__(self) -> None:
        self.requests: list[Any] = []

    async def WatchEvents(self, request: Any, context: Any) -> AsyncIterator[Any]:
        self.requests.append(request)
        caller = authctx.current()
        n = 0
        while True:
            for kind in ("task.progress", "instance.status.changed", "system.notification"):
                n += 1
                event = common_pb2.Event(id=f"ev{n}", type=kind, tenant_id=caller.tenant_id)
                event.data.update({"n": n})
                yield admin_pb2.WatchEventsResponse(event=event)
            await asyncio.sleep(0.02)


class Platform:
    def __init__(self) -> None:
        self.enabled = False

    async def GetMaintenanceMode(self, request: Any, context: Any) -> Any:
        state = admin_pb2.MaintenanceMode(enabled=self.enabled, message="back at noon" if self.enabled else "")
        return admin_pb2.GetMaintenanceModeResponse(maintenance=state)


class Chat:
    async def StreamChat(self, request: Any, context: Any) -> AsyncIterator[Any]:
        for word in ("echo:", request.content):
            yield speech_pb2.StreamChatResponse(
                type="text", content=word, conversation_id=request.conversation_id or f"c-{request.user_id}"
            )


@pytest.fixture
async def fakes(auth_unit: RunningUnit, settings: Settings) -> AsyncIterator[dict[str, Any]]:
    servicers = {"events": Events(), "platform": Platform(), "chat": Chat()}

    async def admin(resources: Resources) -> dict[str, object]:
        return {"agentmesh.v1.EventService": servicers["events"],
                "agentmesh.v1.PlatformAdminService": servicers["platform"]}

    async def speech(resources: Resources) -> dict[str, object]:
        return {"agentmesh.v1.ChatService": servicers["chat"]}

    async with AsyncExitStack() as stack:
        for name, build in (("admin", admin), ("speech", speech)):
            await start(UnitSpec(name=name, build=build), settings, stack, port=settings.ports[name], metrics_port=0)
        yield servicers


async def _register(edge: TestClient, email: str) -> dict[str, Any]:
    response = await edge.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    assert response.status == 201
    return dict(await response.json())


async def test_seed_002_event_socket(fakes: dict[str, Any], edge: TestClient) -> None:
    user = await _register(edge, "ws@example.com")
    async with edge.ws_connect(f"/api/v1/ws?access_token={user['access_token']}") as socket:
        await socket.send_json({"type": "command", "event": "subscribe",
                                "data": {"events": ["instance.status.*"]}, "id": "cmd_123"})
        reply = await socket.receive_json(timeout=5)
        while reply["type"] == "event":  # events may arrive before the command's answer
            reply = await socket.receive_json(timeout=5)
        assert reply == {**reply, "type": "response", "event": "subscribe", "id": "cmd_123",
                         "data": {"events": ["instance.status.*"]}}
        kinds = set()
        for _ in range(5):
            frame = await socket.receive_json(timeout=5)
            assert frame["type"] == "event" and set(frame) >= {"event", "data", "id", "timestamp"}
            kinds.add(frame["event"])
        assert kinds == {"instance.status.changed"}
        await socket.send_json({"type": "command", "event": "ping", "id": "cmd_125"})
        await socket.send_json({"type": "command", "event": "foo", "id": "cmd_126"})
        answers = {}
        while len(answers) < 2:
            frame = await socket.receive_json(timeout=5)
            if frame["type"] != "event":
                answers[frame["id"]] = frame
        assert answers["cmd_125"]["event"] == "pong"
        assert answers["cmd_126"]["type"] == "error" and answers["cmd_126"]["error"] == "Invalid command"
        assert answers["cmd_126"]["data"]["command"] == "foo"
    # The unit received the caller's identity, not a forged one, and one call served every change
    # (the auth unit's own all-tenant feed of plan changes is not the edge's).
    assert len([r for r in fakes["events"].requests if not r.all_tenants]) == 1


async def test_event_socket_needs_a_credential(fakes: dict[str, Any], edge: TestClient) -> None:
    handshake = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
                 "Sec-WebSocket-Key": "x3JJHMbDL1EzLkh9GBhXDw=="}
    response = await edge.get("/ws", headers=handshake)
    assert response.status == 401


async def test_seed_003_chat_socket(fakes: dict[str, Any], edge: TestClient) -> None:
    user = await _register(edge, "chat@example.com")
    headers = {"Authorization": f"Bearer {user['access_token']}"}
    async with edge.ws_connect(f"/ws/{user['user']['user_id']}", headers=headers) as socket:
        await socket.send_json({"type": "text", "content": "Hello!"})
        first, second = await socket.receive_json(timeout=5), await socket.receive_json(timeout=5)
        assert (first["content"], second["content"]) == ("echo:", "Hello!")
        assert second["conversation_id"] == f"c-{user['user']['user_id']}"
        await socket.send_str("not json")
        error = await socket.receive_json(timeout=5)
        assert error["type"] == "error"
        await socket.send_json({"type": "text", "content": "again", "conversation_id": "c9"})
        frames = [await socket.receive_json(timeout=5) for _ in range(2)]
        assert frames[1] == {**frames[1], "content": "again", "conversation_id": "c9"}


async def test_maintenance_mode_keeps_users_out_but_not_admins(
    fakes: dict[str, Any], edge: TestClient, settings: Settings
) -> None:
    user = await _register(edge, "m@example.com")
    fakes["platform"].enabled = True
    edge_app = edge.server.app
    assert edge_app is not None
    gate = edge_app[DISPATCHER].authenticate
    await gate.maintenance.refresh()
    refused = await edge.get("/api/v1/users/me", headers={"Authorization": f"Bearer {user['access_token']}"})
    assert refused.status == 503 and (await refused.json())["detail"] == "back at noon"
    # Signing in stays possible (exempt), and admins are served.
    login = await edge.post("/api/v1/admin/login", json={"api_key": "test-admin-api-key-for-the-suite-0123456789"})
    assert login.status == 200
    admin_token = (await login.json())["access_token"]
    served = await edge.get("/api/v1/users/me", headers={"Authorization": f"Bearer {admin_token}"})
    assert served.status == 200
    fakes["platform"].enabled = False
    await gate.maintenance.refresh()
    again = await edge.get("/api/v1/users/me", headers={"Authorization": f"Bearer {user['access_token']}"})
    assert again.status == 200


async def test_a_socket_closes_4401_once_its_session_ends(fakes: dict[str, Any], edge: TestClient) -> None:
    user = await _register(edge, "bye@example.com")
    app = edge.server.app
    assert app is not None
    app[DISPATCHER].sockets.recheck_every = 0.05
    async with edge.ws_connect(f"/api/v1/ws?access_token={user['access_token']}") as socket:
        assert (await socket.receive_json(timeout=5))["type"] == "event"  # the feed runs
        logout = await edge.post("/api/v1/auth/logout", json={},
                                 headers={"Authorization": f"Bearer {user['access_token']}"})
        assert logout.status == 200
        while True:
            message = await socket.receive(timeout=5)
            if message.type.name in ("CLOSE", "CLOSED", "CLOSING"):
                break
        assert socket.close_code == 4401
