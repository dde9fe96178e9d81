"""The task unit on a free port with in-test collaborators (tests/task/fakes.py), and signed tokens.

Every other unit's port is a free one, so nothing answers there: the unit's
service-token and revocation calls fail fast, which these tests do not need.
Events go to an in-process bus the tests can watch.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from agentmesh.v1 import task_pb2_grpc

from services.common.bootstrap import Resources, RunningUnit, UnitSpec, start
from services.common.events import MemoryEventBus
from services.common.events.publisher import BusPublisher
from services.common.settings import UNITS, Settings
from services.common.tokens import Keys, TokenIssuer
from services.task.schema import MIGRATIONS
from services.task.wiring import assemble
from tests.conftest import TEST_SECRET, free_port
from tests.task.fakes import Directory, ScriptedModel

Metadata = list[tuple[str, str]]


def task_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {"AGENTMESH_DATA_DIR": str(tmp_path / "data"), "JWT_SECRET": TEST_SECRET, "TASK_WORKERS": "4",
           "TASK_TIMEOUT": "30", "AGENTMESH_GRACE_PERIOD": "1"}
    for unit in UNITS:
        env[f"AGENTMESH_{unit.upper()}_PORT"] = str(free_port())
    env.update(extra)
    return env


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env(task_env(tmp_path))


@pytest.fixture
def directory() -> Directory:
    return Directory()


@pytest.fixture
def scripted() -> ScriptedModel:
    return ScriptedModel()


@pytest.fixture
def bus() -> MemoryEventBus:
    return MemoryEventBus(source="task")


def spec_with(directory: Directory, model: ScriptedModel, bus: MemoryEventBus) -> UnitSpec:
    async def build(resources: Resources) -> object:
        publisher = BusPublisher(bus, "task")
        # The bus outlives the unit (a restarted unit publishes on it too): only wait for what is in flight.
        resources.stack.push_async_callback(publisher._finish)
        return await assemble(resources, directory=directory, model=model, publisher=publisher)

    return UnitSpec(name="task", build=build, migrations=MIGRATIONS)  # type: ignore[arg-type]


@dataclass
class TaskUnit:
    unit: RunningUnit
    channel: grpc.aio.Channel
    stack: AsyncExitStack

    @property
    def tasks(self) -> task_pb2_grpc.TaskServiceStub:
        return task_pb2_grpc.TaskServiceStub(self.channel)

    @property
    def workflows(self) -> task_pb2_grpc.WorkflowServiceStub:
        return task_pb2_grpc.WorkflowServiceStub(self.channel)

    @property
    def admin(self) -> task_pb2_grpc.WorkflowAdminServiceStub:
        return task_pb2_grpc.WorkflowAdminServiceStub(self.channel)

    async def stop(self) -> None:
        await self.stack.aclose()


StartTask = Callable[..., Awaitable[TaskUnit]]


@pytest.fixture
async def start_task(directory: Directory, scripted: ScriptedModel, bus: MemoryEventBus
                     ) -> AsyncIterator[StartTask]:
    """Start the task unit (again, for restarts) with the given settings; every one is stopped at the end."""
    started: list[TaskUnit] = []

    async def _start(settings: Settings, model: ScriptedModel | None = None) -> TaskUnit:
        stack = AsyncExitStack()
        unit = await start(spec_with(directory, model or scripted, bus), settings, stack, port=0, metrics_port=0)
        channel = await stack.enter_async_context(grpc.aio.insecure_channel(f"127.0.0.1:{unit.port}"))
        running = TaskUnit(unit, channel, stack)
        started.append(running)
        return running

    yield _start
    for running in reversed(started):
        await running.stack.aclose()


@pytest.fixture
async def task_unit(start_task: StartTask, settings: Settings) -> TaskUnit:
    return await start_task(settings)


Bearer = Callable[..., Metadata]


@pytest.fixture
def bearer(settings: Settings) -> Bearer:
    issuer = TokenIssuer(Keys.from_settings(settings), settings)

    def _bearer(sub: str = "alice", tid: str = "tenant-a", role: str = "user") -> Metadata:
        token, _ = issuer.issue(typ="access", sub=sub, tid=tid, role=role)
        return [("authorization", f"Bearer {token}")]

    return _bearer


async def eventually(predicate: Callable[[], Awaitable[bool]], within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
