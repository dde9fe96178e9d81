"""List queries: the `filter` and `order_by` expressions of List requests, and one page of rows.

Filters are `field=value`, `field!=value`, `field:value` (contains),
`field>value`, `field<value` (and `>=`, `<=`) terms joined by AND. Only the
fields a list names may appear, and values are always bound parameters, so a
filter never reaches SQL as text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from services.common.errors import InvalidArgument
from services.common.listing import like, snake
from services.common.paging import page_of
from services.common.storage import Database, Row

_TERM = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*(!=|>=|<=|=|:|>|<)\s*("(?:[^"\\]|\\.)*"|[^\s"]+)')
# Columns holding Unix seconds.
TIME_SUFFIXES = ("_at", "time")


@dataclass(slots=True)
class Where:
    """AND-ed SQL conditions with their parameters."""

    clauses: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)

    @classmethod
    def of(cls, clause: str, *params: Any) -> Where:
        where = cls()
        where.add(clause, *params)
        return where

    def add(self, clause: str, *params: Any) -> None:
        self.clauses.append(clause)
        self.params.extend(params)

    def sql(self) -> str:
        return (" WHERE " + " AND ".join(self.clauses)) if self.clauses else ""


def apply_filter(where: Where, expression: str, columns: Mapping[str, str]) -> None:
    """Add the filter expression's terms; unknown fields and unreadable terms are INVALID_ARGUMENT."""
    expression = expression.strip()
    if not expression:
        return
    for term in re.split(r"\s+AND\s+", expression):
        match = _TERM.fullmatch(term.strip())
        if match is None:
            raise InvalidArgument.field(
                "filter", f'cannot read {term.strip()!r}; write terms such as status="running" joined by AND'
            )
        name, operator, value = match.groups()
        column = columns.get(snake(name))
        if column is None:
            raise InvalidArgument.field(
                "filter", f"unknown field {name!r}; filterable fields: {', '.join(sorted(columns))}"
            )
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        typed = _moment(name, value) if column.endswith(TIME_SUFFIXES) else _number_or_text(value)
        if operator == ":":
            where.add(f"lower(COALESCE({column}, '')) LIKE ? ESCAPE '\\'", like(value))
        elif operator == "!=":
            where.add(f"({column} IS NULL OR {column} != ?)", typed)
        else:
            where.add(f"{column} {operator} ?", typed)


def _moment(name: str, value: str) -> float:
    """Times are stored as Unix seconds; filters may give seconds or RFC 3339 (2026-01-31T12:00:00Z)."""
    number = _number_or_text(value)
    if isinstance(number, int | float):
        return float(number)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidArgument.field("filter", f"{name}: {value!r} is not a time such as 2026-01-31T12:00:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _number_or_text(value: str) -> Any:
    if value.lower() in ("true", "false"):
        return int(value.lower() == "true")  # booleans are stored as 0 and 1
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        return value


async def page(db: Database, select: str, table: str, where: Where, order: str, request: Any
               ) -> tuple[list[Row], int, str]:
    """One page of rows, the number of rows over all pages, and the next page's token."""
    window = page_of(request)
    clause = where.sql()
    counted = await db.fetch_one(f"SELECT COUNT(*) AS n FROM {table}{clause}", where.params)
    total = int(counted["n"]) if counted else 0
    rows = await db.fetch_all(f"{select} FROM {table}{clause} ORDER BY {order} LIMIT ? OFFSET ?",
                              [*where.params, window.limit, window.offset])
    return rows, total, window.next_token(total)
