"""The real analytics unit beside the real auth unit, and people to track commits.

Alice and Bob sign in to tenants of their own; Carol is a member of Alice's
tenant; Ada is a platform admin who switched to Alice's tenant (so she sees
its commits); Otto is an admin in a tenant of his own. `commit_hash(n)` gives
distinct valid hashes; `at(...)` gives a Timestamp for a UTC date and time.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
from agentmesh.v1 import analytics_pb2, analytics_pb2_grpc, auth_pb2, auth_pb2_grpc
from google.protobuf import timestamp_pb2

from services.analytics.wiring import SPEC as ANALYTICS
from services.common.bootstrap import RunningUnit, start
from services.common.settings import Settings
from tests.agent.conftest import env_for, fails, violations  # noqa: F401  (helpers for the tests)
from tests.auth.conftest import (  # noqa: F401  (fixtures)
    Account,
    auth_channel,
    auth_unit,
    quick_throttle,
    signed_in,
    stack,
)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env(env_for(tmp_path, AGENTMESH_SUPERVISED="1"))


def commit_hash(n: int | str) -> str:
    return hashlib.sha1(str(n).encode()).hexdigest()


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(datetime(year, month, day, hour, minute, second, tzinfo=UTC))
    return stamp


def stamp_of(seconds: float) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp


@dataclass
class Analytics:
    settings: Settings
    unit: RunningUnit
    channel: grpc.aio.Channel
    own: AsyncExitStack

    @property
    def commits(self) -> analytics_pb2_grpc.CommitServiceStub:
        return analytics_pb2_grpc.CommitServiceStub(self.channel)

    @property
    def behavior(self) -> analytics_pb2_grpc.BehaviorAnalyticsServiceStub:
        return analytics_pb2_grpc.BehaviorAnalyticsServiceStub(self.channel)

    async def track(self, who: Account, n: int | str, **fields: Any) -> analytics_pb2.Commit:
        fields.setdefault("commit_hash", commit_hash(n))
        reply = await self.commits.TrackCommit(analytics_pb2.TrackCommitRequest(**fields), metadata=who.metadata)
        return reply.commit

    async def listed(self, who: Account, **fields: Any) -> analytics_pb2.ListCommitsResponse:
        reply: analytics_pb2.ListCommitsResponse = await self.commits.ListCommits(
            analytics_pb2.ListCommitsRequest(**fields), metadata=who.metadata)
        return reply

    async def patterns(self, who: Account, within: float = 10.0, **fields: Any
                       ) -> analytics_pb2.GetBehaviorPatternsResponse:
        """The patterns once an analysis has finished."""
        async with asyncio.timeout(within):
            while True:
                reply: analytics_pb2.GetBehaviorPatternsResponse = await self.behavior.GetBehaviorPatterns(
                    analytics_pb2.GetBehaviorPatternsRequest(**fields), metadata=who.metadata)
                if reply.HasField("analyzed_at"):
                    return reply
                await asyncio.sleep(0.02)

    async def restart(self) -> None:
        """Stop the unit cleanly and start it again on the same database."""
        await self.own.aclose()
        self.own = AsyncExitStack()
        self.unit = await start(ANALYTICS, self.settings, self.own, port=self.settings.ports["analytics"],
                                metrics_port=0)


@pytest.fixture
async def analytics(auth_unit: RunningUnit, settings: Settings,  # noqa: F811
                    stack: AsyncExitStack) -> AsyncIterator[Analytics]:  # noqa: F811
    own = AsyncExitStack()
    unit = await start(ANALYTICS, settings, own, port=settings.ports["analytics"], metrics_port=0)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{settings.ports['analytics']}") as channel:
        running = Analytics(settings, unit, channel, own)
        try:
            yield running
        finally:
            await running.own.aclose()


@dataclass(frozen=True)
class People:
    alice: Account
    bob: Account
    carol: Account
    ada: Account
    otto: Account


async def _join(channel: grpc.aio.Channel, owner: Account, who: Account) -> Account:
    orgs = auth_pb2_grpc.OrganizationServiceStub(channel)
    await orgs.AddMember(auth_pb2.AddMemberRequest(organization_id=owner.tenant_id, user_id=who.user_id),
                         metadata=owner.metadata)
    switched = await orgs.SwitchOrganization(auth_pb2.SwitchOrganizationRequest(organization_id=owner.tenant_id),
                                             metadata=who.metadata)
    return Account(who.user_id, owner.tenant_id, switched.access_token, switched.refresh_token, who.username,
                   who.email)


@pytest.fixture
async def people(auth_channel: grpc.aio.Channel) -> People:  # noqa: F811
    alice, bob, carol = await signed_in(auth_channel), await signed_in(auth_channel), await signed_in(auth_channel)
    ada = await signed_in(auth_channel, role="admin")
    otto = await signed_in(auth_channel, role="admin")
    carol = await _join(auth_channel, alice, carol)
    ada = await _join(auth_channel, alice, ada)
    assert len({alice.tenant_id, bob.tenant_id, otto.tenant_id}) == 3
    return People(alice, bob, carol, ada, otto)
