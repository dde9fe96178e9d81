"""What behavioural analytics read: whose commits, summed per hour or one by one, and stored patterns.

Every read is confined to the caller's tenant and to one user. The caller may
name another user only with the admin role (PERMISSION_DENIED otherwise, the
same answer whatever the id); an admin naming a user who never tracked a
commit in the tenant gets NOT_FOUND, since the unit knows nothing of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentmesh.v1 import analytics_pb2

from services.analytics.behavior_patterns import CommitFacts
from services.analytics.behavior_series import HourBucket
from services.common.authctx import Caller
from services.common.crud import MAX_ID
from services.common.errors import InvalidArgument, NotFound, PermissionDenied
from services.common.protoutil import struct, timestamp
from services.common.storage import Database


class Scope:
    """One user's commits in one tenant, optionally of one repository."""

    def __init__(self, tenant_id: str, user_id: str, repository: str = "") -> None:
        self.tenant_id = tenant_id
        self.user_id = user_id
        self.repository = repository

    def where(self, start: float | None = None, end: float | None = None) -> tuple[str, list[Any]]:
        clauses = ["tenant_id = ?", "user_id = ?"]
        params: list[Any] = [self.tenant_id, self.user_id]
        if self.repository:
            clauses.append("repository = ?")
            params.append(self.repository)
        if start is not None:
            clauses.append("timestamp >= ?")
            params.append(start)
        if end is not None:
            clauses.append("timestamp < ?")
            params.append(end)
        return " AND ".join(clauses), params


async def target_user(db: Database, caller: Caller, user_id: str) -> str:
    """Whose analytics the caller asks for: their own, or, for an admin, a user of the tenant."""
    wanted = user_id.strip()
    if not wanted or wanted == caller.user_id:
        return caller.user_id
    if len(wanted) > MAX_ID:
        raise InvalidArgument.field("user_id", f"at most {MAX_ID} characters")
    if not caller.is_admin:
        raise PermissionDenied("only admins may read another user's analytics; leave user_id empty for your own",
                               reason="ADMIN_ROLE_REQUIRED")
    known = await db.fetch_one("SELECT 1 FROM commits WHERE tenant_id = ? AND user_id = ? LIMIT 1",
                               (caller.tenant_id, wanted))
    if known is None:
        raise NotFound(f"user {wanted} has no tracked commits in this organization", reason="USER_NOT_FOUND")
    return wanted


async def hour_buckets(db: Database, scope: Scope, start: float, end: float) -> list[HourBucket]:
    where, params = scope.where(start, end)
    rows = await db.fetch_all(
        "SELECT CAST(timestamp / 3600 AS INTEGER) AS hour, COUNT(*) AS commits, SUM(additions) AS additions,"
        " SUM(deletions) AS deletions, SUM(files_changed) AS files_changed"
        f" FROM commits WHERE {where} GROUP BY hour ORDER BY hour", params)
    return [HourBucket(int(r["hour"]), int(r["commits"]), int(r["additions"]), int(r["deletions"]),
                       int(r["files_changed"])) for r in rows]


async def active_days(db: Database, scope: Scope, end: float) -> set[int]:
    """Every day with a commit before `end` (the current streak may begin long before a window)."""
    where, params = scope.where(None, end)
    rows = await db.fetch_all(f"SELECT DISTINCT CAST(timestamp / 86400 AS INTEGER) AS day FROM commits WHERE {where}",
                              params)
    return {int(r["day"]) for r in rows}


async def commit_facts(db: Database, scope: Scope, start: float, end: float) -> list[CommitFacts]:
    where, params = scope.where(start, end)
    rows = await db.fetch_all(
        f"SELECT timestamp, additions, deletions, files_changed, repository, message FROM commits WHERE {where}"
        " ORDER BY timestamp", params)
    return [CommitFacts(r["timestamp"], r["additions"], r["deletions"], r["files_changed"], r["repository"],
                        r["message"]) for r in rows]


def pattern_message(row: Mapping[str, Any]) -> analytics_pb2.Pattern:
    return analytics_pb2.Pattern(
        pattern_id=row["pattern_id"],
        tenant_id=row["tenant_id"],
        user_id=row["user_id"],
        analysis_id=row["analysis_id"],
        kind=row["kind"],
        title=row["title"],
        description=row["description"],
        confidence=row["confidence"],
        data=struct(row["data"]),
        repository=row["repository"],
        start_time=timestamp(row["start_time"]),
        end_time=timestamp(row["end_time"]),
        created_at=timestamp(row["created_at"]),
    )

