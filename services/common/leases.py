"""Runner leases: which runners of a unit are alive, so replicas that share one database can tell work a
crashed runner left behind from work a live runner still holds.

A runner (the task runner, the persona executor, the behaviour-analysis runner)
takes a lease when it starts: a row in `runner_leases` that it renews every
`interval` seconds and deletes at a clean stop. Work it claims carries its
`runner_id`. A lease not renewed for `ttl` seconds has lapsed: its runner
crashed, or lost the database long enough to be taken for dead, and any runner
of the unit may take its work over (`ORPHANED` names such work in SQL).

The oldest live lease of a role `leads`: work only one process may do (the
admin unit's recorder of the hub) runs where the lease leads, and moves to the
next oldest when that one lapses. After each renewal the lease calls its
`on_renew` hooks: that is where a runner takes over lapsed work and, when
`peers` says other runners share the database, looks for what they changed (a
cancel recorded by another replica, a task it queued). Renewal times are each
process's own clock, so replicas on several hosts need their clocks in step to
well under `ttl` (NTP does it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass

from services.common.protoutil import new_id
from services.common.storage import Database, Migration, Row, Statement

log = logging.getLogger("agentmesh.leases")

LEASES_SQL = """
CREATE TABLE IF NOT EXISTS runner_leases (
    runner_id   TEXT PRIMARY KEY,
    role        TEXT NOT NULL,
    started_at  REAL NOT NULL,
    renewed_at  REAL NOT NULL
);
"""


def leases_migration(version: int) -> Migration:
    """The step that adds the leases table to a unit's schema, at the unit's next version."""
    return Migration(version, "runner leases", LEASES_SQL)


# The runners whose lease is live; its one parameter is `Lease.live_since()`.
LIVE_RUNNERS = "SELECT runner_id FROM runner_leases WHERE renewed_at > ?"

# A `running` row held by a runner whose lease lapsed, or by none (claimed before leases existed); its one
# parameter is `Lease.live_since()`.
ORPHANED = f"status = 'running' AND runner_id NOT IN ({LIVE_RUNNERS})"

# A lease this long lapsed is deleted (its runner's work was taken over long before).
_FORGET_AFTER = 20

Hook = Callable[[], Awaitable[None]]


class Lease:
    def __init__(self, db: Database, role: str, *, ttl: float) -> None:
        self.db = db
        self.role = role
        self.ttl = ttl
        self.interval = min(max(ttl / 5, 0.05), 1.0)
        self.runner_id = new_id("runner")
        self.peers = 0  # other live runners of the role, as of the last renewal
        self.leads = False  # the oldest live runner of the role: the one that does what only one may do
        self.on_renew: list[Hook] = []
        self._loop: asyncio.Task[None] | None = None

    def live_since(self) -> float:
        """A lease renewed after this time is live."""
        return time.time() - self.ttl

    async def acquire(self) -> None:
        """Take the lease (before claiming any work) and count the peers."""
        now = time.time()
        _, peers, oldest = await self.db.batch([
            Statement("INSERT INTO runner_leases (runner_id, role, started_at, renewed_at) VALUES (?, ?, ?, ?)",
                      (self.runner_id, self.role, now, now)),
            *self._census(),
        ])
        self._note(peers, oldest)

    async def any_orphaned(self, table: str) -> bool:
        """Whether `table` has a running row a lapsed runner left (a cheap read before any takeover write)."""
        return await self.db.fetch_one(f"SELECT 1 AS found FROM {table} WHERE {ORPHANED} LIMIT 1",
                                       (self.live_since(),)) is not None

    async def held(self, table: str, key: str, ids: Sequence[str]) -> set[str]:
        """Which of the ids are rows of `table` still running under this lease (not stopped, cancelled or taken
        over elsewhere)."""
        if not ids:
            return set()
        rows = await self.db.fetch_all(
            f"SELECT {key} FROM {table} WHERE {key} IN ({', '.join('?' for _ in ids)})"
            " AND status = 'running' AND runner_id = ?", [*ids, self.runner_id])
        return {row[key] for row in rows}

    def keep(self) -> None:
        """Renew the lease in the background until release()."""
        if self._loop is None:
            self._loop = asyncio.create_task(self._renewing(), name=f"lease-{self.role}")

    def while_shared(self, action: Callable[[], None]) -> None:
        """Do `action` after every renewal that finds peers (a unit's feeds read what peers wrote)."""

        async def hook() -> None:
            if self.peers:
                action()

        self.on_renew.append(hook)

    async def release(self) -> None:
        """Stop renewing and give the lease up (after the runner has given its work back)."""
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
            self._loop = None
        await self.db.execute("DELETE FROM runner_leases WHERE runner_id = ?", (self.runner_id,))

    async def renew(self) -> None:
        """One renewal and its hooks (the background loop calls this; tests may too)."""
        now = time.time()
        _, renewed, peers, oldest = await self.db.batch([
            Statement("DELETE FROM runner_leases WHERE role = ? AND renewed_at < ?",
                      (self.role, now - _FORGET_AFTER * self.ttl)),
            Statement("UPDATE runner_leases SET renewed_at = ? WHERE runner_id = ? RETURNING runner_id",
                      (now, self.runner_id)),
            *self._census(),
        ])
        if not renewed:  # forgotten after a long stall: take it again (the work it held was taken over)
            log.warning("%s lease %s had lapsed; taken again", self.role, self.runner_id)
            await self.acquire()
        else:
            self._note(peers, oldest)
        for hook in self.on_renew:
            await hook()

    def _census(self) -> tuple[Statement, Statement]:
        """The live peers, and the oldest live runner (the leader)."""
        live_since = self.live_since()
        return (
            Statement("SELECT COUNT(*) AS n FROM runner_leases WHERE role = ? AND runner_id <> ? AND renewed_at > ?",
                      (self.role, self.runner_id, live_since)),
            Statement("SELECT runner_id FROM runner_leases WHERE role = ? AND renewed_at > ?"
                      " ORDER BY started_at, runner_id LIMIT 1", (self.role, live_since)),
        )

    def _note(self, peers_rows: list[Row], oldest: list[Row]) -> None:
        peers = int(peers_rows[0]["n"]) if peers_rows else 0
        leads = bool(oldest) and oldest[0]["runner_id"] == self.runner_id
        if peers != self.peers or leads != self.leads:
            log.info("%s runners sharing the database: %d%s", self.role, peers + 1,
                     " (this one leads)" if leads else "",
                     extra={"runner": self.runner_id, "peers": peers, "leads": leads})
        self.peers, self.leads = peers, leads

    async def _renewing(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.renew()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s lease %s: renewal failed; trying again", self.role, self.runner_id)


@dataclass(slots=True)
class Worker:
    """One item's worker in a LeasedRunner."""

    task: asyncio.Task[None]
    claimed: bool = False  # its item runs under this runner's lease
    finishing: bool = False  # it writes its own final state: cancelling it would undo that or lose its events


class LeasedRunner:
    """What a unit's background runner of stored items shares with the others once replicas come in.

    The items are rows of `table` (id column `key`, a `status`, the claiming `runner_id`, `created_at`).
    A subclass claims an item (queued -> running, setting `runner_id` to `lease.runner_id`) in its
    `_work(item_id)` and marks the worker `claimed`, then `finishing` before it writes the item's final
    state; it settles the items of lapsed runners in `_take_over()`. This class starts workers, runs the
    queue, takes over at start and at every renewal, and drops the workers whose item is no longer this
    runner's (stopped through another replica, or taken over after this runner's lease lapsed).
    """

    def __init__(self, db: Database, lease: Lease, *, table: str, key: str, noun: str) -> None:
        self.db = db
        self.lease = lease
        self.table = table
        self.key = key
        self.noun = noun
        self._running: dict[str, Worker] = {}
        self._closing = False
        self._had_peers = False  # peers were about at the last renewal: one that left may have given work back
        lease.on_renew.append(self._on_renew)

    async def recover(self) -> int:
        """Settle what crashed runners left running, then run every queued item; how many were interrupted.
        The lease is taken first, so that peers starting meanwhile leave this runner's work alone."""
        self._had_peers = self.lease.peers > 0  # as the lease's acquire counted them
        interrupted = await self._take_over()
        await self._start_queued()
        return interrupted

    async def run(self, stack: AsyncExitStack) -> int:
        """Take the lease, recover, and keep renewing; the stack stops the runner (its items given back) and
        then releases the lease. How many items a crash had interrupted."""
        await self.lease.acquire()
        stack.push_async_callback(self.lease.release)
        interrupted = await self.recover()
        stack.push_async_callback(self.close)
        self.lease.keep()
        return interrupted

    async def close(self) -> None:
        raise NotImplementedError

    async def _take_over(self) -> int:
        """Queue again (or fail) the running items of runners whose lease lapsed; how many there were."""
        raise NotImplementedError

    async def _work(self, item_id: str) -> None:
        raise NotImplementedError

    def start(self, item_id: str) -> None:
        """Run the (stored, queued) item when a worker is free."""
        if self._closing or item_id in self._running:
            return
        task = asyncio.create_task(self._work(item_id), name=f"{self.noun}-{item_id}")
        self._running[item_id] = Worker(task)
        task.add_done_callback(lambda _: self._running.pop(item_id, None))

    async def _start_queued(self) -> None:
        for row in await self.db.fetch_all(
                f"SELECT {self.key} FROM {self.table} WHERE status = 'queued' ORDER BY created_at"):
            self.start(row[self.key])

    async def _on_renew(self) -> None:
        """After each lease renewal: take over what a crashed replica left running; with peers about (or one
        just gone), run what they queued and drop the workers whose item is no longer this runner's."""
        if self._closing:
            return
        taken = 0
        if await self.lease.any_orphaned(self.table):
            taken = await self._take_over()
            if taken:
                log.warning("%s items of a runner whose lease lapsed taken over", self.noun,
                            extra={"count": taken})
        had_peers, self._had_peers = self._had_peers, self.lease.peers > 0
        if taken or self.lease.peers or had_peers:
            await self._start_queued()
        if self.lease.peers:
            await self._drop_lost()

    async def _drop_lost(self) -> None:
        """Cancel the workers whose item is no longer running under this runner; they write nothing more
        (whoever changed the item recorded its state)."""
        claimed = {item_id: worker for item_id, worker in self._running.items()
                   if worker.claimed and not worker.finishing}
        if not claimed:
            return
        still = await self.lease.held(self.table, self.key, list(claimed))
        for item_id, worker in claimed.items():
            if item_id in still or worker.finishing or self._running.get(item_id) is not worker:
                continue
            log.info("%s %s stopped or taken over through another replica; its worker is cancelled", self.noun,
                     item_id, extra={"item": item_id})
            worker.task.cancel()

    async def _cancel_workers(self) -> None:
        """A clean stop's first half: no new worker, and the running ones cancelled (those writing their
        final state are let finish) and waited for. The subclass then gives this runner's items back."""
        self._closing = True
        workers = list(self._running.values())
        for worker in workers:
            if not worker.finishing:
                worker.task.cancel()
        for worker in workers:
            with contextlib.suppress(asyncio.CancelledError):
                await worker.task
