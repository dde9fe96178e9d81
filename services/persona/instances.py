"""PersonaInstanceService: a user's persona instances and their executions (seed 002's /api/v1/personas/instances).

An instance belongs to its owner in the tenant it was made in; admins see
every instance of their tenant; anyone else gets NOT_FOUND. It is made from a
template the caller may see, and keeps a copy of that template version
(`base`): its effective config is the copy's config with the instance's
overrides laid over it. When the template names `overridable_keys`, only those
may be overridden. One execution runs at a time (a second is
FAILED_PRECONDITION while one is queued or running); executions run in
services.persona.executor. WatchInstance streams the instance's stored events,
resumable after any event id, and ends when the instance is deleted.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import grpc
from agentmesh.v1 import persona_pb2

from services.common.authctx import Actor
from services.common.crud import changed_fields, page, required_id
from services.common.errors import FailedPrecondition, FieldViolation, InvalidArgument
from services.common.feeds import Feeds, follow
from services.common.listing import filter_sql, order_sql
from services.common.protoutil import new_id, struct_dict
from services.common.storage import Database, Row
from services.persona import model, store
from services.persona.executor import Executor

_COLUMNS: Mapping[str, str] = {
    name: f"i.{name}"
    for name in ("instance_id", "template_id", "name", "description", "status", "owner_id", "execution_count",
                 "created_at", "updated_at", "last_executed_at")
}
_UPDATABLE = ("name", "description", "overrides")
_FINAL_EVENTS = ("instance.deleted",)


def _override_problems(base: Mapping[str, Any], overrides: Mapping[str, Any],
                       field: str = "overrides") -> list[FieldViolation]:
    """What is wrong with settings laid over the template's config (an instance's, or one execution's)."""
    allowed = base.get("overridable_keys") or []
    problems = [FieldViolation(f"{field}.{key}", f"cannot be overridden; the template allows {', '.join(allowed)}")
                for key in overrides if allowed and key not in allowed]
    effective = model.merged(base["config"], overrides)
    checked = model.check_config({k: effective[k] for k in overrides}, field)
    return [*problems, *model.violations(checked)]


def _text_problems(values: Mapping[str, str]) -> list[FieldViolation | None]:
    return [
        FieldViolation("name", "is required") if "name" in values and not values["name"] else None,
        FieldViolation("name", f"at most {model.NAME_MAX} characters")
        if len(values.get("name", "")) > model.NAME_MAX else None,
        FieldViolation("description", f"at most {model.DESCRIPTION_MAX} characters")
        if len(values.get("description", "")) > model.DESCRIPTION_MAX else None,
    ]


class Instances:
    """agentmesh.v1.PersonaInstanceService."""

    def __init__(self, db: Database, feeds: Feeds, executor: Executor) -> None:
        self.db = db
        self.feeds = feeds
        self.executor = executor

    async def ListInstances(
        self, request: persona_pb2.ListInstancesRequest, context: grpc.aio.ServicerContext
    ) -> persona_pb2.ListInstancesResponse:
        caller = model.tenant_caller()
        where, params = store.instance_scope(caller)
        if request.status:
            model.raise_if([None if request.status in model.INSTANCE_STATUSES else
                            FieldViolation("status", f"must be one of {', '.join(model.INSTANCE_STATUSES)}")])
            where.append("i.status = ?")
            params.append(request.status)
        if request.template_id.strip():
            where.append("i.template_id = ?")
            params.append(request.template_id.strip())
        clauses, values = filter_sql(request.filter, _COLUMNS)
        order = order_sql(request.order_by, _COLUMNS, "i.created_at DESC", "i.instance_id DESC")
        rows, total, token = await page(self.db, "instances i", [*where, *clauses], [*params, *values], order, request)
        return persona_pb2.ListInstancesResponse(
            instances=[model.instance_message(r) for r in rows], next_page_token=token, total_size=total
        )

    async def CreateInstance(
        self, request: persona_pb2.CreateInstanceRequest, context: grpc.aio.ServicerContext
    ) -> persona_pb2.CreateInstanceResponse:
        caller = model.tenant_caller()
        template_id = required_id("template_id", request.template_id)
        overrides = struct_dict(request.overrides)
        journal = self.executor.journal()
        async with self.db.transaction() as tx:
            template = await store.template_row(tx, template_id, caller)
            base = {
                "system_prompt": template["system_prompt"], "provider": template["provider"],
                "model": template["model"], "config": json.loads(template["config"]),
                "overridable_keys": json.loads(template["overridable_keys"]),
            }
            texts = {"name": request.name.strip() or template["name"], "description": request.description.strip()}
            model.raise_if([*_text_problems(texts), *_override_problems(base, overrides)])
            now = time.time()
            row: Row = {
                "instance_id": new_id("inst"), "tenant_id": caller.tenant_id, "owner_id": caller.user_id,
                "template_id": template_id, "template_version": template["version"], **texts,
                "base": json.dumps(base), "overrides": json.dumps(overrides), "status": "idle",
                "current_execution_id": "", "execution_count": 0, "last_executed_at": None,
                "created_at": now, "updated_at": now,
            }
            await tx.execute(f"INSERT INTO instances ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
                             list(row.values()))
            await journal.event(tx, row, "instance.created", template_id=template_id, name=row["name"],
                                status="idle")
            await journal.log(tx, row["instance_id"], "info", "instance created", template_id=template_id,
                              template_version=template["version"])
        journal.announce()
        return persona_pb2.CreateInstanceResponse(instance=model.instance_message(row))

    async def GetInstance(
        self, request: persona_pb2.GetInstanceRequest, context: grpc.aio.ServicerContext
    ) -> persona_pb2.GetInstanceResponse:
        caller = model.tenant_caller()
        row = await store.instance_row(self.db, required_id("instance_id", request.instance_id), caller)
        return persona_pb2.GetInstanceResponse(instance=model.instance_message(row))

    async def UpdateInstance(
        self, request: persona_pb2.UpdateInstanceRequest, context: grpc.aio.ServicerContext
    ) -> persona_pb2.UpdateInstanceResponse:
        caller = model.tenant_caller()
        instance_id = required_id("instance_id", request.instance_id)
        fields = changed_fields(request, _UPDATABLE, present={"overrides": lambda r: r.HasField("overrides")})
        changes: dict[str, Any] = {name: getattr(request, name).strip() for name in fields if name != "overrides"}
        journal = self.executor.journal()
        async with self.db.transaction() as tx:
            row = await store.instance_row(tx, instance_id, caller)
            problems: list[FieldViolation | None] = list(_text_problems(changes))
            if "overrides" in fields:
                overrides = struct_dict(request.overrides)
                problems.extend(_override_problems(json.loads(row["base"]), overrides))
                changes["overrides"] = json.dumps(overrides)
            model.raise_if(problems)
            if changes:
                changes["updated_at"] = time.time()
                await tx.execute(f"UPDATE instances SET {', '.join(f'{k} = ?' for k in changes)} WHERE instance_id = ?",
                                 [*changes.values(), instance_id])
                row = {**row, **changes}
                await journal.event(tx, row, "instance.updated", fields=fields)
        journal.announce()
        return persona_pb2.UpdateInstanceResponse(instance=model.instance_message(row))

    async def DeleteInstance(
        self, request: persona_pb2.DeleteInstanceRequest, context: grpc.aio.ServicerContext
    ) -> persona_pb2.DeleteInstanceResponse:
        caller = model.tenant_caller()
        instance_id = required_id("instance_id", request.instance_id)
        row = await store.instance_row(self.db, instance_id, caller)
        if row["current_execution_id"]:
            await self._stop_execution(row["current_execution_id"], "the instance was deleted")
        journal = self.executor.journal()
        async with self.db.transaction() as tx:
            row = await store.instance_row(tx, instance_id, caller)
            # written first for its id; the delete takes it along with the instance's other events
            await journal.event(tx, row, "instance.deleted", name=row["name"])
            await tx.execute("DELETE FROM instances WHERE instance_id = ?", (instance_id,))
        journal.announce()
        self.feeds.end(store.feed_key(instance_id))
        return persona_pb2.DeleteInstanceResponse()

    async def ExecuteInstance(
        self, request: persona_pb2.ExecuteInstanceRequest, context: grpc.aio.ServicerContext
    ) -> persona_pb2.ExecuteInstanceResponse:
        caller = model.tenant_caller()
        instance_id = required_id("instance_id", request.instance_id)
        variables, parameters = struct_dict(request.variables), struct_dict(request.parameters)
        text = request.input
        problems = [
            FieldViolation("input", "is required") if not text.strip() else None,
            FieldViolation("input", f"at most {model.INPUT_MAX} characters") if len(text) > model.INPUT_MAX else None,
            model.variables_violation("variables", variables),
        ]
        model.raise_if(problems)
        journal = self.executor.journal()
        async with self.db.transaction() as tx:
            instance = await store.instance_row(tx, instance_id, caller)
            model.raise_if(_override_problems(json.loads(instance["base"]), parameters, "parameters"))
            if instance["current_execution_id"]:
                raise FailedPrecondition(
                    f"persona instance {instance_id} is already running execution {instance['current_execution_id']};"
                    " stop it or wait for it to finish",
                    reason="INSTANCE_BUSY", metadata={"execution_id": instance["current_execution_id"]},
                )
            now = time.time()
            base = json.loads(instance["base"])
            execution: Row = {
                "execution_id": new_id("exec"), "instance_id": instance_id, "tenant_id": instance["tenant_id"],
                "actor": Actor.of(caller).to_json(), "status": "queued", "input": text,
                "variables": json.dumps(variables), "parameters": json.dumps(parameters), "output": "", "error": "",
                "progress": 0, "prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0,
                "provider": base["provider"], "model": base["model"], "attempts": 0, "created_at": now,
                "started_at": None, "finished_at": None,
            }
            await tx.execute(f"INSERT INTO executions ({', '.join(execution)}) VALUES"
                             f" ({', '.join('?' for _ in execution)})", list(execution.values()))
            await journal.status(tx, instance, "running", "Execution queued", execution["execution_id"])
            await tx.execute(
                "UPDATE instances SET status = 'running', current_execution_id = ?, execution_count = execution_count"
                " + 1, last_executed_at = ?, updated_at = ? WHERE instance_id = ?",
                (execution["execution_id"], now, now, instance_id),
            )
            await journal.log(tx, instance_id, "info", "execution queued", execution["execution_id"],
                              input_chars=len(text))
        journal.announce()
        self.executor.start(execution["execution_id"])
        return persona_pb2.ExecuteInstanceResponse(execution=model.execution_message(execution))

    async def GetExecutionHistory(
        self, request: persona_pb2.GetExecutionHistoryRequest, context: grpc.aio.ServicerContext
    ) -> persona_pb2.GetExecutionHistoryResponse:
        caller = model.tenant_caller()
        instance = await store.instance_row(self.db, required_id("instance_id", request.instance_id), caller)
        where, params = ["e.instance_id = ?"], [instance["instance_id"]]
        if request.status:
            model.raise_if([None if request.status in model.EXECUTION_STATUSES else
                            FieldViolation("status", f"must be one of {', '.join(model.EXECUTION_STATUSES)}")])
            where.append("e.status = ?")
            params.append(request.status)
        rows, total, token = await page(self.db, "executions e", where, params,
                                        "e.created_at DESC, e.execution_id DESC", request)
        return persona_pb2.GetExecutionHistoryResponse(
            executions=[model.execution_message(r) for r in rows], next_page_token=token, total_size=total
        )

    async def StopInstance(
        self, request: persona_pb2.StopInstanceRequest, context: grpc.aio.ServicerContext
    ) -> persona_pb2.StopInstanceResponse:
        caller = model.tenant_caller()
        instance_id = required_id("instance_id", request.instance_id)
        reason = request.reason.strip()
        model.raise_if([FieldViolation("reason", f"at most {model.REASON_MAX} characters")
                        if len(reason) > model.REASON_MAX else None])
        row = await store.instance_row(self.db, instance_id, caller)
        if row["current_execution_id"]:
            await self._stop_execution(row["current_execution_id"], reason or "stopped by the user")
        journal = self.executor.journal()
        async with self.db.transaction() as tx:
            row = await store.instance_row(tx, instance_id, caller)
            if row["status"] != "stopped" and not row["current_execution_id"]:
                await journal.status(tx, row, "stopped", reason or "stopped by the user")
                now = time.time()
                await tx.execute("UPDATE instances SET status = 'stopped', updated_at = ? WHERE instance_id = ?",
                                 (now, instance_id))
                row = {**row, "status": "stopped", "updated_at": now}
        journal.announce()
        return persona_pb2.StopInstanceResponse(instance=model.instance_message(row))

    async def _stop_execution(self, execution_id: str, reason: str) -> None:
        await self.executor.settle_for_stop(execution_id, reason)
        await self.executor.stop(execution_id)

    async def GetInstanceLogs(
        self, request: persona_pb2.GetInstanceLogsRequest, context: grpc.aio.ServicerContext
    ) -> persona_pb2.GetInstanceLogsResponse:
        caller = model.tenant_caller()
        instance = await store.instance_row(self.db, required_id("instance_id", request.instance_id), caller)
        where, params = ["l.instance_id = ?"], [instance["instance_id"]]
        if request.execution_id.strip():
            where.append("l.execution_id = ?")
            params.append(request.execution_id.strip())
        if request.level:
            level = request.level.lower()
            model.raise_if([None if level in model.LOG_LEVELS else
                            FieldViolation("level", f"must be one of {', '.join(model.LOG_LEVELS)}")])
            at_or_above = model.LOG_LEVELS[model.LOG_LEVELS.index(level):]
            where.append(f"l.level IN ({', '.join('?' for _ in at_or_above)})")
            params.extend(at_or_above)
        if request.HasField("since"):
            where.append("l.time >= ?")
            params.append(request.since.ToNanoseconds() / 1e9)
        rows, total, token = await page(self.db, "instance_logs l", where, params, "l.log_id ASC", request)
        return persona_pb2.GetInstanceLogsResponse(
            entries=[model.log_message(r) for r in rows], next_page_token=token, total_size=total
        )

    async def WatchInstance(
        self, request: persona_pb2.WatchInstanceRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[persona_pb2.WatchInstanceResponse]:
        caller = model.tenant_caller()
        instance_id = required_id("instance_id", request.instance_id)
        with self.feeds.subscribe(store.feed_key(instance_id)) as feed:
            instance = await store.instance_row(self.db, instance_id, caller)
            after = await self._resume_point(instance, request.last_event_id)
            if not request.last_event_id.strip():
                yield persona_pb2.WatchInstanceResponse(event=model.snapshot_event(instance, after))
            async for row in follow(feed, after, lambda last: self._events_after(instance_id, last)):
                yield persona_pb2.WatchInstanceResponse(event=model.event_message(row))
                if row["type"] in _FINAL_EVENTS:
                    return

    async def _resume_point(self, instance: Row, last_event_id: str) -> int:
        """The event id the stream continues after: the one given, else the instance's latest."""
        text = last_event_id.strip()
        if text:
            if not text.isdigit() or not await self.db.fetch_one(
                    "SELECT 1 FROM instance_events WHERE instance_id = ? AND event_id = ?",
                    (instance["instance_id"], int(text))):
                raise InvalidArgument.field("last_event_id", f"is not an event of instance {instance['instance_id']}")
            return int(text)
        latest = await self.db.fetch_one("SELECT MAX(event_id) AS n FROM instance_events WHERE instance_id = ?",
                                         (instance["instance_id"],))
        return int(latest["n"] or 0) if latest else 0

    async def _events_after(self, instance_id: str, after: int) -> list[Row]:
        return await self.db.fetch_all(
            "SELECT * FROM instance_events WHERE instance_id = ? AND event_id > ? ORDER BY event_id",
            (instance_id, after),
        )

