"""The one place that builds the task unit's store, runner, workflow engine, clients and servicers."""

from __future__ import annotations

from collections.abc import Mapping

from services.common.bootstrap import Resources, UnitSpec
from services.common.channels import unit_channel
from services.common.events.publisher import Publisher, publisher_from_settings
from services.common.feeds import Feeds
from services.common.leases import Lease
from services.common.llm import ModelClient, SpeechModel
from services.task.catalog import WorkflowCatalog
from services.task.engine import WorkflowEngine
from services.task.notices import Notices
from services.task.remote import AgentDirectory
from services.task.runner import TaskRunner
from services.task.schema import MIGRATIONS
from services.task.store import TaskStore
from services.task.tasks import TaskServicer
from services.task.workers import WorkerDirectory
from services.task.workflow_admin import WorkflowAdminServicer
from services.task.workflows import WorkflowServicer


async def build(resources: Resources) -> Mapping[str, object]:
    """Servicers by service full name, with the agent and speech units as the runner's collaborators."""
    settings, stack = resources.settings, resources.stack
    agent_channel = unit_channel(settings, "agent")
    stack.push_async_callback(agent_channel.close)
    speech_channel = unit_channel(settings, "speech")
    stack.push_async_callback(speech_channel.close)
    directory = AgentDirectory(agent_channel, resources.credentials, timeout=settings.service_timeout)
    hub_channel = unit_channel(settings, "admin")
    stack.push_async_callback(hub_channel.close)
    directory.follow(hub_channel)
    stack.push_async_callback(directory.aclose)
    model = SpeechModel(speech_channel, resources.credentials, timeout=max(settings.llm_timeout, 1.0) + 5.0)
    publisher = publisher_from_settings(settings, resources.credentials)
    stack.push_async_callback(publisher.aclose)
    return await assemble(resources, directory=directory, model=model, publisher=publisher)


async def assemble(resources: Resources, *, directory: WorkerDirectory, model: ModelClient,
                   publisher: Publisher) -> Mapping[str, object]:
    """Everything past the collaborators; tests hand in their own to exercise the runner alone."""
    settings, stack, db = resources.settings, resources.stack, resources.db
    feeds = Feeds()
    notices = Notices(feeds, publisher)
    store = TaskStore(db)
    lease = Lease(db, "task", ttl=settings.lease_ttl)
    runner = TaskRunner(store, directory, model, notices, lease, workers=settings.task_workers,
                        default_timeout=settings.task_timeout)
    lease.while_shared(feeds.refresh)  # replicas: their events reach this process's watchers through storage
    engine = WorkflowEngine(db, runner, notices)
    catalog = WorkflowCatalog(db, engine, directory, feeds)

    await engine.start()
    await runner.start()
    stack.push_async_callback(runner.stop)
    stack.push_async_callback(engine.stop)

    async def drain() -> None:
        runner.stop_claiming()
        await feeds.close()

    resources.on_drain.append(drain)
    return {
        "agentmesh.v1.TaskService": TaskServicer(store, runner, directory, feeds),
        "agentmesh.v1.WorkflowService": WorkflowServicer(catalog, engine, directory, feeds),
        "agentmesh.v1.WorkflowAdminService": WorkflowAdminServicer(catalog),
    }


SPEC = UnitSpec(name="task", build=build, migrations=MIGRATIONS)
