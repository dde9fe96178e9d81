"""services/common/listing: filters and sort orders of list requests into SQL, and what it refuses."""

from __future__ import annotations

import pytest

from services.common.errors import InvalidArgument
from services.common.listing import filter_sql, number_value, order_sql, time_value

COLUMNS = {"status": "t.status", "created_at": "t.created_at", "name": "t.name"}


def test_terms_become_bound_conditions() -> None:
    clauses, params = filter_sql('status="a \\"b\\"" AND name:Fo_o AND createdAt!=3', COLUMNS)
    assert clauses == ["t.status = ?", "lower(COALESCE(t.name, '')) LIKE ? ESCAPE '\\'",
                       "(t.created_at IS NULL OR t.created_at != ?)"]
    assert params == ['a "b"', "%fo\\_o%", "3"]


def test_comparisons_need_a_typer_and_get_typed_values() -> None:
    with pytest.raises(InvalidArgument):
        filter_sql("created_at>5", COLUMNS)
    clauses, params = filter_sql("created_at>=5 and status=7", COLUMNS, lambda name, column, text: int(text))
    assert clauses == ["t.created_at >= ?", "t.status = ?"] and params == [5, 7]


@pytest.mark.parametrize("expression", ["owner=x", "status", "status=", "status=\"open", "1=1 OR status=x"])
def test_unknown_fields_and_unreadable_terms_are_refused(expression: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        filter_sql(expression, COLUMNS)
    assert info.value.details()  # a field violation that names the filter


def test_sort_orders_take_listed_fields_and_end_on_the_tie_breaker() -> None:
    assert order_sql("", COLUMNS, "t.created_at DESC", "t.id") == "t.created_at DESC, t.id"
    assert order_sql("name desc, createdAt", COLUMNS, "x", "t.id") == "t.name DESC, t.created_at ASC, t.id"
    for bad in ("owner", "name sideways", "name asc desc"):
        with pytest.raises(InvalidArgument):
            order_sql(bad, COLUMNS, "x", "t.id")


def test_filter_times_and_numbers_are_read_or_refused_naming_the_field() -> None:
    assert time_value("created_at", "1767225600") == 1767225600.0
    assert time_value("created_at", "2026-01-01T00:00:00Z") == 1767225600.0
    assert time_value("created_at", "2026-01-01T01:00:00+01:00") == 1767225600.0
    assert time_value("created_at", "2026-01-01T00:00:00") == 1767225600.0  # no zone: UTC
    assert number_value("cost", "2.5") == 2.5
    for read, text in ((time_value, "yesterday"), (number_value, "lots")):
        with pytest.raises(InvalidArgument, match="field_x"):
            read("field_x", text)
