"""Two admin-unit replicas on one PostgreSQL database and one Redis bus: every event is recorded and
delivered once, by the replica whose recorder lease leads, and the other takes over when it stops."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import AsyncExitStack
from pathlib import Path

import grpc
from agentmesh.v1 import admin_pb2, admin_pb2_grpc, common_pb2
from google.protobuf import struct_pb2

from services.admin.wiring import SPEC
from services.common.bootstrap import open_database, start
from services.common.settings import Settings
from services.common.tokens import Keys, TokenIssuer
from tests.admin.test_integrations import Receiver, receiver  # noqa: F401  (fixture)
from tests.conftest import TEST_SECRET, free_port
from tests.redis_server import redis_url  # noqa: F401  (fixture)


def _event(n: int) -> common_pb2.Event:
    event = common_pb2.Event(type="agent.started", tenant_id="tenant-a", subject_id=f"agent-{n}")
    event.data.update({"agent_id": f"agent-{n}"})
    return event


async def _until(read, done, within: float = 10.0):  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await read()
        if done(value):
            return value
        assert asyncio.get_running_loop().time() < deadline, f"still {value!r}"
        await asyncio.sleep(0.05)


async def test_replicas_deliver_each_event_once_and_hand_over(tmp_path: Path, postgres_url: str,
                                                              redis_url: str, receiver: Receiver) -> None:  # noqa: F811
    settings = Settings.from_env({
        "AGENTMESH_DATA_DIR": str(tmp_path / "data"), "JWT_SECRET": TEST_SECRET,
        "AGENTMESH_ADMIN_PORT": str(free_port()), "DATABASE_URL": postgres_url,
        "DATABASE_SCHEMA_PREFIX": f"admins_{uuid.uuid4().hex[:8]}_",
        "REDIS_URL": redis_url.rsplit("/", 1)[0] + "/9", "AGENTMESH_LEASE_TTL": "1",
    })
    issuer = TokenIssuer(Keys.from_settings(settings), settings)

    def bearer(**claims: object) -> list[tuple[str, str]]:
        token, _ = issuer.issue(typ="access", **claims)  # type: ignore[arg-type]
        return [("authorization", f"Bearer {token}")]

    admin, alice = bearer(sub="root", role="admin", tid="platform"), bearer(sub="alice", tid="tenant-a")
    agent_unit = bearer(sub="service:agent", role="service")
    async with AsyncExitStack() as stack:
        first_life = AsyncExitStack()
        await start(SPEC, settings, first_life, port=settings.ports["admin"], metrics_port=0)
        second = await start(SPEC, settings, stack, port=free_port(), metrics_port=0)
        on_first = await stack.enter_async_context(grpc.aio.insecure_channel(settings.address("admin")))
        on_second = await stack.enter_async_context(grpc.aio.insecure_channel(f"127.0.0.1:{second.port}"))

        config = struct_pb2.Struct()
        config.update({"integrations.allow_private_networks": True, "integrations.timeout_seconds": 2})
        await admin_pb2_grpc.PlatformAdminServiceStub(on_first).UpdateSystemConfig(
            admin_pb2.UpdateSystemConfigRequest(config=config, reason="local receivers"), metadata=admin)
        created = (await admin_pb2_grpc.IntegrationServiceStub(on_first).CreateIntegration(
            admin_pb2.CreateIntegrationRequest(kind="webhook", name="ci", url=receiver.url, events=["agent.*"]),
            metadata=alice)).integration
        receiver.secret = created.secret
        await asyncio.sleep(1.5)  # both replicas' routes see the integration (read again after a change)

        hub = admin_pb2_grpc.EventServiceStub(on_second)
        for n in range(5):
            await hub.PublishEvent(admin_pb2.PublishEventRequest(event=_event(n)), metadata=agent_unit)
        await _until(lambda: _got(receiver), lambda got: len(got) >= 5)

        await first_life.aclose()  # the leading replica stops: the other records from where it left off
        for n in range(5, 8):
            await hub.PublishEvent(admin_pb2.PublishEventRequest(event=_event(n)), metadata=agent_unit)
        await _until(lambda: _got(receiver), lambda got: len(got) >= 8)
        await asyncio.sleep(1.0)  # time for a second delivery of anything, were there one

        assert sorted(await _got(receiver)) == [f"agent-{n}" for n in range(8)]  # each event once
        assert all(r.verified for r in receiver.got)
        assert len({r.headers["X-AgentMesh-Delivery"] for r in receiver.got}) == 8
        db = await open_database(settings, "admin")
        try:
            rows = await db.fetch_all("SELECT event_id, status FROM deliveries")
        finally:
            await db.close()
        assert len(rows) == 8 and {r["status"] for r in rows} == {"succeeded"}


async def _got(found: Receiver) -> list[str]:
    return [str(r.body["subject_id"]) for r in found.got]
