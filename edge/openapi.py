"""The OpenAPI 3.1 document of the edge, derived from the same descriptors it routes by.

Everything in the document comes from the contracts: paths and methods from
the ``google.api.http`` rules, parameters and bodies from the request
messages, schemas from the proto3 JSON mapping of each message, security,
roles and rate-limit classes from the ``(agentmesh.v1.policy)`` option. Nothing
here names an endpoint, so the same function documents any gRPC service the
edge fronts.

Conventions of the document:

- Schemas live in ``components/schemas`` under the message's full proto name
  (``agentmesh.v1.User``), each written once; the well-known types are inlined
  as the JSON they map to (Timestamp a date-time string, Struct an object, …).
- Property names are what the edge writes: proto field names by default,
  lowerCamelCase with ``camel_case=True``. Input accepts both spellings.
- ``google.api.field_behavior``: REQUIRED fields are ``required``,
  OUTPUT_ONLY ``readOnly`` (the edge ignores them in requests), INPUT_ONLY
  ``writeOnly`` (never in responses), IMMUTABLE a note in the description.
- ``operationId`` is ``Service_Method`` for an RPC's first binding and
  ``Service_Method_N`` for its N-th (``_2`` for the first additional binding).
- A unary and a server-streaming RPC that share a template are one operation
  whose success response offers JSON (the unary call) and NDJSON/SSE (the
  stream).

Comments from the ``.proto`` files are not in the runtime descriptors of
generated code; pass ``source_info`` (FileDescriptorProtos compiled with
``--include_source_info``) to turn them into descriptions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from google.api import field_behavior_pb2
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

from services.common import contracts
from services.common.policy import ROLES, MethodInfo, Policy

JSON = dict[str, Any]

OPENAPI_VERSION = "3.1.0"
HTTP_BODY = "google.api.HttpBody"
NDJSON = "application/x-ndjson"
SSE = "text/event-stream"
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_BEHAVIOR: Any = field_behavior_pb2.field_behavior
_REQUIRED, _OUTPUT_ONLY, _INPUT_ONLY, _IMMUTABLE = (
    field_behavior_pb2.REQUIRED,
    field_behavior_pb2.OUTPUT_ONLY,
    field_behavior_pb2.INPUT_ONLY,
    field_behavior_pb2.IMMUTABLE,
)
_VARIABLE = re.compile(r"\{([^}=]+)(?:=([^}]*))?\}")
_WORD = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

_T = FieldDescriptor
_SCALARS: Mapping[int, JSON] = {
    _T.TYPE_DOUBLE: {"type": "number", "format": "double"},
    _T.TYPE_FLOAT: {"type": "number", "format": "float"},
    _T.TYPE_INT32: {"type": "integer", "format": "int32"},
    _T.TYPE_SINT32: {"type": "integer", "format": "int32"},
    _T.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    _T.TYPE_UINT32: {"type": "integer", "format": "int64", "minimum": 0, "maximum": 2**32 - 1},
    _T.TYPE_FIXED32: {"type": "integer", "format": "int64", "minimum": 0, "maximum": 2**32 - 1},
    _T.TYPE_INT64: {"type": "string", "format": "int64", "pattern": r"^-?[0-9]+$"},
    _T.TYPE_SINT64: {"type": "string", "format": "int64", "pattern": r"^-?[0-9]+$"},
    _T.TYPE_SFIXED64: {"type": "string", "format": "int64", "pattern": r"^-?[0-9]+$"},
    _T.TYPE_UINT64: {"type": "string", "format": "uint64", "pattern": r"^[0-9]+$"},
    _T.TYPE_FIXED64: {"type": "string", "format": "uint64", "pattern": r"^[0-9]+$"},
    _T.TYPE_BOOL: {"type": "boolean"},
    _T.TYPE_STRING: {"type": "string"},
    _T.TYPE_BYTES: {"type": "string", "format": "byte", "contentEncoding": "base64"},
}
_DURATION_PATTERN = r"^-?[0-9]+(\.[0-9]{1,9})?s$"
# The well-known types as the JSON the edge reads and writes (edge/wkt.py).
_WELL_KNOWN: Mapping[str, JSON] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {
        "type": "string",
        "pattern": _DURATION_PATTERN,
        "description": "Seconds with up to nine decimals and an `s` suffix, e.g. `1.5s`.",
    },
    "google.protobuf.FieldMask": {
        "type": "string",
        "description": "Comma-separated field paths, e.g. `name,settings.theme`.",
    },
    "google.protobuf.Struct": {"type": "object", "additionalProperties": True},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array", "items": {}},
    "google.protobuf.Empty": {"type": "object", "additionalProperties": False},
    "google.protobuf.Any": {
        "type": "object",
        "required": ["@type"],
        "properties": {"@type": {"type": "string"}},
        "additionalProperties": True,
    },
    "google.protobuf.DoubleValue": {"type": ["number", "null"], "format": "double"},
    "google.protobuf.FloatValue": {"type": ["number", "null"], "format": "float"},
    "google.protobuf.Int64Value": {"type": ["string", "null"], "format": "int64"},
    "google.protobuf.UInt64Value": {"type": ["string", "null"], "format": "uint64"},
    "google.protobuf.Int32Value": {"type": ["integer", "null"], "format": "int32"},
    "google.protobuf.UInt32Value": {"type": ["integer", "null"], "format": "int64", "minimum": 0},
    "google.protobuf.BoolValue": {"type": ["boolean", "null"]},
    "google.protobuf.StringValue": {"type": ["string", "null"]},
    "google.protobuf.BytesValue": {"type": ["string", "null"], "format": "byte"},
}
# Types a query parameter can carry as text.
_TEXTUAL = frozenset(
    name for name, schema in _WELL_KNOWN.items() if schema.get("type") not in ("object", "array", None)
)
_BINARY: JSON = {"type": "string", "format": "binary"}

# One body for every failure, as the edge writes it (SPEC.md, "Errors").
ERROR_SCHEMA: JSON = {
    "type": "object",
    "description": "The edge's one error body, for edge-made and upstream failures alike.",
    "required": ["detail", "status_code", "error", "request_id", "timestamp"],
    "properties": {
        "detail": {"type": "string", "description": "Human-readable message."},
        "status_code": {"type": "integer", "description": "The HTTP status, repeated."},
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {
                    "type": "string",
                    "description": "gRPC status name or edge code, e.g. `NOT_FOUND`, `BAD_GATEWAY`.",
                },
                "message": {"type": "string"},
                "details": {
                    "type": "array",
                    "items": {"type": "object"},
                    "description": "google.rpc error details, e.g. BadRequest field violations.",
                },
                "service": {"type": "string", "description": "The unit that could not be reached (502/503)."},
            },
        },
        "request_id": {"type": "string"},
        "timestamp": {"type": "string", "format": "date-time"},
        "retry_after": {"type": "integer", "minimum": 0, "description": "Seconds to wait (429 only)."},
    },
}
_ERRORS: tuple[tuple[str, str, str], ...] = (
    ("400", "BadRequest", "The request does not fit the contract (malformed JSON, a missing REQUIRED field)."),
    ("401", "Unauthorized", "No credential, or a bad, expired or revoked one."),
    ("403", "Forbidden", "The caller's role or permissions are not enough."),
    ("404", "NotFound", "No such resource (or one of another tenant)."),
    ("429", "TooManyRequests", "Rate limit exceeded; retry after `Retry-After` seconds."),
    ("500", "InternalError", "An unexpected failure."),
    ("503", "Unavailable", "The serving unit is unreachable, or maintenance mode is on."),
)
_RATE_HEADERS: Mapping[str, str] = {
    "X-RateLimit-Limit": "Requests allowed in the current window.",
    "X-RateLimit-Remaining": "Requests left in the current window.",
    "X-RateLimit-Reset": "Seconds until the window resets.",
}


@dataclass(frozen=True, slots=True)
class PathVariable:
    """A template variable as an OpenAPI path parameter: the field it binds, the segments it spans."""

    field_path: str
    pattern: str  # the template's segments for the variable ("*" when plain)


@dataclass(frozen=True, slots=True)
class _Use:
    """One HTTP binding of one RPC."""

    info: MethodInfo
    binding: contracts.Binding
    index: int
    path: str
    variables: tuple[PathVariable, ...]


def _behaviors(field: FieldDescriptor) -> frozenset[int]:
    return frozenset(field.GetOptions().Extensions[_BEHAVIOR])


def _is_map(field: FieldDescriptor) -> bool:
    return bool(field.message_type is not None and field.message_type.GetOptions().map_entry)


def _ref(full_name: str) -> JSON:
    return {"$ref": f"#/components/schemas/{full_name}"}


def openapi_path(template: str) -> tuple[str, tuple[PathVariable, ...]]:
    """An OpenAPI path for a google.api.http template, and its variables.

    ``{a.b}`` stays ``{a.b}``; ``{name=tenants/*}`` becomes ``{name}`` (the
    segments it spans are kept for the parameter's description); a bare ``*``
    or ``**`` becomes a parameter of its own; a ``:verb`` suffix is literal.
    """
    variables: list[PathVariable] = []

    def replace(match: re.Match[str]) -> str:
        variables.append(PathVariable(match.group(1), match.group(2) or "*"))
        return "{" + match.group(1) + "}"

    text = _VARIABLE.sub(replace, template)
    parts = text.split("/")
    for i, part in enumerate(parts):
        stem, colon, verb = part.partition(":")
        if stem in ("*", "**"):
            name = f"wildcard{sum(1 for v in variables if v.field_path.startswith('wildcard')) + 1}"
            variables.append(PathVariable(name, stem))
            parts[i] = "{" + name + "}" + colon + verb
    return "/".join(parts), tuple(variables)


def _segment_regex(pattern: str) -> str:
    pieces = ["[^/]+" if p == "*" else ".+" if p == "**" else re.escape(p) for p in pattern.split("/")]
    return "^" + "/".join(pieces) + "$"


class _Comments:
    """Leading comments by full name, from FileDescriptorProtos that carry source info."""

    def __init__(self, files: Iterable[descriptor_pb2.FileDescriptorProto]) -> None:
        self.by_name: dict[str, str] = {}
        for file in files:
            where = {tuple(loc.path): loc for loc in file.source_code_info.location}
            prefix = f"{file.package}." if file.package else ""
            for i, message in enumerate(file.message_type):
                self._message(message, prefix, (4, i), where)
            for i, enum in enumerate(file.enum_type):
                self._note(prefix + enum.name, (5, i), where)
            for i, service in enumerate(file.service):
                self._note(prefix + service.name, (6, i), where)
                for j, method in enumerate(service.method):
                    self._note(f"{prefix}{service.name}.{method.name}", (6, i, 2, j), where)

    def _message(
        self, message: descriptor_pb2.DescriptorProto, prefix: str, path: tuple[int, ...], where: Mapping[Any, Any]
    ) -> None:
        name = prefix + message.name
        self._note(name, path, where)
        for i, field in enumerate(message.field):
            self._note(f"{name}.{field.name}", (*path, 2, i), where)
        for i, nested in enumerate(message.nested_type):
            self._message(nested, name + ".", (*path, 3, i), where)
        for i, enum in enumerate(message.enum_type):
            self._note(f"{name}.{enum.name}", (*path, 4, i), where)

    def _note(self, name: str, path: tuple[int, ...], where: Mapping[Any, Any]) -> None:
        location = where.get(path)
        if location is None:
            return
        raw = location.leading_comments or location.trailing_comments
        paragraphs = []
        for chunk in re.split(r"\n\s*\n", raw.strip()):
            lines = [line.strip() for line in chunk.splitlines()]
            paragraphs.append(" ".join(line for line in lines if line and not line.startswith("buf:lint")))
        text = "\n\n".join(p for p in paragraphs if p)
        if text:
            self.by_name[name] = text

    def get(self, name: str) -> str | None:
        return self.by_name.get(name)


class _Builder:
    def __init__(self, *, camel_case: bool, comments: _Comments) -> None:
        self.camel_case = camel_case
        self.comments = comments
        self.schemas: dict[str, JSON] = {}
        self.operation_ids: set[str] = set()

    # -- schemas -------------------------------------------------------------

    def key(self, field: FieldDescriptor) -> str:
        return str(field.json_name if self.camel_case else field.name)

    def message_ref(self, descriptor: Descriptor) -> JSON:
        """The schema of a message as a field or body sees it: inline for WKTs, else a $ref."""
        known = _WELL_KNOWN.get(descriptor.full_name)
        if known is not None:
            return _copy(known)
        self.message_schema(descriptor)
        return _ref(descriptor.full_name)

    def message_schema(self, descriptor: Descriptor) -> JSON:
        """The component of a message, made (once) with every message it refers to."""
        found = self.schemas.get(descriptor.full_name)
        if found is not None:
            return found
        schema: JSON = {"type": "object", "title": descriptor.name}
        self.schemas[descriptor.full_name] = schema  # before the fields: types may recurse
        note = self.comments.get(descriptor.full_name)
        if note:
            schema["description"] = note
        properties: JSON = {}
        required: list[str] = []
        for field in descriptor.fields:
            properties[self.key(field)] = self.field_schema(field)
            if _REQUIRED in _behaviors(field):
                required.append(self.key(field))
        schema["properties"] = properties
        if required:
            schema["required"] = required
        return schema

    def enum_ref(self, enum: EnumDescriptor) -> JSON:
        if enum.full_name == "google.protobuf.NullValue":
            return {"type": "null"}
        if enum.full_name not in self.schemas:
            names = list(dict.fromkeys(value.name for value in enum.values))
            schema: JSON = {"type": "string", "title": enum.name, "enum": names}
            note = self.comments.get(enum.full_name)
            text = "Written as the value's name; input also accepts its number."
            schema["description"] = f"{note} {text}" if note else text
            self.schemas[enum.full_name] = schema
        return _ref(enum.full_name)

    def value_schema(self, field: FieldDescriptor) -> JSON:
        """The schema of one value of the field (an item when repeated)."""
        if field.message_type is not None:
            return self.message_ref(field.message_type)
        if field.enum_type is not None:
            return self.enum_ref(field.enum_type)
        return _copy(_SCALARS[field.type])

    def field_schema(self, field: FieldDescriptor) -> JSON:
        entry = field.message_type
        if entry is not None and entry.GetOptions().map_entry:
            schema: JSON = {"type": "object", "additionalProperties": self.value_schema(entry.fields_by_name["value"])}
        elif field.is_repeated:
            schema = {"type": "array", "items": self.value_schema(field)}
        else:
            schema = self.value_schema(field)
        behaviors = _behaviors(field)
        if _OUTPUT_ONLY in behaviors:
            schema["readOnly"] = True
        if _INPUT_ONLY in behaviors:
            schema["writeOnly"] = True
        if field.GetOptions().deprecated:
            schema["deprecated"] = True
        notes = [self.comments.get(field.full_name) or ""]
        if _IMMUTABLE in behaviors:
            notes.append("Immutable: set on creation, cannot change afterwards.")
        if _OUTPUT_ONLY in behaviors:
            notes.append("Output only: ignored in requests.")
        if _INPUT_ONLY in behaviors:
            notes.append("Input only: never returned.")
        oneof = field.containing_oneof
        if oneof is not None and len(oneof.fields) > 1:
            others = ", ".join(f"`{self.key(f)}`" for f in oneof.fields)
            notes.append(f"One of `{oneof.name}`: at most one of {others}.")
        text = " ".join(n for n in notes if n)
        if text:
            known = schema.get("description")
            schema["description"] = f"{text} {known}" if known and "$ref" not in schema else text
        return schema

    def body_schema(self, descriptor: Descriptor, bound: Sequence[str]) -> JSON:
        """The request message without the fields the path binds (a $ref when it binds none)."""
        if not bound:
            return self.message_ref(descriptor)
        base = self.message_schema(descriptor)
        fields = {self.key(f): f for f in descriptor.fields}
        top = {p for p in bound if "." not in p}
        nested: dict[str, list[str]] = {}
        for path in bound:
            head, _, rest = path.partition(".")
            if rest:
                nested.setdefault(head, []).append(rest)
        properties: JSON = {}
        for key, prop in base["properties"].items():
            field = fields[key]
            if field.name in top:
                continue
            inner = nested.get(field.name)
            if inner and field.message_type is not None and field.message_type.full_name not in _WELL_KNOWN:
                prop = self.body_schema(field.message_type, inner)
            properties[key] = prop
        schema: JSON = {"type": "object", "properties": properties}
        required = [k for k in base.get("required", ()) if k in properties]
        if required:
            schema["required"] = required
        return schema

    # -- operations ----------------------------------------------------------

    def operation(self, use: _Use) -> JSON:
        info = use.info
        method = info.descriptor
        service = method.containing_service
        suffix = f"_{use.index + 1}" if use.index else ""
        op_id = f"{service.name}_{method.name}{suffix}"
        if op_id in self.operation_ids:  # two packages with a service of the same name
            op_id = f"{service.full_name.replace('.', '_')}_{method.name}{suffix}"
        self.operation_ids.add(op_id)
        operation: JSON = {
            "operationId": op_id,
            "summary": _WORD.sub(" ", method.name).capitalize(),
            "description": self.describe(use),
            "tags": [service.name],
        }
        if method.GetOptions().deprecated:
            operation["deprecated"] = True
        parameters = self.path_parameters(use) + self.query_parameters(use)
        if parameters:
            operation["parameters"] = parameters
        body = self.request_body(use)
        if body is not None:
            operation["requestBody"] = body
        operation["responses"] = self.responses(use)
        operation["security"] = [] if info.policy.public else [{"bearerAuth": []}, {"apiKey": []}]
        operation["x-agentmesh-rpc"] = info.full_method
        operation["x-agentmesh-unit"] = info.unit
        operation["x-agentmesh-policy"] = _policy_extension(info.policy)
        if info.server_streaming and info.policy.websocket_protocol:
            operation["x-agentmesh-websocket"] = info.policy.websocket_protocol
        return operation

    def describe(self, use: _Use) -> str:
        info, policy = use.info, use.info.policy
        method = info.descriptor
        lines = []
        comment = self.comments.get(method.full_name)
        if comment:
            lines.append(comment)
        lines.append(f"gRPC `{info.full_method}`, served by the `{info.unit}` unit.")
        lines.append(_access(policy))
        lines.append(f"Rate-limit class: `{policy.rate_limit}`.")
        if info.server_streaming:
            lines.append(_streaming_note(policy))
        others = [b for b in contracts.http_bindings(method) if b != use.binding]
        if others:
            lines.append("Also served at: " + ", ".join(f"`{b.http_method} {b.path}`" for b in others) + ".")
        return "\n\n".join(lines)

    def path_parameters(self, use: _Use) -> list[JSON]:
        request = use.info.descriptor.input_type
        parameters = []
        for var in use.variables:
            field = _resolve(request, var.field_path)
            schema: JSON = {"type": "string"}
            if field is not None and (field.message_type is None or field.message_type.full_name in _TEXTUAL):
                schema = self.value_schema(field)  # a scalar, an enum or a textual well-known type
            if var.pattern != "*":
                schema["pattern"] = _segment_regex(var.pattern)
            description = (
                f"Bound to the request field `{var.field_path}`."
                if field is not None
                else "Any path segment; not bound to a request field."
            )
            if var.pattern != "*":
                description += (
                    f" The value spans the path segments `{var.pattern}` (each `*` one segment, `**` any"
                    " number), including their literal parts."
                )
            parameters.append(
                {"name": var.field_path, "in": "path", "required": True, "description": description, "schema": schema}
            )
        return parameters

    def query_parameters(self, use: _Use) -> list[JSON]:
        """Parameters for the request fields neither the path nor the body carries."""
        if use.binding.body == "*":
            return []
        request = use.info.descriptor.input_type
        bound = {v.field_path for v in use.variables}
        parameters: list[JSON] = []
        for field in request.fields:
            if field.name == use.binding.body or field.name in bound or _OUTPUT_ONLY in _behaviors(field):
                continue
            parameters.extend(self.query_parameter(field, field.name, bound))
        return parameters

    def query_parameter(self, field: FieldDescriptor, name: str, bound: set[str], depth: int = 0) -> list[JSON]:
        if _is_map(field):
            return []
        message = field.message_type
        if message is not None and message.full_name not in _TEXTUAL:
            if field.is_repeated or depth > 0 or message.full_name in _WELL_KNOWN:
                return []
            found: list[JSON] = []
            for child in message.fields:
                path = f"{name}.{child.name}"
                if path not in bound and _OUTPUT_ONLY not in _behaviors(child):
                    found.extend(self.query_parameter(child, path, bound, depth + 1))
            return found
        schema = self.field_schema(field)
        parameter: JSON = {"name": name, "in": "query", "schema": schema}
        description = schema.pop("description", None)
        if description:
            parameter["description"] = description
        if _REQUIRED in _behaviors(field):
            parameter["required"] = True
        if field.is_repeated:
            parameter["style"] = "form"
            parameter["explode"] = True
        return [parameter]

    def request_body(self, use: _Use) -> JSON | None:
        body = use.binding.body
        if not body:
            return None
        request = use.info.descriptor.input_type
        if body == "*":
            if request.full_name == HTTP_BODY:
                return {"required": True, "content": {"*/*": {"schema": dict(_BINARY)}}}
            bound = [v.field_path for v in use.variables]
            schema = self.body_schema(request, bound)
            required = bool(self.message_schema(request).get("required")) if "$ref" in schema else "required" in schema
            content: JSON = {"application/json": {"schema": schema}}
            files = [f for f in request.fields if f.type == f.TYPE_BYTES and not f.is_repeated]
            if files:  # the edge also reads such a body as a form, a file part per bytes field
                form = {f.name: dict(_BINARY) if f in files else self.field_schema(f) for f in request.fields
                        if f.name not in bound and (f.message_type is None or f in files)}
                content["multipart/form-data"] = {"schema": {"type": "object", "properties": form}}
            return {"required": required, "content": content}
        field = request.fields_by_name[body]
        if field.message_type is not None and field.message_type.full_name == HTTP_BODY and not field.is_repeated:
            return {"required": True, "content": {"*/*": {"schema": dict(_BINARY)}}}
        schema = self.field_schema(field)
        return {
            "required": _REQUIRED in _behaviors(field),
            "content": {"application/json": {"schema": schema}},
        }

    def response_content(self, use: _Use) -> tuple[JSON, bool]:
        """The success schema, and whether it is raw bytes (google.api.HttpBody)."""
        reply = use.info.descriptor.output_type
        name = use.binding.response_body
        if not name:
            if reply.full_name == HTTP_BODY:
                return dict(_BINARY), True
            return self.message_ref(reply), False
        field = reply.fields_by_name[name]
        if field.message_type is not None and field.message_type.full_name == HTTP_BODY and not field.is_repeated:
            return dict(_BINARY), True
        return self.field_schema(field), False

    def responses(self, use: _Use) -> JSON:
        info = use.info
        status = info.policy.success_status
        success: JSON = {"description": "Success.", "headers": _success_headers()}
        if status != 204:
            schema, binary = self.response_content(use)
            if binary:
                success["content"] = {"*/*": {"schema": schema}}
                success["description"] = "The raw bytes, with their own content type."
            elif info.server_streaming:
                success["content"] = _stream_content(schema)
                success["description"] = "A stream of messages, one per line (NDJSON) or per event (SSE)."
            else:
                success["content"] = {"application/json": {"schema": schema}}
        else:
            success["description"] = "Success; no content."
        responses: JSON = {str(status): success}
        for code, name, _ in _ERRORS:
            responses[code] = {"$ref": f"#/components/responses/{name}"}
        responses["default"] = {"$ref": "#/components/responses/Error"}
        return responses

    def merge_stream(self, operation: JSON, stream: _Use) -> None:
        """Offer a server-streaming RPC that shares the unary operation's template."""
        status = str(stream.info.policy.success_status)
        schema, _ = self.response_content(stream)
        success = operation["responses"].setdefault(status, {"description": "Success.", "content": {}})
        success.setdefault("content", {}).update(_stream_content(schema))
        names = {p["name"] for p in operation.get("parameters", ())}
        extra = [p for p in self.query_parameters(stream) if p["name"] not in names]
        if extra:
            operation.setdefault("parameters", []).extend(extra)
        operation["description"] += (
            f"\n\nWith `Accept: {NDJSON}` or `{SSE}`, or as a WebSocket upgrade, this path streams instead:"
            f" gRPC `{stream.info.full_method}`. {_access(stream.info.policy)} {_streaming_note(stream.info.policy)}"
        )
        operation["x-agentmesh-stream-rpc"] = stream.info.full_method
        operation["x-agentmesh-stream-policy"] = _policy_extension(stream.info.policy)


def _copy(schema: JSON) -> JSON:
    """A deep copy of a small constant schema (documents must not share mutable parts)."""
    return {k: _copy(v) if isinstance(v, dict) else list(v) if isinstance(v, list) else v for k, v in schema.items()}


def _resolve(message: Descriptor, path: str) -> FieldDescriptor | None:
    current: Descriptor | None = message
    field: FieldDescriptor | None = None
    for name in path.split("."):
        if current is None:
            return None
        field = current.fields_by_name.get(name)
        if field is None:
            return None
        current = field.message_type
    return field


def _access(policy: Policy) -> str:
    if policy.public:
        return "Access: public; no credential needed (a valid one is still honoured)."
    parts = []
    if policy.roles:
        allowed = [r for r in ROLES if policy.allows_role(r)]
        parts.append(
            "roles " + ", ".join(f"`{r}`" for r in sorted(policy.roles)) + " (granted to: " + ", ".join(allowed) + ")"
        )
    if policy.permissions:
        parts.append("every permission of " + ", ".join(f"`{p}`" for p in sorted(policy.permissions)))
    if not parts:
        return "Access: any signed-in caller (bearer JWT or API key)."
    return "Access: signed-in callers with " + " and ".join(parts) + "."


def _streaming_note(policy: Policy) -> str:
    note = (
        f"Server-streaming: `Accept: {NDJSON}` gives one JSON message per line, `Accept: {SSE}` one"
        " server-sent event per message; a WebSocket upgrade gives one JSON frame per message. A failure"
        " mid-stream ends it with one error body (an `error` event in SSE)."
    )
    if policy.websocket_protocol:
        note += f" WebSocket protocol: `{policy.websocket_protocol}`."
    return note


def _stream_content(schema: JSON) -> JSON:
    return {
        NDJSON: {"schema": schema, "x-agentmesh-framing": "one JSON message per line"},
        SSE: {"schema": _copy(schema), "x-agentmesh-framing": "one `data:` event per message"},
    }


def _policy_extension(policy: Policy) -> JSON:
    return {
        "public": policy.public,
        "roles": sorted(policy.roles),
        "permissions": sorted(policy.permissions),
        "rate_limit": policy.rate_limit,
    }


def _success_headers() -> JSON:
    names = (*_RATE_HEADERS, "X-Request-ID")
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


def _components(schemas: Mapping[str, JSON]) -> JSON:
    headers: JSON = {
        name: {"description": text, "schema": {"type": "integer"}} for name, text in _RATE_HEADERS.items()
    }
    headers["X-Request-ID"] = {"description": "The request's id, echoed or made.", "schema": {"type": "string"}}
    headers["Retry-After"] = {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}
    responses: JSON = {}
    error_content = {"application/json": {"schema": _ref("Error")}}
    for code, name, text in _ERRORS:
        response: JSON = {"description": text, "content": _copy(error_content)}
        if code == "429":
            response["headers"] = {n: {"$ref": f"#/components/headers/{n}"} for n in ("Retry-After", *_RATE_HEADERS)}
        elif code == "401":
            response["headers"] = {
                "WWW-Authenticate": {"description": "The scheme to authenticate with.", "schema": {"type": "string"}}
            }
        responses[name] = response
    responses["Error"] = {"description": "Any other failure (e.g. 409, 501, 502, 504).", "content": error_content}
    return {
        "schemas": {"Error": _copy(ERROR_SCHEMA), **{k: schemas[k] for k in sorted(schemas)}},
        "responses": responses,
        "headers": headers,
        "securitySchemes": {
            "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        },
    }


def _uses(methods: Iterable[MethodInfo]) -> list[_Use]:
    uses = []
    for info in methods:
        if info.client_streaming:
            continue  # HTTP/JSON cannot carry a client stream; the edge does not route these
        for index, binding in enumerate(contracts.http_bindings(info.descriptor)):
            if binding.http_method.lower() not in _METHODS:
                continue
            path, variables = openapi_path(binding.path)
            uses.append(_Use(info, binding, index, path, variables))
    return uses


def build_openapi(
    methods: Iterable[MethodInfo],
    *,
    title: str,
    version: str,
    servers: Sequence[str | Mapping[str, Any]] | None = None,
    camel_case: bool = False,
    source_info: Iterable[descriptor_pb2.FileDescriptorProto] = (),
) -> JSON:
    """The OpenAPI 3.1 document of every HTTP binding of `methods`.

    Pure and deterministic for the same input; the edge builds it once and
    serves the same bytes afterwards (see :class:`OpenApiProvider`).
    """
    builder = _Builder(camel_case=camel_case, comments=_Comments(source_info))
    by_route: dict[tuple[str, str], list[_Use]] = {}
    for use in _uses(methods):
        by_route.setdefault((use.path, use.binding.http_method.lower()), []).append(use)
    paths: JSON = {}
    tags: dict[str, JSON] = {}
    for (path, method), group in by_route.items():
        unary = [u for u in group if not u.info.server_streaming]
        streams = [u for u in group if u.info.server_streaming]
        if len(unary) > 1 or len(streams) > 1:
            names = " and ".join(u.info.full_method for u in group)
            raise ValueError(f"{method.upper()} {path} is bound by both {names}")
        base = unary[0] if unary else streams[0]
        operation = builder.operation(base)
        if unary and streams:
            builder.merge_stream(operation, streams[0])
        paths.setdefault(path, {})[method] = operation
        service = base.info.descriptor.containing_service
        if service.name not in tags:
            note = builder.comments.get(service.full_name)
            served = f"Served by the `{base.info.unit}` unit."
            tags[service.name] = {"name": service.name, "description": f"{note} {served}" if note else served}
    document: JSON = {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": title,
            "version": version,
            "description": (
                "Generated from the gRPC contracts' `google.api.http` rules and `(agentmesh.v1.policy)` options. "
                + (
                    "Responses use lowerCamelCase field names; requests accept them or the proto (snake_case) names."
                    if camel_case
                    else "Responses use the proto (snake_case) field names; requests accept them or lowerCamelCase."
                )
                + " 64-bit integers are decimal strings, enums their value names."
            ),
        },
    }
    if servers:
        document["servers"] = [{"url": s} if isinstance(s, str) else dict(s) for s in servers]
    document["tags"] = list(tags.values())
    document["paths"] = {p: paths[p] for p in sorted(paths)}
    document["components"] = _components(builder.schemas)
    document["security"] = [{"bearerAuth": []}, {"apiKey": []}]
    return document


class OpenApiProvider:
    """Builds the document on first use and keeps it: the edge serves it on every GET /openapi.json."""

    def __init__(
        self,
        methods: Iterable[MethodInfo],
        *,
        title: str,
        version: str,
        servers: Sequence[str | Mapping[str, Any]] | None = None,
        camel_case: bool = False,
        source_info: Iterable[descriptor_pb2.FileDescriptorProto] = (),
    ) -> None:
        self._methods = tuple(methods)
        self._options: JSON = {
            "title": title,
            "version": version,
            "servers": servers,
            "camel_case": camel_case,
            "source_info": tuple(source_info),
        }
        self._document: JSON | None = None

    def __call__(self) -> JSON:
        if self._document is None:
            self._document = build_openapi(self._methods, **self._options)
        return self._document
