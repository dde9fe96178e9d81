"""A tenant's tier follows its plan: billing announces subscription.changed, the auth unit applies it."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import grpc
import jwt
from agentmesh.v1 import analytics_pb2, analytics_pb2_grpc, auth_pb2, auth_pb2_grpc

from services.admin.wiring import SPEC as ADMIN
from services.analytics.wiring import SPEC as ANALYTICS
from services.common.bootstrap import RunningUnit, start
from services.common.settings import Settings
from tests.analytics.conftest import People


async def test_an_upgrade_reaches_the_tenants_tokens(
    auth_unit: RunningUnit, settings: Settings, auth_channel: grpc.aio.Channel, people: People
) -> None:
    async with AsyncExitStack() as stack:
        await start(ADMIN, settings, stack, port=settings.ports["admin"], metrics_port=0)
        unit = await start(ANALYTICS, settings, stack, port=settings.ports["analytics"], metrics_port=0)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{unit.port}") as channel:
            billing = analytics_pb2_grpc.BillingServiceStub(channel)
            await billing.UpdateSubscription(analytics_pb2.UpdateSubscriptionRequest(plan_id="pro-monthly"),
                                             metadata=people.alice.metadata)
            organizations = auth_pb2_grpc.OrganizationServiceStub(auth_channel)
            deadline = asyncio.get_running_loop().time() + 15
            while True:
                found = await organizations.GetOrganization(
                    auth_pb2.GetOrganizationRequest(organization_id=people.alice.tenant_id),
                    metadata=people.alice.metadata)
                if found.organization.tier == "pro":
                    break
                assert asyncio.get_running_loop().time() < deadline, "the tier did not follow the plan"
                await asyncio.sleep(0.05)
            refreshed = await auth_pb2_grpc.AuthServiceStub(auth_channel).RefreshToken(
                auth_pb2.RefreshTokenRequest(refresh_token=people.alice.refresh_token))
            assert jwt.decode(refreshed.access_token, options={"verify_signature": False})["tier"] == "pro"
            other = await organizations.GetOrganization(
                auth_pb2.GetOrganizationRequest(organization_id=people.bob.tenant_id), metadata=people.bob.metadata)
            assert other.organization.tier == "free"

