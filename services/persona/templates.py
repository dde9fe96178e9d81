"""PersonaTemplateService: the catalogue of persona templates (seed 002's /api/v1/templates).

Every signed-in user reads published templates; admins read drafts too and
write. Names are unique whatever their case (ALREADY_EXISTS). A configuration
with errors is refused with every problem as a field violation; warnings never
refuse (ValidateTemplate lists them). An update raises the version by one;
instances keep the copy they were made from. A template that instances use is
deleted only with `force`. Events `template.created|updated|deleted` go to the
hub for published templates only (a draft is nobody's business but admins').
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import grpc
from agentmesh.v1 import common_pb2, persona_pb2

from services.common import authctx
from services.common.crud import changed_fields, page, required_id
from services.common.errors import AlreadyExists, FailedPrecondition
from services.common.events.publisher import Publisher
from services.common.listing import filter_sql, order_sql
from services.common.protoutil import new_id, struct_dict
from services.common.storage import Database, Row, Transaction
from services.persona import model, store

_COLUMNS: Mapping[str, str] = {
    name: f"t.{name}"
    for name in ("template_id", "name", "description", "category", "provider", "model", "published", "version",
                 "created_by", "created_at", "updated_at")
}
_UPDATABLE = ("name", "description", "category", "system_prompt", "provider", "model", "config",
              "overridable_keys", "published", "tags")
_JSON_FIELDS = ("config", "overridable_keys", "tags")


def _values(request: Any, fields: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """The request's fields as the template stores them (trimmed text, cleaned lists, config as a dict)."""
    values: dict[str, Any] = {}
    for name in fields:
        if name == "config":
            values[name] = struct_dict(request.config)
        elif name in ("overridable_keys", "tags"):
            values[name] = model.clean_list(getattr(request, name))
        elif name == "published":
            values[name] = bool(request.published)
        elif name == "system_prompt":
            values[name] = request.system_prompt
        else:
            values[name] = getattr(request, name).strip()
    return values


def _columns(values: Mapping[str, Any]) -> dict[str, Any]:
    columns = {k: json.dumps(v) if k in _JSON_FIELDS else v for k, v in values.items()}
    if "published" in columns:
        columns["published"] = int(columns["published"])
    if "name" in columns:
        columns["name_key"] = columns["name"].lower()
    return columns


class Templates:
    """agentmesh.v1.PersonaTemplateService."""

    def __init__(self, db: Database, events: Publisher) -> None:
        self.db = db
        self.events = events

    def _announce(self, kind: str, row: Row) -> None:
        if row["published"]:
            event = common_pb2.Event(type=kind, subject_id=row["template_id"])
            event.data.update({"template_id": row["template_id"], "name": row["name"], "version": row["version"]})
            self.events.emit(event)

    @staticmethod
    async def _name_free(q: Transaction, name: str, template_id: str = "") -> None:
        taken = await q.fetch_one("SELECT template_id FROM templates WHERE name_key = ? AND template_id != ?",
                                  (name.lower(), template_id))
        if taken is not None:
            raise AlreadyExists(f"a template named {name!r} already exists", reason="TEMPLATE_NAME_TAKEN")

    async def ListTemplates(
        self, request: persona_pb2.ListTemplatesRequest, context: grpc.aio.ServicerContext
    ) -> persona_pb2.ListTemplatesResponse:
        caller = authctx.current()
        where: list[str] = [] if caller.is_admin else ["t.published = 1"]
        params: list[Any] = []
        if request.category.strip():
            where.append("t.category = ?")
            params.append(request.category.strip())
        if request.tag.strip():
            where.append("EXISTS (SELECT 1 FROM json_each(t.tags) WHERE json_each.value = ?)")
            params.append(request.tag.strip())
        clauses, values = filter_sql(request.filter, _COLUMNS)
        order = order_sql(request.order_by, _COLUMNS, "t.name_key ASC", "t.template_id ASC")
        table = "(" + store.TEMPLATE_SELECT + ") t"
        rows, total, token = await page(self.db, table, [*where, *clauses], [*params, *values], order, request)
        return persona_pb2.ListTemplatesResponse(
            templates=[model.template_message(r) for r in rows], next_page_token=token, total_size=total
        )

    async def CreateTemplate(
        self, request: persona_pb2.CreateTemplateRequest, context: grpc.aio.ServicerContext
    ) -> persona_pb2.CreateTemplateResponse:
        caller = authctx.current()
        values = _values(request, _UPDATABLE)
        model.raise_if(model.violations(model.check_template(values)))
        now = time.time()
        row: Row = {"template_id": new_id("tpl"), **_columns(values), "version": 1, "created_by": caller.user_id,
                    "created_at": now, "updated_at": now}
        async with self.db.transaction() as tx:
            await self._name_free(tx, values["name"])
            await tx.execute(f"INSERT INTO templates ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
                             list(row.values()))
        self._announce("template.created", row)
        return persona_pb2.CreateTemplateResponse(template=model.template_message(row))

    async def GetTemplate(
        self, request: persona_pb2.GetTemplateRequest, context: grpc.aio.ServicerContext
    ) -> persona_pb2.GetTemplateResponse:
        row = await store.template_row(self.db, required_id("template_id", request.template_id), authctx.current())
        return persona_pb2.GetTemplateResponse(template=model.template_message(row))

    async def UpdateTemplate(
        self, request: persona_pb2.UpdateTemplateRequest, context: grpc.aio.ServicerContext
    ) -> persona_pb2.UpdateTemplateResponse:
        caller = authctx.current()
        template_id = required_id("template_id", request.template_id)
        fields = changed_fields(request, _UPDATABLE, present={
            "config": lambda r: r.HasField("config"),
            "overridable_keys": lambda r: bool(r.overridable_keys),
            "tags": lambda r: bool(r.tags),
        })
        values = _values(request, fields)
        async with self.db.transaction() as tx:
            row = await store.template_row(tx, template_id, caller)
            current = {name: (json.loads(row[name]) if name in _JSON_FIELDS else row[name]) for name in _UPDATABLE}
            # the prompt's placeholders are checked against the config they will run with
            model.raise_if(model.violations(model.check_template({**current, **values})))
            if "name" in values:
                await self._name_free(tx, values["name"], template_id)
            if values:
                changes = {**_columns(values), "version": row["version"] + 1, "updated_at": time.time()}
                await tx.execute(f"UPDATE templates SET {', '.join(f'{k} = ?' for k in changes)} WHERE template_id = ?",
                                 [*changes.values(), template_id])
                before, row = row, {**row, **changes}
        if values:
            self._announce("template.updated", row if row["published"] else before)
        return persona_pb2.UpdateTemplateResponse(template=model.template_message(row))

    async def DeleteTemplate(
        self, request: persona_pb2.DeleteTemplateRequest, context: grpc.aio.ServicerContext
    ) -> persona_pb2.DeleteTemplateResponse:
        template_id = required_id("template_id", request.template_id)
        async with self.db.transaction() as tx:
            row = await store.template_row(tx, template_id, authctx.current())
            if row["instance_count"] and not request.force:
                raise FailedPrecondition(
                    f"template {template_id} is used by {row['instance_count']} instance(s); delete them first or"
                    " set force (they keep their configuration)",
                    reason="TEMPLATE_IN_USE", metadata={"instance_count": str(row["instance_count"])},
                )
            await tx.execute("DELETE FROM templates WHERE template_id = ?", (template_id,))
        self._announce("template.deleted", row)
        return persona_pb2.DeleteTemplateResponse()

    async def CloneTemplate(
        self, request: persona_pb2.CloneTemplateRequest, context: grpc.aio.ServicerContext
    ) -> persona_pb2.CloneTemplateResponse:
        caller = authctx.current()
        template_id = required_id("template_id", request.template_id)
        now = time.time()
        async with self.db.transaction() as tx:
            source = await store.template_row(tx, template_id, caller)
            name = request.name.strip() or f"{source['name']} (copy)"
            model.raise_if(model.violations(model.check_template({"name": name})))
            await self._name_free(tx, name)
            row: Row = {
                **{k: v for k, v in source.items() if k != "instance_count"},
                "template_id": new_id("tpl"), "name": name, "name_key": name.lower(),
                "published": int(request.published), "version": 1, "created_by": caller.user_id,
                "created_at": now, "updated_at": now,
            }
            await tx.execute(f"INSERT INTO templates ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
                             list(row.values()))
        self._announce("template.created", row)
        return persona_pb2.CloneTemplateResponse(template=model.template_message(row))

    async def ValidateTemplate(
        self, request: persona_pb2.ValidateTemplateRequest, context: grpc.aio.ServicerContext
    ) -> persona_pb2.ValidateTemplateResponse:
        row = await store.template_row(self.db, required_id("template_id", request.template_id), authctx.current())
        values: dict[str, Any] = {name: (json.loads(row[name]) if name in _JSON_FIELDS else row[name])
                                  for name in _UPDATABLE}
        for name in ("system_prompt", "provider", "model"):
            if request.HasField(name):
                values[name] = getattr(request, name) if name == "system_prompt" else getattr(request, name).strip()
        if request.HasField("config"):
            values["config"] = struct_dict(request.config)
        problems = model.check_template(values)
        return persona_pb2.ValidateTemplateResponse(
            valid=not any(p.severity == "error" for p in problems), problems=problems
        )
