"""WorkflowEngine: moves runs forward, one transaction at a time, from what the database says.

`advance(run_id)` is the whole engine and is idempotent: it settles the steps
whose task has finished, skips the steps a failed (or cancelled, or skipped)
dependency can no longer feed, queues a task for every step whose dependencies
all succeeded (its prompt rendered from the run's input and earlier outputs),
and finishes the run once every step has. It runs when a run starts, when a
step's task reaches a final state, and at start-up for every open run, so a
crash between a task finishing and its run moving on loses nothing. Each step
is a task row, as durable as any other.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from services.common.authctx import Actor
from services.common.storage import Database, Row, Transaction
from services.task.changes import Change, NewTask, cancel_in, insert_task
from services.task.dag import Step, render, sinks, steps_from_json
from services.task.model import FINAL
from services.task.notices import Notices
from services.task.runner import TaskRunner
from services.task.runs import RUN_FINAL_TYPES, add_run_event, insert_run, run_row, step_rows
from services.task.store import shielded

log = logging.getLogger("agentmesh.task.workflows")

Result = tuple[Row | None, list[Row], list[Change], list[Change]]  # run, run events, tasks created, tasks cancelled


class WorkflowEngine:
    def __init__(self, db: Database, runner: TaskRunner, notices: Notices) -> None:
        self.db = db
        self.runner = runner
        self.notices = notices
        self._background: set[asyncio.Task[None]] = set()
        runner.final_hooks.append(self._on_task_final)

    async def start(self) -> None:
        """Reconcile every run a stop or a crash left open."""
        for row in await self.db.fetch_all("SELECT run_id FROM workflow_runs WHERE status IN ('pending', 'running')"):
            await self.advance(row["run_id"])

    async def stop(self) -> None:
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    @shielded
    async def execute(self, workflow: Row, actor: Actor, input_data: dict[str, Any], async_execution: bool) -> Row:
        """A pending run, committed; it starts moving in the background."""
        async with self.db.transaction() as tx:
            run = await insert_run(tx, workflow, actor, input_data, async_execution)
            event = await add_run_event(tx, run, "workflow.run.created", "pending", message="run created")
        self.notices.run_changed(run, [event])
        log.info("workflow run created", extra={"run": run["run_id"], "workflow": workflow["workflow_id"],
                                                 "by": actor.user_id})
        task = asyncio.create_task(self.advance(run["run_id"]), name=f"run-{run['run_id']}")
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return run

    async def _on_task_final(self, task: Row) -> None:
        if task["workflow_run_id"]:
            await self.advance(task["workflow_run_id"])

    @shielded
    async def advance(self, run_id: str) -> None:
        async with self.db.transaction() as tx:
            result = await self._advance(tx, run_id)
        self._announce(result)

    @shielded
    async def cancel(self, run_id: str, reason: str) -> None:
        """Cancel a run that has not finished: its pending steps, and the tasks of its running ones."""
        async with self.db.transaction() as tx:
            result = await self._cancel(tx, run_id, reason)
        self._announce(result)
        for task, _ in result[3]:
            self.runner.interrupt(task["task_id"])

    def _announce(self, result: Result) -> None:
        run, events, created, cancelled = result
        for task, task_events in created:
            self.notices.task_created(task, task_events)
        for task, task_events in cancelled:
            self.notices.task_changed(task, task_events)
        if run is not None and events:
            self.notices.run_changed(run, events)
        if created:
            self.runner.wake()

    async def _advance(self, tx: Transaction, run_id: str) -> Result:
        run = await run_row(tx, run_id)
        if run is None or run["status"] in FINAL:
            return run, [], [], []
        definitions = {s.step_id: s for s in steps_from_json(run["steps"])}
        steps = {s["step_id"]: s for s in await step_rows(tx, run_id)}
        events: list[Row] = []
        created: list[Change] = []
        now = time.time()
        total = max(len(steps), 1)

        def progress() -> float:
            return sum(1 for s in steps.values() if s["status"] in (*FINAL, "skipped")) / total

        if run["status"] == "pending":
            await tx.execute("UPDATE workflow_runs SET status = 'running', started_at = ?, updated_at = ?"
                             " WHERE run_id = ?", (now, now, run_id))
            run = {**run, "status": "running", "started_at": now}
            events.append(await add_run_event(tx, run, "workflow.run.started", "running", message="run started"))

        for step in steps.values():
            if step["status"] == "running" and step["task_status"] in FINAL:
                status = step["task_status"]
                step.update(status=status, output=step["task_output"] if status == "succeeded" else "",
                            error=step["task_error"] or ("" if status == "succeeded" else status),
                            finished_at=step["task_finished_at"] or now)
                await self._save_step(tx, run_id, step)
                kind = "workflow.step.completed" if status == "succeeded" else "workflow.step.failed"
                events.append(await add_run_event(tx, run, kind, "running", step_id=step["step_id"],
                                                  message=step["error"] or "succeeded", progress=progress()))

        moved = True
        while moved:
            moved = False
            for step_id, definition in definitions.items():
                step = steps[step_id]
                if step["status"] != "pending":
                    continue
                upstream = [steps[d] for d in definition.depends_on]
                blocked = [d for d in upstream if d["status"] in ("failed", "cancelled", "skipped")]
                if blocked:
                    step.update(status="skipped", error=f"step {blocked[0]['step_id']} {blocked[0]['status']}",
                                finished_at=now)
                    await self._save_step(tx, run_id, step)
                    events.append(await add_run_event(tx, run, "workflow.step.skipped", "running", step_id=step_id,
                                                      message=step["error"], progress=progress()))
                    moved = True
                elif all(d["status"] == "succeeded" for d in upstream):
                    change = await self._queue_step(tx, run, definition, steps)
                    created.append(change)
                    step.update(status="running", task_id=change[0]["task_id"], started_at=now)
                    await self._save_step(tx, run_id, step)
                    events.append(await add_run_event(tx, run, "workflow.step.started", "running", step_id=step_id,
                                                      message=f"task {change[0]['task_id']} queued",
                                                      progress=progress()))

        if all(s["status"] in (*FINAL, "skipped") for s in steps.values()):
            run, event = await self._finish(tx, run, list(definitions.values()), steps)
            events.append(event)
        return run, events, created, []

    async def _queue_step(self, tx: Transaction, run: Row, definition: Step, steps: dict[str, Row]) -> Change:
        outputs = {step_id: s["output"] for step_id, s in steps.items() if s["status"] == "succeeded"}
        actor = Actor.from_json(run["actor"])
        return await insert_task(tx, NewTask(
            tenant_id=run["tenant_id"], owner_id=run["owner_id"], actor=actor, agent_id=definition.agent_id,
            input=render(definition, json.loads(run["input_data"]), outputs),
            workflow_run_id=run["run_id"], step_id=definition.step_id,
        ))

    @staticmethod
    async def _save_step(tx: Transaction, run_id: str, step: Row) -> None:
        await tx.execute(
            "UPDATE run_steps SET status = ?, task_id = ?, output = ?, error = ?, started_at = ?, finished_at = ?"
            " WHERE run_id = ? AND step_id = ?",
            (step["status"], step["task_id"], step["output"], step["error"], step["started_at"], step["finished_at"],
             run_id, step["step_id"]),
        )

    async def _finish(self, tx: Transaction, run: Row, definitions: list[Step], steps: dict[str, Row]
                      ) -> tuple[Row, Row]:
        statuses = [s["status"] for s in steps.values()]
        if "failed" in statuses:
            status = "failed"
        elif "cancelled" in statuses:
            status = "cancelled"
        elif "skipped" in statuses:
            status = "failed"
        else:
            status = "succeeded"
        trouble = next((s for s in steps.values() if s["status"] in ("failed", "cancelled")), None)
        error = f"step {trouble['step_id']} {trouble['status']}: {trouble['error']}" if trouble else ""
        output = {step_id: steps[step_id]["output"] for step_id in sinks(definitions)
                  if steps[step_id]["status"] == "succeeded"}
        now = time.time()
        await tx.execute(
            "UPDATE workflow_runs SET status = ?, output = ?, error = ?, finished_at = ?, updated_at = ?"
            " WHERE run_id = ?", (status, json.dumps(output, separators=(",", ":")), error, now, now, run["run_id"]),
        )
        finished = await run_row(tx, run["run_id"])
        assert finished is not None
        event = await add_run_event(tx, finished, RUN_FINAL_TYPES[status], status, message=error or status,
                                    progress=1.0)
        log.info("workflow run %s", status, extra={"run": run["run_id"], "workflow": run["workflow_id"]})
        return finished, event

    async def _cancel(self, tx: Transaction, run_id: str, reason: str) -> Result:
        run = await run_row(tx, run_id)
        if run is None or run["status"] in FINAL:
            return run, [], [], []
        now = time.time()
        cancelled: list[Change] = []
        events: list[Row] = []
        for step in await step_rows(tx, run_id):
            if step["status"] not in ("pending", "running"):
                continue
            if step["task_id"]:
                task = await tx.fetch_one("SELECT * FROM tasks WHERE task_id = ?", (step["task_id"],))
                change = await cancel_in(tx, task, reason) if task is not None else None
                if change is not None:
                    cancelled.append(change)
            await tx.execute("UPDATE run_steps SET status = 'cancelled', error = ?, finished_at = ?"
                             " WHERE run_id = ? AND step_id = ?", (reason, now, run_id, step["step_id"]))
            events.append(await add_run_event(tx, run, "workflow.step.failed", "cancelled", step_id=step["step_id"],
                                              message=f"cancelled: {reason}"))
        await tx.execute("UPDATE workflow_runs SET status = 'cancelled', error = ?, finished_at = ?, updated_at = ?"
                         " WHERE run_id = ?", (f"cancelled: {reason}", now, now, run_id))
        finished = await run_row(tx, run_id)
        assert finished is not None
        events.append(await add_run_event(tx, finished, "workflow.run.cancelled", "cancelled",
                                          message=f"cancelled: {reason}", progress=1.0))
        return finished, events, [], cancelled
