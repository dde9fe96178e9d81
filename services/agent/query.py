"""Reading list and update requests: filters, sort orders, pages, update masks.

Filters are `field=value`, `field!=value` and `field:value` (contains, case
blind) terms joined by AND; only the fields a list names may appear, so a
filter never reaches SQL as text. Update requests name their fields in
update_mask, or, with an empty mask, by being present in the request.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from services.common.errors import InvalidArgument
from services.common.paging import page_of
from services.common.storage import Database, Row

_TERM = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*(!=|=|:)\s*("(?:[^"\\]|\\.)*"|[^\s"]+)')
_AND = re.compile(r"\s+AND\s+", re.IGNORECASE)


def snake(name: str) -> str:
    """createdAt -> created_at: clients may use either spelling of a field."""
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def like(value: str) -> str:
    """A LIKE pattern that finds `value` anywhere, with the wildcards in it taken literally."""
    escaped = value.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def filter_sql(expression: str, columns: Mapping[str, str]) -> tuple[list[str], list[Any]]:
    """SQL conditions and their parameters for a filter expression."""
    clauses: list[str] = []
    params: list[Any] = []
    if not expression.strip():
        return clauses, params
    for raw in _AND.split(expression.strip()):
        term = _TERM.fullmatch(raw.strip())
        if term is None:
            raise InvalidArgument.field(
                "filter", f'cannot read {raw.strip()!r}; write terms such as status="running" joined by AND'
            )
        name, operator, value = term.groups()
        column = columns.get(snake(name))
        if column is None:
            raise InvalidArgument.field("filter", f"unknown field {name!r}; filterable: {', '.join(sorted(columns))}")
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        if operator == ":":
            clauses.append(f"lower(COALESCE({column}, '')) LIKE ? ESCAPE '\\'")
            params.append(like(value))
        elif operator == "=":
            clauses.append(f"{column} = ?")
            params.append(value)
        else:
            clauses.append(f"({column} IS NULL OR {column} != ?)")
            params.append(value)
    return clauses, params


def order_sql(expression: str, columns: Mapping[str, str], default: str, tie_breaker: str) -> str:
    """ORDER BY terms for `field [asc|desc], ...`; the tie breaker keeps pages stable."""
    if not expression.strip():
        return f"{default}, {tie_breaker}"
    terms = []
    for item in expression.split(","):
        words = item.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise InvalidArgument.field("order_by", f"cannot read {item.strip()!r}; write e.g. 'name' or 'name desc'")
        column = columns.get(snake(words[0]))
        if column is None:
            raise InvalidArgument.field(
                "order_by", f"unknown field {words[0]!r}; sortable: {', '.join(sorted(columns))}"
            )
        terms.append(f"{column} {'DESC' if words[-1].lower() == 'desc' and len(words) == 2 else 'ASC'}")
    return ", ".join([*terms, tie_breaker])


async def page(
    db: Database, table: str, where: list[str], params: list[Any], order: str, request: Any
) -> tuple[list[Row], int, str]:
    """One page of `table` rows (aliased in `table`), the total over all pages and the next page's token."""
    window = page_of(request)
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    counted = await db.fetch_one(f"SELECT COUNT(*) AS n FROM {table}{clause}", params)
    total = int(counted["n"]) if counted else 0
    rows = await db.fetch_all(
        f"SELECT * FROM {table}{clause} ORDER BY {order} LIMIT ? OFFSET ?", [*params, window.limit, window.offset]
    )
    return rows, total, window.next_token(total)


def required_id(field_name: str, value: str) -> str:
    """A blank id is INVALID_ARGUMENT rather than a lookup that finds nothing."""
    value = value.strip()
    if not value:
        raise InvalidArgument.field(field_name, "is required")
    return value


def changed_fields(
    request: Any,
    allowed: Sequence[str],
    *,
    immutable: Sequence[str] = (),
    present: Mapping[str, Callable[[Any], bool]] | None = None,
) -> list[str]:
    """The fields an update changes: the mask's paths, else the optional fields the request carries.

    `present` decides presence for fields without proto3 presence (repeated
    fields: present when non-empty).
    """
    paths = [snake(p) for p in request.update_mask.paths]
    if paths:
        fixed = sorted({p for p in paths if p in immutable})
        if fixed:
            raise InvalidArgument.field("update_mask", f"{', '.join(fixed)} cannot be changed once created")
        unknown = sorted({p for p in paths if p not in allowed})
        if unknown:
            raise InvalidArgument.field(
                "update_mask", f"cannot change {', '.join(unknown)}; updatable fields: {', '.join(allowed)}"
            )
        return list(dict.fromkeys(paths))
    checks = present or {}
    return [name for name in allowed if (checks[name](request) if name in checks else request.HasField(name))]
