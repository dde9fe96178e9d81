"""Small conversions between storage values and well-known protobuf types."""

from __future__ import annotations

import json
import secrets
from typing import Any

from google.protobuf import json_format, struct_pb2, timestamp_pb2


def timestamp(seconds: float | None) -> timestamp_pb2.Timestamp | None:
    """A Timestamp for Unix seconds; None stays None so the field stays unset."""
    if seconds is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp


def seconds(stamp: timestamp_pb2.Timestamp) -> float:
    return stamp.seconds + stamp.nanos / 1e9


def struct(value: dict[str, Any] | str | None) -> struct_pb2.Struct:
    """A Struct from a dict or a JSON object text."""
    items: dict[str, Any] = json.loads(value or "{}") if isinstance(value, str) else dict(value or {})
    result = struct_pb2.Struct()
    if items:
        result.update(items)
    return result


def struct_dict(value: struct_pb2.Struct) -> dict[str, Any]:
    return dict(json_format.MessageToDict(value))


def new_id(prefix: str) -> str:
    """A random identifier with a readable prefix, e.g. usr_3f9c2a...; 96 bits of randomness."""
    return f"{prefix}_{secrets.token_hex(12)}"
