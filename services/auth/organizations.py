"""OrganizationService: the caller's tenants and their members.

The rules it enforces (visibility, roles and their powers, soft deletion and
revocation) are shared with ClientAdminService and explained in
services.auth.tenancy.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import grpc
from agentmesh.v1 import auth_pb2

from services.auth import model
from services.auth.sessions import Sessions
from services.auth.tenancy import (
    MEMBER_SELECT,
    ORGANIZATION_COLUMNS,
    TENANT_SELECT,
    acting_role,
    add_membership,
    description_violation,
    email_violation,
    ensure_slug_free,
    insert_tenant,
    live_user,
    member_row,
    move_off,
    name_violation,
    organization_not_found,
    page,
    requested_changes,
    require_manager,
    require_owner,
    required_member,
    revoke,
    scoped_credentials,
    signed_in_caller,
    slug_violation,
    soft_delete,
    tenant_field_violations,
    tenant_row,
    transfer_ownership,
    update_tenant,
    visible_tenant,
)
from services.common.crud import required_id
from services.common.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from services.common.listing import filter_sql, order_sql, search_sql
from services.common.storage import Database

# One logger for both tenant services, named as before they were split.
log = logging.getLogger("agentmesh.auth.tenants")

_ADDABLE_ROLES = ("admin", "member", "viewer")

# Public field name -> SQL expression, for `filter` and `order_by` on members.
_MEMBER_COLUMNS: Mapping[str, str] = {
    "user_id": "m.user_id",
    "username": "u.username",
    "email": "u.email",
    "role": "m.role",
    "invited_by": "m.invited_by",
    "joined_at": "m.joined_at",
}
# Sorting by role means by rank (owner first), not alphabetically.
_MEMBER_ORDER: Mapping[str, str] = {
    **_MEMBER_COLUMNS,
    "role": "CASE m.role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 WHEN 'member' THEN 2 ELSE 3 END",
}


class Organizations:
    """agentmesh.v1.OrganizationService: the caller's tenants and their members."""

    def __init__(self, db: Database, sessions: Sessions) -> None:
        self.db = db
        self.sessions = sessions

    async def _organization(self, tenant_id: str) -> auth_pb2.Organization:
        row = await tenant_row(self.db, tenant_id)
        if row is None:
            raise organization_not_found(tenant_id)
        return model.organization_message(row)

    async def ListOrganizations(
        self, request: auth_pb2.ListOrganizationsRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.ListOrganizationsResponse:
        caller = signed_in_caller()
        searched, searched_params = search_sql(request.search, ("t.name", "t.slug"))
        clauses, values = filter_sql(request.filter, ORGANIZATION_COLUMNS)
        where = ["m.user_id = ?", "t.deleted_at IS NULL", *searched, *clauses]
        params: list[Any] = [caller.user_id, *searched_params, *values]
        order = order_sql(request.order_by, ORGANIZATION_COLUMNS, "t.created_at ASC", "t.tenant_id ASC")
        join = " FROM tenants t JOIN memberships m ON m.tenant_id = t.tenant_id"
        rows, total, token = await page(
            self.db, TENANT_SELECT + join, "SELECT COUNT(*) AS n" + join, where, params, order, request
        )
        return auth_pb2.ListOrganizationsResponse(
            organizations=[model.organization_message(r) for r in rows], next_page_token=token, total_size=total
        )

    async def CreateOrganization(
        self, request: auth_pb2.CreateOrganizationRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.CreateOrganizationResponse:
        caller = signed_in_caller()
        name = request.name.strip()
        slug = request.slug.strip()
        description = request.description.strip()
        tier = request.tier.strip() or "free"
        model.raise_if([
            name_violation("name", name),
            slug_violation("slug", slug) if slug else None,
            description_violation("description", description),
            model.check_choice("tier", tier, model.TIERS),
        ])
        if tier != "free" and not caller.is_admin:
            raise PermissionDenied(
                f"tier: a {tier} organization needs billing or a platform admin; create it on free and upgrade",
                reason="TIER_NOT_ALLOWED",
            )
        async with self.db.transaction() as tx:
            user = await live_user(tx, caller.user_id)
            if user is None:
                raise Unauthenticated("the account no longer exists", reason="ACCOUNT_GONE")
            row = await insert_tenant(
                tx, name=name, slug=slug, description=description, tier=tier, status="active",
                contact_email=user["email"] or "", owner_id=caller.user_id,
            )
        log.info("organization created", extra={"tenant": row["tenant_id"], "user": caller.user_id})
        return auth_pb2.CreateOrganizationResponse(organization=model.organization_message(row))

    async def GetOrganization(
        self, request: auth_pb2.GetOrganizationRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.GetOrganizationResponse:
        caller = signed_in_caller()
        tenant_id = required_id("organization_id", request.organization_id)
        row, _ = await visible_tenant(self.db, tenant_id, caller)
        return auth_pb2.GetOrganizationResponse(organization=model.organization_message(row))

    async def UpdateOrganization(
        self, request: auth_pb2.UpdateOrganizationRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.UpdateOrganizationResponse:
        caller = signed_in_caller()
        tenant_id = required_id("organization_id", request.organization_id)
        values = requested_changes(request, ("name", "slug", "description"))
        model.raise_if(tenant_field_violations(values))
        async with self.db.transaction() as tx:
            tenant, member_role = await visible_tenant(tx, tenant_id, caller)
            require_manager(acting_role(caller, tenant, member_role),
                            "changing the organization needs the owner or admin role in it")
            changes = {f: v for f, v in values.items() if v != tenant[f]}
            if "slug" in changes:
                await ensure_slug_free(tx, changes["slug"], tenant_id)
            await update_tenant(tx, tenant_id, changes)
        return auth_pb2.UpdateOrganizationResponse(organization=await self._organization(tenant_id))

    async def DeleteOrganization(
        self, request: auth_pb2.DeleteOrganizationRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.DeleteOrganizationResponse:
        caller = signed_in_caller()
        tenant_id = required_id("organization_id", request.organization_id)
        async with self.db.transaction() as tx:
            tenant, member_role = await visible_tenant(tx, tenant_id, caller)
            require_owner(acting_role(caller, tenant, member_role), "only the organization's owner can delete it")
            revocations = await soft_delete(tx, tenant)
        log.info("organization deleted", extra={"tenant": tenant_id, "user": caller.user_id})
        await revoke(self.sessions, revocations, "organization deleted")
        return auth_pb2.DeleteOrganizationResponse()

    # -- members ------------------------------------------------------------

    async def ListMembers(
        self, request: auth_pb2.ListMembersRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.ListMembersResponse:
        caller = signed_in_caller()
        tenant_id = required_id("organization_id", request.organization_id)
        role = request.role.strip()
        model.raise_if([model.check_choice("role", role, model.MEMBER_ROLES) if role else None])
        clauses, values = filter_sql(request.filter, _MEMBER_COLUMNS)
        order = order_sql(request.order_by, _MEMBER_ORDER, "m.joined_at ASC", "m.user_id ASC")
        await visible_tenant(self.db, tenant_id, caller)
        where = ["m.tenant_id = ?", "u.deleted_at IS NULL", *clauses]
        params: list[Any] = [tenant_id, *values]
        if role:
            where.append("m.role = ?")
            params.append(role)
        join = " FROM memberships m JOIN users u ON u.user_id = m.user_id"
        rows, total, token = await page(
            self.db, MEMBER_SELECT, "SELECT COUNT(*) AS n" + join, where, params, order, request
        )
        return auth_pb2.ListMembersResponse(
            members=[model.membership_message(r) for r in rows], next_page_token=token, total_size=total
        )

    async def AddMember(
        self, request: auth_pb2.AddMemberRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.AddMemberResponse:
        caller = signed_in_caller()
        tenant_id = required_id("organization_id", request.organization_id)
        user_id = request.user_id.strip()
        email = model.normalize_email(request.email)
        role = request.role.strip() or "member"
        problems = [
            email_violation("email", email),
            model.check_choice("role", role, _ADDABLE_ROLES) if role != "owner" else FieldViolation(
                "role", "a new member cannot be the owner; add them, then transfer ownership with UpdateMember"
            ),
        ]
        if not user_id and not email:
            problems += [FieldViolation("user_id", "give user_id or email"),
                         FieldViolation("email", "give user_id or email")]
        model.raise_if(problems)
        async with self.db.transaction() as tx:
            tenant, member_role = await visible_tenant(tx, tenant_id, caller)
            powers = acting_role(caller, tenant, member_role)
            require_manager(powers, "adding members needs the owner or admin role in the organization")
            if role == "admin":
                require_owner(powers, "only the organization's owner can grant the admin role")
            if user_id:
                user = await live_user(tx, user_id)
                if user is not None and email and (user["email"] or "").lower() != email:
                    raise InvalidArgument.field("email", "does not belong to the user named by user_id")
            else:
                user = await tx.fetch_one(
                    "SELECT * FROM users WHERE lower(email) = ? AND deleted_at IS NULL", (email,)
                )
            if user is None:
                raise NotFound(f"user {user_id or email} not found", reason="USER_NOT_FOUND")
            if await member_row(tx, tenant_id, user["user_id"]) is not None:
                raise AlreadyExists(f"user {user['user_id']} is already a member of organization {tenant_id}",
                                    reason="ALREADY_MEMBER")
            await add_membership(tx, tenant_id, user["user_id"], role, invited_by=caller.user_id,
                                 joined_at=time.time())
            member = await member_row(tx, tenant_id, user["user_id"])
        assert member is not None
        log.info("member added", extra={"tenant": tenant_id, "user": user["user_id"], "by": caller.user_id})
        return auth_pb2.AddMemberResponse(member=model.membership_message(member))

    async def UpdateMember(
        self, request: auth_pb2.UpdateMemberRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.UpdateMemberResponse:
        caller = signed_in_caller()
        tenant_id = required_id("organization_id", request.organization_id)
        user_id = required_id("user_id", request.user_id)
        values = requested_changes(request, ("role",))
        role = values.get("role", "")
        if values:
            model.raise_if([model.check_choice("role", role, model.MEMBER_ROLES)])
        async with self.db.transaction() as tx:
            tenant, member_role = await visible_tenant(tx, tenant_id, caller)
            target = await required_member(tx, tenant_id, user_id)
            if values and role != target["role"]:
                powers = acting_role(caller, tenant, member_role)
                require_manager(powers, "changing roles needs the owner or admin role in the organization")
                if role == "owner":
                    require_owner(powers, "only the organization's owner can transfer ownership")
                    await transfer_ownership(tx, tenant, user_id)
                elif target["role"] == "owner":
                    raise FailedPrecondition(
                        "the owner's role changes only by transferring ownership: make another member the owner",
                        reason="OWNER_ROLE_FIXED",
                    )
                else:
                    if "admin" in (role, target["role"]):
                        require_owner(powers, "only the organization's owner can grant or withdraw the admin role")
                    await tx.execute("UPDATE memberships SET role = ? WHERE tenant_id = ? AND user_id = ?",
                                     (role, tenant_id, user_id))
                target = await required_member(tx, tenant_id, user_id)
        return auth_pb2.UpdateMemberResponse(member=model.membership_message(target))

    async def RemoveMember(
        self, request: auth_pb2.RemoveMemberRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.RemoveMemberResponse:
        caller = signed_in_caller()
        tenant_id = required_id("organization_id", request.organization_id)
        user_id = required_id("user_id", request.user_id)
        async with self.db.transaction() as tx:
            tenant, member_role = await visible_tenant(tx, tenant_id, caller)
            target = await required_member(tx, tenant_id, user_id)
            if target["role"] == "owner":
                raise FailedPrecondition(
                    "the owner cannot leave or be removed; transfer ownership first, or delete the organization",
                    reason="OWNER_CANNOT_LEAVE",
                )
            if user_id != caller.user_id:
                powers = acting_role(caller, tenant, member_role)
                require_manager(powers, "removing members needs the owner or admin role in the organization")
                if target["role"] == "admin":
                    require_owner(powers, "only the organization's owner can remove an admin")
            await tx.execute("DELETE FROM memberships WHERE tenant_id = ? AND user_id = ?", (tenant_id, user_id))
            await move_off(tx, user_id, tenant_id)
            revocations = await scoped_credentials(tx, tenant_id, user_id)
        log.info("member removed", extra={"tenant": tenant_id, "user": user_id, "by": caller.user_id})
        await revoke(self.sessions, revocations, "removed from organization")
        return auth_pb2.RemoveMemberResponse()

    async def SwitchOrganization(
        self, request: auth_pb2.SwitchOrganizationRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.SwitchOrganizationResponse:
        caller = signed_in_caller()
        tenant_id = required_id("organization_id", request.organization_id)
        if caller.api_key_id:
            raise PermissionDenied("an API key stays scoped to its organization; sign in to switch",
                                   reason="API_KEY_CANNOT_SWITCH")
        async with self.db.transaction() as tx:
            tenant, member_role = await visible_tenant(tx, tenant_id, caller)
            if not member_role:
                raise FailedPrecondition(f"you are not a member of organization {tenant_id}", reason="NOT_A_MEMBER")
            if tenant["status"] != "active":
                raise FailedPrecondition(f"organization {tenant_id} is {tenant['status']}",
                                         reason="ORGANIZATION_SUSPENDED")
            user = await live_user(tx, caller.user_id)
            if user is None or user["status"] != "active":
                raise Unauthenticated("the account is not active", reason="ACCOUNT_NOT_ACTIVE")
            await tx.execute("UPDATE users SET tenant_id = ? WHERE user_id = ?", (tenant_id, caller.user_id))
            pair = await self.sessions.open(tx, caller.user_id, tenant_id, kind="switch")
        return auth_pb2.SwitchOrganizationResponse(
            access_token=pair.access_token,
            refresh_token=pair.refresh_token,
            token_type="bearer",
            expires_in=pair.expires_in,
            refresh_expires_in=pair.refresh_expires_in,
            organization=model.organization_message(tenant),
        )
