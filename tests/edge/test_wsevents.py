"""The event socket's outbox against a real aiohttp WebSocket: bounded, lagged notices, closing slow clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient, TestServer

from edge.wsevents import CLOSE_TOO_SLOW, Outbox

Burst = Callable[[Outbox], None]


async def _server(burst: Burst, capacity: int, max_dropped: int) -> web.Application:
    async def handler(request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        outbox = Outbox(socket, capacity=capacity, max_dropped=max_dropped)
        writer = asyncio.create_task(outbox.run())
        burst(outbox)  # all at once, faster than any client could read
        outbox.close(1000)
        await writer
        return socket

    app = web.Application()
    app.router.add_get("/", handler)
    return app


@pytest.fixture
async def connect() -> AsyncIterator[Callable[..., object]]:
    clients: list[TestClient] = []

    async def _connect(burst: Burst, capacity: int, max_dropped: int) -> list[object]:
        client = TestClient(TestServer(await _server(burst, capacity, max_dropped)))
        await client.start_server()
        clients.append(client)
        socket = await client.ws_connect("/")
        got: list[object] = []
        while True:
            message = await socket.receive(timeout=5)
            if message.type != WSMsgType.TEXT:
                got.append(("close", message.data))
                return got
            got.append(message.json())

    yield _connect
    for client in clients:
        await client.close()


async def test_a_client_that_falls_behind_is_told_how_much_it_missed(connect: Callable[..., object]) -> None:
    def burst(outbox: Outbox) -> None:
        for n in range(10):
            outbox.offer(f'{{"n": {n}}}')
        outbox.push('{"reply": "pong"}')  # answers to the client's commands are never dropped

    got = await connect(burst, capacity=3, max_dropped=100)  # type: ignore[operator]
    assert got[:4] == [{"n": 0}, {"n": 1}, {"n": 2}, {"reply": "pong"}]
    lagged = got[4]
    assert isinstance(lagged, dict) and lagged["event"] == "bus.lagged"
    assert lagged["data"] == {"dropped": 7, "reason": "slow_consumer"}
    assert got[5] == ("close", 1000)


async def test_a_client_that_misses_too_much_is_closed(connect: Callable[..., object]) -> None:
    def burst(outbox: Outbox) -> None:
        for n in range(50):
            outbox.offer(f'{{"n": {n}}}')

    got = await connect(burst, capacity=2, max_dropped=5)  # type: ignore[operator]
    assert got[-1] == ("close", CLOSE_TOO_SLOW)
    assert len(got) <= 3  # at most what was queued before it fell behind, never the whole burst
