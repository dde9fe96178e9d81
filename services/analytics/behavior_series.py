"""Time series of commits: calendar periods, productivity figures, streaks and trends (pure functions).

Everything is in UTC, the only time zone a commit's Timestamp carries: days
start at 00:00, weeks on Monday (ISO), months and quarters on their first day.
The store hands over commits already summed per hour (`HourBucket`), which is
all these figures need and far fewer rows than commits.

Definitions the RPCs document:
- a day is *active* when at least one commit was made on it;
- the *longest streak* is the longest run of consecutive active days in the
  window; the *current streak* is the run that ends on the window's last day,
  or on the day before it (the last day may not be over yet), counted back
  over all earlier commits, so a streak begun before the window counts whole;
- *commit size* is additions + deletions;
- a trend's `change_percent` is (current - previous) / previous * 100,
  rounded to two decimals; from a previous value of 0 it is 100 when the
  current value is above 0 and 0 when both are 0; `slope` is the least-squares
  slope of the values over their index (per period).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

DAY = 86_400.0
HOUR = 3_600
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
GRANULARITIES = ("day", "week", "month")
PERIODS = ("day", "week", "month", "quarter")
METRICS = ("commits", "additions", "deletions", "files_changed", "commit_size", "active_days")


@dataclass(frozen=True, slots=True)
class HourBucket:
    """The commits of one UTC hour (hour = Unix seconds // 3600), summed."""

    hour: int
    commits: int
    additions: int
    deletions: int
    files_changed: int

    @property
    def day(self) -> int:
        return self.hour // 24

    @property
    def hour_of_day(self) -> int:
        return self.hour % 24

    @property
    def weekday(self) -> int:
        """0 = Monday (1970-01-01, day 0, was a Thursday)."""
        return (self.day + 3) % 7


def day_of(moment: float) -> int:
    return int(moment // DAY)


def day_text(day: int) -> str:
    return datetime.fromtimestamp(day * DAY, UTC).date().isoformat()


# ---------------------------------------------------------------------------
# Calendar periods


def period_start(moment: float, unit: str) -> float:
    """Start of the period (day, week, month, quarter) that holds `moment`."""
    if unit == "day":
        return day_of(moment) * DAY
    if unit == "week":
        day = day_of(moment)
        return (day - (day + 3) % 7) * DAY
    when = datetime.fromtimestamp(moment, UTC)
    month = when.month if unit == "month" else 3 * ((when.month - 1) // 3) + 1
    return datetime(when.year, month, 1, tzinfo=UTC).timestamp()


def next_period(start: float, unit: str) -> float:
    """Start of the period after the one starting at `start`."""
    if unit == "day":
        return start + DAY
    if unit == "week":
        return start + 7 * DAY
    when = datetime.fromtimestamp(start, UTC)
    months = when.month - 1 + (1 if unit == "month" else 3)
    return datetime(when.year + months // 12, months % 12 + 1, 1, tzinfo=UTC).timestamp()


def period_starts(start: float, end: float, unit: str) -> list[float]:
    """Starts of the periods that cover [start, end), the first one holding `start`."""
    starts = [period_start(start, unit)]
    while (following := next_period(starts[-1], unit)) < end:
        starts.append(following)
    return starts


def count_periods(start: float, end: float, unit: str) -> int:
    """How many periods cover [start, end), without listing them (for limits on huge windows)."""
    if unit == "day":
        return day_of(end - 1e-6) - day_of(start) + 1
    if unit == "week":
        return int((period_start(end - 1e-6, "week") - period_start(start, "week")) // (7 * DAY)) + 1
    return len(period_starts(start, end, unit))


def previous_periods(now: float, unit: str, count: int) -> list[float]:
    """Starts of the `count` periods ending with the one that holds `now`, oldest first."""
    starts = [period_start(now, unit)]
    for _ in range(count - 1):
        starts.append(period_start(starts[-1] - 1, unit))
    return starts[::-1]


# ---------------------------------------------------------------------------
# Per-period sums


@dataclass(slots=True)
class PeriodSums:
    start: float
    commits: int = 0
    additions: int = 0
    deletions: int = 0
    files_changed: int = 0
    days: set[int] = field(default_factory=set)

    def add(self, bucket: HourBucket) -> None:
        self.commits += bucket.commits
        self.additions += bucket.additions
        self.deletions += bucket.deletions
        self.files_changed += bucket.files_changed
        self.days.add(bucket.day)

    def value(self, metric: str) -> float:
        if metric == "commits":
            return float(self.commits)
        if metric == "commit_size":
            return (self.additions + self.deletions) / self.commits if self.commits else 0.0
        if metric == "active_days":
            return float(len(self.days))
        return float(getattr(self, metric))


def sums_by_period(buckets: Iterable[HourBucket], starts: Sequence[float], end: float) -> list[PeriodSums]:
    """The buckets of [starts[0], end) summed into the periods beginning at `starts`."""
    sums = [PeriodSums(s) for s in starts]
    for bucket in buckets:
        moment = bucket.hour * HOUR
        if starts[0] <= moment < end:
            sums[bisect.bisect_right(starts, moment) - 1].add(bucket)
    return sums


# ---------------------------------------------------------------------------
# Productivity


def longest_run(days: Iterable[int]) -> tuple[int, int]:
    """Length and first day of the longest run of consecutive days (the earliest of equal runs)."""
    best, best_start, length, start, last = 0, 0, 0, 0, None
    for day in sorted(set(days)):
        if last is not None and day == last + 1:
            length += 1
        else:
            length, start = 1, day
        if length > best:
            best, best_start = length, start
        last = day
    return best, best_start


def current_run(days: set[int], last_day: int) -> int:
    """The run of active days that ends on `last_day`, or on the day before it; 0 when neither is active."""
    day = last_day if last_day in days else last_day - 1
    run = 0
    while day in days:
        run += 1
        day -= 1
    return run


def busiest(counts: Sequence[int]) -> int:
    """Index of the largest count; the first of equals."""
    return max(range(len(counts)), key=lambda i: (counts[i], -i))


@dataclass(frozen=True, slots=True)
class Productivity:
    commit_count: int
    active_days: int
    average_commits_per_day: float
    average_commit_size: float
    total_additions: int
    total_deletions: int
    total_files_changed: int
    longest_streak_days: int
    current_streak_days: int
    most_productive_hour: int
    most_productive_weekday: str
    points: list[PeriodSums]


def productivity(buckets: Sequence[HourBucket], start: float, end: float, granularity: str,
                 history_days: set[int]) -> Productivity:
    """The figures of GetProductivityMetrics for the buckets of [start, end); `history_days` are every
    active day up to `end`, for the current streak."""
    inside = [b for b in buckets if start <= b.hour * HOUR < end]
    commits = sum(b.commits for b in inside)
    additions = sum(b.additions for b in inside)
    deletions = sum(b.deletions for b in inside)
    days = {b.day for b in inside}
    hours, weekdays = [0] * 24, [0] * 7
    for bucket in inside:
        hours[bucket.hour_of_day] += bucket.commits
        weekdays[bucket.weekday] += bucket.commits
    return Productivity(
        commit_count=commits,
        active_days=len(days),
        average_commits_per_day=commits / ((end - start) / DAY),
        average_commit_size=(additions + deletions) / commits if commits else 0.0,
        total_additions=additions,
        total_deletions=deletions,
        total_files_changed=sum(b.files_changed for b in inside),
        longest_streak_days=longest_run(days)[0],
        current_streak_days=current_run(history_days, day_of(end - 1e-6)),
        most_productive_hour=busiest(hours) if commits else 0,
        most_productive_weekday=WEEKDAYS[busiest(weekdays)] if commits else "",
        points=sums_by_period(inside, period_starts(start, end, granularity), end),
    )


# ---------------------------------------------------------------------------
# Trends


@dataclass(frozen=True, slots=True)
class TrendFigures:
    metric: str
    direction: str
    current_value: float
    previous_value: float
    change_percent: float
    slope: float
    points: list[tuple[float, float]]


def slope(values: Sequence[float]) -> float:
    """Least-squares slope of the values over their index; 0 for fewer than two."""
    n = len(values)
    if n < 2:
        return 0.0
    mean_x, mean_y = (n - 1) / 2, sum(values) / n
    spread = sum((x - mean_x) ** 2 for x in range(n))
    return sum((x - mean_x) * (y - mean_y) for x, y in enumerate(values)) / spread


def change_percent(current: float, previous: float) -> float:
    if previous == 0:
        return 100.0 if current > 0 else 0.0
    return round((current - previous) / previous * 100, 2)


def trend(metric: str, sums: Sequence[PeriodSums]) -> TrendFigures:
    """The trend of one metric; `sums` holds one more period than shown: the one before the first point."""
    values = [s.value(metric) for s in sums]
    shown = values[1:]
    current, previous = values[-1], values[-2]
    direction = "flat" if abs(current - previous) < 1e-9 else ("up" if current > previous else "down")
    return TrendFigures(
        metric=metric, direction=direction, current_value=current, previous_value=previous,
        change_percent=change_percent(current, previous), slope=slope(shown),
        points=[(s.start, v) for s, v in zip(sums[1:], shown, strict=True)],
    )
