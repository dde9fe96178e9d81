"""NotificationService: users' in-app notifications, their read state, preferences and live feed.

Design (details in services.admin.notification_store): a notification is
stored once per audience. One addressed to a user is a row for that user; one
addressed to a whole tenant (SendNotification with tenant_id and no user_id,
or a Broadcast to a tenant) or to everyone (a Broadcast without tenant) is ONE
row that every member sees, with read state kept per user. A row's audience
follows the event bus's visibility rule, so the list a user reads and the
live feed they watch agree: a user sees rows of their tenant (or of no
tenant) that name them (or no user). Anyone else's notification id is
NOT_FOUND. Tenant- and platform-wide rows read as the viewer's own copy
(tenant_id and user_id filled in with the viewer's).

Who may send (SendNotification: admin, moderator, service, from the
contract): platform admins and services to any user or tenant; moderators to
users of their own tenant or to their own tenant. A user_id without tenant_id
from an admin or a service reaches that user whatever tenant they act in.

Preferences (NotificationPreferences): `min_level` and `muted_kinds` decide
whether a notification reaches the user at all, `in_app_enabled` whether it is
stored in-app and pushed. For a notification to one user they are applied
when it is sent: nothing is stored for a channel the user turned off. A
tenant- or platform-wide row is shared, so each member's preferences are
applied when they list or watch (the inbox); ListNotificationHistory shows
every row addressed to the user. ListNotifications' unread_count counts the
whole inbox, whatever the request's filters. Only in-app delivery is real; see
services.admin.notification_delivery for e-mail and webhook.

WatchNotifications follows `notification.*` on the unit's bus for the
caller's tenant and user; `since_id` first replays (at most REPLAY_MAX, the
newest) inbox rows stored after that notification.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import grpc
from agentmesh.v1 import admin_pb2, common_pb2
from google.protobuf import json_format

from services.admin.hub import OpenFeeds
from services.admin.notification_delivery import CREATED, NOT_CONFIGURED, Notifier
from services.admin.notification_prefs import updated
from services.admin.notification_store import (
    CHANNELS,
    LEVELS,
    STATUSES,
    Draft,
    NotificationStore,
    Preferences,
    Where,
    addressed_to,
    apply_filter,
    inbox_of,
    level_rank,
    notification_message,
    order_sql,
)
from services.common import authctx
from services.common.authctx import Caller
from services.common.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from services.common.events import EventBus
from services.common.protoutil import seconds, struct_dict

MAX_MESSAGE = 2000
MAX_TITLE = 200
MAX_KIND = 100
MAX_SUBJECT = 200
MAX_DATA_BYTES = 16 * 1024
REPLAY_MAX = 500
PREFS_TTL = 1.0  # a watch re-reads the caller's preferences at most this often
_ID = re.compile(r"[^\s]{1,128}")
_KIND = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)*")


def _level(field_name: str, value: str) -> int:
    return level_rank(field_name, value) if value else 0


def _target(field_name: str, value: str) -> str:
    value = value.strip()
    if value and not _ID.fullmatch(value):
        raise InvalidArgument.field(field_name, "an id of at most 128 characters without spaces")
    return value


def _with(where: Where, clause: str, *params: Any) -> Where:
    extended = Where(list(where.clauses), list(where.params))
    extended.add(clause, *params)
    return extended


def _audience(caller: Caller, user_id: str, tenant_id: str) -> tuple[str, str]:
    """The (tenant, user) a sender may address; moderators stay inside their own tenant."""
    if not user_id and not tenant_id:
        raise InvalidArgument.field("user_id", "either user_id or tenant_id is needed")
    if caller.is_admin or caller.role == "service":
        return tenant_id, user_id
    if not caller.tenant_id or tenant_id not in ("", caller.tenant_id):
        raise PermissionDenied("moderators notify their own tenant only", reason="TENANT_REQUIRED")
    return caller.tenant_id, user_id


class NotificationServicer:
    """agentmesh.v1.NotificationService."""

    def __init__(self, store: NotificationStore, notifier: Notifier, bus: EventBus,
                 feeds: OpenFeeds | None = None) -> None:
        self.store = store
        self.notifier = notifier
        self.bus = bus
        self.feeds = feeds or OpenFeeds()

    async def ListNotifications(
        self, request: admin_pb2.ListNotificationsRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.ListNotificationsResponse:
        caller = authctx.current()
        floor = _level("level", request.level)
        order = order_sql(request.order_by)
        inbox = inbox_of(caller, await self.store.preferences(caller.user_id), time.time())
        where = _with(inbox, "n.level_rank >= ?", floor)
        if request.unread_only:
            where.add("r.read_at IS NULL")
        apply_filter(where, request.filter)
        rows, total, token = await self.store.page(caller, where, order, request)
        unread = await self.store.count(caller, _with(inbox, "r.read_at IS NULL"))
        return admin_pb2.ListNotificationsResponse(
            notifications=[notification_message(row, caller) for row in rows],
            unread_count=unread,
            next_page_token=token,
            total_size=total,
        )

    async def WatchNotifications(
        self, request: admin_pb2.WatchNotificationsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[admin_pb2.WatchNotificationsResponse]:
        caller = authctx.current()
        floor = _level("level", request.level)
        since = request.since_id.strip()
        after = await self.store.seq_of(caller, since) if since else None
        feed = _Feed(self.store, caller, floor)
        subscription = self.bus.subscribe(["notification.*"], tenant_id=caller.tenant_id, user_id=caller.user_id)
        with self.feeds.opened(caller):
            async with subscription as events:
                await context.send_initial_metadata(())  # the feed is open: nothing stored from now on is missed
                replayed: set[str] = set()
                if after is not None:
                    prefs = await feed.preferences()
                    where = _with(inbox_of(caller, prefs, time.time()), "n.level_rank >= ?", floor)
                    for row in await self.store.after(caller, where, after, REPLAY_MAX):
                        replayed.add(row["notification_id"])
                        yield admin_pb2.WatchNotificationsResponse(notification=notification_message(row, caller))
                async for event in events:
                    notification = await feed.accepts(event)
                    if notification is not None and notification.notification_id not in replayed:
                        yield admin_pb2.WatchNotificationsResponse(notification=notification)

    async def SendNotification(
        self, request: admin_pb2.SendNotificationRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.SendNotificationResponse:
        caller = authctx.current()
        draft = _draft(request, caller)
        if draft.user_id:
            drafts = self._personal(draft, await self.store.preferences(draft.user_id))
            rows = await self.notifier.deliver(drafts)
            count = int(any(row["status"] == "delivered" for row in rows))
        else:
            rows = await self.notifier.deliver([draft])
            count = await self.notifier.audience_size(draft.tenant_id, caller)
        return admin_pb2.SendNotificationResponse(
            notifications=[notification_message(row) for row in rows], recipient_count=count
        )

    @staticmethod
    def _personal(draft: Draft, prefs: Preferences) -> list[Draft]:
        """The rows one recipient's preferences ask for: in-app, plus a failed row per extra channel."""
        if not prefs.notifies(draft.level, draft.kind):
            return []
        drafts = [draft] if prefs.in_app_enabled else []
        for channel, wanted in (("email", prefs.email_enabled), ("webhook", prefs.webhook_enabled)):
            if wanted:
                reason = NOT_CONFIGURED[channel]
                data = {**draft.data, "delivery_error": reason}
                drafts.append(replace(draft, channel=channel, status="failed", error=reason, data=data))
        return drafts

    async def GetNotificationPreferences(
        self, request: admin_pb2.GetNotificationPreferencesRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.GetNotificationPreferencesResponse:
        caller = authctx.current()
        prefs = await self.store.preferences(caller.user_id)
        return admin_pb2.GetNotificationPreferencesResponse(preferences=prefs.message(caller.user_id))

    async def UpdateNotificationPreferences(
        self, request: admin_pb2.UpdateNotificationPreferencesRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.UpdateNotificationPreferencesResponse:
        caller = authctx.current()
        prefs = updated(await self.store.preferences(caller.user_id), request)
        saved = await self.store.save_preferences(caller.user_id, prefs)
        return admin_pb2.UpdateNotificationPreferencesResponse(preferences=saved.message(caller.user_id))

    async def ListNotificationHistory(
        self, request: admin_pb2.ListNotificationHistoryRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.ListNotificationHistoryResponse:
        caller = authctx.current()
        where = addressed_to(caller)
        channel, status = request.channel.strip(), request.status.strip()
        if channel:
            if channel not in CHANNELS:
                raise InvalidArgument.field("channel", f"one of {', '.join(CHANNELS)}")
            where.add("n.channel = ?", channel)
        if status:
            if status not in STATUSES:
                raise InvalidArgument.field("status", f"one of {', '.join(STATUSES)}")
            where.add("n.status = ?", status)
        if request.HasField("since"):
            where.add("n.created_at >= ?", seconds(request.since))
        if request.HasField("until"):
            where.add("n.created_at < ?", seconds(request.until))
        apply_filter(where, request.filter)
        rows, total, token = await self.store.page(caller, where, order_sql(request.order_by), request)
        return admin_pb2.ListNotificationHistoryResponse(
            notifications=[notification_message(row, caller) for row in rows], next_page_token=token, total_size=total
        )

    async def MarkNotificationRead(
        self, request: admin_pb2.MarkNotificationReadRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.MarkNotificationReadResponse:
        caller = authctx.current()
        notification_id = request.notification_id.strip()
        if not notification_id:
            raise InvalidArgument.field("notification_id", "is required")
        row = await self.store.mark_read(caller, notification_id)
        return admin_pb2.MarkNotificationReadResponse(notification=notification_message(row, caller))


def _draft(request: admin_pb2.SendNotificationRequest, caller: Caller) -> Draft:
    """The request checked and read into a draft for its audience."""
    message = request.message.strip()
    if not message or len(request.message) > MAX_MESSAGE:
        raise InvalidArgument.field("message", f"1 to {MAX_MESSAGE} characters")
    if len(request.title) > MAX_TITLE:
        raise InvalidArgument.field("title", f"at most {MAX_TITLE} characters")
    level = request.level.strip() or "info"
    level_rank("level", level)
    channel = request.channel.strip() or "in_app"
    if channel not in CHANNELS:
        raise InvalidArgument.field("channel", f"one of {', '.join(CHANNELS)}")
    if channel != "in_app":
        raise FailedPrecondition(f"channel {channel}: {NOT_CONFIGURED[channel]}; use in_app",
                                 reason="CHANNEL_NOT_CONFIGURED")
    kind = request.kind.strip()
    if kind and (len(kind) > MAX_KIND or not _KIND.fullmatch(kind)):
        raise InvalidArgument.field("kind", "a dotted lower-case type such as task.failed")
    if len(request.subject_id) > MAX_SUBJECT:
        raise InvalidArgument.field("subject_id", f"at most {MAX_SUBJECT} characters")
    if request.data.ByteSize() > MAX_DATA_BYTES:
        raise InvalidArgument.field("data", f"at most {MAX_DATA_BYTES} bytes")
    tenant_id, user_id = _audience(caller, _target("user_id", request.user_id), _target("tenant_id", request.tenant_id))
    return Draft(
        tenant_id=tenant_id, user_id=user_id, message=message, title=request.title.strip(), level=level,
        channel=channel, kind=kind, subject_id=request.subject_id.strip(), data=struct_dict(request.data),
        sender_id=caller.user_id,
    )


class _Feed:
    """One watcher's view of `notification.created` events: their inbox rules, applied to each event."""

    def __init__(self, store: NotificationStore, caller: Caller, floor: int) -> None:
        self._store = store
        self._caller = caller
        self._floor = floor
        self._prefs: Preferences | None = None
        self._loaded = 0.0

    async def preferences(self) -> Preferences:
        now = asyncio.get_running_loop().time()
        if self._prefs is None or now - self._loaded > PREFS_TTL:
            self._prefs, self._loaded = await self._store.preferences(self._caller.user_id), now
        return self._prefs

    async def accepts(self, event: common_pb2.Event) -> admin_pb2.Notification | None:
        """The event's notification as the caller sees it, or None when it is not for their inbox."""
        if event.type != CREATED:
            return None
        notification = admin_pb2.Notification()
        try:
            json_format.ParseDict(struct_dict(event.data), notification, ignore_unknown_fields=True)
        except json_format.ParseError:
            return None
        if notification.channel != "in_app" or notification.level not in LEVELS or not notification.notification_id:
            return None
        if LEVELS.index(notification.level) < self._floor:
            return None
        prefs = await self.preferences()
        if not prefs.in_app_enabled or not prefs.notifies(notification.level, notification.kind):
            return None
        notification.tenant_id = notification.tenant_id or self._caller.tenant_id
        notification.user_id = notification.user_id or self._caller.user_id
        return notification
