"""Events end to end: the real auth and admin units behind the edge, over WebSocket, SSE and NDJSON."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient

from edge.app import DISPATCHER
from services.admin import wiring as admin_wiring
from services.admin.hub import EventServicer
from services.common.bootstrap import Resources, RunningUnit, UnitSpec, start
from services.common.events import MemoryEventBus
from services.common.settings import Settings
from tests.auth.conftest import ADMIN_KEY

PASSWORD = "correct horse 1"


@pytest.fixture
async def hub(auth_unit: RunningUnit, settings: Settings) -> AsyncIterator[MemoryEventBus]:
    """The real admin unit on its configured port; the test sees its bus to check feeds end."""
    built: dict[str, Any] = {}

    async def build(resources: Resources) -> Any:
        built.update(await admin_wiring.build(resources))
        return built

    async with AsyncExitStack() as stack:
        await start(UnitSpec("admin", build, admin_wiring.SPEC.migrations), settings, stack,
                    port=settings.ports["admin"], metrics_port=0)
        servicer = built["agentmesh.v1.EventService"]
        assert isinstance(servicer, EventServicer) and isinstance(servicer.bus, MemoryEventBus)
        yield servicer.bus


async def _user(edge: TestClient, email: str) -> dict[str, Any]:
    response = await edge.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    assert response.status == 201
    body = dict(await response.json())
    return {"token": body["access_token"], "tenant": body["user"]["tenant_id"],
            "headers": {"Authorization": f"Bearer {body['access_token']}"}}


async def _admin(edge: TestClient) -> dict[str, str]:
    login = await edge.post("/api/v1/admin/login", json={"api_key": ADMIN_KEY})
    return {"Authorization": f"Bearer {(await login.json())['access_token']}"}


async def _subscribe(socket: Any, *patterns: str) -> None:
    await socket.send_json({"type": "command", "event": "subscribe", "data": {"events": list(patterns)}, "id": "s"})
    reply = await socket.receive_json(timeout=5)
    assert reply["type"] == "response" and reply["data"]["events"] == list(patterns)


def _client_feeds(hub: MemoryEventBus) -> int:
    """Feeds opened for callers of one tenant (the units' own all-tenant followers left out)."""
    return sum(1 for seen in hub.filters() if not seen.all_tenants)


async def _until(condition: Any, within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_broadcasts_reach_their_tenant_only(hub: MemoryEventBus, edge: TestClient) -> None:
    alice, bob = await _user(edge, "alice@example.com"), await _user(edge, "bob@example.com")
    assert alice["tenant"] != bob["tenant"]
    admin = await _admin(edge)
    async with edge.ws_connect("/ws", headers=alice["headers"]) as a, \
            edge.ws_connect("/api/v1/ws", headers=bob["headers"]) as b:
        await _subscribe(a, "system.notification")
        await _subscribe(b, "system.*")
        for body in ({"message": "for A", "tenant_id": alice["tenant"]}, {"message": "for all", "level": "warning"}):
            sent = await edge.post("/api/v1/admin/broadcast", json=body, headers=admin)
            assert sent.status == 200, await sent.text()
        got_a = [await a.receive_json(timeout=5) for _ in range(2)]
        got_b = await b.receive_json(timeout=5)
        assert [f["data"]["message"] for f in got_a] == ["for A", "for all"]
        assert got_b["data"]["message"] == "for all" and got_b["data"]["level"] == "warning"
        with pytest.raises(asyncio.TimeoutError):
            await b.receive_json(timeout=0.3)  # tenant A's broadcast never reaches tenant B
    refused = await edge.post("/api/v1/admin/broadcast", json={"message": "x"}, headers=alice["headers"])
    assert refused.status == 403


async def test_sse_and_ndjson_carry_what_the_socket_carries(hub: MemoryEventBus, edge: TestClient) -> None:
    user = await _user(edge, "streams@example.com")
    admin = await _admin(edge)
    sse = await edge.get("/api/v1/events?patterns=system.notification",
                         headers={**user["headers"], "Accept": "text/event-stream"})
    ndjson = await edge.get("/api/v1/events?patterns=system.notification", headers=user["headers"])
    async with edge.ws_connect("/api/v1/ws", headers=user["headers"]) as socket:
        await _subscribe(socket, "system.notification")
        await _until(lambda: _client_feeds(hub) == 3)
        for text in ("one", "two"):
            assert (await edge.post("/api/v1/admin/broadcast", json={"message": text}, headers=admin)).status == 200
        over_ws = [await socket.receive_json(timeout=5) for _ in range(2)]
    assert sse.status == 200 and sse.headers["Content-Type"].startswith("text/event-stream")
    assert ndjson.headers["Content-Type"].startswith("application/x-ndjson")
    sse_events: list[dict[str, Any]] = []
    sse_ids: list[str] = []
    while len(sse_events) < 2:
        line = (await asyncio.wait_for(sse.content.readline(), 5)).decode().strip()
        if line.startswith("id: "):
            sse_ids.append(line[4:])
        elif line.startswith("data: "):
            sse_events.append(json.loads(line[6:]))
    nd_events = [json.loads(await asyncio.wait_for(ndjson.content.readline(), 5)) for _ in range(2)]
    sse.close()
    ndjson.close()
    expected = [(f["id"], f["data"]["message"]) for f in over_ws]
    assert [(e["id"], e["data"]["message"]) for e in sse_events] == expected
    assert [(e["id"], e["data"]["message"]) for e in nd_events] == expected
    assert sse_ids == [i for i, _ in expected]  # SSE clients resume with Last-Event-ID


async def test_sockets_of_one_user_share_one_feed_that_ends_with_them(hub: MemoryEventBus, edge: TestClient) -> None:
    user = await _user(edge, "tabs@example.com")
    other = await _user(edge, "other@example.com")
    sockets = [await edge.ws_connect("/api/v1/ws", headers=user["headers"]) for _ in range(3)]
    sockets.append(await edge.ws_connect("/api/v1/ws", headers=other["headers"]))
    await _until(lambda: _client_feeds(hub) == 2)  # one upstream feed per principal, not per socket
    for socket in sockets[:3]:
        await _subscribe(socket, "system.*")
    admin = await _admin(edge)
    assert (await edge.post("/api/v1/admin/broadcast", json={"message": "hi"}, headers=admin)).status == 200
    for socket in sockets[:3]:
        assert (await socket.receive_json(timeout=5))["data"]["message"] == "hi"
    for socket in sockets:
        await socket.close()
    await _until(lambda: _client_feeds(hub) == 0)  # the unit's feeds end when the clients leave


async def test_socket_limits(hub: MemoryEventBus, edge: TestClient) -> None:
    user = await _user(edge, "limits@example.com")
    app = edge.server.app
    assert app is not None
    limits = app[DISPATCHER].sockets.limits
    async with edge.ws_connect("/api/v1/ws", headers=user["headers"]) as socket:
        too_many = [f"x{i}.*" for i in range(limits.max_subscriptions + 1)]
        await socket.send_json({"type": "command", "event": "subscribe", "data": {"events": too_many}, "id": "1"})
        reply = await socket.receive_json(timeout=5)
        assert reply["type"] == "error" and "at most" in reply["data"]["details"]
        await socket.send_str("x" * (limits.max_frame + 1))
        message = await socket.receive(timeout=5)
        assert message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED) and socket.close_code == 1009


async def test_sockets_per_user_are_bounded(hub: MemoryEventBus, edge: TestClient, monkeypatch: Any) -> None:
    user = await _user(edge, "many@example.com")
    app = edge.server.app
    assert app is not None
    bridge = app[DISPATCHER].sockets
    monkeypatch.setattr(bridge, "limits", type(bridge.limits)(max_sockets_per_user=2))
    first = await edge.ws_connect("/ws", headers=user["headers"])
    second = await edge.ws_connect("/ws", headers=user["headers"])
    handshake = {**user["headers"], "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
                 "Sec-WebSocket-Key": "x3JJHMbDL1EzLkh9GBhXDw=="}
    refused = await edge.get("/ws", headers=handshake)
    assert refused.status == 429 and (await refused.json())["error"]["code"] == "RESOURCE_EXHAUSTED"
    await first.close()
    await _until(lambda: bridge.open_sockets == 1)
    third = await edge.ws_connect("/ws", headers=user["headers"])
    await second.close()
    await third.close()


async def test_bearer_subprotocol_and_shutdown_closes_1001(hub: MemoryEventBus, edge: TestClient) -> None:
    user = await _user(edge, "browser@example.com")
    socket = await edge.ws_connect("/api/v1/ws", protocols=("bearer", user["token"]))
    assert socket.protocol == "bearer"  # the token itself is never echoed back
    await _subscribe(socket, "system.*")
    app = edge.server.app
    assert app is not None
    await app[DISPATCHER].sockets.shutdown()
    message = await socket.receive(timeout=5)
    assert (message.type, message.data, message.extra) == (WSMsgType.CLOSE, 1001, "the edge is shutting down")
    await socket.close()
