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
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time

from services.analytics import behavior_store as store
from services.analytics.behavior_patterns import Finding, Window, find_patterns
from services.common.protoutil import new_id
from services.common.storage import Database, Row, Statement

log = logging.getLogger("agentmesh.analytics")

MAX_ATTEMPTS = 2


class AnalysisRunner:
    def __init__(self, db: Database, *, workers: int = 2) -> None:
        self.db = db
        self._slots = asyncio.Semaphore(workers)
        self._running: dict[str, asyncio.Task[None]] = {}
        self._closing = False

    async def recover(self) -> int:
        """Queue again (or fail) what a crash left running, then run every queued analysis; how many were
        interrupted."""
        now = time.time()
        interrupted = await self.db.fetch_all("SELECT analysis_id, attempts FROM behavior_analyses"
                                              " WHERE status = 'running'")
        for row in interrupted:
            if row["attempts"] < MAX_ATTEMPTS:
                await self.db.execute("UPDATE behavior_analyses SET status = 'queued' WHERE analysis_id = ?"
                                      " AND status = 'running'", (row["analysis_id"],))
            else:
                await self.db.execute(
                    "UPDATE behavior_analyses SET status = 'failed', error = 'interrupted by a restart',"
                    " finished_at = ? WHERE analysis_id = ? AND status = 'running'", (now, row["analysis_id"]))
        for row in await self.db.fetch_all(
                "SELECT analysis_id FROM behavior_analyses WHERE status = 'queued' ORDER BY created_at"):
            self.start(row["analysis_id"])
        return len(interrupted)

    def start(self, analysis_id: str) -> None:
        """Run the (stored, queued) analysis when a worker is free."""
        if self._closing or analysis_id in self._running:
            return
        task = asyncio.create_task(self._work(analysis_id), name=f"behavior-analysis-{analysis_id}")
        self._running[analysis_id] = task
        task.add_done_callback(lambda _: self._running.pop(analysis_id, None))

    async def close(self) -> None:
        """A clean stop: running analyses go back to the queue, their attempt not counted."""
        self._closing = True
        running = dict(self._running)
        for task in running.values():
            task.cancel()
        for task in running.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task
        # only this process's: another one sharing the database may be running its own
        for analysis_id in running:
            await self.db.execute("UPDATE behavior_analyses SET status = 'queued', attempts = MAX(attempts - 1, 0)"
                                  " WHERE analysis_id = ? AND status = 'running'", (analysis_id,))

    async def _work(self, analysis_id: str) -> None:
        async with self._slots:
            claimed = await self.db.batch([Statement(
                "UPDATE behavior_analyses SET status = 'running', attempts = attempts + 1, started_at = ?"
                " WHERE analysis_id = ? AND status = 'queued' RETURNING *", (time.time(), analysis_id), guard=True)])
            if not claimed[0]:
                return
            analysis = claimed[0][0]
            try:
                scope = store.Scope(analysis["tenant_id"], analysis["user_id"], analysis["repository"])
                commits = await store.commit_facts(self.db, scope, analysis["start_time"], analysis["end_time"])
                window = Window(analysis["start_time"], analysis["end_time"], analysis["repository"])
                findings = await asyncio.to_thread(find_patterns, commits, window, json.loads(analysis["kinds"]))
                await self._succeed(analysis, len(commits), findings)
            except Exception as exc:
                log.exception("behaviour analysis failed", extra={"analysis_id": analysis_id})
                await self.db.execute(
                    "UPDATE behavior_analyses SET status = 'failed', error = ?, finished_at = ?"
                    " WHERE analysis_id = ? AND status = 'running'",
                    (f"{type(exc).__name__}: {exc}"[:1000], time.time(), analysis_id))

    async def _succeed(self, analysis: Row, commits: int, findings: list[Finding]) -> None:
        now = time.time()
        statements = [
            Statement("UPDATE behavior_analyses SET status = 'succeeded', commit_count = ?, pattern_count = ?,"
                      " finished_at = ? WHERE analysis_id = ? AND status = 'running' RETURNING analysis_id",
                      (commits, len(findings), now, analysis["analysis_id"]), guard=True),
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
