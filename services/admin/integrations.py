"""IntegrationService: a tenant's outbound integrations (seed 001's /api/v1/integrations) and their deliveries.

An integration belongs to its tenant: every member lists and reads it;
another tenant's id is NOT_FOUND. Only its creator (or a platform admin)
changes, tests or deletes it, because it delivers what its creator may see:
someone else pointing it elsewhere would receive that. What is stored and
shown, and the settings: services.admin.integration_model; what is sent, how
it is signed and retried: services.admin.webhooks; which addresses may be
reached: services.admin.targets. At most `integrations.max_per_tenant` (50)
per tenant; names are unique in a tenant whatever their case.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import grpc
from agentmesh.v1 import admin_pb2
from google.protobuf import timestamp_pb2

from services.admin.config_store import ConfigDocuments
from services.admin.integration_model import (
    DELIVERY_STATUSES,
    KINDS,
    Draft,
    delivery_message,
    integration_message,
    new_secret,
    opened,
    problems,
    raise_if,
    sealed_columns,
)
from services.admin.webhooks import Dispatcher, WebhookSender
from services.common import authctx, contracts, crud
from services.common.authctx import Caller
from services.common.crud import changed_fields, required_id
from services.common.crypto import SecretBox, SecretUnreadable
from services.common.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from services.common.events.envelope import HUB_ONLY_PREFIXES
from services.common.listing import filter_sql, order_sql
from services.common.protoutil import new_id, seconds, struct_dict
from services.common.storage import Database, Row, Transaction

EMAIL_NOT_CONFIGURED = "e-mail delivery is not configured on this platform; use a webhook, Slack or Teams"
TEST_EVENT = "integration.test"
MAX_TEST_DATA = 16 * 1024
_STATUS_SQL = ("CASE WHEN i.enabled = 0 THEN 'disabled' WHEN i.failure_count > 0 THEN 'failing'"
               " ELSE 'active' END")
COLUMNS: Mapping[str, str] = {"integration_id": "i.integration_id", "name": "i.name", "kind": "i.kind",
                              "enabled": "i.enabled", "status": _STATUS_SQL, "failure_count": "i.failure_count",
                              "created_by": "i.created_by", "created_at": "i.created_at",
                              "updated_at": "i.updated_at", "last_delivery_at": "i.last_delivery_at"}
DELIVERY_COLUMNS: Mapping[str, str] = {"delivery_id": "delivery_id", "event_id": "event_id",
                                       "event_type": "event_type", "status": "status", "attempts": "attempts",
                                       "response_status_code": "response_status_code", "test": "test",
                                       "created_at": "seq"}
_UPDATABLE = ("name", "url", "events", "secret", "config", "enabled")


def _known_prefixes() -> tuple[str, ...]:
    return tuple(p for prefixes in contracts.event_prefixes().values() for p in prefixes)


def _number(field: str, text: str) -> int:
    if not text.lstrip("-").isdigit():
        raise InvalidArgument.field("filter", f"{field} compares with a whole number, not {text!r}")
    return int(text)


def _typed_delivery(name: str, column: str, text: str) -> Any:
    if column in ("attempts", "response_status_code", "test"):
        return _number(name, text)
    if column == "seq":
        raise InvalidArgument.field("filter", "use since for times")
    return text


def _typed_integration(name: str, column: str, text: str) -> Any:
    if column == "i.enabled":
        flags = {"true": 1, "false": 0, "1": 1, "0": 0}
        if text.lower() not in flags:
            raise InvalidArgument.field("filter", f"enabled is true or false, not {text!r}")
        return flags[text.lower()]
    if column == "i.failure_count":
        return _number(name, text)
    if column.endswith("_at"):
        raise InvalidArgument.field("filter", "times cannot be filtered here")
    return text


class IntegrationServicer:
    """agentmesh.v1.IntegrationService."""

    def __init__(self, db: Database, box: SecretBox, configs: ConfigDocuments, dispatcher: Dispatcher,
                 sender: WebhookSender) -> None:
        self.db = db
        self.box = box
        self.configs = configs
        self.dispatcher = dispatcher
        self.sender = sender

    async def _visible(self, q: Database | Transaction, caller: Caller, integration_id: str) -> Row:
        row = await q.fetch_one("SELECT * FROM integrations WHERE integration_id = ? AND tenant_id = ?",
                                (integration_id, caller.tenant_id))
        if row is None:
            raise NotFound(f"integration {integration_id} not found", reason="INTEGRATION_NOT_FOUND")
        return row

    @staticmethod
    def _may_change(caller: Caller, row: Row) -> None:
        if row["created_by"] != caller.user_id and not caller.is_admin:
            raise PermissionDenied("only the integration's creator (or a platform admin) changes, tests or deletes "
                                   "it", reason="NOT_INTEGRATION_OWNER")

    async def _problems(self, draft: Draft) -> list[FieldViolation]:
        config = await self.configs.effective("system")
        return problems(draft, allow_private=bool(config["integrations.allow_private_networks"]),
                        known_prefixes=_known_prefixes())

    async def ListIntegrations(self, request: admin_pb2.ListIntegrationsRequest,
                               context: grpc.aio.ServicerContext) -> Any:
        caller = authctx.current()
        where: list[str] = ["i.tenant_id = ?"]
        params: list[Any] = [caller.tenant_id]
        kind = request.kind.strip()
        if kind:
            if kind not in KINDS:
                raise InvalidArgument.field("kind", f"one of {', '.join(KINDS)}")
            where.append("i.kind = ?")
            params.append(kind)
        if request.HasField("enabled"):
            where.append("i.enabled = ?")
            params.append(int(request.enabled))
        clauses, values = filter_sql(request.filter, COLUMNS, _typed_integration)
        where += clauses
        params += values
        order = order_sql(request.order_by, COLUMNS, "i.created_at DESC", "i.integration_id ASC")
        rows, total, token = await crud.page(self.db, "integrations i", where, params, order, request, default=50,
                                             maximum=200)
        return admin_pb2.ListIntegrationsResponse(integrations=[integration_message(r) for r in rows],
                                                  next_page_token=token, total_size=total)

    async def CreateIntegration(self, request: admin_pb2.CreateIntegrationRequest,
                                context: grpc.aio.ServicerContext) -> Any:
        caller = authctx.current()
        if not caller.tenant_id:
            raise FailedPrecondition("integrations belong to a tenant; sign in to one", reason="TENANT_REQUIRED")
        kind = request.kind.strip()
        if kind == "email":
            raise FailedPrecondition(EMAIL_NOT_CONFIGURED, reason="CHANNEL_NOT_CONFIGURED")
        secret = request.secret.strip()
        generated = not secret and kind == "webhook"
        draft = Draft(kind=kind, name=request.name.strip(), url=request.url.strip(),
                      events=tuple(e.strip() for e in request.events), secret=new_secret() if generated else secret,
                      config=struct_dict(request.config),
                      enabled=request.enabled if request.HasField("enabled") else True)
        raise_if(await self._problems(draft))
        integration_id, now = new_id("int"), time.time()
        row: Row = {"integration_id": integration_id, "tenant_id": caller.tenant_id,
                    **sealed_columns(self.box, integration_id, draft), "failure_count": 0, "last_delivery_at": None,
                    "created_by": caller.user_id, "created_at": now, "updated_at": now}
        limit = int((await self.configs.effective("system"))["integrations.max_per_tenant"])
        async with self.db.transaction() as tx:
            counted = await tx.fetch_one("SELECT COUNT(*) AS n FROM integrations WHERE tenant_id = ?",
                                         (caller.tenant_id,))
            if counted is not None and counted["n"] >= limit:
                raise FailedPrecondition(f"a tenant has at most {limit} integrations; delete one first",
                                         reason="TOO_MANY_INTEGRATIONS")
            await self._name_free(tx, caller.tenant_id, draft.name)
            await tx.execute(f"INSERT INTO integrations ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
                             list(row.values()))
        self.dispatcher.invalidate()
        integration = integration_message(row)
        if generated:
            integration.secret = draft.secret  # shown this once: the receiver needs it to check signatures
        return admin_pb2.CreateIntegrationResponse(integration=integration)

    async def GetIntegration(self, request: admin_pb2.GetIntegrationRequest,
                             context: grpc.aio.ServicerContext) -> Any:
        row = await self._visible(self.db, authctx.current(), required_id("integration_id", request.integration_id))
        return admin_pb2.GetIntegrationResponse(integration=integration_message(row))

    async def UpdateIntegration(self, request: admin_pb2.UpdateIntegrationRequest,
                                context: grpc.aio.ServicerContext) -> Any:
        caller = authctx.current()
        integration_id = required_id("integration_id", request.integration_id)
        fields = changed_fields(request, _UPDATABLE, immutable=("kind",),
                                present={"events": lambda r: bool(r.events), "config": lambda r: r.HasField("config")})
        row = await self._visible(self.db, caller, integration_id)
        self._may_change(caller, row)
        if not fields:
            return admin_pb2.UpdateIntegrationResponse(integration=integration_message(row))
        try:
            current = opened(self.box, row)
        except SecretUnreadable:
            current = Draft(row["kind"], row["name"], "", (), "", {}, bool(row["enabled"]))
            if not {"url", "secret"} <= set(fields) and row["kind"] == "webhook":
                raise FailedPrecondition("the stored URL or secret cannot be read with the current encryption key; "
                                         "send url and secret again", reason="SECRETS_UNREADABLE") from None
        changes: dict[str, Any] = {}
        for name in fields:
            value = getattr(request, name)
            changes[name] = (tuple(e.strip() for e in value) if name == "events" else struct_dict(value)
                             if name == "config" else value.strip() if isinstance(value, str) else value)
        draft = Draft(**{**{k: getattr(current, k) for k in Draft.__dataclass_fields__}, **changes})
        if draft.kind == "webhook" and not draft.secret:
            raise InvalidArgument.field("secret", "a webhook integration signs every delivery; give a new secret "
                                                  "rather than none")
        raise_if(await self._problems(draft))
        columns = {**sealed_columns(self.box, integration_id, draft), "updated_at": time.time()}
        async with self.db.transaction() as tx:
            await self._visible(tx, caller, integration_id)
            if "name" in fields:
                await self._name_free(tx, caller.tenant_id, draft.name, integration_id)
            await tx.execute(f"UPDATE integrations SET {', '.join(f'{k} = ?' for k in columns)}"
                             " WHERE integration_id = ?", [*columns.values(), integration_id])
            updated = await tx.fetch_one("SELECT * FROM integrations WHERE integration_id = ?", (integration_id,))
        assert updated is not None
        self.dispatcher.invalidate()
        return admin_pb2.UpdateIntegrationResponse(integration=integration_message(updated))

    async def DeleteIntegration(self, request: admin_pb2.DeleteIntegrationRequest,
                                context: grpc.aio.ServicerContext) -> Any:
        caller = authctx.current()
        integration_id = required_id("integration_id", request.integration_id)
        row = await self._visible(self.db, caller, integration_id)
        self._may_change(caller, row)
        await self.db.execute("DELETE FROM integrations WHERE integration_id = ?", (integration_id,))
        self.dispatcher.invalidate()
        return admin_pb2.DeleteIntegrationResponse()

    async def TestIntegration(self, request: admin_pb2.TestIntegrationRequest,
                              context: grpc.aio.ServicerContext) -> Any:
        caller = authctx.current()
        integration_id = required_id("integration_id", request.integration_id)
        event_type = request.event_type.strip() or TEST_EVENT
        found: list[FieldViolation] = []
        if len(event_type) > 100 or not all(c.islower() or c.isdigit() or c in "._" for c in event_type) \
                or "." not in event_type or event_type.startswith(HUB_ONLY_PREFIXES):
            found.append(FieldViolation("event_type", "a dotted lower-case type such as integration.test"))
        if request.data.ByteSize() > MAX_TEST_DATA:
            found.append(FieldViolation("data", f"at most {MAX_TEST_DATA} bytes"))
        raise_if(found)
        row = await self._visible(self.db, caller, integration_id)
        self._may_change(caller, row)
        if row["kind"] == "email":
            raise FailedPrecondition(EMAIL_NOT_CONFIGURED, reason="CHANNEL_NOT_CONFIGURED")
        stamp = timestamp_pb2.Timestamp()
        stamp.GetCurrentTime()
        record = {"id": new_id("evt"), "type": event_type, "time": stamp.ToJsonString(),
                  "tenant_id": caller.tenant_id, "subject_id": integration_id, "user_id": caller.user_id,
                  "source": "admin",
                  "data": struct_dict(request.data) if request.HasField("data") else
                  {"message": "A test delivery from AgentMesh", "integration": row["name"]}}
        delivery = await self.sender.deliver_now(integration_id, caller.tenant_id, record)
        return admin_pb2.TestIntegrationResponse(delivery=delivery_message(delivery))

    async def ListIntegrationDeliveries(self, request: admin_pb2.ListIntegrationDeliveriesRequest,
                                        context: grpc.aio.ServicerContext) -> Any:
        caller = authctx.current()
        integration_id = required_id("integration_id", request.integration_id)
        await self._visible(self.db, caller, integration_id)
        where: list[str] = ["integration_id = ?"]
        params: list[Any] = [integration_id]
        status = request.status.strip()
        if status:
            if status not in DELIVERY_STATUSES:
                raise InvalidArgument.field("status", f"one of {', '.join(DELIVERY_STATUSES)}")
            where.append("status = ?")
            params.append(status)
        if request.event_type.strip():
            where.append("event_type = ?")
            params.append(request.event_type.strip())
        if request.HasField("since"):
            where.append("created_at >= ?")
            params.append(seconds(request.since))
        clauses, values = filter_sql(request.filter, DELIVERY_COLUMNS, _typed_delivery)
        where += clauses
        params += values
        order = order_sql(request.order_by, DELIVERY_COLUMNS, "seq DESC", "seq DESC")
        rows, total, token = await crud.page(self.db, "deliveries", where, params, order, request, default=50,
                                             maximum=200)
        return admin_pb2.ListIntegrationDeliveriesResponse(deliveries=[delivery_message(r) for r in rows],
                                                           next_page_token=token, total_size=total)

    @staticmethod
    async def _name_free(tx: Transaction, tenant_id: str, name: str, integration_id: str = "") -> None:
        taken = await tx.fetch_one("SELECT integration_id FROM integrations WHERE tenant_id = ? AND name_key = ?"
                                   " AND integration_id != ?", (tenant_id, name.lower(), integration_id))
        if taken is not None:
            raise AlreadyExists(f"an integration named {name!r} already exists in this tenant",
                                reason="INTEGRATION_NAME_TAKEN")

