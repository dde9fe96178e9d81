"""Storage of notifications, their per-user read state and users' preferences.

A row's audience is the pair (tenant_id, user_id), read the way the event bus
reads an event's: an empty tenant_id means every tenant, an empty user_id
every user of the tenant(s). So a notification to one user is one row with
that user_id; one to a whole tenant, or to everyone, is also ONE row, and
every member sees it. Read state lives in `notification_reads`, one row per
user who has read a notification. The admin unit does not own the user list
(the auth unit does), so a tenant's membership is never copied here.

The inbox (ListNotifications, WatchNotifications) is what a user's
preferences let through now: in-app rows that have not expired, at or above
the user's `min_level`, whose kind no `muted_kinds` glob matches, and nothing
while `in_app_enabled` is off. The history (ListNotificationHistory) is every
row addressed to the user, on every channel.
"""

from __future__ import annotations

import fnmatch
import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from agentmesh.v1 import admin_pb2

from services.common import listing
from services.common.authctx import Caller
from services.common.errors import InvalidArgument, NotFound
from services.common.paging import page_of
from services.common.protoutil import new_id, struct, timestamp
from services.common.storage import Database, Row

LEVELS = ("info", "success", "warning", "error", "critical")
CHANNELS = ("in_app", "email", "webhook")
STATUSES = ("pending", "delivered", "failed")
DIGESTS = ("none", "daily", "weekly")
MAX_PAGE = 200
# Columns that `filter` and `order_by` may name, by their field names in Notification.
COLUMNS: Mapping[str, str] = {
    "notification_id": "n.notification_id",
    "tenant_id": "n.tenant_id",
    "user_id": "n.user_id",
    "title": "n.title",
    "message": "n.message",
    "level": "n.level_rank",
    "channel": "n.channel",
    "kind": "n.kind",
    "subject_id": "n.subject_id",
    "status": "n.status",
    "sender_id": "n.sender_id",
    "created_at": "n.created_at",
}
_SELECT = (
    "SELECT n.*, r.read_at FROM notifications n"
    " LEFT JOIN notification_reads r ON r.notification_id = n.notification_id AND r.user_id = ?"
)
_COUNT = (
    "SELECT COUNT(*) AS n FROM notifications n"
    " LEFT JOIN notification_reads r ON r.notification_id = n.notification_id AND r.user_id = ?"
)
_TERM = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*(!=|=|:)\s*("(?:[^"\\]|\\.)*"|[^\s"]+)')


def level_rank(field_name: str, level: str) -> int:
    """The level's place in LEVELS (info lowest); any other word is INVALID_ARGUMENT naming the field."""
    if level not in LEVELS:
        raise InvalidArgument.field(field_name, f"one of {', '.join(LEVELS)}")
    return LEVELS.index(level)


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like(glob: str) -> str:
    """A kind glob (letters, digits, '_', '.', '*', '?') as a LIKE pattern with '\\' escapes."""
    return _escaped(glob).replace("*", "%").replace("?", "_")


@dataclass(frozen=True, slots=True)
class Preferences:
    """How one user wants to be notified; a user who never saved any has these defaults."""

    in_app_enabled: bool = True
    email_enabled: bool = False
    webhook_enabled: bool = False
    email: str = ""
    webhook_url: str = ""
    min_level: str = "info"
    muted_kinds: tuple[str, ...] = ()
    digest: str = "none"
    quiet_hours_start: str = ""
    quiet_hours_end: str = ""
    timezone: str = "UTC"
    updated_at: float | None = None

    def notifies(self, level: str, kind: str) -> bool:
        """Whether a notification of this level and kind reaches the user on any channel."""
        if LEVELS.index(level) < LEVELS.index(self.min_level):
            return False
        return not any(fnmatch.fnmatchcase(kind, glob) for glob in self.muted_kinds)

    def message(self, user_id: str) -> admin_pb2.NotificationPreferences:
        return admin_pb2.NotificationPreferences(
            user_id=user_id,
            in_app_enabled=self.in_app_enabled,
            email_enabled=self.email_enabled,
            webhook_enabled=self.webhook_enabled,
            email=self.email,
            webhook_url=self.webhook_url,
            min_level=self.min_level,
            muted_kinds=list(self.muted_kinds),
            digest=self.digest,
            quiet_hours_start=self.quiet_hours_start,
            quiet_hours_end=self.quiet_hours_end,
            timezone=self.timezone,
            updated_at=timestamp(self.updated_at),
        )


@dataclass(frozen=True, slots=True)
class Draft:
    """A notification about to be stored."""

    tenant_id: str
    user_id: str
    message: str
    title: str = ""
    level: str = "info"
    channel: str = "in_app"
    kind: str = ""
    subject_id: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)
    status: str = "delivered"
    error: str = ""
    sender_id: str = ""
    expires_at: float | None = None


@dataclass(slots=True)
class Where:
    """AND-ed SQL conditions and their parameters."""

    clauses: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)

    def add(self, clause: str, *params: Any) -> None:
        self.clauses.append(clause)
        self.params.extend(params)

    def sql(self) -> str:
        return " WHERE " + " AND ".join(self.clauses) if self.clauses else ""


def addressed_to(viewer: Caller) -> Where:
    """Rows whose audience includes the viewer: the bus's visibility rule, applied to stored rows."""
    where = Where()
    where.add("n.user_id IN ('', ?)", viewer.user_id)
    where.add("n.tenant_id IN ('', ?)", viewer.tenant_id)
    return where


def inbox_of(viewer: Caller, prefs: Preferences, now: float) -> Where:
    """The viewer's inbox: in-app rows addressed to them that have not expired and their preferences let through."""
    where = addressed_to(viewer)
    where.add("n.channel = 'in_app'")
    where.add("(n.expires_at IS NULL OR n.expires_at > ?)", now)
    if not prefs.in_app_enabled:
        where.add("1 = 0")
    where.add("n.level_rank >= ?", LEVELS.index(prefs.min_level))
    for glob in prefs.muted_kinds:
        where.add("n.kind NOT LIKE ? ESCAPE '\\'", _like(glob))
    return where


def apply_filter(where: Where, expression: str) -> None:
    """`field=value`, `field!=value` and `field:value` (contains) terms joined by AND, over COLUMNS only."""
    expression = expression.strip()
    if not expression:
        return
    for term in re.split(r"\s+AND\s+", expression):
        matched = _TERM.fullmatch(term.strip())
        if matched is None:
            raise InvalidArgument.field(
                "filter", f'cannot read {term.strip()!r}; write terms such as kind="task.failed"'
            )
        name, operator, value = matched.groups()
        column = COLUMNS.get(name)
        if column is None or name == "created_at":
            raise InvalidArgument.field(
                "filter", f"unknown field {name!r}; filterable: {', '.join(sorted(set(COLUMNS) - {'created_at'}))}"
            )
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        if name == "level":
            rank = level_rank("filter", value)
            where.add(f"{column} {'=' if operator != '!=' else '!='} ?", rank)
        elif operator == ":":
            where.add(f"lower({column}) LIKE ? ESCAPE '\\'", f"%{_escaped(value.lower())}%")
        else:
            where.add(f"{column} {operator} ?", value)


def order_sql(expression: str) -> str:
    """ORDER BY terms for `field [asc|desc], ...`; newest first by default, storage order breaks ties."""
    if not expression.strip():
        return "n.seq DESC"
    # created_at sorts as the storage sequence: the same order, without ties.
    return listing.order_sql(expression, {**COLUMNS, "created_at": "n.seq"}, "n.seq DESC", "n.seq DESC")


def notification_message(row: Row, viewer: Caller | None = None) -> admin_pb2.Notification:
    """The row as a Notification; for a viewer, a tenant- or platform-wide row reads as their own copy."""
    tenant_id, user_id = row["tenant_id"], row["user_id"]
    if viewer is not None:
        tenant_id, user_id = tenant_id or viewer.tenant_id, user_id or viewer.user_id
    read_at = row.get("read_at")
    return admin_pb2.Notification(
        notification_id=row["notification_id"],
        tenant_id=tenant_id,
        user_id=user_id,
        title=row["title"],
        message=row["message"],
        level=row["level"],
        channel=row["channel"],
        kind=row["kind"],
        subject_id=row["subject_id"],
        data=struct(row["data"]),
        status=row["status"],
        read=read_at is not None,
        read_at=timestamp(read_at),
        sender_id=row["sender_id"],
        created_at=timestamp(row["created_at"]),
        delivered_at=timestamp(row["delivered_at"]),
    )


def _preferences(row: Row | None) -> Preferences:
    if row is None:
        return Preferences()
    return Preferences(
        in_app_enabled=bool(row["in_app_enabled"]),
        email_enabled=bool(row["email_enabled"]),
        webhook_enabled=bool(row["webhook_enabled"]),
        email=row["email"],
        webhook_url=row["webhook_url"],
        min_level=row["min_level"],
        muted_kinds=tuple(json.loads(row["muted_kinds"])),
        digest=row["digest"],
        quiet_hours_start=row["quiet_hours_start"],
        quiet_hours_end=row["quiet_hours_end"],
        timezone=row["timezone"],
        updated_at=row["updated_at"],
    )


class NotificationStore:
    """The notification tables of the admin unit's database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert(self, drafts: Sequence[Draft]) -> list[Row]:
        """Store the drafts together (all or none) and return their rows, unread."""
        now = time.time()
        ids = [new_id("ntf") for _ in drafts]
        async with self.db.transaction() as tx:
            for notification_id, d in zip(ids, drafts, strict=True):
                await tx.execute(
                    "INSERT INTO notifications (notification_id, tenant_id, user_id, title, message, level, level_rank,"
                    " channel, kind, subject_id, data, status, error, sender_id, created_at, delivered_at, expires_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (notification_id, d.tenant_id, d.user_id, d.title, d.message, d.level, LEVELS.index(d.level),
                     d.channel, d.kind, d.subject_id, json.dumps(dict(d.data)), d.status, d.error, d.sender_id, now,
                     now if d.status == "delivered" else None, d.expires_at),
                )
            rows = [await tx.fetch_one("SELECT n.*, NULL AS read_at FROM notifications n WHERE n.notification_id = ?",
                                       (notification_id,)) for notification_id in ids]
        return [row for row in rows if row is not None]

    async def page(self, viewer: Caller, where: Where, order: str, request: Any) -> tuple[list[Row], int, str]:
        """One page of rows with the viewer's read state, the total over all pages and the next page's token."""
        window = page_of(request, maximum=MAX_PAGE)
        total_row = await self.db.fetch_one(_COUNT + where.sql(), [viewer.user_id, *where.params])
        total = int(total_row["n"]) if total_row else 0
        rows = await self.db.fetch_all(f"{_SELECT}{where.sql()} ORDER BY {order} LIMIT ? OFFSET ?",
                                       [viewer.user_id, *where.params, window.limit, window.offset])
        return rows, total, window.next_token(total)

    async def count(self, viewer: Caller, where: Where) -> int:
        row = await self.db.fetch_one(_COUNT + where.sql(), [viewer.user_id, *where.params])
        return int(row["n"]) if row else 0

    async def after(self, viewer: Caller, where: Where, seq: int, limit: int) -> list[Row]:
        """The newest `limit` rows stored after `seq`, oldest first (for a resuming watch)."""
        where = replace(where, clauses=[*where.clauses, "n.seq > ?"], params=[*where.params, seq])
        rows = await self.db.fetch_all(f"{_SELECT}{where.sql()} ORDER BY n.seq DESC LIMIT ?",
                                       [viewer.user_id, *where.params, limit])
        return rows[::-1]

    async def addressed(self, viewer: Caller, notification_id: str) -> Row:
        """The row if it is addressed to the viewer; NOT_FOUND whether it is missing or someone else's."""
        where = addressed_to(viewer)
        where.add("n.notification_id = ?", notification_id)
        row = await self.db.fetch_one(_SELECT + where.sql(), [viewer.user_id, *where.params])
        if row is None:
            raise NotFound(f"notification {notification_id} not found", reason="NOTIFICATION_NOT_FOUND")
        return row

    async def mark_read(self, viewer: Caller, notification_id: str) -> Row:
        """Record the viewer's reading once (the first time counts) and return the row as they see it."""
        row = await self.addressed(viewer, notification_id)
        if row["read_at"] is None:
            await self.db.execute(
                "INSERT INTO notification_reads (notification_id, user_id, read_at) VALUES (?, ?, ?)"
                " ON CONFLICT (notification_id, user_id) DO NOTHING",
                (notification_id, viewer.user_id, time.time()),
            )
            row = await self.addressed(viewer, notification_id)
        return row

    async def preferences(self, user_id: str) -> Preferences:
        row = await self.db.fetch_one("SELECT * FROM notification_preferences WHERE user_id = ?", (user_id,))
        return _preferences(row)

    async def save_preferences(self, user_id: str, prefs: Preferences) -> Preferences:
        now = time.time()
        await self.db.execute(
            "INSERT INTO notification_preferences (user_id, in_app_enabled, email_enabled, webhook_enabled, email,"
            " webhook_url, min_level, muted_kinds, digest, quiet_hours_start, quiet_hours_end, timezone, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET"
            " in_app_enabled = excluded.in_app_enabled, email_enabled = excluded.email_enabled,"
            " webhook_enabled = excluded.webhook_enabled, email = excluded.email, webhook_url = excluded.webhook_url,"
            " min_level = excluded.min_level, muted_kinds = excluded.muted_kinds, digest = excluded.digest,"
            " quiet_hours_start = excluded.quiet_hours_start, quiet_hours_end = excluded.quiet_hours_end,"
            " timezone = excluded.timezone, updated_at = excluded.updated_at",
            (user_id, int(prefs.in_app_enabled), int(prefs.email_enabled), int(prefs.webhook_enabled), prefs.email,
             prefs.webhook_url, prefs.min_level, json.dumps(list(prefs.muted_kinds)), prefs.digest,
             prefs.quiet_hours_start, prefs.quiet_hours_end, prefs.timezone, now),
        )
        return replace(prefs, updated_at=now)

    async def seq_of(self, viewer: Caller, notification_id: str) -> int:
        """Where a notification addressed to the viewer stands in storage order (for since_id)."""
        return int((await self.addressed(viewer, notification_id))["seq"])
