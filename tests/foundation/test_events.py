"""The event bus, on both backends: filters, tenants, users, resuming, slow subscribers, closing, Redis outages."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import pytest
from agentmesh.v1.common_pb2 import Event
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from services.common.events import (
    LAGGED,
    EventBusUnavailable,
    InvalidEvent,
    MemoryEventBus,
    RedisEventBus,
    Subscription,
    bus_from_settings,
    parse_event_id,
    redisbus,
)
from services.common.events.publisher import BusPublisher
from services.common.settings import Settings
from tests.redis_server import free_port, redis_url  # noqa: F401  (redis_url is a fixture)

WAIT = 5.0  # seconds any one expected event may take

MakeBus = Callable[..., MemoryEventBus | RedisEventBus]


def event(event_type: str, tenant_id: str = "", *, user_id: str = "", **data: Any) -> Event:
    message = Event(type=event_type, tenant_id=tenant_id, user_id=user_id)
    message.data.update(data)
    return message


async def receive(subscription: Subscription) -> Event:
    return await asyncio.wait_for(anext(subscription), WAIT)


async def receive_until(subscription: Subscription, last_type: str) -> list[Event]:
    """Everything up to and including the first event of ``last_type`` (events keep their order)."""
    received: list[Event] = []
    while not received or received[-1].type != last_type:
        received.append(await receive(subscription))
    return received


def numbers(events: Sequence[Event]) -> list[int]:
    return [int(e.data["n"]) for e in events]


@pytest.fixture(params=["memory", "redis"])
async def make_bus(request: pytest.FixtureRequest) -> AsyncIterator[MakeBus]:
    """Builds buses of one backend; Redis buses of one test share a stream of their own."""
    buses: list[MemoryEventBus | RedisEventBus] = []
    url = request.getfixturevalue("redis_url") if request.param == "redis" else ""
    stream = f"test:events:{uuid.uuid4().hex}"

    def make(**options: Any) -> MemoryEventBus | RedisEventBus:
        bus: MemoryEventBus | RedisEventBus
        if url:
            bus = RedisEventBus.from_url(url, stream=stream, **options)
        else:
            options.pop("timeout", None)
            bus = MemoryEventBus(**options)
        buses.append(bus)
        return bus

    yield make
    for bus in buses:
        await bus.aclose()
    if url:
        client = Redis.from_url(url)
        await client.delete(stream)
        await client.aclose()


# ---------------------------------------------------------------------------- publishing


async def test_publish_assigns_ordered_ids_time_and_source(make_bus: MakeBus) -> None:
    bus = make_bus(source="task")
    original = event("task.created", "t1", n=1)
    stored = [await bus.publish(original) for _ in range(50)]
    ids = [parse_event_id(e.id) for e in stored]
    assert ids == sorted(ids) and len(set(ids)) == 50
    assert all(e.source == "task" and e.HasField("time") for e in stored)
    assert stored[0].type == "task.created" and stored[0].data["n"] == 1
    assert original.id == "" and not original.HasField("time")  # the caller's message is left alone
    kept = event("task.created", "t1")
    kept.source, kept.id = "agent", "1-1"
    kept.time.FromSeconds(1_700_000_000)
    again = await bus.publish(kept)
    assert again.source == "agent" and again.time.seconds == 1_700_000_000
    assert parse_event_id(again.id) > ids[-1]  # an id is always the bus's


@pytest.mark.parametrize("bad_type", ["", "bus.lagged", "bus.anything"])
async def test_publish_refuses_a_missing_or_reserved_type(make_bus: MakeBus, bad_type: str) -> None:
    with pytest.raises(InvalidEvent, match="type"):
        await make_bus().publish(event(bad_type, "t1"))


@pytest.mark.parametrize("since_id", ["latest", "12", "1-2-3", "-1-0", "a-b", " 1-0"])
def test_since_id_must_be_an_event_id(since_id: str) -> None:
    with pytest.raises(InvalidEvent, match="since_id"):
        MemoryEventBus().subscribe(tenant_id="t1", since_id=since_id)


def test_an_empty_pattern_is_refused() -> None:
    with pytest.raises(InvalidEvent, match="patterns"):
        MemoryEventBus().subscribe(["task.*", ""], tenant_id="t1")


# ---------------------------------------------------------------------------- who sees what


async def test_patterns_select_types(make_bus: MakeBus) -> None:
    bus = make_bus()
    async with (
        bus.subscribe(["instance.status.*"], tenant_id="t1") as status,
        bus.subscribe(["task.*", "system.notification"], tenant_id="t1") as tasks,
        bus.subscribe(tenant_id="t1") as everything,
    ):
        types = ["instance.status.changed", "instance.created", "task.progress", "tasks.other", "system.notification"]
        for event_type in types:
            await bus.publish(event(event_type, "t1"))
        await bus.publish(event("end", "t1"))
        assert [e.type for e in await receive_until(everything, "end")] == [*types, "end"]
        await bus.publish(event("instance.status.deleted", "t1"))
        assert [e.type for e in await receive_until(status, "instance.status.deleted")] == [
            "instance.status.changed",
            "instance.status.deleted",
        ]
        await bus.publish(event("task.end", "t1"))
        assert [e.type for e in await receive_until(tasks, "task.end")] == [
            "task.progress",
            "system.notification",
            "task.end",
        ]


async def test_tenants_are_isolated_and_platform_events_reach_everyone(make_bus: MakeBus) -> None:
    bus = make_bus()
    async with (
        bus.subscribe(tenant_id="A") as tenant_a,
        bus.subscribe(tenant_id="B") as tenant_b,
        bus.subscribe(tenant_id=None) as no_tenant,
        bus.subscribe(tenant_id="B", all_tenants=True) as admin,
    ):
        await bus.publish(event("task.created", "A", n=1))
        await bus.publish(event("task.created", "B", n=2))
        await bus.publish(event("task.created", "C", n=3))
        await bus.publish(event("system.maintenance", n=4))
        await bus.publish(event("end"))
        seen = {name: numbers((await receive_until(sub, "end"))[:-1]) for name, sub in [
            ("A", tenant_a), ("B", tenant_b), ("none", no_tenant), ("admin", admin)
        ]}
    assert seen == {"A": [1, 4], "B": [2, 4], "none": [4], "admin": [1, 2, 3, 4]}


async def test_user_targeted_events_reach_only_that_user_and_admins(make_bus: MakeBus) -> None:
    bus = make_bus()
    async with (
        bus.subscribe(tenant_id="A", user_id="ada") as ada,
        bus.subscribe(tenant_id="A", user_id="bob") as bob,
        bus.subscribe(tenant_id="A") as anonymous,
        bus.subscribe(tenant_id="B", user_id="ada") as ada_elsewhere,
        bus.subscribe(tenant_id=None, all_tenants=True) as admin,
    ):
        await bus.publish(event("system.notification", "A", user_id="ada", n=1))
        await bus.publish(event("system.notification", "A", n=2))
        await bus.publish(event("system.notification", user_id="ada", n=3))  # to ada whatever her tenant
        await bus.publish(event("system.notification", "A", user_id="bob", n=4))
        await bus.publish(event("end"))
        seen = {name: numbers((await receive_until(sub, "end"))[:-1]) for name, sub in [
            ("ada", ada), ("bob", bob), ("anonymous", anonymous), ("ada_elsewhere", ada_elsewhere), ("admin", admin)
        ]}
    assert seen == {"ada": [1, 2, 3], "bob": [2, 4], "anonymous": [2], "ada_elsewhere": [3], "admin": [1, 2, 3, 4]}


# ---------------------------------------------------------------------------- resuming


async def test_since_id_replays_then_continues_live_without_gaps_or_duplicates(make_bus: MakeBus) -> None:
    bus = make_bus(max_events=5000)  # all 1360 events stay retained
    before = [await bus.publish(event("task.progress", "A", n=n)) for n in range(450)]
    for _ in range(5):
        await bus.publish(event("task.progress", "B", n=-1))  # another tenant's: never replayed
        await bus.publish(event("agent.started", "A", n=-1))  # another type: never replayed

    async def keep_publishing() -> None:
        for n in range(450, 900):
            await bus.publish(event("task.progress", "A", n=n))
            await bus.publish(event("task.progress", "B", n=-1))
            if n % 7 == 0:
                await asyncio.sleep(0)

    publisher = asyncio.create_task(keep_publishing())
    try:
        async with bus.subscribe(["task.*"], tenant_id="A", since_id=before[99].id) as resumed:
            received = [await receive(resumed) for _ in range(800)]
            await publisher
            await bus.publish(event("task.done", "A"))
            assert (await receive(resumed)).type == "task.done"
    finally:
        await publisher
    assert numbers(received) == list(range(100, 900))
    ids = [parse_event_id(e.id) for e in received]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


async def test_resuming_at_the_newest_event_gives_only_new_ones(make_bus: MakeBus) -> None:
    bus = make_bus()
    newest = await bus.publish(event("task.progress", "A", n=0))
    async with bus.subscribe(tenant_id="A", since_id=newest.id) as resumed:
        await bus.publish(event("task.progress", "A", n=1))
        assert numbers([await receive(resumed)]) == [1]


async def test_a_slow_resume_recovers_what_its_queue_dropped_from_the_history(make_bus: MakeBus) -> None:
    bus = make_bus(queue_size=5)
    before = [await bus.publish(event("task.progress", "A", n=n)) for n in range(300)]
    async with (
        bus.subscribe(tenant_id="A", since_id=before[99].id) as resumed,
        bus.subscribe(tenant_id="A", queue_size=100) as witness,
    ):
        assert numbers([await receive(resumed)]) == [100]  # the first page of the history is read
        for n in range(300, 350):
            await bus.publish(event("task.progress", "A", n=n))
        assert numbers([await receive(witness) for _ in range(50)]) == list(range(300, 350))
        assert resumed.pending == 5  # 45 dropped from the queue, all of them still in the history
        received = [await receive(resumed) for _ in range(249)]
    assert numbers(received) == list(range(101, 350))


async def test_resuming_from_an_expired_id_says_events_may_be_missing(make_bus: MakeBus) -> None:
    bus = make_bus(max_events=5)
    published = [await bus.publish(event("task.progress", "A", n=n)) for n in range(250)]
    async with bus.subscribe(tenant_id="A", since_id=published[0].id) as resumed:
        notice = await receive(resumed)
        assert notice.type == LAGGED and notice.id == "" and notice.tenant_id == "A"
        assert dict(notice.data) == {"dropped": -1, "reason": "retention"}
        replayed = numbers([await receive(resumed)])
        while replayed[-1] != 249:
            replayed += numbers([await receive(resumed)])
    assert replayed == list(range(replayed[0], 250))
    assert replayed[0] > 1 and (replayed[0] == 245 or isinstance(bus, RedisEventBus))  # Redis trims by nodes


# ---------------------------------------------------------------------------- slow subscribers


async def test_a_full_queue_drops_the_oldest_and_says_how_many(make_bus: MakeBus) -> None:
    registry = CollectorRegistry()
    bus = make_bus(registry=registry)
    async with (
        bus.subscribe(tenant_id="A", queue_size=3) as slow,
        bus.subscribe(tenant_id="A", queue_size=100) as witness,
    ):
        for n in range(10):
            await bus.publish(event("task.progress", "A", n=n))
        assert numbers([await receive(witness) for _ in range(10)]) == list(range(10))
        assert slow.pending == 3  # never more than its queue
        notice = await receive(slow)
        assert notice.type == LAGGED and notice.id == "" and notice.tenant_id == "A"
        assert dict(notice.data) == {"dropped": 7, "reason": "slow_consumer"}
        assert numbers([await receive(slow) for _ in range(3)]) == [7, 8, 9]
        await bus.publish(event("task.progress", "A", n=10))
        assert numbers([await receive(slow)]) == [10]  # and on it goes
    assert registry.get_sample_value("agentmesh_events_dropped_total") == 7
    assert registry.get_sample_value("agentmesh_events_published_total", {"prefix": "task"}) == 11


# ---------------------------------------------------------------------------- closing


async def test_closing_a_subscription_stops_delivery_and_frees_it(make_bus: MakeBus) -> None:
    registry = CollectorRegistry()
    bus = make_bus(registry=registry)
    unopened = bus.subscribe(tenant_id="A")
    assert bus.subscriptions == 0  # nothing is held before it is opened
    subscription = await bus.subscribe(tenant_id="A").open()
    assert bus.subscriptions == 1
    assert registry.get_sample_value("agentmesh_events_subscriptions") == 1

    async def read_all() -> list[Event]:
        return [e async for e in subscription]

    reader = asyncio.create_task(read_all())
    await bus.publish(event("task.progress", "A", n=1))
    await asyncio.sleep(0.05)
    await subscription.aclose()
    remaining = await asyncio.wait_for(reader, WAIT)  # the waiting reader stops iterating
    assert numbers(remaining) in ([1], [])
    await bus.publish(event("task.progress", "A", n=2))
    assert subscription.closed and subscription.pending == 0
    assert bus.subscriptions == 0
    assert registry.get_sample_value("agentmesh_events_subscriptions") == 0
    with pytest.raises(StopAsyncIteration):
        await anext(subscription)
    await unopened.aclose()
    async with bus.subscribe(tenant_id="A"):
        assert bus.subscriptions == 1
    assert bus.subscriptions == 0


async def test_closing_the_bus_ends_every_subscription(make_bus: MakeBus) -> None:
    bus = make_bus()
    subscription = await bus.subscribe(tenant_id="A").open()
    reader = asyncio.create_task(anext(subscription))
    await asyncio.sleep(0.05)
    await bus.aclose()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(reader, WAIT)
    with pytest.raises(EventBusUnavailable):
        await bus.publish(event("task.progress", "A"))
    with pytest.raises(EventBusUnavailable):
        await bus.subscribe(tenant_id="A").open()


# ---------------------------------------------------------------------------- memory only


async def test_memory_retention_keeps_the_last_events_and_seconds() -> None:
    now = [1_767_225_600.0]
    bus = MemoryEventBus(max_events=3, max_age=10, clock=lambda: now[0])
    first = await bus.publish(event("task.progress", "A", n=0))
    for n in range(1, 5):
        await bus.publish(event("task.progress", "A", n=n))
    async with bus.subscribe(tenant_id="A", since_id=first.id) as resumed:
        assert (await receive(resumed)).type == LAGGED
        assert numbers([await receive(resumed) for _ in range(3)]) == [2, 3, 4]
    newest = await bus.publish(event("task.progress", "A", n=5))
    now[0] += 11  # everything is older than max_age now
    async with bus.subscribe(tenant_id="A", since_id=first.id) as resumed:
        assert (await receive(resumed)).type == LAGGED
        await bus.publish(event("task.progress", "A", n=6))
        assert numbers([await receive(resumed)]) == [6]
    async with bus.subscribe(tenant_id="A", since_id=newest.id) as resumed:  # expired, but nothing lost after it
        await bus.publish(event("task.progress", "A", n=7))
        assert numbers([await receive(resumed), await receive(resumed)]) == [6, 7]


async def test_memory_ids_never_go_backwards_with_the_clock() -> None:
    now = [1_767_225_600.5]
    bus = MemoryEventBus(clock=lambda: now[0])
    first = await bus.publish(event("a.b"))
    now[0] -= 60
    second = await bus.publish(event("a.b"))
    now[0] += 120
    third = await bus.publish(event("a.b"))
    assert [first.id, second.id] == ["1767225600500-0", "1767225600500-1"]
    assert third.id == "1767225660500-0"


async def test_bus_from_settings_picks_the_backend() -> None:
    memory = bus_from_settings(Settings.from_env({}), source="admin")
    assert isinstance(memory, MemoryEventBus)
    assert (await memory.publish(event("a.b"))).source == "admin"
    shared = bus_from_settings(Settings.from_env({"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}))
    assert isinstance(shared, RedisEventBus)
    await memory.aclose()
    await shared.aclose()


# ---------------------------------------------------------------------------- Redis only


async def test_an_event_published_in_one_process_reaches_subscribers_in_another(redis_url: str) -> None:  # noqa: F811
    stream = f"test:events:{uuid.uuid4().hex}"
    unit = RedisEventBus.from_url(redis_url, stream=stream, source="admin")
    edge = RedisEventBus.from_url(redis_url, stream=stream)
    try:
        async with edge.subscribe(["system.*"], tenant_id="A") as far, unit.subscribe(tenant_id="A") as near:
            published = await unit.publish(event("system.notification", "A", n=1))
            for subscription in (far, near):
                received = await receive(subscription)
                assert received.id == published.id and received.source == "admin" and received.data["n"] == 1
        # A resume id from one process works in another.
        later = await edge.publish(event("system.notification", "A", n=2))
        async with unit.subscribe(tenant_id="A", since_id=published.id) as resumed:
            assert (await receive(resumed)).id == later.id
    finally:
        await unit.aclose()
        await edge.aclose()
        client = Redis.from_url(redis_url)
        await client.delete(stream)
        await client.aclose()


async def test_redis_stream_is_capped_and_skips_foreign_entries(redis_url: str) -> None:  # noqa: F811
    stream = f"test:events:{uuid.uuid4().hex}"
    bus = RedisEventBus.from_url(redis_url, stream=stream, max_events=10)
    client = Redis.from_url(redis_url)
    try:
        async with bus.subscribe(tenant_id="A") as live:
            for n in range(300):
                await bus.publish(event("task.progress", "A", n=n))
            assert 10 <= await client.xlen(stream) <= 110  # trimmed by whole stream nodes (100 entries)
            await client.xadd(stream, {"something": "else"})
            await bus.publish(event("task.progress", "A", n=300))
            assert numbers([await receive(live) for _ in range(301)]) == list(range(301))
    finally:
        await bus.aclose()
        await client.delete(stream)
        await client.aclose()


async def test_unreachable_redis_is_a_clear_error() -> None:
    bus = RedisEventBus.from_url(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5)
    try:
        with pytest.raises(EventBusUnavailable, match="event bus: Redis did not take the event"):
            await bus.publish(event("task.progress", "A"))
        with pytest.raises(EventBusUnavailable, match="event bus: Redis cannot be followed"):
            await bus.subscribe(tenant_id="A").open()
        assert bus.subscriptions == 0
        assert not await bus.ping()
    finally:
        await bus.aclose()


class Proxy:
    """A TCP relay to Redis that a test can cut and restore on the same port."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._pipes: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        for writer in self._writers:
            writer.transport.abort()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        redis_reader, redis_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers |= {client_writer, redis_writer}
        pipes = [
            asyncio.create_task(self._pipe(client_reader, redis_writer)),
            asyncio.create_task(self._pipe(redis_reader, client_writer)),
        ]
        self._pipes.update(pipes)
        await asyncio.gather(*pipes)
        self._pipes.difference_update(pipes)
        self._writers -= {client_writer, redis_writer}

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, target: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                target.write(data)
                await target.drain()
        except OSError:
            pass
        finally:
            target.close()
            with contextlib.suppress(OSError):
                await target.wait_closed()


@dataclass
class Outage:
    """A Redis stream of its own, reachable directly and through a proxy that can cut it off."""

    proxy: Proxy
    stream: str

    @property
    def cut_off_url(self) -> str:
        return f"redis://127.0.0.1:{self.proxy.port}/0"


@pytest.fixture
async def outage(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Outage]:  # noqa: F811
    monkeypatch.setattr(redisbus, "MAX_BACKOFF", 0.2)
    proxy = Proxy(urlparse(redis_url).port or 6379)
    await proxy.start()
    found = Outage(proxy, f"test:events:{uuid.uuid4().hex}")
    try:
        yield found
    finally:
        await proxy.cut()
        client = Redis.from_url(redis_url)
        await client.delete(found.stream)
        await client.aclose()


async def test_subscribers_survive_a_redis_outage(redis_url: str, outage: Outage) -> None:  # noqa: F811
    proxy, stream = outage.proxy, outage.stream
    cut_off = RedisEventBus.from_url(outage.cut_off_url, stream=stream, timeout=0.5, block=0.2)
    direct = RedisEventBus.from_url(redis_url, stream=stream)
    try:
        async with cut_off.subscribe(tenant_id="A") as subscription:
            await direct.publish(event("task.progress", "A", n=0))
            assert numbers([await receive(subscription)]) == [0]
            await proxy.cut()
            with pytest.raises(EventBusUnavailable, match="Redis did not take the event"):
                await cut_off.publish(event("task.progress", "A", n=-1))
            assert not await cut_off.ping()
            # Published elsewhere while this process cannot reach Redis: delivered once it can again.
            await direct.publish(event("task.progress", "A", n=1))
            await asyncio.sleep(0.3)
            await proxy.start()
            await cut_off.publish(event("task.progress", "A", n=2))
            assert numbers([await receive(subscription), await receive(subscription)]) == [1, 2]
            assert cut_off.subscriptions == 1
    finally:
        await cut_off.aclose()
        await direct.aclose()


async def test_an_outage_longer_than_the_retention_is_reported(redis_url: str, outage: Outage) -> None:  # noqa: F811
    proxy, stream = outage.proxy, outage.stream
    cut_off = RedisEventBus.from_url(outage.cut_off_url, stream=stream, timeout=0.5, block=0.2)
    direct = RedisEventBus.from_url(redis_url, stream=stream, max_events=5)
    try:
        async with cut_off.subscribe(tenant_id="A") as subscription:
            await direct.publish(event("task.progress", "A", n=0))
            assert numbers([await receive(subscription)]) == [0]
            await proxy.cut()
            for n in range(1, 251):
                await direct.publish(event("task.progress", "A", n=n))
            await proxy.start()
            notice = await receive(subscription)
            assert notice.type == LAGGED and dict(notice.data) == {"dropped": -1, "reason": "retention"}
            kept = numbers([await receive(subscription) for _ in range(5)])
            assert kept[0] > 1
    finally:
        await cut_off.aclose()
        await direct.aclose()


async def test_many_subscriptions_opened_at_once_share_one_reader(make_bus: MakeBus) -> None:
    bus = make_bus()
    subscriptions = [bus.subscribe(tenant_id=f"t{i % 3}") for i in range(30)]
    try:
        await asyncio.gather(*(s.open() for s in subscriptions))
        for tenant in ("t0", "t1", "t2"):
            await bus.publish(event("agent.started", tenant, n=int(tenant[1])))
        received = [numbers([await receive(s)]) for s in subscriptions]
        assert received == [[i % 3] for i in range(30)]
        if isinstance(bus, RedisEventBus):
            readers = [t for t in asyncio.all_tasks() if t.get_name() == "event-bus-reader"]
            assert len(readers) == 1
    finally:
        for subscription in subscriptions:
            await subscription.aclose()


async def test_cancelling_a_reading_task_leaves_the_subscription_usable_and_closable(make_bus: MakeBus) -> None:
    bus = make_bus()
    async with bus.subscribe(tenant_id="A", since_id="") as subscription:
        reader = asyncio.create_task(anext(subscription))
        await asyncio.sleep(0.05)
        reader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reader
        await bus.publish(event("task.progress", "A", n=1))
        assert numbers([await receive(subscription)]) == [1]
    assert bus.subscriptions == 0


async def test_a_units_publisher_keeps_events_in_order_through_a_redis_outage(
    redis_url: str, outage: Outage  # noqa: F811
) -> None:
    proxy, stream = outage.proxy, outage.stream
    publisher = BusPublisher(
        RedisEventBus.from_url(outage.cut_off_url, stream=stream, timeout=0.3, block=0.2), "task"
    )
    direct = RedisEventBus.from_url(redis_url, stream=stream)
    try:
        async with direct.subscribe(tenant_id="A") as subscription:
            await publisher.publish(event("task.progress", "A", n=0))
            await proxy.cut()
            for n in range(1, 6):  # Redis cannot be reached: these wait, in order
                publisher.emit(event("task.progress", "A", n=n))
            await asyncio.sleep(0.5)
            await proxy.start()
            got = [await asyncio.wait_for(receive(subscription), 10) for _ in range(6)]
            assert numbers(got) == [0, 1, 2, 3, 4, 5]
            assert {e.source for e in got} == {"task"} and publisher.dropped == 0
    finally:
        await publisher.aclose()
        await direct.aclose()
