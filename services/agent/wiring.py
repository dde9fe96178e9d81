"""The one place that builds the agent unit's store, clients and servicers."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from services.agent.agents import Agents
from services.agent.definitions import Definitions
from services.agent.lifecycle import Lifecycle
from services.agent.runtime import Runtime, SpeechLlm
from services.agent.schema import MIGRATIONS
from services.agent.teams import Teams
from services.common.bootstrap import Resources, UnitSpec
from services.common.channels import unit_channel
from services.common.crypto import SecretBox
from services.common.events.publisher import publisher_from_settings

log = logging.getLogger("agentmesh.agent")


async def build(resources: Resources) -> Mapping[str, object]:
    """Servicers by service full name; services not listed answer UNIMPLEMENTED."""
    db, settings = resources.db, resources.settings
    box = SecretBox.from_settings(settings)
    events = publisher_from_settings(settings, resources.credentials)
    resources.stack.push_async_callback(events.aclose)
    speech = unit_channel(settings, "speech")
    resources.stack.push_async_callback(speech.close)
    lifecycle = Lifecycle(db, settings, box, events)
    recovered = await lifecycle.recover()
    if recovered:
        log.info("agents left mid-transition by a restart settled", extra={"count": recovered})
    runtime = Runtime(db, settings, box, resources.credentials, SpeechLlm(speech))
    return {
        "agentmesh.v1.AgentService": Agents(db, box, events, lifecycle, runtime, resources.verifier),
        "agentmesh.v1.TeamService": Teams(db, events),
        "agentmesh.v1.AgentDefinitionService": Definitions(db),
    }


SPEC = UnitSpec(name="agent", build=build, migrations=MIGRATIONS)
