"""Executions: a bounded pool that runs an instance on one input through the speech unit's model.

An execution is a row, stored (queued) before ExecuteInstance answers; a pool
of `workers` runs queued executions oldest first. Running means: the system
prompt of the instance's copy with its {{placeholders}} filled (the config's
default variables, then the execution's), the effective config's settings
overlaid with the execution's parameters, one LlmService.Generate call for the
instance's owner (services.common.llm) within the execution's time limit
(config `timeout_seconds`, else the platform's LLM timeout). Each step writes
its state, an instance event and a log line in one transaction; states only
move forward through conditional updates, so a stop that won the race is
never overwritten by a late answer.

A stop cancels the model call at once. At start, executions a crash left
running are queued again once and failed after that ("interrupted by a
restart"); at a clean stop, the executor's running executions go back to the
queue without counting the interrupted attempt. Queued ones simply run.

Replicas: several processes of the unit may share the database. Each executor
holds a lease (services.common.leases) and claims under its id, so "left
running by a crash" means held by an executor whose lease lapsed: one that
starts leaves its peers' executions alone, and a crashed replica's are taken
over by a live one at its next renewal. While peers are about, each renewal
also runs what they queued or gave back, and cancels the workers whose
execution was stopped, deleted or taken over through another replica, so a
stop reaches the worker within a renewal interval wherever it was recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

import grpc

from services.common.authctx import Actor
from services.common.events.publisher import Publisher
from services.common.feeds import Feeds
from services.common.leases import ORPHANED, Lease, LeasedRunner
from services.common.llm import ModelClient, ModelRequest, RemoteCallError
from services.common.storage import Database, Row
from services.persona import model
from services.persona.store import Journal

log = logging.getLogger("agentmesh.persona")

MAX_ATTEMPTS = 2

class Executor(LeasedRunner):
    def __init__(self, db: Database, feeds: Feeds, events: Publisher, llm: ModelClient, lease: Lease, *,
                 workers: int, default_timeout: float) -> None:
        super().__init__(db, lease, table="executions", key="execution_id", noun="persona-execution")
        self.feeds = feeds
        self.events = events
        self.llm = llm
        self.default_timeout = default_timeout
        self._slots = asyncio.Semaphore(workers)

    def journal(self) -> Journal:
        return Journal(self.feeds, self.events)

    # -- lifecycle ---------------------------------------------------------

    async def _take_over(self) -> int:
        """Queue again (or fail) the executions of executors whose lease lapsed; how many there were."""
        orphans = await self.db.fetch_all(f"SELECT execution_id, runner_id FROM executions WHERE {ORPHANED}",
                                          (self.lease.live_since(),))
        taken = 0
        for orphan in orphans:
            journal = self.journal()
            async with self.db.transaction() as tx:
                # as it was found: another replica may have taken it over meanwhile
                execution = await tx.fetch_one("SELECT * FROM executions WHERE execution_id = ? AND status = 'running'"
                                               " AND runner_id = ?", (orphan["execution_id"], orphan["runner_id"]))
                if execution is None:
                    continue
                instance = await tx.fetch_one("SELECT * FROM instances WHERE instance_id = ?",
                                              (execution["instance_id"],))
                if instance is None:
                    continue
                if execution["attempts"] < MAX_ATTEMPTS:
                    await tx.execute("UPDATE executions SET status = 'queued', progress = 0, runner_id = ''"
                                     " WHERE execution_id = ?", (execution["execution_id"],))
                    await journal.log(tx, instance["instance_id"], "warning", "interrupted by a restart; queued again",
                                      execution["execution_id"], attempt=execution["attempts"])
                else:
                    await self._finish(tx, journal, instance, execution, "failed",
                                       error="interrupted by a restart")
            journal.announce()
            taken += 1
        return taken

    async def stop(self, execution_id: str) -> None:
        """Cancel the execution's worker, if it runs here, and wait for it to let go (one already writing its
        final state is let finish: the stop recorded before has made that write a no-op, or came too late)."""
        worker = self._running.get(execution_id)
        if worker is not None and worker.task is not asyncio.current_task():
            if not worker.finishing:
                worker.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker.task

    async def close(self) -> None:
        """A clean stop: this executor's running executions go back to the queue, their attempt not counted
        (the lease is released after this)."""
        await self._cancel_workers()
        await self.db.execute(
            "UPDATE executions SET status = 'queued', progress = 0, attempts = MAX(attempts - 1, 0), runner_id = ''"
            " WHERE status = 'running' AND runner_id = ?", (self.lease.runner_id,))

    # -- one execution -----------------------------------------------------

    async def _work(self, execution_id: str) -> None:
        async with self._slots:
            claimed = await self._claim(execution_id)
            if claimed is None:
                return
            self._running[execution_id].claimed = True
            instance, execution = claimed
            try:
                await self._run(instance, execution)
            except asyncio.CancelledError:
                raise  # a stop, a shutdown or a takeover: whoever cancelled records the state
            except Exception:
                log.exception("persona execution failed unexpectedly", extra={"execution_id": execution_id})
                await self._conclude(execution_id, "failed", error="the execution failed unexpectedly")

    async def _claim(self, execution_id: str) -> tuple[Row, Row] | None:
        journal = self.journal()
        async with self.db.transaction() as tx:
            execution = await tx.fetch_one("SELECT * FROM executions WHERE execution_id = ?", (execution_id,))
            if execution is None or execution["status"] != "queued":
                return None
            instance = await tx.fetch_one("SELECT * FROM instances WHERE instance_id = ?", (execution["instance_id"],))
            assert instance is not None  # executions go with their instance
            now = time.time()
            execution = {**execution, "status": "running", "progress": 10, "started_at": now,
                         "attempts": execution["attempts"] + 1, "runner_id": self.lease.runner_id}
            if not await tx.execute("UPDATE executions SET status = 'running', progress = 10, started_at = ?,"
                                    " attempts = ?, runner_id = ? WHERE execution_id = ? AND status = 'queued'",
                                    (now, execution["attempts"], self.lease.runner_id, execution_id)):
                return None
            await journal.event(tx, instance, "execution.started", execution_id, status="running",
                                 attempt=execution["attempts"])
            await journal.log(tx, instance["instance_id"], "info", "execution started", execution_id,
                              attempt=execution["attempts"])
        journal.announce()
        return instance, execution

    async def _run(self, instance: Row, execution: Row) -> None:
        base = json.loads(instance["base"])
        config = model.merged(model.effective_config(instance), json.loads(execution["parameters"]))
        variables = {**(config.get("variables") or {}), **json.loads(execution["variables"])}
        temperature = config.get("temperature")
        request = ModelRequest(
            prompt=execution["input"],
            system=model.render(base["system_prompt"], variables),
            provider=base["provider"],
            model=base["model"],
            temperature=float(temperature) if temperature is not None else None,
            max_tokens=int(config.get("max_tokens") or 0),
            parameters=model.provider_parameters(config),
            labels=(("subject_id", execution["execution_id"]),),
        )
        time_limit = float(config.get("timeout_seconds") or self.default_timeout)
        await self._progress(instance, execution, 25, "calling the model", provider=request.provider or "default",
                             model=request.model or "default")
        try:
            generation = await self.llm.generate(Actor.from_json(execution["actor"]), request, time_limit=time_limit)
        except RemoteCallError as exc:
            error = "timeout" if exc.code == grpc.StatusCode.DEADLINE_EXCEEDED else str(exc)
            await self._conclude(execution["execution_id"], "failed", error=error)
            return
        await self._conclude(execution["execution_id"], "completed", output=generation.text,
                             prompt_tokens=generation.usage.prompt_tokens,
                             completion_tokens=generation.usage.completion_tokens,
                             total_tokens=generation.usage.total_tokens,
                             provider=generation.provider, model=generation.model)

    async def _progress(self, instance: Row, execution: Row, progress: int, message: str, **fields: Any) -> None:
        journal = self.journal()
        async with self.db.transaction() as tx:
            if not await tx.execute("UPDATE executions SET progress = ? WHERE execution_id = ? AND status = 'running'"
                                    " AND runner_id = ?", (progress, execution["execution_id"], self.lease.runner_id)):
                return
            await journal.event(tx, instance, "execution.progress", execution["execution_id"], progress=progress,
                                message=message)
            await journal.log(tx, instance["instance_id"], "info", message, execution["execution_id"], **fields)
        journal.announce()

    async def _conclude(self, execution_id: str, status: str, **values: Any) -> None:
        """A worker's own final write: no longer cancelled from here on, and none when the execution is no
        longer running under this executor's lease (stopped, or taken over by another replica)."""
        worker = self._running.get(execution_id)
        if worker is not None:
            worker.finishing = True
        await self._settle(execution_id, status, self.lease.runner_id, **values)

    async def _settle(self, execution_id: str, status: str, runner_id: str = "", **values: Any) -> Row | None:
        """Move a running or queued execution (one running for `runner_id`, if given) to a final status;
        None when it was final already."""
        journal = self.journal()
        async with self.db.transaction() as tx:
            execution = await tx.fetch_one("SELECT * FROM executions WHERE execution_id = ?", (execution_id,))
            if execution is None or execution["status"] not in model.OPEN_EXECUTION:
                return None
            if runner_id and (execution["status"] != "running" or execution["runner_id"] != runner_id):
                return None
            instance = await tx.fetch_one("SELECT * FROM instances WHERE instance_id = ?", (execution["instance_id"],))
            assert instance is not None
            instance = await self._finish(tx, journal, instance, execution, status, **values)
        journal.announce()
        return instance

    async def settle_for_stop(self, execution_id: str, reason: str) -> None:
        """Record a stop (before the worker is cancelled, so that a late answer cannot win)."""
        await self._settle(execution_id, "stopped", error=reason)

    @staticmethod
    async def _finish(tx: Any, journal: Journal, instance: Row, execution: Row, status: str,
                      **values: Any) -> Row:
        now = time.time()
        columns = {"status": status, "finished_at": now, **values}
        if status == "completed":
            columns["progress"] = 100
        await tx.execute(f"UPDATE executions SET {', '.join(f'{k} = ?' for k in columns)} WHERE execution_id = ?",
                         [*columns.values(), execution["execution_id"]])
        execution_id = execution["execution_id"]
        error = values.get("error", "")
        kind = {"completed": "execution.completed", "failed": "execution.failed",
                "stopped": "execution.stopped"}[status]
        summary: dict[str, Any] = {"status": status}
        if status == "completed":
            summary.update(output=values.get("output", ""), total_tokens=values.get("total_tokens", 0),
                           prompt_tokens=values.get("prompt_tokens", 0),
                           completion_tokens=values.get("completion_tokens", 0))
        elif error:
            summary["error"] = error
        if execution["started_at"]:
            summary["duration_ms"] = round((now - execution["started_at"]) * 1000, 3)
        await journal.event(tx, instance, kind, execution_id, **summary)
        level = {"completed": "info", "failed": "error", "stopped": "warning"}[status]
        message = {"completed": "execution completed", "failed": f"execution failed: {error}",
                   "stopped": f"execution stopped: {error}" if error else "execution stopped"}[status]
        fields = {"total_tokens": values.get("total_tokens", 0)} if status == "completed" else {}
        await journal.log(tx, instance["instance_id"], level, message, execution_id, **fields)
        if instance["current_execution_id"] != execution_id:
            return instance
        new_status = {"completed": "idle", "failed": "failed", "stopped": "stopped"}[status]
        reason = {"completed": "Execution completed successfully", "failed": f"Execution failed: {error}",
                  "stopped": error or "Stopped"}[status]
        await journal.status(tx, instance, new_status, reason, execution_id)
        await tx.execute("UPDATE instances SET status = ?, current_execution_id = '', updated_at = ?"
                         " WHERE instance_id = ?", (new_status, now, instance["instance_id"]))
        return {**instance, "status": new_status, "current_execution_id": "", "updated_at": now}
