"""The statements behind a task's changes: each change and its events, written in one trip to the database.

A change is a short list of statements run as one batch (see
services.common.storage.Statement): the task's UPDATE or INSERT ... RETURNING,
then one multi-row INSERT of its events. What an event says is known before
the batch runs (the runner knows the attempt it works and the progress it
stored), except for a claim, whose events are written from the rows the claim
has just changed. Every trip costs more than the SQL it carries, so the trips,
not the statements, are what this module saves.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from services.common.authctx import Actor
from services.common.llm import NO_USAGE, Usage
from services.common.protoutil import new_id
from services.common.storage import Row, Statement, Transaction
from services.task.model import CANCELLABLE

Change = tuple[Row, list[Row]]  # the task after a change, and the events the change recorded
EVENT_COLUMNS = "task_id, type, status, progress, message, level, output_chunk, fields, time"


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
    # Chosen by the caller when it has to know the id before the task exists (to follow its feed).
    task_id: str = ""


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


@dataclass(frozen=True, slots=True)
class Result:
    """What an attempt ends with, as the runner hands it to `finish_statements`."""

    status: str
    output: str = ""
    output_data: dict[str, Any] | None = None
    error: str = ""
    usage: Usage = NO_USAGE
    message: str = ""


def log_note(task: Row, level: str, message: str, fields: dict[str, Any] | None = None) -> Note:
    return Note("task.log", task["status"], float(task["progress"]), message, level, fields=fields)


def status_note(task: Row, message: str) -> Note:
    return Note("task.status", task["status"], float(task["progress"]), message)


def in_order(events: list[Row]) -> list[Row]:
    return sorted(events, key=lambda r: int(r["event_id"]))


def by_task(events: list[Row]) -> dict[str, list[Row]]:
    grouped: dict[str, list[Row]] = {}
    for event in in_order(events):
        grouped.setdefault(event["task_id"], []).append(event)
    return grouped


def events_statement(notes: Sequence[tuple[str, Note]], now: float) -> Statement:
    """(task_id, note) pairs in one INSERT; RETURNING hands the rows back in no promised order."""
    params: list[Any] = []
    for task_id, n in notes:
        params += [task_id, n.type, n.status, n.progress, n.message, n.level, n.output_chunk,
                   json.dumps(n.fields or {}, separators=(",", ":")), now]
    values = ", ".join("(?, ?, ?, ?, ?, ?, ?, ?, ?)" for _ in notes)
    return Statement(f"INSERT INTO task_events ({EVENT_COLUMNS}) VALUES {values} RETURNING *", params)


async def add_events(q: Transaction, notes: Sequence[tuple[str, Note]]) -> list[Row]:
    """Record (task_id, note) pairs in one statement; the rows come back in the order they were given."""
    if not notes:
        return []
    [rows] = await q.batch([events_statement(notes, time.time())])
    return in_order(rows)


def insert_statements(new: NewTask) -> list[Statement]:
    """A queued task (RETURNING) and its first events (RETURNING)."""
    now = time.time()
    task_id = new.task_id or new_id("task")
    target = f"agent {new.agent_id}" if new.agent_id else f"team {new.team_id}"
    fields: dict[str, Any] = {"priority": new.priority}
    if new.retry_of_task_id:
        fields["retry_of_task_id"] = new.retry_of_task_id
    return [
        Statement(
            "INSERT INTO tasks (task_id, tenant_id, owner_id, agent_id, team_id, input, input_data, parameters,"
            " priority, timeout_seconds, idempotency_key, request_digest, status, retry_of_task_id, workflow_run_id,"
            " step_id, actor, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?) RETURNING *",
            (task_id, new.tenant_id, new.owner_id, new.agent_id, new.team_id, new.input, new.input_data,
             new.parameters, new.priority, new.timeout_seconds, new.idempotency_key, new.request_digest,
             new.retry_of_task_id, new.workflow_run_id, new.step_id, new.actor.to_json(), now, now),
        ),
        events_statement([(task_id, Note("task.status", "queued", 0.0, "queued")),
                          (task_id, Note("task.log", "queued", 0.0, f"queued for {target}", "info", fields=fields))],
                         now),
    ]


def inserted(results: list[list[Row]]) -> Change:
    [row], events = results
    return row, in_order(events)


async def insert_task(q: Transaction, new: NewTask) -> Change:
    """A queued task and its first events; the caller's transaction commits them together."""
    return inserted(await q.batch(insert_statements(new)))


# A claim's events, written from the rows it has just changed (its stamp is their started_at, which
# no earlier claim of the runner shares): for each task its status, then the line naming the attempt.
_CLAIM_EVENTS = (
    f"INSERT INTO task_events ({EVENT_COLUMNS})"
    " SELECT t.task_id, CASE k.n WHEN 0 THEN 'task.status' ELSE 'task.log' END, t.status, t.progress,"
    " CASE k.n WHEN 0 THEN 'running' ELSE 'attempt ' || t.attempts || ' started' END,"
    " CASE k.n WHEN 0 THEN '' ELSE 'info' END, '',"
    " CASE k.n WHEN 0 THEN '{}' ELSE '{\"attempt\":' || t.attempts || '}' END, ?"
    " FROM tasks t, (SELECT 0 AS n UNION ALL SELECT 1 AS n) k"
    " WHERE t.status = 'running' AND t.runner_id = ? AND t.started_at = ?"
    " ORDER BY t.priority DESC, t.created_at ASC, t.task_id ASC, k.n RETURNING *"
)


def claim_statements(runner_id: str, limit: int, stamp: float) -> list[Statement]:
    """Up to `limit` queued tasks, highest priority then oldest first, made the runner's (RETURNING), and
    their events (RETURNING). `stamp` must differ from every earlier claim of the runner."""
    return [
        Statement(
            "UPDATE tasks SET status = 'running', runner_id = ?, attempts = attempts + 1, progress = 0,"
            " started_at = ?, updated_at = ? WHERE status = 'queued' AND task_id IN (SELECT task_id FROM tasks"
            " WHERE status = 'queued' ORDER BY priority DESC, created_at ASC, task_id ASC LIMIT ?) RETURNING *",
            (runner_id, stamp, stamp, limit),
        ),
        Statement(_CLAIM_EVENTS, (stamp, runner_id, stamp)),
    ]


def claimed(rows: list[Row], events: list[Row]) -> list[Change]:
    rows = sorted(rows, key=lambda r: (-int(r["priority"]), float(r["created_at"]), r["task_id"]))
    grouped = by_task(events)
    return [(row, grouped.get(row["task_id"], [])) for row in rows]


def report_statements(task_id: str, runner_id: str, progress: float, notes: Sequence[Note]) -> list[Statement]:
    """Progress (a guard: the task is still this runner's) and the attempt's pending events."""
    now = time.time()
    return [
        Statement("UPDATE tasks SET progress = MAX(progress, ?), updated_at = ?"
                  " WHERE task_id = ? AND status = 'running' AND runner_id = ? RETURNING *",
                  (progress, now, task_id, runner_id), guard=True),
        events_statement([(task_id, n) for n in notes], now),
    ]


def finish_statements(task_id: str, runner_id: str, result: Result, *, attempt: int, progress: float,
                      notes: Sequence[Note]) -> list[Statement]:
    """The attempt's result (a guard: the task is still this runner's) with its pending and final events.

    `attempt` and `progress` are the task's as the runner knows them (the claim's attempts, the progress
    it stored): nobody else writes a task while it is running for its runner.
    """
    status = result.status
    now = time.time()
    usage = result.usage
    final_progress = 1.0 if status == "succeeded" else progress
    final = [*notes]
    if result.output:
        final.append(Note("task.output", status, final_progress, output_chunk=result.output))
    final.append(Note("task.log", status, final_progress, result.message or result.error or status,
                      "info" if status == "succeeded" else "error",
                      fields={"total_tokens": usage.total_tokens, "attempt": attempt}))
    final.append(Note("task.status", status, final_progress, result.error or result.message or status))
    return [
        Statement(
            "UPDATE tasks SET status = ?, output = ?, output_data = ?, error = ?,"
            " progress = CASE WHEN ? = 'succeeded' THEN 1.0 ELSE progress END,"
            " prompt_tokens = prompt_tokens + ?, completion_tokens = completion_tokens + ?,"
            " total_tokens = total_tokens + ?, finished_at = ?, updated_at = ?"
            " WHERE task_id = ? AND status = 'running' AND runner_id = ? RETURNING *",
            (status, result.output, json.dumps(result.output_data or {}, separators=(",", ":")), result.error,
             status, usage.prompt_tokens, usage.completion_tokens, usage.total_tokens, now, now, task_id,
             runner_id),
            guard=True,
        ),
        events_statement([(task_id, n) for n in final], now),
    ]


async def cancel_in(q: Transaction, row: Row, reason: str) -> Change | None:
    """Cancel a task that has not finished, inside the caller's transaction (which read `row`); None when it
    had finished."""
    if row["status"] not in CANCELLABLE:
        return None
    now = time.time()
    task_id, progress = row["task_id"], float(row["progress"])
    message = f"cancelled: {reason}" if reason else "cancelled"
    results = await q.batch([
        Statement("UPDATE tasks SET status = 'cancelled', runner_id = '', finished_at = ?, updated_at = ?"
                  " WHERE task_id = ? AND status = ? RETURNING *", (now, now, task_id, row["status"]), guard=True),
        events_statement([(task_id, Note("task.log", "cancelled", progress, message, "warning",
                                         fields={"previous_status": row["status"]})),
                          (task_id, Note("task.status", "cancelled", progress, message))], now),
    ])
    if not results[0]:
        return None
    return results[0][0], in_order(results[1])
