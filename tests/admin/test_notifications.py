"""The admin unit's NotificationService and Broadcast's in-app notification, over gRPC against the real units."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import grpc
import pytest
from agentmesh.v1 import admin_pb2, admin_pb2_grpc, auth_pb2, auth_pb2_grpc
from google.protobuf import field_mask_pb2, timestamp_pb2

from services.admin.wiring import SPEC
from services.auth.wiring import SPEC as AUTH_SPEC
from services.common.bootstrap import RunningUnit, start
from services.common.settings import Settings
from services.common.tokens import Keys, TokenIssuer
from tests.conftest import TEST_SECRET, free_port
from tests.redis_server import redis_url  # noqa: F401  (a fixture)

Metadata = list[tuple[str, str]]
Bearer = Callable[..., Metadata]
ADMIN_KEY = "test-admin-api-key-for-notifications-0123456789"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env({
        "AGENTMESH_DATA_DIR": str(tmp_path / "data"),
        "JWT_SECRET": TEST_SECRET,
        "ADMIN_API_KEY": ADMIN_KEY,
        "AGENTMESH_AUTH_PORT": str(free_port()),  # nothing listens there unless a test starts the auth unit
    })


@pytest.fixture
def bearer(settings: Settings) -> Bearer:
    issuer = TokenIssuer(Keys.from_settings(settings), settings)

    def _bearer(**claims: Any) -> Metadata:
        token, _ = issuer.issue(typ="access", **claims)
        return [("authorization", f"Bearer {token}")]

    return _bearer


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as units:
        yield units


@pytest.fixture
async def channel(settings: Settings, stack: AsyncExitStack) -> AsyncIterator[grpc.aio.Channel]:
    unit = await start(SPEC, settings, stack, port=0, metrics_port=0)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{unit.port}") as ch:
        yield ch


@pytest.fixture
async def auth_unit(settings: Settings, stack: AsyncExitStack) -> RunningUnit:
    return await start(AUTH_SPEC, settings, stack, port=settings.ports["auth"], metrics_port=0)


@pytest.fixture
def notes(channel: grpc.aio.Channel) -> admin_pb2_grpc.NotificationServiceStub:
    return admin_pb2_grpc.NotificationServiceStub(channel)


@pytest.fixture
def people(bearer: Bearer) -> dict[str, Metadata]:
    return {
        "admin": bearer(sub="root", tid="ops", role="admin"),
        "alice": bearer(sub="alice", tid="tenant-a"),
        "carol": bearer(sub="carol", tid="tenant-a"),
        "bob": bearer(sub="bob", tid="tenant-b"),
        "mod": bearer(sub="mod", tid="tenant-a", role="moderator"),
        "task": bearer(sub="service:task", role="service"),
    }


def send(**fields: Any) -> admin_pb2.SendNotificationRequest:
    return admin_pb2.SendNotificationRequest(**fields)


async def inbox(notes: admin_pb2_grpc.NotificationServiceStub, who: Metadata,
                **fields: Any) -> admin_pb2.ListNotificationsResponse:
    reply: admin_pb2.ListNotificationsResponse = await notes.ListNotifications(
        admin_pb2.ListNotificationsRequest(**fields), metadata=who)
    return reply


async def status_of(call: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value.code(), info.value.details() or ""


async def opened(notes: admin_pb2_grpc.NotificationServiceStub, who: Metadata, **fields: Any) -> Any:
    call = notes.WatchNotifications(admin_pb2.WatchNotificationsRequest(**fields), metadata=who)
    await call.initial_metadata()  # the unit sends it once the subscription is open
    return call


async def messages(call: Any, count: int) -> list[str]:
    got = []
    async for reply in call:
        got.append(reply.notification.message)
        if len(got) == count:
            break
    return got


async def test_personal_tenant_and_global_notifications_keep_read_state_per_user(
    notes: admin_pb2_grpc.NotificationServiceStub, channel: grpc.aio.Channel, people: dict[str, Metadata]
) -> None:
    admin = people["admin"]
    personal = await notes.SendNotification(send(user_id="alice", tenant_id="tenant-a", message="for alice",
                                                 level="warning", kind="task.failed", subject_id="t1"), metadata=admin)
    assert personal.recipient_count == 1 and len(personal.notifications) == 1
    sent = personal.notifications[0]
    assert (sent.user_id, sent.tenant_id, sent.status, sent.channel, sent.sender_id) == (
        "alice", "tenant-a", "delivered", "in_app", "root")
    assert sent.delivered_at.seconds and not sent.read
    tenant = await notes.SendNotification(send(tenant_id="tenant-a", message="for tenant a", title="Hi"),
                                          metadata=admin)
    assert len(tenant.notifications) == 1 and tenant.notifications[0].user_id == ""
    platform = admin_pb2_grpc.PlatformAdminServiceStub(channel)
    await platform.Broadcast(admin_pb2.BroadcastRequest(message="for everyone", level="critical"), metadata=admin)

    alice = await inbox(notes, people["alice"])
    assert [n.message for n in alice.notifications] == ["for everyone", "for tenant a", "for alice"]
    assert (alice.unread_count, alice.total_size) == (3, 3)
    assert alice.notifications[0].kind == "system.notification" and alice.notifications[0].level == "critical"
    carol = await inbox(notes, people["carol"])
    assert [n.message for n in carol.notifications] == ["for everyone", "for tenant a"]
    assert {(n.user_id, n.tenant_id) for n in carol.notifications} == {("carol", "tenant-a")}  # her own copy
    bob = await inbox(notes, people["bob"])
    assert [n.message for n in bob.notifications] == ["for everyone"]

    shared_id = tenant.notifications[0].notification_id
    marked = await notes.MarkNotificationRead(admin_pb2.MarkNotificationReadRequest(notification_id=shared_id),
                                              metadata=people["alice"])
    assert marked.notification.read and marked.notification.read_at.seconds
    again = await notes.MarkNotificationRead(admin_pb2.MarkNotificationReadRequest(notification_id=shared_id),
                                             metadata=people["alice"])
    assert again.notification.read_at == marked.notification.read_at  # the first reading counts
    assert (await inbox(notes, people["alice"])).unread_count == 2
    carol = await inbox(notes, people["carol"])
    assert carol.unread_count == 2 and not any(n.read for n in carol.notifications)
    unread = await inbox(notes, people["alice"], unread_only=True)
    assert [n.message for n in unread.notifications] == ["for everyone", "for alice"]
    assert [n.message for n in (await inbox(notes, people["alice"], level="warning")).notifications] == [
        "for everyone", "for alice"]


async def test_nobody_sees_or_marks_another_users_notification(
    notes: admin_pb2_grpc.NotificationServiceStub, people: dict[str, Metadata], bearer: Bearer
) -> None:
    sent = await notes.SendNotification(send(user_id="alice", tenant_id="tenant-a", message="secret"),
                                        metadata=people["admin"])
    alice_id = sent.notifications[0].notification_id
    for who in ("carol", "bob"):
        assert (await inbox(notes, people[who])).total_size == 0
        code, _ = await status_of(notes.MarkNotificationRead(
            admin_pb2.MarkNotificationReadRequest(notification_id=alice_id), metadata=people[who]))
        assert code == grpc.StatusCode.NOT_FOUND
        watch = notes.WatchNotifications(admin_pb2.WatchNotificationsRequest(since_id=alice_id), metadata=people[who])
        assert (await status_of(watch.read()))[0] == grpc.StatusCode.NOT_FOUND
    code, _ = await status_of(notes.MarkNotificationRead(
        admin_pb2.MarkNotificationReadRequest(notification_id="ntf_missing"), metadata=people["alice"]))
    assert code == grpc.StatusCode.NOT_FOUND
    # alice acting in another tenant does not see what was sent to her in tenant-a
    assert (await inbox(notes, people["alice"])).total_size == 1
    alice_elsewhere = bearer(sub="alice", tid="tenant-z")
    assert (await inbox(notes, alice_elsewhere)).total_size == 0
    code, _ = await status_of(notes.MarkNotificationRead(
        admin_pb2.MarkNotificationReadRequest(notification_id=alice_id), metadata=alice_elsewhere))
    assert code == grpc.StatusCode.NOT_FOUND


async def test_who_may_send_to_whom(
    notes: admin_pb2_grpc.NotificationServiceStub, people: dict[str, Metadata], bearer: Bearer
) -> None:
    code, _ = await status_of(notes.SendNotification(send(user_id="bob", message="hi"), metadata=people["alice"]))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    code, _ = await status_of(notes.SendNotification(send(tenant_id="tenant-b", message="hi"), metadata=people["mod"]))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    moderated = await notes.SendNotification(send(user_id="carol", message="from the moderator"),
                                             metadata=people["mod"])
    assert moderated.notifications[0].tenant_id == "tenant-a"  # a moderator's notice stays in their tenant
    by_service = await notes.SendNotification(send(user_id="carol", message="from a unit", kind="task.completed"),
                                              metadata=people["task"])
    assert by_service.notifications[0].sender_id == "service:task" and by_service.notifications[0].tenant_id == ""
    assert [n.message for n in (await inbox(notes, people["carol"])).notifications] == [
        "from a unit", "from the moderator"]
    carol_elsewhere = bearer(sub="carol", tid="tenant-c")
    assert [n.message for n in (await inbox(notes, carol_elsewhere)).notifications] == ["from a unit"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [({"message": "  "}, "message"), ({"message": "x" * 2001}, "message"),
     ({"message": "hi", "level": "loud"}, "level"), ({"message": "hi", "channel": "pigeon"}, "channel"),
     ({"message": "hi", "title": "t" * 201}, "title"),
     ({"message": "hi", "kind": "Not A Kind"}, "kind"), ({"message": "hi", "user_id": "a b"}, "user_id")],
)
async def test_send_refuses_bad_input(
    notes: admin_pb2_grpc.NotificationServiceStub, people: dict[str, Metadata], fields: dict[str, str], field: str
) -> None:
    fields = {"tenant_id": "tenant-a", **fields}
    code, details = await status_of(notes.SendNotification(send(**fields), metadata=people["admin"]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith(field)
    history = await notes.ListNotificationHistory(admin_pb2.ListNotificationHistoryRequest(), metadata=people["alice"])
    assert history.total_size == 0


async def test_a_target_is_needed_and_only_in_app_is_configured(
    notes: admin_pb2_grpc.NotificationServiceStub, people: dict[str, Metadata]
) -> None:
    code, details = await status_of(notes.SendNotification(send(message="to nobody"), metadata=people["admin"]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "user_id" in details
    code, details = await status_of(notes.SendNotification(
        send(user_id="alice", tenant_id="tenant-a", message="mail me", channel="email"), metadata=people["admin"]))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "not configured" in details
    history = await notes.ListNotificationHistory(admin_pb2.ListNotificationHistoryRequest(), metadata=people["alice"])
    assert history.total_size == 0  # refused before anything was stored


async def test_watch_gets_new_notifications_of_its_user_and_tenant_only(
    notes: admin_pb2_grpc.NotificationServiceStub, channel: grpc.aio.Channel, people: dict[str, Metadata]
) -> None:
    watches = {who: await opened(notes, people[who]) for who in ("alice", "carol", "bob")}
    admin = people["admin"]
    for request in (send(user_id="bob", tenant_id="tenant-b", message="bob only"),
                    send(tenant_id="tenant-b", message="tenant b"),
                    send(user_id="alice", tenant_id="tenant-a", message="alice only"),
                    send(user_id="alice", tenant_id="tenant-b", message="alice in b"),
                    send(tenant_id="tenant-a", message="tenant a")):
        await notes.SendNotification(request, metadata=admin)
    await admin_pb2_grpc.PlatformAdminServiceStub(channel).Broadcast(
        admin_pb2.BroadcastRequest(message="everyone"), metadata=admin)
    expected = {"alice": ["alice only", "tenant a", "everyone"], "carol": ["tenant a", "everyone"],
                "bob": ["bob only", "tenant b", "everyone"]}
    got = await asyncio.wait_for(
        asyncio.gather(*(messages(watches[who], len(wanted)) for who, wanted in expected.items())), 5
    )
    # the broadcast was sent last and is what each feed got last: nothing else was pushed in between
    assert dict(zip(expected, got, strict=True)) == expected
    for watch in watches.values():
        watch.cancel()


async def test_watch_resumes_after_a_notification_without_duplicates(
    notes: admin_pb2_grpc.NotificationServiceStub, people: dict[str, Metadata]
) -> None:
    admin = people["admin"]
    ids = []
    for n in range(3):
        reply = await notes.SendNotification(send(user_id="alice", tenant_id="tenant-a", message=f"n{n}"),
                                             metadata=admin)
        ids.append(reply.notifications[0].notification_id)
    await notes.SendNotification(send(user_id="carol", tenant_id="tenant-a", message="not hers"), metadata=admin)
    watch = await opened(notes, people["alice"], since_id=ids[0])
    await notes.SendNotification(send(user_id="alice", tenant_id="tenant-a", message="n3", level="error"),
                                 metadata=admin)
    assert await asyncio.wait_for(messages(watch, 3), 5) == ["n1", "n2", "n3"]
    watch.cancel()
    errors_only = await opened(notes, people["alice"], since_id=ids[0], level="error")
    await notes.SendNotification(send(user_id="alice", tenant_id="tenant-a", message="n4", level="critical"),
                                 metadata=admin)
    assert await asyncio.wait_for(messages(errors_only, 2), 5) == ["n3", "n4"]
    errors_only.cancel()
    code, details = await status_of(notes.WatchNotifications(
        admin_pb2.WatchNotificationsRequest(level="loud"), metadata=people["alice"]).read())
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "level" in details


def prefs_update(**fields: Any) -> admin_pb2.UpdateNotificationPreferencesRequest:
    paths = fields.pop("mask", None)
    request = admin_pb2.UpdateNotificationPreferencesRequest(**fields)
    if paths is not None:
        request.update_mask.CopyFrom(field_mask_pb2.FieldMask(paths=paths))
    return request


async def test_preferences_are_kept_per_user_and_masks_reset_named_fields(
    notes: admin_pb2_grpc.NotificationServiceStub, people: dict[str, Metadata]
) -> None:
    alice = people["alice"]
    defaults = (await notes.GetNotificationPreferences(admin_pb2.GetNotificationPreferencesRequest(),
                                                       metadata=alice)).preferences
    assert (defaults.user_id, defaults.in_app_enabled, defaults.email_enabled, defaults.min_level,
            defaults.digest, defaults.timezone) == ("alice", True, False, "info", "none", "UTC")
    assert not defaults.HasField("updated_at")
    changed = (await notes.UpdateNotificationPreferences(prefs_update(
        min_level="warning", muted_kinds=["task.*", "agent.progress"], timezone="Europe/Berlin",
        quiet_hours_start="22:00", quiet_hours_end="07:30", digest="daily"), metadata=alice)).preferences
    assert (changed.min_level, list(changed.muted_kinds), changed.timezone, changed.digest) == (
        "warning", ["task.*", "agent.progress"], "Europe/Berlin", "daily")
    assert changed.updated_at.seconds
    read_back = (await notes.GetNotificationPreferences(admin_pb2.GetNotificationPreferencesRequest(),
                                                        metadata=alice)).preferences
    assert read_back == changed
    carol = (await notes.GetNotificationPreferences(admin_pb2.GetNotificationPreferencesRequest(),
                                                    metadata=people["carol"])).preferences
    assert carol.min_level == "info" and not carol.muted_kinds
    # a named field absent from the request goes back to its default; the others stay
    masked = (await notes.UpdateNotificationPreferences(prefs_update(digest="weekly", mask=["min_level", "digest"]),
                                                        metadata=alice)).preferences
    assert (masked.min_level, masked.digest) == ("info", "weekly")
    assert list(masked.muted_kinds) == ["task.*", "agent.progress"]
    cleared = (await notes.UpdateNotificationPreferences(prefs_update(mask=["muted_kinds"]),
                                                         metadata=alice)).preferences
    assert not cleared.muted_kinds and cleared.timezone == "Europe/Berlin"


@pytest.mark.parametrize(
    ("fields", "field"),
    [({"min_level": "loud"}, "min_level"), ({"timezone": "Mars/Olympus"}, "timezone"),
     ({"quiet_hours_start": "22:00"}, "quiet_hours_end"), ({"quiet_hours_start": "25:00", "quiet_hours_end": "07:00"},
                                                           "quiet_hours_start"),
     ({"webhook_enabled": True}, "webhook_url"), ({"webhook_url": "ftp://example.com/x"}, "webhook_url"),
     ({"email": "not-an-address"}, "email"), ({"muted_kinds": ["Task DROP"]}, "muted_kinds"),
     ({"digest": "hourly"}, "digest"), ({"mask": ["nonsense"]}, "update_mask")],
)
async def test_preferences_refuse_bad_values(
    notes: admin_pb2_grpc.NotificationServiceStub, people: dict[str, Metadata], fields: dict[str, Any], field: str
) -> None:
    code, details = await status_of(notes.UpdateNotificationPreferences(prefs_update(**fields),
                                                                        metadata=people["alice"]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith(field)
    kept = (await notes.GetNotificationPreferences(admin_pb2.GetNotificationPreferencesRequest(),
                                                   metadata=people["alice"])).preferences
    assert not kept.HasField("updated_at")  # nothing was written


async def test_preferences_decide_what_reaches_the_user(
    notes: admin_pb2_grpc.NotificationServiceStub, people: dict[str, Metadata]
) -> None:
    admin, alice = people["admin"], people["alice"]
    await notes.UpdateNotificationPreferences(prefs_update(min_level="warning", muted_kinds=["task.*"]), metadata=alice)
    watch = await opened(notes, alice)
    too_low = await notes.SendNotification(send(user_id="alice", tenant_id="tenant-a", message="info"), metadata=admin)
    assert (too_low.recipient_count, len(too_low.notifications)) == (0, 0)
    muted = await notes.SendNotification(send(user_id="alice", tenant_id="tenant-a", message="muted", level="error",
                                              kind="task.failed"), metadata=admin)
    assert (muted.recipient_count, len(muted.notifications)) == (0, 0)
    await notes.SendNotification(send(tenant_id="tenant-a", message="tenant info"), metadata=admin)
    await notes.SendNotification(send(tenant_id="tenant-a", message="tenant muted", level="critical",
                                      kind="task.completed"), metadata=admin)
    kept = await notes.SendNotification(send(user_id="alice", tenant_id="tenant-a", message="kept", level="warning",
                                             kind="agent.failed"), metadata=admin)
    assert kept.recipient_count == 1
    assert await asyncio.wait_for(messages(watch, 1), 5) == ["kept"]  # the shared rows she muted were not pushed
    watch.cancel()
    assert [n.message for n in (await inbox(notes, alice)).notifications] == ["kept"]
    carol = await inbox(notes, people["carol"])  # the shared rows are still there for the other members
    assert [n.message for n in carol.notifications] == ["tenant muted", "tenant info"]
    history = await notes.ListNotificationHistory(admin_pb2.ListNotificationHistoryRequest(), metadata=alice)
    assert [n.message for n in history.notifications] == ["kept", "tenant muted", "tenant info"]

    await notes.UpdateNotificationPreferences(prefs_update(in_app_enabled=False, email_enabled=True), metadata=alice)
    mailed = await notes.SendNotification(send(user_id="alice", tenant_id="tenant-a", message="by mail",
                                               level="error"), metadata=admin)
    assert mailed.recipient_count == 0  # nothing was delivered
    assert [(n.channel, n.status) for n in mailed.notifications] == [("email", "failed")]
    assert "not configured" in mailed.notifications[0].data["delivery_error"]
    assert (await inbox(notes, alice)).total_size == 0  # in-app is off: the inbox is empty
    failed = await notes.ListNotificationHistory(admin_pb2.ListNotificationHistoryRequest(status="failed"),
                                                 metadata=alice)
    assert [(n.message, n.channel) for n in failed.notifications] == [("by mail", "email")]
    by_channel = await notes.ListNotificationHistory(admin_pb2.ListNotificationHistoryRequest(channel="in_app"),
                                                     metadata=alice)
    assert by_channel.total_size == 3


async def test_lists_page_filter_and_sort(
    notes: admin_pb2_grpc.NotificationServiceStub, people: dict[str, Metadata]
) -> None:
    admin, alice = people["admin"], people["alice"]
    before = time.time()
    for n in range(5):
        await notes.SendNotification(send(user_id="alice", tenant_id="tenant-a", message=f"m{n}",
                                          kind="task.failed" if n % 2 else "agent.started",
                                          level=("info", "error")[n % 2]), metadata=admin)
    seen, token = [], ""
    for _ in range(3):
        page = await inbox(notes, alice, page_size=2, page_token=token)
        assert page.total_size == 5 and page.unread_count == 5
        seen += [n.message for n in page.notifications]
        token = page.next_page_token
    assert seen == ["m4", "m3", "m2", "m1", "m0"] and token == ""
    seed_style = await inbox(notes, alice, limit=2, offset=1)
    assert [n.message for n in seed_style.notifications] == ["m3", "m2"]
    filtered = await inbox(notes, alice, filter='kind="task.failed"')
    assert [n.message for n in filtered.notifications] == ["m3", "m1"] and filtered.unread_count == 5
    contains = await inbox(notes, alice, filter="kind:agent AND message!=m0")
    assert [n.message for n in contains.notifications] == ["m4", "m2"]
    assert [n.message for n in (await inbox(notes, alice, filter="level=error")).notifications] == ["m3", "m1"]
    oldest = await inbox(notes, alice, order_by="created_at asc", page_size=2)
    assert [n.message for n in oldest.notifications] == ["m0", "m1"]
    by_level = await inbox(notes, alice, order_by="level desc, created_at", page_size=3)
    assert [n.message for n in by_level.notifications] == ["m1", "m3", "m0"]
    cutoff = timestamp_pb2.Timestamp()
    cutoff.FromNanoseconds(int(before * 1e9))
    history = await notes.ListNotificationHistory(admin_pb2.ListNotificationHistoryRequest(since=cutoff, page_size=1),
                                                  metadata=alice)
    assert history.total_size == 5 and history.next_page_token
    earlier = await notes.ListNotificationHistory(admin_pb2.ListNotificationHistoryRequest(until=cutoff),
                                                  metadata=alice)
    assert earlier.total_size == 0
    for request, field in ((admin_pb2.ListNotificationsRequest(filter="password=x"), "filter"),
                           (admin_pb2.ListNotificationsRequest(filter="kind ~ x"), "filter"),
                           (admin_pb2.ListNotificationsRequest(order_by="secret"), "order_by"),
                           (admin_pb2.ListNotificationsRequest(level="loud"), "level"),
                           (admin_pb2.ListNotificationsRequest(page_token="bogus"), "page_token")):
        code, details = await status_of(notes.ListNotifications(request, metadata=alice))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith(field)
    for history_request, field in ((admin_pb2.ListNotificationHistoryRequest(channel="fax"), "channel"),
                                   (admin_pb2.ListNotificationHistoryRequest(status="lost"), "status")):
        code, details = await status_of(notes.ListNotificationHistory(history_request, metadata=alice))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith(field)


async def test_broadcast_persist_false_stores_nothing_and_expired_broadcasts_leave_the_inbox(
    notes: admin_pb2_grpc.NotificationServiceStub, channel: grpc.aio.Channel, people: dict[str, Metadata]
) -> None:
    platform = admin_pb2_grpc.PlatformAdminServiceStub(channel)
    admin = people["admin"]
    started = time.monotonic()
    live_only = await platform.Broadcast(admin_pb2.BroadcastRequest(message="live only", persist=False),
                                         metadata=admin)
    assert live_only.recipient_count == 0 and live_only.event_id
    stored = await platform.Broadcast(admin_pb2.BroadcastRequest(message="soon over", tenant_id="tenant-a"),
                                      metadata=admin)
    assert stored.recipient_count == 0  # no auth unit to count the tenant's accounts: unknown
    assert time.monotonic() - started < 3  # an unreachable auth unit does not hold the broadcast up
    expires = timestamp_pb2.Timestamp()
    expires.FromNanoseconds(int((time.time() + 1.0) * 1e9))
    await platform.Broadcast(admin_pb2.BroadcastRequest(message="brief", expires_at=expires, persist=True),
                             metadata=admin)
    alice = await inbox(notes, people["alice"])
    assert [n.message for n in alice.notifications] == ["brief", "soon over"]
    assert alice.notifications[0].data["expires_at"] == expires.ToJsonString()
    assert [n.message for n in (await inbox(notes, people["bob"])).notifications] == ["brief"]
    await asyncio.sleep(1.2)
    assert [n.message for n in (await inbox(notes, people["alice"])).notifications] == ["soon over"]
    history = await notes.ListNotificationHistory(admin_pb2.ListNotificationHistoryRequest(), metadata=people["alice"])
    assert [n.message for n in history.notifications] == ["brief", "soon over"]


async def test_broadcast_counts_the_audience_with_the_auth_unit(
    auth_unit: RunningUnit, settings: Settings, notes: admin_pb2_grpc.NotificationServiceStub,
    channel: grpc.aio.Channel, people: dict[str, Metadata]
) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{auth_unit.port}") as auth_channel:
        auth = auth_pb2_grpc.AuthServiceStub(auth_channel)
        owner = await auth.Register(auth_pb2.RegisterRequest(email="owner@example.com", username="owner",
                                                             password="correct horse 1"))
        root = await auth.AdminLogin(auth_pb2.AdminLoginRequest(api_key=ADMIN_KEY))
        users = auth_pb2_grpc.UserAdminServiceStub(auth_channel)
        root_md = [("authorization", f"Bearer {root.access_token}")]
        for name in ("member1", "member2"):
            await users.AdminCreateUser(auth_pb2.AdminCreateUserRequest(
                username=name, email=f"{name}@example.com", password="correct horse 1",
                tenant_id=owner.user.tenant_id), metadata=root_md)
        await auth.Register(auth_pb2.RegisterRequest(email="other@example.com", username="other",
                                                     password="correct horse 1"))
        everyone = (await users.AdminGetUserStats(auth_pb2.AdminGetUserStatsRequest(), metadata=root_md)).active_users
        member = await auth.Login(auth_pb2.LoginRequest(username="member1", password="correct horse 1"))
    platform = admin_pb2_grpc.PlatformAdminServiceStub(channel)
    tenant = await platform.Broadcast(admin_pb2.BroadcastRequest(message="team news", tenant_id=owner.user.tenant_id),
                                      metadata=people["admin"])
    assert tenant.recipient_count == 3
    everybody = await platform.Broadcast(admin_pb2.BroadcastRequest(message="platform news"), metadata=people["admin"])
    assert everybody.recipient_count == everyone >= 4
    shared = await notes.SendNotification(send(tenant_id=owner.user.tenant_id, message="via send"),
                                          metadata=people["admin"])
    assert shared.recipient_count == 3
    by_unit = await notes.SendNotification(send(tenant_id=owner.user.tenant_id, message="from a unit"),
                                           metadata=people["task"])
    assert by_unit.recipient_count == 0  # only platform admins may have the accounts counted
    member_md = [("authorization", f"Bearer {member.access_token}")]
    seen = await inbox(notes, member_md)
    assert [n.message for n in seen.notifications] == ["from a unit", "via send", "platform news", "team news"]
    assert {n.user_id for n in seen.notifications} == {member.user.user_id}


async def test_a_resume_racing_new_notifications_gets_each_once(
    notes: admin_pb2_grpc.NotificationServiceStub, people: dict[str, Metadata]
) -> None:
    admin = people["admin"]
    first = await notes.SendNotification(send(user_id="alice", tenant_id="tenant-a", message="start"), metadata=admin)

    async def burst() -> None:
        for n in range(30):
            await notes.SendNotification(send(user_id="alice", tenant_id="tenant-a", message=f"r{n}"), metadata=admin)

    sending = asyncio.create_task(burst())
    watch = notes.WatchNotifications(
        admin_pb2.WatchNotificationsRequest(since_id=first.notifications[0].notification_id), metadata=people["alice"]
    )
    await sending
    await notes.SendNotification(send(user_id="alice", tenant_id="tenant-a", message="end"), metadata=admin)
    got = await asyncio.wait_for(messages(watch, 31), 5)
    watch.cancel()
    assert got == [f"r{n}" for n in range(30)] + ["end"]  # stored order, no gap, no repeat


async def test_with_redis_a_notification_sent_on_one_replica_reaches_a_watcher_on_another(
    redis_url: str, tmp_path: Path, bearer: Bearer  # noqa: F811
) -> None:
    shared = Settings.from_env({"AGENTMESH_DATA_DIR": str(tmp_path / "shared"), "JWT_SECRET": TEST_SECRET,
                                "REDIS_URL": redis_url, "AGENTMESH_AUTH_PORT": str(free_port())})
    tenant = f"tenant-{uuid.uuid4().hex}"  # the Redis stream is shared with other tests of the session
    reader = bearer(sub="dana", tid=tenant)
    async with AsyncExitStack() as stack:
        first = await start(SPEC, shared, stack, port=0, metrics_port=0)
        second = await start(SPEC, shared, stack, port=0, metrics_port=0)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{first.port}") as one, \
                grpc.aio.insecure_channel(f"127.0.0.1:{second.port}") as two:
            sender, watcher = admin_pb2_grpc.NotificationServiceStub(one), admin_pb2_grpc.NotificationServiceStub(two)
            watch = await opened(watcher, reader)
            await sender.SendNotification(send(user_id="erin", tenant_id=tenant, message="not for dana"),
                                          metadata=bearer(sub="root", role="admin"))
            await sender.SendNotification(send(user_id="dana", tenant_id=tenant, message="across replicas"),
                                          metadata=bearer(sub="root", role="admin"))
            assert await asyncio.wait_for(messages(watch, 1), 5) == ["across replicas"]
            watch.cancel()
            assert [n.message for n in (await inbox(watcher, reader)).notifications] == ["across replicas"]
