"""The embedded bus: one process, no dependencies, the default when REDIS_URL is unset."""

from __future__ import annotations

import bisect
import itertools
import time
from collections import deque
from collections.abc import Callable

from agentmesh.v1.common_pb2 import Event
from prometheus_client import CollectorRegistry

from services.common.events.envelope import (
    EventBusUnavailable,
    EventFilter,
    EventId,
    IdClock,
    format_event_id,
    prepared,
    type_prefix,
)
from services.common.events.subscription import (
    DEFAULT_QUEUE_SIZE,
    EventBusMetrics,
    Fanout,
    HistoryPage,
    SubscribingBus,
    Subscription,
)

DEFAULT_MAX_EVENTS = 1000
DEFAULT_MAX_AGE = 300.0


class MemoryEventBus(SubscribingBus):
    """Publish and subscribe within this process; keeps the last ``max_events`` / ``max_age`` seconds.

    A publish hands the event to every matching subscriber's queue before it
    returns, so a subscriber opened before the publish always receives it.
    """

    def __init__(
        self,
        *,
        source: str = "agentmesh",
        max_events: int = DEFAULT_MAX_EVENTS,
        max_age: float = DEFAULT_MAX_AGE,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_events < 1 or max_age <= 0:
            raise ValueError("the bus must retain at least one event for a positive time")
        self._source = source
        self._max_events = max_events
        self._max_age_ms = int(max_age * 1000)
        self._queue_size = queue_size
        self._clock = clock
        self._ids = IdClock(clock)
        self._metrics = EventBusMetrics(registry) if registry is not None else None
        self._fanout = Fanout(self._metrics)
        self._log: deque[tuple[EventId, Event]] = deque()
        self._last_deleted: EventId = (0, 0)
        self._closed = False

    async def publish(self, event: Event) -> Event:
        if self._closed:
            raise EventBusUnavailable("the event bus is closed")
        stored = prepared(event, self._source, self._clock)
        key = self._ids.next()
        stored.id = format_event_id(key)
        self._log.append((key, stored))
        self._trim()
        if self._metrics is not None:
            self._metrics.published.labels(type_prefix(stored.type)).inc()
        self._fanout.deliver(stored)
        reply = Event()
        reply.CopyFrom(stored)
        return reply

    async def ping(self) -> bool:
        return not self._closed

    async def aclose(self) -> None:
        self._closed = True
        for subscription in self._fanout:
            await subscription.aclose()
        self._log.clear()

    @property
    def subscriptions(self) -> int:
        """Open subscriptions (for tests and the status page)."""
        return len(self._fanout)

    def filters(self) -> list[EventFilter]:
        """What each open subscription sees and wants (for tests and the status page)."""
        return [subscription.filter for subscription in self._fanout]

    # ------------------------------------------------------------------ what subscriptions call

    async def attach(self, subscription: Subscription) -> None:
        if self._closed:
            raise EventBusUnavailable("the event bus is closed")
        self._fanout.add(subscription)

    def detach(self, subscription: Subscription) -> None:
        self._fanout.remove(subscription)

    async def history(self, after: EventId, limit: int) -> HistoryPage:
        self._trim()
        start = bisect.bisect_right(self._log, after, key=lambda item: item[0])
        entries = list(itertools.islice(self._log, start, start + limit))
        last = entries[-1][0] if entries else None
        return HistoryPage([event for _key, event in entries], last, self._last_deleted > after)

    def _trim(self) -> None:
        oldest_ms = int(self._clock() * 1000) - self._max_age_ms
        log = self._log
        while log and (len(log) > self._max_events or log[0][0][0] < oldest_ms):
            self._last_deleted = log.popleft()[0]
