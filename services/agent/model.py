"""The agent unit's vocabulary: allowed values, field checks, rows turned into messages and events."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from agentmesh.v1 import agent_pb2, common_pb2

from services.common.authctx import tenant_caller as tenant_caller  # the unit's modules take it from here
from services.common.errors import FieldViolation, NotFound
from services.common.errors import raise_if as raise_if  # the unit's modules take it from here
from services.common.protoutil import struct, timestamp

STATUSES = ("created", "starting", "running", "stopping", "stopped", "error")
STRATEGIES = ("sequential", "round_robin", "first_answer")
MEMBER_ROLES = ("lead", "member")
# The type of agents created without one (a built-in definition, see services.agent.schema).
DEFAULT_TYPE = "custom"

NAME_MAX = 200
DESCRIPTION_MAX = 2000
MODEL_MAX = 200
PROMPT_MAX = 100_000
API_KEY_MAX = 4096
TOOLS_MAX = 64
TOOL_MAX = 100
PARAMETERS_MAX_BYTES = 64 * 1024

_PROVIDER = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_TYPE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


def text_violation(field: str, value: str, limit: int, *, required: bool = False) -> FieldViolation | None:
    if required and not value:
        return FieldViolation(field, "is required")
    if len(value) > limit:
        return FieldViolation(field, f"at most {limit} characters")
    return None


def choice_violation(field: str, value: str, allowed: Sequence[str]) -> FieldViolation | None:
    if value not in allowed:
        return FieldViolation(field, f"must be one of {', '.join(allowed)}")
    return None


def provider_violation(field: str, value: str) -> FieldViolation | None:
    """Providers are lower-case names (openai, echo, anthropic); empty means the platform default."""
    if value and not _PROVIDER.match(value):
        return FieldViolation(field, "a lower-case provider name such as openai or echo")
    return None


def type_name_violation(field: str, value: str) -> FieldViolation | None:
    if not _TYPE_NAME.match(value):
        return FieldViolation(field, "1 to 64 lower-case letters, digits, - or _, starting with a letter")
    return None


def tool_list(field: str, values: Sequence[str]) -> tuple[list[str], list[FieldViolation]]:
    """Tool names trimmed and without repeats, and what is wrong with them."""
    tools = list(dict.fromkeys(v.strip() for v in values))
    problems = [FieldViolation(f"{field}[{i}]", f"1 to {TOOL_MAX} characters")
                for i, t in enumerate(tools) if not t or len(t) > TOOL_MAX]
    if len(tools) > TOOLS_MAX:
        problems.append(FieldViolation(field, f"at most {TOOLS_MAX} tools"))
    return tools, problems


def parameters_size_violation(field: str, value: dict[str, Any]) -> FieldViolation | None:
    if len(json.dumps(value)) > PARAMETERS_MAX_BYTES:
        return FieldViolation(field, f"at most {PARAMETERS_MAX_BYTES} bytes of JSON")
    return None


def agent_not_found(agent_id: str) -> NotFound:
    """One answer for a missing agent and another tenant's: nothing tells them apart."""
    return NotFound(f"agent {agent_id} not found", reason="AGENT_NOT_FOUND")


def team_not_found(team_id: str) -> NotFound:
    return NotFound(f"team {team_id} not found", reason="TEAM_NOT_FOUND")


def definition_not_found(definition_id: str) -> NotFound:
    return NotFound(f"agent definition {definition_id} not found", reason="AGENT_DEFINITION_NOT_FOUND")


# ---------------------------------------------------------------------------
# Rows to messages


def agent_message(row: dict[str, Any], team_ids: Sequence[str] = ()) -> agent_pb2.Agent:
    return agent_pb2.Agent(
        agent_id=row["agent_id"],
        tenant_id=row["tenant_id"],
        owner_id=row["owner_id"],
        name=row["name"],
        description=row["description"],
        type=row["type"],
        provider=row["provider"],
        model=row["model"],
        system_prompt=row["system_prompt"],
        parameters=struct(row["parameters"]),
        tools=json.loads(row["tools"]),
        has_api_key=row["api_key_sealed"] is not None,
        team_ids=list(team_ids),
        status=row["status"],
        status_message=row["status_message"],
        created_at=timestamp(row["created_at"]),
        updated_at=timestamp(row["updated_at"]),
        started_at=timestamp(row["started_at"]),
    )


def member_message(row: dict[str, Any]) -> agent_pb2.TeamMember:
    return agent_pb2.TeamMember(
        agent_id=row["agent_id"],
        role=row["role"],
        position=row["position"],
        agent_name=row["agent_name"],
        added_at=timestamp(row["added_at"]),
    )


def team_message(row: dict[str, Any], members: Sequence[dict[str, Any]]) -> agent_pb2.Team:
    return agent_pb2.Team(
        team_id=row["team_id"],
        tenant_id=row["tenant_id"],
        owner_id=row["owner_id"],
        name=row["name"],
        description=row["description"],
        strategy=row["strategy"],
        members=[member_message(m) for m in members],
        agent_ids=[m["agent_id"] for m in members],
        created_at=timestamp(row["created_at"]),
        updated_at=timestamp(row["updated_at"]),
    )


def definition_message(row: dict[str, Any]) -> agent_pb2.AgentDefinition:
    return agent_pb2.AgentDefinition(
        definition_id=row["definition_id"],
        name=row["name"],
        display_name=row["display_name"],
        description=row["description"],
        default_provider=row["default_provider"],
        default_model=row["default_model"],
        parameter_schema=struct(row["parameter_schema"]),
        capabilities=json.loads(row["capabilities"]),
        enabled=bool(row["enabled"]),
        created_at=timestamp(row["created_at"]),
        updated_at=timestamp(row["updated_at"]),
    )


def event(kind: str, tenant_id: str, subject_id: str, **data: Any) -> common_pb2.Event:
    """An event of the tenant about one resource; every member of the tenant may see it."""
    announced = common_pb2.Event(type=kind, tenant_id=tenant_id, subject_id=subject_id)
    announced.data.update(data)
    return announced
