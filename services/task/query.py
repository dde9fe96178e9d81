"""List queries: the `filter` and `order_by` expressions of List requests, and one page of rows.

Filters are `field=value`, `field!=value`, `field:value` (contains),
`field>value`, `field<value` (and `>=`, `<=`) terms joined by AND. Only the
fields a list names may appear, and values are always bound parameters, so a
filter never reaches SQL as text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from services.common.listing import filter_sql, time_value
from services.common.paging import page_of
from services.common.storage import Database, Row

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
    """Add the filter expression's terms (services/common/listing's reading, with times and numbers
    typed); unknown fields and unreadable terms are INVALID_ARGUMENT."""
    clauses, params = filter_sql(expression, columns, _typed)
    where.clauses += clauses
    where.params += params


def _typed(name: str, column: str, value: str) -> Any:
    return time_value(name, value) if column.endswith(TIME_SUFFIXES) else _number_or_text(value)


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
