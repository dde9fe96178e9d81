"""Behavioural patterns found in one user's commits over a window (pure functions).

Each kind reads the commits its own way and gives at most one Finding: a
title, an explanation with a suggestion when one applies, figures (`data`) and
a confidence from 0 to 1. Confidence is the *sample weight*, min(1, n / 20)
for n commits looked at (20 commits are enough to speak with full weight),
times the *strength* of the finding where the finding is a claim about a
concentration:

- work_hours: the two-hour UTC window with the most commits (the earliest of
  equals; windows wrap past midnight); strength = its share of the commits.
- weekday: the weekday with the most commits; strength = its share.
- commit_frequency: active days out of the window's days, commits per active
  day; steady (active on at least half the days), regular (a fifth), or
  occasional; strength 1 (a measurement).
- commit_size: lines changed per commit, over commits that report any size
  (a commit with no additions, deletions or files is not counted); the median
  names the class: small (< 50 lines), medium (< 200), large (< 400), very
  large; strength = the share of commits in the median's class.
- streak: longest and current runs of consecutive active days; strength 1.
- message_quality: each message (commits without one are not scored) passes
  or fails five checks: a subject of at least 10 characters, of at most 72, not
  a vague word alone (wip, fix, update...), no trailing period, and a body when
  the commit changes 100 lines or more; the score is the mean share passed;
  good (>= 0.8), fair (>= 0.6), poor. Its weight counts scored messages.
- repository_focus (only when every repository is analysed): the repository
  with the most commits; focused when it has at least 60% of them (strength =
  that share), else spread (strength = 1 - that share).
"""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from services.analytics.behavior_series import DAY, WEEKDAYS, busiest, current_run, day_of, day_text, longest_run

KINDS = ("work_hours", "commit_frequency", "commit_size", "streak", "weekday", "message_quality",
         "repository_focus")
FULL_WEIGHT_COMMITS = 20
LARGE_COMMIT_LINES = 400
BODY_EXPECTED_LINES = 100
_SIZE_CLASSES = ((50, "small"), (200, "medium"), (400, "large"))
_VAGUE = frozenset({
    "wip", "fix", "fixes", "fixed", "update", "updates", "updated", "change", "changes", "changed", "misc", "stuff",
    "tmp", "temp", "test", "tests", "asdf", "minor", "cleanup", "commit", "save", "work", "more", "done", "",
})
_CONVENTIONAL = re.compile(r"^(feat|fix|docs|style|refactor|perf|test|build|ci|chore|revert)(\([^)]*\))?!?: \S")
NIGHT_HOURS = frozenset({22, 23, 0, 1, 2, 3, 4, 5})


@dataclass(frozen=True, slots=True)
class CommitFacts:
    """What the analysis reads of one commit."""

    timestamp: float
    additions: int
    deletions: int
    files_changed: int
    repository: str
    message: str

    @property
    def size(self) -> int:
        return self.additions + self.deletions

    @property
    def hour(self) -> int:
        return int(self.timestamp // 3600) % 24

    @property
    def weekday(self) -> int:
        return (day_of(self.timestamp) + 3) % 7


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    title: str
    description: str
    confidence: float
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Window:
    start: float
    end: float
    repository: str  # '' = every repository

    @property
    def days(self) -> int:
        return max(1, math.ceil((self.end - self.start) / DAY))


def weight(n: int) -> float:
    return min(1.0, n / FULL_WEIGHT_COMMITS)


def pct(share: float) -> str:
    return f"{round(share * 100)}%"


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _confidence(n: int, strength: float = 1.0) -> float:
    return round(weight(n) * strength, 3)


# ---------------------------------------------------------------------------
# The kinds


def work_hours(commits: Sequence[CommitFacts], window: Window) -> Finding | None:
    n = len(commits)
    if not n:
        return None
    hours = [0] * 24
    for commit in commits:
        hours[commit.hour] += 1
    pairs = [hours[h] + hours[(h + 1) % 24] for h in range(24)]
    start = busiest(pairs)
    share = pairs[start] / n
    night = sum(hours[h] for h in NIGHT_HOURS) / n
    description = f"{pct(share)} of your commits are made between {start}:00 and {(start + 2) % 24}:00 UTC."
    if night >= 0.25:
        description += (f" {pct(night)} are made between 22:00 and 06:00 UTC; if that is not your daytime, consider"
                        " moving focused work earlier.")
    return Finding(
        "work_hours", f"Most productive between {start}:00 and {(start + 2) % 24}:00 UTC", description,
        _confidence(n, share),
        {"hours": hours, "start_hour": start, "end_hour": (start + 2) % 24, "share": round(share, 4),
         "night_share": round(night, 4)},
    )


def weekday(commits: Sequence[CommitFacts], window: Window) -> Finding | None:
    n = len(commits)
    if not n:
        return None
    counts = [0] * 7
    for commit in commits:
        counts[commit.weekday] += 1
    top = busiest(counts)
    share, weekend = counts[top] / n, (counts[5] + counts[6]) / n
    name = WEEKDAYS[top].capitalize()
    description = f"{pct(share)} of your commits are made on {name}s; {pct(weekend)} at weekends."
    if weekend >= 0.3:
        description += " Much of your work lands at weekends: consider protecting some of them for rest."
    return Finding(
        "weekday", f"Most active on {name}s", description, _confidence(n, share),
        {"weekdays": dict(zip(WEEKDAYS, counts, strict=True)), "busiest": WEEKDAYS[top], "share": round(share, 4),
         "weekend_share": round(weekend, 4)},
    )


def commit_frequency(commits: Sequence[CommitFacts], window: Window) -> Finding | None:
    n = len(commits)
    if not n:
        return None
    per_day = Counter(day_of(c.timestamp) for c in commits)
    active, days = len(per_day), window.days
    ratio = active / days
    label = "steady" if ratio >= 0.5 else ("regular" if ratio >= 0.2 else "occasional")
    top_day, top_count = min(per_day.items(), key=lambda item: (-item[1], item[0]))
    description = (f"{n / active:.1f} commits per active day, {n / days:.2f} per day overall; the busiest day"
                   f" ({day_text(top_day)}) had {plural(top_count, 'commit')}.")
    if label == "occasional":
        description += " Smaller, more frequent commits keep work visible and easier to review."
    return Finding(
        "commit_frequency", f"Commits on {active} of {plural(days, 'day')} ({label})", description, _confidence(n),
        {"commits": n, "active_days": active, "days": days, "active_ratio": round(ratio, 4), "label": label,
         "commits_per_day": round(n / days, 4), "commits_per_active_day": round(n / active, 4),
         "busiest_day": day_text(top_day), "busiest_day_commits": top_count},
    )


def size_class(lines: float) -> str:
    for limit, name in _SIZE_CLASSES:
        if lines < limit:
            return name
    return "very large"


def commit_size(commits: Sequence[CommitFacts], window: Window) -> Finding | None:
    sized = [c for c in commits if c.additions or c.deletions or c.files_changed]
    n = len(sized)
    if not n:
        return None
    sizes = sorted(c.size for c in sized)
    median = statistics.median(sizes)
    label = size_class(median)
    same = sum(1 for s in sizes if size_class(s) == label) / n
    large = sum(1 for s in sizes if s >= LARGE_COMMIT_LINES) / n
    added, deleted = sum(c.additions for c in sized), sum(c.deletions for c in sized)
    mean = sum(sizes) / n
    p90 = sizes[math.ceil(0.9 * n) - 1]
    files = sum(c.files_changed for c in sized) / n
    description = (f"Mean {mean:.0f} lines, 90% of commits at most {p90} lines, {files:.1f} files per commit;"
                   f" {deleted} lines deleted for {added} added.")
    if large >= 0.25:
        description += (f" {pct(large)} of commits change {LARGE_COMMIT_LINES} lines or more: smaller commits are"
                        " easier to review and to revert.")
    return Finding(
        "commit_size", f"Commits are usually {label} (median {median:g} lines changed)", description,
        _confidence(n, same),
        {"median": median, "mean": round(mean, 2), "p90": p90, "class": label, "class_share": round(same, 4),
         "large_share": round(large, 4), "files_per_commit": round(files, 2), "additions": added,
         "deletions": deleted, "commits": n},
    )


def streak(commits: Sequence[CommitFacts], window: Window) -> Finding | None:
    n = len(commits)
    if not n:
        return None
    days = {day_of(c.timestamp) for c in commits}
    longest, first = longest_run(days)
    current = current_run(days, day_of(window.end - 1e-6))
    description = (f"From {day_text(first)} to {day_text(first + longest - 1)}. Current streak:"
                   f" {plural(current, 'day')}.")
    return Finding(
        "streak", f"Longest streak: {plural(longest, 'day')} in a row", description, _confidence(n),
        {"longest": longest, "longest_start": day_text(first), "longest_end": day_text(first + longest - 1),
         "current": current, "active_days": len(days)},
    )


def message_checks(commit: CommitFacts) -> dict[str, bool]:
    """The five checks of one commit message."""
    subject, _, rest = commit.message.strip().partition("\n")
    subject = subject.strip()
    return {
        "subject_min_length": len(subject) >= 10,
        "subject_max_length": len(subject) <= 72,
        "specific": subject.lower().strip(" .!:-") not in _VAGUE,
        "no_trailing_period": not subject.endswith("."),
        "body_for_large_change": commit.size < BODY_EXPECTED_LINES or bool(rest.strip()),
    }


def message_quality(commits: Sequence[CommitFacts], window: Window) -> Finding | None:
    scored = [c for c in commits if c.message.strip()]
    n = len(scored)
    if not n:
        return None
    checks = [message_checks(c) for c in scored]
    score = sum(sum(c.values()) / len(c) for c in checks) / n
    passed = {name: sum(1 for c in checks if c[name]) / n for name in checks[0]}
    conventional = sum(1 for c in scored if _CONVENTIONAL.match(c.message.strip())) / n
    label = "good" if score >= 0.8 else ("fair" if score >= 0.6 else "poor")
    weakest = min(passed, key=lambda name: (passed[name], name))
    advice = {
        "subject_min_length": "say what changed and why in the subject line",
        "subject_max_length": "keep the subject line within 72 characters and put details in the body",
        "specific": "replace one-word messages such as 'fix' or 'wip' with what was fixed or done",
        "no_trailing_period": "leave the period off the subject line",
        "body_for_large_change": "explain large changes in a body below the subject line",
    }
    description = f"{pct(conventional)} follow Conventional Commits."
    if passed[weakest] < 1:
        description += f" Most often missed: {pct(1 - passed[weakest])} of messages fail to {advice[weakest]}."
    return Finding(
        "message_quality", f"Commit messages are {label} (score {score:.2f} of 1)", description, _confidence(n),
        {"score": round(score, 4), "label": label, "scored": n, "conventional_share": round(conventional, 4),
         "checks": {name: round(share, 4) for name, share in passed.items()}},
    )


def repository_focus(commits: Sequence[CommitFacts], window: Window) -> Finding | None:
    named = [c for c in commits if c.repository]
    if window.repository or not named:
        return None
    n = len(named)
    counts = Counter(c.repository for c in named)
    top, top_count = min(counts.items(), key=lambda item: (-item[1], item[0]))
    share = top_count / n
    per_day: dict[int, set[str]] = {}
    for commit in named:
        per_day.setdefault(day_of(commit.timestamp), set()).add(commit.repository)
    switching = sum(len(r) for r in per_day.values()) / len(per_day)
    if share >= 0.6:
        title, strength = f"Focused on {top} ({pct(share)} of commits)", share
    else:
        # below 60% for the top one means at least two repositories
        title, strength = f"Work spread over {len(counts)} repositories", 1 - share
    description = (f"{'1 repository' if len(counts) == 1 else f'{len(counts)} repositories'};"
                   f" {switching:.1f} on an average active day.")
    if switching >= 3:
        description += " Switching between many repositories a day costs focus: consider batching work per project."
    return Finding(
        "repository_focus", title, description, _confidence(n, strength),
        {"repositories": dict(counts.most_common(20)), "top": top, "top_share": round(share, 4),
         "repository_count": len(counts), "repositories_per_active_day": round(switching, 4)},
    )


FINDERS: dict[str, Callable[[Sequence[CommitFacts], Window], Finding | None]] = {
    "work_hours": work_hours,
    "commit_frequency": commit_frequency,
    "commit_size": commit_size,
    "streak": streak,
    "weekday": weekday,
    "message_quality": message_quality,
    "repository_focus": repository_focus,
}


def find_patterns(commits: Sequence[CommitFacts], window: Window, kinds: Sequence[str]) -> list[Finding]:
    """Every finding of the kinds asked for (all when none), most confident first."""
    found = [finding for kind in (kinds or KINDS) if (finding := FINDERS[kind](commits, window)) is not None]
    return sorted(found, key=lambda f: (-f.confidence, f.kind))
