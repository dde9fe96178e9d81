"""Proto3 JSON mapping for the edge, with the leniency the seeds' clients need.

Output follows the proto3 JSON mapping (lowerCamelCase names, enums as names,
64-bit integers as strings). Input accepts lowerCamelCase or proto names and,
beyond the strict mapping, a JSON number where the contract has a string
(seed 001 sends `"organization_id": 1` for what is an opaque id here).
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

_WELL_KNOWN = "google.protobuf."


def _field(descriptor: Descriptor, key: str) -> FieldDescriptor | None:
    return descriptor.fields_by_name.get(key) or next(
        (f for f in descriptor.fields if f.json_name == key), None
    )


def coerce(descriptor: Descriptor, value: Any) -> Any:
    """Turn JSON numbers into strings where the message has string fields, recursively."""
    if not isinstance(value, dict) or descriptor.full_name.startswith(_WELL_KNOWN):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        field = _field(descriptor, key)
        if field is None:
            out[key] = item
        elif field.type == FieldDescriptor.TYPE_STRING:
            out[key] = _stringify(item)
        elif field.type == FieldDescriptor.TYPE_MESSAGE and not field.message_type.GetOptions().map_entry:
            sub = field.message_type
            out[key] = [coerce(sub, v) for v in item] if isinstance(item, list) else coerce(sub, item)
        else:
            out[key] = item
    return out


def _stringify(item: Any) -> Any:
    if isinstance(item, bool):
        return item
    if isinstance(item, int | float):
        return str(item)
    if isinstance(item, list):
        return [_stringify(v) for v in item]
    return item


def parse(body: Any, message: Message, *, ignore_unknown: bool = False) -> Message:
    """Fill `message` from a decoded JSON body, per the proto3 mapping plus `coerce`."""
    json_format.ParseDict(coerce(message.DESCRIPTOR, body), message, ignore_unknown_fields=ignore_unknown)
    return message
