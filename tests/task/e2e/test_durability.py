"""Durability: every acknowledged task reaches a final state across stops and crashes, none runs twice at once.

The agent, speech, auth and admin units are real and stay up; the task unit is
stopped cleanly in process, or run as its own process (`python -m
services.task`) and killed with SIGKILL while tasks run. Held model calls
(prompts starting "hold") keep tasks running at the moment of the stop.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

from agentmesh.v1 import task_pb2

from services.common.bootstrap import open_database
from services.common.settings import Settings
from tests.auth.conftest import Account
from tests.task.e2e.conftest import Mesh, mesh_env, open_mesh
from tests.task.e2e.llm_server import HoldingModelServer
from tests.task.e2e.task_process import TaskProcess
from tests.waiting import until

FINAL = ("succeeded", "failed", "cancelled")


async def _tasks(mesh: Mesh, who: Account) -> dict[str, task_pb2.Task]:
    reply = await mesh.tasks.ListTasks(task_pb2.ListTasksRequest(page_size=500), metadata=who.metadata, timeout=5)
    return {t.task_id: t for t in reply.tasks}


async def _submit(mesh: Mesh, who: Account, agent_id: str, prompts: list[str]) -> list[str]:
    acknowledged = []
    for prompt in prompts:
        reply = await mesh.tasks.CreateTask(task_pb2.CreateTaskRequest(agent_id=agent_id, input=prompt),
                                            metadata=who.metadata, timeout=5)
        assert reply.task.status == "queued"
        acknowledged.append(reply.task.task_id)
    return acknowledged


async def _attempts_started(mesh: Mesh, who: Account, task_id: str) -> int:
    logs = await mesh.tasks.ListTaskLogs(task_pb2.ListTaskLogsRequest(task_id=task_id, page_size=500),
                                         metadata=who.metadata)
    return sum(1 for e in logs.entries if e.message.startswith("attempt ") and e.message.endswith(" started"))


async def test_a_clean_stop_gives_running_tasks_back_to_the_queue(tmp_path: Path,
                                                                  model_server: HoldingModelServer) -> None:
    settings = Settings.from_env(mesh_env(tmp_path, model_server.base_url, TASK_WORKERS="2"))
    async with AsyncExitStack() as stack:
        mesh = await open_mesh(settings, stack, with_task=False)
        first_life = AsyncExitStack()
        await mesh.start_task(first_life)
        alice = await mesh.account()
        held = await mesh.agent(alice, "held", kind="openai")
        quick = await mesh.agent(alice, "quick")
        acknowledged = await _submit(mesh, alice, held, ["hold: a", "hold: b"])
        acknowledged += await _submit(mesh, alice, quick, [f"quick {i}" for i in range(4)])
        await until(lambda: _holding(model_server, 2), "two held calls", 5)
        await first_life.aclose()  # a clean stop while two tasks run and four wait
        tasks = await _read_db_statuses(settings)
        assert sorted(tasks.values()) == ["queued"] * 6
        model_server.release()
        await mesh.start_task()

        async def all_final() -> bool:
            return all(t.status in FINAL for t in (await _tasks(mesh, alice)).values())

        await until(all_final, "every task final after the restart", 15)
        tasks_after = await _tasks(mesh, alice)
        assert set(tasks_after) == set(acknowledged)
        assert {t.status for t in tasks_after.values()} == {"succeeded"}
        assert {t.attempts for t in tasks_after.values()} == {1}  # the interrupted attempt is not counted
        assert model_server.requests["hold: a"] == 2 and model_server.abandoned["hold: a"] == 1


async def _holding(server: HoldingModelServer, count: int) -> bool:
    return server.holding == count


async def _read_db_statuses(settings: Settings) -> dict[str, str]:
    db = await open_database(settings, "task")
    try:
        return {r["task_id"]: r["status"] for r in await db.fetch_all("SELECT task_id, status FROM tasks")}
    finally:
        await db.close()


async def test_sigkill_while_tasks_run_loses_nothing(tmp_path: Path, model_server: HoldingModelServer) -> None:
    unit = TaskProcess(tmp_path, model_server.base_url)
    try:
        async with AsyncExitStack() as stack:
            mesh = await open_mesh(unit.settings, stack, with_task=False)
            await unit.start()
            alice = await mesh.account()
            held = await mesh.agent(alice, "held", kind="openai")
            quick = await mesh.agent(alice, "quick")
            stuck = await _submit(mesh, alice, held, ["hold: one", "hold: two"])
            await until(lambda: _holding(model_server, 2), "two held calls", 10)
            waiting = await _submit(mesh, alice, quick, [f"quick {i}" for i in range(10)])
            await unit.kill()  # both workers busy with held calls, ten tasks queued

            await unit.start()
            # The two interrupted tasks run again (their second and last attempt) and are held again.
            await until(lambda: _twice(model_server), "the interrupted tasks tried again", 10)
            await unit.kill()

            await unit.start()

            async def all_final() -> bool:
                return all(t.status in FINAL for t in (await _tasks(mesh, alice)).values())

            await until(all_final, "every task final", 20)
            tasks = await _tasks(mesh, alice)
            assert set(tasks) == {*stuck, *waiting}  # none lost
            for task_id in stuck:
                task = tasks[task_id]
                assert (task.status, task.error, task.attempts) == ("failed", "interrupted by a restart", 2)
                assert await _attempts_started(mesh, alice, task_id) == 2
            for i, task_id in enumerate(waiting):
                task = tasks[task_id]
                assert (task.status, task.output, task.attempts) == ("succeeded", f"echo: quick {i}", 1)
                assert await _attempts_started(mesh, alice, task_id) == 1  # never started twice
            assert model_server.requests["hold: one"] == 2 and model_server.requests["hold: two"] == 2
    finally:
        await unit.close()


async def _twice(server: HoldingModelServer) -> bool:
    return server.requests["hold: one"] == 2 and server.requests["hold: two"] == 2 and server.holding == 2


async def test_a_workflow_run_survives_a_sigkill(tmp_path: Path, model_server: HoldingModelServer) -> None:
    unit = TaskProcess(tmp_path, model_server.base_url)
    try:
        async with AsyncExitStack() as stack:
            mesh = await open_mesh(unit.settings, stack, with_task=False)
            await unit.start()
            alice = await mesh.account()
            quick = await mesh.agent(alice, "quick")
            held = await mesh.agent(alice, "held", kind="openai")
            steps = [
                task_pb2.WorkflowStep(step_id="first", agent_id=quick, prompt_template="{{input.topic}}"),
                task_pb2.WorkflowStep(step_id="second", agent_id=held, prompt_template="hold {{steps.first.output}}",
                                      depends_on=["first"]),
                task_pb2.WorkflowStep(step_id="third", agent_id=quick, prompt_template="end {{steps.second.output}}",
                                      depends_on=["second"]),
            ]
            workflow = (await mesh.workflows.CreateWorkflow(task_pb2.CreateWorkflowRequest(name="w", steps=steps),
                                                            metadata=alice.metadata)).workflow
            request = task_pb2.ExecuteWorkflowRequest(workflow_id=workflow.workflow_id)
            request.input_data.update({"topic": "durable"})
            run = (await mesh.workflows.ExecuteWorkflow(request, metadata=alice.metadata)).run
            await until(lambda: _holding(model_server, 1), "the second step held", 10)
            await unit.kill()  # the first step done, the second in flight, the third not started
            model_server.release()
            await unit.start()

            async def finished() -> bool:
                got = await mesh.workflows.GetWorkflowRun(task_pb2.GetWorkflowRunRequest(
                    workflow_id=workflow.workflow_id, run_id=run.run_id), metadata=alice.metadata)
                return got.run.status in FINAL

            await until(finished, "the run finished after the restart", 20)
            got = (await mesh.workflows.GetWorkflowRun(task_pb2.GetWorkflowRunRequest(
                workflow_id=workflow.workflow_id, run_id=run.run_id), metadata=alice.metadata)).run
            assert got.status == "succeeded"
            assert [s.status for s in got.steps] == ["succeeded"] * 3
            assert got.steps[2].output == "echo: end model heard: hold echo: durable"
            step_tasks = (await mesh.tasks.ListTasks(task_pb2.ListTasksRequest(workflow_run_id=run.run_id),
                                                     metadata=alice.metadata)).tasks
            assert sorted(t.attempts for t in step_tasks) == [1, 1, 2]  # only the interrupted step ran again
    finally:
        await unit.close()
