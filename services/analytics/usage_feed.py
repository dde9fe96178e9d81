"""The analytics unit's feed: finished work announced on the event hub, stored as usage records.

The feed watches every tenant's finished-work events (usage_records.PATTERNS)
under the unit's service token and stores each as a record whose id is the
event's. It stores the id of the last event it kept, and asks the hub to
replay from there when it opens the feed again (after a restart of either
side), so nothing the hub still retains is missed and nothing is counted
twice. Events are written in small batches: at most `batch` events, or what
came within `linger` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import grpc
from agentmesh.v1 import admin_pb2, admin_pb2_grpc, common_pb2

from services.analytics import usage_records
from services.common.events import LAGGED
from services.common.servicecreds import ServiceCredentials
from services.common.storage import Database

log = logging.getLogger("agentmesh.analytics")
RETRY = (0.2, 5.0)  # first and longest pause before the feed is opened again
FEED = "hub"


class UsageFeed:
    def __init__(self, db: Database, hub: grpc.aio.Channel, credentials: ServiceCredentials, *,
                 batch: int = 200, linger: float = 0.05) -> None:
        self.db = db
        self._stub = admin_pb2_grpc.EventServiceStub(hub)
        self._credentials = credentials
        self._batch = batch
        self._linger = linger
        self._task: asyncio.Task[None] | None = None
        self.live = asyncio.Event()  # set while the hub feed is open
        self.stored = 0  # records stored since start (tests and logs)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="usage-feed")

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _cursor(self) -> str:
        row = await self.db.fetch_one("SELECT last_event_id FROM usage_feed WHERE feed = ?", (FEED,))
        return str(row["last_event_id"]) if row else ""

    async def _run(self) -> None:
        delay, said = RETRY[0], ""
        while True:
            call = None
            try:
                request = admin_pb2.WatchEventsRequest(patterns=list(usage_records.PATTERNS), all_tenants=True,
                                                       since_id=await self._cursor())
                call = self._stub.WatchEvents(request, metadata=await self._credentials.metadata())
                await call.initial_metadata()
                self.live.set()
                delay = RETRY[0]
                if said:
                    log.info("usage feed open again")
                    said = ""
                await self._consume(call)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the hub away, a token refused: try again until it is back
                reason = exc.code().name if isinstance(exc, grpc.aio.AioRpcError) else repr(exc)
                if reason != said:
                    log.info("usage feed closed (%s); finished work is counted once it opens again", reason)
                    said = reason
            finally:
                self.live.clear()
                if call is not None:
                    call.cancel()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY[1])

    async def _consume(self, call: Any) -> None:
        pending: list[common_pb2.Event] = []
        stream = call.__aiter__()
        while True:
            timeout = self._linger if pending else None
            try:
                reply = await asyncio.wait_for(stream.__anext__(), timeout)
            except TimeoutError:
                await self._flush(pending)
                continue
            except StopAsyncIteration:
                await self._flush(pending)
                return
            event = reply.event
            if event.type == LAGGED:
                log.warning("usage feed lagged: some finished work was not counted",
                            extra={"dropped": int(event.data["dropped"]) if "dropped" in event.data else -1})
                continue
            pending.append(event)
            if len(pending) >= self._batch:
                await self._flush(pending)

    async def _flush(self, events: list[common_pb2.Event]) -> None:
        if not events:
            return
        rows = [row for row in (usage_records.from_event(e) for e in events) if row is not None]
        last = events[-1].id
        async with self.db.transaction() as tx:
            for row in rows:
                self.stored += await tx.execute(usage_records.INSERT,
                                                [row[name] for name in usage_records.COLUMNS])
            await tx.execute("INSERT INTO usage_feed (feed, last_event_id, updated_at) VALUES (?, ?, ?)"
                             " ON CONFLICT (feed) DO UPDATE SET last_event_id = excluded.last_event_id,"
                             " updated_at = excluded.updated_at", (FEED, last, time.time()))
        events.clear()
