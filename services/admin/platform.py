"""PlatformAdminService: the operators' console.

Statistics (services.admin.platform_stats), health and services' status
(services.admin.monitor), metrics (services.admin.sampler), the versioned
system configuration (services.admin.config_store), system logs
(services.admin.system_logs), the audit trail (services.admin.audit_log), and,
here, the maintenance switch and the broadcast.

The switch is one row in the admin unit's database; changing it publishes
`system.maintenance` (a platform-wide event) and the edge, which polls
GetMaintenanceMode, answers 503 to non-admins while it is on.

Broadcast publishes `system.notification` to everyone (no tenant) or to one
tenant, for the clients connected now (`delivered_count`: the feeds on this
replica it reached). Unless `persist` is false it also stores ONE in-app
notification for that audience (NotificationService; every member sees it and
reads it on their own), and `recipient_count` is the number of active accounts
in the audience as the auth unit counts them, 0 when that count is not
available or nothing was stored.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Protocol

import grpc
from agentmesh.v1 import admin_pb2, common_pb2

from services.admin import activity, audit_log, system_logs
from services.admin.config_store import ConfigDocuments, changes_of, check_scope
from services.admin.hub import OpenFeeds
from services.admin.monitor import VERSION, Monitor, now_stamp, overall, status_message
from services.admin.platform_stats import PlatformStats
from services.admin.sampler import EDGE, MetricsSampler, Rates
from services.common import authctx, trail
from services.common.authctx import Caller
from services.common.errors import InvalidArgument
from services.common.events import EventBus
from services.common.protoutil import seconds, struct, struct_dict, timestamp
from services.common.settings import UNITS
from services.common.storage import Database

MAX_MESSAGE = 500
MAX_BROADCAST = 2000
MAX_TITLE = 200
LEVELS = ("info", "warning", "critical")


def _state(row: dict[str, Any]) -> admin_pb2.MaintenanceMode:
    return admin_pb2.MaintenanceMode(
        enabled=bool(row["enabled"]),
        message=row["message"],
        updated_at=timestamp(row["updated_at"]),
        updated_by=row["updated_by"],
        expected_end_at=timestamp(row["expected_end_at"]),
    )


class BroadcastInbox(Protocol):
    async def broadcast(
        self,
        *,
        caller: Caller,
        tenant_id: str,
        title: str,
        message: str,
        level: str,
        expires_at: float | None,
        data: dict[str, object],
    ) -> int:
        """Store the broadcast as an in-app notification of its audience; return the users it reaches."""
        ...


@dataclass(frozen=True, slots=True)
class Console:
    """What the console's reading and configuration methods work with."""

    configs: ConfigDocuments
    monitor: Monitor
    sampler: MetricsSampler
    stats: PlatformStats
    feeds: OpenFeeds
    internal_feeds: int = 1  # the unit's own subscriptions that receive every event (the recorder)


def _unit_metrics(figures: Rates | None) -> admin_pb2.UnitMetrics:
    if figures is None:
        return admin_pb2.UnitMetrics()
    return admin_pb2.UnitMetrics(
        requests_per_minute=round(figures.requests_per_minute, 3), error_rate=round(figures.error_rate, 4),
        average_latency_ms=round(figures.average_latency_ms, 3), p95_latency_ms=round(figures.p95_latency_ms, 3),
        in_flight=figures.in_flight, cpu_percent=round(figures.cpu_percent, 2), memory_bytes=figures.memory_bytes)


class PlatformAdminServicer:
    def __init__(self, db: Database, bus: EventBus, inbox: BroadcastInbox, console: Console) -> None:
        self.db = db
        self.bus = bus
        self.inbox = inbox
        self.console = console

    async def _probe_timeout(self) -> float:
        return float((await self.console.configs.effective("system"))["monitoring.probe_timeout_seconds"])

    async def GetPlatformStats(self, request: admin_pb2.GetPlatformStatsRequest,
                               context: grpc.aio.ServicerContext) -> Any:
        return await self.console.stats.compute(authctx.current())

    async def _statuses(self) -> dict[str, admin_pb2.ServiceStatus]:
        # Uptimes come from the units' /metrics: read them again at the same time when they are not fresh.
        probes, _ = await asyncio.gather(self.console.monitor.probes(await self._probe_timeout()),
                                         self.console.sampler.refresh())
        checked = now_stamp()
        return {name: status_message(name, probe, self.console.monitor, checked) for name, probe in probes.items()}

    async def GetSystemHealth(self, request: admin_pb2.GetSystemHealthRequest,
                              context: grpc.aio.ServicerContext) -> Any:
        statuses = await self._statuses()
        row = await self.db.fetch_one("SELECT enabled FROM maintenance WHERE id = 1")
        return admin_pb2.GetSystemHealthResponse(
            status=overall(statuses), services=statuses, version=VERSION, uptime=statuses["gateway"].uptime,
            maintenance=bool(row and row["enabled"]), checked_at=now_stamp())

    async def GetServicesStatus(self, request: admin_pb2.GetServicesStatusRequest,
                                context: grpc.aio.ServicerContext) -> Any:
        return admin_pb2.GetServicesStatusResponse(services=await self._statuses())

    async def GetSystemMetrics(self, request: admin_pb2.GetSystemMetricsRequest,
                               context: grpc.aio.ServicerContext) -> Any:
        sampler = self.console.sampler
        await sampler.sample()
        host, edge = sampler.host(), sampler.rates(EDGE)
        units = {unit: sampler.rates(unit) for unit in UNITS}
        speech = units["speech"]
        figures = await activity.figures(self.db)
        return admin_pb2.GetSystemMetricsResponse(
            cpu_percent=host.cpu_percent, memory_percent=host.memory_percent,
            memory_used_bytes=host.memory_used_bytes, disk_percent=host.disk_percent,
            requests_per_minute=round(edge.requests_per_minute, 3) if edge else 0.0,
            error_rate=round(edge.error_rate, 4) if edge else 0.0,
            average_latency_ms=round(edge.average_latency_ms, 3) if edge else 0.0,
            p95_latency_ms=round(edge.p95_latency_ms, 3) if edge else 0.0,
            stream_connections=self.console.feeds.count, task_queue_depth=figures.queued_tasks,
            events_per_minute=round(sum(r.events_per_minute for r in units.values() if r), 3),
            cache_hit_rate=round(speech.cache_hits / speech.cache_lookups, 4) if speech and speech.cache_lookups
            else 0.0,
            units={unit: _unit_metrics(figures) for unit, figures in units.items()},
            collected_at=now_stamp())

    async def GetSystemConfig(self, request: admin_pb2.GetSystemConfigRequest,
                              context: grpc.aio.ServicerContext) -> Any:
        version = await self.console.configs.current("system")
        return admin_pb2.GetSystemConfigResponse(config=struct(version.effective), version=version.version,
                                                 updated_at=timestamp(version.created_at),
                                                 updated_by=version.updated_by)

    async def UpdateSystemConfig(self, request: admin_pb2.UpdateSystemConfigRequest,
                                 context: grpc.aio.ServicerContext) -> Any:
        trail.note(resource_type="config", resource_id="system")
        changes = changes_of("system", struct_dict(request.config), list(request.update_mask.paths))
        version, _ = await self.console.configs.update(
            "system", changes, caller=authctx.current(), reason=request.reason,
            expected_version=request.expected_version if request.HasField("expected_version") else None)
        return admin_pb2.UpdateSystemConfigResponse(config=struct(version.effective), version=version.version,
                                                    updated_at=timestamp(version.created_at),
                                                    updated_by=version.updated_by)

    async def ListConfigHistory(self, request: admin_pb2.ListConfigHistoryRequest,
                                context: grpc.aio.ServicerContext) -> Any:
        scope = check_scope("scope", request.scope)
        versions, total, token = await self.console.configs.history(scope, request)
        return admin_pb2.ListConfigHistoryResponse(
            versions=[admin_pb2.ConfigVersion(scope=v.scope, version=v.version, config=struct(v.config),
                                              changed_keys=v.changed_keys, reason=v.reason, updated_by=v.updated_by,
                                              created_at=timestamp(v.created_at)) for v in versions],
            next_page_token=token, total_size=total)

    async def ListSystemLogs(self, request: admin_pb2.ListSystemLogsRequest,
                             context: grpc.aio.ServicerContext) -> Any:
        rows, total, token = await system_logs.page(self.db, request)
        return admin_pb2.ListSystemLogsResponse(entries=[system_logs.entry_message(r) for r in rows],
                                                next_page_token=token, total_size=total)

    async def ListAuditLog(self, request: admin_pb2.ListAuditLogRequest, context: grpc.aio.ServicerContext) -> Any:
        rows, total, token = await audit_log.page(self.db, request)
        return admin_pb2.ListAuditLogResponse(entries=[audit_log.entry_message(r) for r in rows],
                                              next_page_token=token, total_size=total)

    async def GetMaintenanceMode(
        self, request: admin_pb2.GetMaintenanceModeRequest, context: grpc.aio.ServicerContext
    ) -> Any:
        row = await self.db.fetch_one("SELECT * FROM maintenance WHERE id = 1")
        assert row is not None  # the migration inserts it
        return admin_pb2.GetMaintenanceModeResponse(maintenance=_state(row))

    async def SetMaintenanceMode(
        self, request: admin_pb2.SetMaintenanceModeRequest, context: grpc.aio.ServicerContext
    ) -> Any:
        if len(request.message) > MAX_MESSAGE:
            raise InvalidArgument.field("message", f"at most {MAX_MESSAGE} characters")
        now = time.time()
        end = seconds(request.expected_end_at) if request.HasField("expected_end_at") else None
        if end is not None and end <= now:
            raise InvalidArgument.field("expected_end_at", "must be in the future")
        caller = authctx.current()
        async with self.db.transaction() as tx:
            row = await tx.fetch_one("SELECT * FROM maintenance WHERE id = 1")
            assert row is not None
            enabled = request.enabled if request.HasField("enabled") else not row["enabled"]
            await tx.execute(
                "UPDATE maintenance SET enabled = ?, message = ?, updated_at = ?, updated_by = ?,"
                " expected_end_at = ? WHERE id = 1",
                (int(enabled), request.message if enabled else "", now, caller.user_id, end if enabled else None),
            )
            row = await tx.fetch_one("SELECT * FROM maintenance WHERE id = 1")
        assert row is not None
        state = _state(row)
        event = common_pb2.Event(type="system.maintenance", subject_id="maintenance")
        event.data.update({"enabled": state.enabled, "message": state.message, "updated_by": caller.user_id})
        await self.bus.publish(event)
        return admin_pb2.SetMaintenanceModeResponse(maintenance=state)

    async def Broadcast(self, request: admin_pb2.BroadcastRequest, context: grpc.aio.ServicerContext) -> Any:
        text = request.message.strip()
        if not text or len(request.message) > MAX_BROADCAST:
            raise InvalidArgument.field("message", f"1 to {MAX_BROADCAST} characters")
        if len(request.title) > MAX_TITLE:
            raise InvalidArgument.field("title", f"at most {MAX_TITLE} characters")
        level = request.level or "info"
        if level not in LEVELS:
            raise InvalidArgument.field("level", f"one of {', '.join(LEVELS)}")
        if request.HasField("expires_at") and seconds(request.expires_at) <= time.time():
            raise InvalidArgument.field("expires_at", "must be in the future")
        caller = authctx.current()
        event = common_pb2.Event(type="system.notification", tenant_id=request.tenant_id, subject_id="broadcast")
        event.data.update({"message": text, "title": request.title, "level": level, "from": caller.user_id})
        if request.HasField("expires_at"):
            event.data["expires_at"] = request.expires_at.ToJsonString()
        recipients = 0
        if not request.HasField("persist") or request.persist:
            recipients = await self.inbox.broadcast(
                caller=caller, tenant_id=request.tenant_id, title=request.title.strip(), message=text, level=level,
                expires_at=seconds(request.expires_at) if request.HasField("expires_at") else None,
                data={"expires_at": event.data["expires_at"]} if request.HasField("expires_at") else {},
            )
        # The unit's own follower of the hub (services.admin.recorder) receives everything: it is no client.
        delivered = max(self.bus.audience(event) - self.console.internal_feeds, 0)
        published = await self.bus.publish(event)
        return admin_pb2.BroadcastResponse(
            event_id=published.id, recipient_count=recipients, delivered_count=delivered, sent_at=published.time
        )
