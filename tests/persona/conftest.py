"""The real persona unit beside the real auth, admin (event hub) and speech units.

The speech unit answers with the built-in echo provider unless a template
names `openai`, which goes to a local server speaking the OpenAI API (the test
double of an outside system), so tests can see the system prompt and settings
an execution sent, and hold an answer back. Alice and Bob sign in to tenants
of their own; Carol is a member of Alice's tenant; the admin writes templates.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from agentmesh.v1 import auth_pb2, auth_pb2_grpc, persona_pb2, persona_pb2_grpc

from services.admin.wiring import SPEC as ADMIN
from services.common.bootstrap import RunningUnit, start
from services.common.settings import Settings
from services.persona.wiring import SPEC as PERSONA
from services.speech.wiring import SPEC as SPEECH
from tests.agent.conftest import Watch, env_for, fails, violations  # noqa: F401  (helpers for the tests)
from tests.auth.conftest import (  # noqa: F401  (fixtures)
    Account,
    auth_channel,
    auth_unit,
    quick_throttle,
    signed_in,
    stack,
)
from tests.speech.openai_server import FakeOpenAi


@pytest.fixture
def settings(tmp_path: Path, openai_server: FakeOpenAi) -> Settings:
    return Settings.from_env(env_for(tmp_path, OPENAI_BASE_URL=openai_server.base_url,
                                     OPENAI_API_KEY="sk-test-0123456789abcdefghijklmn", LLM_CACHE_TTL="0",
                                     AGENTMESH_SUPERVISED="1"))


@dataclass
class Personas:
    settings: Settings
    unit: RunningUnit
    channel: grpc.aio.Channel
    hub: grpc.aio.Channel
    start_unit: Callable[[], Awaitable[tuple[RunningUnit, AsyncExitStack]]]

    @property
    def templates(self) -> persona_pb2_grpc.PersonaTemplateServiceStub:
        return persona_pb2_grpc.PersonaTemplateServiceStub(self.channel)

    @property
    def instances(self) -> persona_pb2_grpc.PersonaInstanceServiceStub:
        return persona_pb2_grpc.PersonaInstanceServiceStub(self.channel)

    async def template(self, admin: Account, **fields: Any) -> persona_pb2.PersonaTemplate:
        fields.setdefault("name", f"persona-{id(fields)}-{len(fields)}")
        fields.setdefault("published", True)
        reply = await self.templates.CreateTemplate(persona_pb2.CreateTemplateRequest(**fields),
                                                    metadata=admin.metadata)
        return reply.template

    async def instance(self, who: Account, template_id: str, **fields: Any) -> persona_pb2.PersonaInstance:
        reply = await self.instances.CreateInstance(
            persona_pb2.CreateInstanceRequest(template_id=template_id, **fields), metadata=who.metadata)
        return reply.instance

    async def execute(self, who: Account, instance_id: str, text: str, **fields: Any) -> persona_pb2.Execution:
        reply = await self.instances.ExecuteInstance(
            persona_pb2.ExecuteInstanceRequest(instance_id=instance_id, input=text, **fields), metadata=who.metadata)
        return reply.execution

    async def history(self, who: Account, instance_id: str) -> list[persona_pb2.Execution]:
        reply = await self.instances.GetExecutionHistory(
            persona_pb2.GetExecutionHistoryRequest(instance_id=instance_id), metadata=who.metadata)
        return list(reply.executions)

    async def settled(self, who: Account, instance_id: str, within: float = 10.0) -> persona_pb2.Execution:
        """The instance's latest execution once it is final."""
        async with asyncio.timeout(within):
            while True:
                latest = (await self.history(who, instance_id))[0]
                if latest.status not in ("queued", "running"):
                    return latest
                await asyncio.sleep(0.02)


@pytest.fixture
async def personas(auth_unit: RunningUnit, settings: Settings, stack: AsyncExitStack,  # noqa: F811
                   auth_channel: grpc.aio.Channel) -> AsyncIterator[Personas]:  # noqa: F811
    admin = await start(ADMIN, settings, stack, port=settings.ports["admin"], metrics_port=0)
    await start(SPEECH, settings, stack, port=settings.ports["speech"], metrics_port=0)

    async def start_unit() -> tuple[RunningUnit, AsyncExitStack]:
        own = AsyncExitStack()
        unit = await start(PERSONA, settings, own, port=settings.ports["persona"], metrics_port=0)
        return unit, own

    unit, own = await start_unit()
    async with own, grpc.aio.insecure_channel(f"127.0.0.1:{settings.ports['persona']}") as channel, \
            grpc.aio.insecure_channel(f"127.0.0.1:{admin.port}") as hub:
        yield Personas(settings, unit, channel, hub, start_unit)


@dataclass(frozen=True)
class People:
    alice: Account
    bob: Account
    carol: Account
    admin: Account


@pytest.fixture
async def people(auth_channel: grpc.aio.Channel) -> People:  # noqa: F811
    alice = await signed_in(auth_channel)
    bob = await signed_in(auth_channel)
    carol = await signed_in(auth_channel)
    admin = await signed_in(auth_channel, role="admin")
    orgs = auth_pb2_grpc.OrganizationServiceStub(auth_channel)
    await orgs.AddMember(auth_pb2.AddMemberRequest(organization_id=alice.tenant_id, user_id=carol.user_id),
                         metadata=alice.metadata)
    switched = await orgs.SwitchOrganization(auth_pb2.SwitchOrganizationRequest(organization_id=alice.tenant_id),
                                             metadata=carol.metadata)
    carol = Account(carol.user_id, alice.tenant_id, switched.access_token, switched.refresh_token, carol.username,
                    carol.email)
    return People(alice, bob, carol, admin)
