"""UsageAnalyticsService: seed 001's /api/v1/analytics usage, performance, costs, dashboard and reports.

Everything is read from usage records (services.analytics.usage_records) of
the caller's tenant (admins may name another). RecordUsage is the units' way
in besides the hub feed: a batch is checked whole and stored in one
transaction; records already stored (same record_id) are counted as
duplicates and change nothing.
"""

from __future__ import annotations

import calendar
import time
from datetime import UTC, datetime
from typing import Any

import grpc
from agentmesh.v1 import analytics_pb2, common_pb2
from google.protobuf import json_format

from services.analytics import reports, usage_records
from services.analytics.usage_query import (
    DAY,
    DIMENSIONS,
    Scope,
    dimension,
    granularity,
    performance,
    tenant_of,
    usage_series,
    usage_summary,
    window,
    window_of_dates,
)
from services.common import authctx
from services.common.errors import InvalidArgument
from services.common.protoutil import timestamp
from services.common.storage import Database

_USAGE_DIMENSIONS = ("agent", "team", "workflow", "user", "provider", "model", "unit", "kind")
_PERFORMANCE_DIMENSIONS = ("agent", "team", "workflow", "provider", "model", "unit", "kind")
_COST_DIMENSIONS = ("provider", "model", "agent", "team", "workflow", "user", "unit")
REPORTS = ("usage", "performance", "costs", "dashboard")
TOP = 5


def _month_start(moment: float) -> float:
    day = datetime.fromtimestamp(moment, UTC)
    return datetime(day.year, day.month, 1, tzinfo=UTC).timestamp()


def _plain(message: Any) -> dict[str, Any]:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


class UsageAnalytics:
    """agentmesh.v1.UsageAnalyticsService."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def _scope(self, request: Any, default_span: float, *, start_default: float | None = None) -> Scope:
        tenant = tenant_of(authctx.current(), request.tenant_id)
        start, end = window(request, default_span, start_default=start_default)
        return Scope(tenant, start, end)

    async def GetUsageMetrics(self, request: analytics_pb2.GetUsageMetricsRequest,
                              context: grpc.aio.ServicerContext) -> Any:
        scope = self._scope(request, 30 * DAY).narrowed("agent_id", request.agent_id.strip()) \
            .narrowed("user_id", request.user_id.strip())
        width = granularity(request.granularity, ("hour", "day", "week", "month"), "day", scope.start, scope.end)
        split = dimension(request.group_by, _USAGE_DIMENSIONS)
        return analytics_pb2.GetUsageMetricsResponse(
            start_time=_stamp(scope.start), end_time=_stamp(scope.end), granularity=width, group_by=split,
            summary=await usage_summary(self.db, scope),
            points=await usage_series(self.db, scope, width, DIMENSIONS.get(split, "")),
        )

    async def GetPerformanceMetrics(self, request: analytics_pb2.GetPerformanceMetricsRequest,
                                    context: grpc.aio.ServicerContext) -> Any:
        scope = self._scope(request, DAY).narrowed("agent_id", request.agent_id.strip())
        if request.kind.strip():
            if request.kind.strip() not in usage_records.KINDS:
                raise InvalidArgument.field("kind", f"one of {', '.join(usage_records.KINDS)}")
            scope = scope.narrowed("kind", request.kind.strip())
        width = granularity(request.granularity, ("minute", "hour", "day", "week"), "hour", scope.start, scope.end)
        split = dimension(request.group_by, _PERFORMANCE_DIMENSIONS)
        summary, points = await performance(self.db, scope, width, DIMENSIONS.get(split, ""))
        return analytics_pb2.GetPerformanceMetricsResponse(
            start_time=_stamp(scope.start), end_time=_stamp(scope.end), granularity=width, group_by=split,
            summary=summary, points=points)

    async def GetCostAnalysis(self, request: analytics_pb2.GetCostAnalysisRequest,
                              context: grpc.aio.ServicerContext) -> Any:
        scope = self._scope(request, 0.0, start_default=_month_start(time.time()))
        width = granularity(request.granularity, ("day", "week", "month"), "day", scope.start, scope.end)
        split = dimension(request.group_by, _COST_DIMENSIONS, "model")
        return await self._costs(scope, width, split)

    async def _costs(self, scope: Scope, width: str, split: str) -> analytics_pb2.GetCostAnalysisResponse:
        column = DIMENSIONS[split]
        total_row = await self.db.fetch_one(
            "SELECT SUM(cost_usd) AS cost, SUM(prompt_tokens) AS p, SUM(completion_tokens) AS c,"
            f" SUM(total_tokens) AS t FROM usage_records WHERE {scope.where()}", scope.values())
        total = float(total_row["cost"] or 0.0) if total_row else 0.0
        rows = await self.db.fetch_all(
            f"SELECT {column} AS grp, SUM(cost_usd) AS cost, SUM(prompt_tokens) AS p, SUM(completion_tokens) AS c,"
            f" SUM(total_tokens) AS t, SUM(CASE WHEN kind = 'llm_call' THEN 1 ELSE 0 END) AS calls FROM usage_records"
            f" WHERE {scope.where('total_tokens > 0 OR cost_usd > 0')} GROUP BY grp ORDER BY cost DESC, grp",
            scope.values())
        breakdown = [analytics_pb2.CostBreakdownItem(
            group=str(r["grp"]), label=str(r["grp"]) or "(none)", cost_usd=round(float(r["cost"] or 0.0), 8),
            share=round(float(r["cost"] or 0.0) / total, 6) if total else 0.0,
            usage=common_pb2.TokenUsage(prompt_tokens=int(r["p"] or 0), completion_tokens=int(r["c"] or 0),
                                        total_tokens=int(r["t"] or 0)),
            llm_call_count=int(r["calls"] or 0)) for r in rows]
        points = [analytics_pb2.CostDataPoint(start_time=p.start_time, cost_usd=p.summary.cost_usd)
                  for p in await usage_series(self.db, scope, width)]
        length = scope.end - scope.start
        before = scope.shifted(scope.start - length, scope.start)
        previous = await self.db.fetch_one(f"SELECT SUM(cost_usd) AS cost FROM usage_records WHERE {before.where()}",
                                           before.values())
        return analytics_pb2.GetCostAnalysisResponse(
            start_time=_stamp(scope.start), end_time=_stamp(scope.end), total_cost_usd=round(total, 8),
            usage=common_pb2.TokenUsage(prompt_tokens=int(total_row["p"] or 0) if total_row else 0,
                                        completion_tokens=int(total_row["c"] or 0) if total_row else 0,
                                        total_tokens=int(total_row["t"] or 0) if total_row else 0),
            group_by=split, breakdown=breakdown, points=points,
            projected_month_cost_usd=round(self._projection(total, scope), 8),
            previous_period_cost_usd=round(float(previous["cost"] or 0.0) if previous else 0.0, 8),
        )

    @staticmethod
    def _projection(total: float, scope: Scope) -> float:
        """The current calendar month's cost at the window's rate (cost per second of window, times the month)."""
        now = time.time()
        elapsed = min(scope.end, now) - scope.start
        if elapsed <= 0:
            return 0.0
        day = datetime.fromtimestamp(now, UTC)
        month = calendar.monthrange(day.year, day.month)[1] * DAY
        return total / elapsed * month

    async def GetAnalyticsDashboard(self, request: analytics_pb2.GetAnalyticsDashboardRequest,
                                    context: grpc.aio.ServicerContext) -> Any:
        tenant = tenant_of(authctx.current(), request.tenant_id)
        start, end = window_of_dates(request.start_date, request.end_date, 7 * DAY)
        return await self._dashboard(Scope(tenant, start, end))

    async def _dashboard(self, scope: Scope) -> analytics_pb2.GetAnalyticsDashboardResponse:
        usage = await usage_summary(self.db, scope)
        summary, _ = await performance(self.db, scope)
        statuses = await self.db.fetch_all(
            f"SELECT outcome, COUNT(*) AS n FROM usage_records WHERE {scope.where('kind = ?')}"
            " GROUP BY outcome", scope.values("task"))
        return analytics_pb2.GetAnalyticsDashboardResponse(
            start_time=_stamp(scope.start), end_time=_stamp(scope.end), usage=usage, performance=summary,
            total_cost_usd=usage.cost_usd, tasks_by_status={r["outcome"]: int(r["n"]) for r in statuses},
            top_agents=await self._top(scope, "agent_id"), top_workflows=await self._top(scope, "workflow_id"),
            top_models=await self._top(scope, "model"), daily=await usage_series(self.db, scope, "day"),
        )

    async def _top(self, scope: Scope, column: str) -> list[analytics_pb2.DashboardEntry]:
        rows = await self.db.fetch_all(
            f"SELECT {column} AS id, COUNT(*) AS n, SUM(cost_usd) AS cost FROM usage_records"
            f" WHERE {scope.where(f'{column} != ?')} GROUP BY id ORDER BY n DESC, cost DESC, id LIMIT ?",
            scope.values("", TOP))
        return [analytics_pb2.DashboardEntry(id=r["id"], name=r["id"], count=int(r["n"]),
                                             cost_usd=round(float(r["cost"] or 0.0), 8)) for r in rows]

    async def ExportAnalyticsReport(self, request: analytics_pb2.ExportAnalyticsReportRequest,
                                    context: grpc.aio.ServicerContext) -> Any:
        kind = reports.report_format(request.format)
        which = request.report.strip().lower() or "usage"
        if which not in REPORTS:
            raise InvalidArgument.field("report", f"one of {', '.join(REPORTS)}")
        scope = self._scope(request, 30 * DAY)
        about: dict[str, Any] = {"report": which, "tenant_id": scope.tenant_id, "start_time": _iso(scope.start),
                 "end_time": _iso(scope.end)}
        rows: list[dict[str, Any]]
        if which == "usage":
            width = granularity(request.granularity, ("hour", "day", "week", "month"), "day", scope.start, scope.end)
            split = dimension(request.group_by, _USAGE_DIMENSIONS)
            rows = [{"start_time": _iso(p.start_time.ToNanoseconds() / 1e9), "group": p.group,
                     **_flat_usage(p.summary)}
                    for p in await usage_series(self.db, scope, width, DIMENSIONS.get(split, ""))]
            about.update(granularity=width, group_by=split)
        elif which == "performance":
            width = granularity(request.granularity, ("minute", "hour", "day", "week"), "hour", scope.start,
                                scope.end)
            split = dimension(request.group_by, _PERFORMANCE_DIMENSIONS)
            _, points = await performance(self.db, scope, width, DIMENSIONS.get(split, ""))
            rows = [{"start_time": _iso(p.start_time.ToNanoseconds() / 1e9), "group": p.group, **_plain(p.summary)}
                    for p in points]
            about.update(granularity=width, group_by=split)
        elif which == "costs":
            width = granularity(request.granularity, ("day", "week", "month"), "day", scope.start, scope.end)
            split = dimension(request.group_by, _COST_DIMENSIONS, "model")
            costs = await self._costs(scope, width, split)
            rows = [{"group": b.group, "cost_usd": b.cost_usd, "share": b.share,
                     "prompt_tokens": b.usage.prompt_tokens, "completion_tokens": b.usage.completion_tokens,
                     "total_tokens": b.usage.total_tokens, "llm_call_count": b.llm_call_count}
                    for b in costs.breakdown]
            about.update(group_by=split, total_cost_usd=costs.total_cost_usd)
        else:
            board = await self._dashboard(scope)
            rows = [{"day": _iso(p.start_time.ToNanoseconds() / 1e9), **_flat_usage(p.summary)} for p in board.daily]
            about.update(summary=_plain(board.usage), performance=_plain(board.performance),
                         tasks_by_status=dict(board.tasks_by_status))
        return analytics_pb2.ExportAnalyticsReportResponse(report=reports.body(kind, rows, about, name="usage-report"))

    async def RecordUsage(self, request: analytics_pb2.RecordUsageRequest,
                          context: grpc.aio.ServicerContext) -> Any:
        rows = usage_records.checked(request.records)
        unique = {row["record_id"]: row for row in rows}
        added = await usage_records.store(self.db, unique.values())
        return analytics_pb2.RecordUsageResponse(recorded_count=added, duplicate_count=len(rows) - added)


def _flat_usage(summary: analytics_pb2.UsageSummary) -> dict[str, Any]:
    return {"request_count": summary.request_count, "llm_call_count": summary.llm_call_count,
            "task_count": summary.task_count, "workflow_run_count": summary.workflow_run_count,
            "prompt_tokens": summary.usage.prompt_tokens, "completion_tokens": summary.usage.completion_tokens,
            "total_tokens": summary.usage.total_tokens, "cost_usd": summary.cost_usd,
            "active_users": summary.active_users, "active_agents": summary.active_agents}


def _stamp(seconds: float) -> Any:
    return timestamp(seconds)


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")
