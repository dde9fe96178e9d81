"""The admin unit's event hub and maintenance switch, over gRPC against the real unit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack

import grpc
import pytest
from agentmesh.v1 import admin_pb2, admin_pb2_grpc, common_pb2

from services.admin.wiring import SPEC
from services.common.bootstrap import RunningUnit, start
from services.common.settings import Settings
from services.common.tokens import Keys, TokenIssuer

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
