"""Tasks and their events in the database: every state change is one transaction with its events.

Writes that a runner makes are conditional on the task still being `running`
and claimed by that runner (`runner_id`), so a cancel or a restart that got
there first always wins over a late result, and a task is never worked by two
runners at once. A task's final status is always the last event it records.

Each change is a handful of statements (UPDATE ... RETURNING, one multi-row
INSERT of its events), because every statement is a trip to the database's
thread and the trips, not the SQL, bound how many tasks a unit moves per second.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from services.common.protoutil import new_id
from services.common.storage import Database, Row, Transaction
from services.task.model import CANCELLABLE, FINAL
from services.task.workers import NO_USAGE, Actor, Usage

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
_EVENT_COLUMNS = "task_id, type, status, progress, message, level, output_chunk, fields, time"

Change = tuple[Row, list[Row]]  # the task after a change, and the events the change recorded
P = ParamSpec("P")
T = TypeVar("T")


def shielded(write: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, Coroutine[Any, Any, T]]:
    """Let a write run to its end when its caller is cancelled (a client gone, a task cancelled, a stop).

    Cancellation is routine here, and the SQLite backend leaves its connection
    inside the transaction when a cancel lands while BEGIN runs, after which no
    transaction can start; a shielded write always commits or rolls back.
    """

    @functools.wraps(write)
    async def run(*args: P.args, **kwargs: P.kwargs) -> T:
        return await asyncio.shield(write(*args, **kwargs))

    return run


@dataclass(frozen=True, slots=True)
class NewTask:
    tenant_id: str
    owner_id: str
    actor: Actor
    agent_id: str = ""
    team_id: str = ""
    input: str = ""
    input_data: str = "{}"
    parameters: str = "{}"
    priority: int = 0
    timeout_seconds: int = 0
    idempotency_key: str = ""
    request_digest: str = ""
    retry_of_task_id: str = ""
    workflow_run_id: str = ""
    step_id: str = ""


@dataclass(frozen=True, slots=True)
class Note:
    """One event to record: a status, a progress step, output, or a log line (type task.log)."""

    type: str
    status: str
    progress: float = 0.0
    message: str = ""
    level: str = ""
    output_chunk: str = ""
    fields: dict[str, Any] | None = None


def log_note(task: Row, level: str, message: str, fields: dict[str, Any] | None = None) -> Note:
    return Note("task.log", task["status"], float(task["progress"]), message, level, fields=fields)


def status_note(task: Row, message: str) -> Note:
    return Note("task.status", task["status"], float(task["progress"]), message)


async def add_events(q: Transaction, notes: Sequence[tuple[str, Note]]) -> list[Row]:
    """Record (task_id, note) pairs in one statement; the rows come back in the order they were given."""
    if not notes:
        return []
    now = time.time()
    params: list[Any] = []
    for task_id, n in notes:
        params += [task_id, n.type, n.status, n.progress, n.message, n.level, n.output_chunk,
                   json.dumps(n.fields or {}, separators=(",", ":")), now]
    values = ", ".join("(?, ?, ?, ?, ?, ?, ?, ?, ?)" for _ in notes)
    rows = await q.fetch_all(f"INSERT INTO task_events ({_EVENT_COLUMNS}) VALUES {values} RETURNING *", params)
    return sorted(rows, key=lambda r: int(r["event_id"]))


def _by_task(events: list[Row]) -> dict[str, list[Row]]:
    grouped: dict[str, list[Row]] = {}
    for event in events:
        grouped.setdefault(event["task_id"], []).append(event)
    return grouped


async def insert_task(q: Transaction, new: NewTask) -> Change:
    """A queued task and its first events; the caller's transaction commits them together."""
    now = time.time()
    row = await q.fetch_one(
        "INSERT INTO tasks (task_id, tenant_id, owner_id, agent_id, team_id, input, input_data, parameters,"
        " priority, timeout_seconds, idempotency_key, request_digest, status, retry_of_task_id, workflow_run_id,"
        " step_id, actor, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?) RETURNING *",
        (new_id("task"), new.tenant_id, new.owner_id, new.agent_id, new.team_id, new.input, new.input_data,
         new.parameters, new.priority, new.timeout_seconds, new.idempotency_key, new.request_digest,
         new.retry_of_task_id, new.workflow_run_id, new.step_id, new.actor.to_json(), now, now),
    )
    assert row is not None
    target = f"agent {new.agent_id}" if new.agent_id else f"team {new.team_id}"
    fields: dict[str, Any] = {"priority": new.priority}
    if new.retry_of_task_id:
        fields["retry_of_task_id"] = new.retry_of_task_id
    events = await add_events(q, [(row["task_id"], status_note(row, "queued")),
                                  (row["task_id"], log_note(row, "info", f"queued for {target}", fields))])
    return row, events


async def cancel_in(q: Transaction, row: Row, reason: str) -> Change | None:
    """Cancel a task that has not finished, inside the caller's transaction; None when it had."""
    if row["status"] not in CANCELLABLE:
        return None
    now = time.time()
    task = await q.fetch_one(
        "UPDATE tasks SET status = 'cancelled', runner_id = '', finished_at = ?, updated_at = ?"
        " WHERE task_id = ? AND status = ? RETURNING *", (now, now, row["task_id"], row["status"]),
    )
    if task is None:
        return None
    message = f"cancelled: {reason}" if reason else "cancelled"
    return task, await add_events(q, [(task["task_id"], log_note(task, "warning", message,
                                                                 {"previous_status": row["status"]})),
                                      (task["task_id"], status_note(task, message))])


class TaskStore:
    """The task table as the servicer and the runner use it."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, tenant_id: str, task_id: str) -> Row | None:
        return await self.db.fetch_one(TASK_SELECT + " WHERE t.task_id = ? AND t.tenant_id = ?",
                                       (task_id, tenant_id))

    @shielded
    async def create(self, new: NewTask) -> tuple[Change, bool]:
        """The new task, or the one the idempotency key already names (then False)."""
        async with self.db.transaction() as tx:
            if new.idempotency_key:
                earlier = await tx.fetch_one(
                    "SELECT * FROM tasks WHERE tenant_id = ? AND owner_id = ? AND idempotency_key = ?",
                    (new.tenant_id, new.owner_id, new.idempotency_key),
                )
                if earlier is not None:
                    return (earlier, []), False
            return await insert_task(tx, new), True

    @shielded
    async def claim(self, runner_id: str, limit: int) -> list[Change]:
        """Up to `limit` queued tasks, highest priority then oldest first, now running for this runner."""
        now = time.time()
        async with self.db.transaction() as tx:
            rows = await tx.fetch_all(
                "UPDATE tasks SET status = 'running', runner_id = ?, attempts = attempts + 1, progress = 0,"
                " started_at = ?, updated_at = ? WHERE status = 'queued' AND task_id IN (SELECT task_id FROM tasks"
                " WHERE status = 'queued' ORDER BY priority DESC, created_at ASC, task_id ASC LIMIT ?) RETURNING *",
                (runner_id, now, now, limit),
            )
            rows.sort(key=lambda r: (-int(r["priority"]), float(r["created_at"]), r["task_id"]))
            notes = []
            for row in rows:
                notes += [(row["task_id"], status_note(row, "running")),
                          (row["task_id"], log_note(row, "info", f"attempt {row['attempts']} started",
                                                    {"attempt": row["attempts"]}))]
            events = _by_task(await add_events(tx, notes))
        return [(row, events[row["task_id"]]) for row in rows]

    @shielded
    async def report(self, task_id: str, runner_id: str, progress: float, notes: Sequence[Note]) -> Change | None:
        """Progress and the attempt's pending events, unless the task is no longer this runner's."""
        async with self.db.transaction() as tx:
            row = await tx.fetch_one(
                "UPDATE tasks SET progress = MAX(progress, ?), updated_at = ?"
                " WHERE task_id = ? AND status = 'running' AND runner_id = ? RETURNING *",
                (progress, time.time(), task_id, runner_id),
            )
            if row is None:
                return None
            return row, await add_events(tx, [(task_id, n) for n in notes])

    @shielded
    async def finish(self, task_id: str, runner_id: str, status: str, *, notes: Sequence[Note] = (),
                     output: str = "", output_data: dict[str, Any] | None = None, error: str = "",
                     usage: Usage = NO_USAGE, message: str = "") -> Change | None:
        """The attempt's result with its pending events, unless the task was cancelled or taken meanwhile."""
        assert status in FINAL
        now = time.time()
        async with self.db.transaction() as tx:
            row = await tx.fetch_one(
                "UPDATE tasks SET status = ?, output = ?, output_data = ?, error = ?,"
                " progress = CASE WHEN ? = 'succeeded' THEN 1.0 ELSE progress END,"
                " prompt_tokens = prompt_tokens + ?, completion_tokens = completion_tokens + ?,"
                " total_tokens = total_tokens + ?, finished_at = ?, updated_at = ?"
                " WHERE task_id = ? AND status = 'running' AND runner_id = ? RETURNING *",
                (status, output, json.dumps(output_data or {}, separators=(",", ":")), error, status,
                 usage.prompt_tokens, usage.completion_tokens, usage.total_tokens, now, now, task_id, runner_id),
            )
            if row is None:
                return None
            final = [*notes]
            if output:
                final.append(Note("task.output", status, float(row["progress"]), output_chunk=output))
            final.append(log_note(row, "info" if status == "succeeded" else "error", message or error or status,
                                  {"total_tokens": usage.total_tokens, "attempt": row["attempts"]}))
            final.append(status_note(row, error or message or status))
            return row, await add_events(tx, [(task_id, n) for n in final])

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
    async def release(self, runner_id: str, task_ids: list[str]) -> list[Change]:
        """Tasks this runner gives back at shutdown: queued again, the interrupted attempt not counted."""
        if not task_ids:
            return []
        async with self.db.transaction() as tx:
            rows = await tx.fetch_all(
                "UPDATE tasks SET status = 'queued', runner_id = '', attempts = MAX(attempts - 1, 0), progress = 0,"
                f" updated_at = ? WHERE status = 'running' AND runner_id = ? AND task_id IN"
                f" ({', '.join('?' for _ in task_ids)}) RETURNING *", (time.time(), runner_id, *task_ids),
            )
            notes = []
            for row in rows:
                notes += [(row["task_id"], log_note(row, "warning", "the unit stopped mid-attempt; queued again")),
                          (row["task_id"], status_note(row, "queued again: the unit stopped"))]
            events = _by_task(await add_events(tx, notes))
        return [(row, events[row["task_id"]]) for row in rows]

    @shielded
    async def recover(self, max_attempts: int) -> list[Change]:
        """Tasks a crash left `running`: queued again while attempts remain, else failed."""
        now = time.time()
        error = "interrupted by a restart"
        async with self.db.transaction() as tx:
            requeued = await tx.fetch_all(
                "UPDATE tasks SET status = 'queued', runner_id = '', progress = 0, updated_at = ?"
                " WHERE status = 'running' AND attempts < ? RETURNING *", (now, max_attempts),
            )
            failed = await tx.fetch_all(
                "UPDATE tasks SET status = 'failed', error = ?, runner_id = '', finished_at = ?, updated_at = ?"
                " WHERE status = 'running' RETURNING *", (error, now, now),
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
            events = _by_task(await add_events(tx, notes))
        return [(row, events[row["task_id"]]) for row in (*requeued, *failed)]

    async def next_turn(self, team_id: str, members: int) -> int:
        """Whose turn it is in a round_robin team, advancing the turn."""
        row = await self.db.fetch_one(
            "INSERT INTO team_turns (team_id, turn) VALUES (?, 1)"
            " ON CONFLICT (team_id) DO UPDATE SET turn = turn + 1 RETURNING turn", (team_id,),
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
