"""Two behaviour-analysis runners on one PostgreSQL database, as the analytics unit's wiring runs them: a runner
that starts leaves its peer's running analysis alone, a crashed one's is taken over once its lease lapses and
succeeds once, and a clean stop gives back only the runner's own.

Each runner has its own connection pool on one schema (SQLite is one process's embedded database, so the
runners share PostgreSQL whatever `--database` says). An analysis is kept running by holding the `commits`
table locked from another connection: a worker that claimed one waits there for the commits it reads. A crash
is what a killed process leaves: a lease nobody renews and workers gone without giving their analyses back.
"""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import asyncpg
import pytest

from services.analytics.behavior_runner import AnalysisRunner
from services.analytics.schema import MIGRATIONS
from services.common.leases import Lease
from services.common.storage import Row
from services.common.storage.postgres import PostgresDatabase
from tests.waiting import until

TTL = 1.0  # seconds a runner's lease outlives its last renewal (renewed every TTL / 5)
TENANT = "org_replicas"
WINDOW = (1_712_000_000.0, 1_713_000_000.0)  # 1 to 13 April 2024


@dataclass
class Runner:
    db: PostgresDatabase
    lease: Lease
    runner: AnalysisRunner
    stopped: bool = False

    @property
    def runner_id(self) -> str:
        return self.lease.runner_id

    def working(self, analysis_id: str) -> bool:
        return analysis_id in self.runner._running

    def crash(self) -> None:
        renewing = self.lease._loop
        assert renewing is not None
        renewing.cancel()
        for worker in list(self.runner._running.values()):
            worker.task.cancel()

    async def stop(self) -> None:
        """A clean stop, in the wiring's order: the runner gives its work back, then the lease goes."""
        if not self.stopped:
            self.stopped = True
            await self.runner.close()
            await self.lease.release()
            await self.db.close()


@dataclass
class Shared:
    url: str
    schema: str
    db: PostgresDatabase  # the tests' own view of the database
    runners: list[Runner] = field(default_factory=list)

    async def start(self) -> Runner:
        """A runner started as the unit's wiring starts it: lease, recovery, then renewals."""
        db = await PostgresDatabase.open(self.url, self.schema)
        await db.migrate(MIGRATIONS)
        lease = Lease(db, "behavior-analysis", ttl=TTL)
        runner = Runner(db, lease, AnalysisRunner(db, lease, workers=1))
        self.runners.append(runner)
        await lease.acquire()
        await runner.runner.recover()
        lease.keep()
        return runner

    async def track(self, user_id: str) -> None:
        now = time.time()
        for n in range(6):
            stamp = WINDOW[0] + n * 86400 + 9 * 3600
            await self.db.execute(
                "INSERT INTO commits (commit_id, tenant_id, user_id, commit_hash, repository, message, timestamp,"
                " files_changed, additions, deletions, created_at) VALUES (?, ?, ?, ?, 'api', ?, ?, 1, 10, 2, ?)",
                (f"cmt_{user_id}_{n}", TENANT, user_id, f"{n:040x}", f"feat: step {n}", stamp, now))

    async def queue(self, analysis_id: str, user_id: str) -> None:
        now = time.time()
        await self.db.execute(
            "INSERT INTO behavior_analyses (analysis_id, tenant_id, user_id, requested_by, start_time, end_time,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)", (analysis_id, TENANT, user_id, user_id, *WINDOW, now))

    async def analysis(self, analysis_id: str) -> Row:
        row = await self.db.fetch_one(
            "SELECT a.*, (SELECT COUNT(*) FROM behavior_patterns p WHERE p.analysis_id = a.analysis_id) AS patterns"
            " FROM behavior_analyses a WHERE a.analysis_id = ?", (analysis_id,))
        assert row is not None
        return row

    @asynccontextmanager
    async def commits_held(self) -> AsyncIterator[None]:
        """Workers that read commits wait until the block ends."""
        conn = await asyncpg.connect(self.url)
        try:
            async with conn.transaction():
                await conn.execute(f'LOCK TABLE "{self.schema}".commits IN ACCESS EXCLUSIVE MODE')
                yield
        finally:
            await conn.close()


@pytest.fixture
async def shared(postgres_url: str) -> AsyncIterator[Shared]:
    schema = f"analytics_replicas_{uuid.uuid4().hex[:8]}"  # a server given by URL outlives the run
    db = await PostgresDatabase.open(postgres_url, schema)
    await db.migrate(MIGRATIONS)
    running = Shared(postgres_url, schema, db)
    try:
        yield running
    finally:
        for runner in running.runners:
            await runner.stop()
        await db.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await db.close()


async def test_a_starting_runner_leaves_a_live_ones_analysis_and_takes_over_a_crashed_ones(shared: Shared) -> None:
    await shared.track("usr_ada")
    a = await shared.start()
    async with shared.commits_held():
        await shared.queue("anl_held", "usr_ada")
        a.runner.start("anl_held")
        await until(lambda: _status(shared, "anl_held", "running"), "A claims the analysis")

        b = await shared.start()  # its start-up recovery runs while A's worker waits for the commits
        await asyncio.sleep(TTL)  # and so do five of its renewals
        row = await shared.analysis("anl_held")
        assert (row["status"], row["attempts"], row["runner_id"]) == ("running", 1, a.runner_id)
        assert a.working("anl_held")

        a.crash()
        crashed = time.monotonic()

        async def claimed_by_b() -> bool:
            return (await shared.analysis("anl_held"))["runner_id"] == b.runner_id

        await until(claimed_by_b, "B takes the analysis over", within=4 * TTL)
        assert time.monotonic() - crashed < 3 * TTL
    await until(lambda: _status(shared, "anl_held", "succeeded"), "B finishes it")
    row = await shared.analysis("anl_held")
    assert (row["attempts"], row["runner_id"], row["error"]) == (2, b.runner_id, "")
    assert row["patterns"] == row["pattern_count"] > 0


async def test_a_clean_stop_gives_back_only_the_runners_own_analyses(shared: Shared) -> None:
    await shared.track("usr_ada")
    await shared.track("usr_bo")
    a = await shared.start()
    async with shared.commits_held():
        await shared.queue("anl_of_a", "usr_ada")
        a.runner.start("anl_of_a")
        await until(lambda: _status(shared, "anl_of_a", "running"), "A claims its analysis")
        b = await shared.start()
        await shared.queue("anl_of_b", "usr_bo")
        b.runner.start("anl_of_b")  # A's one worker is busy: B claims it
        await until(lambda: _status(shared, "anl_of_b", "running"), "B claims its analysis")

        await a.stop()
        given_back, kept = await shared.analysis("anl_of_a"), await shared.analysis("anl_of_b")
        assert (given_back["status"], given_back["attempts"], given_back["runner_id"]) == ("queued", 0, "")
        assert (kept["status"], kept["attempts"], kept["runner_id"]) == ("running", 1, b.runner_id)
        assert b.working("anl_of_b")

    # B finishes its own, then runs what A gave back
    for analysis_id in ("anl_of_b", "anl_of_a"):
        await until(functools.partial(_status, shared, analysis_id, "succeeded"), f"{analysis_id} succeeds",
                     within=4 * TTL)
        row = await shared.analysis(analysis_id)
        assert (row["attempts"], row["runner_id"]) == (1, b.runner_id)
        assert row["patterns"] == row["pattern_count"] > 0


async def _status(shared: Shared, analysis_id: str, status: str) -> bool:
    return (await shared.analysis(analysis_id))["status"] == status

