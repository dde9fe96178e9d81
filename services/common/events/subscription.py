"""One subscriber's side of the bus, shared by both backends.

A :class:`Subscription` is opened by ``async with`` (or its first
``__anext__``); from then on the bus's :class:`Fanout` offers it every new event
its filter accepts. It keeps at most ``queue_size`` of them: when a new event
finds the queue full the oldest one is dropped and counted, and the next item
the subscriber reads is a ``bus.lagged`` notice with ``{"dropped": N, "reason":
"slow_consumer"}``, followed by the events that were kept. Memory per
subscriber is therefore bounded whatever the publishers do.

Resuming (``since_id``) reads the bus's retained history after that id, one
page at a time as the subscriber consumes it, while new events already queue
up. When a read finds nothing newer, the queue takes over without a gap or a
duplicate: queued events the history already gave are skipped, and events the
queue dropped meanwhile were published before that last read, so the history
gave them too. A resuming subscriber slower than the publishers thus keeps
reading from the retention rather than losing events. When the retention no
longer holds everything after the id, a ``bus.lagged`` notice with
``{"dropped": -1, "reason": "retention"}`` comes first: the subscriber may have
missed events and should reload its state. Memory stays bounded: the queue plus
one page of history.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from types import TracebackType
from typing import NamedTuple, Protocol, cast

from agentmesh.v1.common_pb2 import Event
from prometheus_client import CollectorRegistry, Counter, Gauge

from services.common.events.envelope import (
    UNKNOWN_COUNT,
    EventFilter,
    EventId,
    lagged_notice,
    parse_event_id,
)

DEFAULT_QUEUE_SIZE = 1000
HISTORY_PAGE = 200


class EventBusMetrics:
    """The bus's series in a registry of the process: published, dropped, subscribed, backend errors."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.published = Counter(
            "agentmesh_events_published_total",
            "Events published on the bus by this process, by the first segment of their type.",
            ("prefix",),
            registry=registry,
        )
        self.dropped = Counter(
            "agentmesh_events_dropped_total",
            "Events dropped from a full subscriber queue in this process (a resuming one reads them from retention).",
            registry=registry,
        )
        self.subscriptions = Gauge(
            "agentmesh_events_subscriptions", "Open subscriptions in this process.", registry=registry
        )
        self.backend_errors = Counter(
            "agentmesh_events_backend_errors_total",
            "Failed calls to the bus's backend (Redis), by operation.",
            ("operation",),
            registry=registry,
        )


class HistoryPage(NamedTuple):
    """A stretch of the retained history, oldest first, not yet filtered."""

    events: list[Event]
    last: EventId | None  # the last id read (None: nothing after ``after``); non-events are skipped
    gap: bool  # whether the retention let go of an event between ``after`` and the first one returned


class HistorySource(Protocol):
    """What a subscription needs from its bus."""

    async def attach(self, subscription: Subscription) -> None:
        """Start offering new events to the subscription (raise when the bus cannot)."""

    def detach(self, subscription: Subscription) -> None:
        """Stop offering events to it."""

    async def history(self, after: EventId, limit: int) -> HistoryPage:
        """Up to ``limit`` retained entries after ``after``."""


class Subscription:
    """An async iterator of events and an async context manager; closing it frees everything.

    Iterate it from one task. Events delivered are shared between subscribers:
    treat them as read-only.
    """

    def __init__(
        self,
        source: HistorySource,
        event_filter: EventFilter,
        *,
        since_id: str = "",
        queue_size: int = DEFAULT_QUEUE_SIZE,
        metrics: EventBusMetrics | None = None,
    ) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self.filter = event_filter
        self._source = source
        self._queue_size = queue_size
        self._metrics = metrics
        self._queue: deque[Event] = deque()
        self._notices: deque[Event] = deque()
        self._dropped = 0
        self._last_dropped: EventId = (0, 0)
        self._waiter: asyncio.Future[None] | None = None
        self._opened = False
        self._closed = False
        # While resuming: the history read so far (matching events), and where it stopped.
        self._cursor: EventId | None = parse_event_id(since_id) if since_id else None
        self._replay: deque[Event] = deque()

    # ------------------------------------------------------------------ the bus's side

    def offer(self, event: Event) -> None:
        """Queue an event the filter accepted (the fan-out checks); drop the oldest when full."""
        if self._closed:
            return
        if len(self._queue) >= self._queue_size:
            lost = self._queue.popleft()
            self._dropped += 1
            self._last_dropped = parse_event_id(lost.id, field_name="id")
            if self._metrics is not None:
                self._metrics.dropped.inc()
        self._queue.append(event)
        self._wake()

    def notify_gap(self) -> None:
        """Tell the subscriber it may have missed events it could not be given (the backend lost track)."""
        if not self._closed:
            self._notices.append(self._notice(UNKNOWN_COUNT, "retention"))
            self._wake()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def pending(self) -> int:
        """Events waiting to be read (bounded by the queue size)."""
        return len(self._queue)

    # ------------------------------------------------------------------ the subscriber's side

    async def open(self) -> Subscription:
        """Start receiving: events published from now on are delivered (idempotent).

        When the bus cannot follow its backend (:class:`EventBusUnavailable`)
        the subscription is closed; the caller may try again with a new one.
        """
        if self._closed:
            raise RuntimeError("the subscription is closed")
        if not self._opened:
            self._opened = True
            try:
                await self._source.attach(self)
            except BaseException:
                self._closed = True
                raise
            if self._closed:  # closed while attaching
                self._source.detach(self)
        return self

    async def aclose(self) -> None:
        """Stop delivery and free the queue; a reader waiting in ``__anext__`` stops iterating."""
        if self._closed:
            return
        self._closed = True
        if self._opened:
            self._source.detach(self)
        self._queue.clear()
        self._replay.clear()
        self._notices.clear()
        self._wake()

    async def __aenter__(self) -> Subscription:
        return await self.open()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        if not self._opened and not self._closed:
            await self.open()
        while not self._closed:
            if self._notices:
                return self._notices.popleft()
            if self._replay:
                return self._replay.popleft()
            if self._cursor is not None:
                await self._read_history()
                continue
            if self._dropped:
                dropped, self._dropped = self._dropped, 0
                return self._notice(dropped, "slow_consumer")
            if self._queue:
                return self._queue.popleft()
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        raise StopAsyncIteration

    # ------------------------------------------------------------------ internals

    async def _read_history(self) -> None:
        assert self._cursor is not None
        page = await self._source.history(self._cursor, HISTORY_PAGE)
        if self._closed:
            return
        if page.gap:
            self._notices.append(self._notice(UNKNOWN_COUNT, "retention"))
        if page.last is not None:
            self._cursor = page.last
            self._replay.extend(event for event in page.events if self.filter.accepts(event))
            return
        # Nothing after the cursor (and everything before it handed out): the queue takes over, skipping what the
        # history gave. What it dropped meanwhile was published before this read, so the history gave that too.
        cursor, self._cursor = self._cursor, None
        while self._queue and parse_event_id(self._queue[0].id, field_name="id") <= cursor:
            self._queue.popleft()
        if self._last_dropped <= cursor:
            self._dropped = 0

    def _notice(self, dropped: int, reason: str) -> Event:
        return lagged_notice(dropped, reason=reason, tenant_id=self.filter.tenant_id, user_id=self.filter.user_id)

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class Fanout:
    """The open subscriptions of one bus, indexed by tenant so an event only visits those who may see it."""

    def __init__(self, metrics: EventBusMetrics | None = None) -> None:
        self._metrics = metrics
        self._all: set[Subscription] = set()
        self._by_tenant: dict[str, set[Subscription]] = {}
        self._all_tenants: set[Subscription] = set()

    def add(self, subscription: Subscription) -> None:
        if subscription in self._all:
            return
        self._all.add(subscription)
        event_filter = subscription.filter
        if event_filter.all_tenants:
            self._all_tenants.add(subscription)
        else:
            self._by_tenant.setdefault(event_filter.tenant_id, set()).add(subscription)
        if self._metrics is not None:
            self._metrics.subscriptions.inc()

    def remove(self, subscription: Subscription) -> None:
        if subscription not in self._all:
            return
        self._all.discard(subscription)
        event_filter = subscription.filter
        if event_filter.all_tenants:
            self._all_tenants.discard(subscription)
        else:
            members = self._by_tenant.get(event_filter.tenant_id)
            if members is not None:
                members.discard(subscription)
                if not members:
                    del self._by_tenant[event_filter.tenant_id]
        if self._metrics is not None:
            self._metrics.subscriptions.dec()

    def deliver(self, event: Event) -> None:
        for subscription in self._candidates(event):
            if subscription.filter.accepts(event):
                subscription.offer(event)

    def audience(self, event: Event) -> int:
        """How many of these subscriptions would receive the event."""
        return sum(1 for subscription in self._candidates(event) if subscription.filter.accepts(event))

    def notify_gap(self) -> None:
        for subscription in self._all:
            subscription.notify_gap()

    def __len__(self) -> int:
        return len(self._all)

    def __iter__(self) -> Iterator[Subscription]:
        return iter(tuple(self._all))

    def _candidates(self, event: Event) -> Iterable[Subscription]:
        if not event.tenant_id:
            return self._all
        tenant = self._by_tenant.get(event.tenant_id)
        if tenant is None:
            return self._all_tenants
        if not self._all_tenants:
            return tenant
        return (*tenant, *self._all_tenants)


class SubscribingBus:
    """What both backends share: turning a subscribe call into a Subscription on themselves.

    A subclass sets ``_queue_size`` and ``_metrics`` and implements the history source methods
    that :class:`Subscription` reads.
    """

    _queue_size: int
    _metrics: EventBusMetrics | None
    _fanout: Fanout

    def audience(self, event: Event) -> int:
        """The subscriptions open on this process that would receive the event (not other replicas')."""
        return self._fanout.audience(event)

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
        event_filter = EventFilter.build(patterns, tenant_id=tenant_id, user_id=user_id, all_tenants=all_tenants)
        return Subscription(
            cast(HistorySource, self),  # each backend implements the history source
            event_filter,
            since_id=since_id,
            queue_size=queue_size or self._queue_size,
            metrics=self._metrics,
        )
