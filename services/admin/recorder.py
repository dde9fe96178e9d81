"""The admin unit's follower of its own hub: what the platform announces, stored in batches.

One subscription to every event of every tenant (the admin unit's bus is the
hub). Each batch (what came within LINGER of its first event, at most BATCH
events) is written in one transaction: audit records (audit.recorded), log lines (log.*), the activity
the statistics count (services.admin.activity), and the deliveries of the
integrations the events match (services.admin.webhooks); then the sender is
woken. On a shared Redis bus the id of the last event stored is kept with the
batch and the follower resumes after it, so a restart loses nothing Redis
still retains and stores nothing twice; the in-process bus starts afresh with
the process (the units' publishers wait for it while it restarts).

Replicas (a shared Redis bus, one database): one recorder stores, the one whose
lease leads (services.common.leases); the others stand by and the next one
takes over, from the stored cursor, once the leader's lease lapses.

Housekeeping runs every PRUNE_EVERY seconds: log lines past
`logs.retention_days` or beyond `logs.max_lines`, audit records past
`audit.retention_days`, finished deliveries after DELIVERY_DAYS, and the
activity kept for a day (services.admin.activity).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from agentmesh.v1 import common_pb2

from services.admin import activity, audit_log, system_logs
from services.admin.config_store import ConfigDocuments
from services.admin.webhooks import Dispatcher, WebhookSender
from services.common.events import LAGGED, EventBus, Subscription
from services.common.leases import Lease
from services.common.storage import Database, Statement
from services.common.trail import AUDIT_EVENT, LOG_EVENT_PREFIX

log = logging.getLogger("agentmesh.admin.recorder")

BATCH = 500
LINGER = 0.05  # seconds a lone event waits for company before its batch is written
QUEUE = 20_000
PRUNE_EVERY = 600.0
DELIVERY_DAYS = 30
FEED = "recorder"


class HubRecorder:
    def __init__(self, bus: EventBus, db: Database, configs: ConfigDocuments, dispatcher: Dispatcher,
                 sender: WebhookSender, lease: Lease, *, resume: bool) -> None:
        self.bus = bus
        self.db = db
        self.configs = configs
        self.dispatcher = dispatcher
        self.sender = sender
        self.resume = resume
        self.lease = lease
        self._tasks: list[asyncio.Task[None]] = []
        self.stored = 0  # events handled since start

    async def start(self) -> None:
        """Open the subscription before the unit serves, so nothing published from then on is missed; on a
        shared bus, only where the lease leads (the in-process bus is this process's alone)."""
        await self.lease.acquire()
        if self.lease.leads or not self.resume:
            await self._begin()
        if self.resume:
            self.lease.on_renew.append(self._on_renew)
        self.lease.keep()

    @property
    def recording(self) -> bool:
        return bool(self._tasks)

    async def _on_renew(self) -> None:
        if self.lease.leads and not self.recording:
            log.info("this replica records the hub now", extra={"runner": self.lease.runner_id})
            await self._begin()
        elif not self.lease.leads and self.recording:
            log.warning("another replica records the hub now; this one stands by",
                        extra={"runner": self.lease.runner_id})
            await self._end()

    async def _begin(self) -> None:
        since = ""
        if self.resume:
            row = await self.db.fetch_one("SELECT last_event_id FROM hub_cursor WHERE feed = ?", (FEED,))
            since = str(row["last_event_id"]) if row else ""
        subscription = self.bus.subscribe((), tenant_id=None, all_tenants=True, since_id=since, queue_size=QUEUE)
        await subscription.open()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._follow(subscription), name="hub-recorder"),
                       loop.create_task(self._housekeeping(), name="admin-housekeeping")]

    async def aclose(self) -> None:
        await self.lease.release()
        await self._end()

    async def _end(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _follow(self, subscription: Subscription) -> None:
        async with subscription:
            events = subscription.__aiter__()
            while True:
                try:
                    batch = [await events.__anext__()]
                    if not subscription.pending:
                        await asyncio.sleep(LINGER)  # what comes meanwhile joins this batch: one write, not many
                    while subscription.pending and len(batch) < BATCH:
                        batch.append(await events.__anext__())
                except StopAsyncIteration:
                    return  # the bus closed: the unit is stopping
                try:
                    await self._store(batch)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("%d hub events could not be stored", len(batch))

    async def _store(self, batch: list[common_pb2.Event]) -> None:
        statements: list[Statement] = []
        deliveries = 0
        for event in batch:
            if event.type == LAGGED:
                log.error("the recorder fell behind the hub: %s events were not stored",
                          event.data["dropped"] if "dropped" in event.data else "some")  # noqa: SIM401
                continue
            if event.type == AUDIT_EVENT:
                found = audit_log.statement(event)
                statements += [found] if found is not None else []
            elif event.type.startswith(LOG_EVENT_PREFIX):
                found = system_logs.statement(event)
                statements += [found] if found is not None else []
            matched = await self.dispatcher.statements(event)
            deliveries += len(matched)
            statements += matched
        statements += activity.statements(batch)
        last = next((e.id for e in reversed(batch) if e.id), "")
        if self.resume and last:
            statements.append(Statement(
                "INSERT INTO hub_cursor (feed, last_event_id, updated_at) VALUES (?, ?, ?) ON CONFLICT (feed)"
                " DO UPDATE SET last_event_id = excluded.last_event_id, updated_at = excluded.updated_at",
                (FEED, last, time.time())))
        if statements:
            await self.db.batch(statements)
        self.stored += len(batch)
        if deliveries:
            self.sender.wake()

    async def _housekeeping(self) -> None:
        while True:
            try:
                await self.prune()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("housekeeping failed; trying again later")
            await asyncio.sleep(PRUNE_EVERY)

    async def prune(self, now: float | None = None) -> None:
        now = now or time.time()
        config = await self.configs.effective("system")
        day = 86400.0
        await self.db.batch([
            Statement("DELETE FROM system_logs WHERE time < ?", (now - config["logs.retention_days"] * day,)),
            Statement("DELETE FROM system_logs WHERE seq <= (SELECT seq FROM system_logs ORDER BY seq DESC"
                      " LIMIT 1 OFFSET ?)", (int(config["logs.max_lines"]),)),
            Statement("DELETE FROM audit_log WHERE time < ?", (now - config["audit.retention_days"] * day,)),
            Statement("DELETE FROM deliveries WHERE status IN ('succeeded', 'failed') AND created_at < ?",
                      (now - DELIVERY_DAYS * day,)),
            *activity.prune_statements(now),
        ])
