"""The one place that builds the persona unit's store, clients and servicers."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from services.common.bootstrap import Resources, UnitSpec
from services.common.channels import insecure_channel
from services.common.events.publisher import Publisher, publisher_from_settings
from services.common.feeds import Feeds
from services.common.llm import ModelClient, SpeechModel
from services.persona.executor import Executor
from services.persona.instances import Instances
from services.persona.schema import MIGRATIONS
from services.persona.templates import Templates

log = logging.getLogger("agentmesh.persona")


async def build(resources: Resources) -> Mapping[str, object]:
    """Servicers by service full name, with the speech unit as the executions' model."""
    settings, stack = resources.settings, resources.stack
    speech = insecure_channel(settings.address("speech"))
    stack.push_async_callback(speech.close)
    llm = SpeechModel(speech, resources.credentials, timeout=max(settings.llm_timeout, 1.0) + 5.0)
    publisher = publisher_from_settings(settings, resources.credentials)
    stack.push_async_callback(publisher.aclose)
    return await assemble(resources, llm=llm, publisher=publisher)


async def assemble(resources: Resources, *, llm: ModelClient, publisher: Publisher) -> Mapping[str, object]:
    """Everything past the collaborators; tests hand in their own model to run executions alone."""
    settings, db = resources.settings, resources.db
    feeds = Feeds()
    executor = Executor(db, feeds, publisher, llm, workers=settings.persona_workers,
                        default_timeout=settings.llm_timeout)
    interrupted = await executor.recover()
    if interrupted:
        log.info("executions interrupted by a restart settled", extra={"count": interrupted})
    resources.stack.push_async_callback(executor.close)
    resources.on_drain.append(feeds.close)
    return {
        "agentmesh.v1.PersonaTemplateService": Templates(db, publisher),
        "agentmesh.v1.PersonaInstanceService": Instances(db, feeds, executor),
    }


SPEC = UnitSpec(name="persona", build=build, migrations=MIGRATIONS)
