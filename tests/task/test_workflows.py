"""WorkflowService and WorkflowAdminService over gRPC: definitions, the DAG, runs and their feeds."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import grpc
import pytest
from agentmesh.v1 import task_pb2
from google.protobuf import json_format

from services.common.events import MemoryEventBus
from tests.task.conftest import Bearer, TaskUnit, eventually
from tests.task.fakes import Directory, ScriptedModel
from tests.task.test_task_service import violations

TENANT = "tenant-a"
SEEDS = Path(__file__).resolve().parents[1] / "fixtures" / "seed_bodies.json"


def step(step_id: str, agent_id: str = "a1", template: str = "", *depends_on: str) -> task_pb2.WorkflowStep:
    return task_pb2.WorkflowStep(step_id=step_id, agent_id=agent_id, prompt_template=template,
                                 depends_on=list(depends_on))


PIPELINE = [
    step("research", "a1", "Find facts about {{input.topic}}"),
    step("outline", "a2", "Outline: {{steps.research.output}}", "research"),
    step("draft", "a3", "Write from {{ steps.outline.output }} for {{input.audience.name}}", "outline"),
]


@pytest.fixture(autouse=True)
def agents(directory: Directory) -> None:
    for name in ("a1", "a2", "a3", "a4"):
        directory.agent(TENANT, name)
    directory.agent("tenant-b", "b1")


async def _create(unit: TaskUnit, bearer: Bearer, steps: list[task_pb2.WorkflowStep], **fields: object
                  ) -> task_pb2.Workflow:
    request = task_pb2.CreateWorkflowRequest(name=str(fields.pop("name", "pipeline")), steps=steps,
                                             **fields)  # type: ignore[arg-type]
    return (await unit.workflows.CreateWorkflow(request, metadata=bearer())).workflow


async def _execute(unit: TaskUnit, bearer: Bearer, workflow_id: str, input_data: dict[str, object],
                   wait: bool = True) -> task_pb2.WorkflowRun:
    request = task_pb2.ExecuteWorkflowRequest(workflow_id=workflow_id, async_execution=not wait)
    request.input_data.update(input_data)
    return (await unit.workflows.ExecuteWorkflow(request, metadata=bearer(), timeout=10)).run


@pytest.mark.parametrize(
    ("steps", "fields"),
    [
        ([step("a"), step("a")], {"steps[1].step_id"}),
        ([step("a", "a1", "", "ghost")], {"steps[0].depends_on"}),
        ([step("a", "a1", "", "a")], {"steps[0].depends_on"}),
        ([step("a", "a1", "", "c"), step("b", "a1", "", "a"), step("c", "a1", "", "b")], {"steps"}),
        ([step("", "a1")], {"steps[0].step_id"}),
        ([step("bad id!", "a1")], {"steps[0].step_id"}),
        ([step("a", "")], {"steps[0].agent_id"}),
        ([step("a", "a1", "{{steps.b.output}}"), step("b")], {"steps[0].prompt_template"}),
        ([step("a", "a1", "{{ whatever }}")], {"steps[0].prompt_template"}),
        ([step("a", "nobody")], {"steps[0].agent_id"}),
        ([step("a", "b1")], {"steps[0].agent_id"}),
    ],
)
async def test_bad_graphs_are_refused_with_field_violations(task_unit: TaskUnit, bearer: Bearer,
                                                            steps: list[task_pb2.WorkflowStep],
                                                            fields: set[str]) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await _create(task_unit, bearer, steps)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(info.value)) == fields
    listed = await task_unit.workflows.ListWorkflows(task_pb2.ListWorkflowsRequest(), metadata=bearer())
    assert listed.total_size == 0


async def test_a_cycle_is_named(task_unit: TaskUnit, bearer: Bearer) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await _create(task_unit, bearer, [step("x", "a1", "", "z"), step("y", "a1", "", "x"),
                                          step("z", "a1", "", "y"), step("w")])
    assert "x -> z -> y -> x" in violations(info.value)["steps"]


async def test_bad_names_and_schemas(task_unit: TaskUnit, bearer: Bearer) -> None:
    request = task_pb2.CreateWorkflowRequest(name=" ", description="d" * 2001, steps=[step("a")])
    request.input_schema.update({"type": "galaxy", "pattern": "x", "required": "topic"})
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await task_unit.workflows.CreateWorkflow(request, metadata=bearer())
    assert set(violations(info.value)) == {"name", "description", "input_schema.type", "input_schema.pattern",
                                           "input_schema.required"}


async def test_three_steps_pass_their_outputs_along(task_unit: TaskUnit, bearer: Bearer, scripted: ScriptedModel,
                                                    bus: MemoryEventBus) -> None:
    workflow = await _create(task_unit, bearer, PIPELINE)
    assert [s.step_id for s in workflow.steps] == ["research", "outline", "draft"] and workflow.enabled
    async with bus.subscribe(["workflow.*"], tenant_id=TENANT) as events:
        run = await _execute(task_unit, bearer, workflow.workflow_id,
                             {"topic": "otters", "audience": {"name": "kids"}})
        kinds = []
        async for event in events:
            kinds.append(event.type)
            if event.type == "workflow.run.completed":
                break
    assert run.status == "succeeded" and not run.async_execution
    research = "a1(Find facts about otters)"
    outline = f"a2(Outline: {research})"
    draft = f"a3(Write from {outline} for kids)"
    assert [s.output for s in run.steps] == [research, outline, draft]
    assert {s.status for s in run.steps} == {"succeeded"} and all(s.task_id for s in run.steps)
    assert dict(run.output) == {"draft": draft}  # the final steps' outputs
    assert run.usage.total_tokens == sum(len(p.split()) + 1 for _, p in scripted.calls)
    assert kinds[0] == "workflow.run.started" and kinds.count("workflow.step.completed") == 3
    # Each step ran as a task of the run.
    tasks = await task_unit.tasks.ListTasks(task_pb2.ListTasksRequest(workflow_run_id=run.run_id), metadata=bearer())
    assert sorted(t.output for t in tasks.tasks) == sorted([research, outline, draft])


async def test_a_failed_step_skips_its_dependants_and_fails_the_run(task_unit: TaskUnit, bearer: Bearer,
                                                                   scripted: ScriptedModel,
                                                                   bus: MemoryEventBus) -> None:
    scripted.behave("a2", failures=[grpc.StatusCode.INVALID_ARGUMENT])
    steps = [step("start", "a1"), step("bad", "a2", "", "start"), step("after-bad", "a3", "", "bad"),
             step("last", "a1", "", "after-bad"), step("side", "a4", "", "start")]
    workflow = await _create(task_unit, bearer, steps)
    async with bus.subscribe(["workflow.step.skipped", "workflow.run.failed"], tenant_id=TENANT) as events:
        run = await _execute(task_unit, bearer, workflow.workflow_id, {"prompt": "go"})
        announced = [await asyncio.wait_for(anext(aiter(events)), 5) for _ in range(3)]
    assert [(e.type, e.data["step_id"]) for e in announced] == [
        ("workflow.step.skipped", "after-bad"), ("workflow.step.skipped", "last"), ("workflow.run.failed", "")]
    statuses = {s.step_id: s.status for s in run.steps}
    assert statuses == {"start": "succeeded", "bad": "failed", "after-bad": "skipped", "last": "skipped",
                        "side": "succeeded"}
    assert run.status == "failed" and run.error.startswith("step bad failed")
    skipped = next(s for s in run.steps if s.step_id == "after-bad")
    assert skipped.error == "step bad failed" and not skipped.task_id
    assert [m for m, _ in scripted.calls].count("a3") == 0
    assert dict(run.output) == {"side": "a4(a1(go))"}


async def test_the_seed_body_starts_a_run_at_once(task_unit: TaskUnit, bearer: Bearer) -> None:
    body = next(b["body"] for b in json.loads(SEEDS.read_text()) if b["path"] == "/api/v1/workflows/{id}/execute")
    workflow = await _create(task_unit, bearer, [step("only", "a1")])
    request = json_format.ParseDict(body, task_pb2.ExecuteWorkflowRequest())
    request.workflow_id = workflow.workflow_id
    run = (await task_unit.workflows.ExecuteWorkflow(request, metadata=bearer())).run
    assert run.status == "pending" and run.async_execution and dict(run.input_data) == {"prompt": "Hello world"}

    async def finished() -> bool:
        got = await task_unit.workflows.GetWorkflowRun(
            task_pb2.GetWorkflowRunRequest(workflow_id=workflow.workflow_id, run_id=run.run_id), metadata=bearer())
        return got.run.status == "succeeded"

    await eventually(finished)
    got = (await task_unit.workflows.GetWorkflowRun(
        task_pb2.GetWorkflowRunRequest(workflow_id=workflow.workflow_id, run_id=run.run_id), metadata=bearer())).run
    assert got.steps[0].output == "a1(Hello world)" and got.started_at.seconds and got.finished_at.seconds


async def test_run_input_is_checked_against_the_schema_and_the_templates(task_unit: TaskUnit,
                                                                         bearer: Bearer) -> None:
    schema = {"type": "object", "required": ["topic"], "additionalProperties": False,
              "properties": {"topic": {"type": "string", "minLength": 2}, "audience": {"type": "object"},
                             "count": {"type": "integer", "maximum": 5}}}
    request = task_pb2.CreateWorkflowRequest(name="checked", steps=PIPELINE)
    request.input_schema.update(schema)
    workflow = (await task_unit.workflows.CreateWorkflow(request, metadata=bearer())).workflow
    assert json_format.MessageToDict(workflow.input_schema) == schema
    for data, fields in (({}, {"input_data.topic", "input_data.audience.name"}),
                         ({"topic": "x", "audience": {"name": "n"}}, {"input_data.topic"}),
                         ({"topic": "ok", "audience": {"name": "n"}, "count": 9}, {"input_data.count"}),
                         ({"topic": "ok", "audience": {"name": "n"}, "colour": 1}, {"input_data.colour"}),
                         ({"topic": 3, "audience": {"name": "n"}}, {"input_data.topic"})):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await _execute(task_unit, bearer, workflow.workflow_id, data)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert set(violations(info.value)) == fields, data
    runs = await task_unit.workflows.ListWorkflowRuns(
        task_pb2.ListWorkflowRunsRequest(workflow_id=workflow.workflow_id), metadata=bearer())
    assert runs.total_size == 0


async def test_disabled_empty_and_stopped_workflows_do_not_run(task_unit: TaskUnit, bearer: Bearer,
                                                               directory: Directory) -> None:
    disabled = await _create(task_unit, bearer, [step("a")], enabled=False)
    empty = await _create(task_unit, bearer, [])
    stopped = await _create(task_unit, bearer, [step("a", "a4")])
    directory.stopped.add("a4")
    for workflow in (disabled, empty, stopped):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await _execute(task_unit, bearer, workflow.workflow_id, {"prompt": "x"})
        assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_update_replaces_fields_and_running_runs_keep_their_steps(task_unit: TaskUnit, bearer: Bearer,
                                                                        scripted: ScriptedModel) -> None:
    gate = scripted.behave("a1", gate=asyncio.Event()).gate
    assert gate is not None
    workflow = await _create(task_unit, bearer, [step("one", "a1")], description="first")
    run = await _execute(task_unit, bearer, workflow.workflow_id, {"prompt": "p"}, wait=False)
    update = task_pb2.UpdateWorkflowRequest(workflow_id=workflow.workflow_id, name="renamed",
                                            steps=[step("one", "a2"), step("two", "a3", "", "one")])
    updated = (await task_unit.workflows.UpdateWorkflow(update, metadata=bearer())).workflow
    assert (updated.name, updated.description, [s.step_id for s in updated.steps]) == ("renamed", "first",
                                                                                        ["one", "two"])
    assert updated.updated_at.ToNanoseconds() > workflow.updated_at.ToNanoseconds()
    masked = task_pb2.UpdateWorkflowRequest(workflow_id=workflow.workflow_id, description="", enabled=False)
    masked.update_mask.paths.extend(["description"])
    updated = (await task_unit.workflows.UpdateWorkflow(masked, metadata=bearer())).workflow
    assert (updated.description, updated.enabled) == ("", True)  # only the masked field changed
    gate.set()

    async def done() -> bool:
        got = await task_unit.workflows.GetWorkflowRun(
            task_pb2.GetWorkflowRunRequest(workflow_id=workflow.workflow_id, run_id=run.run_id), metadata=bearer())
        return got.run.status == "succeeded"

    await eventually(done)
    got = (await task_unit.workflows.GetWorkflowRun(
        task_pb2.GetWorkflowRunRequest(workflow_id=workflow.workflow_id, run_id=run.run_id), metadata=bearer())).run
    assert [(s.step_id, s.output) for s in got.steps] == [("one", "a1(p)")]
    for bad in (task_pb2.UpdateWorkflowRequest(workflow_id=workflow.workflow_id, steps=[step("x", "a1", "", "x")]),
                task_pb2.UpdateWorkflowRequest(workflow_id=workflow.workflow_id, name="")):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await task_unit.workflows.UpdateWorkflow(bad, metadata=bearer())
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad_mask = task_pb2.UpdateWorkflowRequest(workflow_id=workflow.workflow_id)
    bad_mask.update_mask.paths.append("owner_id")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await task_unit.workflows.UpdateWorkflow(bad_mask, metadata=bearer())
    assert "update_mask" in violations(info.value)


async def test_cancel_a_run_cancels_its_running_step(task_unit: TaskUnit, bearer: Bearer,
                                                     scripted: ScriptedModel) -> None:
    scripted.behave("a1", gate=asyncio.Event())
    workflow = await _create(task_unit, bearer, [step("one", "a1"), step("two", "a2", "", "one")])
    run = await _execute(task_unit, bearer, workflow.workflow_id, {"prompt": "p"}, wait=False)
    await asyncio.wait_for(scripted.started.wait(), 5)
    cancelled = (await task_unit.workflows.CancelWorkflowRun(
        task_pb2.CancelWorkflowRunRequest(workflow_id=workflow.workflow_id, run_id=run.run_id, reason="enough"),
        metadata=bearer())).run
    assert cancelled.status == "cancelled" and "enough" in cancelled.error
    assert [s.status for s in cancelled.steps] == ["cancelled", "cancelled"]

    async def call_cancelled() -> bool:
        return scripted.cancelled == ["a1"]

    await eventually(call_cancelled, 1.0)
    task = await task_unit.tasks.GetTask(task_pb2.GetTaskRequest(task_id=cancelled.steps[0].task_id),
                                         metadata=bearer())
    assert task.task.status == "cancelled"
    again = (await task_unit.workflows.CancelWorkflowRun(
        task_pb2.CancelWorkflowRunRequest(workflow_id=workflow.workflow_id, run_id=run.run_id), metadata=bearer())).run
    assert again.status == "cancelled"


async def test_watch_a_run_and_a_workflow(task_unit: TaskUnit, bearer: Bearer, scripted: ScriptedModel) -> None:
    gate = scripted.behave("a1", gate=asyncio.Event()).gate
    assert gate is not None
    workflow = await _create(task_unit, bearer, PIPELINE)
    whole = task_unit.workflows.WatchWorkflow(task_pb2.WatchWorkflowRequest(workflow_id=workflow.workflow_id),
                                              metadata=bearer())
    run = await _execute(task_unit, bearer, workflow.workflow_id, {"topic": "t", "audience": {"name": "n"}},
                         wait=False)
    watch = task_unit.workflows.WatchWorkflowRun(
        task_pb2.WatchWorkflowRunRequest(workflow_id=workflow.workflow_id, run_id=run.run_id), metadata=bearer())
    snapshot = (await watch.read()).event
    assert snapshot.type == "workflow.run.snapshot" and snapshot.run.run_id == run.run_id
    gate.set()
    frames = []
    while (reply := await watch.read()) != grpc.aio.EOF:
        frames.append(reply.event)
    assert frames[-1].type == "workflow.run.completed" and frames[-1].run.status == "succeeded"
    completed = [f for f in frames if f.type == "workflow.step.completed"]
    assert [f.step.step_id for f in completed] == ["research", "outline", "draft"]
    assert completed[-1].progress == 1.0 and completed[0].step.output
    seen = []
    while True:
        event = (await asyncio.wait_for(whole.read(), 5)).event
        seen.append(event)
        if event.type == "workflow.run.completed":
            break
    assert {e.run_id for e in seen} == {run.run_id}
    assert [e.event_id for e in seen] == sorted((e.event_id for e in seen), key=int)
    # The workflow's feed resumes after an event too (it has no end: read as many as followed).
    replay = task_unit.workflows.WatchWorkflow(task_pb2.WatchWorkflowRequest(
        workflow_id=workflow.workflow_id, last_event_id=frames[0].event_id), metadata=bearer())
    replayed = [(await asyncio.wait_for(replay.read(), 5)).event.event_id for _ in frames[1:]]
    assert replayed == [f.event_id for f in frames[1:]]
    replay.cancel()
    # Resume the run's feed after its first frame: the rest, then the end.
    resumed = task_unit.workflows.WatchWorkflowRun(task_pb2.WatchWorkflowRunRequest(
        workflow_id=workflow.workflow_id, run_id=run.run_id, last_event_id=frames[0].event_id), metadata=bearer())
    assert [r.event.event_id async for r in resumed] == [f.event_id for f in frames[1:]]
    # Deleting the workflow ends its feed.
    await task_unit.workflows.DeleteWorkflow(task_pb2.DeleteWorkflowRequest(workflow_id=workflow.workflow_id),
                                             metadata=bearer())
    assert await asyncio.wait_for(whole.read(), 5) == grpc.aio.EOF


async def test_list_get_delete_and_runs(task_unit: TaskUnit, bearer: Bearer, scripted: ScriptedModel) -> None:
    first = await _create(task_unit, bearer, [step("a", "a1")], name="alpha")
    second = await _create(task_unit, bearer, [step("b", "a2")], name="beta", enabled=False)
    workflows = task_unit.workflows

    async def names(**fields: object) -> list[str]:
        reply = await workflows.ListWorkflows(task_pb2.ListWorkflowsRequest(**fields),  # type: ignore[arg-type]
                                              metadata=bearer())
        return [w.name for w in reply.workflows]

    assert await names() == ["beta", "alpha"]
    assert await names(enabled=True) == ["alpha"]
    assert await names(filter="enabled=false") == ["beta"]
    assert await names(agent_id="a2") == ["beta"]
    assert await names(filter='name:"ALP"') == ["alpha"]
    assert await names(order_by="name", page_size=1) == ["alpha"]
    got = await workflows.GetWorkflow(task_pb2.GetWorkflowRequest(workflow_id=first.workflow_id), metadata=bearer())
    assert got.workflow == first
    runs = [await _execute(task_unit, bearer, first.workflow_id, {"prompt": str(i)}) for i in range(3)]
    listed = await workflows.ListWorkflowRuns(task_pb2.ListWorkflowRunsRequest(workflow_id=first.workflow_id),
                                              metadata=bearer())
    assert [r.run_id for r in listed.runs] == [r.run_id for r in reversed(runs)]  # newest first
    filtered = await workflows.ListWorkflowRuns(
        task_pb2.ListWorkflowRunsRequest(workflow_id=first.workflow_id, status="failed"), metadata=bearer())
    assert filtered.total_size == 0
    scripted.behave("a1", gate=asyncio.Event())
    open_run = await _execute(task_unit, bearer, first.workflow_id, {"prompt": "open"}, wait=False)
    await workflows.DeleteWorkflow(task_pb2.DeleteWorkflowRequest(workflow_id=first.workflow_id), metadata=bearer())
    for call in (workflows.GetWorkflow(task_pb2.GetWorkflowRequest(workflow_id=first.workflow_id), metadata=bearer()),
                 workflows.DeleteWorkflow(task_pb2.DeleteWorkflowRequest(workflow_id=first.workflow_id),
                                          metadata=bearer()),
                 workflows.GetWorkflowRun(task_pb2.GetWorkflowRunRequest(workflow_id=first.workflow_id,
                                                                         run_id=open_run.run_id), metadata=bearer())):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await call
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
    step_task = (await task_unit.tasks.ListTasks(task_pb2.ListTasksRequest(workflow_run_id=open_run.run_id),
                                                 metadata=bearer())).tasks[0]
    assert step_task.status == "cancelled"  # the open run was cancelled with its workflow
    assert await names() == ["beta"]
    assert second.workflow_id


async def test_another_tenant_sees_no_workflow_and_no_run(task_unit: TaskUnit, bearer: Bearer) -> None:
    workflow = await _create(task_unit, bearer, [step("a", "a1")])
    run = await _execute(task_unit, bearer, workflow.workflow_id, {"prompt": "x"})
    mallory = bearer(sub="mallory", tid="tenant-b")
    wf = task_unit.workflows
    calls = [
        wf.GetWorkflow(task_pb2.GetWorkflowRequest(workflow_id=workflow.workflow_id), metadata=mallory),
        wf.UpdateWorkflow(task_pb2.UpdateWorkflowRequest(workflow_id=workflow.workflow_id, name="x"), metadata=mallory),
        wf.DeleteWorkflow(task_pb2.DeleteWorkflowRequest(workflow_id=workflow.workflow_id), metadata=mallory),
        wf.ExecuteWorkflow(task_pb2.ExecuteWorkflowRequest(workflow_id=workflow.workflow_id), metadata=mallory),
        wf.ListWorkflowRuns(task_pb2.ListWorkflowRunsRequest(workflow_id=workflow.workflow_id), metadata=mallory),
        wf.GetWorkflowRun(task_pb2.GetWorkflowRunRequest(workflow_id=workflow.workflow_id, run_id=run.run_id),
                          metadata=mallory),
        wf.CancelWorkflowRun(task_pb2.CancelWorkflowRunRequest(workflow_id=workflow.workflow_id, run_id=run.run_id),
                             metadata=mallory),
        wf.WatchWorkflowRun(task_pb2.WatchWorkflowRunRequest(workflow_id=workflow.workflow_id, run_id=run.run_id),
                            metadata=mallory).read(),
        wf.WatchWorkflow(task_pb2.WatchWorkflowRequest(workflow_id=workflow.workflow_id), metadata=mallory).read(),
    ]
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await call
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert (await wf.ListWorkflows(task_pb2.ListWorkflowsRequest(), metadata=mallory)).total_size == 0
    # A run id of another workflow is not found under this one either.
    other = await _create(task_unit, bearer, [step("b", "a1")])
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await wf.GetWorkflowRun(task_pb2.GetWorkflowRunRequest(workflow_id=other.workflow_id, run_id=run.run_id),
                                metadata=bearer())
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


async def test_admin_service_spans_tenants_and_needs_the_admin_role(task_unit: TaskUnit, bearer: Bearer) -> None:
    mine = await _create(task_unit, bearer, [step("a", "a1")], name="tenant-a flow")
    root = bearer(sub="root", tid="ops", role="admin")
    admin = task_unit.admin
    created = (await admin.AdminCreateWorkflow(task_pb2.AdminCreateWorkflowRequest(
        tenant_id="tenant-b", name="for b", steps=[step("x", "b1")]), metadata=root)).workflow
    assert (created.tenant_id, created.owner_id) == ("tenant-b", "root")
    with pytest.raises(grpc.aio.AioRpcError) as info:  # the steps' agents must be of that tenant
        await admin.AdminCreateWorkflow(task_pb2.AdminCreateWorkflowRequest(
            tenant_id="tenant-b", name="wrong", steps=[step("x", "a1")]), metadata=root)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "steps[0].agent_id" in violations(info.value)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await admin.AdminCreateWorkflow(task_pb2.AdminCreateWorkflowRequest(name="no tenant"), metadata=root)
    assert "tenant_id" in violations(info.value)
    listed = await admin.AdminListWorkflows(task_pb2.AdminListWorkflowsRequest(), metadata=root)
    assert {w.workflow_id for w in listed.workflows} == {mine.workflow_id, created.workflow_id}
    only_b = await admin.AdminListWorkflows(task_pb2.AdminListWorkflowsRequest(tenant_id="tenant-b"), metadata=root)
    assert [w.workflow_id for w in only_b.workflows] == [created.workflow_id]
    got = await admin.AdminGetWorkflow(task_pb2.AdminGetWorkflowRequest(workflow_id=mine.workflow_id), metadata=root)
    assert got.workflow.name == "tenant-a flow"
    updated = await admin.AdminUpdateWorkflow(task_pb2.AdminUpdateWorkflowRequest(
        workflow_id=mine.workflow_id, enabled=False), metadata=root)
    assert not updated.workflow.enabled
    runs = await admin.AdminListWorkflowRuns(task_pb2.AdminListWorkflowRunsRequest(workflow_id=mine.workflow_id),
                                             metadata=root)
    assert runs.total_size == 0
    await admin.AdminDeleteWorkflow(task_pb2.AdminDeleteWorkflowRequest(workflow_id=created.workflow_id),
                                    metadata=root)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await admin.AdminGetWorkflow(task_pb2.AdminGetWorkflowRequest(workflow_id=created.workflow_id), metadata=root)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await admin.AdminListWorkflows(task_pb2.AdminListWorkflowsRequest(), metadata=bearer())
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
