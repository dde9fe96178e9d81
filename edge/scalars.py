"""Scalar conversions of the proto3 JSON mapping, chosen once per field.

Each function here returns a converter specialised for one field type, so the
per-request work is a dictionary lookup and a call, never a walk over the
descriptor. Input converters raise ``ValueError``/``TypeError`` with a short
description; the caller adds the field path.

Input leniency beyond the strict mapping, because the seeds' clients rely on
it: a JSON number is accepted where the contract has a string (seed 001 sends
``"organization_id": 1`` for an opaque id).
"""

from __future__ import annotations

import base64
import binascii
import math
import struct
from collections.abc import Callable
from typing import Any

from google.protobuf.descriptor import EnumDescriptor, FieldDescriptor

Convert = Callable[[Any], Any]

_INT32 = (-(2**31), 2**31 - 1)
_UINT32 = (0, 2**32 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_UINT64 = (0, 2**64 - 1)
_FLOAT32_MAX = 3.4028234663852886e38
_NULL_VALUE = "google.protobuf.NullValue"

_RANGES: dict[int, tuple[int, int]] = {
    FieldDescriptor.TYPE_INT32: _INT32,
    FieldDescriptor.TYPE_SINT32: _INT32,
    FieldDescriptor.TYPE_SFIXED32: _INT32,
    FieldDescriptor.TYPE_UINT32: _UINT32,
    FieldDescriptor.TYPE_FIXED32: _UINT32,
    FieldDescriptor.TYPE_INT64: _INT64,
    FieldDescriptor.TYPE_SINT64: _INT64,
    FieldDescriptor.TYPE_SFIXED64: _INT64,
    FieldDescriptor.TYPE_UINT64: _UINT64,
    FieldDescriptor.TYPE_FIXED64: _UINT64,
}
INT64_TYPES = frozenset(
    {
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_SFIXED64,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_FIXED64,
    }
)
_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_TO_STANDARD = str.maketrans("-_", "+/")  # both base64 alphabets are accepted


def describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _integer(low: int, high: int) -> Convert:
    def convert(value: Any) -> int:
        kind = type(value)
        if kind is int:
            number: int = value
        elif kind is str:
            if not value or not value.isascii() or "_" in value or value != value.strip():
                raise ValueError(f"{value!r} is not an integer")
            if value.isascii() and (value.isdigit() or (value[0] == "-" and value[1:].isdigit())):
                number = int(value)
            else:
                try:
                    as_float = float(value)  # "1e3" is an integer written as a float
                except ValueError:
                    raise ValueError(f"{value!r} is not an integer") from None
                if not as_float.is_integer():
                    raise ValueError(f"{value!r} is not an integer")
                number = int(as_float)
        elif kind is float:
            if not value.is_integer():
                raise ValueError(f"{value!r} is not an integer")
            number = int(value)
        else:
            raise TypeError(f"expected an integer, got {describe(value)}")
        if number < low or number > high:
            raise ValueError(f"{number} is out of range")
        return number

    return convert


def _floating(single: bool) -> Convert:
    def convert(value: Any) -> float:
        kind = type(value)
        if kind is float or kind is int:
            try:
                number = float(value)
            except OverflowError:
                raise ValueError(f"{value!r} is out of range") from None
        elif kind is str:
            special = _SPECIAL_FLOATS.get(value)
            if special is not None:
                return special
            if not value.isascii() or "_" in value or value.strip().lower().lstrip("+-") in ("nan", "inf", "infinity"):
                raise ValueError(f"{value!r} is not a number")
            try:
                number = float(value)
            except ValueError:
                raise ValueError(f"{value!r} is not a number") from None
        else:
            raise TypeError(f"expected a number, got {describe(value)}")
        if single and math.isfinite(number) and abs(number) > _FLOAT32_MAX:
            raise ValueError(f"{value!r} is out of range for a float")
        return number

    return convert


def _boolean(value: Any) -> bool:
    if type(value) is bool:
        return value
    raise TypeError(f"expected true or false, got {describe(value)}")


_TEXT_BOOLS = {"true": True, "false": False, "1": True, "0": False}


def _text_boolean(value: Any) -> bool:
    if type(value) is bool:
        return value
    if isinstance(value, str):
        found = _TEXT_BOOLS.get(value.lower())
        if found is not None:
            return found
    raise ValueError(f"expected true or false, got {value!r}")


def _string(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return value  # type: ignore[no-any-return]
    if kind is int or kind is float:
        return str(value)  # leniency: numeric ids sent as numbers
    raise TypeError(f"expected a string, got {describe(value)}")


def _bytes(value: Any) -> bytes:
    if type(value) is not str:
        raise TypeError(f"expected base64 text, got {describe(value)}")
    text = value.translate(_TO_STANDARD).rstrip("=")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("invalid base64") from None


def _enum(enum: EnumDescriptor | None) -> Convert:
    assert enum is not None
    by_name = {v.name: v.number for v in enum.values}
    full_name = enum.full_name
    as_int = _integer(*_INT32)

    def convert(value: Any) -> int:
        if type(value) is str:
            number = by_name.get(value)
            if number is not None:
                return number
            if value.isascii() and value.lstrip("-").isdigit():
                return int(as_int(value))
            raise ValueError(f"unknown value {value!r} of enum {full_name}")
        if type(value) is int:
            return int(as_int(value))
        if value is None and full_name == _NULL_VALUE:
            return 0
        raise TypeError(f"expected an enum name or number, got {describe(value)}")

    return convert


def decoder(field: FieldDescriptor, *, text: bool = False) -> Convert:
    """JSON value (or, with `text`, query/path text) -> the Python value the field stores."""
    kind = field.type
    if kind in _RANGES:
        return _integer(*_RANGES[kind])
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return _floating(kind == FieldDescriptor.TYPE_FLOAT)
    if kind == FieldDescriptor.TYPE_BOOL:
        return _text_boolean if text else _boolean
    if kind == FieldDescriptor.TYPE_STRING:
        return _string
    if kind == FieldDescriptor.TYPE_BYTES:
        return _bytes
    if kind == FieldDescriptor.TYPE_ENUM:
        return _enum(field.enum_type)
    raise TypeError(f"{field.full_name} is not a scalar field")


# ---------------------------------------------------------------------------
# Output


def _int64_text(value: int) -> str:
    return str(value)


def encode_double(value: float) -> float | str:
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _float32(value: float) -> float | str:
    """The shortest decimal that reads back as the same 32-bit float."""
    if not math.isfinite(value):
        return encode_double(value)
    if value == 0.0:
        return value
    target = struct.pack("<f", value)
    for digits in range(6, 10):
        rounded = float(f"{value:.{digits}g}")
        if struct.pack("<f", rounded) == target:
            return rounded
    return value


def encode_bytes(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def encoder(field: FieldDescriptor) -> Convert | None:
    """Python value -> JSON value for one scalar field; None where they are the same."""
    kind = field.type
    if kind in INT64_TYPES:
        return _int64_text
    if kind == FieldDescriptor.TYPE_DOUBLE:
        return encode_double
    if kind == FieldDescriptor.TYPE_FLOAT:
        return _float32
    if kind == FieldDescriptor.TYPE_BYTES:
        return encode_bytes
    if kind == FieldDescriptor.TYPE_ENUM:
        enum = field.enum_type
        assert enum is not None
        if enum.full_name == _NULL_VALUE:
            return lambda _value: None
        names = {v.number: v.name for v in enum.values}
        return lambda value: names.get(value, value)
    return None


def default_json(field: FieldDescriptor) -> Any:
    """What an unset field without presence looks like in the output."""
    kind = field.type
    if kind in INT64_TYPES:
        return "0"
    if kind in _RANGES:
        return 0
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return 0.0
    if kind == FieldDescriptor.TYPE_BOOL:
        return False
    if kind in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES):
        return ""
    if kind == FieldDescriptor.TYPE_ENUM:
        enum = field.enum_type
        assert enum is not None
        if enum.full_name == _NULL_VALUE:
            return None
        first = enum.values_by_number.get(0)
        return first.name if first is not None else 0
    raise TypeError(f"{field.full_name} is not a scalar field")


def map_key_decoder(field: FieldDescriptor) -> Convert:
    """JSON object keys are text; turn them into the map's key type."""
    if field.type == FieldDescriptor.TYPE_BOOL:
        def convert(value: Any) -> bool:
            if value in ("true", "false"):
                return bool(value == "true")
            raise ValueError(f"map key {value!r} is not true or false")

        return convert
    if field.type == FieldDescriptor.TYPE_STRING:
        return _string
    return decoder(field, text=True)


def map_key_encoder(field: FieldDescriptor) -> Convert | None:
    if field.type == FieldDescriptor.TYPE_BOOL:
        return lambda key: "true" if key else "false"
    if field.type == FieldDescriptor.TYPE_STRING:
        return None
    return str
