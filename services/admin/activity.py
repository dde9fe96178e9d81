"""The platform's activity as the hub announces it, kept for the statistics and the bot's figures.

Every unit announces its work on the hub, which is this unit's own bus; the
recorder (services.admin.recorder) turns the events below into rows, so the
figures are counted from what happened, not asked of every unit each time:

- task.created / task.progress / task.completed|failed|cancelled: tasks not
  finished yet with their status (queued, running), a count of every task
  created, and the tasks of the last day;
- workflow.run.started: the runs of the last day;
- instance.created / instance.deleted: the persona instances that exist;
- the tokens of the last day, from the work that carries them: finished tasks,
  persona executions and chat turns (a model called directly through
  LlmService is counted by the analytics unit, not here);
- chat.completed and chat.failed: the chat bot's turns and its failed answers
  (kept CHAT_DAYS days).

Counting starts with the platform: what the hub never saw (work done while
this unit was down longer than the publishers wait for it) is not counted.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from agentmesh.v1 import common_pb2

from services.common.protoutil import seconds, struct_dict
from services.common.storage import Database, Statement

DAY = 86400.0
CHAT_DAYS = 400
_FINAL_TASK = ("task.completed", "task.failed", "task.cancelled")
_OPEN = ("INSERT INTO activity_open (kind, subject_id, tenant_id, status, at) VALUES (?, ?, ?, ?, ?)"
         " ON CONFLICT (kind, subject_id) DO UPDATE SET status = excluded.status")
_COUNT = ("INSERT INTO activity_counters (name, value) VALUES (?, ?)"
          " ON CONFLICT (name) DO UPDATE SET value = activity_counters.value + ?")
_RECENT = "INSERT INTO activity_recent (kind, at, amount, amount2) VALUES (?, ?, ?, ?)"
_CHAT = ("INSERT INTO chat_turns (event_id, at, tenant_id, user_id, conversation_id, type, response_time_ms,"
         " language, failed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING")
_FINAL_EXECUTION = ("execution.completed", "execution.failed", "execution.stopped")
TRACKED = frozenset({"task.created", "task.progress", *_FINAL_TASK, "workflow.run.started", "instance.created",
                     "instance.deleted", *_FINAL_EXECUTION, "chat.completed", "chat.failed"})


def _number(data: dict[str, Any], key: str) -> float:
    value = data.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _field(event: common_pb2.Event, key: str) -> str:
    """One text field of the event's data, read without converting the whole Struct (the hot kinds)."""
    fields = event.data.fields
    return fields[key].string_value if key in fields else ""


def _count(event: common_pb2.Event, key: str) -> int:
    fields = event.data.fields
    return int(fields[key].number_value) if key in fields else 0


@dataclass(slots=True)
class _Task:
    tenant_id: str
    status: str
    created: bool = False
    final: bool = False


def statements(events: Iterable[common_pb2.Event]) -> list[Statement]:
    """What a batch of events changes in the activity tables, netted out: a task created and finished within
    the batch leaves no open row, counts are one row per kind per batch."""
    tasks: dict[str, _Task] = {}
    counts = {"task": 0, "run": 0}
    prompt = completion = 0
    at = 0.0
    found: list[Statement] = []
    for event in events:
        kind = event.type
        if kind not in TRACKED:
            continue
        at = max(at, seconds(event.time) or time.time())
        subject = event.subject_id
        if kind.startswith("task."):
            task = tasks.setdefault(subject, _Task(event.tenant_id, ""))
            if kind == "task.created":
                task.created, task.status = True, _field(event, "status") or "queued"
                counts["task"] += 1
            elif kind == "task.progress":
                task.status = _field(event, "status") or "running"
            else:
                task.final = True
                prompt += _count(event, "prompt_tokens")
                completion += _count(event, "completion_tokens")
        elif kind == "workflow.run.started":
            counts["run"] += 1
        elif kind == "instance.created":
            found.append(Statement(_OPEN, ("instance", subject, event.tenant_id, "", at)))
        elif kind == "instance.deleted":
            found.append(Statement("DELETE FROM activity_open WHERE kind = 'instance' AND subject_id = ?", (subject,)))
        elif kind in _FINAL_EXECUTION:
            prompt += _count(event, "prompt_tokens")
            completion += _count(event, "completion_tokens")
        elif kind == "chat.completed":
            prompt += _count(event, "prompt_tokens")
            completion += _count(event, "completion_tokens")
            data = struct_dict(event.data)
            found.append(Statement(_CHAT, (event.id, at, event.tenant_id, event.user_id,
                                           str(data.get("conversation_id") or subject), str(data.get("type") or "text"),
                                           _number(data, "response_time_ms"), str(data.get("language") or "")[:16],
                                           0)))
        elif kind == "chat.failed":
            found.append(Statement(_CHAT, (event.id, at, event.tenant_id, event.user_id,
                                           _field(event, "conversation_id") or subject, _field(event, "type") or "text",
                                           None, "", 1)))
    for task_id, task in tasks.items():
        if task.final:
            if not task.created:
                found.append(Statement("DELETE FROM activity_open WHERE kind = 'task' AND subject_id = ?", (task_id,)))
        elif task.created:
            found.append(Statement(_OPEN, ("task", task_id, task.tenant_id, task.status, at)))
        elif task.status:
            found.append(Statement("UPDATE activity_open SET status = ? WHERE kind = 'task' AND subject_id = ?",
                                   (task.status, task_id)))
    if counts["task"]:
        found.append(Statement(_COUNT, ("tasks", counts["task"], counts["task"])))
    found += [Statement(_RECENT, (kind, at, n, 0)) for kind, n in counts.items() if n]
    if prompt or completion:
        found.append(Statement(_RECENT, ("tokens", at, prompt, completion)))
    return found


def prune_statements(now: float) -> list[Statement]:
    return [Statement("DELETE FROM activity_recent WHERE at < ?", (now - DAY - 3600,)),
            Statement("DELETE FROM chat_turns WHERE at < ?", (now - CHAT_DAYS * DAY,))]


@dataclass(frozen=True, slots=True)
class Figures:
    total_tasks: int
    active_tasks: int
    queued_tasks: int
    tasks_last_24h: int
    runs_last_24h: int
    persona_instances: int
    prompt_tokens_24h: int
    completion_tokens_24h: int


async def figures(db: Database, now: float | None = None) -> Figures:
    """The activity figures now: totals, what is open, and the last 24 hours."""
    now = now or time.time()
    since = now - DAY
    row = await db.fetch_one(
        "SELECT"
        " (SELECT COALESCE(MAX(value), 0) FROM activity_counters WHERE name = 'tasks') AS total_tasks,"
        " (SELECT COUNT(*) FROM activity_open WHERE kind = 'task') AS active_tasks,"
        " (SELECT COUNT(*) FROM activity_open WHERE kind = 'task' AND status IN ('queued', 'pending')) AS queued,"
        " (SELECT COUNT(*) FROM activity_open WHERE kind = 'instance') AS instances,"
        " (SELECT COALESCE(SUM(amount), 0) FROM activity_recent WHERE kind = 'task' AND at >= ?) AS tasks_24h,"
        " (SELECT COALESCE(SUM(amount), 0) FROM activity_recent WHERE kind = 'run' AND at >= ?) AS runs_24h,"
        " (SELECT COALESCE(SUM(amount), 0) FROM activity_recent WHERE kind = 'tokens' AND at >= ?) AS prompt,"
        " (SELECT COALESCE(SUM(amount2), 0) FROM activity_recent WHERE kind = 'tokens' AND at >= ?) AS completion",
        (since, since, since, since))
    assert row is not None
    return Figures(int(row["total_tasks"]), int(row["active_tasks"]), int(row["queued"]), int(row["tasks_24h"]),
                   int(row["runs_24h"]), int(row["instances"]), int(row["prompt"]), int(row["completion"]))
