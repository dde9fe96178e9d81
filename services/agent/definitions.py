"""AgentDefinitionService: the global catalogue of agent types (seed 002's admin agent-definitions).

Everyone signed in may read enabled types (they choose an agent's `type` from
them); admins see disabled ones too and are the only writers (the contract's
policy checks the role before a method runs). A definition is found by its id
or by its name. A type that agents still use cannot be deleted: their
parameters were validated against it and their `type` names it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import grpc
from agentmesh.v1 import agent_pb2

from services.agent import model
from services.agent.paramschema import schema_violations
from services.common import authctx, crud, listing
from services.common.errors import AlreadyExists, FailedPrecondition, FieldViolation
from services.common.protoutil import new_id, struct_dict
from services.common.storage import Database, Row, Transaction

CAPABILITIES_MAX = 32
_COLUMNS: Mapping[str, str] = {
    name: f"d.{name}"
    for name in ("definition_id", "name", "display_name", "description", "default_provider", "default_model",
                 "enabled", "created_at", "updated_at")
}
_LIMITS = {"display_name": model.NAME_MAX, "description": model.DESCRIPTION_MAX}
_UPDATABLE = ("display_name", "description", "default_provider", "default_model", "parameter_schema",
              "capabilities", "enabled")


def _schema(field: str, value: dict[str, Any]) -> list[FieldViolation]:
    problems = schema_violations(value, field)
    if value.get("type", "object") != "object":
        problems.append(FieldViolation(f"{field}.type", "parameters are an object: the schema's type must be object"))
    return problems


def _capabilities(values: list[str]) -> tuple[list[str], list[FieldViolation]]:
    kept = list(dict.fromkeys(v.strip().lower() for v in values))
    problems = [FieldViolation(f"capabilities[{i}]", "1 to 64 characters") for i, v in enumerate(kept)
                if not v or len(v) > 64]
    if len(kept) > CAPABILITIES_MAX:
        problems.append(FieldViolation("capabilities", f"at most {CAPABILITIES_MAX}"))
    return kept, problems


class Definitions:
    """agentmesh.v1.AgentDefinitionService."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def _visible(self, q: Transaction, definition_id: str) -> Row:
        """By id or name; a disabled type is only visible to admins."""
        wanted = crud.required_id("definition_id", definition_id)
        row = await q.fetch_one("SELECT * FROM agent_definitions WHERE definition_id = ? OR name = ?",
                                (wanted, wanted))
        if row is None or (not row["enabled"] and not authctx.current().is_admin):
            raise model.definition_not_found(wanted)
        return row

    async def ListAgentDefinitions(
        self, request: agent_pb2.ListAgentDefinitionsRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.ListAgentDefinitionsResponse:
        where, params = listing.filter_sql(request.filter, _COLUMNS)
        if not authctx.current().is_admin:
            where.append("d.enabled = 1")
        if request.HasField("enabled"):
            where.append("d.enabled = ?")
            params.append(1 if request.enabled else 0)
        capability = request.capability.strip().lower()
        if capability:
            # capabilities is a JSON list of strings: look for the quoted name.
            quoted = json.dumps(capability).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where.append("d.capabilities LIKE ? ESCAPE '\\'")
            params.append(f"%{quoted}%")
        order = listing.order_sql(request.order_by, _COLUMNS, "d.name ASC", "d.definition_id ASC")
        rows, total, token = await crud.page(self.db, "agent_definitions d", where, params, order, request)
        return agent_pb2.ListAgentDefinitionsResponse(
            definitions=[model.definition_message(r) for r in rows], next_page_token=token, total_size=total
        )

    async def CreateAgentDefinition(
        self, request: agent_pb2.CreateAgentDefinitionRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.CreateAgentDefinitionResponse:
        name = request.name.strip()
        schema = struct_dict(request.parameter_schema)
        capabilities, capability_problems = _capabilities(list(request.capabilities))
        model.raise_if([
            model.text_violation("name", name, 64, required=True) or model.type_name_violation("name", name),
            model.text_violation("display_name", request.display_name.strip(), model.NAME_MAX),
            model.text_violation("description", request.description.strip(), model.DESCRIPTION_MAX),
            model.provider_violation("default_provider", request.default_provider.strip()),
            model.text_violation("default_model", request.default_model.strip(), model.MODEL_MAX),
            *_schema("parameter_schema", schema),
            *capability_problems,
        ])
        now = time.time()
        row = {
            "definition_id": new_id("def"), "name": name, "display_name": request.display_name.strip(),
            "description": request.description.strip(), "default_provider": request.default_provider.strip(),
            "default_model": request.default_model.strip(), "parameter_schema": json.dumps(schema),
            "capabilities": json.dumps(capabilities),
            "enabled": 1 if not request.HasField("enabled") or request.enabled else 0,
            "created_at": now, "updated_at": now,
        }
        async with self.db.transaction() as tx:
            if await tx.fetch_one("SELECT 1 FROM agent_definitions WHERE name = ?", (name,)):
                raise AlreadyExists(f"an agent definition named {name!r} exists", reason="AGENT_DEFINITION_EXISTS")
            await tx.execute(
                f"INSERT INTO agent_definitions ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
                list(row.values()),
            )
        return agent_pb2.CreateAgentDefinitionResponse(definition=model.definition_message(row))

    async def GetAgentDefinition(
        self, request: agent_pb2.GetAgentDefinitionRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.GetAgentDefinitionResponse:
        return agent_pb2.GetAgentDefinitionResponse(
            definition=model.definition_message(await self._visible(self.db, request.definition_id))
        )

    async def UpdateAgentDefinition(
        self, request: agent_pb2.UpdateAgentDefinitionRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.UpdateAgentDefinitionResponse:
        fields = crud.changed_fields(
            request, _UPDATABLE, immutable=("name", "definition_id"),
            present={"parameter_schema": lambda r: r.HasField("parameter_schema"),
                     "capabilities": lambda r: bool(r.capabilities)},
        )
        changes: dict[str, Any] = {}
        problems: list[FieldViolation | None] = []
        for name in fields:
            if name == "parameter_schema":
                schema = struct_dict(request.parameter_schema)
                problems.extend(_schema("parameter_schema", schema))
                changes[name] = json.dumps(schema)
            elif name == "capabilities":
                kept, found = _capabilities(list(request.capabilities))
                problems.extend(found)
                changes[name] = json.dumps(kept)
            elif name == "enabled":
                changes[name] = 1 if request.enabled else 0
            else:
                value = getattr(request, name).strip()
                changes[name] = value
                limit = _LIMITS.get(name, model.MODEL_MAX)
                problems.append(model.provider_violation(name, value) if name == "default_provider"
                                else model.text_violation(name, value, limit))
        model.raise_if(problems)
        async with self.db.transaction() as tx:
            row = await self._visible(tx, request.definition_id)
            if changes:
                changes["updated_at"] = time.time()
                await tx.execute(
                    f"UPDATE agent_definitions SET {', '.join(f'{k} = ?' for k in changes)} WHERE definition_id = ?",
                    [*changes.values(), row["definition_id"]],
                )
                row = {**row, **changes}
        return agent_pb2.UpdateAgentDefinitionResponse(definition=model.definition_message(row))

    async def DeleteAgentDefinition(
        self, request: agent_pb2.DeleteAgentDefinitionRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.DeleteAgentDefinitionResponse:
        async with self.db.transaction() as tx:
            row = await self._visible(tx, request.definition_id)
            used = await tx.fetch_one("SELECT COUNT(*) AS n FROM agents WHERE type = ?", (row["name"],))
            count = int(used["n"]) if used else 0
            if count:
                raise FailedPrecondition(
                    f"agent type {row['name']!r} is used by {count} agent(s); delete or recreate them first",
                    reason="AGENT_DEFINITION_IN_USE", metadata={"agents": str(count)},
                )
            await tx.execute("DELETE FROM agent_definitions WHERE definition_id = ?", (row["definition_id"],))
        return agent_pb2.DeleteAgentDefinitionResponse()
