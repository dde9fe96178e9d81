"""The audit trail: one row per call of an audited method in any unit, newest first.

Rows come from `audit.recorded` events (services.common.trail, stored by
services.admin.recorder), idempotent by the entry's id. Kept for
`audit.retention_days` of the system configuration (365 by default).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from agentmesh.v1 import admin_pb2, common_pb2

from services.common import crud
from services.common.errors import InvalidArgument
from services.common.listing import filter_sql, order_sql
from services.common.protoutil import seconds, struct, struct_dict, timestamp
from services.common.storage import Database, Row, Statement

COLUMNS: Mapping[str, str] = {
    name: name for name in ("audit_entry_id", "actor_id", "actor_role", "tenant_id", "method", "resource_type",
                            "resource_id", "outcome", "status_code", "ip_address", "request_id", "unit")
} | {"time": "time"}
OUTCOMES = ("succeeded", "denied", "failed")
_FIELDS = ("audit_entry_id", "actor_id", "actor_role", "tenant_id", "method", "resource_type", "resource_id",
           "outcome", "status_code", "ip_address", "user_agent", "request_id", "unit", "via_service")
INSERT = (f"INSERT INTO audit_log (time, request, {', '.join(_FIELDS)})"
          f" VALUES (?, ?, {', '.join('?' for _ in _FIELDS)}) ON CONFLICT (audit_entry_id) DO NOTHING")


def statement(event: common_pb2.Event) -> Statement | None:
    """The row an audit.recorded event stores; None when it is not one."""
    data = struct_dict(event.data)
    if not data.get("audit_entry_id") or not data.get("method"):
        return None
    values = [str(data.get(name, "") or "")[:1000] for name in _FIELDS]
    return Statement(INSERT, (seconds(event.time), json.dumps(data.get("request") or {}), *values))


def entry_message(row: Row) -> admin_pb2.AuditEntry:
    return admin_pb2.AuditEntry(
        audit_entry_id=row["audit_entry_id"], time=timestamp(row["time"]), actor_id=row["actor_id"],
        actor_role=row["actor_role"], tenant_id=row["tenant_id"], method=row["method"],
        resource_type=row["resource_type"], resource_id=row["resource_id"], outcome=row["outcome"],
        status_code=row["status_code"], request=struct(row["request"]), ip_address=row["ip_address"],
        user_agent=row["user_agent"], request_id=row["request_id"],
    )


def _typed(name: str, column: str, text: str) -> Any:
    if column == "time":
        raise InvalidArgument.field("filter", "use since and until for times")
    return text


async def page(db: Database, request: admin_pb2.ListAuditLogRequest) -> tuple[list[Row], int, str]:
    where: list[str] = []
    params: list[Any] = []
    for name in ("actor_id", "tenant_id", "resource_type", "resource_id"):
        value = getattr(request, name).strip()
        if value:
            where.append(f"{name} = ?")
            params.append(value)
    method = request.method.strip().lstrip("/")
    if method:
        where.append("(method = ? OR method LIKE ? ESCAPE '\\')" if "/" not in method else "method = ?")
        params += [method, "%/" + method.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")] \
            if "/" not in method else [method]
    if request.HasField("since"):
        where.append("time >= ?")
        params.append(seconds(request.since))
    if request.HasField("until"):
        where.append("time < ?")
        params.append(seconds(request.until))
    clauses, values = filter_sql(request.filter, COLUMNS, _typed)
    where += clauses
    params += values
    order = order_sql(request.order_by, COLUMNS, "time DESC", "seq DESC")
    return await crud.page(db, "audit_log", where, params, order, request, default=50, maximum=500)
