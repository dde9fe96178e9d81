"""Events a unit publishes reach the hub's watchers across processes' boundaries (here: two units)."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import grpc
from agentmesh.v1 import admin_pb2, admin_pb2_grpc, auth_pb2, auth_pb2_grpc

from services.admin.wiring import SPEC as ADMIN
from services.common.bootstrap import RunningUnit, start
from services.common.settings import Settings
from services.common.tokens import Keys, TokenIssuer


async def test_registration_is_announced_on_the_hub(auth_unit: RunningUnit, settings: Settings) -> None:
    token, _ = TokenIssuer(Keys.from_settings(settings), settings).issue(typ="access", sub="ops", role="admin")
    async with AsyncExitStack() as stack:
        admin = await start(ADMIN, settings, stack, port=settings.ports["admin"], metrics_port=0)
        hub_channel = await stack.enter_async_context(grpc.aio.insecure_channel(f"127.0.0.1:{admin.port}"))
        watch = admin_pb2_grpc.EventServiceStub(hub_channel).WatchEvents(
            admin_pb2.WatchEventsRequest(patterns=["account.*"], all_tenants=True),
            metadata=[("authorization", f"Bearer {token}")],
        )
        await asyncio.sleep(0.2)
        auth_channel = await stack.enter_async_context(grpc.aio.insecure_channel(f"127.0.0.1:{auth_unit.port}"))
        reply = await auth_pb2_grpc.AuthServiceStub(auth_channel).Register(
            auth_pb2.RegisterRequest(email="new@example.com", password="correct horse 1")
        )
        event = (await asyncio.wait_for(watch.read(), 5)).event
        watch.cancel()
    assert (event.type, event.subject_id, event.tenant_id, event.source) == (
        "account.registered", reply.user.user_id, reply.user.tenant_id, "auth",
    )
