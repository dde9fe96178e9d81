"""Two task-unit replicas on one PostgreSQL database: they share the queue, a cancel recorded by one reaches
the worker of the other, watchers see the other's changes, and a replica killed with SIGKILL has its tasks
taken over by the survivor once its lease lapses; no task is lost or run twice at once.

Replica A is its own process (`python -m services.task`, so it can be killed); replica B runs in this
process. The auth, admin, agent and speech units are real and share the database server too.
"""

from __future__ import annotations

import asyncio
import uuid
from contextlib import AsyncExitStack
from pathlib import Path

import grpc
from agentmesh.v1 import task_pb2, task_pb2_grpc

from services.common.bootstrap import open_database, start
from services.common.settings import Settings
from services.task.wiring import SPEC as TASK
from tests.conftest import free_port
from tests.task.e2e.conftest import Mesh, open_mesh
from tests.task.e2e.llm_server import HoldingModelServer
from tests.task.e2e.task_process import TaskProcess
from tests.waiting import until

FINAL = ("succeeded", "failed", "cancelled")


async def _rows(settings: Settings) -> dict[str, dict[str, object]]:
    db = await open_database(settings, "task")
    try:
        rows = await db.fetch_all("SELECT task_id, input, status, attempts, runner_id FROM tasks")
        return {str(r["input"]): r for r in rows}
    finally:
        await db.close()


async def _submit(stub: task_pb2_grpc.TaskServiceStub, metadata: tuple[tuple[str, str], ...], agent_id: str,
                  prompt: str) -> str:
    reply = await stub.CreateTask(task_pb2.CreateTaskRequest(agent_id=agent_id, input=prompt), metadata=metadata,
                                  timeout=5)
    return str(reply.task.task_id)


async def test_two_replicas_share_work_and_survive_a_sigkill(tmp_path: Path, model_server: HoldingModelServer,
                                                             postgres_url: str) -> None:
    replica_a = TaskProcess(tmp_path, model_server.base_url, DATABASE_URL=postgres_url,
                            DATABASE_SCHEMA_PREFIX=f"replicas_{uuid.uuid4().hex[:8]}_", AGENTMESH_LEASE_TTL="1.5")
    settings = replica_a.settings
    try:
        async with AsyncExitStack() as stack:
            mesh: Mesh = await open_mesh(settings, stack, with_task=False)
            await replica_a.start()
            alice = await mesh.account()
            held = await mesh.agent(alice, "held", kind="openai")
            quick = await mesh.agent(alice, "quick")
            on_a = mesh.tasks
            one = await _submit(on_a, alice.metadata, held, "hold: one")
            two = await _submit(on_a, alice.metadata, held, "hold: two")
            await until(lambda: model_server.holding == 2, "replica A's two workers held", 10)

            # Replica B starts while A works: A's tasks are A's (its lease is live), not a crash's leftovers.
            b_port = free_port()
            await start(TASK, settings, stack, port=b_port, metrics_port=0)
            on_b = task_pb2_grpc.TaskServiceStub(
                await stack.enter_async_context(grpc.aio.insecure_channel(f"127.0.0.1:{b_port}")))
            rows = await _rows(settings)
            assert [(rows[p]["status"], rows[p]["attempts"]) for p in ("hold: one", "hold: two")] == \
                [("running", 1), ("running", 1)]
            assert model_server.requests["hold: one"] == 1 and model_server.requests["hold: two"] == 1
            a_runner = rows["hold: one"]["runner_id"]

            # A has no free worker: what it queues, B claims (at its next renewal at the latest).
            quick_ids = [await _submit(on_a, alice.metadata, quick, f"quick {i}") for i in range(6)]

            async def quick_done() -> bool:
                rows = await _rows(settings)
                return all(rows[f"quick {i}"]["status"] == "succeeded" for i in range(6))

            await until(quick_done, "replica B worked what A queued", 10)
            rows = await _rows(settings)
            assert all(rows[f"quick {i}"]["attempts"] == 1 for i in range(6))
            assert model_server.holding == 2  # A still holds both

            # A watcher on A, a cancel through B: A drops the call, and A's watcher sees the cancel.
            events: list[task_pb2.TaskEvent] = []

            async def watch() -> None:
                async for reply in on_a.WatchTask(task_pb2.WatchTaskRequest(task_id=one), metadata=alice.metadata,
                                                  timeout=15):
                    events.append(reply.event)

            watcher = asyncio.create_task(watch())
            await until(lambda: bool(events), "the watcher's first frame", 5)
            cancelled = await on_b.CancelTask(task_pb2.CancelTaskRequest(task_id=one), metadata=alice.metadata)
            assert cancelled.task.status == "cancelled"
            await until(lambda: model_server.abandoned["hold: one"] == 1, "A dropped the cancelled call", 3)
            await asyncio.wait_for(watcher, 5)
            assert events[-1].status == "cancelled"

            # A dies mid-task: once its lease lapses B takes "hold: two" over (its second attempt).
            await replica_a.kill()
            await until(lambda: model_server.requests["hold: two"] == 2, "B took the task over", 10)
            rows = await _rows(settings)
            assert rows["hold: two"]["runner_id"] not in ("", a_runner)
            model_server.release()

            async def all_final() -> bool:
                return all(r["status"] in FINAL for r in (await _rows(settings)).values())

            await until(all_final, "every task final", 10)
            rows = await _rows(settings)
            assert len(rows) == 8  # nothing lost, nothing doubled
            assert (rows["hold: one"]["status"], rows["hold: one"]["attempts"]) == ("cancelled", 1)
            assert (rows["hold: two"]["status"], rows["hold: two"]["attempts"]) == ("succeeded", 2)
            assert model_server.requests["hold: one"] == 1
            reply = await on_b.GetTask(task_pb2.GetTaskRequest(task_id=two), metadata=alice.metadata)
            assert reply.task.output == "model heard: hold: two"
            assert set(quick_ids) <= {t.task_id for t in (await on_b.ListTasks(
                task_pb2.ListTasksRequest(page_size=50), metadata=alice.metadata)).tasks}
    finally:
        await replica_a.close()
