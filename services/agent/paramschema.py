"""The JSON-schema subset agent types use to describe their parameters.

Keywords: type, properties, required, enum, minimum, maximum,
additionalProperties (a boolean or a schema), items, default, and the
annotations title and description. A definition's schema is checked when it is
written (an unknown keyword is a mistake, not an extension), and an agent's
parameters are checked against its type's schema whenever they are written.
Violations name the offending value's path, e.g. `parameters.temperature` or
`parameters.stop[1]`, so that a client can point at the field.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from services.common.errors import FieldViolation

TYPES = ("object", "array", "string", "number", "integer", "boolean", "null")
KEYWORDS = frozenset(
    {"type", "properties", "required", "enum", "minimum", "maximum", "additionalProperties", "items", "default",
     "title", "description"}
)
MAX_DEPTH = 16


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _matches(kind: str, value: Any) -> bool:
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    if kind == "string":
        return isinstance(value, str)
    if kind == "number":
        return _is_number(value) and math.isfinite(value)
    if kind == "integer":
        return _is_number(value) and math.isfinite(value) and float(value).is_integer()
    if kind == "boolean":
        return isinstance(value, bool)
    return value is None


def _same(a: Any, b: Any) -> bool:
    """JSON equality: 1 and 1.0 are equal, true and 1 are not."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def _kinds(schema: dict[str, Any]) -> list[str]:
    kind = schema.get("type")
    if kind is None:
        return []
    return [kind] if isinstance(kind, str) else list(kind)


# ---------------------------------------------------------------------------
# The schema itself


def schema_violations(schema: Any, path: str = "parameter_schema", depth: int = 0) -> list[FieldViolation]:
    """What is wrong with a parameter schema; empty when it is usable."""
    return list(_schema_problems(schema, path, depth))


def _schema_problems(schema: Any, path: str, depth: int) -> Iterator[FieldViolation]:
    if not isinstance(schema, dict):
        yield FieldViolation(path, "must be a schema object")
        return
    if depth > MAX_DEPTH:
        yield FieldViolation(path, f"nested deeper than {MAX_DEPTH} levels")
        return
    for keyword in sorted(set(schema) - KEYWORDS):
        yield FieldViolation(f"{path}.{keyword}", f"unknown keyword; supported: {', '.join(sorted(KEYWORDS))}")
    kind = schema.get("type")
    kinds = [kind] if isinstance(kind, str) else kind
    if kind is not None and (
        not isinstance(kinds, list) or not kinds or any(k not in TYPES for k in kinds)
    ):
        yield FieldViolation(f"{path}.type", f"must be one of {', '.join(TYPES)}, or a list of them")
    properties = schema.get("properties", {})
    if not isinstance(properties, dict):
        yield FieldViolation(f"{path}.properties", "must map parameter names to schemas")
    else:
        for name, sub in properties.items():
            yield from _schema_problems(sub, f"{path}.properties.{name}", depth + 1)
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        yield FieldViolation(f"{path}.required", "must be a list of parameter names")
    if "enum" in schema and (not isinstance(schema["enum"], list) or not schema["enum"]):
        yield FieldViolation(f"{path}.enum", "must be a non-empty list of values")
    for bound in ("minimum", "maximum"):
        if bound in schema and not _is_number(schema[bound]):
            yield FieldViolation(f"{path}.{bound}", "must be a number")
    if _is_number(schema.get("minimum")) and _is_number(schema.get("maximum")) and schema["minimum"] > schema[
        "maximum"
    ]:
        yield FieldViolation(f"{path}.maximum", "must not be below minimum")
    extra = schema.get("additionalProperties", True)
    if not isinstance(extra, bool):
        yield from _schema_problems(extra, f"{path}.additionalProperties", depth + 1)
    if "items" in schema:
        yield from _schema_problems(schema["items"], f"{path}.items", depth + 1)
    for annotation in ("title", "description"):
        if annotation in schema and not isinstance(schema[annotation], str):
            yield FieldViolation(f"{path}.{annotation}", "must be text")
    if "default" in schema and isinstance(kinds, list) and all(k in TYPES for k in kinds):
        for problem in _value_problems(schema, schema["default"], "default", depth + 1):
            yield FieldViolation(f"{path}.default", f"does not satisfy the schema: {problem.description}")


# ---------------------------------------------------------------------------
# Values against a schema


def parameter_violations(schema: dict[str, Any], parameters: dict[str, Any],
                         path: str = "parameters") -> list[FieldViolation]:
    """Where `parameters` breaks `schema`; empty when they satisfy it."""
    return list(_value_problems(schema, parameters, path, 0))


def _value_problems(schema: Any, value: Any, path: str, depth: int) -> Iterator[FieldViolation]:
    if not isinstance(schema, dict) or depth > MAX_DEPTH:
        return
    kinds = _kinds(schema)
    if kinds and not any(_matches(k, value) for k in kinds):
        article = "an" if kinds[0][0] in "aeiou" else "a"
        yield FieldViolation(path, f"must be {article} {' or '.join(kinds)}")
        return
    if "enum" in schema and isinstance(schema["enum"], list) and not any(_same(value, c) for c in schema["enum"]):
        yield FieldViolation(path, f"must be one of {', '.join(map(_show, schema['enum']))}")
    if _is_number(value):
        low, high = schema.get("minimum"), schema.get("maximum")
        if _is_number(low) and value < low:
            yield FieldViolation(path, f"must be at least {_show(low)}")
        if _is_number(high) and value > high:
            yield FieldViolation(path, f"must be at most {_show(high)}")
    if isinstance(value, dict):
        yield from _object_problems(schema, value, path, depth)
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            yield from _value_problems(schema["items"], item, f"{path}[{index}]", depth + 1)


def _object_problems(schema: dict[str, Any], value: dict[str, Any], path: str, depth: int) -> Iterator[FieldViolation]:
    properties = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    assert isinstance(properties, dict)
    required = schema.get("required") if isinstance(schema.get("required"), list) else []
    assert isinstance(required, list)
    for name in required:
        if name not in value:
            yield FieldViolation(f"{path}.{name}", "is required")
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        if name in properties:
            yield from _value_problems(properties[name], item, f"{path}.{name}", depth + 1)
        elif extra is False:
            known = ", ".join(sorted(properties)) or "none"
            yield FieldViolation(f"{path}.{name}", f"is not a parameter of this agent type (known: {known})")
        elif isinstance(extra, dict):
            yield from _value_problems(extra, item, f"{path}.{name}", depth + 1)


def with_defaults(schema: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    """The parameters with the schema's top-level defaults filled in where a value is missing."""
    filled = dict(parameters)
    properties = schema.get("properties")
    if isinstance(properties, dict):
        for name, sub in properties.items():
            if name not in filled and isinstance(sub, dict) and "default" in sub:
                filled[name] = sub["default"]
    return filled


def _show(value: Any) -> str:
    if _is_number(value) and float(value).is_integer():
        return str(int(value))
    return repr(value) if isinstance(value, str) else str(value)
