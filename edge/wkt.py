"""The well-known types, which the proto3 JSON mapping writes as scalars or plain JSON.

Timestamp is RFC 3339 text, Duration ``"1.5s"``, FieldMask ``"a,b.c"``, the
wrappers their bare value, Struct/Value/ListValue any JSON, Empty ``{}``.
Each function returns a converter for one message type (or None when the
type is an ordinary message), chosen once when a codec compiles a field.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message

from edge import scalars

Apply = Callable[[Message, Any], None]
Render = Callable[[Message], Any]

TIMESTAMP = "google.protobuf.Timestamp"
DURATION = "google.protobuf.Duration"
FIELD_MASK = "google.protobuf.FieldMask"
STRUCT = "google.protobuf.Struct"
VALUE = "google.protobuf.Value"
LIST_VALUE = "google.protobuf.ListValue"
EMPTY = "google.protobuf.Empty"
ANY = "google.protobuf.Any"
WRAPPERS = frozenset(
    f"google.protobuf.{name}Value"
    for name in ("Double", "Float", "Int64", "UInt64", "Int32", "UInt32", "Bool", "String", "Bytes")
)
# Types that JSON writes as something other than an object of their fields.
SPECIAL = frozenset({TIMESTAMP, DURATION, FIELD_MASK, STRUCT, VALUE, LIST_VALUE, EMPTY, ANY}) | WRAPPERS
# Types that a query parameter or a path variable can carry.
TEXTUAL = frozenset({TIMESTAMP, DURATION, FIELD_MASK}) | WRAPPERS

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_MIN_DAY = date(1, 1, 1).toordinal() - _EPOCH_ORDINAL
_MAX_DAY = date(9999, 12, 31).toordinal() - _EPOCH_ORDINAL
_DAYS: dict[int, str] = {}  # day number since the epoch -> "YYYY-MM-DD"
_UPPER = re.compile(r"[A-Z]")
_SNAKE = re.compile(r"_([a-z0-9])")


def _require_text(value: Any, what: str) -> str:
    if type(value) is not str:
        raise TypeError(f"expected {what} as a string")
    return str(value)


# ---------------------------------------------------------------------------
# Input


def _timestamp_in(message: Message, value: Any) -> None:
    text = _require_text(value, "an RFC 3339 timestamp")
    try:
        message.FromJsonString(text)  # type: ignore[attr-defined]
    except ValueError:
        raise ValueError(f"{text!r} is not an RFC 3339 timestamp") from None


def _duration_in(message: Message, value: Any) -> None:
    text = _require_text(value, "a duration such as '1.5s'")
    try:
        message.FromJsonString(text)  # type: ignore[attr-defined]
    except ValueError:
        raise ValueError(f"{text!r} is not a duration such as '1.5s'") from None


def snake_path(path: str) -> str:
    """A field-mask path in proto names, whichever naming the client used."""
    return _UPPER.sub(lambda m: "_" + m.group(0).lower(), path) if "_" not in path else path


def camel_path(path: str) -> str:
    return _SNAKE.sub(lambda m: m.group(1).upper(), path)


def _field_mask_in(message: Message, value: Any) -> None:
    if isinstance(value, list):
        parts = [_require_text(p, "field-mask paths") for p in value]
    else:
        parts = _require_text(value, "field-mask paths such as 'a,b'").split(",")
    paths = [snake_path(p.strip()) for p in parts if p.strip()]
    message.SetInParent()
    message.paths.extend(paths)  # type: ignore[attr-defined]


def _wrapper_in(descriptor: Descriptor, text: bool) -> Apply:
    convert = scalars.decoder(descriptor.fields_by_name["value"], text=text)

    def apply(message: Message, value: Any) -> None:
        message.SetInParent()
        message.value = convert(value)  # type: ignore[attr-defined]

    return apply


def _struct_in(message: Message, value: Any) -> None:
    if not isinstance(value, dict):
        raise TypeError("expected a JSON object")
    message.SetInParent()
    message.update(value)  # type: ignore[attr-defined]


def set_value(message: Any, value: Any) -> None:
    """Fill a google.protobuf.Value from any JSON value."""
    if value is None:
        message.null_value = 0
    elif isinstance(value, bool):
        message.bool_value = value
    elif isinstance(value, int | float):
        message.number_value = value
    elif isinstance(value, str):
        message.string_value = value
    elif isinstance(value, dict):
        message.struct_value.SetInParent()
        message.struct_value.update(value)
    elif isinstance(value, list):
        message.list_value.SetInParent()
        message.list_value.extend(value)
    else:
        raise TypeError(f"{type(value).__name__} is not JSON")


def _list_value_in(message: Message, value: Any) -> None:
    if not isinstance(value, list):
        raise TypeError("expected a JSON array")
    message.SetInParent()
    message.extend(value)  # type: ignore[attr-defined]


def _pool(message: Message) -> Any:
    """The pool the message's type lives in, where its Any payloads are looked up."""
    return message.DESCRIPTOR.file.pool


def _empty_in(message: Message, value: Any) -> None:
    if value != {}:
        raise ValueError("expected {}")
    message.SetInParent()


def _any_in(message: Message, value: Any) -> None:
    if not isinstance(value, dict):
        raise TypeError("expected a JSON object with '@type'")
    try:
        json_format.ParseDict(value, message, descriptor_pool=_pool(message))
    except json_format.ParseError as exc:
        raise ValueError(str(exc)) from None


def decoder(descriptor: Descriptor) -> Apply | None:
    """JSON value -> fill the message, for the well-known types; None for ordinary messages."""
    name = descriptor.full_name
    if name in WRAPPERS:
        return _wrapper_in(descriptor, text=False)
    return {
        TIMESTAMP: _timestamp_in,
        DURATION: _duration_in,
        FIELD_MASK: _field_mask_in,
        STRUCT: _struct_in,
        VALUE: set_value,
        LIST_VALUE: _list_value_in,
        EMPTY: _empty_in,
        ANY: _any_in,
    }.get(name)


def text_decoder(descriptor: Descriptor) -> Apply | None:
    """Query or path text -> fill the message; None when the type has no text form."""
    name = descriptor.full_name
    if name in WRAPPERS:
        return _wrapper_in(descriptor, text=True)
    return {TIMESTAMP: _timestamp_in, DURATION: _duration_in, FIELD_MASK: _field_mask_in}.get(name)


# ---------------------------------------------------------------------------
# Output


def _timestamp_out(message: Any) -> str:
    days, rest = divmod(message.seconds, 86400)
    day = _DAYS.get(days)
    if day is None:
        day = _day(days)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    nanos = message.nanos
    if nanos:
        return "%sT%02d:%02d:%02d%sZ" % (day, hours, minutes, seconds, _fraction(nanos))  # noqa: UP031 (faster)
    return "%sT%02d:%02d:%02dZ" % (day, hours, minutes, seconds)  # noqa: UP031


def _day(days: int) -> str:
    if not _MIN_DAY <= days <= _MAX_DAY:
        raise ValueError("timestamp out of range")
    day = date.fromordinal(_EPOCH_ORDINAL + days).isoformat()
    if len(_DAYS) < 65536:  # roughly the dates of 180 years; enough for any live data set
        _DAYS[days] = day
    return day


def _fraction(nanos: int) -> str:
    if nanos == 0:
        return ""
    if nanos % 1_000_000 == 0:
        return f".{nanos // 1_000_000:03d}"
    if nanos % 1_000 == 0:
        return f".{nanos // 1_000:06d}"
    return f".{nanos:09d}"


def _duration_out(message: Any) -> str:
    seconds, nanos = int(message.seconds), int(message.nanos)
    sign = ""
    if seconds < 0 or nanos < 0:
        sign, seconds, nanos = "-", -seconds, -nanos
    return f"{sign}{seconds}{_fraction(nanos)}s"


def _value_out(message: Any) -> Any:
    kind = message.WhichOneof("kind")
    if kind is None or kind == "null_value":
        return None
    if kind == "number_value":
        return scalars.encode_double(message.number_value)
    if kind == "struct_value":
        return _struct_out(message.struct_value)
    if kind == "list_value":
        return _list_value_out(message.list_value)
    return getattr(message, kind)


def _struct_out(message: Any) -> dict[str, Any]:
    return {key: _value_out(item) for key, item in message.fields.items()}


def _list_value_out(message: Any) -> list[Any]:
    return [_value_out(item) for item in message.values]


def _wrapper_out(descriptor: Descriptor) -> Render:
    convert = scalars.encoder(descriptor.fields_by_name["value"])
    if convert is None:
        return lambda message: message.value  # type: ignore[attr-defined]
    return lambda message: convert(message.value)  # type: ignore[attr-defined]


def any_to_json(message: Message, *, camel: bool) -> dict[str, Any]:
    """An Any as `{"@type": ..., fields}`; opaque base64 when its type is not in the pool."""
    try:
        found: dict[str, Any] = json_format.MessageToDict(
            message, preserving_proto_field_name=not camel, descriptor_pool=_pool(message)
        )
        return found
    except (TypeError, KeyError, json_format.Error):
        return {
            "@type": message.type_url,  # type: ignore[attr-defined]
            "value": scalars.encode_bytes(message.value),  # type: ignore[attr-defined]
        }


def encoder(descriptor: Descriptor, *, camel: bool) -> Render | None:
    """Message -> JSON value, for the well-known types; None for ordinary messages."""
    name = descriptor.full_name
    if name in WRAPPERS:
        return _wrapper_out(descriptor)
    if name == FIELD_MASK:
        if camel:
            return lambda message: ",".join(camel_path(p) for p in message.paths)  # type: ignore[attr-defined]
        return lambda message: ",".join(message.paths)  # type: ignore[attr-defined]
    if name == ANY:
        def any_out(message: Message) -> Any:
            return any_to_json(message, camel=camel)

        return any_out
    return {
        TIMESTAMP: _timestamp_out,
        DURATION: _duration_out,
        STRUCT: _struct_out,
        VALUE: _value_out,
        LIST_VALUE: _list_value_out,
        EMPTY: lambda _message: {},
    }.get(name)
