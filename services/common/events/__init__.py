"""The platform's event bus: units publish ``agentmesh.v1.Event``s, feeds subscribe to them.

Two backends behind one :class:`EventBus` protocol: :class:`MemoryEventBus`
(one process, the embedded default) and :class:`RedisEventBus` (``REDIS_URL``:
one Redis stream shared by every process, so an event published by any replica
of any unit reaches subscribers on every replica). :func:`bus_from_settings`
picks one.

Publishing: ``await bus.publish(event)`` stores a copy with ``id`` assigned,
``time`` and ``source`` filled in when empty, and returns it. Types are dotted
(``task.progress``); ``bus.*`` is reserved for the bus's own notices.

Subscribing::

    async with bus.subscribe(["instance.status.*"], tenant_id=caller.tenant_id, user_id=caller.user_id) as events:
        async for event in events:
            ...

Delivery starts when the subscription is opened (``async with`` or the first
``__anext__``). A subscriber sees an event when its type matches one of the
glob patterns (``fnmatchcase``; no patterns: every type) and the event is
visible to it: same tenant_id, or an event without tenant_id (platform-wide,
such as ``system.maintenance``); and, when the event names a user_id, only that
user. ``all_tenants=True`` (platform admins; the caller checks the role) sees
every event. Delivered events are shared between subscribers: read-only.

Event ids: ``<unix ms>-<sequence>`` in decimal on both backends, the shape of
Redis stream ids, ordered by the pair of integers. On Redis the stream assigns
them, so ids from every process form one order, which is what resuming needs:
ids made by each process (ULID-like) would not sort in the order Redis stored
the events, and could not be handed to XRANGE. The memory bus makes ids of the
same shape from its clock, never going backwards.

Resuming: ``since_id`` (an SSE ``Last-Event-ID``) first replays the retained
events after that id that the filter accepts, then continues live, with no gap
and no duplicate. The bus retains the last ``max_events`` (1000) events and at
most ``max_age`` (300 s); Redis trims approximately and may keep a little more.
An id that is not an event id raises :class:`InvalidEvent` (INVALID_ARGUMENT).

Slow subscribers: each subscription queues at most ``queue_size`` (1000)
events. When full, the oldest is dropped and the next item the subscriber reads
is a synthetic event ``bus.lagged`` with data ``{"dropped": N, "reason":
"slow_consumer"}``. A resume from an id the retention has let go of (or a Redis
reader that was cut off longer than the retention) yields ``bus.lagged`` with
``{"dropped": -1, "reason": "retention"}``: events may be missing, the count is
unknown. Notices have no id (they are never stored: never resume from them) and
carry the subscriber's tenant_id and user_id. The edge turns them into a
"lagged" frame for its client.

Failures: publishing to an unreachable Redis raises
:class:`EventBusUnavailable` (UNAVAILABLE) within the timeout; opening a
subscription does too when the reader cannot start. Open subscriptions outlive
Redis outages: the reader reconnects with backoff and reads on where it stopped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from agentmesh.v1.common_pb2 import Event
from prometheus_client import CollectorRegistry

from services.common.events.envelope import (
    LAGGED,
    UNKNOWN_COUNT,
    EventBusUnavailable,
    EventFilter,
    InvalidEvent,
    parse_event_id,
)
from services.common.events.memory import MemoryEventBus
from services.common.events.redisbus import RedisEventBus
from services.common.events.subscription import EventBusMetrics, Subscription
from services.common.settings import Settings

__all__ = [
    "LAGGED",
    "UNKNOWN_COUNT",
    "Event",
    "EventBus",
    "EventBusMetrics",
    "EventBusUnavailable",
    "EventFilter",
    "InvalidEvent",
    "MemoryEventBus",
    "RedisEventBus",
    "Subscription",
    "bus_from_settings",
    "parse_event_id",
]


class EventBus(Protocol):
    """What units and the edge depend on; both backends implement it."""

    async def publish(self, event: Event) -> Event:
        """Store and deliver the event; returns it with id, time and source set."""
        ...

    def subscribe(
        self,
        patterns: Sequence[str] = (),
        *,
        tenant_id: str | None,
        user_id: str | None = None,
        all_tenants: bool = False,
        since_id: str = "",
        queue_size: int | None = None,
    ) -> Subscription:
        """A subscription to open with ``async with``; ``since_id`` replays what followed that id first."""
        ...

    async def ping(self) -> bool:
        """Whether the backend answers (for readiness checks)."""
        ...

    def audience(self, event: Event) -> int:
        """The subscriptions open on this process that would receive the event (not other replicas')."""
        ...

    async def aclose(self) -> None:
        """Close every subscription (their iteration ends) and release the backend."""
        ...


def bus_from_settings(
    settings: Settings, *, source: str = "agentmesh", registry: CollectorRegistry | None = None
) -> EventBus:
    """Redis when REDIS_URL is set, else the in-process bus; ``source`` names the publishing unit."""
    if settings.redis_url:
        return RedisEventBus.from_url(settings.redis_url, source=source, registry=registry)
    return MemoryEventBus(source=source, registry=registry)
