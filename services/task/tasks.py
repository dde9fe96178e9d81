"""TaskService: submit, list, get, cancel, retry, logs and the progress feed of a tenant's tasks.

A task is committed (queued) before CreateTask answers; the runner picks it up
from the database. Before queueing, the agent unit is asked whether the agent
or team exists in the caller's tenant and can work, so that a wrong id is a
clear NOT_FOUND now rather than a failed task later; when the agent unit cannot
be reached the task is accepted and the runner asks again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from agentmesh.v1 import task_pb2

from services.common.authctx import Actor, Caller
from services.common.crud import MAX_ID, required_id
from services.common.errors import FailedPrecondition, FieldViolation, InvalidArgument, NotFound
from services.common.feeds import Feeds, follow
from services.common.listing import order_sql
from services.common.llm import RemoteCallError
from services.common.protoutil import new_id, seconds, struct_dict
from services.task import model
from services.task.changes import NewTask
from services.task.feeds import FINAL_ROW, settle, wait_until_final
from services.task.model import (
    FINAL,
    LOG_LEVELS,
    MAX_IDEMPOTENCY_KEY,
    MAX_INPUT,
    MAX_PRIORITY,
    MAX_REASON,
    MAX_TIMEOUT,
    TASK_STATUSES,
    raise_if,
    tenant_caller,
)
from services.task.query import Where, apply_filter, page
from services.task.runner import TaskRunner
from services.task.store import TASK_COLUMNS, TaskStore
from services.task.workers import WorkerDirectory

log = logging.getLogger("agentmesh.task")

LOG_COLUMNS = {"level": "level", "message": "message", "time": "time", "status": "status"}
# Lines written together share a time; their ids keep the order they were written in.
LOG_ORDER = {"time": "event_id", "level": "level"}
# How long CreateTask waits for the agent unit's opinion before accepting the task anyway.
CHECK_TIMEOUT = 5.0


def parameter_violations(field: str, parameters: dict[str, Any]) -> list[FieldViolation | None]:
    """The model parameters the platform reads itself must have usable values; the rest pass through."""
    temperature = parameters.get("temperature")
    max_tokens = parameters.get("max_tokens")
    return [
        FieldViolation(f"{field}.temperature", "must be a number from 0 to 2")
        if temperature is not None and (not isinstance(temperature, int | float) or not 0 <= temperature <= 2)
        else None,
        FieldViolation(f"{field}.max_tokens", "must be a whole number from 1 to 1000000")
        if max_tokens is not None and (not isinstance(max_tokens, int | float) or max_tokens != int(max_tokens)
                                       or not 1 <= max_tokens <= 1_000_000)
        else None,
    ]


def _digest(agent_id: str, team_id: str, request: task_pb2.CreateTaskRequest) -> str:
    asked = [agent_id, team_id, request.input, struct_dict(request.input_data), struct_dict(request.parameters),
             request.priority, request.timeout_seconds]
    return hashlib.sha256(json.dumps(asked, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class TargetChecks:
    """Asks the agent unit whether it would run a target for the caller's tenant.

    A target it rejects is refused; when it cannot answer, the task is accepted
    (the runner asks again). An accepted target is remembered for a few seconds,
    so a burst of submissions to one agent costs the agent unit one call: the
    runner resolves every task anyway and fails it, saying why, if the agent has
    gone in between.
    """

    def __init__(self, directory: WorkerDirectory, *, ttl: float = 5.0, size: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.directory = directory
        self.ttl = ttl
        self.size = size
        self.clock = clock
        self._accepted: dict[tuple[str, str, str], float] = {}

    async def check(self, actor: Actor, *, agent_id: str = "", team_id: str = "", field: str = "") -> None:
        key = (actor.tenant_id, agent_id, team_id)
        if self._accepted.get(key, 0.0) > self.clock():
            return
        try:
            await self.directory.resolve(actor, agent_id=agent_id, team_id=team_id, time_limit=CHECK_TIMEOUT)
        except RemoteCallError as exc:
            if exc.rejects_request:
                self._accepted.pop(key, None)
                raise exc.domain(field or ("agent_id" if agent_id else "team_id")) from exc
            log.info("target not checked: %s", exc, extra={"agent": agent_id, "team": team_id})
            return
        if len(self._accepted) >= self.size:
            self._accepted.clear()
        self._accepted[key] = self.clock() + self.ttl


class TaskServicer:
    def __init__(self, store: TaskStore, runner: TaskRunner, directory: WorkerDirectory, feeds: Feeds) -> None:
        self.store = store
        self.runner = runner
        self.targets = TargetChecks(directory)
        self.feeds = feeds

    async def _task(self, caller: Caller, task_id: str) -> dict[str, Any]:
        row = await self.store.get(caller.tenant_id, task_id)
        if row is None:
            raise NotFound(f"task {task_id} not found", reason="TASK_NOT_FOUND")
        return row

    async def ListTasks(self, request: task_pb2.ListTasksRequest, context: grpc.aio.ServicerContext) -> Any:
        caller = tenant_caller()
        status = request.status.strip()
        raise_if([model.check_choice("status", status, TASK_STATUSES) if status else None])
        where = Where()
        where.add("tenant_id = ?", caller.tenant_id)
        for name in ("status", "agent_id", "team_id", "workflow_run_id"):
            value = getattr(request, name).strip()
            if value:
                where.add(f"{name} = ?", value)
        if request.HasField("created_after"):
            where.add("created_at >= ?", seconds(request.created_after))
        if request.HasField("created_before"):
            where.add("created_at < ?", seconds(request.created_before))
        apply_filter(where, request.filter, TASK_COLUMNS)
        order = order_sql(request.order_by, TASK_COLUMNS, "created_at DESC", "task_id ASC")
        rows, total, token = await page(self.store.db, "SELECT *", "tasks", where, order, request)
        return task_pb2.ListTasksResponse(tasks=[model.task_message(r) for r in rows], next_page_token=token,
                                          total_size=total)

    async def CreateTask(self, request: task_pb2.CreateTaskRequest, context: grpc.aio.ServicerContext) -> Any:
        caller = tenant_caller()
        agent_id, team_id = request.agent_id.strip(), request.team_id.strip()
        key = request.idempotency_key.strip()
        input_data, parameters = struct_dict(request.input_data), struct_dict(request.parameters)
        raise_if([
            FieldViolation("agent_id", "set agent_id or team_id") if not (agent_id or team_id) else None,
            FieldViolation("agent_id" if agent_id else "team_id", f"at most {MAX_ID} characters")
            if len(agent_id or team_id) > MAX_ID else None,
            FieldViolation("input", "is required (or input_data)") if not request.input.strip() and not input_data
            else None,
            FieldViolation("input", f"at most {MAX_INPUT} characters") if len(request.input) > MAX_INPUT else None,
            model.json_violation("input_data", request.input_data),
            model.json_violation("parameters", request.parameters),
            *parameter_violations("parameters", parameters),
            FieldViolation("priority", f"must be from {-MAX_PRIORITY} to {MAX_PRIORITY}")
            if abs(request.priority) > MAX_PRIORITY else None,
            FieldViolation("timeout_seconds", f"must be from 0 (the platform default) to {MAX_TIMEOUT}")
            if not 0 <= request.timeout_seconds <= MAX_TIMEOUT else None,
            FieldViolation("idempotency_key", f"1 to {MAX_IDEMPOTENCY_KEY} printable characters")
            if len(key) > MAX_IDEMPOTENCY_KEY or not key.isprintable() else None,
        ])
        digest = _digest(agent_id, team_id, request)
        actor = Actor.of(caller)
        if key:
            earlier = await self.store.db.fetch_one(
                "SELECT * FROM tasks WHERE tenant_id = ? AND owner_id = ? AND idempotency_key = ?",
                (caller.tenant_id, caller.user_id, key),
            )
            if earlier is not None:
                return await self._answer(caller, earlier, digest, request.wait, context)
        await self.targets.check(actor, agent_id=agent_id, team_id=team_id)
        new = NewTask(
            tenant_id=caller.tenant_id, owner_id=caller.user_id, actor=actor, agent_id=agent_id, team_id=team_id,
            input=request.input, input_data=model.json_text(input_data), parameters=model.json_text(parameters),
            priority=request.priority, timeout_seconds=request.timeout_seconds, idempotency_key=key,
            request_digest=digest, task_id=new_id("task"),
        )
        # Followed from before it exists, so a waiter learns the end from the feed alone.
        with self.feeds.subscribe(f"task:{new.task_id}") as feed:
            row, created = await self.runner.submit(new)
            if not created:  # the idempotency key names a task that a concurrent call created
                return await self._answer(caller, row, digest, request.wait, context)
            log.info("task queued", extra={"task": row["task_id"], "tenant": caller.tenant_id, "by": caller.user_id})
            if request.wait:
                task_id = new.task_id
                row = await settle(feed, row, lambda: self._task(caller, task_id), lambda r: r["status"] in FINAL,
                                   context)
        return task_pb2.CreateTaskResponse(task=model.task_message(row))

    async def _answer(self, caller: Caller, row: dict[str, Any], digest: str, wait: bool,
                      context: grpc.aio.ServicerContext) -> Any:
        task_id = row["task_id"]
        if row["request_digest"] != digest:
            raise InvalidArgument.field("idempotency_key", f"was used for another request (task {task_id})")
        if wait and row["status"] not in FINAL:
            row = await wait_until_final(self.feeds, f"task:{task_id}", lambda: self._task(caller, task_id),
                                         lambda r: r["status"] in FINAL, context)
        return task_pb2.CreateTaskResponse(task=model.task_message(row))

    async def GetTask(self, request: task_pb2.GetTaskRequest, context: grpc.aio.ServicerContext) -> Any:
        caller = tenant_caller()
        row = await self._task(caller, required_id("task_id", request.task_id))
        return task_pb2.GetTaskResponse(task=model.task_message(row))

    async def CancelTask(self, request: task_pb2.CancelTaskRequest, context: grpc.aio.ServicerContext) -> Any:
        caller = tenant_caller()
        task_id = required_id("task_id", request.task_id)
        reason = request.reason.strip()
        raise_if([FieldViolation("reason", f"at most {MAX_REASON} characters") if len(reason) > MAX_REASON
                  else None])
        row = await self.runner.cancel(caller.tenant_id, task_id, reason or f"by {caller.user_id}")
        if row is None:
            raise NotFound(f"task {task_id} not found", reason="TASK_NOT_FOUND")
        return task_pb2.CancelTaskResponse(task=model.task_message(row))

    async def RetryTask(self, request: task_pb2.RetryTaskRequest, context: grpc.aio.ServicerContext) -> Any:
        caller = tenant_caller()
        old = await self._task(caller, required_id("task_id", request.task_id))
        if old["status"] not in ("failed", "cancelled"):
            raise FailedPrecondition(f"task {old['task_id']} is {old['status']}; only a failed or cancelled task "
                                     "can be retried", reason="TASK_NOT_RETRYABLE")
        actor = Actor.of(caller)
        await self.targets.check(actor, agent_id=old["agent_id"], team_id=old["team_id"])
        row, _ = await self.runner.submit(NewTask(
            tenant_id=caller.tenant_id, owner_id=caller.user_id, actor=actor, agent_id=old["agent_id"],
            team_id=old["team_id"], input=old["input"], input_data=old["input_data"], parameters=old["parameters"],
            priority=old["priority"], timeout_seconds=old["timeout_seconds"], retry_of_task_id=old["task_id"],
        ))
        log.info("task retried", extra={"task": row["task_id"], "retry_of": old["task_id"], "by": caller.user_id})
        return task_pb2.RetryTaskResponse(task=model.task_message(row))

    async def ListTaskLogs(self, request: task_pb2.ListTaskLogsRequest, context: grpc.aio.ServicerContext) -> Any:
        caller = tenant_caller()
        task = await self._task(caller, required_id("task_id", request.task_id))
        level = request.level.strip().lower()
        raise_if([model.check_choice("level", level, LOG_LEVELS) if level else None])
        where = Where()
        where.add("task_id = ?", task["task_id"])
        where.add("type = 'task.log'")
        if level:
            allowed = LOG_LEVELS[LOG_LEVELS.index(level):]
            where.add(f"level IN ({', '.join('?' for _ in allowed)})", *allowed)
        if request.HasField("since"):
            where.add("time >= ?", seconds(request.since))
        apply_filter(where, request.filter, LOG_COLUMNS)
        order = order_sql(request.order_by, LOG_ORDER, "event_id ASC", "event_id ASC")
        rows, total, token = await page(self.store.db, "SELECT *", "task_events", where, order, request)
        return task_pb2.ListTaskLogsResponse(entries=[model.log_message(r) for r in rows], next_page_token=token,
                                             total_size=total)

    async def WatchTask(self, request: task_pb2.WatchTaskRequest,
                        context: grpc.aio.ServicerContext) -> AsyncIterator[task_pb2.WatchTaskResponse]:
        caller = tenant_caller()
        task_id = required_id("task_id", request.task_id)
        after = model.event_id_after("last_event_id", request.last_event_id)
        with self.feeds.subscribe(f"task:{task_id}") as feed:
            task = await self._task(caller, task_id)
            if after and not await self.store.event_of(task_id, after):
                raise InvalidArgument.field("last_event_id", f"is not an event of task {task_id}")
            if not after:
                yield task_pb2.WatchTaskResponse(event=model.snapshot_event(task))
                if task["status"] in FINAL:
                    return
                after = int(task["last_event_id"] or 0)
            elif task["status"] in FINAL:
                # Resuming a finished task: what followed `after`, then the end (the final frame may be among it).
                for event in await self.store.events_after(task_id, after):
                    final = model.is_final_event(event)
                    yield task_pb2.WatchTaskResponse(event=model.task_event_message(event, task if final else None))
                return
            async for event in follow(feed, after, lambda last: self.store.events_after(task_id, last)):
                final = model.is_final_event(event)
                current = (event.get(FINAL_ROW) or await self._task(caller, task_id)) if final else None
                yield task_pb2.WatchTaskResponse(event=model.task_event_message(event, current))
                if final:
                    return
