"""EventService: the platform's event hub, on the unit that serves the seeds' event sockets.

Clients watch (`WatchEvents`, which the edge serves on /ws, /api/v1/ws and as
SSE/NDJSON on /api/v1/events); units publish (`PublishEvent`, service role).
With REDIS_URL every replica of every unit shares one Redis stream; in the
embedded default the units publish here over gRPC and this unit's in-process
bus fans out.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import grpc
from agentmesh.v1 import admin_pb2

from services.common import authctx, contracts
from services.common.errors import InvalidArgument, PermissionDenied
from services.common.events import LAGGED, EventBus

_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_*]+)+$")
_WILDCARD = re.compile(r"[*?\[]")


def _could_match(pattern: str, prefixes: tuple[str, ...]) -> bool:
    """Whether a glob pattern can match some event type beginning with one of the prefixes."""
    head = _WILDCARD.split(pattern, 1)[0]
    return any(head.startswith(p) or p.startswith(head) for p in prefixes)
MAX_PATTERNS = 50
# The bus's own notices, and notifications (stored by NotificationService before they are announced).
RESERVED_PREFIXES = (LAGGED.split(".", 1)[0] + ".", "notification.")


class EventServicer:
    def __init__(self, bus: EventBus) -> None:
        self.bus = bus

    async def WatchEvents(
        self, request: admin_pb2.WatchEventsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[admin_pb2.WatchEventsResponse]:
        caller = authctx.current()
        if request.all_tenants and not caller.is_admin:
            raise PermissionDenied("all_tenants is for platform admins", reason="ADMIN_REQUIRED")
        patterns = [p.strip() for p in request.patterns if p.strip()]
        if len(patterns) > MAX_PATTERNS:
            raise InvalidArgument.field("patterns", f"at most {MAX_PATTERNS} patterns")
        known = (*(p for prefixes in contracts.event_prefixes().values() for p in prefixes), RESERVED_PREFIXES[0])
        for pattern in patterns:
            if not _could_match(pattern, known):
                raise InvalidArgument.field(
                    "patterns", f"{pattern!r} matches no event the platform publishes ({', '.join(known)}...)"
                )
        subscription = self.bus.subscribe(
            patterns,
            tenant_id=caller.tenant_id,
            user_id=caller.user_id,
            all_tenants=request.all_tenants,
            since_id=request.since_id,
        )
        async with subscription as events:
            await context.send_initial_metadata(())  # tells the client the feed is open: nothing is missed now
            async for event in events:
                yield admin_pb2.WatchEventsResponse(event=event)

    async def PublishEvent(
        self, request: admin_pb2.PublishEventRequest, context: grpc.aio.ServicerContext
    ) -> Any:
        event = request.event
        if not _TYPE.match(event.type) or "*" in event.type:
            raise InvalidArgument.field("event.type", "a dotted lower-case type such as task.progress")
        if event.type.startswith(RESERVED_PREFIXES):
            raise InvalidArgument.field("event.type", "bus.* and notification.* are published by the hub itself")
        caller = authctx.current()
        unit = caller.user_id.removeprefix("service:")
        allowed = contracts.event_prefixes().get(unit, ()) if caller.role == "service" else ()
        if not event.type.startswith(allowed) or not allowed:
            raise PermissionDenied(
                f"the {unit} unit publishes {', '.join(p + '*' for p in allowed) or 'no events'}; not {event.type}",
                reason="EVENT_TYPE_NOT_YOURS",
            )
        published = await self.bus.publish(event)
        return admin_pb2.PublishEventResponse(event=published)
