"""List requests, read the same way by every unit: filter, order_by and search into SQL.

Filters are `field=value`, `field!=value` and `field:value` (contains, case
blind) terms joined by AND, and where the list types its values, `field>value`
(`>=`, `<`, `<=`) too; sort orders are `field [asc|desc], ...`. Only the
columns a list names may appear, each mapped to its SQL expression by the
caller, so a client's text never reaches SQL except as a bound parameter.
Either spelling of a field (`createdAt`, `created_at`) is accepted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from services.common.errors import InvalidArgument

_TERM = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*(!=|>=|<=|=|:|>|<)\s*("(?:[^"\\]|\\.)*"|[^\s"]+)')
_COMPARISONS = (">", ">=", "<", "<=")
_AND = re.compile(r"\s+AND\s+", re.IGNORECASE)


def snake(name: str) -> str:
    """createdAt -> created_at."""
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def like(value: str) -> str:
    """A LIKE pattern that finds `value` anywhere, with the wildcards in it taken literally."""
    escaped = value.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_sql(search: str, columns: Sequence[str]) -> tuple[list[str], list[Any]]:
    """A case-blind "contains" match on any of the columns; no clause when the search is blank."""
    search = search.strip()
    if not search:
        return [], []
    either = " OR ".join(f"lower({column}) LIKE ? ESCAPE '\\'" for column in columns)
    return [f"({either})"], [like(search)] * len(columns)


def filter_sql(
    expression: str, columns: Mapping[str, str], typed: Callable[[str, str, str], Any] | None = None
) -> tuple[list[str], list[Any]]:
    """SQL conditions and their parameters for a filter expression.

    `typed(field, column, text)` gives the value bound for `=`, `!=` and the comparisons `>`, `>=`,
    `<`, `<=` (times, numbers); a list that passes none compares text and takes no comparisons.
    """
    clauses: list[str] = []
    params: list[Any] = []
    if not expression.strip():
        return clauses, params
    for raw in _AND.split(expression.strip()):
        term = _TERM.fullmatch(raw.strip())
        if term is None or (typed is None and term[2] in _COMPARISONS):
            raise InvalidArgument.field(
                "filter", f'cannot read {raw.strip()!r}; write terms such as status="active" joined by AND'
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
            continue
        bound = typed(name, column, value) if typed is not None else value
        if operator == "!=":
            clauses.append(f"({column} IS NULL OR {column} != ?)")
        else:
            clauses.append(f"{column} {operator} ?")
        params.append(bound)
    return clauses, params


def order_sql(expression: str, columns: Mapping[str, str], default: str, tie_breaker: str) -> str:
    """ORDER BY terms; the tie breaker comes last so that pages stay stable when sort keys repeat."""
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
        direction = "DESC" if len(words) == 2 and words[1].lower() == "desc" else "ASC"
        terms.append(f"{column} {direction}")
    return ", ".join([*terms, tie_breaker])


def time_value(name: str, text: str) -> float:
    """A filter's time: Unix seconds, or RFC 3339 (2026-01-31T12:00:00Z; UTC when no zone is given)."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidArgument.field("filter", f"{name}: {text!r} is not a time such as 2026-01-31T12:00:00Z") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def number_value(name: str, text: str) -> float:
    """A filter's number; INVALID_ARGUMENT naming the field when it is not one."""
    try:
        return float(text)
    except ValueError:
        raise InvalidArgument.field("filter", f"{name}: {text!r} is not a number") from None

