"""TaskService over gRPC: every RPC, its validation, paging, idempotency, tenant isolation and the watch feed."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest
from agentmesh.v1 import task_pb2
from google.protobuf import timestamp_pb2
from google.rpc import error_details_pb2, status_pb2

from services.common.errors import DETAILS_KEY
from tests.task.conftest import Bearer, TaskUnit, eventually
from tests.task.fakes import Directory, ScriptedModel

TENANT = "tenant-a"


def violations(error: grpc.aio.AioRpcError) -> dict[str, str]:
    """The BadRequest field violations a unit attached to an INVALID_ARGUMENT."""
    found: dict[str, str] = {}
    for key, value in error.trailing_metadata() or ():
        if key == DETAILS_KEY:
            for detail in status_pb2.Status.FromString(value).details:
                if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                    bad = error_details_pb2.BadRequest()
                    detail.Unpack(bad)
                    found.update({v.field: v.description for v in bad.field_violations})
    return found


@pytest.fixture(autouse=True)
def agents(directory: Directory) -> None:
    directory.agent(TENANT, "a1")
    directory.agent("tenant-b", "b1")
    directory.team(TENANT, "crew", "sequential", ["a1"])


@pytest.mark.parametrize(
    ("request_fields", "fields"),
    [
        ({"input": "x"}, {"agent_id"}),
        ({"agent_id": "a1"}, {"input"}),
        ({"agent_id": "a1", "input": "x" * 100_001}, {"input"}),
        ({"agent_id": "a1", "input": "x", "priority": 5000}, {"priority"}),
        ({"agent_id": "a1", "input": "x", "timeout_seconds": -1}, {"timeout_seconds"}),
        ({"agent_id": "a1", "input": "x", "idempotency_key": "k" * 201}, {"idempotency_key"}),
        ({"agent_id": "a1", "input": "x", "parameters": {"temperature": 7}}, {"parameters.temperature"}),
        ({"agent_id": "a1", "input": "x", "parameters": {"max_tokens": 0.5}}, {"parameters.max_tokens"}),
        ({"agent_id": "a1", "input": "x", "input_data": {"blob": "y" * 70_000}}, {"input_data"}),
        ({"agent_id": "", "input": "", "priority": -9999}, {"agent_id", "input", "priority"}),
    ],
)
async def test_bad_submissions_name_their_fields(task_unit: TaskUnit, bearer: Bearer,
                                                 request_fields: dict[str, object], fields: set[str]) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await task_unit.tasks.CreateTask(task_pb2.CreateTaskRequest(**request_fields), metadata=bearer())
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(info.value)) == fields
    listed = await task_unit.tasks.ListTasks(task_pb2.ListTasksRequest(), metadata=bearer())
    assert listed.total_size == 0  # nothing half-written


async def test_unknown_or_foreign_agents_and_teams_are_not_found(task_unit: TaskUnit, bearer: Bearer,
                                                                  directory: Directory) -> None:
    for target in ({"agent_id": "nobody"}, {"agent_id": "b1"}, {"team_id": "no-team"}):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await task_unit.tasks.CreateTask(task_pb2.CreateTaskRequest(input="x", **target), metadata=bearer())
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
    directory.stopped.add("a1")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await task_unit.tasks.CreateTask(task_pb2.CreateTaskRequest(input="x", agent_id="a1"), metadata=bearer())
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "not running" in (info.value.details() or "")


async def test_submission_is_accepted_while_the_agent_unit_is_away(task_unit: TaskUnit, bearer: Bearer,
                                                                   directory: Directory) -> None:
    directory.down = True
    task = (await task_unit.tasks.CreateTask(task_pb2.CreateTaskRequest(input="x", agent_id="a1"),
                                             metadata=bearer())).task
    assert task.status == "queued"

    async def failed() -> bool:
        got = await task_unit.tasks.GetTask(task_pb2.GetTaskRequest(task_id=task.task_id), metadata=bearer())
        return got.task.status == "failed"

    await eventually(failed, 10)  # tried again a few times, then failed saying why
    got = await task_unit.tasks.GetTask(task_pb2.GetTaskRequest(task_id=task.task_id), metadata=bearer())
    assert "agent unit" in got.task.error and "connection refused" in got.task.error


async def test_create_get_and_the_seed_shaped_answer(task_unit: TaskUnit, bearer: Bearer) -> None:
    request = task_pb2.CreateTaskRequest(agent_id="a1", input="summarize", priority=3, timeout_seconds=60)
    request.input_data.update({"doc": "d1"})
    request.parameters.update({"temperature": 0.2})
    created = (await task_unit.tasks.CreateTask(request, metadata=bearer())).task
    assert created.status == "queued"  # committed before the answer
    assert (created.tenant_id, created.owner_id, created.priority, created.timeout_seconds) == (TENANT, "alice", 3, 60)
    assert created.task_id.startswith("task_") and created.created_at.seconds > 0

    async def done() -> bool:
        got = await task_unit.tasks.GetTask(task_pb2.GetTaskRequest(task_id=created.task_id), metadata=bearer())
        return got.task.status == "succeeded"

    await eventually(done)
    got = (await task_unit.tasks.GetTask(task_pb2.GetTaskRequest(task_id=created.task_id), metadata=bearer())).task
    assert got.output == 'a1(summarize\n\nInput data (JSON): {"doc": "d1"})'
    assert got.started_at.seconds and got.finished_at.seconds and got.attempts == 1
    assert dict(got.input_data) == {"doc": "d1"} and got.parameters["temperature"] == pytest.approx(0.2)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await task_unit.tasks.GetTask(task_pb2.GetTaskRequest(task_id="  "), metadata=bearer())
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_idempotency_key_returns_the_first_task(task_unit: TaskUnit, bearer: Bearer,
                                                      scripted: ScriptedModel) -> None:
    request = task_pb2.CreateTaskRequest(agent_id="a1", input="once", idempotency_key="order-17")
    first, second = await asyncio.gather(task_unit.tasks.CreateTask(request, metadata=bearer()),
                                         task_unit.tasks.CreateTask(request, metadata=bearer()))
    assert first.task.task_id == second.task.task_id
    waited = await task_unit.tasks.CreateTask(task_pb2.CreateTaskRequest(agent_id="a1", input="once", wait=True,
                                                                         idempotency_key="order-17"),
                                              metadata=bearer())
    assert waited.task.task_id == first.task.task_id and waited.task.status == "succeeded"
    assert [p for _, p in scripted.calls] == ["once"]
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await task_unit.tasks.CreateTask(task_pb2.CreateTaskRequest(agent_id="a1", input="twice",
                                                                    idempotency_key="order-17"), metadata=bearer())
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "idempotency_key" in violations(info.value)
    # Keys belong to their user: another user of the tenant gets a task of their own.
    other = await task_unit.tasks.CreateTask(request, metadata=bearer(sub="bob"))
    assert other.task.task_id != first.task.task_id


async def test_list_filters_and_pages(task_unit: TaskUnit, bearer: Bearer, scripted: ScriptedModel) -> None:
    scripted.behave("a1", gate=asyncio.Event())
    before = time.time()
    ids = []
    for i in range(5):
        ids.append((await task_unit.tasks.CreateTask(
            task_pb2.CreateTaskRequest(agent_id="a1", input=f"job {i}", priority=i), metadata=bearer())).task.task_id)
    team_task = (await task_unit.tasks.CreateTask(task_pb2.CreateTaskRequest(team_id="crew", input="team job"),
                                                  metadata=bearer())).task.task_id
    await task_unit.tasks.CancelTask(task_pb2.CancelTaskRequest(task_id=ids[0]), metadata=bearer())
    tasks = task_unit.tasks

    async def listed(**fields: object) -> task_pb2.ListTasksResponse:
        return await tasks.ListTasks(task_pb2.ListTasksRequest(**fields), metadata=bearer())  # type: ignore[arg-type]

    everything = await listed()
    assert everything.total_size == 6 and everything.tasks[0].task_id == team_task  # newest first
    assert [t.task_id for t in (await listed(team_id="crew")).tasks] == [team_task]
    assert (await listed(agent_id="a1")).total_size == 5
    assert [t.task_id for t in (await listed(status="cancelled")).tasks] == [ids[0]]
    assert (await listed(filter="priority>=3")).total_size == 2
    assert (await listed(filter='input:"JOB 1"')).total_size == 1
    assert [t.priority for t in (await listed(agent_id="a1", order_by="priority desc")).tasks] == [4, 3, 2, 1, 0]
    after = timestamp_pb2.Timestamp()
    after.FromSeconds(int(before) - 1)
    assert (await listed(created_after=after)).total_size == 6
    assert (await listed(created_before=after)).total_size == 0
    assert (await listed(filter='created_at>="2020-01-01T00:00:00Z"')).total_size == 6
    assert (await listed(filter=f"created_at<{int(before) - 1}")).total_size == 0
    first = await listed(page_size=4, order_by="created_at")
    second = await listed(page_size=4, order_by="created_at", page_token=first.next_page_token)
    assert len(first.tasks) == 4 and len(second.tasks) == 2 and not second.next_page_token
    assert [t.task_id for t in [*first.tasks, *second.tasks]] == [*ids, team_task]
    assert [t.task_id for t in (await listed(limit=2, offset=1, order_by="created_at")).tasks] == ids[1:3]
    for bad in ({"status": "sleeping"}, {"filter": "colour=red"}, {"order_by": "colour"}, {"page_token": "junk"},
                {"filter": "status ~ x"}, {"page_size": -1}, {"filter": "created_at>yesterday"}):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await listed(**bad)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, bad


async def test_retry_runs_a_failed_task_again_as_a_new_task(task_unit: TaskUnit, bearer: Bearer,
                                                            scripted: ScriptedModel) -> None:
    scripted.behave("a1", failures=[grpc.StatusCode.INVALID_ARGUMENT])
    failed = (await task_unit.tasks.CreateTask(task_pb2.CreateTaskRequest(agent_id="a1", input="again", wait=True,
                                                                          priority=2), metadata=bearer())).task
    assert failed.status == "failed"
    retried = (await task_unit.tasks.RetryTask(task_pb2.RetryTaskRequest(task_id=failed.task_id),
                                               metadata=bearer())).task
    assert retried.task_id != failed.task_id and retried.retry_of_task_id == failed.task_id
    assert (retried.input, retried.priority, retried.status) == ("again", 2, "queued")

    async def succeeded() -> bool:
        got = await task_unit.tasks.GetTask(task_pb2.GetTaskRequest(task_id=retried.task_id), metadata=bearer())
        return got.task.status == "succeeded"

    await eventually(succeeded)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await task_unit.tasks.RetryTask(task_pb2.RetryTaskRequest(task_id=retried.task_id), metadata=bearer())
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_logs_filter_by_level_and_time_and_page(task_unit: TaskUnit, bearer: Bearer,
                                                      scripted: ScriptedModel) -> None:
    scripted.behave("a1", failures=[grpc.StatusCode.UNAVAILABLE])
    task = (await task_unit.tasks.CreateTask(task_pb2.CreateTaskRequest(agent_id="a1", input="log me", wait=True),
                                             metadata=bearer())).task
    logs = task_unit.tasks.ListTaskLogs
    everything = await logs(task_pb2.ListTaskLogsRequest(task_id=task.task_id), metadata=bearer())
    messages = [e.message for e in everything.entries]
    assert messages[0].startswith("queued for agent a1") and messages[1] == "attempt 1 started"
    assert any(m.startswith("resolved agent a1") for m in messages)
    assert all(e.subject_id == task.task_id for e in everything.entries)
    times = [e.time.ToNanoseconds() for e in everything.entries]
    assert times == sorted(times)
    answered = next(e for e in everything.entries if e.message == "agent a1 answered")
    assert answered.fields["total_tokens"] == 3
    warnings = await logs(task_pb2.ListTaskLogsRequest(task_id=task.task_id, level="warning"), metadata=bearer())
    assert [e.level for e in warnings.entries] == ["warning"]
    page = await logs(task_pb2.ListTaskLogsRequest(task_id=task.task_id, page_size=2), metadata=bearer())
    assert len(page.entries) == 2 and page.total_size == everything.total_size and page.next_page_token
    since = await logs(task_pb2.ListTaskLogsRequest(task_id=task.task_id, since=everything.entries[-1].time),
                       metadata=bearer())
    assert [e.message for e in since.entries][-1] == messages[-1] and since.total_size < everything.total_size
    newest = await logs(task_pb2.ListTaskLogsRequest(task_id=task.task_id, order_by="time desc"), metadata=bearer())
    assert [e.message for e in newest.entries] == messages[::-1]
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await logs(task_pb2.ListTaskLogsRequest(task_id=task.task_id, level="loud"), metadata=bearer())
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "level" in violations(info.value)


async def test_watch_gives_a_snapshot_then_each_change_until_final(task_unit: TaskUnit, bearer: Bearer,
                                                                   scripted: ScriptedModel) -> None:
    gate = scripted.behave("a1", gate=asyncio.Event()).gate
    assert gate is not None
    task = (await task_unit.tasks.CreateTask(task_pb2.CreateTaskRequest(agent_id="a1", input="watch me"),
                                             metadata=bearer())).task
    watch = task_unit.tasks.WatchTask(task_pb2.WatchTaskRequest(task_id=task.task_id), metadata=bearer())
    first = (await watch.read()).event
    assert first.type == "task.snapshot" and first.task.task_id == task.task_id
    await asyncio.wait_for(scripted.started.wait(), 5)
    gate.set()
    frames = []
    while (reply := await watch.read()) != grpc.aio.EOF:
        frames.append(reply.event)
    assert frames[-1].type == "task.status" and frames[-1].status == "succeeded"
    assert frames[-1].task.output == "a1(watch me)"  # the final frame carries the whole task
    assert "task.output" in [f.type for f in frames] and "task.log" in [f.type for f in frames]
    ids = [int(f.event_id) for f in frames]
    assert ids == sorted(set(ids))
    # Resuming after an event gives what followed it, and ends at the final frame.
    middle = frames[len(frames) // 2]
    resumed = task_unit.tasks.WatchTask(task_pb2.WatchTaskRequest(task_id=task.task_id,
                                                                  last_event_id=middle.event_id), metadata=bearer())
    assert [r.event.event_id async for r in resumed] == [f.event_id for f in frames if int(f.event_id) > int(
        middle.event_id)]
    # A finished task: the snapshot alone.
    finished = task_unit.tasks.WatchTask(task_pb2.WatchTaskRequest(task_id=task.task_id), metadata=bearer())
    only = [r.event async for r in finished]
    assert [(e.type, e.status) for e in only] == [("task.snapshot", "succeeded")]
    for bad in ("abc", "999999999"):
        call = task_unit.tasks.WatchTask(task_pb2.WatchTaskRequest(task_id=task.task_id, last_event_id=bad),
                                         metadata=bearer())
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await call.read()
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_create_with_wait_answers_when_the_caller_deadline_nears(task_unit: TaskUnit, bearer: Bearer,
                                                                       scripted: ScriptedModel) -> None:
    scripted.behave("a1", gate=asyncio.Event())
    began = time.monotonic()
    reply = await task_unit.tasks.CreateTask(task_pb2.CreateTaskRequest(agent_id="a1", input="x", wait=True),
                                             metadata=bearer(), timeout=1.0)
    assert reply.task.status == "running" and time.monotonic() - began < 1.0


async def test_another_tenant_sees_nothing(task_unit: TaskUnit, bearer: Bearer) -> None:
    task = (await task_unit.tasks.CreateTask(task_pb2.CreateTaskRequest(agent_id="a1", input="mine", wait=True),
                                             metadata=bearer())).task
    mallory = bearer(sub="mallory", tid="tenant-b")
    calls = [
        task_unit.tasks.GetTask(task_pb2.GetTaskRequest(task_id=task.task_id), metadata=mallory),
        task_unit.tasks.CancelTask(task_pb2.CancelTaskRequest(task_id=task.task_id), metadata=mallory),
        task_unit.tasks.RetryTask(task_pb2.RetryTaskRequest(task_id=task.task_id), metadata=mallory),
        task_unit.tasks.ListTaskLogs(task_pb2.ListTaskLogsRequest(task_id=task.task_id), metadata=mallory),
        task_unit.tasks.WatchTask(task_pb2.WatchTaskRequest(task_id=task.task_id), metadata=mallory).read(),
    ]
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await call
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert (await task_unit.tasks.ListTasks(task_pb2.ListTasksRequest(), metadata=mallory)).total_size == 0
    # Same tenant, another member: visible.
    seen = await task_unit.tasks.GetTask(task_pb2.GetTaskRequest(task_id=task.task_id), metadata=bearer(sub="bob"))
    assert seen.task.owner_id == "alice"


async def test_callers_need_a_token_and_a_tenant(task_unit: TaskUnit, bearer: Bearer) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await task_unit.tasks.ListTasks(task_pb2.ListTasksRequest())
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await task_unit.tasks.ListTasks(task_pb2.ListTasksRequest(), metadata=bearer(tid=""))
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
