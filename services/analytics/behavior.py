"""BehaviorAnalyticsService: patterns, productivity metrics and trends of a user's tracked commits (seed 004's
/api/v1/analytics).

Every figure is computed from the commits stored in the caller's tenant for
one user: the caller, or, for an admin, the user named by `user_id`
(services.analytics.behavior_store). Times are UTC. Metrics cover a window
([start_time, end_time), 30 days up to now by default) with a series bucketed
by day, week or month, empty buckets included; trends compare consecutive
calendar periods ending with the one in progress (so today's commits count),
and always against the period before, even when one period is asked for.
Definitions: services.analytics.behavior_series.

AnalyzeBehavior stores an analysis and answers at once (202, queued); the
runner (services.analytics.behavior_runner) finds its patterns in the
background. One analysis per user and repository scope is open at a time: a
second is FAILED_PRECONDITION naming the first. GetBehaviorPatterns shows the
patterns of the user's latest successful analysis: of that repository when
`repository` is given, else of whatever the latest covered (each pattern
names its repository, empty for all).
"""

from __future__ import annotations

import json
import time
from typing import Any

import grpc
from agentmesh.v1 import analytics_pb2

from services.analytics import behavior_series as series
from services.analytics import behavior_store as store
from services.analytics.behavior_patterns import KINDS
from services.analytics.behavior_runner import AnalysisRunner
from services.analytics.commit_model import REPOSITORY_MAX, clamp32, raise_if, tenant_caller
from services.common.errors import FailedPrecondition, FieldViolation
from services.common.protoutil import new_id, seconds, timestamp
from services.common.storage import Database

METRICS_DEFAULT_DAYS = 30
ANALYSIS_DEFAULT_DAYS = 90
MAX_WINDOW_DAYS = 3660
MAX_POINTS = 1000
DEFAULT_PERIODS = 12
MAX_PERIODS = 104


def _window(request: analytics_pb2.GetProductivityMetricsRequest | analytics_pb2.AnalyzeBehaviorRequest,
            default_days: int, problems: list[FieldViolation]) -> tuple[float, float]:
    """[start, end) of the request; end defaults to now, start to `default_days` before end."""
    end = seconds(request.end_time) if request.HasField("end_time") else time.time()
    start = seconds(request.start_time) if request.HasField("start_time") else end - default_days * series.DAY
    if start < 0:
        problems.append(FieldViolation("start_time", "must not be before 1970-01-01T00:00:00Z"))
    if start >= end:
        problems.append(FieldViolation("start_time", "must be before end_time"))
    elif end - start > MAX_WINDOW_DAYS * series.DAY:
        problems.append(FieldViolation("start_time", f"the window may span at most {MAX_WINDOW_DAYS} days"))
    return start, end


def _repository(value: str, problems: list[FieldViolation]) -> str:
    value = value.strip()
    if len(value) > REPOSITORY_MAX:
        problems.append(FieldViolation("repository", f"at most {REPOSITORY_MAX} characters"))
    return value


def _choice(field: str, value: str, allowed: tuple[str, ...], default: str, problems: list[FieldViolation]) -> str:
    value = value.strip().lower() or default
    if value not in allowed:
        problems.append(FieldViolation(field, f"must be one of {', '.join(allowed)}"))
    return value


class BehaviorAnalytics:
    """agentmesh.v1.BehaviorAnalyticsService."""

    def __init__(self, db: Database, runner: AnalysisRunner) -> None:
        self.db = db
        self.runner = runner

    async def GetBehaviorPatterns(
        self, request: analytics_pb2.GetBehaviorPatternsRequest, context: grpc.aio.ServicerContext
    ) -> analytics_pb2.GetBehaviorPatternsResponse:
        caller = tenant_caller()
        problems: list[FieldViolation] = []
        repository = _repository(request.repository, problems)
        kind = request.kind.strip().lower()
        if kind and kind not in KINDS:
            problems.append(FieldViolation("kind", f"must be one of {', '.join(KINDS)}"))
        if not 0 <= request.min_confidence <= 1:  # NaN fails too
            problems.append(FieldViolation("min_confidence", "must be from 0 to 1"))
        raise_if(problems)
        user = await store.target_user(self.db, caller, request.user_id)
        where, params = "tenant_id = ? AND user_id = ? AND status = 'succeeded'", [caller.tenant_id, user]
        if repository:
            where += " AND repository = ?"
            params.append(repository)
        latest = await self.db.fetch_one(f"SELECT analysis_id, finished_at FROM behavior_analyses WHERE {where}"
                                         " ORDER BY finished_at DESC, created_at DESC LIMIT 1", params)
        if latest is None:
            return analytics_pb2.GetBehaviorPatternsResponse()
        chosen, values = "analysis_id = ? AND confidence >= ?", [latest["analysis_id"], request.min_confidence]
        if kind:
            chosen += " AND kind = ?"
            values.append(kind)
        rows = await self.db.fetch_all(f"SELECT * FROM behavior_patterns WHERE {chosen}"
                                       " ORDER BY confidence DESC, kind ASC", values)
        return analytics_pb2.GetBehaviorPatternsResponse(patterns=[store.pattern_message(r) for r in rows],
                                                         analyzed_at=timestamp(latest["finished_at"]))

    async def GetProductivityMetrics(
        self, request: analytics_pb2.GetProductivityMetricsRequest, context: grpc.aio.ServicerContext
    ) -> analytics_pb2.GetProductivityMetricsResponse:
        caller = tenant_caller()
        problems: list[FieldViolation] = []
        repository = _repository(request.repository, problems)
        start, end = _window(request, METRICS_DEFAULT_DAYS, problems)
        granularity = _choice("granularity", request.granularity, series.GRANULARITIES, "day", problems)
        if not problems and series.count_periods(start, end, granularity) > MAX_POINTS:
            problems.append(FieldViolation("granularity", f"{granularity} gives more than {MAX_POINTS} points over"
                                           " this window; choose a longer one"))
        raise_if(problems)
        scope = store.Scope(caller.tenant_id, await store.target_user(self.db, caller, request.user_id), repository)
        buckets = await store.hour_buckets(self.db, scope, start, end)
        days = await store.active_days(self.db, scope, end)
        figures = series.productivity(buckets, start, end, granularity, days)
        return analytics_pb2.GetProductivityMetricsResponse(
            start_time=timestamp(start),
            end_time=timestamp(end),
            commit_count=clamp32(figures.commit_count),
            active_days=figures.active_days,
            average_commits_per_day=figures.average_commits_per_day,
            average_commit_size=figures.average_commit_size,
            total_additions=clamp32(figures.total_additions),
            total_deletions=clamp32(figures.total_deletions),
            total_files_changed=clamp32(figures.total_files_changed),
            longest_streak_days=figures.longest_streak_days,
            current_streak_days=figures.current_streak_days,
            most_productive_hour=figures.most_productive_hour,
            most_productive_weekday=figures.most_productive_weekday,
            points=[analytics_pb2.ProductivityDataPoint(
                start_time=timestamp(p.start), commit_count=clamp32(p.commits), additions=clamp32(p.additions),
                deletions=clamp32(p.deletions), files_changed=clamp32(p.files_changed)) for p in figures.points],
        )

    async def GetTrends(
        self, request: analytics_pb2.GetTrendsRequest, context: grpc.aio.ServicerContext
    ) -> analytics_pb2.GetTrendsResponse:
        caller = tenant_caller()
        problems: list[FieldViolation] = []
        repository = _repository(request.repository, problems)
        metric = request.metric.strip().lower()
        if metric and metric not in series.METRICS:
            problems.append(FieldViolation("metric", f"must be one of {', '.join(series.METRICS)}"))
        period = _choice("period", request.period, series.PERIODS, "week", problems)
        if not 0 <= request.periods <= MAX_PERIODS:
            problems.append(FieldViolation("periods",
                                           f"must be from 1 to {MAX_PERIODS} (0 or unset: {DEFAULT_PERIODS})"))
        raise_if(problems)
        scope = store.Scope(caller.tenant_id, await store.target_user(self.db, caller, request.user_id), repository)
        # one period more than shown: the latest shown one is always compared with the one before it
        starts = series.previous_periods(time.time(), period, (request.periods or DEFAULT_PERIODS) + 1)
        end = series.next_period(starts[-1], period)
        sums = series.sums_by_period(await store.hour_buckets(self.db, scope, starts[0], end), starts, end)
        trends = []
        for name in (metric,) if metric else series.METRICS:
            figures = series.trend(name, sums)
            trends.append(analytics_pb2.Trend(
                metric=name, period=period, direction=figures.direction, current_value=figures.current_value,
                previous_value=figures.previous_value, change_percent=figures.change_percent, slope=figures.slope,
                points=[analytics_pb2.TrendPoint(start_time=timestamp(s), value=v) for s, v in figures.points]))
        return analytics_pb2.GetTrendsResponse(trends=trends)

    async def AnalyzeBehavior(
        self, request: analytics_pb2.AnalyzeBehaviorRequest, context: grpc.aio.ServicerContext
    ) -> analytics_pb2.AnalyzeBehaviorResponse:
        caller = tenant_caller()
        problems: list[FieldViolation] = []
        repository = _repository(request.repository, problems)
        start, end = _window(request, ANALYSIS_DEFAULT_DAYS, problems)
        kinds: list[str] = []
        for i, raw in enumerate(request.kinds):
            kind = raw.strip().lower()
            if kind not in KINDS:
                problems.append(FieldViolation(f"kinds[{i}]", f"must be one of {', '.join(KINDS)}"))
            elif kind not in kinds:
                kinds.append(kind)
        raise_if(problems)
        user = await store.target_user(self.db, caller, request.user_id)
        scope = store.Scope(caller.tenant_id, user, repository)
        now = time.time()
        analysis_id = new_id("anl")
        row: dict[str, Any] = {
            "analysis_id": analysis_id, "tenant_id": caller.tenant_id, "user_id": user,
            "requested_by": caller.user_id, "repository": repository, "start_time": start, "end_time": end,
            "kinds": json.dumps(kinds), "status": "queued", "commit_count": 0, "created_at": now,
        }
        async with self.db.transaction() as tx:
            open_one = await tx.fetch_one(
                "SELECT analysis_id FROM behavior_analyses WHERE tenant_id = ? AND user_id = ? AND repository = ?"
                " AND status IN ('queued', 'running') LIMIT 1", (caller.tenant_id, user, repository))
            if open_one is not None:
                raise FailedPrecondition(
                    f"analysis {open_one['analysis_id']} of these commits is still running; GetBehaviorPatterns"
                    " shows its patterns once it finishes", reason="ANALYSIS_RUNNING",
                    metadata={"analysis_id": open_one["analysis_id"]})
            where, params = scope.where(start, end)
            counted = await tx.fetch_one(f"SELECT COUNT(*) AS n FROM commits WHERE {where}", params)
            count = int(counted["n"]) if counted else 0
            row["commit_count"] = count
            await tx.execute(f"INSERT INTO behavior_analyses ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
                             list(row.values()))
        self.runner.start(analysis_id)
        return analytics_pb2.AnalyzeBehaviorResponse(analysis_id=analysis_id, status="queued",
                                                     commit_count=clamp32(count), created_at=timestamp(now))

