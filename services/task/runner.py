"""TaskRunner: a bounded pool that works queued tasks, highest priority then oldest first.

Tasks are claimed (a conditional UPDATE, so no task is ever worked twice at
once) while fewer than `workers` are running, in the write that needs a worker
anyway: a submission claims for the free workers in the write that queues it, a
finishing task claims the next queued one in the write that records its result
(its worker passes straight on), and a dispatcher claims the rest when it is
woken (a task queued with no worker free, one finished with nothing waiting).
Each task resolves its workers through the agent unit and calls the model
through the speech unit within its deadline (timeout_seconds, else the
platform default): past it the task fails with "timeout". A cancel cancels the
in-flight call at once.

Durability: tasks are rows. At start the runner re-queues the tasks a crash
left running, once (the attempts counter), and fails them after that with
"interrupted by a restart"; at a clean stop it gives its running tasks (and any
claimed for it meanwhile) back to the queue without counting the interrupted
attempt.

Replicas: runners of several task-unit processes may share one database. Each
holds a lease (services.common.leases) and claims under its id, so "left
running by a crash" means held by a runner whose lease lapsed: a replica that
starts leaves its peers' tasks alone, and a crashed replica's tasks are taken
over by a live one at its next renewal. While peers are about, each renewal
also drops the tasks another replica cancelled (or took over) and claims what
they queued, so a cancel reaches the worker within a renewal interval wherever
it was recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from services.common.authctx import Actor
from services.common.leases import Lease
from services.common.llm import ModelClient, RemoteCallError
from services.task.changes import Change, NewTask, Note, Result
from services.task.execution import RETRY_DELAYS, Execution, ExecutionError, Job, Outcome, Report
from services.task.notices import Notices
from services.task.store import TaskStore
from services.task.workers import WorkerDirectory, Workers

log = logging.getLogger("agentmesh.task.runner")

Row = dict[str, Any]
FinalHook = Callable[[Row], Awaitable[None]]
MAX_ATTEMPTS = 2


@dataclass(slots=True)
class _Work:
    task: asyncio.Task[None]
    reason: str = ""  # why it was cancelled: "cancel" (a client) or "shutdown"
    finishing: bool = False  # its result is being written: it is not interrupted any more


def task_prompt(row: Row) -> str:
    """The prompt: the task's input, with its structured input alongside when there is any."""
    data = json.loads(row["input_data"] or "{}")
    text: str = row["input"]
    if not data:
        return text
    if not text:
        prompt = data.get("prompt")
        if isinstance(prompt, str) and prompt and len(data) == 1:
            return prompt
        return json.dumps(data, ensure_ascii=False, sort_keys=True)
    return f"{text}\n\nInput data (JSON): {json.dumps(data, ensure_ascii=False, sort_keys=True)}"


class TaskRunner:
    def __init__(self, store: TaskStore, directory: WorkerDirectory, model: ModelClient, notices: Notices,
                 lease: Lease, *, workers: int, default_timeout: float, max_attempts: int = MAX_ATTEMPTS) -> None:
        self.store = store
        self.directory = directory
        self.model = model
        self.notices = notices
        self.workers = workers
        self.default_timeout = default_timeout
        self.max_attempts = max_attempts
        self.lease = lease
        self.runner_id = lease.runner_id
        # Called once a task has reached a final state (a workflow advances its run).
        self.final_hooks: list[FinalHook] = []
        self._running: dict[str, _Work] = {}
        self._reserved = 0  # workers promised to claims in flight
        # Whether the queue may hold tasks: `_queued` grows whenever one may have been queued, `_drained` is the
        # latest `_queued` a claim started at and found the queue emptied by; a claim only runs when it may find
        # something (what peers queue wakes it at each lease renewal).
        self._queued = 1
        self._drained = 0
        self._wake = asyncio.Event()
        self._accepting = False
        self._dispatcher: asyncio.Task[None] | None = None
        self._had_peers = False  # peers were about at the last renewal

    async def start(self) -> None:
        """Take the lease, recover what a crashed runner left behind, then work the queue."""
        await self.lease.acquire()
        await self._take_over()
        self.lease.on_renew.append(self._on_renew)
        self.lease.keep()
        self._accepting = True
        self._dispatcher = asyncio.create_task(self._dispatch(), name="task-dispatcher")

    async def _take_over(self) -> None:
        """Queue again (or fail) the tasks of runners whose lease lapsed."""
        for row, events in await self.store.recover(self.max_attempts, self.lease.live_since()):
            self.notices.task_changed(row, events)
            log.warning("task %s interrupted by a restart: %s", row["task_id"], row["status"],
                        extra={"task": row["task_id"], "status": row["status"], "attempts": row["attempts"]})
            if row["status"] == "failed":
                await self._after_final(row)
        self.wake()

    async def _on_renew(self) -> None:
        """After a lease renewal: take over a crashed runner's tasks; with peers about, let go of the tasks
        that are no longer this runner's and look for what the peers queued."""
        if not self._accepting:
            return
        if await self.lease.any_orphaned("tasks"):
            await self._take_over()
        had_peers, self._had_peers = self._had_peers, self.lease.peers > 0
        if self.lease.peers:
            working = [task_id for task_id, work in self._running.items() if not work.finishing]
            held = await self.lease.held("tasks", "task_id", working)
            for task_id in (task_id for task_id in working if task_id not in held):
                log.info("task %s: cancelled or taken over elsewhere; its call is dropped", task_id,
                         extra={"task": task_id})
                self.interrupt(task_id)
        if self.lease.peers or had_peers:  # what peers queued, or gave back as the last one stopped
            self.wake()

    def stop_claiming(self) -> None:
        """Drain: tasks already running go on; no new one starts."""
        self._accepting = False
        self._wake.set()

    async def stop(self) -> None:
        """Stop: cancel what still runs and put it back in the queue for the next start."""
        self.stop_claiming()
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatcher
        works = list(self._running.values())
        for work in works:
            work.reason = "shutdown"
            work.task.cancel()
        await asyncio.gather(*(w.task for w in works), return_exceptions=True)
        # What it worked, and what a claim in flight took for it meanwhile (it does not start any more).
        for row, events in await self.store.release(self.runner_id):
            self.notices.task_changed(row, events)
            log.info("task %s queued again at shutdown", row["task_id"], extra={"task": row["task_id"]})
        await self.lease.release()
        # Writes still under way (shielded from their callers' cancellation) finish before the database closes:
        # the database serves statements in the order they came.
        await self.store.db.fetch_one("SELECT 1 AS done")

    def wake(self) -> None:
        """Something may have been queued (a workflow's step, a restart's leftovers): claim it when workers
        are free."""
        self._queued += 1
        self._wake.set()

    def _may_claim(self) -> bool:
        return self._accepting and self._queued > self._drained

    def _claimed(self, since: int, limit: int, claimed: list[Change]) -> None:
        """Note what a claim that started when `_queued` was `since` found, then work it."""
        if len(claimed) < limit:
            self._drained = max(self._drained, since)
        self._start(claimed)

    async def submit(self, new: NewTask) -> tuple[Row, bool]:
        """Queue a task (committed before this returns); an idempotency key already used returns that task.

        While workers are free the same write claims for them, so a task starts without a second write.
        A caller that goes away meanwhile does not stop this: the task is announced and worked anyway.
        """
        return await asyncio.shield(self._submit(new))

    async def _submit(self, new: NewTask) -> tuple[Row, bool]:
        # A keyed create claims nothing (it first looks the key up in its own transaction): asking it to would
        # read its empty claim as "nothing is queued" and leave the new task to wait for the next wake.
        claim, since = (0 if new.idempotency_key else self._free()), self._queued
        self._reserved += claim
        try:
            (row, events), created, claimed = await self.store.create(new, runner_id=self.runner_id, claim=claim)
        finally:
            self._reserved -= claim
        if created:
            self.notices.task_created(row, events)
        self._claimed(since, claim, claimed)
        if created and row["task_id"] not in self._running:
            self.wake()
        return row, created

    def _free(self) -> int:
        """Workers neither busy nor promised to a claim in flight."""
        return max(self.workers - len(self._running) - self._reserved, 0) if self._accepting else 0

    async def cancel(self, tenant_id: str, task_id: str, reason: str) -> Row | None:
        """Cancel a task of the tenant: recorded first, then its in-flight call is cancelled."""
        result = await self.store.cancel(tenant_id, task_id, reason)
        if result is None:
            return None
        row, events = result
        if events:
            self.notices.task_changed(row, events)
            self.interrupt(task_id)
            await self._after_final(row)
        return row

    def interrupt(self, task_id: str) -> None:
        """Cancel the in-flight work of a task whose cancellation is already recorded."""
        work = self._running.get(task_id)
        if work is not None:
            work.reason = "cancel"
            work.task.cancel()

    async def _dispatch(self) -> None:
        while self._accepting:
            self._wake.clear()
            since = self._queued
            free = self._free() if self._may_claim() else 0
            if free > 0:
                self._reserved += free
                try:
                    claimed = await self.store.claim(self.runner_id, free)
                except Exception:
                    log.exception("cannot claim tasks; trying again in 1 s")
                    await asyncio.sleep(1.0)
                    continue
                finally:
                    self._reserved -= free
                self._claimed(since, free, claimed)
                if len(claimed) == free:
                    continue  # there may be more waiting
            await self._wake.wait()

    def _start(self, claimed: list[Change]) -> None:
        """Work what was claimed; past stop_claiming a claim that was in flight is only announced (stop()
        gives it back)."""
        for row, events in claimed:
            self.notices.task_changed(row, events)
            if self._accepting:
                task = asyncio.create_task(self._work(row), name=f"task-{row['task_id']}")
                self._running[row["task_id"]] = _Work(task)

    async def _work(self, row: Row) -> None:
        """One attempt and its result; the finish claims the next queued task in the same write, so the
        worker passes straight on to it (its slot is never free in between)."""
        task_id = row["task_id"]
        journal = _Journal(self, task_id)
        try:
            result = await self._result(row, journal)
            claim, since = (1 if self._may_claim() else 0), self._queued
            work = self._running.get(task_id)
            if work is not None:
                work.finishing = True
            change, claimed = await self.store.finish(
                task_id, self.runner_id, result, attempt=int(row["attempts"]), progress=journal.stored,
                notes=journal.pending, claim=claim,
            )
        except asyncio.CancelledError:
            # Cancelled by a client or taken over (already recorded), or by the shutdown (stop() queues it again).
            return
        finally:
            self._running.pop(task_id, None)
            if self._may_claim():
                self._wake.set()  # a worker is free for what waits
        if change is not None:
            self.notices.task_changed(*change)
            self._claimed(since, claim, claimed)
            await self._after_final(change[0])

    async def _result(self, row: Row, journal: _Journal) -> Result:
        task_id = row["task_id"]
        try:
            outcome = await self._attempt(row, journal)
        except TimeoutError:
            timeout = row["timeout_seconds"] or self.default_timeout
            return Result("failed", error="timeout", message=f"timeout: no result within {timeout:g} s")
        except ExecutionError as exc:
            return Result("failed", error=str(exc), usage=exc.usage)
        except Exception:
            log.exception("task %s: unexpected failure in the runner", task_id, extra={"task": task_id})
            return Result("failed", error="internal error in the runner")
        return Result("succeeded", output=outcome.output, output_data=outcome.output_data, usage=outcome.usage,
                      message=f"succeeded ({', '.join(outcome.answered_by)})")

    async def _attempt(self, row: Row, journal: _Journal) -> Outcome:
        loop = asyncio.get_running_loop()
        timeout = float(row["timeout_seconds"] or self.default_timeout)
        deadline = loop.time() + timeout
        actor = Actor.from_json(row["actor"])
        async with asyncio.timeout_at(deadline):
            workers = await self._resolve(actor, row, journal.report, deadline)
            labels = (("subject_id", row["task_id"]), ("team_id", row["team_id"] or ""))
            execution = Execution(self.model, actor, journal.report, self.store.next_turn, deadline=deadline,
                                  labels=labels)
            job = Job(task_prompt(row), json.loads(row["parameters"] or "{}"))
            return await execution.run(job, workers)

    async def _resolve(self, actor: Actor, row: Row, report: Report, deadline: float) -> Workers:
        target = f"agent {row['agent_id']}" if row["agent_id"] else f"team {row['team_id']}"
        loop = asyncio.get_running_loop()
        for delay in (*RETRY_DELAYS, None):
            try:
                workers = await self.directory.resolve(actor, agent_id=row["agent_id"], team_id=row["team_id"],
                                                       time_limit=max(deadline - loop.time() + 1.0, 0.1))
            except RemoteCallError as exc:
                if not exc.transient or delay is None:
                    raise ExecutionError(f"cannot run {target}: {exc}") from exc
                await report(None, "warning", f"cannot reach the agent unit ({exc}); trying again in {delay:.1f} s",
                             {"code": exc.code.name})
                await asyncio.sleep(delay)
                continue
            detail = f"strategy {workers.strategy or 'sequential'}, {len(workers.agents)} members" \
                if workers.team_id else "1 agent"
            await report(None, "info", f"resolved {target}: {detail}",
                         {"agents": [w.agent_id for w in workers.agents]})
            return workers
        raise AssertionError("unreachable")  # pragma: no cover

    async def _after_final(self, row: Row) -> None:
        for hook in self.final_hooks:
            try:
                await hook(row)
            except Exception:
                log.exception("after task %s finished", row["task_id"], extra={"task": row["task_id"]})


class _Journal:
    """An attempt's progress and log lines.

    A step of progress short of the end is written at once, with the lines that
    waited for it; everything else waits for the next such write or for the
    result, which saves the database a transaction per line.
    """

    def __init__(self, runner: TaskRunner, task_id: str) -> None:
        self.runner = runner
        self.task_id = task_id
        self.progress = 0.0
        self.stored = 0.0  # the progress the task's row holds
        self.pending: list[Note] = []

    async def report(self, progress: float | None, level: str, message: str, fields: dict[str, Any]) -> None:
        moved = progress is not None and progress > self.progress
        if progress is not None and moved:
            self.progress = progress
            self.pending.append(Note("task.progress", "running", progress, message))
        self.pending.append(Note("task.log", "running", self.progress, message, level, fields=fields))
        if moved and self.progress < 1.0:
            notes, self.pending = self.pending, []
            change = await self.runner.store.report(self.task_id, self.runner.runner_id, self.progress, notes)
            if change is not None:
                self.stored = float(change[0]["progress"])
                self.runner.notices.task_changed(*change)
