"""Tasks and workflows end to end: the real auth, agent, speech, admin and task units together."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from agentmesh.v1 import admin_pb2, agent_pb2, task_pb2

from tests.task.e2e.conftest import Mesh
from tests.task.e2e.llm_server import HoldingModelServer


async def test_a_task_runs_through_the_agent_and_speech_units(mesh: Mesh) -> None:
    alice = await mesh.account()
    agent_id = await mesh.agent(alice, "helper", system_prompt="be brief")
    reply = await mesh.tasks.CreateTask(task_pb2.CreateTaskRequest(agent_id=agent_id, input="hello there", wait=True),
                                        metadata=alice.metadata, timeout=15)
    task = reply.task
    assert (task.status, task.output, task.error) == ("succeeded", "echo: hello there", "")
    assert task.usage.completion_tokens == 3 and task.usage.prompt_tokens == 4  # system prompt + prompt words
    assert (task.tenant_id, task.owner_id) == (alice.tenant_id, alice.user_id)


async def _final(mesh: Mesh, metadata: list[tuple[str, str]], task_id: str, within: float = 10) -> task_pb2.Task:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        task = (await mesh.tasks.GetTask(task_pb2.GetTaskRequest(task_id=task_id), metadata=metadata)).task
        if task.status in ("succeeded", "failed", "cancelled"):
            return task
        assert asyncio.get_running_loop().time() < deadline, f"task {task_id} still {task.status}"
        await asyncio.sleep(0.05)


async def test_a_sequential_team_chains_its_members(mesh: Mesh) -> None:
    alice = await mesh.account()
    members = [await mesh.agent(alice, f"m{i}") for i in range(3)]
    team = (await mesh.teams.CreateTeam(agent_pb2.CreateTeamRequest(name="chain", strategy="sequential",
                                                                    agent_ids=members),
                                        metadata=alice.metadata)).team
    task = (await mesh.tasks.CreateTask(task_pb2.CreateTaskRequest(team_id=team.team_id, input="hi", wait=True),
                                        metadata=alice.metadata, timeout=15)).task
    assert (task.status, task.output) == ("succeeded", "echo: echo: echo: hi")
    assert task.usage.total_tokens == (1 + 2) + (2 + 3) + (3 + 4)
    rr = (await mesh.teams.CreateTeam(agent_pb2.CreateTeamRequest(name="turns", strategy="round_robin",
                                                                  agent_ids=members[:2]),
                                      metadata=alice.metadata)).team
    outputs = []
    for i in range(2):
        done = (await mesh.tasks.CreateTask(task_pb2.CreateTaskRequest(team_id=rr.team_id, input=f"q{i}", wait=True),
                                            metadata=alice.metadata, timeout=15)).task
        logs = await mesh.tasks.ListTaskLogs(task_pb2.ListTaskLogsRequest(task_id=done.task_id),
                                             metadata=alice.metadata)
        outputs.append(next(e.fields["agent_id"] for e in logs.entries if e.message.endswith("answered")))
    assert outputs == members[:2]


async def test_a_workflow_of_three_steps_and_a_failing_branch(mesh: Mesh) -> None:
    alice = await mesh.account()
    agent_id = await mesh.agent(alice, "writer")

    def step(step_id: str, template: str, *depends_on: str) -> task_pb2.WorkflowStep:
        return task_pb2.WorkflowStep(step_id=step_id, agent_id=agent_id, prompt_template=template,
                                     depends_on=list(depends_on))

    steps = [step("one", "{{input.topic}}"), step("two", "more {{steps.one.output}}", "one"),
             step("three", "last {{steps.two.output}}", "two"),
             step("empty", "{{input.nothing}}", "one"), step("after-empty", "x", "empty")]
    workflow = (await mesh.workflows.CreateWorkflow(task_pb2.CreateWorkflowRequest(name="w", steps=steps),
                                                    metadata=alice.metadata)).workflow
    request = task_pb2.ExecuteWorkflowRequest(workflow_id=workflow.workflow_id, async_execution=False)
    request.input_data.update({"topic": "otters", "nothing": ""})
    run = (await mesh.workflows.ExecuteWorkflow(request, metadata=alice.metadata, timeout=20)).run
    by_step = {s.step_id: s for s in run.steps}
    assert by_step["three"].output == "echo: last echo: more echo: otters"
    assert by_step["empty"].status == "failed" and "speech unit" in by_step["empty"].error
    assert by_step["after-empty"].status == "skipped"
    assert run.status == "failed" and dict(run.output) == {"three": "echo: last echo: more echo: otters"}


async def test_tenants_are_kept_apart(mesh: Mesh) -> None:
    alice, bob = await mesh.account(), await mesh.account()
    agent_id = await mesh.agent(alice, "private")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await mesh.tasks.CreateTask(task_pb2.CreateTaskRequest(agent_id=agent_id, input="steal"),
                                    metadata=bob.metadata)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    task = (await mesh.tasks.CreateTask(task_pb2.CreateTaskRequest(agent_id=agent_id, input="mine", wait=True),
                                        metadata=alice.metadata, timeout=15)).task
    for call in (mesh.tasks.GetTask(task_pb2.GetTaskRequest(task_id=task.task_id), metadata=bob.metadata),
                 mesh.tasks.CancelTask(task_pb2.CancelTaskRequest(task_id=task.task_id), metadata=bob.metadata)):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await call
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await mesh.workflows.CreateWorkflow(task_pb2.CreateWorkflowRequest(
            name="w", steps=[task_pb2.WorkflowStep(step_id="s", agent_id=agent_id)]), metadata=bob.metadata)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_task_events_reach_the_tenant_through_the_hub(mesh: Mesh) -> None:
    alice, bob = await mesh.account(), await mesh.account()
    agent_id = await mesh.agent(alice, "announcer")
    mine = mesh.hub.WatchEvents(admin_pb2.WatchEventsRequest(patterns=["task.*"]), metadata=alice.metadata)
    theirs = mesh.hub.WatchEvents(admin_pb2.WatchEventsRequest(patterns=["task.*"]), metadata=bob.metadata)
    await asyncio.sleep(0.3)
    task = (await mesh.tasks.CreateTask(task_pb2.CreateTaskRequest(agent_id=agent_id, input="news", wait=True),
                                        metadata=alice.metadata, timeout=15)).task
    kinds = []
    while not kinds or kinds[-1] != "task.completed":
        event = (await asyncio.wait_for(mine.read(), 5)).event
        assert (event.tenant_id, event.subject_id, event.source) == (alice.tenant_id, task.task_id, "task")
        kinds.append(event.type)
    assert kinds[0] == "task.created" and "task.progress" in kinds
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(theirs.read(), 0.5)
    mine.cancel()
    theirs.cancel()


async def test_each_tasks_events_reach_the_hub_in_the_order_they_happened(mesh: Mesh) -> None:
    """Tasks submitted together announce created, progress and completed within moments of each other, and
    the hub serves its calls concurrently: still, each task's events arrive in order."""
    alice = await mesh.account()
    agent_id = await mesh.agent(alice, "busy")
    watch = mesh.hub.WatchEvents(admin_pb2.WatchEventsRequest(patterns=["task.*"]), metadata=alice.metadata)
    await asyncio.sleep(0.3)
    replies = await asyncio.gather(*(
        mesh.tasks.CreateTask(task_pb2.CreateTaskRequest(agent_id=agent_id, input=f"job {i}", wait=True),
                              metadata=alice.metadata, timeout=15) for i in range(12)))
    kinds: dict[str, list[str]] = {}
    while sum(seen[-1:] == ["task.completed"] for seen in kinds.values()) < len(replies):
        event = (await asyncio.wait_for(watch.read(), 5)).event
        kinds.setdefault(event.subject_id, []).append(event.type)
    assert set(kinds) == {r.task.task_id for r in replies}
    assert all(seen == ["task.created", "task.progress", "task.completed"] for seen in kinds.values()), kinds
    watch.cancel()


async def test_cancel_and_timeout_reach_the_model_call(mesh: Mesh, model_server: HoldingModelServer) -> None:
    alice = await mesh.account()
    agent_id = await mesh.agent(alice, "remote", kind="openai", api_key="sk-test-123")
    task = (await mesh.tasks.CreateTask(task_pb2.CreateTaskRequest(agent_id=agent_id, input="hold: cancel me"),
                                        metadata=alice.metadata)).task
    deadline = asyncio.get_running_loop().time() + 5
    while model_server.holding == 0:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.02)
    began = asyncio.get_running_loop().time()
    cancelled = (await mesh.tasks.CancelTask(task_pb2.CancelTaskRequest(task_id=task.task_id),
                                             metadata=alice.metadata)).task
    assert cancelled.status == "cancelled"
    while model_server.abandoned["hold: cancel me"] == 0:
        assert asyncio.get_running_loop().time() - began < 1.0, "the model call was not abandoned within 1 s"
        await asyncio.sleep(0.02)
    timed = (await mesh.tasks.CreateTask(task_pb2.CreateTaskRequest(agent_id=agent_id, input="hold: too long",
                                                                    timeout_seconds=1, wait=True),
                                         metadata=alice.metadata, timeout=10)).task
    assert (timed.status, timed.error) == ("failed", "timeout")
    model_server.release()
    done = (await mesh.tasks.CreateTask(task_pb2.CreateTaskRequest(agent_id=agent_id, input="hold: now free",
                                                                   wait=True), metadata=alice.metadata,
                                        timeout=10)).task
    assert (done.status, done.output) == ("succeeded", "model heard: hold: now free")


async def test_a_stopped_agent_takes_no_more_tasks_once_the_hub_tells_of_it(mesh: Mesh) -> None:
    """The runner keeps the agent unit's answers while the hub's feed of agent changes is live; the stop
    reaches it through that feed, within moments."""
    alice = await mesh.account()
    agent_id = await mesh.agent(alice, "worker")
    await mesh.agents.StartAgent(agent_pb2.StartAgentRequest(agent_id=agent_id), metadata=alice.metadata)
    request = task_pb2.CreateTaskRequest(agent_id=agent_id, input="hi", wait=True)
    for _ in range(3):
        task = (await mesh.tasks.CreateTask(request, metadata=alice.metadata, timeout=15)).task
        assert task.status == "succeeded"
    await mesh.agents.StopAgent(agent_pb2.StopAgentRequest(agent_id=agent_id), metadata=alice.metadata)
    deadline = asyncio.get_running_loop().time() + 2.0
    while True:
        task = (await mesh.tasks.CreateTask(request, metadata=alice.metadata, timeout=15)).task
        if task.status == "failed":
            assert "not running" in task.error
            break
        assert asyncio.get_running_loop().time() < deadline, "the stopped agent still takes tasks"
        await asyncio.sleep(0.01)
