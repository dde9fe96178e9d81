"""In-process feeds of a unit's own events: Watch* streams, and callers that wait for a state.

A unit commits every event to its database before it pushes it here, so a feed
only has to be fast, not complete: a subscriber that falls behind (more than
`limit` events queued) is told it lagged and reads what it missed from the
database, after the last event id it handed out. `close` ends every feed (the
unit's drain), so streams never hold a shutdown up.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, Final

import grpc

Row = dict[str, Any]
LAGGED: Final = "lagged"
CLOSED: Final = "closed"
Item = Row | str


class Feed:
    """One subscriber's queue of events for one key."""

    def __init__(self, limit: int) -> None:
        self._items: deque[Row] = deque()
        self._ready = asyncio.Event()
        self._limit = limit
        self.lagged = False
        self.closed = False

    def push(self, row: Row) -> None:
        if len(self._items) >= self._limit:
            self.lag()
        else:
            self._items.append(row)
            self._ready.set()

    def lag(self) -> None:
        """Drop what is queued: the subscriber reads what it missed from storage instead."""
        self._items.clear()
        self.lagged = True
        self._ready.set()

    @property
    def pending(self) -> bool:
        """Whether events are queued (a burst is not consumed yet)."""
        return bool(self._items)

    def close(self) -> None:
        self.closed = True
        self._ready.set()

    async def get(self) -> Item:
        """The next event, LAGGED (read the rest from storage), or CLOSED once what came before the close is out."""
        while True:
            if self.lagged and not self.closed:
                self.lagged = False
                self._items.clear()
                return LAGGED
            if self._items:
                return self._items.popleft()
            if self.closed:
                return CLOSED
            self._ready.clear()
            await self._ready.wait()


class Feeds:
    """Feeds by key (a unit's choice, such as "task:<id>" or "instance:<id>")."""

    def __init__(self, limit: int = 500) -> None:
        self._subscribers: dict[str, set[Feed]] = {}
        self._limit = limit
        self._closed = False

    @contextmanager
    def subscribe(self, *keys: str) -> Iterator[Feed]:
        feed = Feed(self._limit)
        if self._closed:
            feed.close()
        for key in keys:
            self._subscribers.setdefault(key, set()).add(feed)
        try:
            yield feed
        finally:
            for key in keys:
                subscribers = self._subscribers.get(key)
                if subscribers is not None:
                    subscribers.discard(feed)
                    if not subscribers:
                        del self._subscribers[key]

    def publish(self, key: str, row: Row) -> None:
        for feed in tuple(self._subscribers.get(key, ())):
            feed.push(row)

    def refresh(self) -> None:
        """Send every open feed to storage for what it may have missed: another replica of the unit, sharing
        its database, commits events this process never pushes."""
        for feeds in self._subscribers.values():
            for feed in feeds:
                feed.lag()

    def end(self, key: str) -> None:
        """End every feed subscribed to the key (its subject is gone)."""
        for feed in tuple(self._subscribers.get(key, ())):
            feed.close()

    async def close(self) -> None:
        self._closed = True
        for feeds in self._subscribers.values():
            for feed in feeds:
                feed.close()


async def follow(feed: Feed, after: int, fetch: Callable[[int], Awaitable[list[Row]]]) -> AsyncIterator[Row]:
    """Events with event_id above `after`, oldest first: what storage holds, then live, until the feed closes.

    The feed must be subscribed before this starts, so nothing committed in between is missed; ids already
    handed out are skipped, so nothing is handed out twice.
    """
    last = after
    for row in await fetch(last):
        last = int(row["event_id"])
        yield row
    while True:
        item = await feed.get()
        if item == CLOSED:
            return
        if item == LAGGED:
            for row in await fetch(last):
                last = int(row["event_id"])
                yield row
            continue
        assert isinstance(item, dict)
        if int(item["event_id"]) <= last:
            continue
        last = int(item["event_id"])
        yield item


# Answer this long before the caller's deadline, so it gets the latest state rather than DEADLINE_EXCEEDED.
MARGIN = 0.2


def budget(context: grpc.aio.ServicerContext) -> float | None:
    """Seconds left before the caller's deadline, less a margin; None when it set none."""
    remaining = context.time_remaining()
    if remaining is None or remaining > 1e8:
        return None
    return max(float(remaining) - MARGIN, 0.0)
