"""Workflows, runs, their steps and run events in the database, and their messages."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from agentmesh.v1 import task_pb2

from services.common.authctx import Actor
from services.common.protoutil import new_id, struct, timestamp
from services.common.storage import Row, Transaction
from services.task.dag import Step, steps_from_json, steps_json
from services.task.model import FINAL, usage_message

WORKFLOW_COLUMNS = {
    "name": "name", "description": "description", "enabled": "enabled", "owner_id": "owner_id",
    "created_at": "created_at", "updated_at": "updated_at",
}
ADMIN_WORKFLOW_COLUMNS = {**WORKFLOW_COLUMNS, "tenant_id": "tenant_id"}
RUN_COLUMNS = {
    "status": "status", "owner_id": "owner_id", "error": "error", "created_at": "created_at",
    "started_at": "started_at", "finished_at": "finished_at", "updated_at": "updated_at",
}
# A run with its token usage (the sum over its step tasks) and its latest event id.
RUN_SELECT = (
    "SELECT r.*,"
    " (SELECT COALESCE(SUM(t.prompt_tokens), 0) FROM tasks t WHERE t.workflow_run_id = r.run_id) AS prompt_tokens,"
    " (SELECT COALESCE(SUM(t.completion_tokens), 0) FROM tasks t WHERE t.workflow_run_id = r.run_id)"
    " AS completion_tokens,"
    " (SELECT COALESCE(SUM(t.total_tokens), 0) FROM tasks t WHERE t.workflow_run_id = r.run_id) AS total_tokens,"
    " (SELECT MAX(e.event_id) FROM run_events e WHERE e.run_id = r.run_id) AS last_event_id"
    " FROM workflow_runs r"
)
STEP_SELECT = (
    "SELECT s.*, t.status AS task_status, t.output AS task_output, t.error AS task_error,"
    " t.started_at AS task_started_at, t.finished_at AS task_finished_at"
    " FROM run_steps s LEFT JOIN tasks t ON t.task_id = s.task_id"
)
RUN_FINAL_TYPES = {"succeeded": "workflow.run.completed", "failed": "workflow.run.failed",
                   "cancelled": "workflow.run.cancelled"}


# ---------------------------------------------------------------------------
# Workflows


async def insert_workflow(q: Transaction, *, tenant_id: str, owner_id: str, name: str, description: str,
                          steps: Sequence[Step], input_schema: str, enabled: bool) -> Row:
    now = time.time()
    workflow_id = new_id("wf")
    await q.execute(
        "INSERT INTO workflows (workflow_id, tenant_id, owner_id, name, description, steps, input_schema, enabled,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (workflow_id, tenant_id, owner_id, name, description, steps_json(steps), input_schema, int(enabled),
         now, now),
    )
    await _index_agents(q, workflow_id, steps)
    row = await workflow_row(q, workflow_id)
    assert row is not None
    return row


async def _index_agents(q: Transaction, workflow_id: str, steps: Sequence[Step]) -> None:
    await q.execute("DELETE FROM workflow_agents WHERE workflow_id = ?", (workflow_id,))
    for agent_id in sorted({s.agent_id for s in steps}):
        await q.execute("INSERT INTO workflow_agents (workflow_id, agent_id) VALUES (?, ?)", (workflow_id, agent_id))


async def workflow_row(q: Transaction, workflow_id: str, tenant_id: str | None = None) -> Row | None:
    """A workflow that is not deleted; of the given tenant when one is given."""
    if tenant_id is None:
        return await q.fetch_one("SELECT * FROM workflows WHERE workflow_id = ? AND deleted_at IS NULL",
                                 (workflow_id,))
    return await q.fetch_one("SELECT * FROM workflows WHERE workflow_id = ? AND tenant_id = ? AND deleted_at IS NULL",
                             (workflow_id, tenant_id))


async def update_workflow(q: Transaction, workflow_id: str, changes: dict[str, Any]) -> None:
    """Apply changes (column -> stored value); a new steps list re-indexes the workflow's agents."""
    if not changes:
        return
    columns = ", ".join(f"{name} = ?" for name in changes)
    await q.execute(f"UPDATE workflows SET {columns}, updated_at = ? WHERE workflow_id = ?",
                    (*changes.values(), time.time(), workflow_id))
    if "steps" in changes:
        await _index_agents(q, workflow_id, steps_from_json(changes["steps"]))


def workflow_message(row: Row) -> task_pb2.Workflow:
    return task_pb2.Workflow(
        workflow_id=row["workflow_id"],
        tenant_id=row["tenant_id"],
        owner_id=row["owner_id"],
        name=row["name"],
        description=row["description"],
        steps=[s.message() for s in steps_from_json(row["steps"])],
        input_schema=struct(row["input_schema"]),
        enabled=bool(row["enabled"]),
        created_at=timestamp(row["created_at"]),
        updated_at=timestamp(row["updated_at"]),
    )


# ---------------------------------------------------------------------------
# Runs


async def insert_run(q: Transaction, workflow: Row, actor: Actor, input_data: dict[str, Any],
                     async_execution: bool) -> Row:
    """A pending run with a pending entry per step; the steps are copied, so later edits do not reach it."""
    now = time.time()
    run_id = new_id("run")
    steps = steps_from_json(workflow["steps"])
    await q.execute(
        "INSERT INTO workflow_runs (run_id, workflow_id, tenant_id, owner_id, status, input_data, async_execution,"
        " steps, actor, created_at, updated_at) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?)",
        (run_id, workflow["workflow_id"], actor.tenant_id, actor.user_id,
         json.dumps(input_data, separators=(",", ":")), int(async_execution), steps_json(steps), actor.to_json(),
         now, now),
    )
    for position, step in enumerate(steps):
        await q.execute("INSERT INTO run_steps (run_id, step_id, position, status) VALUES (?, ?, ?, 'pending')",
                        (run_id, step.step_id, position))
    row = await run_row(q, run_id)
    assert row is not None
    return row


async def run_row(q: Transaction, run_id: str, tenant_id: str | None = None, workflow_id: str | None = None
                  ) -> Row | None:
    sql, params = RUN_SELECT + " WHERE r.run_id = ?", [run_id]
    if tenant_id is not None:
        sql += " AND r.tenant_id = ?"
        params.append(tenant_id)
    if workflow_id is not None:
        sql += " AND r.workflow_id = ?"
        params.append(workflow_id)
    return await q.fetch_one(sql, params)


async def step_rows(q: Transaction, run_id: str) -> list[Row]:
    return await q.fetch_all(STEP_SELECT + " WHERE s.run_id = ? ORDER BY s.position", (run_id,))


async def add_run_event(q: Transaction, run: Row, kind: str, status: str, *, step_id: str = "", message: str = "",
                        progress: float = 0.0) -> Row:
    row = await q.fetch_one(
        "INSERT INTO run_events (run_id, workflow_id, type, status, step_id, message, progress, time)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
        (run["run_id"], run["workflow_id"], kind, status, step_id, message, progress, time.time()),
    )
    assert row is not None
    return row


def step_message(row: Row) -> task_pb2.StepRun:
    return task_pb2.StepRun(
        step_id=row["step_id"],
        status=row["status"],
        task_id=row["task_id"],
        output=row["output"],
        error=row["error"],
        started_at=timestamp(row.get("task_started_at") or row["started_at"]),
        finished_at=timestamp(row["finished_at"] or row.get("task_finished_at")),
    )


def run_message(run: Row, steps: Sequence[Row]) -> task_pb2.WorkflowRun:
    return task_pb2.WorkflowRun(
        run_id=run["run_id"],
        workflow_id=run["workflow_id"],
        tenant_id=run["tenant_id"],
        owner_id=run["owner_id"],
        status=run["status"],
        input_data=struct(run["input_data"]),
        output=struct(run["output"]),
        steps=[step_message(s) for s in steps],
        usage=usage_message(run),
        error=run["error"],
        async_execution=bool(run["async_execution"]),
        created_at=timestamp(run["created_at"]),
        started_at=timestamp(run["started_at"]),
        finished_at=timestamp(run["finished_at"]),
    )


def run_event_message(row: Row, *, step: Row | None = None, run: task_pb2.WorkflowRun | None = None
                      ) -> task_pb2.WorkflowRunEvent:
    event = task_pb2.WorkflowRunEvent(
        event_id=str(row["event_id"]),
        type=row["type"],
        workflow_id=row["workflow_id"],
        run_id=row["run_id"],
        status=row["status"],
        message=row["message"],
        progress=float(row["progress"]),
        time=timestamp(row["time"]),
    )
    if step is not None:
        event.step.CopyFrom(step_message(step))
    if run is not None:
        event.run.CopyFrom(run)
    return event


def is_final_run_event(row: Row) -> bool:
    return bool(row["type"] in RUN_FINAL_TYPES.values() and row["status"] in FINAL)
