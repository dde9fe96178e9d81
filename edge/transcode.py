"""HTTP request -> request message, response message -> HTTP body, per compiled binding.

A :class:`MethodPlan` is built once per HTTP binding at start-up: the request
class, a setter per path variable, how the body binds, the REQUIRED fields to
check, how query parameters resolve, how the reply renders. A request then
costs a JSON parse, a few dictionary lookups and setattr calls, one check
pass and, on the way back, one compiled encoder and one JSON dump.

Binding order and precedence (google.api.http semantics):

1. path variables (``{shelf_id}``, nested ``{item.shelf_id}``, the
   ``{name=shelves/*}`` forms) bind first and win: a body or query value for a
   field the path binds never replaces the path's value;
2. the body: ``body: "*"`` maps the JSON object onto the whole request,
   ``body: "field"`` onto that field; no ``body`` means the body is ignored;
3. query parameters fill the fields neither the path nor the body bind:
   nested (``filter.address.city=x``), repeated (``tag=a&tag=b``), enums by
   name or number, bools, 64-bit integers, Timestamp, Duration, wrappers,
   FieldMask (``fields=a,b``), map entries (``labels[k]=v``).

Unknown JSON fields and unknown query parameters are errors naming the field
unless the codec was built with ``ignore_unknown``. ``OUTPUT_ONLY`` fields in
a body are dropped silently. ``REQUIRED`` fields (google.api.field_behavior)
are checked after binding, at any depth of present messages, and all missing
ones are reported together as field violations, before any upstream call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson
from google.protobuf import message_factory, struct_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from edge import scalars, wkt
from edge.jsoncodec import REQUIRED, Codec, JsonError, behaviors, entry_fields, is_map, is_repeated
from edge.routes import Target

HTTP_BODY = "google.api.HttpBody"
JSON_TYPE = "application/json"

TextSetter = Callable[[Message, str], None]


class BindError(ValueError):
    """The request does not fit the method: 400 INVALID_ARGUMENT with field violations."""

    def __init__(self, message: str, violations: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.violations = tuple(violations)

    @classmethod
    def field(cls, field: str, description: str) -> BindError:
        return cls(f"{field}: {description}", [(field, description)])


class Rendered(NamedTuple):
    """A reply ready for the wire: status, bytes, their content type, and headers the reply asked for."""

    status: int
    body: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...] = ()


# Headers an HttpBody reply may set through a google.protobuf.Struct in its `extensions` (the field the
# HttpBody contract keeps for a response's own metadata); anything else there is ignored.
BODY_HEADERS = {"content-disposition": "Content-Disposition", "cache-control": "Cache-Control",
                "content-language": "Content-Language"}
_STRUCT = "google.protobuf.Struct"


def parse_json(raw: bytes) -> Any:
    """Decode a request body; an empty body is no body."""
    if not raw or raw.isspace():
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BindError(f"the body is not valid JSON: {exc}") from None


# ---------------------------------------------------------------------------
# Field paths ("a.b.c") resolved once into walkers


def _find_field(descriptor: Descriptor, name: str) -> FieldDescriptor | None:
    found = descriptor.fields_by_name.get(name)
    if found is not None:
        return found
    return next((f for f in descriptor.fields if f.json_name == name), None)


def _resolve(descriptor: Descriptor, dotted: str) -> tuple[tuple[str, ...], FieldDescriptor]:
    """The proto names of the message fields leading to the leaf, and the leaf; ValueError if none."""
    parents: list[str] = []
    current = descriptor
    parts = dotted.split(".")
    for position, part in enumerate(parts):
        field = _find_field(current, part)
        if field is None:
            raise ValueError(f"{current.full_name} has no field {part!r}")
        if position == len(parts) - 1:
            return tuple(parents), field
        if field.message_type is None or is_repeated(field) or field.message_type.full_name in wkt.SPECIAL:
            raise ValueError(f"{field.name} is not a message field that can hold {'.'.join(parts[position + 1:])!r}")
        parents.append(field.name)
        current = field.message_type
    raise ValueError("empty field path")


def _text_setter(parents: tuple[str, ...], field: FieldDescriptor, map_key: str | None = None) -> TextSetter:
    """A setter from text (path variable or query value) for a scalar-like leaf."""
    name = field.name
    leaf: TextSetter
    if is_map(field):
        if map_key is None:
            raise ValueError(f"{name} is a map; bind its entries as {name}[key]=value")
        key_field, value_field = entry_fields(field)
        if value_field.message_type is not None:
            raise ValueError(f"{name} holds messages, which a query parameter cannot carry")
        key = scalars.map_key_decoder(key_field)(map_key)
        convert_value = scalars.decoder(value_field, text=True)

        def leaf(parent: Message, text: str) -> None:
            getattr(parent, name)[key] = convert_value(text)

    elif map_key is not None:
        raise ValueError(f"{name} is not a map")
    elif field.message_type is not None:
        special = wkt.text_decoder(field.message_type)
        if special is None:
            raise ValueError(f"{name} is a message ({field.message_type.full_name}), not a value")
        if is_repeated(field):
            repeated_special = special

            def leaf(parent: Message, text: str) -> None:
                repeated_special(getattr(parent, name).add(), text)

        else:
            single_special = special

            def leaf(parent: Message, text: str) -> None:
                single_special(getattr(parent, name), text)

    else:
        convert = scalars.decoder(field, text=True)
        if is_repeated(field):

            def leaf(parent: Message, text: str) -> None:
                getattr(parent, name).append(convert(text))

        else:

            def leaf(parent: Message, text: str) -> None:
                setattr(parent, name, convert(text))

    if not parents:
        return leaf

    def walk(message: Message, text: str) -> None:
        for parent_name in parents:
            message = getattr(message, parent_name)
        leaf(message, text)

    return walk


@dataclass(frozen=True, slots=True)
class _QueryParam:
    path: str  # proto names, dotted, for messages and duplicate checks
    setter: TextSetter
    repeated: bool


# ---------------------------------------------------------------------------
# REQUIRED fields


@dataclass(slots=True)
class _Requirements:
    """The REQUIRED fields of one message type and where to look deeper."""

    missing: tuple[tuple[str, Callable[[Message], bool]], ...] = ()
    nested: tuple[tuple[str, str, _Requirements], ...] = ()  # (field name, kind, requirements)

    def check(self, message: Message, prefix: str, out: list[tuple[str, str]]) -> None:
        for name, present in self.missing:
            if not present(message):
                out.append((prefix + name, "required field is missing"))
        for name, kind, inner in self.nested:
            if kind == "one":
                if message.HasField(name):
                    inner.check(getattr(message, name), f"{prefix}{name}.", out)
            elif kind == "many":
                for index, item in enumerate(getattr(message, name)):
                    inner.check(item, f"{prefix}{name}[{index}].", out)
            else:
                for key, item in getattr(message, name).items():
                    inner.check(item, f"{prefix}{name}[{key}].", out)


def _presence(field: FieldDescriptor) -> Callable[[Message], bool]:
    name = field.name
    if is_repeated(field):
        return lambda message: len(getattr(message, name)) > 0
    if field.has_presence:
        return lambda message: message.HasField(name)
    default = field.default_value
    return lambda message: bool(getattr(message, name) != default)


def _requirements(root: Descriptor) -> _Requirements | None:
    """The checks for a request type; None when no REQUIRED field can be reached from it.

    Types may contain themselves, so this first collects every reachable type,
    then finds (to a fixed point) those that lead to a REQUIRED field, and only
    then links one shared check object per such type.
    """
    types: dict[str, Descriptor] = {}
    edges: dict[str, list[tuple[str, str, str]]] = {}  # type -> (field, kind, child type)
    pending = [root]
    while pending:
        descriptor = pending.pop()
        if descriptor.full_name in types:
            continue
        types[descriptor.full_name] = descriptor
        links: list[tuple[str, str, str]] = []
        for field in descriptor.fields:
            child = field.message_type
            kind = "many" if is_repeated(field) else "one"
            if child is not None and is_map(field):
                child, kind = entry_fields(field)[1].message_type, "map"
            if child is None or child.full_name in wkt.SPECIAL:
                continue
            links.append((field.name, kind, child.full_name))
            pending.append(child)
        edges[descriptor.full_name] = links
    direct = {
        name: tuple((f.name, _presence(f)) for f in d.fields if REQUIRED in behaviors(f)) for name, d in types.items()
    }
    leads = {name for name, fields in direct.items() if fields}
    grew = True
    while grew:
        before = len(leads)
        leads |= {name for name, links in edges.items() if any(child in leads for _, _, child in links)}
        grew = len(leads) != before
    checks = {name: _Requirements(direct[name]) for name in leads}
    for name, check in checks.items():
        check.nested = tuple((field, kind, checks[child]) for field, kind, child in edges[name] if child in leads)
    return checks.get(root.full_name)


# ---------------------------------------------------------------------------
# The plan of one binding


class MethodPlan:
    """Everything one HTTP binding needs per request, compiled from its descriptors."""

    def __init__(self, target: Target, codec: Codec) -> None:
        self.target = target
        self.codec = codec
        method = target.info.descriptor
        self.request_type: Descriptor = method.input_type
        self.request_class = message_factory.GetMessageClass(method.input_type)
        self.response_class = message_factory.GetMessageClass(method.output_type)
        binding = target.binding
        where = f"{target.info.full_method} ({binding.http_method} {binding.path})"

        self._path: list[tuple[str, TextSetter]] = []
        bound: list[str] = []
        for variable in target.template.variables:
            try:
                parents, field = _resolve(self.request_type, variable.field_path)
                if is_repeated(field):
                    raise ValueError(f"{field.name} is repeated")
                setter = _text_setter(parents, field)
            except ValueError as exc:
                raise ValueError(f"{where}: path variable {variable.field_path!r}: {exc}") from None
            path = ".".join((*parents, field.name))
            self._path.append((path, setter))
            bound.append(path)

        self.body = binding.body
        if self.body not in ("", "*"):
            if self.body not in self.request_type.fields_by_name:
                raise ValueError(f"{where}: body field {self.body!r} is not a field of {self.request_type.full_name}")
            bound.append(self.body)
        self._bound = tuple(bound)
        self._query: dict[str, _QueryParam] = {}
        self._form: dict[str, _QueryParam] = {}  # form fields of a `body: "*"` method, read like query values
        self._requirements = _requirements(self.request_type)
        codec.prepare(self.request_type)

        self.success_status = target.info.policy.success_status
        # The HTTP reply for a unary response (or one message of a stream); a plain attribute, so a
        # call is one function call.
        self.render: Callable[[Message], Rendered] = self._compile_render(
            binding.response_body, method.output_type, where
        )

    # -- request -------------------------------------------------------------

    @property
    def takes_body(self) -> bool:
        return self.body != ""

    def build(
        self,
        variables: Mapping[str, str],
        body: Any,
        query: Iterable[tuple[str, str]] = (),
    ) -> Message:
        """The request message: body, then path variables over it, then query parameters."""
        message = self.request_class()
        if body is not None and self.body:
            try:
                if self.body == "*":
                    self.codec.decode(body, message)
                else:
                    self.codec.decode_field(message, self.body, body)
            except JsonError as exc:
                raise BindError.field(exc.field or "body", exc.description) from None
        return self._finish(message, variables, query, form=False)

    def build_form(
        self,
        variables: Mapping[str, str],
        fields: Iterable[tuple[str, str]],
        files: Iterable[tuple[str, bytes, str]] = (),
    ) -> Message:
        """The request from a form body (multipart/form-data or urlencoded) of a `body: "*"` method.

        Text parts and query parameters are read as query values are; a file part fills the bytes field
        of its name, and its Content-Type fills a `content_type` text field of the request when there is
        one and the form leaves it empty.
        """
        if self.body != "*":
            raise BindError.field("body", "this endpoint takes JSON, not a form")
        message = self.request_class()
        typed = ""
        for name, data, content_type in files:
            try:
                parents, field = _resolve(self.request_type, name)
            except ValueError as exc:
                if self.codec.options.ignore_unknown:
                    continue
                raise BindError.field(name, f"unknown form field: {exc}") from None
            if field.type != FieldDescriptor.TYPE_BYTES or is_repeated(field):
                raise BindError.field(name, "takes text, not a file")
            parent = message
            for step in parents:
                parent = getattr(parent, step)
            setattr(parent, field.name, data)
            typed = typed or content_type
        content_field = self.request_type.fields_by_name.get("content_type")
        given = {name for name, _ in fields}
        if (typed and content_field is not None and content_field.type == FieldDescriptor.TYPE_STRING
                and "content_type" not in given and "contentType" not in given):
            message.content_type = typed  # type: ignore[attr-defined]
        return self._finish(message, variables, fields, form=True)

    def _finish(self, message: Message, variables: Mapping[str, str], values: Iterable[tuple[str, str]], *,
                form: bool) -> Message:
        """Path variables over what the body set, then query (or form) values, then the REQUIRED check."""
        for path, setter in self._path:
            text = variables.get(path)
            if text is None:
                continue
            try:
                setter(message, text)
            except (ValueError, TypeError) as exc:
                raise BindError.field(path, f"path value {text!r}: {exc}") from None
        seen: set[str] | None = None
        for key, text in values:
            param = self._query_param(key, form)
            if param is None:
                continue
            if not param.repeated:
                seen = seen if seen is not None else set()
                if param.path in seen:
                    raise BindError.field(key, "given more than once for a single value")
                seen.add(param.path)
            try:
                param.setter(message, text)
            except (ValueError, TypeError) as exc:
                where = "form" if form else "query"
                raise BindError.field(key, f"{where} value {text!r}: {exc}") from None
        if self._requirements is not None:
            violations: list[tuple[str, str]] = []
            self._requirements.check(message, "", violations)
            if violations:
                names = ", ".join(v[0] for v in violations)
                raise BindError(f"missing required fields: {names}", violations)
        return message

    def _query_param(self, key: str, form: bool = False) -> _QueryParam | None:
        """The compiled setter of a query (or form) key; None for an unknown key when unknown keys are ignored."""
        known = self._form if form else self._query
        found = known.get(key)
        if found is not None:
            return found
        try:
            found = self._compile_query(key, form)
        except ValueError as exc:
            if self.codec.options.ignore_unknown:
                return None
            raise BindError.field(key, f"unknown {'form field' if form else 'query parameter'}: {exc}") from None
        if len(known) < 1024:  # keys come from clients: remember only a bounded number
            known[key] = found
        return found

    def _compile_query(self, key: str, form: bool = False) -> _QueryParam:
        if self.body == "*" and not form:
            raise ValueError("the body carries every field of this method")
        dotted, map_key = key, None
        if key.endswith("]") and "[" in key:
            dotted, _, rest = key.partition("[")
            map_key = rest[:-1]
        parents, field = _resolve(self.request_type, dotted)
        path = ".".join((*parents, field.name))
        for taken in self._bound:
            if path == taken or path.startswith(taken + ".") or taken.startswith(path + "."):
                raise ValueError(f"{path} is bound by the {'body' if taken == self.body else 'path'}")
        setter = _text_setter(parents, field, map_key)
        full = f"{path}[{map_key}]" if map_key is not None else path
        return _QueryParam(full, setter, is_repeated(field) and not is_map(field))

    # -- response ------------------------------------------------------------

    def _compile_render(self, response_body: str, output: Descriptor, where: str) -> Callable[[Message], Rendered]:
        status = self.success_status
        no_content = status == 204
        if output.full_name == HTTP_BODY and not response_body:
            return lambda reply: _raw(status, reply)
        if response_body:
            field = output.fields_by_name.get(response_body)
            if field is None:
                raise ValueError(f"{where}: response_body {response_body!r} is not a field of {output.full_name}")
            if field.message_type is not None and field.message_type.full_name == HTTP_BODY and not is_repeated(field):
                return lambda reply: _raw(status, getattr(reply, response_body))
            convert = self.codec.field_encoder(field)

            def render_field(reply: Message) -> Rendered:
                if no_content:
                    return Rendered(status, b"", JSON_TYPE)
                value = getattr(reply, response_body)
                return Rendered(status, orjson.dumps(value if convert is None else convert(value)), JSON_TYPE)

            return render_field
        encode = self.codec.encoder(output)

        def render(reply: Message) -> Rendered:
            if no_content:
                return Rendered(status, b"", JSON_TYPE)
            return Rendered(status, orjson.dumps(encode(reply)), JSON_TYPE)

        return render


def _raw(status: int, body: Any) -> Rendered:
    content_type = body.content_type or "application/octet-stream"
    return Rendered(status, bytes(body.data) if status != 204 else b"", content_type, _body_headers(body))


def _body_headers(body: Any) -> tuple[tuple[str, str], ...]:
    """The allowed headers a Struct among the HttpBody's extensions names (single-line text values only)."""
    found: list[tuple[str, str]] = []
    for extension in body.extensions:
        if extension.type_url.rpartition("/")[2] != _STRUCT:
            continue
        fields = struct_pb2.Struct()
        if not extension.Unpack(fields):
            continue
        for key, value in fields.fields.items():
            name = BODY_HEADERS.get(key.lower())
            text = value.string_value if value.WhichOneof("kind") == "string_value" else None
            if name is not None and text and "\r" not in text and "\n" not in text:
                found.append((name, text))
    return tuple(found)


def event_id_getter(output: Descriptor) -> Callable[[Message], str] | None:
    """Where a streamed message carries its event id (for SSE `id:` lines), if it does."""
    for path in (("id",), ("event_id",), ("event", "id"), ("event", "event_id")):
        if _string_path(output, path):
            return _reader(path)
    return None


def _string_path(descriptor: Descriptor, path: tuple[str, ...]) -> bool:
    for position, part in enumerate(path):
        field = descriptor.fields_by_name.get(part)
        if field is None or is_repeated(field):
            return False
        if position == len(path) - 1:
            return bool(field.type == FieldDescriptor.TYPE_STRING)
        if field.message_type is None:
            return False
        descriptor = field.message_type
    return False


def _reader(path: tuple[str, ...]) -> Callable[[Message], str]:
    def read(message: Message) -> str:
        value: Any = message
        for name in path:
            value = getattr(value, name)
        return str(value)

    return read
