"""Tasks and their events in the database: every state change is one transaction with its events.

Writes that a runner makes are conditional on the task still being `running`
and claimed by that runner (`runner_id`), so a cancel or a restart that got
there first always wins over a late result, and a task is never worked by two
runners at once. A task's final status is always the last event it records.

The changes on a task's way (create, claim, progress, finish) are each one
batch of statements (services.task.changes), so one trip to the database's
thread: the trips, not the SQL, bound how many tasks a unit moves per second.
A finish can claim the next queued task in the same trip, handing its worker on.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, ParamSpec, TypeVar

from services.common.leases import ORPHANED
from services.common.storage import Database, Row
from services.task.changes import (
    Change,
    NewTask,
    Note,
    Result,
    add_events,
    by_task,
    cancel_in,
    claim_statements,
    claimed,
    finish_statements,
    in_order,
    insert_statements,
    insert_task,
    inserted,
    log_note,
    report_statements,
    status_note,
)

# What a caller may filter and sort tasks by, and the columns behind the names.
TASK_COLUMNS = {
    "status": "status", "agent_id": "agent_id", "team_id": "team_id", "owner_id": "owner_id",
    "priority": "priority", "workflow_run_id": "workflow_run_id", "idempotency_key": "idempotency_key",
    "input": "input", "error": "error", "attempts": "attempts", "progress": "progress",
    "created_at": "created_at", "updated_at": "updated_at", "started_at": "started_at",
    "finished_at": "finished_at", "retry_of_task_id": "retry_of_task_id",
}
# A task's row with the id of its latest event, which a snapshot hands out to resume after.
TASK_SELECT = ("SELECT t.*, (SELECT MAX(e.event_id) FROM task_events e WHERE e.task_id = t.task_id)"
               " AS last_event_id FROM tasks t")

P = ParamSpec("P")
T = TypeVar("T")


def shielded(write: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, Coroutine[Any, Any, T]]:
    """Let a write run to its end when its caller is cancelled (a client gone, a task cancelled, a stop).

    Cancellation is routine here: a shielded write always commits or rolls back whole, and what it
    returns reaches the caller's callers unless the caller itself was cancelled.
    """

    @functools.wraps(write)
    async def run(*args: P.args, **kwargs: P.kwargs) -> T:
        return await asyncio.shield(write(*args, **kwargs))

    return run


class TaskStore:
    """The task table as the servicer and the runner use it."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._last_stamp = 0.0

    def _stamp(self) -> float:
        """Now, and never twice the same: it tells one claim's rows from an earlier claim's."""
        self._last_stamp = max(time.time(), self._last_stamp + 1e-6)
        return self._last_stamp

    async def get(self, tenant_id: str, task_id: str) -> Row | None:
        return await self.db.fetch_one(TASK_SELECT + " WHERE t.task_id = ? AND t.tenant_id = ?",
                                       (task_id, tenant_id))

    # A write that is one batch needs no shield: once started, a batch runs to its end (see Database).

    async def create(self, new: NewTask, *, runner_id: str = "", claim: int = 0) -> tuple[Change, bool, list[Change]]:
        """The new task, or the one the idempotency key already names (then False); and, when `claim` is
        set, up to that many queued tasks (the new one among them, if its turn has come) claimed for the
        runner in the same transaction. A task with an idempotency key is created alone: `claim` is ignored."""
        if new.idempotency_key:
            return await self._create_keyed(new)
        statements = insert_statements(new)
        if claim > 0:
            statements += claim_statements(runner_id, claim, self._stamp())
        results = await self.db.batch(statements)
        return inserted(results[:2]), True, claimed(results[2], results[3]) if claim > 0 else []

    @shielded
    async def _create_keyed(self, new: NewTask) -> tuple[Change, bool, list[Change]]:
        async with self.db.transaction() as tx:
            earlier = await tx.fetch_one(
                "SELECT * FROM tasks WHERE tenant_id = ? AND owner_id = ? AND idempotency_key = ?",
                (new.tenant_id, new.owner_id, new.idempotency_key),
            )
            if earlier is not None:
                return (earlier, []), False, []
            return await insert_task(tx, new), True, []

    async def claim(self, runner_id: str, limit: int) -> list[Change]:
        """Up to `limit` queued tasks, highest priority then oldest first, now running for this runner."""
        rows, events = await self.db.batch(claim_statements(runner_id, limit, self._stamp()))
        return claimed(rows, events)

    async def report(self, task_id: str, runner_id: str, progress: float, notes: Sequence[Note]) -> Change | None:
        """Progress and the attempt's pending events, unless the task is no longer this runner's."""
        results = await self.db.batch(report_statements(task_id, runner_id, progress, notes))
        if not results[0]:
            return None
        return results[0][0], in_order(results[1])

    async def finish(self, task_id: str, runner_id: str, result: Result, *, attempt: int, progress: float,
                     notes: Sequence[Note] = (), claim: int = 0) -> tuple[Change | None, list[Change]]:
        """The attempt's result with its pending events, unless the task was cancelled or taken meanwhile
        (then None); and, when it was this runner's and `claim` is set, up to that many queued tasks
        claimed for the runner in the same transaction."""
        statements = finish_statements(task_id, runner_id, result, attempt=attempt, progress=progress, notes=notes)
        if claim > 0:
            statements += claim_statements(runner_id, claim, self._stamp())
        results = await self.db.batch(statements)
        if not results[0]:
            return None, []
        change = results[0][0], in_order(results[1])
        return change, claimed(results[2], results[3]) if claim > 0 else []

    @shielded
    async def cancel(self, tenant_id: str, task_id: str, reason: str) -> tuple[Row, list[Row]] | None:
        """The task cancelled (if it had not finished) with its events; None when the tenant has no such task."""
        async with self.db.transaction() as tx:
            row = await tx.fetch_one("SELECT * FROM tasks WHERE task_id = ? AND tenant_id = ?", (task_id, tenant_id))
            if row is None:
                return None
            change = await cancel_in(tx, row, reason)
            return change if change is not None else (row, [])

    @shielded
    async def release(self, runner_id: str) -> list[Change]:
        """The tasks this runner gives back at shutdown (those it works, and any claimed for it that it had not
        started): queued again, the interrupted attempt not counted."""
        async with self.db.transaction() as tx:
            rows = await tx.fetch_all(
                "UPDATE tasks SET status = 'queued', runner_id = '', attempts = MAX(attempts - 1, 0), progress = 0,"
                " updated_at = ? WHERE status = 'running' AND runner_id = ? RETURNING *", (time.time(), runner_id),
            )
            notes = []
            for row in rows:
                notes += [(row["task_id"], log_note(row, "warning", "the unit stopped mid-attempt; queued again")),
                          (row["task_id"], status_note(row, "queued again: the unit stopped"))]
            events = by_task(await add_events(tx, notes))
        return [(row, events[row["task_id"]]) for row in rows]

    @shielded
    async def recover(self, max_attempts: int, live_since: float) -> list[Change]:
        """Tasks a crashed runner left `running` (its lease lapsed): queued again while attempts remain, else
        failed. Tasks of live runners, this unit's other replicas, are theirs."""
        now = time.time()
        error = "interrupted by a restart"
        orphan = ORPHANED
        async with self.db.transaction() as tx:
            requeued = await tx.fetch_all(
                "UPDATE tasks SET status = 'queued', runner_id = '', progress = 0, updated_at = ?"
                f" WHERE {orphan} AND attempts < ? RETURNING *", (now, live_since, max_attempts),
            )
            failed = await tx.fetch_all(
                "UPDATE tasks SET status = 'failed', error = ?, runner_id = '', finished_at = ?, updated_at = ?"
                f" WHERE {orphan} RETURNING *", (error, now, now, live_since),
            )
            notes = []
            for row in requeued:
                notes += [(row["task_id"], log_note(row, "warning", f"{error}; queued again",
                                                    {"attempts": row["attempts"]})),
                          (row["task_id"], status_note(row, f"{error}; queued again"))]
            for row in failed:
                notes += [(row["task_id"], log_note(row, "error", f"{error}; no attempts left",
                                                    {"attempts": row["attempts"]})),
                          (row["task_id"], status_note(row, error))]
            events = by_task(await add_events(tx, notes))
        return [(row, events[row["task_id"]]) for row in (*requeued, *failed)]

    async def next_turn(self, team_id: str, members: int) -> int:
        """Whose turn it is in a round_robin team, advancing the turn."""
        row = await self.db.fetch_one(
            "INSERT INTO team_turns (team_id, turn) VALUES (?, 1)"
            " ON CONFLICT (team_id) DO UPDATE SET turn = team_turns.turn + 1 RETURNING turn", (team_id,),
        )
        assert row is not None
        return (int(row["turn"]) - 1) % members

    async def events_after(self, task_id: str, after: int) -> list[Row]:
        return await self.db.fetch_all(
            "SELECT * FROM task_events WHERE task_id = ? AND event_id > ? ORDER BY event_id", (task_id, after)
        )

    async def event_of(self, task_id: str, event_id: int) -> bool:
        return await self.db.fetch_one("SELECT 1 AS found FROM task_events WHERE task_id = ? AND event_id = ?",
                                       (task_id, event_id)) is not None
