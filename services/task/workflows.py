"""WorkflowService: a tenant's workflows, their runs and the runs' progress feeds."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
from agentmesh.v1 import task_pb2

from services.common.authctx import Actor, Caller
from services.common.crud import required_id
from services.common.errors import FailedPrecondition, InvalidArgument, NotFound
from services.common.feeds import Feeds, follow
from services.common.llm import RemoteCallError
from services.common.protoutil import struct_dict
from services.common.storage import Row
from services.task import model
from services.task.catalog import WorkflowCatalog
from services.task.dag import Step, missing_inputs, steps_from_json
from services.task.engine import WorkflowEngine
from services.task.feeds import wait_until_final
from services.task.inputschema import input_violations
from services.task.model import FINAL, raise_if, tenant_caller
from services.task.query import Where
from services.task.runs import (
    WORKFLOW_COLUMNS,
    is_final_run_event,
    run_event_message,
    run_message,
    run_row,
    step_rows,
    workflow_message,
)
from services.task.workers import WorkerDirectory


class WorkflowServicer:
    def __init__(self, catalog: WorkflowCatalog, engine: WorkflowEngine, directory: WorkerDirectory,
                 feeds: Feeds) -> None:
        self.catalog = catalog
        self.db = catalog.db
        self.engine = engine
        self.directory = directory
        self.feeds = feeds

    async def _run(self, caller: Caller, workflow_id: str, run_id: str) -> Row:
        workflow = await self.catalog.get(workflow_id, caller.tenant_id)
        run_id = required_id("run_id", run_id)
        run = await run_row(self.db, run_id, caller.tenant_id, workflow["workflow_id"])
        if run is None:
            raise NotFound(f"run {run_id} of workflow {workflow['workflow_id']} not found", reason="RUN_NOT_FOUND")
        return run

    async def _run_message(self, run: Row) -> task_pb2.WorkflowRun:
        return run_message(run, await step_rows(self.db, run["run_id"]))

    async def ListWorkflows(self, request: task_pb2.ListWorkflowsRequest, context: grpc.aio.ServicerContext) -> Any:
        caller = tenant_caller()
        where = Where.of("tenant_id = ?", caller.tenant_id)
        rows, total, token = await self.catalog.find(
            where, request, WORKFLOW_COLUMNS, enabled=request.enabled if request.HasField("enabled") else None,
            agent_id=request.agent_id.strip(),
        )
        return task_pb2.ListWorkflowsResponse(workflows=[workflow_message(r) for r in rows], next_page_token=token,
                                              total_size=total)

    async def CreateWorkflow(self, request: task_pb2.CreateWorkflowRequest,
                             context: grpc.aio.ServicerContext) -> Any:
        caller = tenant_caller()
        row = await self.catalog.create(
            tenant_id=caller.tenant_id, actor=Actor.of(caller), name=request.name.strip(),
            description=request.description.strip(), steps=[Step.of(s) for s in request.steps],
            input_schema=request.input_schema, enabled=request.enabled if request.HasField("enabled") else True,
        )
        return task_pb2.CreateWorkflowResponse(workflow=workflow_message(row))

    async def GetWorkflow(self, request: task_pb2.GetWorkflowRequest, context: grpc.aio.ServicerContext) -> Any:
        caller = tenant_caller()
        return task_pb2.GetWorkflowResponse(
            workflow=workflow_message(await self.catalog.get(request.workflow_id, caller.tenant_id))
        )

    async def UpdateWorkflow(self, request: task_pb2.UpdateWorkflowRequest,
                             context: grpc.aio.ServicerContext) -> Any:
        caller = tenant_caller()
        workflow = await self.catalog.get(request.workflow_id, caller.tenant_id)
        row = await self.catalog.update(workflow, Actor.of(caller), request)
        return task_pb2.UpdateWorkflowResponse(workflow=workflow_message(row))

    async def DeleteWorkflow(self, request: task_pb2.DeleteWorkflowRequest,
                             context: grpc.aio.ServicerContext) -> Any:
        caller = tenant_caller()
        workflow = await self.catalog.get(request.workflow_id, caller.tenant_id)
        await self.catalog.delete(workflow, Actor.of(caller))
        return task_pb2.DeleteWorkflowResponse()

    async def ExecuteWorkflow(self, request: task_pb2.ExecuteWorkflowRequest,
                              context: grpc.aio.ServicerContext) -> Any:
        caller = tenant_caller()
        workflow = await self.catalog.get(request.workflow_id, caller.tenant_id)
        if not workflow["enabled"]:
            raise FailedPrecondition(f"workflow {workflow['workflow_id']} is disabled", reason="WORKFLOW_DISABLED")
        steps = steps_from_json(workflow["steps"])
        if not steps:
            raise FailedPrecondition(f"workflow {workflow['workflow_id']} has no steps", reason="WORKFLOW_EMPTY")
        input_data = struct_dict(request.input_data)
        raise_if([model.json_violation("input_data", request.input_data)])
        schema = json.loads(workflow["input_schema"] or "{}")
        raise_if([*(input_violations("input_data", schema, input_data) if schema else []),
                  *missing_inputs(steps, input_data)])
        actor = Actor.of(caller)
        await self._check_step_agents(actor, steps)
        async_execution = request.async_execution if request.HasField("async_execution") else True
        run = await self.engine.execute(workflow, actor, input_data, async_execution)
        if not async_execution:
            run = await wait_until_final(
                self.feeds, f"run:{run['run_id']}", lambda: self._run(caller, workflow["workflow_id"], run["run_id"]),
                lambda r: r["status"] in FINAL, context,
            )
        return task_pb2.ExecuteWorkflowResponse(run=await self._run_message(run))

    async def _check_step_agents(self, actor: Actor, steps: list[Step]) -> None:
        """A run needs its steps' agents to exist and be able to work; unknown when the agent unit is away."""
        for agent_id in dict.fromkeys(s.agent_id for s in steps):
            try:
                await self.directory.resolve(actor, agent_id=agent_id, time_limit=5.0)
            except RemoteCallError as exc:
                if exc.rejects_request:
                    step = next(s for s in steps if s.agent_id == agent_id)
                    raise FailedPrecondition(f"step {step.step_id}: agent {agent_id}: {exc.details}",
                                             reason="WORKER_NOT_READY", metadata={"step_id": step.step_id}) from exc

    async def ListWorkflowRuns(self, request: task_pb2.ListWorkflowRunsRequest,
                               context: grpc.aio.ServicerContext) -> Any:
        caller = tenant_caller()
        workflow = await self.catalog.get(request.workflow_id, caller.tenant_id)
        runs, total, token = await self.catalog.runs(workflow, request)
        return task_pb2.ListWorkflowRunsResponse(runs=runs, next_page_token=token, total_size=total)

    async def GetWorkflowRun(self, request: task_pb2.GetWorkflowRunRequest,
                             context: grpc.aio.ServicerContext) -> Any:
        caller = tenant_caller()
        run = await self._run(caller, request.workflow_id, request.run_id)
        return task_pb2.GetWorkflowRunResponse(run=await self._run_message(run))

    async def CancelWorkflowRun(self, request: task_pb2.CancelWorkflowRunRequest,
                                context: grpc.aio.ServicerContext) -> Any:
        caller = tenant_caller()
        reason = request.reason.strip()
        if len(reason) > model.MAX_REASON:
            raise InvalidArgument.field("reason", f"at most {model.MAX_REASON} characters")
        run = await self._run(caller, request.workflow_id, request.run_id)
        await self.engine.cancel(run["run_id"], reason or f"by {caller.user_id}")
        run = await self._run(caller, request.workflow_id, request.run_id)
        return task_pb2.CancelWorkflowRunResponse(run=await self._run_message(run))

    async def WatchWorkflowRun(self, request: task_pb2.WatchWorkflowRunRequest,
                               context: grpc.aio.ServicerContext) -> AsyncIterator[task_pb2.WatchWorkflowRunResponse]:
        caller = tenant_caller()
        after = model.event_id_after("last_event_id", request.last_event_id)
        run_id = required_id("run_id", request.run_id)
        with self.feeds.subscribe(f"run:{run_id}") as feed:
            run = await self._run(caller, request.workflow_id, run_id)
            if after and await self._event_run(after) != run_id:
                raise InvalidArgument.field("last_event_id", f"is not an event of run {run_id}")
            if not after:
                snapshot = await self._run_message(run)
                yield task_pb2.WatchWorkflowRunResponse(event=task_pb2.WorkflowRunEvent(
                    event_id=str(run["last_event_id"] or ""), type="workflow.run.snapshot",
                    workflow_id=run["workflow_id"], run_id=run_id, status=run["status"], run=snapshot,
                    progress=_progress(snapshot), message=run["error"],
                ))
                if run["status"] in FINAL:
                    return
                after = int(run["last_event_id"] or 0)
            fetch = self._events_after("run_id", run_id)
            if run["status"] in FINAL:
                # Resuming a finished run: what followed `after`, then the end.
                for event in await fetch(after):
                    yield task_pb2.WatchWorkflowRunResponse(
                        event=await self._frame(event, with_run=is_final_run_event(event))
                    )
                return
            async for event in follow(feed, after, fetch):
                final = is_final_run_event(event)
                yield task_pb2.WatchWorkflowRunResponse(event=await self._frame(event, with_run=final))
                if final:
                    return

    async def WatchWorkflow(self, request: task_pb2.WatchWorkflowRequest,
                            context: grpc.aio.ServicerContext) -> AsyncIterator[task_pb2.WatchWorkflowResponse]:
        caller = tenant_caller()
        after = model.event_id_after("last_event_id", request.last_event_id)
        workflow_id = required_id("workflow_id", request.workflow_id)
        with self.feeds.subscribe(f"workflow:{workflow_id}") as feed:
            workflow = await self.catalog.get(workflow_id, caller.tenant_id)
            if after:
                row = await self.db.fetch_one("SELECT workflow_id FROM run_events WHERE event_id = ?", (after,))
                if row is None or row["workflow_id"] != workflow_id:
                    raise InvalidArgument.field("last_event_id", f"is not an event of workflow {workflow_id}")
            else:
                open_runs = await self.db.fetch_all(
                    "SELECT run_id FROM workflow_runs WHERE workflow_id = ? AND status IN ('pending', 'running')"
                    " ORDER BY created_at", (workflow["workflow_id"],))
                latest = await self.db.fetch_one("SELECT MAX(event_id) AS n FROM run_events WHERE workflow_id = ?",
                                                 (workflow_id,))
                after = int(latest["n"] or 0) if latest else 0
                for item in open_runs:
                    run = await run_row(self.db, item["run_id"])
                    assert run is not None
                    snapshot = await self._run_message(run)
                    yield task_pb2.WatchWorkflowResponse(event=task_pb2.WorkflowRunEvent(
                        event_id=str(after or ""), type="workflow.run.snapshot", workflow_id=workflow_id,
                        run_id=run["run_id"], status=run["status"], run=snapshot, progress=_progress(snapshot),
                    ))
            async for event in follow(feed, after, self._events_after("workflow_id", workflow_id)):
                yield task_pb2.WatchWorkflowResponse(
                    event=await self._frame(event, with_run=is_final_run_event(event))
                )

    def _events_after(self, column: str, value: str) -> Any:
        async def fetch(last: int) -> list[Row]:
            return await self.db.fetch_all(
                f"SELECT * FROM run_events WHERE {column} = ? AND event_id > ? ORDER BY event_id", (value, last)
            )

        return fetch

    async def _event_run(self, event_id: int) -> str:
        row = await self.db.fetch_one("SELECT run_id FROM run_events WHERE event_id = ?", (event_id,))
        return str(row["run_id"]) if row else ""

    async def _frame(self, event: Row, *, with_run: bool) -> task_pb2.WorkflowRunEvent:
        step = None
        if event["step_id"]:
            steps = [s for s in await step_rows(self.db, event["run_id"]) if s["step_id"] == event["step_id"]]
            step = steps[0] if steps else None
        run = None
        if with_run:
            row = await run_row(self.db, event["run_id"])
            run = await self._run_message(row) if row is not None else None
        return run_event_message(event, step=step, run=run)


def _progress(run: task_pb2.WorkflowRun) -> float:
    if not run.steps:
        return 1.0 if run.status in FINAL else 0.0
    done = sum(1 for s in run.steps if s.status in (*FINAL, "skipped"))
    return done / len(run.steps)
