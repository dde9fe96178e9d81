"""The event socket's outbox against a real aiohttp WebSocket: bounded, lagged notices, closing slow clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient, TestServer

from edge.wsevents import CLOSE_TOO_SLOW, Outbox, Rendered

Burst = Callable[[Outbox], None]
Connect = Callable[..., Awaitable[list[Any]]]


async def _server(burst: Burst, capacity: int, max_dropped: int, direct: bool) -> web.Application:
    async def handler(request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(compress=False)
        await socket.prepare(request)
        transport = request.transport if direct else None
        outbox = Outbox(socket, capacity=capacity, max_dropped=max_dropped, transport=transport)
        writer = asyncio.create_task(outbox.run())
        burst(outbox)  # all at once, faster than any client could read
        outbox.close(1000)
        await writer
        return socket

    app = web.Application()
    app.router.add_get("/", handler)
    return app


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    clients: list[TestClient[Any, Any]] = []

    async def _connect(burst: Burst, capacity: int, max_dropped: int, direct: bool = False) -> list[Any]:
        client = TestClient(TestServer(await _server(burst, capacity, max_dropped, direct)))
        await client.start_server()
        clients.append(client)
        socket = await client.ws_connect("/")
        got: list[Any] = []
        while True:
            message = await socket.receive(timeout=5)
            if message.type != WSMsgType.TEXT:
                got.append(("close", message.data))
                return got
            got.append(message.json())

    yield _connect
    for client in clients:
        await client.close()


async def test_a_client_that_falls_behind_is_told_how_much_it_missed(connect: Connect) -> None:
    def burst(outbox: Outbox) -> None:
        for n in range(10):
            outbox.offer(Rendered(f'{{"n": {n}}}'))
        outbox.push('{"reply": "pong"}')  # answers to the client's commands are never dropped

    got = await connect(burst, capacity=3, max_dropped=100)
    assert got[:4] == [{"n": 0}, {"n": 1}, {"n": 2}, {"reply": "pong"}]
    lagged = got[4]
    assert isinstance(lagged, dict) and lagged["event"] == "bus.lagged"
    assert lagged["data"] == {"dropped": 7, "reason": "slow_consumer"}
    assert got[5] == ("close", 1000)


async def test_a_client_that_misses_too_much_is_closed(connect: Connect) -> None:
    def burst(outbox: Outbox) -> None:
        for n in range(50):
            outbox.offer(Rendered(f'{{"n": {n}}}'))

    got = await connect(burst, capacity=2, max_dropped=5)
    assert got[-1] == ("close", CLOSE_TOO_SLOW)
    assert len(got) <= 3  # at most what was queued before it fell behind, never the whole burst


async def test_frames_written_directly_keep_their_order_with_queued_replies(connect: Connect) -> None:
    sizes = [0, 125, 126, 65535, 65536, 200_000]  # every length encoding of the frame header

    def burst(outbox: Outbox) -> None:
        for size in sizes[:3]:
            outbox.offer(Rendered(f'{{"pad": "{"x" * size}"}}'))
        outbox.push('{"reply": "pong"}')
        for size in sizes[3:]:
            outbox.offer(Rendered(f'{{"pad": "{"x" * size}"}}'))

    got = await connect(burst, capacity=100, max_dropped=100, direct=True)
    assert [len(f["pad"]) if "pad" in f else "pong" for f in got[:-1]] == [
        *sizes[:3], "pong", *sizes[3:]]
    assert got[-1] == ("close", 1000)
