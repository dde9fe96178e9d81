"""Proto3 JSON for the edge, with converters compiled once per message type.

``google.protobuf.json_format`` walks the descriptor of every message it
touches on every call; on this edge's hot path that cost more than the rest
of a request (about 30 µs to parse a login body, 50 µs to render its reply).
A :class:`Codec` instead compiles, the first time it meets a message type, a
table from JSON key to a setter closure (input) and from field number to an
output key and converter (output), and reuses them for every request after.

Output names. The SPEC asks for lowerCamelCase output, but every client of the
five seed gateways reads snake_case keys (``access_token``, ``refresh_token``,
``audio_b64``), so the edge writes the proto field names by default and
lowerCamelCase when ``camel_case`` is set. Field-mask paths in the output
follow the same choice. Input accepts both forms, always.

Other choices, all proto3 JSON unless said otherwise:

- enums as names, 64-bit integers as strings, bytes as base64, Timestamps as
  RFC 3339 in UTC, the other well-known types as in :mod:`edge.wkt`;
- fields without presence are written even at their default (``0``, ``""``,
  ``false``, ``[]``, ``{}``) so that clients see a stable set of keys; unset
  message fields and unset ``optional`` fields are left out;
- ``INPUT_ONLY`` fields (passwords, provider keys) are never written;
- on input, an unknown key is an error naming it (``ignore_unknown`` relaxes
  that), ``OUTPUT_ONLY`` fields are dropped silently (no mass assignment of
  ids, owners, tenants), ``null`` leaves a field unset, and a JSON number is
  accepted for a string field (see :mod:`edge.scalars`).
"""

from __future__ import annotations

import keyword
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from google.api import field_behavior_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from edge import scalars, wkt

REQUIRED = field_behavior_pb2.REQUIRED
OUTPUT_ONLY = field_behavior_pb2.OUTPUT_ONLY
INPUT_ONLY = field_behavior_pb2.INPUT_ONLY
_BEHAVIOR: Any = field_behavior_pb2.field_behavior

# (parent message, JSON value, where) -> None; `where` is the dotted path of the parent, "" or "a.b."
Setter = Callable[[Message, Any, str], None]


class JsonError(ValueError):
    """A JSON value that does not fit the message; `field` is a dotted proto path."""

    def __init__(self, field: str, description: str) -> None:
        super().__init__(f"{field}: {description}" if field else description)
        self.field = field
        self.description = description


@dataclass(frozen=True, slots=True)
class CodecOptions:
    """How a codec names and filters fields; one per edge, fixed at start-up."""

    camel_case: bool = False
    emit_unpopulated: bool = True
    ignore_unknown: bool = False
    drop_output_only: bool = True


def descriptor_of(message: Message) -> Descriptor:
    return cast(Descriptor, message.DESCRIPTOR)


def entry_fields(field: FieldDescriptor) -> tuple[FieldDescriptor, FieldDescriptor]:
    """The key and value fields of a map field's entry type."""
    entry = field.message_type
    assert entry is not None
    return entry.fields_by_name["key"], entry.fields_by_name["value"]


def behaviors(field: FieldDescriptor) -> frozenset[int]:
    """The field's google.api.field_behavior values."""
    options = field.GetOptions()
    return frozenset(options.Extensions[_BEHAVIOR])


def is_map(field: FieldDescriptor) -> bool:
    return bool(field.message_type is not None and field.message_type.GetOptions().map_entry)


def is_repeated(field: FieldDescriptor) -> bool:
    return bool(field.is_repeated)


@dataclass(frozen=True, slots=True)
class _Slot:
    name: str
    apply: Setter
    drop: bool
    null_unsets: bool
    oneof: str | None
    aliased: bool


class _Decoder:
    """Fills one message type from a JSON object."""

    __slots__ = ("full_name", "ignore_unknown", "slots")

    def __init__(self, full_name: str, slots: dict[str, _Slot], ignore_unknown: bool) -> None:
        self.full_name = full_name
        self.slots = slots
        self.ignore_unknown = ignore_unknown

    def decode(self, value: Any, message: Message, where: str) -> None:
        if type(value) is not dict:
            raise JsonError(where[:-1], f"expected a JSON object, got {scalars.describe(value)}")
        slots = self.slots
        oneofs: dict[str, str] | None = None
        aliased: set[str] | None = None
        for key, item in value.items():
            slot = slots.get(key)
            if slot is None:
                if self.ignore_unknown:
                    continue
                raise JsonError(where + key, f"unknown field of {self.full_name}")
            if slot.drop or (item is None and slot.null_unsets):
                continue
            if slot.aliased:
                aliased = aliased if aliased is not None else set()
                if slot.name in aliased:
                    raise JsonError(where + slot.name, "given twice (as proto name and JSON name)")
                aliased.add(slot.name)
            if slot.oneof is not None:
                oneofs = oneofs if oneofs is not None else {}
                other = oneofs.setdefault(slot.oneof, slot.name)
                if other != slot.name:
                    raise JsonError(where + slot.name, f"only one of {other} and {slot.name} may be set")
            try:
                slot.apply(message, item, where)
            except JsonError:
                raise
            except (ValueError, TypeError) as exc:
                raise JsonError(where + slot.name, str(exc)) from None


class _Encoder:
    """Writes one message type as a JSON-ready dict, set fields only (proto3's default form)."""

    __slots__ = ("entries",)

    def __init__(self, entries: dict[int, tuple[str, Callable[[Any], Any] | None]]) -> None:
        self.entries = entries

    def encode(self, message: Message) -> dict[str, Any]:
        out: dict[str, Any] = {}
        entries = self.entries
        for field, value in message.ListFields():
            entry = entries.get(field.number)
            if entry is not None:
                key, convert = entry
                out[key] = value if convert is None else convert(value)
        return out


class _Forward:
    """Stands for an encoder still being compiled (a message type that contains itself)."""

    __slots__ = ("target",)

    def __init__(self) -> None:
        self.target: Callable[[Message], Any] | None = None

    def __call__(self, message: Message) -> Any:
        assert self.target is not None
        return self.target(message)


def _generate(
    full_name: str, entries: list[tuple[FieldDescriptor, str, Callable[[Any], Any] | None]]
) -> Callable[[Message], dict[str, Any]]:
    """Write and compile a straight-line encoder for one message type.

    Every field without presence is read with one attribute access (no
    ListFields call, no per-field lookups); fields with presence are guarded
    by HasField. Names come from the descriptor (identifiers by the protobuf
    grammar) and keys are written as string literals with repr().
    """
    namespace: dict[str, Any] = {}
    always: list[str] = []
    guarded: list[str] = []
    for index, (field, key, convert) in enumerate(entries):
        name = field.name
        read = f"getattr(m, {name!r})" if keyword.iskeyword(name) or not name.isidentifier() else f"m.{name}"
        value = read
        if convert is not None:
            namespace[f"c{index}"] = convert
            value = f"c{index}({read})"
        if field.has_presence:
            guarded.append(f"    if m.HasField({name!r}):\n        out[{key!r}] = {value}")
        else:
            always.append(f"{key!r}: {value}")
    body = "".join(f"\n        {item}," for item in always)
    checks = "".join(g + "\n" for g in guarded)
    source = "def encode(m):\n    out = {" + body + "\n    }\n" + checks + "    return out\n"
    exec(compile(source, f"<edge encoder {full_name}>", "exec"), namespace)
    encode: Callable[[Message], dict[str, Any]] = namespace["encode"]
    return encode


class Codec:
    """Compiled proto3 JSON converters for any descriptor pool, built lazily, kept forever."""

    def __init__(self, options: CodecOptions | None = None) -> None:
        self.options = options or CodecOptions()
        self._decoders: dict[str, _Decoder] = {}
        self._encoders: dict[str, Callable[[Message], Any]] = {}

    # -- input ---------------------------------------------------------------

    def decode(self, value: Any, message: Message, where: str = "") -> None:
        """Fill `message` from a decoded JSON object (``where`` prefixes error paths)."""
        self._decoder(descriptor_of(message)).decode(value, message, where)

    def prepare(self, descriptor: Descriptor) -> None:
        """Compile the converters of a type and of every type it reaches, now rather than on first use."""
        self._decoder(descriptor)
        self.encoder(descriptor)

    def decode_field(self, message: Message, field_name: str, value: Any) -> None:
        """Set one field of `message` from a JSON value (the `body: "field"` form)."""
        slot = self._decoder(descriptor_of(message)).slots[field_name]
        if value is None and slot.null_unsets:
            return
        try:
            slot.apply(message, value, "")
        except JsonError:
            raise
        except (ValueError, TypeError) as exc:
            raise JsonError(slot.name, str(exc)) from None

    def _decoder(self, descriptor: Descriptor) -> _Decoder:
        found = self._decoders.get(descriptor.full_name)
        if found is None:
            found = _Decoder(descriptor.full_name, {}, self.options.ignore_unknown)
            self._decoders[descriptor.full_name] = found  # before compiling: types may recurse
            found.slots.update(self._compile_slots(descriptor))
        return found

    def _compile_slots(self, descriptor: Descriptor) -> dict[str, _Slot]:
        slots: dict[str, _Slot] = {}
        for field in descriptor.fields:
            is_value = field.message_type is not None and field.message_type.full_name == wkt.VALUE
            slot = _Slot(
                name=field.name,
                apply=self._setter(field),
                drop=self.options.drop_output_only and OUTPUT_ONLY in behaviors(field),
                null_unsets=not (is_value and not is_repeated(field)),
                oneof=_oneof(field),
                aliased=field.json_name != field.name,
            )
            slots[field.name] = slot
            slots.setdefault(field.json_name, slot)
        return slots

    def _setter(self, field: FieldDescriptor) -> Setter:
        name = field.name
        if is_map(field):
            return self._map_setter(field)
        message_type = field.message_type
        if message_type is not None:
            special = wkt.decoder(message_type)
            if is_repeated(field):
                return self._repeated_message_setter(name, message_type, special)
            if special is not None:
                wkt_apply = special

                def set_wkt(parent: Message, value: Any, where: str) -> None:
                    wkt_apply(getattr(parent, name), value)

                return set_wkt
            child_decoder = self._decoder(message_type)

            def set_message(parent: Message, value: Any, where: str) -> None:
                child = getattr(parent, name)
                child.SetInParent()
                child_decoder.decode(value, child, f"{where}{name}.")

            return set_message
        convert = scalars.decoder(field)
        if is_repeated(field):

            def set_repeated(parent: Message, value: Any, where: str) -> None:
                if type(value) is not list:
                    raise TypeError(f"expected a JSON array, got {scalars.describe(value)}")
                target = getattr(parent, name)
                for index, item in enumerate(value):
                    try:
                        target.append(convert(item))
                    except (ValueError, TypeError) as exc:
                        raise JsonError(f"{where}{name}[{index}]", str(exc)) from None

            return set_repeated

        def set_scalar(parent: Message, value: Any, where: str) -> None:
            setattr(parent, name, convert(value))

        return set_scalar

    def _repeated_message_setter(
        self, name: str, message_type: Descriptor, special: wkt.Apply | None
    ) -> Setter:
        child_decoder = self._decoder(message_type) if special is None else None

        def set_items(parent: Message, value: Any, where: str) -> None:
            if type(value) is not list:
                raise TypeError(f"expected a JSON array, got {scalars.describe(value)}")
            target = getattr(parent, name)
            for index, item in enumerate(value):
                place = f"{where}{name}[{index}]"
                if special is not None:
                    try:
                        special(target.add(), item)
                    except (ValueError, TypeError) as exc:
                        raise JsonError(place, str(exc)) from None
                elif child_decoder is not None:
                    child_decoder.decode(item, target.add(), place + ".")

        return set_items

    def _map_setter(self, field: FieldDescriptor) -> Setter:
        name = field.name
        key_field, value_field = entry_fields(field)
        convert_key = scalars.map_key_decoder(key_field)
        value_type = value_field.message_type
        special = wkt.decoder(value_type) if value_type is not None else None
        convert_value = scalars.decoder(value_field) if value_type is None else None
        child_decoder = self._decoder(value_type) if value_type is not None and special is None else None

        def set_map(parent: Message, value: Any, where: str) -> None:
            if type(value) is not dict:
                raise TypeError(f"expected a JSON object, got {scalars.describe(value)}")
            target = getattr(parent, name)
            for raw_key, item in value.items():
                place = f"{where}{name}[{raw_key}]"
                try:
                    key = convert_key(raw_key)
                    if convert_value is not None:
                        target[key] = convert_value(item)
                    elif special is not None:
                        special(target[key], item)
                    elif child_decoder is not None:
                        child_decoder.decode(item, target[key], place + ".")
                except JsonError:
                    raise
                except (ValueError, TypeError) as exc:
                    raise JsonError(place, str(exc)) from None

        return set_map

    # -- output --------------------------------------------------------------

    def encode(self, message: Message) -> Any:
        """The JSON-ready value of a message (a dict, or a scalar for the well-known types)."""
        descriptor = descriptor_of(message)
        render = self._encoders.get(descriptor.full_name) or self._encoder(descriptor)
        return render(message)

    def encoder(self, descriptor: Descriptor) -> Callable[[Message], Any]:
        """The compiled renderer of one message type (for callers that keep it)."""
        return self._encoders.get(descriptor.full_name) or self._encoder(descriptor)

    def _encoder(self, descriptor: Descriptor) -> Callable[[Message], Any]:
        special = wkt.encoder(descriptor, camel=self.options.camel_case)
        if special is not None:
            self._encoders[descriptor.full_name] = special
            return special
        forward = _Forward()
        self._encoders[descriptor.full_name] = forward  # before compiling: types may recurse
        fields = [f for f in descriptor.fields if INPUT_ONLY not in behaviors(f)]
        entries = [
            (f, f.json_name if self.options.camel_case else f.name, self.field_encoder(f)) for f in fields
        ]
        if self.options.emit_unpopulated:
            encode = _generate(descriptor.full_name, entries)
        else:
            encode = _Encoder({field.number: (key, convert) for field, key, convert in entries}).encode
        forward.target = encode
        self._encoders[descriptor.full_name] = encode
        return encode

    def field_encoder(self, field: FieldDescriptor) -> Callable[[Any], Any] | None:
        """Field value -> JSON value (None where they are the same), for `response_body` fields."""
        if is_map(field):
            return self._map_encoder(field)
        # Empty containers are common and costly to iterate on upb: test their length first.
        message_type = field.message_type
        if message_type is not None:
            one = self.encoder(message_type)
            if is_repeated(field):
                return lambda values: [one(v) for v in values] if values else []
            return one
        convert = scalars.encoder(field)
        if is_repeated(field):
            if convert is None:
                return _copy_list
            scalar = convert
            return lambda values: [scalar(v) for v in values] if values else []
        return convert

    def _map_encoder(self, field: FieldDescriptor) -> Callable[[Any], Any]:
        key_field, value_field = entry_fields(field)
        key_convert = scalars.map_key_encoder(key_field)
        value_convert = self.field_encoder(value_field)
        if key_convert is None and value_convert is None:
            return lambda mapping: dict(mapping) if mapping else {}
        keys = key_convert or _same
        values = value_convert or _same
        return lambda mapping: {keys(k): values(v) for k, v in mapping.items()} if mapping else {}


def _same(value: Any) -> Any:
    return value


def _copy_list(values: Any) -> list[Any]:
    copied: list[Any] = values[:]  # a slice of a repeated scalar field is a plain list, made in C
    return copied


def _oneof(field: FieldDescriptor) -> str | None:
    """The oneof whose members exclude each other (a proto3 `optional` field's has one member)."""
    oneof = field.containing_oneof
    return str(oneof.name) if oneof is not None and len(oneof.fields) > 1 else None


_DEFAULT = Codec()


def parse(body: Any, message: Message, *, ignore_unknown: bool = False) -> Message:
    """Fill `message` from a decoded JSON body with the edge's default input rules."""
    codec = _DEFAULT if not ignore_unknown else Codec(CodecOptions(ignore_unknown=True))
    codec.decode(body, message)
    return message
