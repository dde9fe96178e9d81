"""The task unit's vocabulary: statuses, limits, validation helpers, and rows turned into messages."""

from __future__ import annotations

import json
from typing import Any

from agentmesh.v1 import common_pb2, task_pb2
from google.protobuf import struct_pb2

from services.common import authctx
from services.common.authctx import Caller
from services.common.errors import FieldViolation, InvalidArgument, PermissionDenied
from services.common.errors import raise_if as raise_if  # the unit's modules take it from here
from services.common.protoutil import struct, struct_dict, timestamp

TASK_STATUSES = ("pending", "queued", "running", "succeeded", "failed", "cancelled")
RUN_STATUSES = ("pending", "running", "succeeded", "failed", "cancelled")
STEP_STATUSES = ("pending", "running", "succeeded", "failed", "cancelled", "skipped")
FINAL = frozenset({"succeeded", "failed", "cancelled"})
# A task may be cancelled in these states; the others are final.
CANCELLABLE = ("pending", "queued", "running")
LOG_LEVELS = ("debug", "info", "warning", "error")
STRATEGIES = ("sequential", "round_robin", "first_answer")

MAX_INPUT = 100_000
MAX_JSON = 64 * 1024
MAX_IDEMPOTENCY_KEY = 200
MAX_PRIORITY = 1000
MAX_TIMEOUT = 24 * 3600
MAX_REASON = 500
# Tasks keep their whole output; a platform event carries at most this much of it.
EVENT_OUTPUT_MAX = 2000


def tenant_caller() -> Caller:
    """The verified caller; everything in this unit belongs to a tenant, so a caller needs one."""
    caller = authctx.current()
    if not caller.tenant_id:
        raise PermissionDenied("this needs a caller signed in to an organization", reason="TENANT_REQUIRED")
    return caller


def json_violation(field: str, value: struct_pb2.Struct) -> FieldViolation | None:
    """Structs are stored as JSON text; bound them so one request cannot fill the database."""
    if len(json_text(value)) > MAX_JSON:
        return FieldViolation(field, f"at most {MAX_JSON // 1024} KiB of JSON")
    return None


def json_text(value: struct_pb2.Struct | dict[str, Any] | None) -> str:
    data = struct_dict(value) if isinstance(value, struct_pb2.Struct) else dict(value or {})
    return json.dumps(data, separators=(",", ":"), sort_keys=True)


def usage_message(row: dict[str, Any]) -> common_pb2.TokenUsage:
    return common_pb2.TokenUsage(
        prompt_tokens=int(row.get("prompt_tokens") or 0),
        completion_tokens=int(row.get("completion_tokens") or 0),
        total_tokens=int(row.get("total_tokens") or 0),
    )


def task_message(row: dict[str, Any]) -> task_pb2.Task:
    return task_pb2.Task(
        task_id=row["task_id"],
        tenant_id=row["tenant_id"],
        owner_id=row["owner_id"],
        agent_id=row["agent_id"],
        team_id=row["team_id"],
        input=row["input"],
        input_data=struct(row["input_data"]),
        parameters=struct(row["parameters"]),
        priority=int(row["priority"]),
        timeout_seconds=int(row["timeout_seconds"]),
        idempotency_key=row["idempotency_key"],
        status=row["status"],
        progress=float(row["progress"]),
        output=row["output"],
        output_data=struct(row["output_data"]),
        error=row["error"],
        usage=usage_message(row),
        attempts=int(row["attempts"]),
        retry_of_task_id=row["retry_of_task_id"],
        workflow_run_id=row["workflow_run_id"],
        created_at=timestamp(row["created_at"]),
        started_at=timestamp(row["started_at"]),
        finished_at=timestamp(row["finished_at"]),
        updated_at=timestamp(row["updated_at"]),
    )


def task_event_message(row: dict[str, Any], task: dict[str, Any] | None = None) -> task_pb2.TaskEvent:
    event = task_pb2.TaskEvent(
        event_id=str(row["event_id"]),
        type=row["type"],
        task_id=row["task_id"],
        status=row["status"],
        progress=float(row["progress"]),
        message=row["message"],
        output_chunk=row["output_chunk"],
        time=timestamp(row["time"]),
    )
    if task is not None:
        event.task.CopyFrom(task_message(task))
    return event


def snapshot_event(task: dict[str, Any]) -> task_pb2.TaskEvent:
    """The first frame of a feed: the whole task; its id is the task's latest event, to resume after."""
    last = task.get("last_event_id")
    return task_pb2.TaskEvent(
        event_id=str(last) if last else "",
        type="task.snapshot",
        task_id=task["task_id"],
        status=task["status"],
        progress=float(task["progress"]),
        message=task["error"],
        task=task_message(task),
        time=timestamp(task["updated_at"]),
    )


def log_message(row: dict[str, Any]) -> common_pb2.LogEntry:
    return common_pb2.LogEntry(
        time=timestamp(row["time"]),
        level=row["level"],
        message=row["message"],
        fields=struct(row["fields"]),
        subject_id=row["task_id"],
    )


def is_final_event(row: dict[str, Any]) -> bool:
    return bool(row["type"] == "task.status" and row["status"] in FINAL)


def event_id_after(field: str, value: str) -> int:
    """A client's last_event_id as the integer it stands for; anything else is INVALID_ARGUMENT."""
    value = value.strip()
    if not value:
        return 0
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        raise InvalidArgument.field(field, "is not an event id this feed issued")
    return int(value)


def check_choice(field: str, value: str, allowed: tuple[str, ...]) -> FieldViolation | None:
    if value not in allowed:
        return FieldViolation(field, f"must be one of {', '.join(allowed)}")
    return None
