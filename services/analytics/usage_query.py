"""Reading usage records: windows, buckets, dimensions, and the summaries every usage RPC returns.

A window is [start, end) in Unix seconds; buckets are UTC hours, days, weeks
(starting on Monday) or calendar months, computed in SQL. A dimension names
one record column to split by. Usage totals and costs are sums over records
(only model calls carry tokens and cost); performance figures are computed
from the records' latencies and outcomes (latency percentiles by the nearest
rank, over operations that reported a latency).
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from agentmesh.v1 import analytics_pb2, common_pb2

from services.common.authctx import Caller
from services.common.errors import FieldViolation, InvalidArgument, PermissionDenied
from services.common.protoutil import timestamp
from services.common.storage import Database

DAY = 86_400.0
MAX_WINDOW = 400 * DAY
MAX_BUCKETS = 5_000
_DAYS = "CAST(occurred_at / 86400 AS INTEGER)"
BUCKETS: Mapping[str, str] = {
    "minute": "CAST(occurred_at / 60 AS INTEGER) * 60",
    "hour": "CAST(occurred_at / 3600 AS INTEGER) * 3600",
    "day": f"{_DAYS} * 86400",
    # 1970-01-01 was a Thursday: (days + 3) % 7 is the number of days since Monday
    "week": f"({_DAYS} - ({_DAYS} + 3) % 7) * 86400",
    "month": "CAST(strftime('%s', strftime('%Y-%m-01', occurred_at, 'unixepoch')) AS INTEGER)",
}
_SPAN = {"minute": 60.0, "hour": 3600.0, "day": DAY, "week": 7 * DAY, "month": 28 * DAY}
DIMENSIONS: Mapping[str, str] = {
    "agent": "agent_id", "team": "team_id", "workflow": "workflow_id", "user": "user_id", "provider": "provider",
    "model": "model", "unit": "unit", "kind": "kind",
}
SUMMARY_SQL = (
    "COUNT(*) AS request_count, SUM(CASE WHEN kind = 'llm_call' THEN 1 ELSE 0 END) AS llm_call_count,"
    " SUM(CASE WHEN kind = 'task' THEN 1 ELSE 0 END) AS task_count,"
    " SUM(CASE WHEN kind = 'workflow_run' THEN 1 ELSE 0 END) AS workflow_run_count,"
    " SUM(prompt_tokens) AS prompt_tokens,"
    " SUM(completion_tokens) AS completion_tokens, SUM(total_tokens) AS total_tokens, SUM(cost_usd) AS cost_usd,"
    " COUNT(DISTINCT NULLIF(user_id, '')) AS active_users, COUNT(DISTINCT NULLIF(agent_id, '')) AS active_agents"
)


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose records, over which window, with which extra conditions."""

    tenant_id: str
    start: float
    end: float
    conditions: tuple[str, ...] = ()
    params: tuple[Any, ...] = ()

    def where(self, *more: str) -> str:
        return " AND ".join(("tenant_id = ?", "occurred_at >= ?", "occurred_at < ?", *self.conditions, *more))

    def values(self, *more: Any) -> list[Any]:
        return [self.tenant_id, self.start, self.end, *self.params, *more]

    def narrowed(self, column: str, value: str) -> Scope:
        if not value:
            return self
        return Scope(self.tenant_id, self.start, self.end, (*self.conditions, f"{column} = ?"), (*self.params, value))

    def shifted(self, start: float, end: float) -> Scope:
        return Scope(self.tenant_id, start, end, self.conditions, self.params)


def tenant_of(caller: Caller, requested: str) -> str:
    """The tenant a request reads: the caller's, or for admins the one it names."""
    wanted = requested.strip()
    if not wanted or wanted == caller.tenant_id:
        if not caller.tenant_id:
            raise InvalidArgument.field("tenant_id", "name the tenant to read (the caller has none)")
        return caller.tenant_id
    if not caller.is_admin:
        raise PermissionDenied("only admins read another tenant's analytics", reason="TENANT_FORBIDDEN")
    return wanted


def window(request: Any, default_span: float, *, start_default: float | None = None) -> tuple[float, float]:
    """[start, end) from the request's start_time / end_time, with the defaults; INVALID_ARGUMENT when inverted."""
    end = request.end_time.ToNanoseconds() / 1e9 if request.HasField("end_time") else time.time()
    if request.HasField("start_time"):
        start = request.start_time.ToNanoseconds() / 1e9
    else:
        start = start_default if start_default is not None else end - default_span
    return _checked(start, end, "start_time")


def window_of_dates(start_date: str, end_date: str, default_span: float | None) -> tuple[float, float]:
    """[start, end) from ISO 8601 dates or date-times (a date alone: its whole day for the end)."""
    end = _parse(end_date, "end_date", whole_day=True) if end_date.strip() else time.time()
    if start_date.strip():
        start = _parse(start_date, "start_date", whole_day=False)
    else:
        start = end - default_span if default_span is not None else 0.0
    return _checked(start, end, "start_date")


def _parse(text: str, name: str, *, whole_day: bool) -> float:
    value = text.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
            return moment + DAY if whole_day else moment
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidArgument.field(name, "an ISO 8601 date (2024-07-01) or date-time (2024-07-01T12:00:00Z)") \
            from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def _checked(start: float, end: float, name: str) -> tuple[float, float]:
    if start >= end:
        raise InvalidArgument.field(name, "must come before the end of the window")
    if end - start > MAX_WINDOW and start > 0:
        raise InvalidArgument.field(name, f"windows are at most {int(MAX_WINDOW // DAY)} days")
    return start, end


def granularity(value: str, allowed: Sequence[str], default: str, start: float, end: float) -> str:
    chosen = value.strip().lower() or default
    if chosen not in allowed:
        raise InvalidArgument.field("granularity", f"one of {', '.join(allowed)}")
    if (end - start) / _SPAN[chosen] > MAX_BUCKETS:
        raise InvalidArgument.field("granularity", f"at most {MAX_BUCKETS} buckets; choose a wider one")
    return chosen


def dimension(value: str, allowed: Sequence[str], default: str = "") -> str:
    chosen = value.strip().lower() or default
    if chosen and chosen not in allowed:
        raise InvalidArgument("group_by: unknown dimension",
                              [FieldViolation("group_by", f"one of {', '.join(allowed)}")])
    return chosen


def summary_message(row: Mapping[str, Any] | None) -> analytics_pb2.UsageSummary:
    row = row or {}
    return analytics_pb2.UsageSummary(
        request_count=int(row.get("request_count") or 0), llm_call_count=int(row.get("llm_call_count") or 0),
        task_count=int(row.get("task_count") or 0), workflow_run_count=int(row.get("workflow_run_count") or 0),
        usage=common_pb2.TokenUsage(prompt_tokens=int(row.get("prompt_tokens") or 0),
                                    completion_tokens=int(row.get("completion_tokens") or 0),
                                    total_tokens=int(row.get("total_tokens") or 0)),
        cost_usd=round(float(row.get("cost_usd") or 0.0), 8),
        active_users=int(row.get("active_users") or 0), active_agents=int(row.get("active_agents") or 0),
    )


async def usage_summary(db: Database, scope: Scope) -> analytics_pb2.UsageSummary:
    row = await db.fetch_one(f"SELECT {SUMMARY_SQL} FROM usage_records WHERE {scope.where()}", scope.values())
    return summary_message(row)


async def usage_series(db: Database, scope: Scope, granularity_name: str,
                       group_column: str = "") -> list[analytics_pb2.UsageDataPoint]:
    group = group_column or "''"
    rows = await db.fetch_all(
        f"SELECT {BUCKETS[granularity_name]} AS bucket, {group} AS grp, {SUMMARY_SQL} FROM usage_records"
        f" WHERE {scope.where()} GROUP BY bucket, grp ORDER BY bucket, grp", scope.values())
    return [analytics_pb2.UsageDataPoint(start_time=timestamp(float(r["bucket"])), group=str(r["grp"]),
                                         summary=summary_message(r)) for r in rows]


# ---------------------------------------------------------------------------
# Performance


@dataclass
class _Latencies:
    count: int = 0
    errors: int = 0
    tasks: int = 0
    tasks_ok: int = 0
    latencies: list[float] = field(default_factory=list)
    completion_tokens: int = 0
    model_seconds: float = 0.0


def _nearest_rank(ordered: Sequence[float], share: float) -> float:
    if not ordered:
        return 0.0
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _performance(found: _Latencies, minutes: float) -> analytics_pb2.PerformanceSummary:
    ordered = sorted(found.latencies)
    return analytics_pb2.PerformanceSummary(
        request_count=found.count, error_count=found.errors,
        error_rate=round(found.errors / found.count, 6) if found.count else 0.0,
        task_success_rate=round(found.tasks_ok / found.tasks, 6) if found.tasks else 0.0,
        average_latency_ms=round(sum(ordered) / len(ordered), 3) if ordered else 0.0,
        p50_latency_ms=_nearest_rank(ordered, 0.50), p95_latency_ms=_nearest_rank(ordered, 0.95),
        p99_latency_ms=_nearest_rank(ordered, 0.99),
        throughput_per_minute=round(found.count / minutes, 6) if minutes > 0 else 0.0,
        tokens_per_second=round(found.completion_tokens / found.model_seconds, 3) if found.model_seconds else 0.0,
    )


async def performance(db: Database, scope: Scope, granularity_name: str = "",
                      group_column: str = "") -> tuple[analytics_pb2.PerformanceSummary,
                                                       list[analytics_pb2.PerformanceDataPoint]]:
    """Figures over the window and, with a granularity, per bucket (and group)."""
    bucket = BUCKETS[granularity_name] if granularity_name else "0"
    group = group_column or "''"
    rows = await db.fetch_all(
        f"SELECT {bucket} AS bucket, {group} AS grp, kind, outcome, latency_ms,"
        f" completion_tokens FROM usage_records WHERE {scope.where()}", scope.values())
    whole = _Latencies()
    parts: dict[tuple[float, str], _Latencies] = defaultdict(_Latencies)
    for row in rows:
        targets = (whole, parts[(float(row["bucket"]), str(row["grp"]))]) if granularity_name else (whole,)
        for found in targets:
            found.count += 1
            found.errors += row["outcome"] == "failed"
            if row["kind"] == "task":
                found.tasks += 1
                found.tasks_ok += row["outcome"] == "succeeded"
            if row["latency_ms"] > 0:
                found.latencies.append(float(row["latency_ms"]))
                if row["kind"] == "llm_call" and row["completion_tokens"]:
                    found.completion_tokens += int(row["completion_tokens"])
                    found.model_seconds += row["latency_ms"] / 1000
    minutes = (min(scope.end, time.time()) - scope.start) / 60
    points = []
    if granularity_name:
        span = _SPAN[granularity_name] / 60
        points = [analytics_pb2.PerformanceDataPoint(start_time=timestamp(key[0]), group=key[1],
                                                     summary=_performance(parts[key], span))
                  for key in sorted(parts)]
    return _performance(whole, minutes), points
