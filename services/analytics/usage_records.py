"""Usage records: what the other units did, one row per operation, and how their events become rows.

Every operation the platform finishes is a record: a model call (`llm_call`,
which the speech unit reports with RecordUsage: tokens, cost and the labels of
the unit that asked), a task, a workflow run, a persona execution, a chat
turn (from their events on the hub, services.analytics.usage_feed, record id
"event:<id>"). Only model calls carry tokens and cost, so totals never count a
call twice; a task's or a chat turn's model usage is found through its labels
(agent, subject). A record id already stored is ignored, so replays change
nothing.

Costs: a record's own cost_usd when the reporter set one, else its tokens
priced from PRICES (US dollars per million tokens, input and output); models
not in the table (the development echo, local models) cost nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from agentmesh.v1 import analytics_pb2, common_pb2
from google.protobuf import json_format

from services.common.errors import FieldViolation, InvalidArgument, raise_if
from services.common.storage import Database

UNITS = ("auth", "agent", "task", "persona", "speech", "analytics", "admin")
KINDS = ("llm_call", "task", "workflow_run", "persona_execution", "chat", "tts", "transcribe", "api_request")
OUTCOMES = ("succeeded", "failed", "cancelled")
MAX_RECORDS = 1000
_TEXT_MAX = 200
_TEXT_FIELDS = ("record_id", "tenant_id", "user_id", "subject_id", "agent_id", "team_id", "workflow_id", "provider",
                "model", "error_code")

# US dollars per million tokens: (input, output). Prefixes match dated variants (gpt-4o-2024-08-06).
PRICES: Mapping[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-4": (30.00, 60.00),
    "gpt-3.5-turbo": (0.50, 1.50),
    "o3-mini": (1.10, 4.40),
}
_BY_LENGTH = sorted(PRICES, key=len, reverse=True)

COLUMNS = ("record_id", "tenant_id", "user_id", "unit", "kind", "subject_id", "agent_id", "team_id", "workflow_id",
           "provider", "model", "prompt_tokens", "completion_tokens", "total_tokens", "latency_ms", "outcome",
           "error_code", "cost_usd", "audio_seconds", "occurred_at", "recorded_at")
INSERT = (f"INSERT OR IGNORE INTO usage_records ({', '.join(COLUMNS)})"
           f" VALUES ({', '.join('?' for _ in COLUMNS)})")


def price(model: str, prompt_tokens: int, completion_tokens: int) -> float:
    """What the tokens cost at the table's rate for the model (0 for models the table does not know)."""
    name = model.lower().rsplit("/", 1)[-1]
    for known in _BY_LENGTH:
        if name == known or name.startswith(known + "-"):
            rate_in, rate_out = PRICES[known]
            return round((prompt_tokens * rate_in + completion_tokens * rate_out) / 1_000_000, 8)
    return 0.0


def _row(**values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {name: "" for name in COLUMNS}
    row.update(prompt_tokens=0, completion_tokens=0, total_tokens=0, latency_ms=0.0, outcome="succeeded",
               cost_usd=0.0, audio_seconds=0.0, recorded_at=time.time())
    row.update(values)
    row["total_tokens"] = row["total_tokens"] or row["prompt_tokens"] + row["completion_tokens"]
    if not row["cost_usd"] and row["total_tokens"]:
        row["cost_usd"] = price(row["model"], row["prompt_tokens"], row["completion_tokens"])
    return row


def from_message(record: analytics_pb2.UsageRecord, at: str) -> tuple[dict[str, Any], list[FieldViolation]]:
    """A RecordUsage record as a row, and what is wrong with it (fields named `at`.<field>)."""
    problems: list[FieldViolation] = []
    for name in ("record_id", "tenant_id", "unit", "kind"):
        if not getattr(record, name).strip():
            problems.append(FieldViolation(f"{at}.{name}", "is required"))
    for name in _TEXT_FIELDS:
        if len(getattr(record, name)) > _TEXT_MAX:
            problems.append(FieldViolation(f"{at}.{name}", f"at most {_TEXT_MAX} characters"))
    if record.unit and record.unit not in UNITS:
        problems.append(FieldViolation(f"{at}.unit", f"one of {', '.join(UNITS)}"))
    if record.kind and record.kind not in KINDS:
        problems.append(FieldViolation(f"{at}.kind", f"one of {', '.join(KINDS)}"))
    if record.outcome and record.outcome not in OUTCOMES:
        problems.append(FieldViolation(f"{at}.outcome", f"one of {', '.join(OUTCOMES)}"))
    usage = record.usage
    for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
        if getattr(usage, name) < 0:
            problems.append(FieldViolation(f"{at}.usage.{name}", "must not be negative"))
    for name in ("latency_ms", "cost_usd", "audio_seconds"):
        value = getattr(record, name)
        if not 0 <= value < 1e12:
            problems.append(FieldViolation(f"{at}.{name}", "a finite number, not negative"))
    if not record.HasField("occurred_at"):
        problems.append(FieldViolation(f"{at}.occurred_at", "is required"))
    occurred = record.occurred_at.ToNanoseconds() / 1e9
    if record.HasField("occurred_at") and occurred > time.time() + 300:
        problems.append(FieldViolation(f"{at}.occurred_at", "is in the future"))
    row = _row(
        **{name: getattr(record, name).strip() for name in _TEXT_FIELDS}, unit=record.unit, kind=record.kind,
        prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens, latency_ms=record.latency_ms, outcome=record.outcome or "succeeded",
        cost_usd=record.cost_usd, audio_seconds=record.audio_seconds, occurred_at=occurred,
    )
    return row, problems


def checked(records: Sequence[analytics_pb2.UsageRecord]) -> list[dict[str, Any]]:
    """Every record as a row; INVALID_ARGUMENT naming each bad field of any record, so none is stored."""
    if not records:
        raise InvalidArgument.field("records", "at least one record")
    if len(records) > MAX_RECORDS:
        raise InvalidArgument.field("records", f"at most {MAX_RECORDS} records per call")
    rows, problems = [], []
    for i, record in enumerate(records):
        row, found = from_message(record, f"records[{i}]")
        rows.append(row)
        problems.extend(found)
    raise_if(problems)
    return rows


async def store(db: Database, rows: Iterable[dict[str, Any]]) -> int:
    """Insert the rows in one transaction; how many were new (a record id already stored is skipped)."""
    added = 0
    async with db.transaction() as tx:
        for row in rows:
            added += await tx.execute(INSERT, [row[name] for name in COLUMNS])
    return added


# ---------------------------------------------------------------------------
# Events to records

_OUTCOME = {"completed": "succeeded", "failed": "failed", "cancelled": "cancelled", "stopped": "cancelled"}
# The events the feed asks the hub for.
PATTERNS = ("task.completed", "task.failed", "task.cancelled",
            "workflow.run.completed", "workflow.run.failed", "workflow.run.cancelled",
            "execution.completed", "execution.failed", "execution.stopped", "chat.completed")


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key, "")
    return value[:_TEXT_MAX] if isinstance(value, str) else ""


def _number(data: Mapping[str, Any], key: str) -> float:
    value = data.get(key, 0)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0 else 0.0


def from_event(event: common_pb2.Event) -> dict[str, Any] | None:
    """The record an event stands for, or None for events that are not finished work."""
    if not event.tenant_id or not event.id:
        return None
    data = json_format.MessageToDict(event.data)
    kind, _, verb = event.type.rpartition(".")
    occurred = event.time.ToNanoseconds() / 1e9 if event.HasField("time") else time.time()
    common: dict[str, Any] = {"record_id": f"event:{event.id}", "tenant_id": event.tenant_id,
                              "user_id": event.user_id, "occurred_at": occurred, "outcome": _OUTCOME.get(verb, "")}
    if kind == "task":
        return _row(**{**common, "user_id": event.user_id or _text(data, "owner_id")}, unit="task", kind="task",
                    subject_id=event.subject_id, agent_id=_text(data, "agent_id"), team_id=_text(data, "team_id"),
                    latency_ms=_number(data, "duration_ms"), error_code="task_failed" if verb == "failed" else "")
    if kind == "workflow.run":
        return _row(**common, unit="task", kind="workflow_run", subject_id=_text(data, "run_id"),
                    workflow_id=_text(data, "workflow_id"), latency_ms=_number(data, "duration_ms"))
    if kind == "execution":
        return _row(**common, unit="persona", kind="persona_execution", subject_id=_text(data, "execution_id"),
                    latency_ms=_number(data, "duration_ms"))
    if event.type == "chat.completed":
        return _row(**{**common, "outcome": "succeeded"}, unit="speech", kind="chat",
                    subject_id=_text(data, "conversation_id"), latency_ms=_number(data, "response_time_ms"))
    return None
