"""EventService: the platform's event hub, on the unit that serves the seeds' event sockets.

Clients watch (`WatchEvents`, which the edge serves on /ws, /api/v1/ws and as
SSE/NDJSON on /api/v1/events); units publish (`PublishEvent`, service role).
With REDIS_URL every replica of every unit shares one Redis stream; in the
embedded default the units publish here over gRPC and this unit's in-process
bus fans out.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
from agentmesh.v1 import admin_pb2

from services.common import authctx, contracts
from services.common.authctx import Caller
from services.common.errors import InvalidArgument, PermissionDenied
from services.common.events import EventBus
from services.common.events.envelope import HUB_ONLY_PREFIXES, check_publishable

_WILDCARD = re.compile(r"[*?\[]")


def _could_match(pattern: str, prefixes: tuple[str, ...]) -> bool:
    """Whether a glob pattern can match some event type beginning with one of the prefixes."""
    head = _WILDCARD.split(pattern, 1)[0]
    return any(head.startswith(p) or p.startswith(head) for p in prefixes)
MAX_PATTERNS = 50
MAX_BATCH = 500


class OpenFeeds:
    """Clients' event and notification feeds open at the hub now (the units' own feeds are not counted)."""

    def __init__(self) -> None:
        self.count = 0

    @contextlib.contextmanager
    def opened(self, caller: Caller) -> Iterator[None]:
        counted = caller.role != "service"
        self.count += counted
        try:
            yield
        finally:
            self.count -= counted


class EventServicer:
    def __init__(self, bus: EventBus, feeds: OpenFeeds | None = None) -> None:
        self.bus = bus
        self.feeds = feeds or OpenFeeds()

    async def WatchEvents(
        self, request: admin_pb2.WatchEventsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[admin_pb2.WatchEventsResponse]:
        caller = authctx.current()
        if request.all_tenants and not (caller.is_admin or caller.role == "service"):
            raise PermissionDenied("all_tenants is for platform admins and units", reason="ADMIN_REQUIRED")
        patterns = [p.strip() for p in request.patterns if p.strip()]
        if len(patterns) > MAX_PATTERNS:
            raise InvalidArgument.field("patterns", f"at most {MAX_PATTERNS} patterns")
        known = (*(p for prefixes in contracts.event_prefixes().values() for p in prefixes), HUB_ONLY_PREFIXES[0])
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
        with self.feeds.opened(caller):
            async with subscription as events:
                await context.send_initial_metadata(())  # tells the client the feed is open: nothing is missed now
                async for event in events:
                    yield admin_pb2.WatchEventsResponse(event=event)

    async def PublishEvent(
        self, request: admin_pb2.PublishEventRequest, context: grpc.aio.ServicerContext
    ) -> Any:
        batch = len(request.events) > 0
        if batch and request.HasField("event"):
            raise InvalidArgument.field("events", "send event or events, not both")
        if not batch and not request.HasField("event"):
            raise InvalidArgument.field("event", "required")
        if len(request.events) > MAX_BATCH:
            raise InvalidArgument.field("events", f"at most {MAX_BATCH} events per call")
        events = list(request.events) if batch else [request.event]
        caller = authctx.current()
        unit = caller.user_id.removeprefix("service:")
        allowed = contracts.event_prefixes().get(unit, ()) if caller.role == "service" else ()
        for index, event in enumerate(events):  # all are checked before any is published
            check_publishable(event, unit, allowed, f"events[{index}]" if batch else "event")
        published = [await self.bus.publish(event) for event in events]
        if batch:
            return admin_pb2.PublishEventResponse(events=published)
        return admin_pb2.PublishEventResponse(event=published[0])

