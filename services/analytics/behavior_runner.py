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
import json
import logging
import time

from services.analytics import behavior_store as store
from services.analytics.behavior_patterns import Finding, Window, find_patterns
from services.common.leases import ORPHANED, Lease, LeasedRunner
from services.common.protoutil import new_id
from services.common.storage import Database, Row, Statement

log = logging.getLogger("agentmesh.analytics")

MAX_ATTEMPTS = 2


class AnalysisRunner(LeasedRunner):
    def __init__(self, db: Database, lease: Lease, *, workers: int = 2) -> None:
        super().__init__(db, lease, table="behavior_analyses", key="analysis_id", noun="behavior-analysis")
        self._slots = asyncio.Semaphore(workers)

    async def _take_over(self) -> int:
        """Queue again (or fail) the analyses of runners whose lease lapsed; how many there were."""
        live_since = self.lease.live_since()
        requeued, failed = await self.db.batch([
            Statement("UPDATE behavior_analyses SET status = 'queued', runner_id = ''"
                      f" WHERE {ORPHANED} AND attempts < ? RETURNING analysis_id", (live_since, MAX_ATTEMPTS)),
            Statement("UPDATE behavior_analyses SET status = 'failed', error = 'interrupted by a restart',"
                      f" finished_at = ? WHERE {ORPHANED} RETURNING analysis_id", (time.time(), live_since)),
        ])
        return len(requeued) + len(failed)

    async def close(self) -> None:
        """A clean stop: this runner's running analyses go back to the queue, their attempt not counted (the
        lease is released after this)."""
        await self._cancel_workers()
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
