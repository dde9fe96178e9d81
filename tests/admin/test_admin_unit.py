"""The admin unit's event hub and maintenance switch, over gRPC against the real unit."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack

import grpc
import pytest
from agentmesh.v1 import admin_pb2, admin_pb2_grpc, common_pb2

from services.admin.wiring import SPEC
from services.common.bootstrap import RunningUnit, start
from services.common.events.publisher import HubPublisher
from services.common.settings import Settings
from services.common.tokens import Keys, TokenIssuer
from tests.conftest import free_port

Bearer = Callable[..., list[tuple[str, str]]]


@pytest.fixture
def bearer(settings: Settings) -> Bearer:
    issuer = TokenIssuer(Keys.from_settings(settings), settings)

    def _bearer(**claims: object) -> list[tuple[str, str]]:
        token, _ = issuer.issue(typ="access", **claims)  # type: ignore[arg-type]
        return [("authorization", f"Bearer {token}")]

    return _bearer


@pytest.fixture
async def admin_unit(settings: Settings) -> AsyncIterator[RunningUnit]:
    async with AsyncExitStack() as stack:
        yield await start(SPEC, settings, stack, port=0, metrics_port=0)


@pytest.fixture
async def channel(admin_unit: RunningUnit) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{admin_unit.port}") as ch:
        yield ch


def _event(kind: str, tenant: str = "", **data: object) -> common_pb2.Event:
    event = common_pb2.Event(type=kind, tenant_id=tenant)
    event.data.update(data)
    return event


async def _collect(call: grpc.aio.UnaryStreamCall, count: int) -> list[common_pb2.Event]:  # type: ignore[type-arg]
    got = []
    async for reply in call:
        got.append(reply.event)
        if len(got) == count:
            break
    call.cancel()
    return got


async def test_events_reach_their_tenant_only(channel: grpc.aio.Channel, bearer: Bearer) -> None:
    hub = admin_pb2_grpc.EventServiceStub(channel)
    alice = hub.WatchEvents(admin_pb2.WatchEventsRequest(patterns=["task.*", "workflow.*"]),
                            metadata=bearer(sub="alice", tid="tenant-a"))
    bob = hub.WatchEvents(admin_pb2.WatchEventsRequest(), metadata=bearer(sub="bob", tid="tenant-b"))
    await asyncio.sleep(0.2)  # both subscriptions open
    for event in (_event("task.progress", "tenant-b", n=1), _event("agent.started", "tenant-a"),
                  _event("task.progress", "tenant-a", n=2), _event("workflow.catalog", "", text="hi")):
        unit = "agent" if event.type.startswith("agent.") else "task"
        await hub.PublishEvent(admin_pb2.PublishEventRequest(event=event),
                               metadata=bearer(sub=f"service:{unit}", role="service"))
    got_alice, got_bob = await asyncio.wait_for(asyncio.gather(_collect(alice, 2), _collect(bob, 2)), 5)
    assert [(e.type, e.tenant_id) for e in got_alice] == [("task.progress", "tenant-a"), ("workflow.catalog", "")]
    assert [(e.type, e.tenant_id) for e in got_bob] == [("task.progress", "tenant-b"), ("workflow.catalog", "")]
    assert all(e.id and e.time.seconds for e in got_alice)


async def test_publishing_and_all_tenants_need_the_right_role(channel: grpc.aio.Channel, bearer: Bearer) -> None:
    hub = admin_pb2_grpc.EventServiceStub(channel)
    request = admin_pb2.PublishEventRequest(event=_event("task.progress", "t"))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await hub.PublishEvent(request, metadata=bearer(sub="u", tid="t"))
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await hub.PublishEvent(admin_pb2.PublishEventRequest(event=_event("Bad Type")),
                               metadata=bearer(sub="service:task", role="service"))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # A unit publishes the types its contracts declare, no others.
    for kind in ("agent.started", "system.notification", "notification.created"):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await hub.PublishEvent(admin_pb2.PublishEventRequest(event=_event(kind, "t")),
                                   metadata=bearer(sub="service:task", role="service"))
        assert info.value.code() in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.INVALID_ARGUMENT), kind
    # A pattern no unit could ever match is a mistake worth telling.
    typo = hub.WatchEvents(admin_pb2.WatchEventsRequest(patterns=["tsak.*"]), metadata=bearer(sub="u", tid="t"))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await typo.read()
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "tsak.*" in (info.value.details() or "")
    watch = hub.WatchEvents(admin_pb2.WatchEventsRequest(all_tenants=True), metadata=bearer(sub="u", tid="t"))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await watch.read()
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_maintenance_switch_is_kept_and_announced(
    channel: grpc.aio.Channel, bearer: Bearer, settings: Settings
) -> None:
    platform = admin_pb2_grpc.PlatformAdminServiceStub(channel)
    hub = admin_pb2_grpc.EventServiceStub(channel)
    admin = bearer(sub="root", tid="ops", role="admin")
    assert not (await platform.GetMaintenanceMode(admin_pb2.GetMaintenanceModeRequest())).maintenance.enabled
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await platform.SetMaintenanceMode(admin_pb2.SetMaintenanceModeRequest(enabled=True),
                                          metadata=bearer(sub="u", tid="t"))
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    watcher = hub.WatchEvents(admin_pb2.WatchEventsRequest(patterns=["system.maintenance"]),
                              metadata=bearer(sub="u", tid="t"))
    await asyncio.sleep(0.2)
    reply = await platform.SetMaintenanceMode(
        admin_pb2.SetMaintenanceModeRequest(enabled=True, message="upgrading"), metadata=admin
    )
    assert reply.maintenance.enabled and reply.maintenance.updated_by == "root"
    announced = (await asyncio.wait_for(_collect(watcher, 1), 5))[0]
    assert announced.type == "system.maintenance" and announced.data["enabled"] is True
    state = (await platform.GetMaintenanceMode(admin_pb2.GetMaintenanceModeRequest())).maintenance
    assert (state.enabled, state.message) == (True, "upgrading")
    toggled = await platform.SetMaintenanceMode(admin_pb2.SetMaintenanceModeRequest(), metadata=admin)
    assert not toggled.maintenance.enabled and toggled.maintenance.message == ""


async def test_the_switch_survives_a_restart(settings: Settings, bearer: Bearer) -> None:
    for expected_before, turn_on in ((False, True), (True, None)):
        async with AsyncExitStack() as stack:
            unit = await start(SPEC, settings, stack, port=0, metrics_port=0)
            async with grpc.aio.insecure_channel(f"127.0.0.1:{unit.port}") as ch:
                platform = admin_pb2_grpc.PlatformAdminServiceStub(ch)
                state = (await platform.GetMaintenanceMode(admin_pb2.GetMaintenanceModeRequest())).maintenance
                assert state.enabled is expected_before
                if turn_on:
                    await platform.SetMaintenanceMode(admin_pb2.SetMaintenanceModeRequest(enabled=True),
                                                      metadata=bearer(sub="root", role="admin"))


async def test_drain_ends_event_feeds_at_once(settings: Settings, bearer: Bearer) -> None:
    async with AsyncExitStack() as stack:
        unit = await start(SPEC, settings, stack, port=0, metrics_port=0)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{unit.port}") as ch:
            watch = admin_pb2_grpc.EventServiceStub(ch).WatchEvents(
                admin_pb2.WatchEventsRequest(), metadata=bearer(sub="u", tid="t")
            )
            await asyncio.sleep(0.2)
            started = asyncio.get_running_loop().time()
            await unit.drain(grace=10)
            assert asyncio.get_running_loop().time() - started < 2  # not the whole grace period
            assert await watch.read() == grpc.aio.EOF  # the feed ended; clients reconnect elsewhere


async def test_broadcast_reaches_everyone_or_one_tenant(channel: grpc.aio.Channel, bearer: Bearer) -> None:
    platform = admin_pb2_grpc.PlatformAdminServiceStub(channel)
    hub = admin_pb2_grpc.EventServiceStub(channel)
    admin = bearer(sub="root", tid="ops", role="admin")
    alice = hub.WatchEvents(admin_pb2.WatchEventsRequest(patterns=["system.notification"]),
                            metadata=bearer(sub="alice", tid="tenant-a"))
    bob = hub.WatchEvents(admin_pb2.WatchEventsRequest(patterns=["system.*"]),
                          metadata=bearer(sub="bob", tid="tenant-b"))
    await asyncio.sleep(0.2)
    everyone = await platform.Broadcast(admin_pb2.BroadcastRequest(message="maintenance at noon", level="warning"),
                                        metadata=admin)
    assert everyone.event_id and everyone.delivered_count == 2 and everyone.sent_at.seconds
    only_a = await platform.Broadcast(admin_pb2.BroadcastRequest(message="hello A", tenant_id="tenant-a"),
                                      metadata=admin)
    assert only_a.delivered_count == 1
    await platform.Broadcast(admin_pb2.BroadcastRequest(message="last"), metadata=admin)
    got_alice, got_bob = await asyncio.wait_for(asyncio.gather(_collect(alice, 3), _collect(bob, 2)), 5)
    assert [e.data["message"] for e in got_alice] == ["maintenance at noon", "hello A", "last"]
    assert [e.data["message"] for e in got_bob] == ["maintenance at noon", "last"]
    assert got_alice[0].data["level"] == "warning" and got_alice[0].id == everyone.event_id
    assert got_alice[1].data["level"] == "info" and got_alice[1].tenant_id == "tenant-a"


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [({"message": "  "}, "message"), ({"message": "x" * 2001}, "message"),
     ({"message": "hi", "level": "loud"}, "level"), ({"message": "hi", "title": "t" * 201}, "title")],
)
async def test_broadcast_refuses_bad_input(
    channel: grpc.aio.Channel, bearer: Bearer, request_fields: dict[str, str], field: str
) -> None:
    platform = admin_pb2_grpc.PlatformAdminServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await platform.Broadcast(admin_pb2.BroadcastRequest(**request_fields), metadata=bearer(sub="r", role="admin"))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and field in (info.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await platform.Broadcast(admin_pb2.BroadcastRequest(message="hi"), metadata=bearer(sub="u", tid="t"))
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_batch_is_published_in_order_or_not_at_all(channel: grpc.aio.Channel, bearer: Bearer) -> None:
    hub = admin_pb2_grpc.EventServiceStub(channel)
    unit = bearer(sub="service:task", role="service")
    watch = hub.WatchEvents(admin_pb2.WatchEventsRequest(patterns=["task.*"]), metadata=bearer(sub="a", tid="t"))
    await asyncio.sleep(0.2)
    # One event another unit owns refuses the whole batch: nothing of it is published.
    mixed = [_event("task.created", "t", n=0), _event("agent.started", "t")]
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await hub.PublishEvent(admin_pb2.PublishEventRequest(events=mixed), metadata=unit)
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await hub.PublishEvent(admin_pb2.PublishEventRequest(events=[_event("task.created", "t"), _event("Bad")]),
                               metadata=unit)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "events[1].type" in (info.value.details() or "")
    both = admin_pb2.PublishEventRequest(event=_event("task.created", "t"), events=[_event("task.created", "t")])
    for request in (admin_pb2.PublishEventRequest(), both,
                    admin_pb2.PublishEventRequest(events=[_event("task.created", "t")] * 501)):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await hub.PublishEvent(request, metadata=unit)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    reply = await hub.PublishEvent(
        admin_pb2.PublishEventRequest(events=[_event("task.progress", "t", n=n) for n in range(1, 6)]), metadata=unit
    )
    assert [e.data["n"] for e in reply.events] == [1, 2, 3, 4, 5] and all(e.id for e in reply.events)
    got = await asyncio.wait_for(_collect(watch, 5), 5)
    assert [e.data["n"] for e in got] == [1, 2, 3, 4, 5]  # the refused batches left nothing behind
    assert [e.id for e in got] == [e.id for e in reply.events]


class _TokenCredentials:
    """A unit's credentials holding a token signed with the platform's keys (the auth unit is not running).
    `unit` "" makes a publisher that leaves every check to the hub (as one built before a contract change)."""

    def __init__(self, unit: str, bearer: Bearer, *, token_of: str = "") -> None:
        self.unit = unit
        self._metadata = bearer(sub=f"service:{token_of or unit}", role="service")

    async def metadata(self) -> list[tuple[str, str]]:
        return self._metadata


async def test_the_hub_publisher_keeps_order_and_sends_bursts_together(
    settings: Settings, admin_unit: RunningUnit, channel: grpc.aio.Channel, bearer: Bearer
) -> None:
    hub = admin_pb2_grpc.EventServiceStub(channel)
    watch = hub.WatchEvents(admin_pb2.WatchEventsRequest(patterns=["task.*"]), metadata=bearer(sub="a", tid="t"))
    await asyncio.sleep(0.2)
    publishing = dataclasses.replace(settings, ports={**settings.ports, "admin": admin_unit.port})
    publisher = HubPublisher(publishing, _TokenCredentials("", bearer, token_of="task"))  # type: ignore[arg-type]
    try:
        calls_before = _publish_calls(admin_unit)
        for n in range(200):  # a burst: handed over within one moment
            publisher.emit(_event("task.progress", "t", n=n))
        await publisher.publish(_event("task.progress", "t", n=200))  # returns once the hub has it
        calls = _publish_calls(admin_unit) - calls_before
        # An event the hub refuses is dropped alone; the rest of its batch still goes, in order.
        for n in range(201, 209):
            publisher.emit(_event("task.progress", "t", n=n))
            if n == 204:
                publisher.emit(_event("agent.started", "t"))  # not the task unit's: the hub refuses it
        await publisher.publish(_event("task.completed", "t", n=209))
        got = await asyncio.wait_for(_collect(watch, 210), 10)
    finally:
        await publisher.aclose()
    assert [e.data["n"] for e in got] == list(range(210))
    assert calls <= 5, f"{calls} calls for 201 events"


async def test_a_unit_publisher_drops_what_its_contracts_do_not_declare_without_a_trip(
    settings: Settings, admin_unit: RunningUnit, bearer: Bearer
) -> None:
    publishing = dataclasses.replace(settings, ports={**settings.ports, "admin": admin_unit.port})
    publisher = HubPublisher(publishing, _TokenCredentials("task", bearer))  # type: ignore[arg-type]
    calls_before = _publish_calls(admin_unit)
    try:
        for kind in ("agent.started", "notification.created", "bus.lagged", "Task.Done", "task.*"):
            await publisher.publish(_event(kind, "t"))
    finally:
        await publisher.aclose()
    assert _publish_calls(admin_unit) == calls_before


def _publish_calls(unit: RunningUnit) -> float:
    value = unit.metrics.registry.get_sample_value(
        "grpc_server_started_total", {"grpc_service": "agentmesh.v1.EventService", "grpc_method": "PublishEvent"}
    )
    return value or 0.0


async def test_events_wait_in_order_while_the_hub_is_away_and_go_when_it_is_back(
    settings: Settings, bearer: Bearer
) -> None:
    port = free_port()
    publishing = dataclasses.replace(settings, ports={**settings.ports, "admin": port})
    publisher = HubPublisher(publishing, _TokenCredentials("task", bearer), max_pending=8)  # type: ignore[arg-type]
    try:
        async with AsyncExitStack() as first:
            await start(SPEC, settings, first, port=port, metrics_port=0)
            await publisher.publish(_event("task.progress", "t", n=0))
        # The hub is gone: these wait (the two oldest past the bound of 8 are dropped), in order.
        for n in range(1, 11):
            publisher.emit(_event("task.progress", "t", n=n))
        await asyncio.sleep(0.4)  # a few tries meanwhile
        assert publisher.dropped == 2
        async with AsyncExitStack() as second:
            unit = await start(SPEC, settings, second, port=port, metrics_port=0)
            channel = await second.enter_async_context(grpc.aio.insecure_channel(f"127.0.0.1:{unit.port}"))
            hub = admin_pb2_grpc.EventServiceStub(channel)
            # From the start of this hub's history, in case the events arrive before the watch opens.
            watch = hub.WatchEvents(admin_pb2.WatchEventsRequest(patterns=["task.*"], since_id="0-0"),
                                    metadata=bearer(sub="a", tid="t"))
            got: list[common_pb2.Event] = []
            async with asyncio.timeout(10):
                async for reply in watch:
                    if reply.event.type == "task.progress":  # not the bus's own notices
                        got.append(reply.event)
                    if len(got) == 8:
                        break
            watch.cancel()
    finally:
        await publisher.aclose()
    assert [e.data["n"] for e in got] == list(range(3, 11))
