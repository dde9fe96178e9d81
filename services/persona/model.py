"""The persona unit's vocabulary: limits, configuration checks, prompt placeholders, rows turned into messages.

A template's `config` holds the settings the platform reads (below, in
`KNOWN_KEYS`) and any other key, which goes to the provider as a parameter.
`check_config` lists what is wrong with a configuration as ValidationProblems:
errors make it invalid (CreateTemplate, UpdateTemplate and CreateInstance
refuse it, naming the fields), warnings only inform (ValidateTemplate shows
both).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from agentmesh.v1 import common_pb2, persona_pb2
from google.protobuf import json_format

from services.common.authctx import tenant_caller as tenant_caller  # the unit's modules take it from here
from services.common.errors import FieldViolation, NotFound
from services.common.errors import raise_if as raise_if  # the unit's modules take it from here
from services.common.protoutil import struct, timestamp

INSTANCE_STATUSES = ("idle", "running", "stopped", "failed")
EXECUTION_STATUSES = ("queued", "running", "completed", "failed", "stopped")
OPEN_EXECUTION = ("queued", "running")
LOG_LEVELS = ("debug", "info", "warning", "error")

NAME_MAX = 200
DESCRIPTION_MAX = 2000
CATEGORY_MAX = 100
MODEL_MAX = 200
PROMPT_MAX = 100_000
INPUT_MAX = 100_000
REASON_MAX = 1000
TAGS_MAX = 32
TAG_MAX = 64
KEY_MAX = 64
CONFIG_MAX_BYTES = 64 * 1024
TIMEOUT_MAX = 3600.0

_PROVIDER = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}")


def _number(low: float, high: float) -> Any:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            return f"a number from {low:g} to {high:g}"
        return None
    return check


def _integer(low: int, high: int) -> Any:
    def check(value: Any) -> str | None:
        if (isinstance(value, bool) or not isinstance(value, int | float) or not float(value).is_integer()
                or not low <= value <= high):
            return f"a whole number from {low} to {high}"
        return None
    return check


def _strings(most: int) -> Any:
    def check(value: Any) -> str | None:
        if not isinstance(value, list) or len(value) > most or not all(isinstance(v, str) and v for v in value):
            return f"a list of at most {most} non-empty strings"
        return None
    return check


def _variables(value: Any) -> str | None:
    if not isinstance(value, dict) or not all(isinstance(v, str | int | float | bool) for v in value.values()):
        return "an object of names to text, number or true/false values"
    return None


# The config keys the platform reads; any other key is passed to the provider as a parameter.
KNOWN_KEYS: Mapping[str, Any] = {
    "temperature": _number(0, 2),
    "max_tokens": _integer(1, 128_000),
    "top_p": _number(0, 1),
    "presence_penalty": _number(-2, 2),
    "frequency_penalty": _number(-2, 2),
    "stop": _strings(4),
    "tools": _strings(64),
    # Default values of the system prompt's {{placeholders}}; an execution's variables win.
    "variables": _variables,
    # The longest an execution may take, in seconds (default: the platform's LLM timeout).
    "timeout_seconds": _number(1, TIMEOUT_MAX),
}
# Keys that shape the call rather than go to the provider.
_NOT_PARAMETERS = ("temperature", "max_tokens", "variables", "timeout_seconds", "tools")


def variables_violation(field: str, value: Any) -> FieldViolation | None:
    wrong = _variables(value)
    return FieldViolation(field, f"must be {wrong}") if wrong else None


def problem(field: str, message: str, severity: str = "error") -> persona_pb2.ValidationProblem:
    return persona_pb2.ValidationProblem(field=field, message=message, severity=severity)


def check_config(config: Mapping[str, Any], field: str = "config") -> list[persona_pb2.ValidationProblem]:
    """Every problem with a configuration's keys and values."""
    found = []
    if len(json.dumps(config)) > CONFIG_MAX_BYTES:
        found.append(problem(field, f"at most {CONFIG_MAX_BYTES} bytes of JSON"))
    for key, value in config.items():
        check = KNOWN_KEYS.get(key)
        if check is None:
            found.append(problem(f"{field}.{key}", "not a setting the platform reads; it is passed to the provider "
                                 "as a parameter", "warning"))
            continue
        wrong = check(value)
        if wrong:
            found.append(problem(f"{field}.{key}", f"must be {wrong}"))
    return found


def check_template(values: Mapping[str, Any]) -> list[persona_pb2.ValidationProblem]:
    """Every problem with a template's fields (name, prompt, provider, config, overridable keys...)."""
    found: list[persona_pb2.ValidationProblem] = []
    for name, limit in (("name", NAME_MAX), ("description", DESCRIPTION_MAX), ("category", CATEGORY_MAX),
                        ("model", MODEL_MAX), ("system_prompt", PROMPT_MAX)):
        if name in values and len(values[name]) > limit:
            found.append(problem(name, f"at most {limit} characters"))
    if "name" in values and not values["name"]:
        found.append(problem("name", "is required"))
    provider = values.get("provider", "")
    if provider and not _PROVIDER.match(provider):
        found.append(problem("provider", "a lower-case provider name such as openai or echo"))
    config: Mapping[str, Any] = values.get("config", {})
    found.extend(check_config(config))
    for i, key in enumerate(values.get("overridable_keys", ())):
        if not key or len(key) > KEY_MAX:
            found.append(problem(f"overridable_keys[{i}]", f"1 to {KEY_MAX} characters"))
    tags = values.get("tags", ())
    if len(tags) > TAGS_MAX:
        found.append(problem("tags", f"at most {TAGS_MAX} tags"))
    for i, tag in enumerate(tags):
        if not tag or len(tag) > TAG_MAX:
            found.append(problem(f"tags[{i}]", f"1 to {TAG_MAX} characters"))
    prompt = values.get("system_prompt")
    if prompt is not None:
        if not prompt.strip():
            found.append(problem("system_prompt", "is empty: the persona answers as the bare model", "warning"))
        defaults = config.get("variables")
        known = set(defaults) if isinstance(defaults, dict) else set()
        for name in sorted(set(placeholders(prompt)) - known):
            found.append(problem("system_prompt", f"{{{{{name}}}}} has no default in config.variables; an execution "
                                 "must give it, or it stays as written", "warning"))
    return found


def violations(problems: Iterable[persona_pb2.ValidationProblem]) -> list[FieldViolation]:
    return [FieldViolation(p.field, p.message) for p in problems if p.severity == "error"]


def clean_list(values: Sequence[str]) -> list[str]:
    """Trimmed, without repeats, in the order given."""
    return list(dict.fromkeys(v.strip() for v in values))


def placeholders(prompt: str) -> list[str]:
    return _PLACEHOLDER.findall(prompt)


def render(prompt: str, variables: Mapping[str, Any]) -> str:
    """The prompt with each {{name}} that has a value replaced by it; the others stay as written."""
    def fill(found: re.Match[str]) -> str:
        value = variables.get(found[1])
        if value is None:
            return found[0]
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)
    return _PLACEHOLDER.sub(fill, prompt)


def merged(config: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """`config` with `overrides` laid over it; `variables` merge key by key."""
    result = dict(config)
    for key, value in overrides.items():
        if key == "variables" and isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = {**result[key], **value}
        else:
            result[key] = value
    return result


def provider_parameters(config: Mapping[str, Any]) -> dict[str, Any]:
    """What goes to the provider as free parameters: every key the platform does not read itself."""
    return {k: v for k, v in config.items() if k not in _NOT_PARAMETERS}


def template_not_found(template_id: str) -> NotFound:
    """One answer for a missing template and a draft a non-admin may not see."""
    return NotFound(f"template {template_id} not found", reason="TEMPLATE_NOT_FOUND")


def instance_not_found(instance_id: str) -> NotFound:
    """One answer for a missing instance and someone else's."""
    return NotFound(f"persona instance {instance_id} not found", reason="INSTANCE_NOT_FOUND")


# ---------------------------------------------------------------------------
# Rows to messages


def template_message(row: Mapping[str, Any]) -> persona_pb2.PersonaTemplate:
    return persona_pb2.PersonaTemplate(
        template_id=row["template_id"],
        name=row["name"],
        description=row["description"],
        category=row["category"],
        system_prompt=row["system_prompt"],
        provider=row["provider"],
        model=row["model"],
        config=struct(row["config"]),
        overridable_keys=json.loads(row["overridable_keys"]),
        published=bool(row["published"]),
        tags=json.loads(row["tags"]),
        version=row["version"],
        instance_count=int(row.get("instance_count") or 0),
        created_by=row["created_by"],
        created_at=timestamp(row["created_at"]),
        updated_at=timestamp(row["updated_at"]),
    )


def effective_config(row: Mapping[str, Any]) -> dict[str, Any]:
    return merged(json.loads(row["base"])["config"], json.loads(row["overrides"]))


def instance_message(row: Mapping[str, Any]) -> persona_pb2.PersonaInstance:
    return persona_pb2.PersonaInstance(
        instance_id=row["instance_id"],
        template_id=row["template_id"],
        template_version=row["template_version"],
        name=row["name"],
        description=row["description"],
        overrides=struct(row["overrides"]),
        effective_config=struct(effective_config(row)),
        status=row["status"],
        owner_id=row["owner_id"],
        tenant_id=row["tenant_id"],
        current_execution_id=row["current_execution_id"],
        execution_count=row["execution_count"],
        last_executed_at=timestamp(row["last_executed_at"]),
        created_at=timestamp(row["created_at"]),
        updated_at=timestamp(row["updated_at"]),
    )


def execution_message(row: Mapping[str, Any]) -> persona_pb2.Execution:
    started, finished = row["started_at"], row["finished_at"]
    return persona_pb2.Execution(
        execution_id=row["execution_id"],
        instance_id=row["instance_id"],
        status=row["status"],
        input=row["input"],
        variables=struct(row["variables"]),
        output=row["output"],
        error=row["error"],
        progress=row["progress"],
        usage=common_pb2.TokenUsage(prompt_tokens=row["prompt_tokens"], completion_tokens=row["completion_tokens"],
                                    total_tokens=row["total_tokens"]),
        provider=row["provider"],
        model=row["model"],
        created_at=timestamp(row["created_at"]),
        started_at=timestamp(started),
        finished_at=timestamp(finished),
        duration_seconds=round(finished - started, 6) if started is not None and finished is not None else 0.0,
    )


def event_message(row: Mapping[str, Any]) -> persona_pb2.InstanceEvent:
    return persona_pb2.InstanceEvent(
        type=row["type"],
        instance_id=row["instance_id"],
        execution_id=row["execution_id"],
        data=struct(row["data"]),
        time=timestamp(row["time"]),
        event_id=str(row["event_id"]),
    )


def snapshot_event(instance: Mapping[str, Any], last_event_id: int) -> persona_pb2.InstanceEvent:
    """The first frame of a feed: the instance as it is, with the id of the last event it reflects."""
    data = json_format.MessageToDict(instance_message(instance), preserving_proto_field_name=True)
    event = persona_pb2.InstanceEvent(type="instance.snapshot", instance_id=instance["instance_id"],
                                      execution_id=instance["current_execution_id"],
                                      time=timestamp(time.time()), event_id=str(last_event_id))
    event.data.update(data)
    return event


def log_message(row: Mapping[str, Any]) -> common_pb2.LogEntry:
    return common_pb2.LogEntry(
        time=timestamp(row["time"]),
        level=row["level"],
        message=row["message"],
        fields=struct(row["fields"]),
        subject_id=row["execution_id"] or row["instance_id"],
    )
