"""The event socket's outbox against a real aiohttp WebSocket (bounded, lagged notices, closing slow clients), and
the shared feeds behind the sockets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from agentmesh.v1 import admin_pb2, common_pb2
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient, TestServer

from edge.wsevents import CLOSE_TOO_SLOW, FeedHub, Outbox, Rendered

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


class _Upstream:
    """What a server-streaming call gives the feed: its replies, then its end (as a grpc.aio call does)."""

    def __init__(self, replies: list[admin_pb2.WatchEventsResponse]) -> None:
        self._replies = replies
        self.cancelled = False

    def __aiter__(self) -> AsyncIterator[admin_pb2.WatchEventsResponse]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[admin_pb2.WatchEventsResponse]:
        for reply in self._replies:
            yield reply
        await asyncio.Event().wait()  # open until cancelled

    def cancel(self) -> bool:
        self.cancelled = True
        return True


class _Recorder:
    def __init__(self) -> None:
        self.frames: list[Rendered] = []

    def deliver(self, kind: str, frame: Callable[[], Rendered]) -> None:
        self.frames.append(frame())

    def ended(self, error_frame: str | None) -> None:
        pass


async def test_an_event_reaching_many_feeds_is_rendered_once() -> None:
    def reply(event_id: str, n: int) -> admin_pb2.WatchEventsResponse:
        event = common_pb2.Event(type="system.notification", id=event_id)
        event.data.update({"n": n})
        return admin_pb2.WatchEventsResponse(event=event)

    hub = FeedHub()
    listeners = [_Recorder() for _ in range(3)]
    upstreams = [_Upstream([reply("1-0", 1), reply("", 0), reply("2-0", 2)]) for _ in listeners]
    feeds = [hub.join(("watch", index), lambda up=up: up, listener, lambda exc: "")  # one feed per principal
             for index, (up, listener) in enumerate(zip(upstreams, listeners, strict=True))]
    await asyncio.sleep(0.05)
    first, *others = listeners
    assert [json.loads(f.text)["data"]["n"] for f in first.frames] == [1, 0, 2]
    for other in others:  # the same frame objects: made once, whatever the number of feeds
        assert other.frames[0] is first.frames[0] and other.frames[2] is first.frames[2]
        assert other.frames[1] is not first.frames[1]  # no id: never shared
    for feed, listener in zip(feeds, listeners, strict=True):
        feed.remove(listener)
    assert all(up.cancelled for up in upstreams)
