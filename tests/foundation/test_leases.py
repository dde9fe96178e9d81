"""Runner leases on both backends: peers counted, a lapsed lease told from a live one, renewals kept."""

from __future__ import annotations

import asyncio
import time

from services.common.leases import LIVE_RUNNERS, Lease, leases_migration
from services.common.storage import Database, Migration

MIGRATIONS = [
    Migration(1, "work", "CREATE TABLE work (work_id TEXT PRIMARY KEY, runner_id TEXT NOT NULL DEFAULT '')"),
    leases_migration(2),
]


async def _orphans(db: Database, lease: Lease) -> list[str]:
    rows = await db.fetch_all(f"SELECT work_id FROM work WHERE runner_id NOT IN ({LIVE_RUNNERS}) ORDER BY work_id",
                              (lease.live_since(),))
    return [row["work_id"] for row in rows]


async def test_peers_of_a_role_and_work_of_a_lapsed_runner(db: Database) -> None:
    await db.migrate(MIGRATIONS)
    first, second = Lease(db, "tasks", ttl=0.5), Lease(db, "tasks", ttl=0.5)
    other_role = Lease(db, "analyses", ttl=0.5)
    await first.acquire()
    assert first.peers == 0
    await second.acquire()
    await other_role.acquire()
    assert second.peers == 1  # the other role's runner is not a peer
    await db.execute("INSERT INTO work (work_id, runner_id) VALUES ('a', ?), ('b', ?), ('c', 'runner_gone')",
                     (first.runner_id, second.runner_id))
    assert await _orphans(db, second) == ["c"]  # no lease at all: a runner from before, or long forgotten

    await asyncio.sleep(0.6)  # the first stops renewing (a crash); the second renews
    await second.renew()
    assert second.peers == 0
    assert await _orphans(db, second) == ["a", "c"]


async def test_a_kept_lease_stays_live_and_a_released_one_is_gone(db: Database) -> None:
    await db.migrate(MIGRATIONS)
    lease, watcher = Lease(db, "tasks", ttl=0.3), Lease(db, "tasks", ttl=0.3)
    renewals = []

    async def hook() -> None:
        renewals.append(time.time())

    lease.on_renew.append(hook)
    await lease.acquire()
    lease.keep()
    await watcher.acquire()
    await db.execute("INSERT INTO work (work_id, runner_id) VALUES ('a', ?)", (lease.runner_id,))
    await asyncio.sleep(1.0)
    assert len(renewals) >= 5  # every ttl/5
    assert await _orphans(db, watcher) == []
    await watcher.renew()
    assert watcher.peers == 1

    await lease.release()
    assert await db.fetch_one("SELECT 1 AS held FROM runner_leases WHERE runner_id = ?", (lease.runner_id,)) is None
    assert await _orphans(db, watcher) == ["a"]
    await watcher.renew()
    assert watcher.peers == 0


async def test_a_lease_forgotten_after_a_long_stall_is_taken_again(db: Database) -> None:
    await db.migrate(MIGRATIONS)
    stalled, other = Lease(db, "tasks", ttl=0.2), Lease(db, "tasks", ttl=0.2)
    await stalled.acquire()
    await other.acquire()
    await db.execute("UPDATE runner_leases SET renewed_at = renewed_at - 3600 WHERE runner_id = ?",
                     (stalled.runner_id,))
    await other.renew()  # forgets leases lapsed long ago
    assert other.peers == 0
    await stalled.renew()
    assert stalled.peers == 1
    row = await db.fetch_one("SELECT renewed_at FROM runner_leases WHERE runner_id = ?", (stalled.runner_id,))
    assert row is not None and row["renewed_at"] > time.time() - 1


async def test_the_oldest_live_lease_leads_and_the_next_takes_over(db: Database) -> None:
    await db.migrate(MIGRATIONS)
    first, second = Lease(db, "recorder", ttl=0.4), Lease(db, "recorder", ttl=0.4)
    await first.acquire()
    assert first.leads
    await second.acquire()
    assert not second.leads
    await first.renew()
    assert first.leads
    await asyncio.sleep(0.5)  # the first stops renewing
    await second.renew()
    assert second.leads
