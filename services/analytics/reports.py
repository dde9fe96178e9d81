"""Reports as downloads: a list of flat rows written as JSON or CSV into a google.api.HttpBody."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from google.api import httpbody_pb2
from google.protobuf import struct_pb2

from services.common.errors import InvalidArgument

FORMATS = ("json", "csv")


def report_format(value: str) -> str:
    chosen = value.strip().lower() or "json"
    if chosen not in FORMATS:
        raise InvalidArgument.field("format", "json or csv")
    return chosen


def body(kind: str, rows: Sequence[Mapping[str, Any]], about: Mapping[str, Any], *,
         name: str) -> httpbody_pb2.HttpBody:
    """JSON: the `about` fields with the rows under "rows". CSV: a header line, then one line per row.

    Either comes as a download named `<name>-<UTC date>.<format>`: the edge sends the Content-Disposition
    the body's extensions carry.
    """
    if kind == "json":
        document = {**about, "rows": list(rows)}
        report = httpbody_pb2.HttpBody(content_type="application/json",
                                       data=json.dumps(document, ensure_ascii=False, indent=1).encode())
    else:
        columns: list[str] = []
        for row in rows:
            columns.extend(c for c in row if c not in columns)
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns or ["empty"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        report = httpbody_pb2.HttpBody(content_type="text/csv; charset=utf-8", data=out.getvalue().encode())
    headers = struct_pb2.Struct()
    filename = f"{name}-{time.strftime('%Y-%m-%d', time.gmtime())}.{kind}"
    headers.update({"content-disposition": f'attachment; filename="{filename}"'})
    report.extensions.add().Pack(headers)
    return report
