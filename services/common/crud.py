"""Reading resource requests the same way in every unit: ids, pages and update masks.

Filters and sort orders are services.common.listing's. Update requests name
their fields in update_mask, or, with an empty mask, by being present in the
request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from services.common.errors import InvalidArgument
from services.common.listing import snake
from services.common.paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, page_of
from services.common.storage import Database, Row


async def page(
    db: Database, table: str, where: list[str], params: list[Any], order: str, request: Any, *,
    default: int = DEFAULT_PAGE_SIZE, maximum: int = MAX_PAGE_SIZE,
) -> tuple[list[Row], int, str]:
    """One page of `table` rows (aliased in `table`), the total over all pages and the next page's token."""
    window = page_of(request, default=default, maximum=maximum)
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    counted = await db.fetch_one(f"SELECT COUNT(*) AS n FROM {table}{clause}", params)
    total = int(counted["n"]) if counted else 0
    rows = await db.fetch_all(
        f"SELECT * FROM {table}{clause} ORDER BY {order} LIMIT ? OFFSET ?", [*params, window.limit, window.offset]
    )
    return rows, total, window.next_token(total)


MAX_ID = 128


def required_id(field_name: str, value: str) -> str:
    """A trimmed id; blank or oversized ids are INVALID_ARGUMENT rather than a lookup that finds nothing."""
    value = value.strip()
    if not value:
        raise InvalidArgument.field(field_name, "is required")
    if len(value) > MAX_ID:
        raise InvalidArgument.field(field_name, f"at most {MAX_ID} characters")
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
