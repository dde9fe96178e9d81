"""PlatformAdminService: what is built so far is the maintenance switch and the broadcast.

The switch is one row in the admin unit's database; changing it publishes
`system.maintenance` (a platform-wide event) and the edge, which polls
GetMaintenanceMode, answers 503 to non-admins while it is on.

Broadcast publishes `system.notification` to everyone (no tenant) or to one
tenant, for the clients connected now (`delivered_count`: the feeds on this
replica it reached). Unless `persist` is false it also stores ONE in-app
notification for that audience (NotificationService; every member sees it and
reads it on their own), and `recipient_count` is the number of active accounts
in the audience as the auth unit counts them, 0 when that count is not
available or nothing was stored.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

import grpc
from agentmesh.v1 import admin_pb2, common_pb2

from services.common import authctx
from services.common.authctx import Caller
from services.common.errors import InvalidArgument
from services.common.events import EventBus
from services.common.protoutil import seconds, timestamp
from services.common.storage import Database

MAX_MESSAGE = 500
MAX_BROADCAST = 2000
MAX_TITLE = 200
LEVELS = ("info", "warning", "critical")


def _state(row: dict[str, Any]) -> admin_pb2.MaintenanceMode:
    return admin_pb2.MaintenanceMode(
        enabled=bool(row["enabled"]),
        message=row["message"],
        updated_at=timestamp(row["updated_at"]),
        updated_by=row["updated_by"],
        expected_end_at=timestamp(row["expected_end_at"]),
    )


class BroadcastInbox(Protocol):
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
        """Store the broadcast as an in-app notification of its audience; return the users it reaches."""
        ...


class PlatformAdminServicer:
    def __init__(self, db: Database, bus: EventBus, inbox: BroadcastInbox) -> None:
        self.db = db
        self.bus = bus
        self.inbox = inbox

    async def GetMaintenanceMode(
        self, request: admin_pb2.GetMaintenanceModeRequest, context: grpc.aio.ServicerContext
    ) -> Any:
        row = await self.db.fetch_one("SELECT * FROM maintenance WHERE id = 1")
        assert row is not None  # the migration inserts it
        return admin_pb2.GetMaintenanceModeResponse(maintenance=_state(row))

    async def SetMaintenanceMode(
        self, request: admin_pb2.SetMaintenanceModeRequest, context: grpc.aio.ServicerContext
    ) -> Any:
        if len(request.message) > MAX_MESSAGE:
            raise InvalidArgument.field("message", f"at most {MAX_MESSAGE} characters")
        now = time.time()
        end = seconds(request.expected_end_at) if request.HasField("expected_end_at") else None
        if end is not None and end <= now:
            raise InvalidArgument.field("expected_end_at", "must be in the future")
        caller = authctx.current()
        async with self.db.transaction() as tx:
            row = await tx.fetch_one("SELECT * FROM maintenance WHERE id = 1")
            assert row is not None
            enabled = request.enabled if request.HasField("enabled") else not row["enabled"]
            await tx.execute(
                "UPDATE maintenance SET enabled = ?, message = ?, updated_at = ?, updated_by = ?,"
                " expected_end_at = ? WHERE id = 1",
                (int(enabled), request.message if enabled else "", now, caller.user_id, end if enabled else None),
            )
            row = await tx.fetch_one("SELECT * FROM maintenance WHERE id = 1")
        assert row is not None
        state = _state(row)
        event = common_pb2.Event(type="system.maintenance", subject_id="maintenance")
        event.data.update({"enabled": state.enabled, "message": state.message, "updated_by": caller.user_id})
        await self.bus.publish(event)
        return admin_pb2.SetMaintenanceModeResponse(maintenance=state)

    async def Broadcast(self, request: admin_pb2.BroadcastRequest, context: grpc.aio.ServicerContext) -> Any:
        text = request.message.strip()
        if not text or len(request.message) > MAX_BROADCAST:
            raise InvalidArgument.field("message", f"1 to {MAX_BROADCAST} characters")
        if len(request.title) > MAX_TITLE:
            raise InvalidArgument.field("title", f"at most {MAX_TITLE} characters")
        level = request.level or "info"
        if level not in LEVELS:
            raise InvalidArgument.field("level", f"one of {', '.join(LEVELS)}")
        if request.HasField("expires_at") and seconds(request.expires_at) <= time.time():
            raise InvalidArgument.field("expires_at", "must be in the future")
        caller = authctx.current()
        event = common_pb2.Event(type="system.notification", tenant_id=request.tenant_id, subject_id="broadcast")
        event.data.update({"message": text, "title": request.title, "level": level, "from": caller.user_id})
        if request.HasField("expires_at"):
            event.data["expires_at"] = request.expires_at.ToJsonString()
        recipients = 0
        if not request.HasField("persist") or request.persist:
            recipients = await self.inbox.broadcast(
                caller=caller, tenant_id=request.tenant_id, title=request.title.strip(), message=text, level=level,
                expires_at=seconds(request.expires_at) if request.HasField("expires_at") else None,
                data={"expires_at": event.data["expires_at"]} if request.HasField("expires_at") else {},
            )
        delivered = self.bus.audience(event)
        published = await self.bus.publish(event)
        return admin_pb2.BroadcastResponse(
            event_id=published.id, recipient_count=recipients, delivered_count=delivered, sent_at=published.time
        )
