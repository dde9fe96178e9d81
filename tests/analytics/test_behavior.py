"""BehaviorAnalyticsService over gRPC: figures checked against values worked out by hand from known commits."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import grpc
import pytest
from agentmesh.v1 import analytics_pb2

from tests.analytics.conftest import Analytics, People, at, fails, stamp_of, violations
from tests.auth.conftest import Account

DAY = 86_400

# (n, timestamp, repository, additions, deletions, files_changed): Monday 4 March 2024 starts the window.
METRIC_COMMITS = [
    (1, at(2024, 3, 1, 8), "api", 1, 1, 1),      # Friday, before the window
    (2, at(2024, 3, 4, 9, 15), "api", 10, 2, 1),  # Monday
    (3, at(2024, 3, 4, 9, 45), "api", 30, 5, 2),
    (4, at(2024, 3, 5, 10, 10), "api", 100, 50, 3),  # Tuesday
    (5, at(2024, 3, 6, 23, 30), "api", 5, 5, 1),  # Wednesday
    (6, at(2024, 3, 8, 9, 5), "api", 1, 0, 1),    # Friday
    (7, at(2024, 3, 9, 14), "web", 200, 100, 5),  # Saturday
    (8, at(2024, 3, 18), "api", 9, 9, 9),         # the window's end: excluded
]


async def _metrics(analytics: Analytics, who: Account, **fields: Any) -> analytics_pb2.GetProductivityMetricsResponse:
    reply: analytics_pb2.GetProductivityMetricsResponse = await analytics.behavior.GetProductivityMetrics(
        analytics_pb2.GetProductivityMetricsRequest(**fields), metadata=who.metadata)
    return reply


async def test_productivity_metrics_are_computed_from_the_window(analytics: Analytics, people: People) -> None:
    for n, stamp, repository, additions, deletions, files in METRIC_COMMITS:
        await analytics.track(people.alice, n, timestamp=stamp, repository=repository, additions=additions,
                              deletions=deletions, files_changed=files)
    await analytics.track(people.carol, 99, timestamp=at(2024, 3, 4, 12), additions=1000)  # a colleague's

    m = await _metrics(analytics, people.alice, start_time=at(2024, 3, 4), end_time=at(2024, 3, 18))
    assert (m.start_time, m.end_time) == (at(2024, 3, 4), at(2024, 3, 18))
    assert m.commit_count == 6 and m.active_days == 5  # 4, 5, 6, 8 and 9 March
    assert m.average_commits_per_day == pytest.approx(6 / 14)
    assert m.average_commit_size == pytest.approx((12 + 35 + 150 + 10 + 1 + 300) / 6)
    assert (m.total_additions, m.total_deletions, m.total_files_changed) == (346, 162, 13)
    assert (m.longest_streak_days, m.current_streak_days) == (3, 0)  # 4-6 March; nothing on the 16th or 17th
    assert (m.most_productive_hour, m.most_productive_weekday) == (9, "monday")
    assert len(m.points) == 14 and m.points[0].start_time == at(2024, 3, 4)
    assert [p.commit_count for p in m.points] == [2, 1, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0]
    first = m.points[0]
    assert (first.additions, first.deletions, first.files_changed) == (40, 7, 3)

    weekly = await _metrics(analytics, people.alice, start_time=at(2024, 3, 4), end_time=at(2024, 3, 18),
                            granularity="week")
    assert [(p.start_time, p.commit_count, p.additions) for p in weekly.points] == [
        (at(2024, 3, 4), 6, 346), (at(2024, 3, 11), 0, 0)]
    monthly = await _metrics(analytics, people.alice, start_time=at(2024, 3, 4), end_time=at(2024, 3, 18),
                             granularity="MONTH")
    assert [(p.start_time, p.commit_count) for p in monthly.points] == [(at(2024, 3, 1), 6)]  # not the 1 March one

    web = await _metrics(analytics, people.alice, start_time=at(2024, 3, 4), end_time=at(2024, 3, 18),
                         repository="web")
    assert (web.commit_count, web.average_commit_size, web.most_productive_hour, web.most_productive_weekday) == (
        1, 300, 14, "saturday")

    # the current streak ends on the window's last day or the day before, and counts days before the window
    one_day = await _metrics(analytics, people.alice, start_time=at(2024, 3, 9), end_time=at(2024, 3, 10))
    assert (one_day.commit_count, one_day.longest_streak_days, one_day.current_streak_days) == (1, 1, 2)
    quiet = await _metrics(analytics, people.alice, start_time=at(2024, 3, 10), end_time=at(2024, 3, 11))
    assert (quiet.commit_count, quiet.most_productive_weekday, quiet.current_streak_days) == (0, "", 2)
    later = await _metrics(analytics, people.alice, start_time=at(2024, 3, 11), end_time=at(2024, 3, 12))
    assert later.current_streak_days == 0

    default = await _metrics(analytics, people.alice)
    assert default.commit_count == 0 and len(default.points) in (30, 31)
    assert default.end_time.seconds - default.start_time.seconds == 30 * DAY
    assert abs(default.end_time.seconds - time.time()) < 5


def _monday() -> datetime:
    today = datetime.now(UTC).date()
    start = today - timedelta(days=today.weekday())
    return datetime(start.year, start.month, start.day, tzinfo=UTC)


async def _trends(analytics: Analytics, who: Account, **fields: Any) -> list[analytics_pb2.Trend]:
    reply = await analytics.behavior.GetTrends(analytics_pb2.GetTrendsRequest(**fields), metadata=who.metadata)
    return list(reply.trends)


async def test_trends_compare_calendar_periods_up_to_the_current_one(analytics: Analytics, people: People) -> None:
    week = _monday().timestamp()
    commits = [  # (seconds, additions): 2 commits three weeks ago, none two weeks ago, 1 last week, 3 this week
        (week - 28 * DAY + 3600, 7),
        (week - 21 * DAY + 3600, 5), (week - 20 * DAY + 3600, 5),
        (week - 7 * DAY + 3600, 100),
        (week + 60, 10), (week + 120, 20), (week + 180, 30),
    ]
    for i, (moment, additions) in enumerate(commits):
        await analytics.track(people.alice, i, timestamp=stamp_of(moment), additions=additions)

    [commits_trend] = await _trends(analytics, people.alice, metric="commits", periods=4)
    assert commits_trend.period == "week"
    assert [(p.start_time.seconds, p.value) for p in commits_trend.points] == [
        (int(week - 21 * DAY), 2), (int(week - 14 * DAY), 0), (int(week - 7 * DAY), 1), (int(week), 3)]
    assert (commits_trend.current_value, commits_trend.previous_value, commits_trend.direction) == (3, 1, "up")
    assert commits_trend.change_percent == 200.0
    assert commits_trend.slope == pytest.approx(0.4)  # x = 0..3 around 1.5: (-1.5*2 - .5*0 + .5*1 + 1.5*3) / 5

    [size] = await _trends(analytics, people.alice, metric="commit_size", periods=4)
    assert [p.value for p in size.points] == [5, 0, 100, 20]
    assert (size.direction, size.change_percent) == ("down", -80.0)
    assert size.slope == pytest.approx((-1.5 * 5 + 0.5 * 100 + 1.5 * 20) / 5)
    [days] = await _trends(analytics, people.alice, metric="active_days", periods=4)
    assert [p.value for p in days.points] == [2, 0, 1, 1] and (days.direction, days.change_percent) == ("flat", 0)

    [single] = await _trends(analytics, people.alice, metric="commits", periods=1)
    assert len(single.points) == 1 and (single.previous_value, single.change_percent, single.slope) == (1, 200, 0)

    everything = await _trends(analytics, people.alice)
    assert [t.metric for t in everything] == ["commits", "additions", "deletions", "files_changed", "commit_size",
                                              "active_days"]
    assert all(len(t.points) == 12 and t.period == "week" for t in everything)
    assert everything[1].current_value == 60 and everything[1].previous_value == 100

    today = datetime.now(UTC)
    month = datetime(today.year, today.month, 1, tzinfo=UTC)
    before = datetime(today.year - (today.month == 1), (today.month - 2) % 12 + 1, 1, tzinfo=UTC)
    [monthly] = await _trends(analytics, people.alice, metric="commits", period="month", periods=2)
    assert [p.start_time.seconds for p in monthly.points] == [int(before.timestamp()), int(month.timestamp())]
    assert sum(p.value for p in monthly.points) == sum(1 for moment, _ in commits if moment >= before.timestamp())
    [quarterly] = await _trends(analytics, people.alice, metric="commits", period="quarter", periods=1)
    quarter = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    assert quarterly.points[0].start_time.ToDatetime().date() == quarter

    assert (await _trends(analytics, people.bob, metric="commits"))[0].current_value == 0  # another tenant's


# (n, time, repository, additions, deletions, files, message); window: 1 to 15 April 2024 (Monday to Monday).
ANALYSED = [
    (1, at(2024, 4, 1, 9, 10), "api", 40, 10, 2, "feat(api): add commit tracking endpoint"),
    (2, at(2024, 4, 1, 10, 20), "api", 3, 1, 1, "fix"),
    (3, at(2024, 4, 2, 9, 30), "api", 150, 100, 6, "Refactor the storage layer for commits."),
    (4, at(2024, 4, 2, 9, 50), "web", 20, 0, 1, "wip"),
    (5, at(2024, 4, 3, 10, 5), "api", 30, 5, 1, "docs: explain the analytics definitions"),
    (6, at(2024, 4, 5, 14), "api", 300, 200, 8,
     "feat: batch tracking with all-or-nothing validation\n\nValidates everything first."),
    (7, at(2024, 4, 8, 9), "api", 60, 0, 2, "test: cover streaks"),
    (8, at(2024, 4, 8, 23, 30), "web", 5, 5, 1, "update"),
    (9, at(2024, 4, 9, 9, 40), "api", 0, 0, 0, ""),
    (10, at(2024, 4, 10, 9, 55), "api", 25, 25, 2, "perf: faster hour buckets for the metrics query"),
    (11, at(2024, 4, 20, 9), "api", 1, 1, 1, "feat: outside the window"),
]


async def _track_analysed(analytics: Analytics, who: Account) -> None:
    reply = await analytics.commits.BatchTrackCommits(analytics_pb2.BatchTrackCommitsRequest(commits=[
        analytics_pb2.Commit(commit_hash=f"{n:040x}", timestamp=stamp, repository=repository, additions=additions,
                             deletions=deletions, files_changed=files, message=message)
        for n, stamp, repository, additions, deletions, files, message in ANALYSED]), metadata=who.metadata)
    assert len(reply.commits) == len(ANALYSED)


async def _analyze(analytics: Analytics, who: Account, **fields: Any) -> analytics_pb2.AnalyzeBehaviorResponse:
    fields.setdefault("start_time", at(2024, 4, 1))
    fields.setdefault("end_time", at(2024, 4, 15))
    reply: analytics_pb2.AnalyzeBehaviorResponse = await analytics.behavior.AnalyzeBehavior(
        analytics_pb2.AnalyzeBehaviorRequest(**fields), metadata=who.metadata)
    return reply


async def test_an_analysis_finds_the_patterns_of_the_window(analytics: Analytics, people: People) -> None:
    await _track_analysed(analytics, people.alice)
    await analytics.track(people.carol, "colleague", timestamp=at(2024, 4, 6, 3), repository="elsewhere")
    empty = await analytics.behavior.GetBehaviorPatterns(analytics_pb2.GetBehaviorPatternsRequest(),
                                                         metadata=people.alice.metadata)
    assert not empty.patterns and not empty.HasField("analyzed_at")

    accepted = await _analyze(analytics, people.alice)
    assert (accepted.status, accepted.commit_count) == ("queued", 10) and accepted.analysis_id.startswith("anl_")
    found = await analytics.patterns(people.alice)
    by_kind = {p.kind: p for p in found.patterns}
    # confidence = min(1, commits / 20) * strength; 10 commits weigh 0.5, 9 sized or scored ones 0.45
    assert [(p.kind, p.confidence) for p in found.patterns] == [
        ("commit_frequency", 0.5), ("streak", 0.5), ("message_quality", 0.45), ("repository_focus", 0.4),
        ("work_hours", 0.4), ("weekday", 0.2), ("commit_size", 0.15)]
    assert all(p.analysis_id == accepted.analysis_id and p.user_id == people.alice.user_id and p.repository == ""
               and p.start_time == at(2024, 4, 1) and p.end_time == at(2024, 4, 15) for p in found.patterns)

    hours = by_kind["work_hours"]  # 6 commits at 9h, 2 at 10h: 8 of 10 between 9:00 and 11:00
    assert hours.title == "Most productive between 9:00 and 11:00 UTC"
    assert hours.data["share"] == 0.8 and hours.data["night_share"] == 0.1 and hours.data["hours"][9] == 6
    weekday = by_kind["weekday"]  # Monday 4, Tuesday 3, Wednesday 2, Friday 1
    assert weekday.title == "Most active on Mondays" and weekday.data["weekdays"]["tuesday"] == 3
    frequency = by_kind["commit_frequency"]  # 1, 2, 3, 5, 8, 9, 10 April
    assert frequency.title == "Commits on 7 of 14 days (steady)"
    assert (frequency.data["busiest_day"], frequency.data["busiest_day_commits"]) == ("2024-04-01", 2)
    size = by_kind["commit_size"]  # 4 10 20 35 50 50 60 250 500 (the sizeless commit 9 left out)
    assert size.title == "Commits are usually medium (median 50 lines changed)"
    assert (size.data["p90"], size.data["large_share"], size.data["commits"]) == (500, round(1 / 9, 4), 9)
    streak = by_kind["streak"]
    assert streak.title == "Longest streak: 3 days in a row" and streak.data["longest_start"] == "2024-04-01"
    assert streak.data["current"] == 0
    quality = by_kind["message_quality"]  # five messages pass all 5 checks, four pass 3: (5 + 4 * 0.6) / 9
    assert quality.title == "Commit messages are good (score 0.82 of 1)"
    assert quality.data["score"] == round(7.4 / 9, 4) and quality.data["conventional_share"] == round(5 / 9, 4)
    assert quality.data["checks"]["no_trailing_period"] == round(8 / 9, 4)
    focus = by_kind["repository_focus"]
    assert focus.title == "Focused on api (80% of commits)" and focus.data["repositories"] == {"api": 8, "web": 2}
    assert focus.data["repositories_per_active_day"] == round(9 / 7, 4)

    confident = await analytics.patterns(people.alice, min_confidence=0.41)
    assert [p.kind for p in confident.patterns] == ["commit_frequency", "streak", "message_quality"]
    only = await analytics.patterns(people.alice, kind="weekday")
    assert [p.kind for p in only.patterns] == ["weekday"]

    # one repository, two kinds: repository_focus says nothing about a single repository
    scoped = await _analyze(analytics, people.alice, repository="web", kinds=["work_hours", "repository_focus"])
    assert scoped.commit_count == 2
    web = await analytics.patterns(people.alice, repository="web")
    [pattern] = web.patterns
    assert (pattern.kind, pattern.repository, pattern.analysis_id) == ("work_hours", "web", scoped.analysis_id)
    assert pattern.title == "Most productive between 8:00 and 10:00 UTC" and pattern.confidence == 0.05
    assert "22:00 and 06:00" in pattern.description
    assert [p.analysis_id for p in (await analytics.patterns(people.alice)).patterns] == [scoped.analysis_id]

    # a new analysis of every repository replaces the earlier one's patterns
    again = await _analyze(analytics, people.alice)
    async with asyncio.timeout(10):
        while True:
            if (await analytics.patterns(people.alice)).patterns[0].analysis_id == again.analysis_id:
                break
            await asyncio.sleep(0.02)
    stored = await analytics.unit.db.fetch_all("SELECT analysis_id, COUNT(*) AS n FROM behavior_patterns"
                                               " GROUP BY analysis_id ORDER BY n")
    assert {(r["analysis_id"], r["n"]) for r in stored} == {(scoped.analysis_id, 1), (again.analysis_id, 7)}


async def test_other_users_need_the_admin_role_and_the_same_tenant(analytics: Analytics, people: People) -> None:
    await analytics.track(people.alice, 1, timestamp=at(2024, 3, 4, 9), additions=10)
    await analytics.track(people.bob, 2, timestamp=at(2024, 3, 4, 9))
    window = {"start_time": at(2024, 3, 1), "end_time": at(2024, 4, 1)}
    calls = {
        "GetProductivityMetrics": analytics_pb2.GetProductivityMetricsRequest(**window),
        "GetTrends": analytics_pb2.GetTrendsRequest(),
        "GetBehaviorPatterns": analytics_pb2.GetBehaviorPatternsRequest(),
        "AnalyzeBehavior": analytics_pb2.AnalyzeBehaviorRequest(**window),
    }
    for name, request in calls.items():
        method = getattr(analytics.behavior, name)
        request.user_id = people.alice.user_id
        await fails(method(request, metadata=people.carol.metadata), grpc.StatusCode.PERMISSION_DENIED)
        await fails(method(request, metadata=people.otto.metadata), grpc.StatusCode.NOT_FOUND)  # another tenant
        request.user_id = people.bob.user_id
        await fails(method(request, metadata=people.ada.metadata), grpc.StatusCode.NOT_FOUND)
    seen = await _metrics(analytics, people.ada, user_id=people.alice.user_id, **window)
    assert (seen.commit_count, seen.total_additions) == (1, 10)
    assert (await _metrics(analytics, people.ada, **window)).commit_count == 0  # her own
    assert (await _metrics(analytics, people.bob, **window)).commit_count == 1


async def test_bad_analytics_requests_name_the_field(analytics: Analytics, people: People) -> None:
    b = analytics.behavior
    cases: list[tuple[Any, Any, str]] = [
        (b.GetProductivityMetrics, analytics_pb2.GetProductivityMetricsRequest(granularity="hour"), "granularity"),
        (b.GetProductivityMetrics, analytics_pb2.GetProductivityMetricsRequest(
            start_time=at(2024, 2, 1), end_time=at(2024, 1, 1)), "start_time"),
        (b.GetProductivityMetrics, analytics_pb2.GetProductivityMetricsRequest(
            start_time=at(2000, 1, 1), end_time=at(2024, 1, 1)), "start_time"),
        (b.GetProductivityMetrics, analytics_pb2.GetProductivityMetricsRequest(
            start_time=at(2016, 1, 1), end_time=at(2024, 1, 1)), "granularity"),
        (b.GetTrends, analytics_pb2.GetTrendsRequest(period="year"), "period"),
        (b.GetTrends, analytics_pb2.GetTrendsRequest(periods=105), "periods"),
        (b.GetTrends, analytics_pb2.GetTrendsRequest(periods=-1), "periods"),
        (b.GetTrends, analytics_pb2.GetTrendsRequest(metric="lines"), "metric"),
        (b.GetBehaviorPatterns, analytics_pb2.GetBehaviorPatternsRequest(min_confidence=1.5), "min_confidence"),
        (b.GetBehaviorPatterns, analytics_pb2.GetBehaviorPatternsRequest(kind="luck"), "kind"),
        (b.AnalyzeBehavior, analytics_pb2.AnalyzeBehaviorRequest(kinds=["streak", "mood"]), "kinds[1]"),
    ]
    for method, request, field in cases:
        err = await fails(method(request, metadata=people.alice.metadata), grpc.StatusCode.INVALID_ARGUMENT)
        assert field in violations(err), (request, violations(err))
    count = await analytics.unit.db.fetch_one("SELECT COUNT(*) AS n FROM behavior_analyses")
    assert count is not None and count["n"] == 0


async def test_analyses_are_one_at_a_time_and_survive_a_restart(analytics: Analytics, people: People) -> None:
    await _track_analysed(analytics, people.alice)
    now = time.time()
    for analysis_id, attempts in (("anl_interrupted", 1), ("anl_twice", 2)):  # as a crash leaves them
        await analytics.unit.db.execute(
            "INSERT INTO behavior_analyses (analysis_id, tenant_id, user_id, requested_by, repository, start_time,"
            " end_time, kinds, status, attempts, created_at, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?,"
            " 'running', ?, ?, ?)",
            (analysis_id, people.alice.tenant_id, people.alice.user_id, people.alice.user_id,
             "" if attempts == 1 else "web", at(2024, 4, 1).seconds, at(2024, 4, 15).seconds, '["streak"]',
             attempts, now, now))
    err = await fails(_analyze(analytics, people.alice), grpc.StatusCode.FAILED_PRECONDITION)
    assert "anl_interrupted" in (err.details() or "")

    await analytics.restart()
    found = await analytics.patterns(people.alice)
    assert [(p.kind, p.analysis_id) for p in found.patterns] == [("streak", "anl_interrupted")]
    rows = await analytics.unit.db.fetch_all("SELECT analysis_id, status, error, commit_count FROM behavior_analyses"
                                             " ORDER BY analysis_id")
    assert [(r["analysis_id"], r["status"], r["error"], r["commit_count"]) for r in rows] == [
        ("anl_interrupted", "succeeded", "", 10), ("anl_twice", "failed", "interrupted by a restart", 0)]
    assert (await _analyze(analytics, people.alice)).status == "queued"  # nothing open any more
