"""AgentService: a tenant's agents (seeds 000 and 001), their lifecycle, test calls and the task runner's view.

An agent belongs to the tenant it was created in: the caller's current tenant,
or CreateAgentRequest.organization_id when it names that same tenant (platform
admins may name any). Every other id is NOT_FOUND. The agent's type is an
enabled AgentDefinition; its parameters must satisfy the type's schema (with
the schema's defaults filled in), and its provider and model default to the
type's. An empty provider means the platform's default provider. A provider
key is sealed at rest and never returned (has_api_key tells whether one is
stored). Lifecycle: services.agent.lifecycle; TestAgent and ResolveWorkers:
services.agent.runtime.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import grpc
from agentmesh.v1 import agent_pb2

from services.agent import model, store
from services.agent.lifecycle import Lifecycle
from services.agent.paramschema import parameter_violations, with_defaults
from services.agent.runtime import Runtime
from services.common import authctx
from services.common.authctx import Caller
from services.common.crud import changed_fields, page, required_id
from services.common.crypto import SecretBox
from services.common.errors import FieldViolation, InvalidArgument, NotFound, PermissionDenied
from services.common.events.publisher import Publisher
from services.common.listing import filter_sql, order_sql
from services.common.protoutil import new_id, struct_dict
from services.common.storage import Database, Row, Transaction
from services.common.tokens import TokenVerifier

_COLUMNS: Mapping[str, str] = {
    name: f"a.{name}"
    for name in ("agent_id", "name", "description", "type", "provider", "model", "status", "owner_id",
                 "created_at", "updated_at", "started_at")
}
_ADMIN_COLUMNS: Mapping[str, str] = {**_COLUMNS, "tenant_id": "a.tenant_id"}
_UPDATABLE = ("name", "description", "provider", "model", "system_prompt", "parameters", "tools", "api_key")
_TEXT_LIMITS = {"name": model.NAME_MAX, "description": model.DESCRIPTION_MAX, "model": model.MODEL_MAX,
                "system_prompt": model.PROMPT_MAX, "api_key": model.API_KEY_MAX}


def _target_tenant(caller: Caller, organization_id: str) -> str:
    wanted = organization_id.strip()
    if not wanted or wanted == caller.tenant_id:
        return caller.tenant_id
    if caller.is_admin:
        return wanted
    raise NotFound(f"organization {wanted} not found", reason="ORGANIZATION_NOT_FOUND")


async def _definition(q: Transaction, type_name: str) -> tuple[Row | None, FieldViolation | None]:
    row = await store.definition_by_name(q, type_name)
    if row is None:
        return None, FieldViolation("type", f"unknown agent type {type_name!r}; list them at /api/v1/agent-definitions")
    if not row["enabled"]:
        return None, FieldViolation("type", f"agent type {type_name!r} is disabled")
    return row, None


def _checked_parameters(definition: Row | None, parameters: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
    """The parameters with the type's defaults, and their violations of the type's schema."""
    problems: list[Any] = [model.parameters_size_violation("parameters", parameters)]
    if definition is None:
        return parameters, problems
    schema = json.loads(definition["parameter_schema"])
    filled = with_defaults(schema, parameters)
    return filled, [*problems, *parameter_violations(schema, filled)]


class Agents:
    """agentmesh.v1.AgentService."""

    def __init__(self, db: Database, box: SecretBox, events: Publisher, lifecycle: Lifecycle, runtime: Runtime,
                 verifier: TokenVerifier) -> None:
        self.db = db
        self.box = box
        self.events = events
        self.lifecycle = lifecycle
        self.runtime = runtime
        self.verifier = verifier

    async def _message(self, q: Transaction, row: Row) -> agent_pb2.Agent:
        teams = await store.team_ids_of(q, [row["agent_id"]])
        return model.agent_message(row, teams.get(row["agent_id"], []))

    async def _messages(self, rows: Sequence[Row]) -> list[agent_pb2.Agent]:
        teams = await store.team_ids_of(self.db, [r["agent_id"] for r in rows])
        return [model.agent_message(r, teams.get(r["agent_id"], [])) for r in rows]

    def _announce(self, kind: str, row: Row, **data: Any) -> None:
        self.events.emit(model.event(kind, row["tenant_id"], row["agent_id"], agent_id=row["agent_id"],
                                     name=row["name"], **data))

    async def _list(self, request: Any, where: list[str], params: list[Any], columns: Mapping[str, str]) -> Any:
        if request.status:
            model.raise_if([model.choice_violation("status", request.status, model.STATUSES)])
            where.append("a.status = ?")
            params.append(request.status)
        for name in ("type", "provider"):
            if getattr(request, name):
                where.append(f"a.{name} = ?")
                params.append(getattr(request, name))
        clauses, values = filter_sql(request.filter, columns)
        order = order_sql(request.order_by, columns, "a.created_at ASC", "a.agent_id ASC")
        return await page(self.db, "agents a", [*where, *clauses], [*params, *values], order, request)

    async def ListAgents(
        self, request: agent_pb2.ListAgentsRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.ListAgentsResponse:
        caller = model.tenant_caller()
        where, params = ["a.tenant_id = ?"], [caller.tenant_id]
        if request.team_id:
            where.append("EXISTS (SELECT 1 FROM team_members m WHERE m.agent_id = a.agent_id AND m.team_id = ?)")
            params.append(request.team_id)
        rows, total, token = await self._list(request, where, params, _COLUMNS)
        return agent_pb2.ListAgentsResponse(agents=await self._messages(rows), next_page_token=token, total_size=total)

    async def AdminListAgents(
        self, request: agent_pb2.AdminListAgentsRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.AdminListAgentsResponse:
        where: list[str] = []
        params: list[Any] = []
        for name in ("tenant_id", "owner_id"):
            if getattr(request, name):
                where.append(f"a.{name} = ?")
                params.append(getattr(request, name))
        rows, total, token = await self._list(request, where, params, _ADMIN_COLUMNS)
        return agent_pb2.AdminListAgentsResponse(
            agents=await self._messages(rows), next_page_token=token, total_size=total
        )

    async def CreateAgent(
        self, request: agent_pb2.CreateAgentRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.CreateAgentResponse:
        caller = model.tenant_caller()
        tenant_id = _target_tenant(caller, request.organization_id)
        name, type_name = request.name.strip(), request.type.strip() or model.DEFAULT_TYPE
        tools, tool_problems = model.tool_list("tools", request.tools)
        problems: list[FieldViolation | None] = [
            model.text_violation("name", name, model.NAME_MAX, required=True),
            model.text_violation("description", request.description.strip(), model.DESCRIPTION_MAX),
            model.provider_violation("provider", request.provider.strip()),
            model.text_violation("model", request.model.strip(), model.MODEL_MAX),
            model.text_violation("system_prompt", request.system_prompt, model.PROMPT_MAX),
            model.text_violation("api_key", request.api_key.strip(), model.API_KEY_MAX),
            *tool_problems,
        ]
        agent_id, now = new_id("agt"), time.time()
        async with self.db.transaction() as tx:
            definition, type_problem = await _definition(tx, type_name)
            parameters, parameter_problems = _checked_parameters(definition, struct_dict(request.parameters))
            model.raise_if([*problems, type_problem, *parameter_problems])
            assert definition is not None
            team = await store.team_row(tx, request.team_id.strip(), tenant_id) if request.team_id.strip() else None
            row: Row = {
                "agent_id": agent_id, "tenant_id": tenant_id, "owner_id": caller.user_id, "name": name,
                "description": request.description.strip(), "type": type_name,
                "provider": request.provider.strip() or definition["default_provider"],
                "model": request.model.strip() or definition["default_model"],
                "system_prompt": request.system_prompt, "parameters": json.dumps(parameters),
                "tools": json.dumps(tools),
                "api_key_sealed": self.box.seal(request.api_key.strip(), agent_id) if request.api_key.strip() else None,
                "status": "created", "status_message": "", "created_at": now, "updated_at": now, "started_at": None,
            }
            await tx.execute(f"INSERT INTO agents ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
                             list(row.values()))
            if team is not None:
                await store.add_member(tx, team["team_id"], agent_id, "member", now)
            created = await self._message(tx, row)
        self._announce("agent.created", row, type=type_name, status="created")
        return agent_pb2.CreateAgentResponse(agent=created)

    async def GetAgent(
        self, request: agent_pb2.GetAgentRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.GetAgentResponse:
        caller = model.tenant_caller()
        row = await store.agent_row(self.db, required_id("agent_id", request.agent_id), store.scope(caller))
        return agent_pb2.GetAgentResponse(agent=await self._message(self.db, row))

    async def UpdateAgent(
        self, request: agent_pb2.UpdateAgentRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.UpdateAgentResponse:
        caller = model.tenant_caller()
        agent_id = required_id("agent_id", request.agent_id)
        fields = changed_fields(request, _UPDATABLE, immutable=("type",), present={
            "parameters": lambda r: r.HasField("parameters"), "tools": lambda r: bool(r.tools)})
        async with self.db.transaction() as tx:
            row = await store.agent_row(tx, agent_id, store.scope(caller))
            changes = await self._changes(tx, request, fields, row)
            if changes:
                changes["updated_at"] = time.time()
                await tx.execute(f"UPDATE agents SET {', '.join(f'{k} = ?' for k in changes)} WHERE agent_id = ?",
                                 [*changes.values(), agent_id])
                row = {**row, **changes}
            updated = await self._message(tx, row)
        if changes:
            self._announce("agent.updated", row, fields=fields)
        return agent_pb2.UpdateAgentResponse(agent=updated)

    async def _changes(self, tx: Transaction, request: agent_pb2.UpdateAgentRequest, fields: list[str],
                       row: Row) -> dict[str, Any]:
        """Column values for the fields an update names; every problem with them at once."""
        changes: dict[str, Any] = {}
        problems: list[FieldViolation | None] = []
        definition = await store.definition_by_name(tx, row["type"])
        for name in fields:
            if name == "parameters":
                parameters, found = _checked_parameters(definition, struct_dict(request.parameters))
                problems.extend(found)
                changes["parameters"] = json.dumps(parameters)
            elif name == "tools":
                tools, found = model.tool_list("tools", request.tools)
                problems.extend(found)
                changes["tools"] = json.dumps(tools)
            elif name == "api_key":
                key = request.api_key.strip()
                problems.append(model.text_violation("api_key", key, model.API_KEY_MAX))
                changes["api_key_sealed"] = self.box.seal(key, row["agent_id"]) if key else None
            else:
                value = getattr(request, name) if name == "system_prompt" else getattr(request, name).strip()
                if name == "provider":
                    problems.append(model.provider_violation("provider", value))
                else:
                    problems.append(model.text_violation(name, value, _TEXT_LIMITS[name], required=name == "name"))
                if name in ("provider", "model") and not value and definition is not None:
                    value = definition[f"default_{name}"]
                changes[name] = value
        model.raise_if(problems)
        return changes

    async def DeleteAgent(
        self, request: agent_pb2.DeleteAgentRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.DeleteAgentResponse:
        caller = model.tenant_caller()
        agent_id = required_id("agent_id", request.agent_id)
        row = await store.agent_row(self.db, agent_id, store.scope(caller))
        if row["status"] in ("starting", "running"):
            row = await self.lifecycle.stop(agent_id, row["tenant_id"])
        async with self.db.transaction() as tx:
            await store.agent_row(tx, agent_id, row["tenant_id"])
            teams = await store.leave_all_teams(tx, agent_id, time.time())
            await tx.execute("DELETE FROM agents WHERE agent_id = ?", (agent_id,))
        self._announce("agent.deleted", row, team_ids=teams)
        return agent_pb2.DeleteAgentResponse()

    async def StartAgent(
        self, request: agent_pb2.StartAgentRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.StartAgentResponse:
        caller = model.tenant_caller()
        row = await self.lifecycle.start(required_id("agent_id", request.agent_id), store.scope(caller))
        return agent_pb2.StartAgentResponse(agent=await self._message(self.db, row))

    async def StopAgent(
        self, request: agent_pb2.StopAgentRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.StopAgentResponse:
        caller = model.tenant_caller()
        row = await self.lifecycle.stop(required_id("agent_id", request.agent_id), store.scope(caller))
        return agent_pb2.StopAgentResponse(agent=await self._message(self.db, row))

    async def TestAgent(
        self, request: agent_pb2.TestAgentRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.TestAgentResponse:
        caller = model.tenant_caller()
        row = await store.agent_row(self.db, required_id("agent_id", request.agent_id), store.scope(caller))
        return await self.runtime.test(request, caller, row, context.time_remaining())

    async def ResolveWorkers(
        self, request: agent_pb2.ResolveWorkersRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.ResolveWorkersResponse:
        return await self.runtime.resolve(request, self._served_tenant(context))

    def _served_tenant(self, context: grpc.aio.ServicerContext) -> str:
        """The tenant of the user a unit acts for (its service token vouches for x-user-id / x-client-id)."""
        caller = authctx.current()
        if not caller.via_service:
            raise PermissionDenied(
                "ResolveWorkers is for the platform's units acting for a user (x-user-id, x-client-id)",
                reason="SERVICE_REQUIRED",
            )
        if not caller.tenant_id:
            raise InvalidArgument.field("x-client-id", "name the tenant the unit acts for")
        return caller.tenant_id
