"""Reports as downloads: a list of flat rows written as JSON or CSV into a google.api.HttpBody."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

from google.api import httpbody_pb2

from services.common.errors import InvalidArgument

FORMATS = ("json", "csv")


def report_format(value: str) -> str:
    chosen = value.strip().lower() or "json"
    if chosen not in FORMATS:
        raise InvalidArgument.field("format", "json or csv")
    return chosen


def body(kind: str, rows: Sequence[Mapping[str, Any]], about: Mapping[str, Any]) -> httpbody_pb2.HttpBody:
    """JSON: the `about` fields with the rows under "rows". CSV: a header line, then one line per row."""
    if kind == "json":
        document = {**about, "rows": list(rows)}
        return httpbody_pb2.HttpBody(content_type="application/json",
                                     data=json.dumps(document, ensure_ascii=False, indent=1).encode())
    columns: list[str] = []
    for row in rows:
        columns.extend(c for c in row if c not in columns)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns or ["empty"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return httpbody_pb2.HttpBody(content_type="text/csv; charset=utf-8", data=out.getvalue().encode())
