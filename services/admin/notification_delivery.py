"""Storing a notification and announcing it: the one path for SendNotification and Broadcast.

Only the in-app channel delivers. A stored in-app notification is announced
as `notification.created` on the admin unit's own bus (the one EventService
serves), with the row's tenant_id and, for one user, user_id, so the bus shows
it to exactly the row's audience; the event's data is the Notification in
proto JSON field names. Announcing is best effort: the row is the record, and
a bus that is down costs the live push, never the notification.

E-mail and webhook delivery are not configured on this platform. A sender who
asks for one of them is refused with FAILED_PRECONDITION (nothing is stored);
a recipient whose preferences add them gets a history row per added channel
with status "failed" and the reason in its data under "delivery_error".

How many users a tenant- or platform-wide notification reaches is the auth
unit's to say (it owns the accounts): the active accounts of the tenant, or of
the platform, as AdminGetUserStats counts them on the caller's behalf. Only
platform admins may ask, so for other senders, or when the auth unit does not
answer within two seconds, the count is unknown and reported as 0.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol

import grpc
from agentmesh.v1 import auth_pb2, auth_pb2_grpc, common_pb2
from google.protobuf import json_format

from services.admin.notification_store import Draft, NotificationStore, notification_message
from services.common.authctx import Caller
from services.common.events import EventBus, EventBusUnavailable
from services.common.servicecreds import ServiceCredentials
from services.common.storage import Row

log = logging.getLogger("agentmesh.admin.notifications")

CREATED = "notification.created"
NOT_CONFIGURED = {
    "email": "e-mail delivery is not configured on this platform",
    "webhook": "webhook delivery is not configured on this platform",
}


class UserCount(Protocol):
    async def users(self, tenant_id: str, caller: Caller) -> int | None:
        """Active accounts of the tenant ('' = the whole platform) as the caller may learn them; None if unknown."""
        ...


class AuthUserCount:
    """Counts accounts with the auth unit's AdminGetUserStats, acting for the caller under this unit's token."""

    def __init__(self, credentials: ServiceCredentials, *, timeout: float = 2.0) -> None:
        self._credentials = credentials
        self._stub = auth_pb2_grpc.UserAdminServiceStub(credentials.channel)
        self._timeout = timeout

    async def users(self, tenant_id: str, caller: Caller) -> int | None:
        if not caller.is_admin:
            return None  # the auth unit answers platform admins only
        try:
            async with asyncio.timeout(self._timeout):
                # The service token vouches for the caller; the caller's own token may expire meanwhile.
                metadata = [(k, v) for k, v in caller.metadata() if k != "authorization"]
                metadata += await self._credentials.metadata()
                reply = await self._stub.AdminGetUserStats(
                    auth_pb2.AdminGetUserStatsRequest(tenant_id=tenant_id), metadata=metadata
                )
        except (grpc.aio.AioRpcError, TimeoutError) as exc:
            code = exc.code().name if isinstance(exc, grpc.aio.AioRpcError) else "DEADLINE_EXCEEDED"
            log.warning("could not count the audience with the auth unit: %s", code, extra={"tenant_id": tenant_id})
            return None
        return int(reply.active_users)


class Notifier:
    """Stores notifications, announces the in-app ones and counts audiences."""

    def __init__(self, store: NotificationStore, bus: EventBus, users: UserCount) -> None:
        self.store = store
        self.bus = bus
        self.users = users

    async def deliver(self, drafts: Sequence[Draft]) -> list[Row]:
        """Store the drafts together, then announce each in-app one that was delivered."""
        rows = await self.store.insert(drafts)
        for row in rows:
            if row["channel"] == "in_app" and row["status"] == "delivered":
                await self._announce(row)
        return rows

    async def audience_size(self, tenant_id: str, caller: Caller) -> int:
        """Users a tenant- or platform-wide notification reaches; 0 when that cannot be known."""
        return await self.users.users(tenant_id, caller) or 0

    async def broadcast(
        self,
        *,
        caller: Caller,
        tenant_id: str,
        title: str,
        message: str,
        level: str,
        expires_at: float | None,
        data: dict[str, object],
    ) -> int:
        """Store a broadcast as one in-app notification for its audience; return the users it reaches."""
        await self.deliver([Draft(
            tenant_id=tenant_id, user_id="", title=title, message=message, level=level, kind="system.notification",
            subject_id="broadcast", data=data, sender_id=caller.user_id, expires_at=expires_at,
        )])
        return await self.audience_size(tenant_id, caller)

    async def _announce(self, row: Row) -> None:
        event = common_pb2.Event(
            type=CREATED, tenant_id=row["tenant_id"], user_id=row["user_id"], subject_id=row["notification_id"]
        )
        event.data.update(json_format.MessageToDict(notification_message(row), preserving_proto_field_name=True))
        try:
            await self.bus.publish(event)
        except EventBusUnavailable as exc:
            log.warning("notification stored but not pushed: %s", exc.message,
                        extra={"notification_id": row["notification_id"]})

