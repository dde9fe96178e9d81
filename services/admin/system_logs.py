"""System logs: the warning-and-worse lines of every unit, kept by the admin unit and queried newest first.

Source: every unit process started with `python -m services.<unit>` (what
`make run` and the containers do) forwards its lines at WARNING and above, at
most 20 a second, as `log.<level>` events (services.common.trail); the admin
unit stores them (services.admin.recorder) for `logs.retention_days` (14) and
at most `logs.max_lines` (200,000) lines, whichever is less. Info and debug
lines stay in each process's JSON log on stderr: `level` may still ask for
them, the store simply has none. The edge's lines are not collected.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from agentmesh.v1 import admin_pb2, common_pb2

from services.common import crud
from services.common.errors import InvalidArgument
from services.common.listing import filter_sql, like, order_sql
from services.common.protoutil import seconds, struct, struct_dict, timestamp
from services.common.settings import UNITS
from services.common.storage import Database, Row, Statement
from services.common.trail import LOG_EVENT_PREFIX

LEVELS = ("debug", "info", "warning", "error", "critical")
SOURCES = (*UNITS, "edge")
COLUMNS: Mapping[str, str] = {"unit": "unit", "logger": "logger", "message": "message", "request_id": "request_id",
                              "level": "level_rank", "time": "time"}
INSERT = ("INSERT INTO system_logs (event_id, time, level, level_rank, unit, logger, message, request_id, fields)"
          " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING")


def level_rank(field: str, level: str) -> int:
    if level not in LEVELS:
        raise InvalidArgument.field(field, f"one of {', '.join(LEVELS)}")
    return LEVELS.index(level)


def statement(event: common_pb2.Event) -> Statement | None:
    """The row a log.<level> event stores; None when it is not one."""
    level = event.type.removeprefix(LOG_EVENT_PREFIX)
    if level not in LEVELS or not event.id:
        return None
    data = struct_dict(event.data)
    fields = dict(data.get("fields") or {})
    if data.get("exception"):
        fields["exception"] = data["exception"]
    return Statement(INSERT, (
        event.id, seconds(event.time), level, LEVELS.index(level), str(data.get("unit") or event.source)[:40],
        str(data.get("logger", ""))[:200], str(data.get("message", ""))[:2000], str(data.get("request_id", ""))[:128],
        json.dumps(fields),
    ))


def entry_message(row: Row) -> common_pb2.LogEntry:
    fields = {"unit": row["unit"], "logger": row["logger"], **json.loads(row["fields"] or "{}")}
    if row["request_id"]:
        fields["request_id"] = row["request_id"]
    return common_pb2.LogEntry(time=timestamp(row["time"]), level=row["level"], message=row["message"],
                               fields=struct(fields), subject_id=row["unit"])


def _typed(name: str, column: str, text: str) -> Any:
    if column == "level_rank":
        return level_rank("filter", text)
    if column == "time":
        raise InvalidArgument.field("filter", "use since and until for times")
    return text


async def page(db: Database, request: admin_pb2.ListSystemLogsRequest) -> tuple[list[Row], int, str]:
    where: list[str] = []
    params: list[Any] = []
    if request.level.strip():
        where.append("level_rank >= ?")
        params.append(level_rank("level", request.level.strip().lower()))
    unit = request.unit.strip()
    if unit:
        if unit not in SOURCES:
            raise InvalidArgument.field("unit", f"one of {', '.join(SOURCES)}")
        where.append("unit = ?")
        params.append(unit)
    if request.HasField("since"):
        where.append("time >= ?")
        params.append(seconds(request.since))
    if request.HasField("until"):
        where.append("time < ?")
        params.append(seconds(request.until))
    if request.search.strip():
        where.append("lower(message) LIKE ? ESCAPE '\\'")
        params.append(like(request.search.strip()))
    clauses, values = filter_sql(request.filter, COLUMNS, _typed)
    where += clauses
    params += values
    order = order_sql(request.order_by, COLUMNS, "time DESC", "seq DESC")
    return await crud.page(db, "system_logs", where, params, order, request, default=100, maximum=1000)
