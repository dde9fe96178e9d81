"""Workflow definitions as both the tenant's and the platform admins' services manage them.

The two services differ only in scope (the caller's tenant, or any tenant);
validation, storage and deletion are the same and live here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import grpc
from google.protobuf import struct_pb2

from services.common.authctx import Actor
from services.common.crud import required_id
from services.common.errors import FieldViolation, InvalidArgument, NotFound
from services.common.feeds import Feeds
from services.common.listing import order_sql
from services.common.llm import RemoteCallError
from services.common.protoutil import struct_dict
from services.common.storage import Database, Row
from services.task import model
from services.task.dag import MAX_NAME, Step, step_violations, steps_json
from services.task.engine import WorkflowEngine
from services.task.inputschema import schema_violations
from services.task.model import raise_if
from services.task.query import Where, apply_filter, page
from services.task.runs import RUN_COLUMNS, RUN_SELECT, insert_workflow, run_message, step_rows, update_workflow
from services.task.runs import workflow_row as find_workflow
from services.task.store import shielded
from services.task.workers import WorkerDirectory

log = logging.getLogger("agentmesh.task.workflows")

MAX_DESCRIPTION = 2000
UPDATABLE = ("name", "description", "steps", "input_schema", "enabled")
AGENT_CHECK_TIMEOUT = 5.0


def workflow_not_found(workflow_id: str) -> NotFound:
    return NotFound(f"workflow {workflow_id} not found", reason="WORKFLOW_NOT_FOUND")


def definition_violations(*, name: str | None, description: str | None, steps: Sequence[Step] | None,
                          input_schema: struct_pb2.Struct | None) -> list[FieldViolation | None]:
    """The problems with the definition fields given (None: not given)."""
    found: list[FieldViolation | None] = []
    if name is not None:
        found.append(FieldViolation("name", "is required") if not name else
                     FieldViolation("name", f"at most {MAX_NAME} characters") if len(name) > MAX_NAME else None)
    if description is not None and len(description) > MAX_DESCRIPTION:
        found.append(FieldViolation("description", f"at most {MAX_DESCRIPTION} characters"))
    if steps is not None:
        found += step_violations("steps", steps)
    if input_schema is not None:
        found.append(model.json_violation("input_schema", input_schema))
        found += schema_violations("input_schema", struct_dict(input_schema))
    return found


class WorkflowCatalog:
    def __init__(self, db: Database, engine: WorkflowEngine, directory: WorkerDirectory, feeds: Feeds) -> None:
        self.db = db
        self.engine = engine
        self.directory = directory
        self.feeds = feeds

    async def get(self, workflow_id: str, tenant_id: str | None) -> Row:
        row = await find_workflow(self.db, required_id("workflow_id", workflow_id), tenant_id)
        if row is None:
            raise workflow_not_found(workflow_id.strip())
        return row

    async def check_agents(self, actor: Actor, steps: Sequence[Step]) -> None:
        """Steps must name agents of the workflow's tenant; agents that are only stopped are fine."""
        first: dict[str, int] = {}
        for i, step in enumerate(steps):
            first.setdefault(step.agent_id, i)
        if not first:
            return

        async def check(agent_id: str) -> RemoteCallError | None:
            try:
                await self.directory.resolve(actor, agent_id=agent_id, time_limit=AGENT_CHECK_TIMEOUT)
            except RemoteCallError as exc:
                return exc
            return None

        results = await asyncio.gather(*(check(a) for a in first))
        violations = []
        for (agent_id, i), exc in zip(first.items(), results, strict=True):
            if exc is not None and exc.code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                violations.append(FieldViolation(f"steps[{i}].agent_id", f"agent {agent_id}: {exc.details}"))
        raise_if(violations)

    @shielded
    async def create(self, *, tenant_id: str, actor: Actor, name: str, description: str,
                     steps: Sequence[Step], input_schema: struct_pb2.Struct, enabled: bool) -> Row:
        raise_if(definition_violations(name=name, description=description, steps=steps, input_schema=input_schema))
        await self.check_agents(actor, steps)
        async with self.db.transaction() as tx:
            row = await insert_workflow(tx, tenant_id=tenant_id, owner_id=actor.user_id, name=name,
                                        description=description, steps=steps,
                                        input_schema=model.json_text(input_schema), enabled=enabled)
        log.info("workflow created", extra={"workflow": row["workflow_id"], "tenant": tenant_id, "by": actor.user_id})
        return row

    @shielded
    async def update(self, workflow: Row, actor: Actor, request: Any) -> Row:
        """Change the fields the update mask names, or, without a mask, the fields the request carries."""
        paths = list(dict.fromkeys(request.update_mask.paths))
        unknown = sorted(set(paths) - set(UPDATABLE))
        if unknown:
            raise InvalidArgument.field("update_mask", f"cannot change {', '.join(unknown)}; updatable fields: "
                                                       f"{', '.join(UPDATABLE)}")
        if not paths:
            paths = [f for f in ("name", "description", "enabled", "input_schema") if request.HasField(f)]
            if len(request.steps):
                paths.append("steps")
        name = request.name.strip() if "name" in paths else None
        description = request.description.strip() if "description" in paths else None
        steps = [Step.of(s) for s in request.steps] if "steps" in paths else None
        schema = request.input_schema if "input_schema" in paths else None
        raise_if(definition_violations(name=name, description=description, steps=steps, input_schema=schema))
        if steps:
            await self.check_agents(Actor(actor.user_id, workflow["tenant_id"], actor.role, actor.tier, actor.email,
                                          actor.permissions), steps)
        changes: dict[str, Any] = {}
        if name is not None:
            changes["name"] = name
        if description is not None:
            changes["description"] = description
        if steps is not None:
            changes["steps"] = steps_json(steps)
        if schema is not None:
            changes["input_schema"] = model.json_text(schema)
        if "enabled" in paths:
            changes["enabled"] = int(request.enabled)
        async with self.db.transaction() as tx:
            current = await find_workflow(tx, workflow["workflow_id"])
            if current is None:
                raise workflow_not_found(workflow["workflow_id"])
            await update_workflow(tx, workflow["workflow_id"], changes)
            row = await find_workflow(tx, workflow["workflow_id"])
        assert row is not None
        if changes:
            log.info("workflow changed", extra={"workflow": row["workflow_id"], "by": actor.user_id,
                                                "fields": sorted(changes)})
        return row

    @shielded
    async def delete(self, workflow: Row, actor: Actor) -> None:
        """Delete the workflow (its runs stay readable to no one) and cancel its open runs."""
        async with self.db.transaction() as tx:
            changed = await tx.execute("UPDATE workflows SET deleted_at = ?, updated_at = ? WHERE workflow_id = ?"
                                       " AND deleted_at IS NULL",
                                       (time.time(), time.time(), workflow["workflow_id"]))
            if changed != 1:
                raise workflow_not_found(workflow["workflow_id"])
            await tx.execute("DELETE FROM workflow_agents WHERE workflow_id = ?", (workflow["workflow_id"],))
            open_runs = await tx.fetch_all("SELECT run_id FROM workflow_runs WHERE workflow_id = ? AND status IN"
                                           " ('pending', 'running')", (workflow["workflow_id"],))
        for run in open_runs:
            await self.engine.cancel(run["run_id"], "the workflow was deleted")
        self.feeds.end(f"workflow:{workflow['workflow_id']}")
        log.info("workflow deleted", extra={"workflow": workflow["workflow_id"], "by": actor.user_id,
                                            "cancelled_runs": len(open_runs)})

    async def find(self, where: Where, request: Any, columns: Mapping[str, str], *, enabled: bool | None,
                   agent_id: str = "") -> tuple[list[Row], int, str]:
        where.add("deleted_at IS NULL")
        if enabled is not None:
            where.add("enabled = ?", int(enabled))
        if agent_id:
            where.add("EXISTS (SELECT 1 FROM workflow_agents a WHERE a.workflow_id = workflows.workflow_id"
                      " AND a.agent_id = ?)", agent_id)
        apply_filter(where, request.filter, columns)
        order = order_sql(request.order_by, columns, "created_at DESC", "workflow_id ASC")
        return await page(self.db, "SELECT *", "workflows", where, order, request)

    async def runs(self, workflow: Row, request: Any) -> tuple[list[Any], int, str]:
        """One page of a workflow's runs, newest first, as messages."""
        status = request.status.strip()
        raise_if([model.check_choice("status", status, model.RUN_STATUSES) if status else None])
        where = Where()
        where.add("r.workflow_id = ?", workflow["workflow_id"])
        if status:
            where.add("r.status = ?", status)
        columns = {name: f"r.{column}" for name, column in RUN_COLUMNS.items()}
        apply_filter(where, request.filter, columns)
        order = order_sql(request.order_by, columns, "r.created_at DESC", "r.run_id ASC")
        rows, total, token = await page(self.db, RUN_SELECT.removesuffix(" FROM workflow_runs r"),
                                        "workflow_runs r", where, order, request)
        return [run_message(r, await step_rows(self.db, r["run_id"])) for r in rows], total, token
