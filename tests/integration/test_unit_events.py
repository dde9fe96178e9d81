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
from tests.auth.conftest import ADMIN_KEY, signed_in


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


async def test_account_changes_are_announced(auth_unit: RunningUnit, settings: Settings) -> None:
    async with AsyncExitStack() as stack:
        admin_unit = await start(ADMIN, settings, stack, port=settings.ports["admin"], metrics_port=0)
        hub = admin_pb2_grpc.EventServiceStub(
            await stack.enter_async_context(grpc.aio.insecure_channel(f"127.0.0.1:{admin_unit.port}")))
        auth_channel = await stack.enter_async_context(grpc.aio.insecure_channel(f"127.0.0.1:{auth_unit.port}"))
        alice = await signed_in(auth_channel)
        root = await auth_pb2_grpc.AuthServiceStub(auth_channel).AdminLogin(
            auth_pb2.AdminLoginRequest(api_key=ADMIN_KEY))
        admin = [("authorization", f"Bearer {root.access_token}")]
        everything = hub.WatchEvents(admin_pb2.WatchEventsRequest(patterns=["account.*"], all_tenants=True),
                                     metadata=admin)
        await asyncio.sleep(0.2)
        users = auth_pb2_grpc.UserServiceStub(auth_channel)
        await users.ChangePassword(auth_pb2.ChangePasswordRequest(current_password="correct horse 1",
                                                                  new_password="correct horse 2"),
                                   metadata=alice.metadata)
        await auth_pb2_grpc.UserAdminServiceStub(auth_channel).AdminUpdateUser(
            auth_pb2.AdminUpdateUserRequest(user_id=alice.user_id, status="blocked",
                                            update_mask={"paths": ["status"]}), metadata=admin)
        await auth_pb2_grpc.UserAdminServiceStub(auth_channel).AdminDeleteUser(
            auth_pb2.AdminDeleteUserRequest(user_id=alice.user_id), metadata=admin)
        seen = [(await asyncio.wait_for(everything.read(), 5)).event for _ in range(3)]
        everything.cancel()
    assert [e.type for e in seen] == ["account.password_changed", "account.status.changed", "account.deleted"]
    assert all(e.subject_id == alice.user_id and e.tenant_id == alice.tenant_id for e in seen)
    assert seen[0].user_id == alice.user_id  # only its owner (and admins) see a password change
    assert seen[1].data["status"] == "blocked" and seen[2].data["by"] == "administrator"
