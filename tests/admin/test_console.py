"""The operators' console over gRPC: configuration and its history, the audit trail of every unit, health,
statistics, metrics and system logs, against the real units."""

from __future__ import annotations

import asyncio
import logging
import time

import grpc
from agentmesh.v1 import admin_pb2, auth_pb2, auth_pb2_grpc, speech_pb2, speech_pb2_grpc, task_pb2, task_pb2_grpc
from google.protobuf import field_mask_pb2, struct_pb2

from services.common.trail import forward_logs
from tests.admin.console_mesh import Console, auth_unit, console_fixture, eventually, settings  # noqa: F401
from tests.agent.conftest import Watch, fails, violations
from tests.auth.conftest import auth_channel, quick_throttle, stack  # noqa: F401


def _config(**values: object) -> struct_pb2.Struct:
    config = struct_pb2.Struct()
    config.update({key.replace("__", "."): value for key, value in values.items()})
    return config


async def test_system_config_is_versioned_checked_and_announced(console: Console) -> None:
    admin = console.people["admin"].metadata
    platform = console.platform
    start = await platform.GetSystemConfig(admin_pb2.GetSystemConfigRequest(), metadata=admin)
    assert start.version == 0 and start.config["logs.retention_days"] == 14  # the defaults, nothing set yet
    watch = Watch(console.hub.WatchEvents(admin_pb2.WatchEventsRequest(patterns=["system.config.*"],
                                                                       all_tenants=True), metadata=admin))
    await asyncio.sleep(0.2)

    first = await platform.UpdateSystemConfig(admin_pb2.UpdateSystemConfigRequest(
        config=_config(logs__retention_days=7, support__email="ops@example.com"), reason="shorter logs"),
        metadata=admin)
    assert first.version == 1 and first.updated_by == console.people["admin"].user_id
    assert first.config["logs.retention_days"] == 7 and first.config["support.email"] == "ops@example.com"
    announced = (await watch.next(1))[0]
    assert announced.type == "system.config.updated" and list(announced.data["changed_keys"]) == [
        "logs.retention_days", "support.email"]
    assert "ops@example.com" not in str(announced.data)  # values are never announced

    # A null removes a key (back to its default); keys not sent keep their values.
    removed = struct_pb2.Struct()
    removed.update({"support.email": None})
    second = await platform.UpdateSystemConfig(admin_pb2.UpdateSystemConfigRequest(config=removed),
                                               metadata=admin)
    assert second.version == 2 and "support.email" not in second.config and second.config["logs.retention_days"] == 7
    # The mask names exactly what changes: a named key absent from config goes back to its default.
    masked = await platform.UpdateSystemConfig(admin_pb2.UpdateSystemConfigRequest(
        config=_config(integrations__timeout_seconds=5),
        update_mask=field_mask_pb2.FieldMask(paths=["integrations.timeout_seconds", "logs.retention_days"])),
        metadata=admin)
    assert masked.version == 3 and masked.config["logs.retention_days"] == 14
    assert masked.config["integrations.timeout_seconds"] == 5
    same = await platform.UpdateSystemConfig(admin_pb2.UpdateSystemConfigRequest(
        config=_config(integrations__timeout_seconds=5)), metadata=admin)
    assert same.version == 3  # nothing changed: no new version

    # Optimistic concurrency: a writer that read version 2 is refused.
    stale = await fails(platform.UpdateSystemConfig(admin_pb2.UpdateSystemConfigRequest(
        config=_config(team="ops"), expected_version=2), metadata=admin), grpc.StatusCode.ABORTED)
    assert "version 3" in (stale.details() or "")
    # Bad keys and values: every one named, nothing written.
    bad = await fails(platform.UpdateSystemConfig(admin_pb2.UpdateSystemConfigRequest(config=_config(
        logs__retention_days="a week", integrations__timeout=3, integrations__allow_private_networks="yes",
        BadKey=1)), metadata=admin), grpc.StatusCode.INVALID_ARGUMENT)
    assert set(violations(bad)) == {"config.logs.retention_days", "config.integrations.timeout",
                                    "config.integrations.allow_private_networks", "config.BadKey"}
    assert "integrations.timeout_seconds" in violations(bad)["config.integrations.timeout"]
    await fails(platform.UpdateSystemConfig(admin_pb2.UpdateSystemConfigRequest(config=_config(
        logs__retention_days=0)), metadata=admin), grpc.StatusCode.INVALID_ARGUMENT)
    assert (await platform.GetSystemConfig(admin_pb2.GetSystemConfigRequest(), metadata=admin)).version == 3

    history = await platform.ListConfigHistory(admin_pb2.ListConfigHistoryRequest(), metadata=admin)
    assert [v.version for v in history.versions] == [3, 2, 1] and history.total_size == 3
    assert history.versions[2].reason == "shorter logs" and list(history.versions[1].changed_keys) == ["support.email"]
    assert list(history.versions[0].changed_keys) == ["integrations.timeout_seconds", "logs.retention_days"]
    page = await platform.ListConfigHistory(admin_pb2.ListConfigHistoryRequest(
        page_size=1, filter="version<3", order_by="version asc"), metadata=admin)
    assert [v.version for v in page.versions] == [1] and page.total_size == 2 and page.next_page_token
    await fails(platform.ListConfigHistory(admin_pb2.ListConfigHistoryRequest(scope="nope"), metadata=admin),
                grpc.StatusCode.INVALID_ARGUMENT)
    # Only admins.
    await fails(platform.GetSystemConfig(admin_pb2.GetSystemConfigRequest(),
                                         metadata=console.people["alice"].metadata), grpc.StatusCode.PERMISSION_DENIED)


async def test_audited_calls_of_every_unit_land_in_the_audit_log(console: Console) -> None:
    admin, alice = console.people["admin"], console.people["alice"]
    users = auth_pb2_grpc.UserAdminServiceStub(console.auth_channel)
    created = await users.AdminCreateUser(auth_pb2.AdminCreateUserRequest(
        username="grace", email="grace@example.com", password="a secret of hers 1", role="user"),
        metadata=admin.metadata)
    await fails(users.AdminDeleteUser(auth_pb2.AdminDeleteUserRequest(user_id=created.user.user_id),
                                      metadata=alice.metadata), grpc.StatusCode.PERMISSION_DENIED)
    await console.platform.UpdateSystemConfig(admin_pb2.UpdateSystemConfigRequest(
        config=_config(team="ops"), reason="who runs it"), metadata=admin.metadata)

    def listed(method: str) -> admin_pb2.ListAuditLogRequest:
        return admin_pb2.ListAuditLogRequest(method=method)

    async def entries(request: admin_pb2.ListAuditLogRequest) -> list[admin_pb2.AuditEntry]:
        return list((await console.platform.ListAuditLog(request, metadata=admin.metadata)).entries)

    made = await eventually(lambda: entries(listed("AdminCreateUser")),
                            lambda found: any(e.resource_id == created.user.user_id for e in found))
    entry = next(e for e in made if e.resource_id == created.user.user_id)
    assert (entry.method, entry.resource_type, entry.outcome, entry.status_code) == (
        "agentmesh.v1.UserAdminService/AdminCreateUser", "user", "succeeded", "OK")
    assert (entry.actor_id, entry.actor_role) == (admin.user_id, "admin") and entry.request_id
    assert entry.request["username"] == "grace" and entry.request["password"] == "[redacted]"
    assert entry.ip_address and entry.time.seconds >= int(time.time()) - 60

    denied = await eventually(lambda: entries(listed("agentmesh.v1.UserAdminService/AdminDeleteUser")), bool)
    assert (denied[0].outcome, denied[0].status_code, denied[0].actor_id) == (
        "denied", "PERMISSION_DENIED", alice.user_id)
    assert denied[0].resource_id == created.user.user_id

    configured = await eventually(lambda: entries(admin_pb2.ListAuditLogRequest(resource_type="config")), bool)
    assert (configured[0].resource_id, configured[0].request["reason"]) == ("system", "who runs it")
    by_alice = await entries(admin_pb2.ListAuditLogRequest(actor_id=alice.user_id))
    assert [e.method.rsplit("/", 1)[1] for e in by_alice] == ["AdminDeleteUser"]
    assert [e.outcome for e in await entries(admin_pb2.ListAuditLogRequest(filter='outcome="denied"'))] == ["denied"]
    newest_first = await entries(admin_pb2.ListAuditLogRequest())
    assert [e.time.ToNanoseconds() for e in newest_first] == sorted(
        (e.time.ToNanoseconds() for e in newest_first), reverse=True)
    await fails(console.platform.ListAuditLog(admin_pb2.ListAuditLogRequest(filter="secret=1"),
                                              metadata=admin.metadata), grpc.StatusCode.INVALID_ARGUMENT)
    await fails(console.platform.ListAuditLog(admin_pb2.ListAuditLogRequest(), metadata=alice.metadata),
                grpc.StatusCode.PERMISSION_DENIED)


async def test_health_tells_running_from_stopped_units(console: Console) -> None:
    admin = console.people["admin"].metadata
    began = time.perf_counter()
    health = await console.platform.GetSystemHealth(admin_pb2.GetSystemHealthRequest(), metadata=admin)
    assert time.perf_counter() - began < 2.5  # every probe at once, one short deadline
    services = health.services
    for name in ("auth", "admin", "agent", "task", "speech", "stt", "tts", "llm", "database", "event_bus"):
        assert services[name].healthy and services[name].status in ("healthy", "degraded"), name
        assert services[name].latency_ms > 0 and services[name].checked_at.seconds, name
    for name in ("persona", "analytics", "gateway"):
        assert not services[name].healthy and services[name].status == "unhealthy", name
        assert services[name].message == "not reachable", name
    assert services["auth"].uptime >= 0 and services["auth"].instances == 1
    assert health.status == "degraded" and not health.maintenance and health.version

    await console.stop("agent")
    status = await console.platform.GetServicesStatus(admin_pb2.GetServicesStatusRequest(), metadata=admin)
    assert not status.services["agent"].healthy and status.services["task"].healthy
    await fails(console.platform.GetSystemHealth(admin_pb2.GetSystemHealthRequest(),
                                                 metadata=console.people["alice"].metadata),
                grpc.StatusCode.PERMISSION_DENIED)


async def test_platform_stats_come_from_the_units_and_the_hub(console: Console) -> None:
    admin, alice = console.people["admin"], console.people["alice"]
    agent_id = await console.agent(alice)
    await console.agent(alice, "idle", running=False)
    async with grpc.aio.insecure_channel(console.settings.address("task")) as channel:
        done = await task_pb2_grpc.TaskServiceStub(channel).CreateTask(
            task_pb2.CreateTaskRequest(agent_id=agent_id, input="hello", wait=True), metadata=alice.metadata)
    assert done.task.status == "succeeded"
    async with grpc.aio.insecure_channel(console.settings.address("speech")) as channel:
        await speech_pb2_grpc.ChatServiceStub(channel).Chat(speech_pb2.ChatRequest(content="hi there"),
                                                            metadata=alice.metadata)

    async def stats() -> admin_pb2.GetPlatformStatsResponse:
        return await console.platform.GetPlatformStats(admin_pb2.GetPlatformStatsRequest(), metadata=admin.metadata)

    figures = await eventually(stats, lambda s: s.total_tasks == 1 and s.usage_last_24h.total_tokens > 0)
    everyone = (await auth_pb2_grpc.UserAdminServiceStub(console.auth_channel).AdminListUsers(
        auth_pb2.AdminListUsersRequest(page_size=100), metadata=admin.metadata)).users
    signed_in_lately = [u for u in everyone if u.HasField("last_login_at")]
    assert 0 < len(signed_in_lately) < len(everyone)  # registering is not signing in
    assert (figures.total_users, figures.active_users) == (len(everyone), len(signed_in_lately))
    assert figures.total_tenants == len({u.tenant_id for u in everyone if u.tenant_id})
    assert (figures.total_agents, figures.running_agents) == (2, 1)
    assert (figures.active_tasks, figures.tasks_last_24h, figures.total_workflows) == (0, 1, 0)
    assert figures.total_conversations == 1 and figures.total_persona_instances == 0
    assert figures.generated_at.seconds

    await console.stop("speech")
    down = await fails(stats(), grpc.StatusCode.UNAVAILABLE)
    assert "speech" in (down.details() or "")


async def test_system_metrics_are_measured(console: Console) -> None:
    admin = console.people["admin"].metadata
    await console.platform.GetSystemMetrics(admin_pb2.GetSystemMetricsRequest(), metadata=admin)
    users = auth_pb2_grpc.UserAdminServiceStub(console.auth_channel)
    for _ in range(5):
        await users.AdminGetUserStats(auth_pb2.AdminGetUserStatsRequest(), metadata=admin)
    await console.platform.UpdateSystemConfig(admin_pb2.UpdateSystemConfigRequest(config=_config(team="ops")),
                                              metadata=admin)  # an event, and its audit record, on the hub
    await asyncio.sleep(0.6)
    metrics = await console.platform.GetSystemMetrics(admin_pb2.GetSystemMetricsRequest(), metadata=admin)
    auth = metrics.units["auth"]
    assert auth.requests_per_minute > 0 and auth.memory_bytes > 0 and auth.average_latency_ms > 0
    assert auth.p95_latency_ms > 0 and auth.error_rate == 0
    assert metrics.units["persona"] == admin_pb2.UnitMetrics()  # not running: nothing measured
    assert 0 < metrics.memory_percent < 100 and metrics.memory_used_bytes > 0 and 0 < metrics.disk_percent <= 100
    assert metrics.events_per_minute > 0
    assert metrics.collected_at.seconds


async def test_system_logs_are_collected_from_the_units(console: Console) -> None:
    admin = console.people["admin"].metadata
    trail = console.units["task"].trail
    assert trail is not None
    with forward_logs(trail):
        logging.getLogger("agentmesh.task.test").warning("disk nearly full", extra={"free_mb": 12})
        logging.getLogger("agentmesh.task.test").info("not forwarded")
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logging.getLogger("agentmesh.task.test").exception("runner crashed")

    async def logs(**fields: object) -> admin_pb2.ListSystemLogsResponse:
        return await console.platform.ListSystemLogs(admin_pb2.ListSystemLogsRequest(**fields), metadata=admin)

    found = await eventually(lambda: logs(unit="task"), lambda r: r.total_size >= 2)
    assert [e.message for e in found.entries][:2] == ["runner crashed", "disk nearly full"]
    crashed, warned = found.entries[0], found.entries[1]
    assert (crashed.level, crashed.subject_id, crashed.fields["logger"]) == ("error", "task", "agentmesh.task.test")
    assert "RuntimeError: boom" in crashed.fields["exception"] and warned.fields["free_mb"] == 12
    assert [e.message for e in (await logs(level="error", unit="task")).entries] == ["runner crashed"]
    assert [e.message for e in (await logs(search="DISK")).entries] == ["disk nearly full"]
    assert (await logs(filter='logger="agentmesh.task.test" AND message:"full"')).total_size == 1
    for bad in ({"level": "loud"}, {"unit": "kitchen"}, {"filter": "colour=red"}):
        err = await fails(logs(**bad), grpc.StatusCode.INVALID_ARGUMENT)
        assert set(violations(err)) == {next(iter(bad))}
