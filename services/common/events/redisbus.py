"""The shared bus: a Redis stream, so an event published by any process reaches subscribers in all.

Publishing runs one script: ``XADD agentmesh:events MAXLEN ~ <max_events> *``
then ``XTRIM MINID ~`` the new id's millisecond minus ``max_age``, so the
stream keeps about the last N events and T seconds (approximate trimming frees
whole stream nodes: it may keep somewhat more, never less). Redis assigns the
id, so ids from every process are in one order. Each entry holds the event
(``event``, protobuf bytes, id left empty) and the id of the entry before it
(``prev``): whoever reads entry E after id X knows the retention lost something
in between exactly when E's ``prev`` is newer than X. Publishing is never
retried (a retried XADD could store an event twice): a failure raises
:class:`EventBusUnavailable` and the publisher decides.

Each bus (one per process) has one reader task, started with the first
subscription: ``XREAD BLOCK`` from the last id it has seen, fanning each event
out to the process's subscriptions. When Redis fails it logs once, backs off
(0.1 s doubling to 5 s) and reads on from the same id, so subscriptions keep
going across an outage; if the stream's retention let go of events it had not
read meanwhile, every subscription gets a ``bus.lagged`` retention notice.
Resuming reads the history with ``XRANGE``. Needs Redis 6.2 or later (``MINID``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, NamedTuple

from agentmesh.v1.common_pb2 import Event
from google.protobuf.message import DecodeError
from prometheus_client import CollectorRegistry
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from services.common.events.envelope import (
    EventBusUnavailable,
    EventId,
    InvalidEvent,
    format_event_id,
    parse_event_id,
    prepared,
    type_prefix,
)
from services.common.events.memory import DEFAULT_MAX_AGE, DEFAULT_MAX_EVENTS
from services.common.events.subscription import (
    DEFAULT_QUEUE_SIZE,
    EventBusMetrics,
    Fanout,
    HistoryPage,
    SubscribingBus,
    Subscription,
)

log = logging.getLogger("agentmesh.events")

DEFAULT_STREAM = "agentmesh:events"
DEFAULT_TIMEOUT = 2.0  # seconds for any one Redis call (connecting included)
BLOCK_SECONDS = 2.0  # how long one XREAD waits for new events
READ_COUNT = 500
MIN_BACKOFF, MAX_BACKOFF = 0.1, 5.0
_EVENT, _PREV = b"event", b"prev"

_PUBLISH = """
local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local prev = '0-0'
if newest[1] then prev = newest[1][1] end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'event', ARGV[2], 'prev', prev)
local floor = tonumber(string.match(id, '^(%d+)')) - tonumber(ARGV[3])
if floor > 0 then redis.call('XTRIM', KEYS[1], 'MINID', '~', floor) end
return id
"""

_Errors = (RedisError, OSError, TimeoutError)


class RedisEventBus(SubscribingBus):
    """Publish and subscribe through one Redis stream shared by every process of the deployment."""

    def __init__(
        self,
        client: Redis,
        reader: Redis,
        *,
        stream: str = DEFAULT_STREAM,
        source: str = "agentmesh",
        max_events: int = DEFAULT_MAX_EVENTS,
        max_age: float = DEFAULT_MAX_AGE,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        timeout: float = DEFAULT_TIMEOUT,
        block: float = BLOCK_SECONDS,
        registry: CollectorRegistry | None = None,
    ) -> None:
        if max_events < 1 or max_age <= 0:
            raise ValueError("the bus must retain at least one event for a positive time")
        self._client = client
        self._reader = reader
        self._stream = stream
        self._source = source
        self._max_events = max_events
        self._max_age_ms = int(max_age * 1000)
        self._queue_size = queue_size
        self._timeout = timeout
        self._block = block
        self._publish_script = client.register_script(_PUBLISH)
        self._metrics = EventBusMetrics(registry) if registry is not None else None
        self._fanout = Fanout(self._metrics)
        self._cursor: EventId = (0, 0)  # the last entry the reader has seen
        self._task: asyncio.Task[None] | None = None
        self._starting = asyncio.Lock()
        self._closed = False

    @classmethod
    def from_url(
        cls, url: str, *, timeout: float = DEFAULT_TIMEOUT, block: float = BLOCK_SECONDS, **kw: Any
    ) -> RedisEventBus:
        """Two clients: a small pool for publishing and history, one connection for the reader."""
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=32,
            timeout=timeout,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
        reader = Redis.from_url(
            url,
            socket_timeout=block + timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            single_connection_client=True,
        )
        return cls(Redis.from_pool(pool), reader, timeout=timeout, block=block, **kw)

    async def publish(self, event: Event) -> Event:
        if self._closed:
            raise EventBusUnavailable("the event bus is closed")
        stored = prepared(event, self._source)
        try:
            async with asyncio.timeout(self._timeout):
                reply = await self._publish_script(
                    keys=[self._stream], args=[self._max_events, stored.SerializeToString(), self._max_age_ms]
                )
        except _Errors as exc:
            self._count_error("publish")
            raise EventBusUnavailable(f"event bus: Redis did not take the event ({_describe(exc)})") from exc
        stored.id = _text(reply)
        if self._metrics is not None:
            self._metrics.published.labels(type_prefix(stored.type)).inc()
        return stored

    async def ping(self) -> bool:
        """Whether Redis answers within the timeout (for readiness checks)."""
        try:
            async with asyncio.timeout(self._timeout):
                return bool(await self._client.ping())
        except _Errors:
            return False

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        for subscription in self._fanout:
            await subscription.aclose()
        task, self._task = self._task, None
        if task is not None:
            while not task.done():  # see _raise_lost_cancellation: one cancel() may be lost
                task.cancel()
                await asyncio.wait({task}, timeout=0.1)
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._reader.aclose()
        await self._client.aclose()

    @property
    def subscriptions(self) -> int:
        """Open subscriptions of this process (for tests and the status page)."""
        return len(self._fanout)

    # ------------------------------------------------------------------ what subscriptions call

    async def attach(self, subscription: Subscription) -> None:
        """Register the subscription, first starting the reader from the stream's current end."""
        if self._task is None:
            async with self._starting:
                if self._task is None and not self._closed:
                    self._cursor = await self._last_id()
                    self._task = asyncio.create_task(self._read_forever(), name="event-bus-reader")
        if self._closed:
            raise EventBusUnavailable("the event bus is closed")
        self._fanout.add(subscription)

    def detach(self, subscription: Subscription) -> None:
        self._fanout.remove(subscription)

    async def history(self, after: EventId, limit: int) -> HistoryPage:
        start = format_event_id((after[0], after[1] + 1))
        try:
            async with asyncio.timeout(self._timeout):
                entries = await self._client.xrange(self._stream, min=start, max="+", count=limit)
        except _Errors as exc:
            self._count_error("history")
            raise EventBusUnavailable(f"event bus: Redis did not return the history ({_describe(exc)})") from exc
        _raise_lost_cancellation()
        if not entries:
            return HistoryPage([], None, False)
        decoded = [_Entry.decode(entry) for entry in entries]
        events = [entry.event for entry in decoded if entry.event is not None]
        return HistoryPage(events, decoded[-1].id, decoded[0].prev > after)

    # ------------------------------------------------------------------ the reader

    async def _last_id(self) -> EventId:
        try:
            async with asyncio.timeout(self._timeout):
                last = await self._client.xrevrange(self._stream, count=1)
        except _Errors as exc:
            self._count_error("subscribe")
            raise EventBusUnavailable(f"event bus: Redis cannot be followed ({_describe(exc)})") from exc
        _raise_lost_cancellation()
        return parse_event_id(_text(last[0][0]), field_name="id") if last else (0, 0)

    async def _read_forever(self) -> None:
        delay, failing = MIN_BACKOFF, False
        while not self._closed:
            try:
                async with asyncio.timeout(self._block + self._timeout):
                    reply: Any = await self._reader.xread(  # RESP2: [(stream, [(id, fields), ...])]
                        {self._stream: format_event_id(self._cursor)}, count=READ_COUNT, block=int(self._block * 1000)
                    )
                if failing:
                    log.info("event bus: Redis is back; reading on from %s", format_event_id(self._cursor))
                    delay, failing = MIN_BACKOFF, False
                for _name, entries in reply or ():
                    self._deliver(entries)
                continue
            except _Errors as exc:
                self._count_error("read")
                if not failing:
                    log.warning("event bus: lost Redis (%s); retrying with backoff", _describe(exc))
            except Exception:
                self._count_error("read")
                log.exception("event bus: the reader failed; retrying with backoff")
            failing = True
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF)

    def _deliver(self, entries: list[Any]) -> None:
        for raw in entries:
            entry = _Entry.decode(raw)
            if entry.prev > self._cursor:
                # The stream let go of events this process had not read (Redis was out of reach for longer than
                # the retention): the subscribers are told they may have missed some.
                log.warning("event bus: events expired from the stream before this process read them")
                self._fanout.notify_gap()
            self._cursor = entry.id
            if entry.event is not None:
                self._fanout.deliver(entry.event)

    def _count_error(self, operation: str) -> None:
        if self._metrics is not None:
            self._metrics.backend_errors.labels(operation).inc()


def _raise_lost_cancellation() -> None:
    """Raise CancelledError when the current task was asked to stop but a Redis call returned anyway.

    On Python 3.11, asyncio.wait_for (which redis-py uses to send a command)
    returns the result instead of raising when a cancellation arrives just as
    the send completes. A subscriber's task cancelled at that moment would then
    go on to wait for the next event instead of stopping.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class _Entry(NamedTuple):
    """One stream entry: its id, the id of the entry published before it, and its event (None if not one)."""

    id: EventId
    prev: EventId
    event: Event | None

    @classmethod
    def decode(cls, raw: Any) -> _Entry:
        raw_id, fields = raw
        entry_id = _text(raw_id)
        prev = _text(fields.get(_PREV, b"0-0"))
        try:
            event = Event.FromString(fields[_EVENT])
            previous = parse_event_id(prev, field_name="prev")
        except (KeyError, DecodeError, InvalidEvent):
            log.warning("event bus: skipped a stream entry that is not an event", extra={"entry_id": entry_id})
            return cls(parse_event_id(entry_id, field_name="id"), (0, 0), None)
        event.id = entry_id
        return cls(parse_event_id(entry_id, field_name="id"), previous, event)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
