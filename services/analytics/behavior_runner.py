"""Behavioural analyses in the background: a bounded pool that turns a stored analysis into patterns.

AnalyzeBehavior stores the analysis (queued) and hands its id here. A worker
claims it with one conditional update (queued -> running, so two workers or
two processes never run it twice), reads the user's commits of the window,
finds the patterns off the event loop, and writes them together with the
analysis's success in one transaction, dropping the patterns of earlier
analyses of the same user and repository scope. A failure is stored as
`failed` with its reason, never as half a set of patterns.

An analysis reads only stored commits, so running it again gives the same
answer: at start, one a crash left running is queued again (once; a second
interruption fails it, in case the analysis itself brought the process down),
and at a clean stop running ones go back to the queue without counting the
interrupted attempt.

Replicas of the unit may share the database: each runner holds a lease
(services.common.leases) and claims under its id, so "left running by a crash"
means held by a runner whose lease lapsed. One that starts leaves its peers'
analyses alone; a crashed replica's are taken over by a live runner at its next
renewal. While peers are about, each renewal also runs what they queued or
gave back, and drops the workers whose analysis another replica took over
(this runner's lease lapsed meanwhile), whose result would be refused anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass

from services.analytics import behavior_store as store
from services.analytics.behavior_patterns import Finding, Window, find_patterns
from services.common.leases import LIVE_RUNNERS, Lease
from services.common.protoutil import new_id
from services.common.storage import Database, Row, Statement

log = logging.getLogger("agentmesh.analytics")

MAX_ATTEMPTS = 2

# Analyses running for a runner whose lease has lapsed, or for none (claimed before leases existed); the one
# parameter is `Lease.live_since()`.
_ORPHANED = f"status = 'running' AND runner_id NOT IN ({LIVE_RUNNERS})"


@dataclass
class _Worker:
    task: asyncio.Task[None]
    claimed: bool = False  # its analysis runs under this runner's lease
    finishing: bool = False  # it writes its outcome: past being dropped


class AnalysisRunner:
    def __init__(self, db: Database, lease: Lease, *, workers: int = 2) -> None:
        self.db = db
        self.lease = lease
        self._slots = asyncio.Semaphore(workers)
        self._running: dict[str, _Worker] = {}
        self._closing = False
        self._had_peers = False  # peers were about at the last renewal: one that left may have given work back
        lease.on_renew.append(self._on_renew)

    async def recover(self) -> int:
        """Queue again (or fail) what crashed runners left running, then run every queued analysis; how many
        were interrupted. The lease is taken first, so that peers starting meanwhile leave this one's alone."""
        self._had_peers = self.lease.peers > 0  # as the lease's acquire counted them
        interrupted = await self._take_over()
        await self._start_queued()
        return interrupted

    async def _take_over(self) -> int:
        """Queue again (or fail) the analyses of runners whose lease lapsed; how many there were."""
        live_since = self.lease.live_since()
        requeued, failed = await self.db.batch([
            Statement("UPDATE behavior_analyses SET status = 'queued', runner_id = ''"
                      f" WHERE {_ORPHANED} AND attempts < ? RETURNING analysis_id", (live_since, MAX_ATTEMPTS)),
            Statement("UPDATE behavior_analyses SET status = 'failed', error = 'interrupted by a restart',"
                      f" finished_at = ? WHERE {_ORPHANED} RETURNING analysis_id", (time.time(), live_since)),
        ])
        return len(requeued) + len(failed)

    async def _start_queued(self) -> None:
        for row in await self.db.fetch_all(
                "SELECT analysis_id FROM behavior_analyses WHERE status = 'queued' ORDER BY created_at"):
            self.start(row["analysis_id"])

    async def _on_renew(self) -> None:
        """After each lease renewal: take over what a crashed replica left running; with peers about (or one
        just gone), run what they queued and drop the workers whose analysis is no longer this runner's."""
        if self._closing:
            return
        taken = 0
        if await self.db.fetch_one(f"SELECT 1 AS found FROM behavior_analyses WHERE {_ORPHANED} LIMIT 1",
                                   (self.lease.live_since(),)) is not None:
            taken = await self._take_over()
            if taken:
                log.warning("behaviour analyses of a replica whose lease lapsed taken over", extra={"count": taken})
        had_peers, self._had_peers = self._had_peers, self.lease.peers > 0
        if taken or self.lease.peers or had_peers:
            await self._start_queued()
        if self.lease.peers:
            await self._drop_lost()

    async def _drop_lost(self) -> None:
        """Cancel the workers whose analysis another replica took over (this runner's lease lapsed meanwhile)."""
        claimed = {analysis_id: worker for analysis_id, worker in self._running.items()
                   if worker.claimed and not worker.finishing}
        if not claimed:
            return
        held = await self.db.fetch_all(
            f"SELECT analysis_id FROM behavior_analyses WHERE analysis_id IN ({', '.join('?' for _ in claimed)})"
            " AND status = 'running' AND runner_id = ?", [*claimed, self.lease.runner_id])
        still = {row["analysis_id"] for row in held}
        for analysis_id, worker in claimed.items():
            if analysis_id in still or worker.finishing or self._running.get(analysis_id) is not worker:
                continue
            log.info("behaviour analysis taken over by another replica; its worker is cancelled",
                     extra={"analysis_id": analysis_id})
            worker.task.cancel()

    def start(self, analysis_id: str) -> None:
        """Run the (stored, queued) analysis when a worker is free."""
        if self._closing or analysis_id in self._running:
            return
        task = asyncio.create_task(self._work(analysis_id), name=f"behavior-analysis-{analysis_id}")
        self._running[analysis_id] = _Worker(task)
        task.add_done_callback(lambda _: self._running.pop(analysis_id, None))

    async def close(self) -> None:
        """A clean stop: this runner's running analyses go back to the queue, their attempt not counted (the
        lease is released after this)."""
        self._closing = True
        workers = list(self._running.values())
        for worker in workers:
            if not worker.finishing:
                worker.task.cancel()
        for worker in workers:
            with contextlib.suppress(asyncio.CancelledError):
                await worker.task
        # only this runner's: another one sharing the database may be running its own
        await self.db.execute("UPDATE behavior_analyses SET status = 'queued', attempts = MAX(attempts - 1, 0),"
                              " runner_id = '' WHERE status = 'running' AND runner_id = ?", (self.lease.runner_id,))

    async def _work(self, analysis_id: str) -> None:
        async with self._slots:
            claimed = await self.db.batch([Statement(
                "UPDATE behavior_analyses SET status = 'running', attempts = attempts + 1, started_at = ?,"
                " runner_id = ? WHERE analysis_id = ? AND status = 'queued' RETURNING *",
                (time.time(), self.lease.runner_id, analysis_id), guard=True)])
            if not claimed[0]:
                return
            worker = self._running[analysis_id]
            worker.claimed = True
            analysis = claimed[0][0]
            try:
                scope = store.Scope(analysis["tenant_id"], analysis["user_id"], analysis["repository"])
                commits = await store.commit_facts(self.db, scope, analysis["start_time"], analysis["end_time"])
                window = Window(analysis["start_time"], analysis["end_time"], analysis["repository"])
                findings = await asyncio.to_thread(find_patterns, commits, window, json.loads(analysis["kinds"]))
                worker.finishing = True
                await self._succeed(analysis, len(commits), findings)
            except Exception as exc:
                log.exception("behaviour analysis failed", extra={"analysis_id": analysis_id})
                worker.finishing = True
                await self.db.execute(
                    "UPDATE behavior_analyses SET status = 'failed', error = ?, finished_at = ?"
                    " WHERE analysis_id = ? AND status = 'running' AND runner_id = ?",
                    (f"{type(exc).__name__}: {exc}"[:1000], time.time(), analysis_id, self.lease.runner_id))

    async def _succeed(self, analysis: Row, commits: int, findings: list[Finding]) -> None:
        now = time.time()
        statements = [
            # none when the analysis is no longer this runner's (taken over after its lease lapsed)
            Statement("UPDATE behavior_analyses SET status = 'succeeded', commit_count = ?, pattern_count = ?,"
                      " finished_at = ? WHERE analysis_id = ? AND status = 'running' AND runner_id = ?"
                      " RETURNING analysis_id",
                      (commits, len(findings), now, analysis["analysis_id"], self.lease.runner_id), guard=True),
            Statement(
                "DELETE FROM behavior_patterns WHERE analysis_id IN (SELECT analysis_id FROM behavior_analyses"
                " WHERE tenant_id = ? AND user_id = ? AND repository = ? AND status = 'succeeded'"
                " AND analysis_id != ?)",
                (analysis["tenant_id"], analysis["user_id"], analysis["repository"], analysis["analysis_id"])),
        ]
        for finding in findings:
            row = {
                "pattern_id": new_id("pat"), "analysis_id": analysis["analysis_id"],
                "tenant_id": analysis["tenant_id"], "user_id": analysis["user_id"], "kind": finding.kind,
                "title": finding.title, "description": finding.description, "confidence": finding.confidence,
                "data": json.dumps(finding.data), "repository": analysis["repository"],
                "start_time": analysis["start_time"], "end_time": analysis["end_time"], "created_at": now,
            }
            statements.append(Statement(
                f"INSERT INTO behavior_patterns ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
                list(row.values())))
        await self.db.batch(statements)
