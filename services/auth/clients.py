"""ClientAdminService: every tenant, as platform admins see it.

Platform admins call a tenant a client; the rules shared with
OrganizationService (soft deletion, ownership, revocation) are explained in
services.auth.tenancy.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import grpc
from agentmesh.v1 import auth_pb2

from services.auth import model
from services.auth.sessions import Sessions
from services.auth.tenancy import (
    CLIENT_COLUMNS,
    TENANT_SELECT,
    Revocations,
    description_violation,
    email_violation,
    ensure_slug_free,
    insert_tenant,
    live_user,
    member_row,
    name_violation,
    page,
    requested_changes,
    revoke,
    scoped_credentials,
    signed_in_caller,
    slug_violation,
    soft_delete,
    tenant_field_violations,
    tenant_row,
    transfer_ownership,
    update_tenant,
)
from services.common.authctx import Caller
from services.common.crud import required_id
from services.common.errors import FailedPrecondition, FieldViolation, NotFound, PermissionDenied
from services.common.listing import filter_sql, order_sql, search_sql
from services.common.protoutil import timestamp
from services.common.storage import Database, Row, Transaction

# One logger for both tenant services, named as before they were split.
log = logging.getLogger("agentmesh.auth.tenants")


class Clients:
    """agentmesh.v1.ClientAdminService: every tenant, as platform admins see it."""

    def __init__(self, db: Database, sessions: Sessions) -> None:
        self.db = db
        self.sessions = sessions

    @staticmethod
    def _admin() -> Caller:
        caller = signed_in_caller()
        if not caller.is_admin:
            raise PermissionDenied("managing clients needs the admin role", reason="ADMIN_REQUIRED")
        return caller

    @staticmethod
    async def _client_row(q: Transaction, client_id: str) -> Row:
        row = await tenant_row(q, client_id)
        if row is None:
            raise NotFound(f"client {client_id} not found", reason="CLIENT_NOT_FOUND")
        return row

    async def AdminListClients(
        self, request: auth_pb2.AdminListClientsRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.AdminListClientsResponse:
        self._admin()
        status = request.status.strip()
        tier = request.tier.strip()
        model.raise_if([
            model.check_choice("status", status, model.TENANT_STATUSES) if status else None,
            model.check_choice("tier", tier, model.TIERS) if tier else None,
        ])
        where = ["t.deleted_at IS NULL"]
        params: list[Any] = []
        if status:
            where.append("t.status = ?")
            params.append(status)
        if tier:
            where.append("t.tier = ?")
            params.append(tier)
        searched, searched_params = search_sql(request.search, ("t.name", "t.slug", "t.contact_email"))
        clauses, values = filter_sql(request.filter, CLIENT_COLUMNS)
        where += [*searched, *clauses]
        params += [*searched_params, *values]
        order = order_sql(request.order_by, CLIENT_COLUMNS, "t.created_at DESC", "t.tenant_id ASC")
        rows, total, token = await page(
            self.db, TENANT_SELECT + " FROM tenants t", "SELECT COUNT(*) AS n FROM tenants t", where, params, order,
            request,
        )
        return auth_pb2.AdminListClientsResponse(
            clients=[model.client_message(r) for r in rows], next_page_token=token, total_size=total
        )

    async def AdminCreateClient(
        self, request: auth_pb2.AdminCreateClientRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.AdminCreateClientResponse:
        caller = self._admin()
        name = request.name.strip()
        slug = request.slug.strip()
        description = request.description.strip()
        tier = request.tier.strip() or "free"
        status = request.status.strip() or "active"
        contact_email = model.normalize_email(request.contact_email)
        owner_id = request.owner_id.strip()
        model.raise_if([
            name_violation("name", name),
            slug_violation("slug", slug) if slug else None,
            description_violation("description", description),
            model.check_choice("tier", tier, model.TIERS),
            model.check_choice("status", status, model.TENANT_STATUSES),
            email_violation("contact_email", contact_email),
        ])
        async with self.db.transaction() as tx:
            if owner_id:
                owner = await live_user(tx, owner_id)
                if owner is None:
                    raise NotFound(f"owner_id: user {owner_id} not found", reason="USER_NOT_FOUND",
                                   metadata={"field": "owner_id"})
                contact_email = contact_email or (owner["email"] or "")
            row = await insert_tenant(
                tx, name=name, slug=slug, description=description, tier=tier, status=status,
                contact_email=contact_email, owner_id=owner_id,
            )
        log.info("client created", extra={"tenant": row["tenant_id"], "by": caller.user_id})
        return auth_pb2.AdminCreateClientResponse(client=model.client_message(row))

    async def AdminGetClient(
        self, request: auth_pb2.AdminGetClientRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.AdminGetClientResponse:
        self._admin()
        client_id = required_id("client_id", request.client_id)
        return auth_pb2.AdminGetClientResponse(client=model.client_message(await self._client_row(self.db, client_id)))

    async def AdminUpdateClient(
        self, request: auth_pb2.AdminUpdateClientRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.AdminUpdateClientResponse:
        caller = self._admin()
        client_id = required_id("client_id", request.client_id)
        values = requested_changes(
            request, ("name", "slug", "description", "tier", "status", "contact_email", "owner_id")
        )
        if "contact_email" in values:
            values["contact_email"] = model.normalize_email(values["contact_email"])
        model.raise_if([
            *tenant_field_violations(values),
            FieldViolation("owner_id", "must name a member") if values.get("owner_id") == "" else None,
        ])
        revocations = Revocations()
        async with self.db.transaction() as tx:
            tenant = await self._client_row(tx, client_id)
            changes = {f: v for f, v in values.items() if v != (tenant[f] or "")}
            new_owner = changes.pop("owner_id", None)
            if "slug" in changes:
                await ensure_slug_free(tx, changes["slug"], client_id)
            if new_owner is not None:
                member = await member_row(tx, client_id, new_owner)
                if member is None:
                    raise FailedPrecondition(f"owner_id: user {new_owner} is not a member of client {client_id};"
                                             " add them first", reason="NOT_A_MEMBER", metadata={"field": "owner_id"})
                await transfer_ownership(tx, tenant, new_owner)
            await update_tenant(tx, client_id, changes)
            if changes.get("status") == "suspended":
                revocations.sessions = (await scoped_credentials(tx, client_id)).sessions
        if changes:
            log.info("client changed", extra={"tenant": client_id, "by": caller.user_id, "fields": sorted(changes)})
        await revoke(self.sessions, revocations, "organization suspended")
        row = await self._client_row(self.db, client_id)
        return auth_pb2.AdminUpdateClientResponse(client=model.client_message(row))

    async def AdminDeleteClient(
        self, request: auth_pb2.AdminDeleteClientRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.AdminDeleteClientResponse:
        caller = self._admin()
        client_id = required_id("client_id", request.client_id)
        async with self.db.transaction() as tx:
            tenant = await self._client_row(tx, client_id)
            revocations = await soft_delete(tx, tenant)
        log.info("client deleted", extra={"tenant": client_id, "by": caller.user_id})
        await revoke(self.sessions, revocations, "organization deleted")
        return auth_pb2.AdminDeleteClientResponse()

    async def AdminGetClientStats(
        self, request: auth_pb2.AdminGetClientStatsRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.AdminGetClientStatsResponse:
        self._admin()
        client_id = required_id("client_id", request.client_id)
        await self._client_row(self.db, client_id)
        members = await self.db.fetch_one(
            "SELECT COUNT(*) AS total,"
            " SUM(CASE WHEN u.status = 'active' THEN 1 ELSE 0 END) AS active,"
            " SUM(CASE WHEN u.status = 'blocked' THEN 1 ELSE 0 END) AS blocked,"
            " MAX(u.last_login_at) AS last_login_at"
            " FROM memberships m JOIN users u ON u.user_id = m.user_id"
            " WHERE m.tenant_id = ? AND u.deleted_at IS NULL",
            (client_id,),
        )
        keys = await self.db.fetch_one(
            "SELECT COUNT(*) AS n FROM api_keys k JOIN users u ON u.user_id = k.user_id"
            " WHERE k.tenant_id = ? AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > ?)"
            " AND u.deleted_at IS NULL",
            (client_id, time.time()),
        )
        assert members is not None
        assert keys is not None
        return auth_pb2.AdminGetClientStatsResponse(
            client_id=client_id,
            total_users=int(members["total"] or 0),
            active_users=int(members["active"] or 0),
            blocked_users=int(members["blocked"] or 0),
            active_api_keys=int(keys["n"] or 0),
            last_login_at=timestamp(members["last_login_at"]),
        )
