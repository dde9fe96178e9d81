"""TeamService: groups of a tenant's agents that work on a task together (seed 000's teams).

A team's members are agents of its own tenant, kept in position order (0..n-1,
closed up again when one leaves or is deleted); the task runner works them by
the team's strategy: sequential (default), round_robin or first_answer. Team
changes are announced as team.* events to the tenant.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import grpc
from agentmesh.v1 import agent_pb2

from services.agent import model, store
from services.common.crud import changed_fields, page, required_id
from services.common.errors import AlreadyExists, FieldViolation, InvalidArgument, NotFound
from services.common.events.publisher import Publisher
from services.common.listing import filter_sql, order_sql
from services.common.protoutil import new_id
from services.common.storage import Database, Row, Transaction

_COLUMNS: Mapping[str, str] = {
    name: f"t.{name}"
    for name in ("team_id", "name", "description", "strategy", "owner_id", "created_at", "updated_at")
}
_UPDATABLE = ("name", "description", "strategy")
MEMBERS_MAX = 100


def _field_problems(values: Mapping[str, str]) -> list[FieldViolation | None]:
    checks = {
        "name": lambda v: model.text_violation("name", v, model.NAME_MAX, required=True),
        "description": lambda v: model.text_violation("description", v, model.DESCRIPTION_MAX),
        "strategy": lambda v: model.choice_violation("strategy", v, model.STRATEGIES),
    }
    return [checks[name](value) for name, value in values.items()]


class Teams:
    """agentmesh.v1.TeamService."""

    def __init__(self, db: Database, events: Publisher) -> None:
        self.db = db
        self.events = events

    async def _message(self, q: Transaction, row: Row) -> agent_pb2.Team:
        members = await store.members_of(q, [row["team_id"]])
        return model.team_message(row, members.get(row["team_id"], []))

    def _announce(self, kind: str, row: Row, **data: Any) -> None:
        self.events.emit(model.event(kind, row["tenant_id"], row["team_id"], team_id=row["team_id"],
                                     name=row["name"], **data))

    async def _member_agent(self, q: Transaction, team: Row, agent_id: str) -> Row:
        """An agent of the team's tenant; any other is NOT_FOUND."""
        return await store.agent_row(q, required_id("agent_id", agent_id), team["tenant_id"])

    async def ListTeams(
        self, request: agent_pb2.ListTeamsRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.ListTeamsResponse:
        caller = model.tenant_caller()
        where, params = filter_sql(request.filter, _COLUMNS)
        where.insert(0, "t.tenant_id = ?")
        params.insert(0, caller.tenant_id)
        if request.agent_id:
            where.append("EXISTS (SELECT 1 FROM team_members m WHERE m.team_id = t.team_id AND m.agent_id = ?)")
            params.append(request.agent_id)
        order = order_sql(request.order_by, _COLUMNS, "t.created_at ASC", "t.team_id ASC")
        rows, total, token = await page(self.db, "teams t", where, params, order, request)
        members = await store.members_of(self.db, [r["team_id"] for r in rows])
        return agent_pb2.ListTeamsResponse(
            teams=[model.team_message(r, members.get(r["team_id"], [])) for r in rows],
            next_page_token=token, total_size=total,
        )

    async def CreateTeam(
        self, request: agent_pb2.CreateTeamRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.CreateTeamResponse:
        caller = model.tenant_caller()
        values = {"name": request.name.strip(), "description": request.description.strip(),
                  "strategy": request.strategy.strip() or "sequential"}
        agent_ids = [a.strip() for a in request.agent_ids]
        problems = _field_problems(values)
        problems.extend(FieldViolation(f"agent_ids[{i}]", "is required") for i, a in enumerate(agent_ids) if not a)
        if len(set(agent_ids)) != len(agent_ids):
            problems.append(FieldViolation("agent_ids", "names an agent more than once"))
        if len(agent_ids) > MEMBERS_MAX:
            problems.append(FieldViolation("agent_ids", f"at most {MEMBERS_MAX} members"))
        model.raise_if(problems)
        now = time.time()
        row: Row = {"team_id": new_id("team"), "tenant_id": caller.tenant_id, "owner_id": caller.user_id,
                    **values, "created_at": now, "updated_at": now}
        async with self.db.transaction() as tx:
            await tx.execute(f"INSERT INTO teams ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
                             list(row.values()))
            for agent_id in agent_ids:
                await self._member_agent(tx, row, agent_id)
                await store.add_member(tx, row["team_id"], agent_id, "member", now)
            created = await self._message(tx, row)
        self._announce("team.created", row, strategy=row["strategy"], agent_ids=agent_ids)
        return agent_pb2.CreateTeamResponse(team=created)

    async def GetTeam(
        self, request: agent_pb2.GetTeamRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.GetTeamResponse:
        caller = model.tenant_caller()
        row = await store.team_row(self.db, required_id("team_id", request.team_id), store.scope(caller))
        return agent_pb2.GetTeamResponse(team=await self._message(self.db, row))

    async def UpdateTeam(
        self, request: agent_pb2.UpdateTeamRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.UpdateTeamResponse:
        caller = model.tenant_caller()
        team_id = required_id("team_id", request.team_id)
        fields = changed_fields(request, _UPDATABLE)
        values = {name: getattr(request, name).strip() for name in fields}
        model.raise_if(_field_problems(values))
        async with self.db.transaction() as tx:
            row = await store.team_row(tx, team_id, store.scope(caller))
            if values:
                changes = {**values, "updated_at": time.time()}
                await tx.execute(f"UPDATE teams SET {', '.join(f'{k} = ?' for k in changes)} WHERE team_id = ?",
                                 [*changes.values(), team_id])
                row = {**row, **changes}
            updated = await self._message(tx, row)
        if values:
            self._announce("team.updated", row, fields=list(values))
        return agent_pb2.UpdateTeamResponse(team=updated)

    async def DeleteTeam(
        self, request: agent_pb2.DeleteTeamRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.DeleteTeamResponse:
        caller = model.tenant_caller()
        team_id = required_id("team_id", request.team_id)
        async with self.db.transaction() as tx:
            row = await store.team_row(tx, team_id, store.scope(caller))
            await tx.execute("DELETE FROM team_members WHERE team_id = ?", (team_id,))
            await tx.execute("DELETE FROM teams WHERE team_id = ?", (team_id,))
        self._announce("team.deleted", row)
        return agent_pb2.DeleteTeamResponse()

    async def AddTeamMember(
        self, request: agent_pb2.AddTeamMemberRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.AddTeamMemberResponse:
        caller = model.tenant_caller()
        team_id, agent_id = required_id("team_id", request.team_id), required_id("agent_id", request.agent_id)
        role = request.role.strip() or "member"
        model.raise_if([model.choice_violation("role", role, model.MEMBER_ROLES)])
        async with self.db.transaction() as tx:
            team = await store.team_row(tx, team_id, store.scope(caller))
            await self._member_agent(tx, team, agent_id)
            if await store.member_row(tx, team_id, agent_id) is not None:
                raise AlreadyExists(f"agent {agent_id} is already a member of team {team_id}",
                                    reason="TEAM_MEMBER_EXISTS")
            count = await tx.fetch_one("SELECT COUNT(*) AS n FROM team_members WHERE team_id = ?", (team_id,))
            if count is not None and int(count["n"]) >= MEMBERS_MAX:
                raise InvalidArgument.field("team_id", f"a team has at most {MEMBERS_MAX} members")
            member = await store.add_member(tx, team_id, agent_id, role, time.time())
        self._announce("team.member_added", team, agent_id=agent_id, role=role, position=member["position"])
        return agent_pb2.AddTeamMemberResponse(member=model.member_message(member))

    async def RemoveTeamMember(
        self, request: agent_pb2.RemoveTeamMemberRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.RemoveTeamMemberResponse:
        caller = model.tenant_caller()
        team_id, agent_id = required_id("team_id", request.team_id), required_id("agent_id", request.agent_id)
        async with self.db.transaction() as tx:
            team = await store.team_row(tx, team_id, store.scope(caller))
            if not await store.remove_member(tx, team_id, agent_id, time.time()):
                raise NotFound(f"agent {agent_id} is not a member of team {team_id}", reason="TEAM_MEMBER_NOT_FOUND")
        self._announce("team.member_removed", team, agent_id=agent_id)
        return agent_pb2.RemoveTeamMemberResponse()

