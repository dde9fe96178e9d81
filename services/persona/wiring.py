"""The one place that builds the persona unit's store, clients and servicers."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from services.common.bootstrap import Resources, UnitSpec
from services.common.channels import unit_channel
from services.common.events.publisher import Publisher, publisher_from_settings
from services.common.feeds import Feeds
from services.common.leases import Lease
from services.common.llm import ModelClient, SpeechModel
from services.persona.executor import Executor
from services.persona.instances import Instances
from services.persona.schema import MIGRATIONS
from services.persona.templates import Templates

log = logging.getLogger("agentmesh.persona")


async def build(resources: Resources) -> Mapping[str, object]:
    """Servicers by service full name, with the speech unit as the executions' model."""
    settings, stack = resources.settings, resources.stack
    speech = unit_channel(settings, "speech")
    stack.push_async_callback(speech.close)
    llm = SpeechModel(speech, resources.credentials, timeout=max(settings.llm_timeout, 1.0) + 5.0)
    publisher = publisher_from_settings(settings, resources.credentials)
    stack.push_async_callback(publisher.aclose)
    return await assemble(resources, llm=llm, publisher=publisher)


async def assemble(resources: Resources, *, llm: ModelClient, publisher: Publisher) -> Mapping[str, object]:
    """Everything past the collaborators; tests hand in their own model to run executions alone."""
    settings, db = resources.settings, resources.db
    feeds = Feeds()
    lease = Lease(db, "persona", ttl=settings.lease_ttl)
    executor = Executor(db, feeds, publisher, llm, lease, workers=settings.persona_workers,
                        default_timeout=settings.llm_timeout)

    lease.while_shared(feeds.refresh)  # replicas: their events reach this process's watchers through storage
    interrupted = await executor.run(resources.stack)
    if interrupted:
        log.info("executions interrupted by a restart settled", extra={"count": interrupted})
    resources.on_drain.append(feeds.close)
    return {
        "agentmesh.v1.PersonaTemplateService": Templates(db, publisher),
        "agentmesh.v1.PersonaInstanceService": Instances(db, feeds, executor),
    }


SPEC = UnitSpec(name="persona", build=build, migrations=MIGRATIONS)
