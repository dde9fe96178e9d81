"""The runner: order, the bound on concurrency, cancel, timeout, retries and team strategies.

The model and the worker directory are in-test implementations of the runner's
Protocols (tests/task/fakes.py), so calls can be held, failed and timed; the
unit, its database and its gRPC surface are the real ones.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import grpc
import pytest
from agentmesh.v1 import task_pb2

from services.common.events import MemoryEventBus
from services.common.settings import Settings
from tests.task.conftest import Bearer, StartTask, TaskUnit, eventually, task_env
from tests.task.fakes import Directory, ScriptedModel

TENANT = "tenant-a"


async def _create(unit: TaskUnit, bearer: Bearer, **fields: object) -> task_pb2.Task:
    reply = await unit.tasks.CreateTask(task_pb2.CreateTaskRequest(**fields), metadata=bearer(), timeout=10)
    return reply.task


async def _get(unit: TaskUnit, bearer: Bearer, task_id: str) -> task_pb2.Task:
    return (await unit.tasks.GetTask(task_pb2.GetTaskRequest(task_id=task_id), metadata=bearer())).task


async def _final(unit: TaskUnit, bearer: Bearer, task_id: str, within: float = 10.0) -> task_pb2.Task:
    async def done() -> bool:
        return (await _get(unit, bearer, task_id)).status in ("succeeded", "failed", "cancelled")

    await eventually(done, within)
    return await _get(unit, bearer, task_id)


async def test_priority_then_age_order(tmp_path: Path, start_task: StartTask, directory: Directory,
                                       scripted: ScriptedModel, bearer: Bearer) -> None:
    unit = await start_task(Settings.from_env(task_env(tmp_path, TASK_WORKERS="1")))
    directory.agent(TENANT, "a1")
    gate = scripted.behave("a1", gate=asyncio.Event()).gate
    assert gate is not None
    blocker = await _create(unit, bearer, agent_id="a1", input="blocker")
    await asyncio.wait_for(scripted.started.wait(), 5)
    queued = [await _create(unit, bearer, agent_id="a1", input=name, priority=priority)
              for name, priority in (("low-1", 0), ("mid", 5), ("low-2", 0), ("high", 10), ("negative", -3))]
    assert all(t.status == "queued" for t in queued)
    gate.set()
    for task in (blocker, *queued):
        assert (await _final(unit, bearer, task.task_id)).status == "succeeded"
    assert [prompt for _, prompt in scripted.calls] == ["blocker", "high", "mid", "low-1", "low-2", "negative"]


async def test_no_more_than_task_workers_run_at_once(tmp_path: Path, start_task: StartTask, directory: Directory,
                                                     scripted: ScriptedModel, bearer: Bearer) -> None:
    unit = await start_task(Settings.from_env(task_env(tmp_path, TASK_WORKERS="3")))
    directory.agent(TENANT, "a1")
    gate = scripted.behave("a1", gate=asyncio.Event()).gate
    assert gate is not None
    tasks = [await _create(unit, bearer, agent_id="a1", input=f"job {i}") for i in range(8)]

    async def three_running() -> bool:
        return scripted.active == 3

    await eventually(three_running)
    await asyncio.sleep(0.3)  # room for a fourth, if the bound did not hold
    assert scripted.peak == 3
    listed = await unit.tasks.ListTasks(task_pb2.ListTasksRequest(status="running"), metadata=bearer())
    assert listed.total_size == 3
    listed = await unit.tasks.ListTasks(task_pb2.ListTasksRequest(status="queued"), metadata=bearer())
    assert listed.total_size == 5
    gate.set()
    finals = [await _final(unit, bearer, t.task_id) for t in tasks]
    assert {t.status for t in finals} == {"succeeded"}
    assert scripted.peak == 3
    assert len(scripted.calls) == 8


async def test_cancel_stops_the_in_flight_call_within_a_second(task_unit: TaskUnit, directory: Directory,
                                                                scripted: ScriptedModel, bearer: Bearer,
                                                                bus: MemoryEventBus) -> None:
    directory.agent(TENANT, "a1")
    scripted.behave("a1", gate=asyncio.Event())  # never answers
    async with bus.subscribe(["task.*"], tenant_id=TENANT) as events:
        task = await _create(task_unit, bearer, agent_id="a1", input="long job")
        await asyncio.wait_for(scripted.started.wait(), 5)
        began = time.monotonic()
        reply = await task_unit.tasks.CancelTask(task_pb2.CancelTaskRequest(task_id=task.task_id, reason="changed"),
                                                 metadata=bearer())
        assert reply.task.status == "cancelled"

        async def call_cancelled() -> bool:
            return scripted.cancelled == ["a1"]

        await eventually(call_cancelled, 1.0)
        assert time.monotonic() - began < 1.0
        kinds = []
        async for event in events:
            kinds.append(event.type)
            if event.type == "task.cancelled":
                assert event.tenant_id == TENANT and event.subject_id == task.task_id
                break
    assert kinds[0] == "task.created"
    await asyncio.sleep(0.2)
    final = await _get(task_unit, bearer, task.task_id)
    assert (final.status, final.output) == ("cancelled", "")
    logs = await task_unit.tasks.ListTaskLogs(task_pb2.ListTaskLogsRequest(task_id=task.task_id), metadata=bearer())
    assert any("cancelled: changed" in e.message for e in logs.entries)
    # Cancelling a finished task returns it unchanged.
    again = await task_unit.tasks.CancelTask(task_pb2.CancelTaskRequest(task_id=task.task_id), metadata=bearer())
    assert again.task == final


async def test_a_task_past_its_timeout_fails_with_timeout(task_unit: TaskUnit, directory: Directory,
                                                          scripted: ScriptedModel, bearer: Bearer,
                                                          bus: MemoryEventBus) -> None:
    directory.agent(TENANT, "a1")
    scripted.behave("a1", gate=asyncio.Event())
    async with bus.subscribe(["task.failed"], tenant_id=TENANT) as events:
        began = time.monotonic()
        task = await _create(task_unit, bearer, agent_id="a1", input="slow", timeout_seconds=1, wait=True)
        elapsed = time.monotonic() - began
        announced = await asyncio.wait_for(anext(aiter(events)), 5)
    assert (task.status, task.error) == ("failed", "timeout")
    assert 0.9 < elapsed < 3
    assert scripted.cancelled == ["a1"]
    assert (announced.subject_id, announced.data["error"]) == (task.task_id, "timeout")


async def test_the_platform_timeout_applies_when_the_task_names_none(tmp_path: Path, start_task: StartTask,
                                                                     directory: Directory, scripted: ScriptedModel,
                                                                     bearer: Bearer) -> None:
    unit = await start_task(Settings.from_env(task_env(tmp_path, TASK_TIMEOUT="1")))
    directory.agent(TENANT, "a1")
    scripted.behave("a1", gate=asyncio.Event())
    task = await _create(unit, bearer, agent_id="a1", input="slow", wait=True)
    assert (task.status, task.error) == ("failed", "timeout")


async def test_transient_model_errors_are_tried_again(task_unit: TaskUnit, directory: Directory,
                                                      scripted: ScriptedModel, bearer: Bearer) -> None:
    directory.agent(TENANT, "a1")
    scripted.behave("a1", failures=[grpc.StatusCode.UNAVAILABLE])
    task = await _create(task_unit, bearer, agent_id="a1", input="hello", wait=True)
    assert (task.status, task.output, task.attempts) == ("succeeded", "a1(hello)", 1)
    logs = await task_unit.tasks.ListTaskLogs(task_pb2.ListTaskLogsRequest(task_id=task.task_id, level="warning"),
                                              metadata=bearer())
    assert [e.level for e in logs.entries] == ["warning"]
    assert "UNAVAILABLE" in logs.entries[0].message


async def test_a_refused_model_call_fails_the_task_naming_the_agent(task_unit: TaskUnit, directory: Directory,
                                                                   scripted: ScriptedModel, bearer: Bearer) -> None:
    directory.agent(TENANT, "a1")
    scripted.behave("a1", failures=[grpc.StatusCode.INVALID_ARGUMENT])
    task = await _create(task_unit, bearer, agent_id="a1", input="hello", wait=True)
    assert task.status == "failed"
    assert "agent a1" in task.error and "INVALID_ARGUMENT" in task.error
    assert len(scripted.calls) == 1  # not tried again


async def test_the_task_acts_for_its_submitter(task_unit: TaskUnit, directory: Directory, scripted: ScriptedModel,
                                               bearer: Bearer) -> None:
    directory.agent(TENANT, "a1")
    await _create(task_unit, bearer, agent_id="a1", input="who", wait=True)
    actor = scripted.actors[-1]
    assert (actor.user_id, actor.tenant_id, actor.role) == ("alice", TENANT, "user")
    assert ("x-user-id", "alice") in actor.metadata() and ("x-client-id", TENANT) in actor.metadata()


async def test_sequential_team_passes_each_output_on(task_unit: TaskUnit, directory: Directory,
                                                     scripted: ScriptedModel, bearer: Bearer) -> None:
    for name in ("m1", "m2", "m3"):
        directory.agent(TENANT, name)
    directory.team(TENANT, "writers", "sequential", ["m1", "m2", "m3"])
    task = await _create(task_unit, bearer, team_id="writers", input="draft", wait=True)
    assert (task.status, task.output) == ("succeeded", "m3(m2(m1(draft)))")
    assert [prompt for _, prompt in scripted.calls] == ["draft", "m1(draft)", "m2(m1(draft))"]
    assert task.usage.total_tokens == 2 + 2 + 2 and task.progress == 1.0
    watch = task_unit.tasks.WatchTask(task_pb2.WatchTaskRequest(task_id=task.task_id, last_event_id="1"),
                                      metadata=bearer())
    progress = [r.event.progress async for r in watch if r.event.type == "task.progress"]
    assert progress == pytest.approx([1 / 3, 2 / 3, 1.0])


async def test_round_robin_team_takes_turns(task_unit: TaskUnit, directory: Directory, scripted: ScriptedModel,
                                            bearer: Bearer) -> None:
    for name in ("r1", "r2"):
        directory.agent(TENANT, name)
    directory.team(TENANT, "pair", "round_robin", ["r1", "r2"])
    outputs = [(await _create(task_unit, bearer, team_id="pair", input=f"q{i}", wait=True)).output for i in range(3)]
    assert outputs == ["r1(q0)", "r2(q1)", "r1(q2)"]


async def test_first_answer_team_takes_the_fastest_and_cancels_the_rest(
    task_unit: TaskUnit, directory: Directory, scripted: ScriptedModel, bearer: Bearer
) -> None:
    for name in ("slow", "fast", "broken"):
        directory.agent(TENANT, name)
    directory.team(TENANT, "race", "first_answer", ["slow", "broken", "fast"])
    scripted.behave("slow", gate=asyncio.Event())
    scripted.behave("broken", failures=[grpc.StatusCode.INTERNAL])
    scripted.behave("fast", delay=0.1)
    task = await _create(task_unit, bearer, team_id="race", input="go", wait=True)
    assert (task.status, task.output) == ("succeeded", "fast(go)")
    assert scripted.cancelled == ["slow"]


async def test_first_answer_fails_when_every_member_fails(task_unit: TaskUnit, directory: Directory,
                                                          scripted: ScriptedModel, bearer: Bearer) -> None:
    for name in ("x1", "x2"):
        directory.agent(TENANT, name)
        scripted.behave(name, failures=[grpc.StatusCode.PERMISSION_DENIED])
    directory.team(TENANT, "doomed", "first_answer", ["x1", "x2"])
    task = await _create(task_unit, bearer, team_id="doomed", input="go", wait=True)
    assert task.status == "failed"
    assert task.error.startswith("every member failed") and "x1" in task.error and "x2" in task.error


async def test_an_agent_stopped_after_submission_fails_the_task(tmp_path: Path, start_task: StartTask,
                                                                directory: Directory, scripted: ScriptedModel,
                                                                bearer: Bearer) -> None:
    unit = await start_task(Settings.from_env(task_env(tmp_path, TASK_WORKERS="1")))
    directory.agent(TENANT, "a1")
    gate = scripted.behave("a1", gate=asyncio.Event()).gate
    assert gate is not None
    first = await _create(unit, bearer, agent_id="a1", input="one")
    await asyncio.wait_for(scripted.started.wait(), 5)
    second = await _create(unit, bearer, agent_id="a1", input="two")  # accepted: the agent runs
    directory.stopped.add("a1")  # ... and is stopped before the task's turn comes
    gate.set()
    assert (await _final(unit, bearer, first.task_id)).status == "succeeded"
    failed = await _final(unit, bearer, second.task_id)
    assert failed.status == "failed" and "is not running" in failed.error
    assert [prompt for _, prompt in scripted.calls] == ["one"]


async def test_events_carry_the_tenant(task_unit: TaskUnit, directory: Directory, bearer: Bearer,
                                       bus: MemoryEventBus) -> None:
    directory.agent(TENANT, "a1")
    async with bus.subscribe(["task.*"], tenant_id=TENANT) as events:
        task = await _create(task_unit, bearer, agent_id="a1", input="hello")
        seen = []
        async for event in events:
            seen.append(event)
            if event.type == "task.completed":
                break
    assert seen[0].type == "task.created"
    assert "task.progress" in [e.type for e in seen]
    assert all(e.tenant_id == TENANT and e.subject_id == task.task_id and e.source == "task" for e in seen)
    assert seen[-1].data["output"] == "a1(hello)"
