"""The JSON-schema subset a workflow's input_schema may use, and checking a run's input against it.

Keywords: type (object, string, number, integer, boolean, array, null),
properties, required, enum, items, minLength, maxLength, minimum, maximum,
additionalProperties (true or false), and the annotations title, description
and default. Any other keyword is refused when the workflow is saved, so a
schema never silently checks less than its author meant.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.common.errors import FieldViolation

TYPES = ("object", "string", "number", "integer", "boolean", "array", "null")
KEYWORDS = frozenset({"type", "properties", "required", "enum", "items", "minLength", "maxLength", "minimum",
                      "maximum", "additionalProperties", "title", "description", "default", "$schema"})
MAX_DEPTH = 10


def schema_violations(field: str, schema: Mapping[str, Any], depth: int = 0) -> list[FieldViolation]:
    """What is wrong with a schema itself."""
    found: list[FieldViolation] = []
    if depth > MAX_DEPTH:
        return [FieldViolation(field, f"nested deeper than {MAX_DEPTH} levels")]
    for key in sorted(set(schema) - KEYWORDS):
        found.append(FieldViolation(f"{field}.{key}", "is not a supported keyword"))
    kind = schema.get("type")
    if kind is not None and kind not in TYPES:
        found.append(FieldViolation(f"{field}.type", f"must be one of {', '.join(TYPES)}"))
    properties = schema.get("properties", {})
    if not isinstance(properties, Mapping):
        found.append(FieldViolation(f"{field}.properties", "must be an object of schemas"))
    else:
        for name, sub in properties.items():
            if not isinstance(sub, Mapping):
                found.append(FieldViolation(f"{field}.properties.{name}", "must be a schema object"))
            else:
                found += schema_violations(f"{field}.properties.{name}", sub, depth + 1)
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        found.append(FieldViolation(f"{field}.required", "must be a list of property names"))
    if "enum" in schema and not isinstance(schema["enum"], list):
        found.append(FieldViolation(f"{field}.enum", "must be a list"))
    if "items" in schema:
        items = schema["items"]
        if isinstance(items, Mapping):
            found += schema_violations(f"{field}.items", items, depth + 1)
        else:
            found.append(FieldViolation(f"{field}.items", "must be a schema object"))
    for key in ("minLength", "maxLength", "minimum", "maximum"):
        if key in schema and (isinstance(schema[key], bool) or not isinstance(schema[key], int | float)):
            found.append(FieldViolation(f"{field}.{key}", "must be a number"))
    if "additionalProperties" in schema and not isinstance(schema["additionalProperties"], bool):
        found.append(FieldViolation(f"{field}.additionalProperties", "must be true or false"))
    return found


def _is(kind: str, value: Any) -> bool:
    if kind == "object":
        return isinstance(value, Mapping)
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "null":
        return value is None
    if kind == "array":
        return isinstance(value, list)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    # JSON (and Struct) has one number type: 3.0 is an integer.
    return kind == "number" or float(value).is_integer()


def input_violations(field: str, schema: Mapping[str, Any], value: Any) -> list[FieldViolation]:
    """What is wrong with a value under a (valid) schema."""
    kind = schema.get("type")
    if isinstance(kind, str) and not _is(kind, value):
        return [FieldViolation(field, f"must be of type {kind}")]
    found: list[FieldViolation] = []
    if "enum" in schema and value not in schema["enum"]:
        found.append(FieldViolation(field, "must be one of " + ", ".join(map(str, schema["enum"]))))
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            found.append(FieldViolation(field, f"at least {schema['minLength']:g} characters"))
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            found.append(FieldViolation(field, f"at most {schema['maxLength']:g} characters"))
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            found.append(FieldViolation(field, f"must be at least {schema['minimum']:g}"))
        if "maximum" in schema and value > schema["maximum"]:
            found.append(FieldViolation(field, f"must be at most {schema['maximum']:g}"))
    if isinstance(value, Mapping):
        properties: Mapping[str, Any] = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                found.append(FieldViolation(f"{field}.{name}", "is required"))
        for name, item in value.items():
            if name in properties:
                found += input_violations(f"{field}.{name}", properties[name], item)
            elif schema.get("additionalProperties") is False:
                found.append(FieldViolation(f"{field}.{name}", "is not a property the workflow accepts"))
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for i, item in enumerate(value):
            found += input_violations(f"{field}[{i}]", schema["items"], item)
    return found
