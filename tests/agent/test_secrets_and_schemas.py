"""The sealing of provider keys and the parameter-schema subset, table-driven."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from services.agent.paramschema import parameter_violations, schema_violations, with_defaults
from services.common.crypto import SecretBox, SecretUnreadable, key_from_settings
from services.common.settings import Settings
from tests.conftest import TEST_SECRET


def _settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"AGENTMESH_DATA_DIR": str(tmp_path), "JWT_SECRET": TEST_SECRET, **env})


def test_sealed_values_open_only_for_their_record_and_key(tmp_path: Path) -> None:
    box = SecretBox.from_settings(_settings(tmp_path))
    first, second = box.seal("sk-secret", "agt_1"), box.seal("sk-secret", "agt_1")
    assert first != second  # a fresh nonce per value
    assert "sk-secret" not in first and first.startswith("v1.")
    assert box.open(first, "agt_1") == box.open(second, "agt_1") == "sk-secret"
    with pytest.raises(SecretUnreadable):
        box.open(first, "agt_2")  # copied onto another agent's row
    other = SecretBox.from_settings(_settings(tmp_path, JWT_SECRET="another-secret-of-enough-length-0123456789"))
    with pytest.raises(SecretUnreadable):
        other.open(first, "agt_1")
    tampered = first[:-4] + ("AAAA" if not first.endswith("AAAA") else "BBBB")
    for bad in (tampered, "v2.abc", "plain text", "v1.!!!"):
        with pytest.raises(SecretUnreadable):
            box.open(bad, "agt_1")


def test_the_key_comes_from_the_setting_or_the_jwt_secret(tmp_path: Path) -> None:
    raw = bytes(range(32))
    derived = key_from_settings(_settings(tmp_path))
    assert len(derived) == 32 and derived != TEST_SECRET.encode()[:32]
    assert key_from_settings(_settings(tmp_path, AGENTMESH_ENCRYPTION_KEY=raw.hex())) == raw
    assert key_from_settings(_settings(tmp_path, AGENTMESH_ENCRYPTION_KEY=base64.b64encode(raw).decode())) == raw
    url_safe = base64.urlsafe_b64encode(raw).decode()
    assert key_from_settings(_settings(tmp_path, AGENTMESH_ENCRYPTION_KEY=url_safe)) == raw
    phrase = key_from_settings(_settings(tmp_path, AGENTMESH_ENCRYPTION_KEY="a long pass phrase, not a key"))
    assert len(phrase) == 32 and phrase not in (raw, derived)
    with pytest.raises(ValueError):
        SecretBox(b"short")


SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "temperature": {"type": "number", "minimum": 0, "maximum": 2},
        "n": {"type": "integer", "default": 1},
        "mode": {"enum": ["fast", "slow", 1]},
        "flag": {"type": "boolean"},
        "stop": {"type": "array", "items": {"type": "string"}},
        "nested": {"type": "object", "properties": {"depth": {"type": ["integer", "null"]}}, "required": ["depth"]},
    },
    "required": ["temperature"],
    "additionalProperties": False,
}
KNOWN = "flag, mode, n, nested, stop, temperature"


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ({"temperature": 1}, {}),
        ({"temperature": 0.5, "n": 3.0, "mode": 1, "flag": False, "stop": ["a"], "nested": {"depth": None}}, {}),
        ({}, {"parameters.temperature": "is required"}),
        ({"temperature": "hot"}, {"parameters.temperature": "must be a number"}),
        ({"temperature": True}, {"parameters.temperature": "must be a number"}),
        ({"temperature": -0.1}, {"parameters.temperature": "must be at least 0"}),
        ({"temperature": 2.5}, {"parameters.temperature": "must be at most 2"}),
        ({"temperature": 1, "n": 1.5}, {"parameters.n": "must be an integer"}),
        ({"temperature": 1, "mode": "medium"}, {"parameters.mode": "must be one of 'fast', 'slow', 1"}),
        ({"temperature": 1, "mode": True}, {"parameters.mode": "must be one of 'fast', 'slow', 1"}),
        ({"temperature": 1, "flag": 1}, {"parameters.flag": "must be a boolean"}),
        ({"temperature": 1, "stop": ["a", 2]}, {"parameters.stop[1]": "must be a string"}),
        ({"temperature": 1, "nested": {}}, {"parameters.nested.depth": "is required"}),
        ({"temperature": 1, "nested": {"depth": "x"}}, {"parameters.nested.depth": "must be an integer or null"}),
        ({"temperature": 1, "extra": 1},
         {"parameters.extra": "is not a parameter of this agent type (known: " + KNOWN + ")"}),
    ],
)
def test_parameters_against_the_schema(parameters: dict[str, Any], expected: dict[str, str]) -> None:
    assert {v.field: v.description for v in parameter_violations(SCHEMA, parameters)} == expected


@pytest.mark.parametrize(
    ("schema", "fields"),
    [
        (SCHEMA, set()),
        ({}, set()),
        ([], {"parameter_schema"}),
        ({"type": "thing"}, {"parameter_schema.type"}),
        ({"type": []}, {"parameter_schema.type"}),
        ({"properties": []}, {"parameter_schema.properties"}),
        ({"properties": {"a": "text"}}, {"parameter_schema.properties.a"}),
        ({"required": [1]}, {"parameter_schema.required"}),
        ({"enum": []}, {"parameter_schema.enum"}),
        ({"minimum": "0"}, {"parameter_schema.minimum"}),
        ({"minimum": 3, "maximum": 1}, {"parameter_schema.maximum"}),
        ({"additionalProperties": {"type": "nope"}}, {"parameter_schema.additionalProperties.type"}),
        ({"items": {"format": "uri"}}, {"parameter_schema.items.format"}),
        ({"title": 3}, {"parameter_schema.title"}),
        ({"type": "integer", "default": "one"}, {"parameter_schema.default"}),
        ({"$ref": "#/x"}, {"parameter_schema.$ref"}),
    ],
)
def test_schemas_themselves(schema: Any, fields: set[str]) -> None:
    assert {v.field for v in schema_violations(schema)} == fields


def test_deep_schemas_are_refused_not_followed() -> None:
    schema: dict[str, Any] = {"type": "object"}
    for _ in range(40):
        schema = {"type": "object", "properties": {"x": schema}}
    assert any("nested deeper" in v.description for v in schema_violations(schema))


def test_defaults_fill_only_what_is_missing() -> None:
    assert with_defaults(SCHEMA, {"temperature": 1}) == {"temperature": 1, "n": 1}
    assert with_defaults(SCHEMA, {"temperature": 1, "n": 4}) == {"temperature": 1, "n": 4}
    assert with_defaults({}, {"a": 1}) == {"a": 1}
