"""Two persona-unit replicas on one PostgreSQL database: a replica that starts leaves its peer's running
executions alone, a crashed one's are taken over once its lease lapses and finish once, a clean stop gives back
only the replica's own, and a stop recorded through one replica reaches the worker on the other.

Both replicas are real units in this process (the real auth, admin and speech units beside them), each with
its own connection pool on the one database; SQLite is one process's embedded database, so the replicas
share a PostgreSQL schema whatever `--database` says. The fake OpenAI server holds an answer back
(`Failure(delay=...)`) to keep an execution running. A crash is what a killed process leaves: a lease nobody
renews and workers gone without giving their executions back.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import pytest
from agentmesh.v1 import persona_pb2, persona_pb2_grpc

from services.admin.wiring import SPEC as ADMIN
from services.common.bootstrap import Resources, RunningUnit, UnitSpec, open_database, start
from services.common.settings import Settings
from services.common.storage import Database
from services.persona.executor import Executor
from services.persona.instances import Instances
from services.persona.wiring import SPEC as PERSONA
from services.speech.wiring import SPEC as SPEECH
from tests.auth.conftest import Account
from tests.persona.conftest import People, env_for
from tests.speech.openai_server import Failure, FakeOpenAi, answer_for
from tests.waiting import until

TTL = 1.0  # seconds a replica's lease outlives its last renewal (renewed every TTL / 5)
HOLD = Failure(delay=30)  # an answer held back longer than any of these tests


@pytest.fixture
async def schema_prefix(postgres_url: str) -> AsyncIterator[str]:
    """The test's own schemas (a server given by URL outlives the run), dropped at the end."""
    prefix = f"persona_replicas_{uuid.uuid4().hex[:8]}_"
    yield prefix
    conn = await asyncpg.connect(postgres_url)
    try:
        for row in await conn.fetch("SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1)", prefix):
            await conn.execute(f'DROP SCHEMA "{row["nspname"]}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture
async def stack(schema_prefix: str) -> AsyncIterator[AsyncExitStack]:
    """The units of the test, all stopped before their schemas are dropped."""
    async with AsyncExitStack() as units:
        yield units


@pytest.fixture
def settings(tmp_path: Path, openai_server: FakeOpenAi, postgres_url: str, schema_prefix: str) -> Settings:
    return Settings.from_env(env_for(tmp_path, OPENAI_BASE_URL=openai_server.base_url,
                                     OPENAI_API_KEY="sk-test-0123456789abcdefghijklmn", LLM_CACHE_TTL="0",
                                     AGENTMESH_SUPERVISED="1", DATABASE_URL=postgres_url,
                                     DATABASE_SCHEMA_PREFIX=schema_prefix, AGENTMESH_LEASE_TTL=str(TTL),
                                     PERSONA_WORKERS="1"))


@dataclass
class Replica:
    unit: RunningUnit
    servicer: Instances
    channel: grpc.aio.Channel
    stack: AsyncExitStack

    @property
    def executor(self) -> Executor:
        return self.servicer.executor

    @property
    def runner_id(self) -> str:
        return self.executor.lease.runner_id

    @property
    def instances(self) -> persona_pb2_grpc.PersonaInstanceServiceStub:
        return persona_pb2_grpc.PersonaInstanceServiceStub(self.channel)

    def working(self, execution_id: str) -> bool:
        """Whether this replica has a worker on the execution."""
        return execution_id in self.executor._running

    def crash(self) -> None:
        renewing = self.executor.lease._loop
        assert renewing is not None
        renewing.cancel()
        for worker in list(self.executor._running.values()):
            worker.task.cancel()

    async def execute(self, who: Account, instance_id: str, text: str) -> persona_pb2.Execution:
        reply = await self.instances.ExecuteInstance(
            persona_pb2.ExecuteInstanceRequest(instance_id=instance_id, input=text), metadata=who.metadata)
        return reply.execution

    async def stop_instance(self, who: Account, instance_id: str, reason: str) -> persona_pb2.PersonaInstance:
        reply = await self.instances.StopInstance(persona_pb2.StopInstanceRequest(instance_id=instance_id,
                                                                                  reason=reason),
                                                  metadata=who.metadata)
        return reply.instance


@dataclass
class Replicas:
    settings: Settings
    own: AsyncExitStack
    db: Database  # the database the replicas share, as the tests read it

    async def start(self) -> Replica:
        """A persona replica on a port of its own, through the unit's real wiring."""
        built: dict[str, object] = {}

        async def build(resources: Resources) -> Mapping[str, object]:
            built.update(await PERSONA.build(resources))
            return built

        stack = AsyncExitStack()
        self.own.push_async_callback(stack.aclose)
        unit = await start(UnitSpec(name="persona", build=build, migrations=PERSONA.migrations), self.settings,
                           stack, port=0, metrics_port=0)
        channel = await stack.enter_async_context(grpc.aio.insecure_channel(f"127.0.0.1:{unit.port}"))
        servicer = built["agentmesh.v1.PersonaInstanceService"]
        assert isinstance(servicer, Instances)
        return Replica(unit, servicer, channel, stack)

    async def execution(self, execution_id: str) -> dict[str, Any]:
        """The execution's row, the types of its events and its log lines, as the shared database holds them."""
        row = await self.db.fetch_one("SELECT * FROM executions WHERE execution_id = ?", (execution_id,))
        assert row is not None
        events = await self.db.fetch_all(
            "SELECT type FROM instance_events WHERE execution_id = ? ORDER BY event_id", (execution_id,))
        logs = await self.db.fetch_all(
            "SELECT message FROM instance_logs WHERE execution_id = ? ORDER BY log_id", (execution_id,))
        return {**row, "events": [e["type"] for e in events], "logs": [line["message"] for line in logs]}

    async def instance(self, replica: Replica, admin: Account, who: Account) -> str:
        """A fresh instance of a template that asks the (fake) OpenAI model."""
        templates = persona_pb2_grpc.PersonaTemplateServiceStub(replica.channel)
        template = await templates.CreateTemplate(persona_pb2.CreateTemplateRequest(
            name=f"replicated-{uuid.uuid4().hex[:8]}", provider="openai", model="fake-small", published=True),
            metadata=admin.metadata)
        reply = await replica.instances.CreateInstance(persona_pb2.CreateInstanceRequest(
            template_id=template.template.template_id), metadata=who.metadata)
        return str(reply.instance.instance_id)


@pytest.fixture
async def replicas(auth_unit: RunningUnit, settings: Settings, stack: AsyncExitStack) -> AsyncIterator[Replicas]:
    await start(ADMIN, settings, stack, port=settings.ports["admin"], metrics_port=0)
    await start(SPEECH, settings, stack, port=settings.ports["speech"], metrics_port=0)
    db = await open_database(settings, "persona", PERSONA.migrations)
    try:
        async with AsyncExitStack() as own:
            yield Replicas(settings, own, db)
    finally:
        await db.close()


async def test_a_starting_replica_leaves_a_live_ones_execution_and_takes_over_a_crashed_ones(
    replicas: Replicas, people: People, openai_server: FakeOpenAi
) -> None:
    a = await replicas.start()
    instance_id = await replicas.instance(a, people.admin, people.alice)
    openai_server.fail_next(HOLD)
    execution = await a.execute(people.alice, instance_id, "hold this")
    await until(lambda: (len(openai_server.completions()) == 1), "A calls the model")

    b = await replicas.start()  # its start-up recovery runs while A's worker waits for the model
    await asyncio.sleep(TTL)  # and so do five of its renewals
    row = await replicas.execution(execution.execution_id)
    assert (row["status"], row["attempts"], row["runner_id"]) == ("running", 1, a.runner_id)
    assert a.working(execution.execution_id) and len(openai_server.completions()) == 1

    a.crash()
    crashed = time.monotonic()

    async def final() -> bool:
        return (await replicas.execution(execution.execution_id))["status"] not in ("queued", "running")

    await until(final, "B takes the execution over and finishes it", within=4 * TTL)
    assert time.monotonic() - crashed < 3 * TTL
    row = await replicas.execution(execution.execution_id)
    assert (row["status"], row["attempts"], row["runner_id"]) == ("completed", 2, b.runner_id)
    assert row["output"] == answer_for(openai_server.completions()[-1].body)
    assert row["events"].count("execution.started") == 2 and row["events"].count("execution.completed") == 1
    assert row["logs"].count("interrupted by a restart; queued again") == 1
    assert len(openai_server.completions()) == 2
    got = await b.instances.GetInstance(persona_pb2.GetInstanceRequest(instance_id=instance_id),
                                        metadata=people.alice.metadata)
    assert (got.instance.status, got.instance.current_execution_id) == ("idle", "")


async def test_a_clean_stop_gives_back_only_the_replicas_own_executions(
    replicas: Replicas, people: People, openai_server: FakeOpenAi
) -> None:
    a = await replicas.start()
    first = await replicas.instance(a, people.admin, people.alice)
    second = await replicas.instance(a, people.admin, people.alice)
    openai_server.fail_next(HOLD, HOLD)
    on_a = await a.execute(people.alice, first, "given back")
    await until(lambda: (len(openai_server.completions()) == 1), "A calls the model")
    b = await replicas.start()
    on_b = await b.execute(people.alice, second, "kept")  # A's one worker is busy: B runs it
    await until(lambda: (len(openai_server.completions()) == 2), "B calls the model")
    assert (await replicas.execution(on_b.execution_id))["runner_id"] == b.runner_id

    await a.stack.aclose()
    given_back = await replicas.execution(on_a.execution_id)
    assert (given_back["status"], given_back["attempts"], given_back["runner_id"]) == ("queued", 0, "")
    kept = await replicas.execution(on_b.execution_id)
    assert (kept["status"], kept["attempts"], kept["runner_id"]) == ("running", 1, b.runner_id)
    assert b.working(on_b.execution_id)

    # once B's worker is free, B runs what A gave back
    await b.stop_instance(people.alice, second, "make room")

    async def done() -> bool:
        return (await replicas.execution(on_a.execution_id))["status"] == "completed"

    await until(done, "B runs the execution A gave back", within=4 * TTL)
    row = await replicas.execution(on_a.execution_id)
    assert (row["attempts"], row["runner_id"]) == (1, b.runner_id)
    assert (await replicas.execution(on_b.execution_id))["status"] == "stopped"


async def test_a_stop_through_one_replica_reaches_the_worker_on_the_other(
    replicas: Replicas, people: People, openai_server: FakeOpenAi
) -> None:
    a = await replicas.start()
    b = await replicas.start()
    instance_id = await replicas.instance(a, people.admin, people.alice)
    watch = b.instances.WatchInstance(persona_pb2.WatchInstanceRequest(instance_id=instance_id),
                                      metadata=people.alice.metadata)
    assert (await watch.read()).event.type == "instance.snapshot"
    openai_server.fail_next(HOLD)
    execution = await a.execute(people.alice, instance_id, "stop me elsewhere")
    await until(lambda: (len(openai_server.completions()) == 1), "a replica calls the model")
    # B's watcher sees what A recorded (the queueing, at least) through the database
    frames = [(await asyncio.wait_for(watch.read(), 3)).event.type for _ in range(3)]
    assert frames == ["instance.status.changed", "execution.started", "execution.progress"]

    runner_id = (await replicas.execution(execution.execution_id))["runner_id"]
    holder, other = (a, b) if runner_id == a.runner_id else (b, a)
    assert holder.working(execution.execution_id)
    began = time.monotonic()
    stopped = await other.stop_instance(people.alice, instance_id, "not needed")
    assert stopped.status == "stopped"
    await until(lambda: (not holder.working(execution.execution_id)), "the holder drops its worker",
                 within=2.0)
    assert time.monotonic() - began < 1.0
    frames = [(await asyncio.wait_for(watch.read(), 3)).event.type for _ in range(2)]
    assert frames == ["execution.stopped", "instance.status.changed"]
    watch.cancel()

    await asyncio.sleep(2 * TTL / 5)  # a renewal or two later: the dropped worker wrote nothing more
    row = await replicas.execution(execution.execution_id)
    assert (row["status"], row["error"], row["runner_id"]) == ("stopped", "not needed", holder.runner_id)
    assert row["events"] == ["instance.status.changed", "execution.started", "execution.progress",
                             "execution.stopped", "instance.status.changed"]
    assert len(openai_server.completions()) == 1

