"""OrganizationService and ClientAdminService: tenants, their members, and the admins' view of them.

A tenant is one row of `tenants`; users call it an organization, platform
admins a client. Isolation rule: a user sees a tenant only while they are a
member of it (platform admins and superusers may read any); every other id is
NOT_FOUND, whether or not it exists.

Membership roles, highest first: owner (exactly one, `tenants.owner_id`),
admin, member, viewer. Owners and admins manage members; anything that grants
or withdraws the admin role, transfers ownership or deletes the tenant needs the
owner. Platform admins act with the owner's powers in every tenant.

Deleting is soft (`deleted_at`); the slug becomes free again. Members whose
current tenant it was are moved to their personal tenant (or another they
belong to), and the sessions and API keys scoped to it are revoked once the
deletion has committed. Removing a member revokes that user's sessions and API
keys scoped to the tenant; suspending a tenant revokes the sessions scoped to it.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from agentmesh.v1 import auth_pb2

from services.auth import model
from services.auth.sessions import Sessions
from services.common import authctx
from services.common.authctx import Caller
from services.common.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from services.common.paging import page_of
from services.common.protoutil import new_id, timestamp
from services.common.storage import Database, Row, Transaction

log = logging.getLogger("agentmesh.auth.tenants")

NAME_MAX = 200
DESCRIPTION_MAX = 2000
# The tenant the built-in ADMIN_API_KEY account acts in (see services.auth.authn); never deleted.
PLATFORM_TENANT = "org_platform"
_ROLE_RANK = {"owner": 0, "admin": 1, "member": 2, "viewer": 3}
_ADDABLE_ROLES = ("admin", "member", "viewer")

# A tenant row with its number of members (accounts not deleted).
_TENANT_SELECT = (
    "SELECT t.*, (SELECT COUNT(*) FROM memberships mc JOIN users uc ON uc.user_id = mc.user_id"
    " WHERE mc.tenant_id = t.tenant_id AND uc.deleted_at IS NULL) AS member_count"
)
_MEMBER_SELECT = (
    "SELECT m.tenant_id, m.user_id, m.role, m.invited_by, m.joined_at, u.username, u.email"
    " FROM memberships m JOIN users u ON u.user_id = m.user_id"
)

# Public field name -> SQL expression, for `filter` and `order_by`.
_ORGANIZATION_COLUMNS: Mapping[str, str] = {
    "organization_id": "t.tenant_id",
    "name": "t.name",
    "slug": "t.slug",
    "description": "t.description",
    "tier": "t.tier",
    "status": "t.status",
    "owner_id": "t.owner_id",
    "created_at": "t.created_at",
    "updated_at": "t.updated_at",
}
_CLIENT_COLUMNS: Mapping[str, str] = {
    **{k: v for k, v in _ORGANIZATION_COLUMNS.items() if k != "organization_id"},
    "client_id": "t.tenant_id",
    "contact_email": "t.contact_email",
}
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


# ---------------------------------------------------------------------------
# Request reading: validation, update masks, filters, ordering.
# ---------------------------------------------------------------------------


def _caller() -> Caller:
    caller = authctx.current()
    if not caller.user_id:
        raise Unauthenticated("sign in first", reason="UNAUTHENTICATED")
    return caller


def _required_id(field_name: str, value: str) -> str:
    value = value.strip()
    if not value:
        raise InvalidArgument.field(field_name, "is required")
    return value


def _name_violation(field_name: str, value: str) -> FieldViolation | None:
    if not value:
        return FieldViolation(field_name, "is required")
    if len(value) > NAME_MAX:
        return FieldViolation(field_name, f"at most {NAME_MAX} characters")
    return None


def _slug_violation(field_name: str, value: str) -> FieldViolation | None:
    problem = model.slug_problem(value)
    return FieldViolation(field_name, problem) if problem else None


def _description_violation(field_name: str, value: str) -> FieldViolation | None:
    if len(value) > DESCRIPTION_MAX:
        return FieldViolation(field_name, f"at most {DESCRIPTION_MAX} characters")
    return None


def _email_violation(field_name: str, value: str) -> FieldViolation | None:
    problem = model.email_problem(value) if value else None
    return FieldViolation(field_name, problem) if problem else None


def _fields_to_change(request: Any, allowed: Sequence[str]) -> list[str]:
    """The update mask's paths, or when it is empty the optional fields present in the request."""
    paths = list(request.update_mask.paths)
    if not paths:
        return [name for name in allowed if request.HasField(name)]
    unknown = sorted({p for p in paths if p not in allowed})
    if unknown:
        raise InvalidArgument.field(
            "update_mask", f"cannot change {', '.join(unknown)}; updatable fields: {', '.join(allowed)}"
        )
    return list(dict.fromkeys(paths))


_FILTER_TERM = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*(!=|=|:)\s*("(?:[^"\\]|\\.)*"|[^\s"]+)')


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def _like(value: str) -> str:
    escaped = value.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _filter_sql(expression: str, columns: Mapping[str, str]) -> tuple[list[str], list[Any]]:
    """`field=value`, `field!=value` and `field:value` (contains) terms joined by AND."""
    clauses: list[str] = []
    params: list[Any] = []
    expression = expression.strip()
    if not expression:
        return clauses, params
    for term in re.split(r"\s+AND\s+", expression):
        match = _FILTER_TERM.fullmatch(term.strip())
        if match is None:
            raise InvalidArgument.field(
                "filter", f'cannot read {term.strip()!r}; write terms such as tier="pro" joined by AND'
            )
        name, operator, value = match.groups()
        column = columns.get(_snake(name))
        if column is None:
            raise InvalidArgument.field(
                "filter", f"unknown field {name!r}; filterable fields: {', '.join(sorted(columns))}"
            )
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        if operator == ":":
            clauses.append(f"lower(COALESCE({column}, '')) LIKE ? ESCAPE '\\'")
            params.append(_like(value))
        elif operator == "=":
            clauses.append(f"{column} = ?")
            params.append(value)
        else:
            clauses.append(f"({column} IS NULL OR {column} != ?)")
            params.append(value)
    return clauses, params


def _order_sql(expression: str, columns: Mapping[str, str], default: str, tie_breaker: str) -> str:
    """SQL ORDER BY terms for `field [asc|desc], ...`; unknown fields are INVALID_ARGUMENT."""
    if not expression.strip():
        return f"{default}, {tie_breaker}"
    terms = []
    for item in expression.split(","):
        words = item.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise InvalidArgument.field("order_by", f"cannot read {item.strip()!r}; write e.g. 'name' or 'name desc'")
        column = columns.get(_snake(words[0]))
        if column is None:
            raise InvalidArgument.field(
                "order_by", f"unknown field {words[0]!r}; sortable fields: {', '.join(sorted(columns))}"
            )
        direction = "DESC" if len(words) == 2 and words[1].lower() == "desc" else "ASC"
        terms.append(f"{column} {direction}")
    return ", ".join([*terms, tie_breaker])


# ---------------------------------------------------------------------------
# Store operations shared by both services (all inside the caller's transaction).
# ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Revocations:
    """What to revoke once a transaction has committed."""

    sessions: list[str] = field(default_factory=list)
    api_keys: list[tuple[str, str]] = field(default_factory=list)


async def _tenant(q: Transaction, tenant_id: str) -> Row | None:
    return await q.fetch_one(_TENANT_SELECT + " FROM tenants t WHERE t.tenant_id = ? AND t.deleted_at IS NULL",
                             (tenant_id,))


async def _visible_tenant(q: Transaction, tenant_id: str, caller: Caller) -> tuple[Row, str]:
    """The tenant and the caller's membership role in it ("" when none).

    NOT_FOUND unless the caller is a member or a platform admin, so that
    nothing tells a stranger whether the id exists.
    """
    row = await q.fetch_one(
        _TENANT_SELECT + ", m.role AS caller_role FROM tenants t"
        " LEFT JOIN memberships m ON m.tenant_id = t.tenant_id AND m.user_id = ?"
        " WHERE t.tenant_id = ? AND t.deleted_at IS NULL",
        (caller.user_id, tenant_id),
    )
    if row is None or (not row["caller_role"] and not caller.is_admin):
        raise NotFound(f"organization {tenant_id} not found", reason="ORGANIZATION_NOT_FOUND")
    return row, str(row["caller_role"] or "")


def _powers(caller: Caller, tenant: Row, member_role: str) -> str:
    """The role the caller acts with in the tenant: platform admins act as its owner."""
    if caller.is_admin or member_role == "owner" or tenant["owner_id"] == caller.user_id:
        return "owner"
    return member_role


async def _member(q: Transaction, tenant_id: str, user_id: str) -> Row | None:
    return await q.fetch_one(
        _MEMBER_SELECT + " WHERE m.tenant_id = ? AND m.user_id = ? AND u.deleted_at IS NULL", (tenant_id, user_id)
    )


async def _live_user(q: Transaction, user_id: str) -> Row | None:
    return await q.fetch_one("SELECT * FROM users WHERE user_id = ? AND deleted_at IS NULL", (user_id,))


async def _slug_taken(q: Transaction, slug: str, except_tenant: str = "") -> bool:
    row = await q.fetch_one(
        "SELECT 1 FROM tenants WHERE slug = ? AND deleted_at IS NULL AND tenant_id != ?", (slug, except_tenant)
    )
    return row is not None


async def _free_slug(q: Transaction, requested: str, name: str, field_name: str) -> str:
    """The requested slug (ALREADY_EXISTS when taken), or one derived from the name, made unique."""
    if requested:
        if await _slug_taken(q, requested):
            raise AlreadyExists(f"{field_name}: {requested!r} is already used by another organization",
                                reason="SLUG_TAKEN", metadata={"field": field_name})
        return requested
    base = model.slugify(name)
    slug = base
    while await _slug_taken(q, slug):
        slug = f"{base[:58].rstrip('-')}-{secrets.token_hex(2)}"
    return slug


async def _insert_tenant(
    tx: Transaction,
    *,
    name: str,
    slug: str,
    description: str,
    tier: str,
    status: str,
    contact_email: str,
    owner_id: str,
) -> str:
    """A new (non-personal) tenant; its owner, when given, becomes its owner member."""
    now = time.time()
    tenant_id = new_id("org")
    await tx.execute(
        "INSERT INTO tenants (tenant_id, name, slug, description, tier, status, contact_email, owner_id, personal,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
        (tenant_id, name, slug, description, tier, status, contact_email, owner_id or None, now, now),
    )
    if owner_id:
        await tx.execute(
            "INSERT INTO memberships (tenant_id, user_id, role, invited_by, joined_at) VALUES (?, ?, 'owner', '', ?)",
            (tenant_id, owner_id, now),
        )
        await tx.execute("UPDATE users SET tenant_id = ? WHERE user_id = ? AND tenant_id IS NULL",
                         (tenant_id, owner_id))
    return tenant_id


async def _update_tenant(tx: Transaction, tenant_id: str, changes: Mapping[str, Any]) -> None:
    if not changes:
        return
    assignments = ", ".join(f"{column} = ?" for column in changes)
    await tx.execute(
        f"UPDATE tenants SET {assignments}, updated_at = ? WHERE tenant_id = ?",
        (*changes.values(), time.time(), tenant_id),
    )


async def _transfer_ownership(tx: Transaction, tenant: Row, new_owner: str) -> None:
    """new_owner (already a member) becomes the owner; the previous owner stays on as admin."""
    if tenant["personal"]:
        raise FailedPrecondition(
            f"organization {tenant['tenant_id']} is the personal organization of its owner and cannot change owner",
            reason="PERSONAL_ORGANIZATION",
        )
    tenant_id = tenant["tenant_id"]
    await tx.execute("UPDATE memberships SET role = 'admin' WHERE tenant_id = ? AND role = 'owner' AND user_id != ?",
                     (tenant_id, new_owner))
    await tx.execute("UPDATE memberships SET role = 'owner' WHERE tenant_id = ? AND user_id = ?",
                     (tenant_id, new_owner))
    await _update_tenant(tx, tenant_id, {"owner_id": new_owner})


async def _move_off(tx: Transaction, user_id: str, leaving: str) -> None:
    """Give a user whose current tenant is `leaving` another current tenant: their personal one, else any."""
    row = await tx.fetch_one(
        "SELECT m.tenant_id FROM memberships m JOIN tenants t ON t.tenant_id = m.tenant_id"
        " WHERE m.user_id = ? AND m.tenant_id != ? AND t.deleted_at IS NULL"
        " ORDER BY (t.personal = 1 AND t.owner_id = m.user_id) DESC, t.personal DESC, m.joined_at, m.tenant_id"
        " LIMIT 1",
        (user_id, leaving),
    )
    await tx.execute(
        "UPDATE users SET tenant_id = ? WHERE user_id = ? AND tenant_id = ?",
        (row["tenant_id"] if row else None, user_id, leaving),
    )


async def _scoped_credentials(tx: Transaction, tenant_id: str, user_id: str = "") -> _Revocations:
    """The live sessions and API keys scoped to a tenant (of one user when given)."""
    who = " AND user_id = ?" if user_id else ""
    params: tuple[str, ...] = (tenant_id, user_id) if user_id else (tenant_id,)
    sessions = await tx.fetch_all(
        f"SELECT session_id FROM sessions WHERE tenant_id = ?{who} AND revoked_at IS NULL", params
    )
    keys = await tx.fetch_all(
        f"SELECT api_key_id, user_id FROM api_keys WHERE tenant_id = ?{who} AND revoked_at IS NULL", params
    )
    return _Revocations(
        sessions=[r["session_id"] for r in sessions], api_keys=[(r["api_key_id"], r["user_id"]) for r in keys]
    )


async def _soft_delete(tx: Transaction, tenant: Row) -> _Revocations:
    tenant_id = tenant["tenant_id"]
    if tenant["personal"]:
        raise FailedPrecondition(
            f"organization {tenant_id} is the personal organization of user {tenant['owner_id']} and is deleted"
            " only with that account",
            reason="PERSONAL_ORGANIZATION",
        )
    if tenant_id == PLATFORM_TENANT:
        raise FailedPrecondition("the platform organization cannot be deleted", reason="PLATFORM_ORGANIZATION")
    now = time.time()
    await tx.execute("UPDATE tenants SET deleted_at = ?, updated_at = ? WHERE tenant_id = ?", (now, now, tenant_id))
    for user in await tx.fetch_all("SELECT user_id FROM users WHERE tenant_id = ?", (tenant_id,)):
        await _move_off(tx, user["user_id"], tenant_id)
    return await _scoped_credentials(tx, tenant_id)


async def _revoke(sessions: Sessions, revocations: _Revocations, reason: str) -> None:
    """Apply revocations collected inside a transaction, after it committed."""
    for session_id in revocations.sessions:
        await sessions.revoke_session(session_id, reason)
    for api_key_id, user_id in revocations.api_keys:
        await sessions.revoke_api_key(api_key_id, user_id)


async def _page(
    db: Database, select: str, count: str, where: list[str], params: list[Any], order: str, request: Any
) -> tuple[list[Row], int, str]:
    """One page of rows, the total over all pages and the next page's token."""
    page = page_of(request)
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    total_row = await db.fetch_one(count + clause, params)
    total = int(total_row["n"]) if total_row else 0
    rows = await db.fetch_all(f"{select}{clause} ORDER BY {order} LIMIT ? OFFSET ?",
                              [*params, page.limit, page.offset])
    return rows, total, page.next_token(total)


# ---------------------------------------------------------------------------
# OrganizationService
# ---------------------------------------------------------------------------


class Organizations:
    """agentmesh.v1.OrganizationService: the caller's tenants and their members."""

    def __init__(self, db: Database, sessions: Sessions) -> None:
        self.db = db
        self.sessions = sessions

    async def _organization(self, tenant_id: str) -> auth_pb2.Organization:
        row = await _tenant(self.db, tenant_id)
        if row is None:
            raise NotFound(f"organization {tenant_id} not found", reason="ORGANIZATION_NOT_FOUND")
        return model.organization_message(row)

    async def ListOrganizations(
        self, request: auth_pb2.ListOrganizationsRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.ListOrganizationsResponse:
        caller = _caller()
        where = ["m.user_id = ?", "t.deleted_at IS NULL"]
        params: list[Any] = [caller.user_id]
        search = request.search.strip()
        if search:
            where.append("(lower(t.name) LIKE ? ESCAPE '\\' OR lower(t.slug) LIKE ? ESCAPE '\\')")
            params += [_like(search)] * 2
        clauses, values = _filter_sql(request.filter, _ORGANIZATION_COLUMNS)
        where += clauses
        params += values
        order = _order_sql(request.order_by, _ORGANIZATION_COLUMNS, "t.created_at ASC", "t.tenant_id ASC")
        join = " FROM tenants t JOIN memberships m ON m.tenant_id = t.tenant_id"
        rows, total, token = await _page(
            self.db, _TENANT_SELECT + join, "SELECT COUNT(*) AS n" + join, where, params, order, request
        )
        return auth_pb2.ListOrganizationsResponse(
            organizations=[model.organization_message(r) for r in rows], next_page_token=token, total_size=total
        )

    async def CreateOrganization(
        self, request: auth_pb2.CreateOrganizationRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.CreateOrganizationResponse:
        caller = _caller()
        name = request.name.strip()
        slug = request.slug.strip()
        description = request.description.strip()
        tier = request.tier.strip() or "free"
        model.raise_if([
            _name_violation("name", name),
            _slug_violation("slug", slug) if slug else None,
            _description_violation("description", description),
            model.check_choice("tier", tier, model.TIERS),
        ])
        if tier != "free" and not caller.is_admin:
            raise PermissionDenied(
                f"tier: a {tier} organization needs billing or a platform admin; create it on free and upgrade",
                reason="TIER_NOT_ALLOWED",
            )
        async with self.db.transaction() as tx:
            user = await _live_user(tx, caller.user_id)
            if user is None:
                raise Unauthenticated("the account no longer exists", reason="ACCOUNT_GONE")
            slug = await _free_slug(tx, slug, name, "slug")
            tenant_id = await _insert_tenant(
                tx, name=name, slug=slug, description=description, tier=tier, status="active",
                contact_email=user["email"] or "", owner_id=caller.user_id,
            )
            row = await _tenant(tx, tenant_id)
        assert row is not None
        log.info("organization created", extra={"tenant": tenant_id, "user": caller.user_id})
        return auth_pb2.CreateOrganizationResponse(organization=model.organization_message(row))

    async def GetOrganization(
        self, request: auth_pb2.GetOrganizationRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.GetOrganizationResponse:
        caller = _caller()
        tenant_id = _required_id("organization_id", request.organization_id)
        row, _ = await _visible_tenant(self.db, tenant_id, caller)
        return auth_pb2.GetOrganizationResponse(organization=model.organization_message(row))

    async def UpdateOrganization(
        self, request: auth_pb2.UpdateOrganizationRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.UpdateOrganizationResponse:
        caller = _caller()
        tenant_id = _required_id("organization_id", request.organization_id)
        fields = _fields_to_change(request, ("name", "slug", "description"))
        values = {f: getattr(request, f).strip() for f in fields}
        model.raise_if([
            _name_violation("name", values["name"]) if "name" in values else None,
            _slug_violation("slug", values["slug"]) if "slug" in values else None,
            _description_violation("description", values["description"]) if "description" in values else None,
        ])
        async with self.db.transaction() as tx:
            tenant, member_role = await _visible_tenant(tx, tenant_id, caller)
            if _powers(caller, tenant, member_role) not in ("owner", "admin"):
                raise PermissionDenied("changing the organization needs the owner or admin role in it",
                                       reason="ORGANIZATION_ADMIN_REQUIRED")
            changes = {f: v for f, v in values.items() if v != tenant[f]}
            if "slug" in changes:
                await _check_slug_free(tx, changes["slug"], tenant_id)
            await _update_tenant(tx, tenant_id, changes)
        return auth_pb2.UpdateOrganizationResponse(organization=await self._organization(tenant_id))

    async def DeleteOrganization(
        self, request: auth_pb2.DeleteOrganizationRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.DeleteOrganizationResponse:
        caller = _caller()
        tenant_id = _required_id("organization_id", request.organization_id)
        async with self.db.transaction() as tx:
            tenant, member_role = await _visible_tenant(tx, tenant_id, caller)
            if _powers(caller, tenant, member_role) != "owner":
                raise PermissionDenied("only the organization's owner can delete it", reason="OWNER_REQUIRED")
            revocations = await _soft_delete(tx, tenant)
        log.info("organization deleted", extra={"tenant": tenant_id, "user": caller.user_id})
        await _revoke(self.sessions, revocations, "organization deleted")
        return auth_pb2.DeleteOrganizationResponse()

    # -- members ------------------------------------------------------------

    async def ListMembers(
        self, request: auth_pb2.ListMembersRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.ListMembersResponse:
        caller = _caller()
        tenant_id = _required_id("organization_id", request.organization_id)
        role = request.role.strip()
        model.raise_if([model.check_choice("role", role, model.MEMBER_ROLES) if role else None])
        clauses, values = _filter_sql(request.filter, _MEMBER_COLUMNS)
        order = _order_sql(request.order_by, _MEMBER_ORDER, "m.joined_at ASC", "m.user_id ASC")
        await _visible_tenant(self.db, tenant_id, caller)
        where = ["m.tenant_id = ?", "u.deleted_at IS NULL", *clauses]
        params: list[Any] = [tenant_id, *values]
        if role:
            where.append("m.role = ?")
            params.append(role)
        join = " FROM memberships m JOIN users u ON u.user_id = m.user_id"
        rows, total, token = await _page(
            self.db, _MEMBER_SELECT, "SELECT COUNT(*) AS n" + join, where, params, order, request
        )
        return auth_pb2.ListMembersResponse(
            members=[model.membership_message(r) for r in rows], next_page_token=token, total_size=total
        )

    async def AddMember(
        self, request: auth_pb2.AddMemberRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.AddMemberResponse:
        caller = _caller()
        tenant_id = _required_id("organization_id", request.organization_id)
        user_id = request.user_id.strip()
        email = model.normalize_email(request.email)
        role = request.role.strip() or "member"
        problems = [
            _email_violation("email", email),
            model.check_choice("role", role, _ADDABLE_ROLES) if role != "owner" else FieldViolation(
                "role", "a new member cannot be the owner; add them, then transfer ownership with UpdateMember"
            ),
        ]
        if not user_id and not email:
            problems += [FieldViolation("user_id", "give user_id or email"),
                         FieldViolation("email", "give user_id or email")]
        model.raise_if(problems)
        async with self.db.transaction() as tx:
            tenant, member_role = await _visible_tenant(tx, tenant_id, caller)
            powers = _powers(caller, tenant, member_role)
            if powers not in ("owner", "admin"):
                raise PermissionDenied("adding members needs the owner or admin role in the organization",
                                       reason="ORGANIZATION_ADMIN_REQUIRED")
            if role == "admin" and powers != "owner":
                raise PermissionDenied("only the organization's owner can grant the admin role",
                                       reason="OWNER_REQUIRED")
            if user_id:
                user = await _live_user(tx, user_id)
                if user is not None and email and (user["email"] or "").lower() != email:
                    raise InvalidArgument.field("email", "does not belong to the user named by user_id")
            else:
                user = await tx.fetch_one(
                    "SELECT * FROM users WHERE lower(email) = ? AND deleted_at IS NULL", (email,)
                )
            if user is None:
                raise NotFound(f"user {user_id or email} not found", reason="USER_NOT_FOUND")
            if await _member(tx, tenant_id, user["user_id"]) is not None:
                raise AlreadyExists(f"user {user['user_id']} is already a member of organization {tenant_id}",
                                    reason="ALREADY_MEMBER")
            await tx.execute(
                "INSERT INTO memberships (tenant_id, user_id, role, invited_by, joined_at) VALUES (?, ?, ?, ?, ?)",
                (tenant_id, user["user_id"], role, caller.user_id, time.time()),
            )
            await tx.execute("UPDATE users SET tenant_id = ? WHERE user_id = ? AND tenant_id IS NULL",
                             (tenant_id, user["user_id"]))
            member = await _member(tx, tenant_id, user["user_id"])
        assert member is not None
        log.info("member added", extra={"tenant": tenant_id, "user": user["user_id"], "by": caller.user_id})
        return auth_pb2.AddMemberResponse(member=model.membership_message(member))

    async def UpdateMember(
        self, request: auth_pb2.UpdateMemberRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.UpdateMemberResponse:
        caller = _caller()
        tenant_id = _required_id("organization_id", request.organization_id)
        user_id = _required_id("user_id", request.user_id)
        fields = _fields_to_change(request, ("role",))
        role = request.role.strip() if "role" in fields else ""
        if fields:
            model.raise_if([model.check_choice("role", role, model.MEMBER_ROLES)])
        async with self.db.transaction() as tx:
            tenant, member_role = await _visible_tenant(tx, tenant_id, caller)
            target = await _member(tx, tenant_id, user_id)
            if target is None:
                raise NotFound(f"user {user_id} is not a member of organization {tenant_id}",
                               reason="MEMBER_NOT_FOUND")
            if fields and role != target["role"]:
                powers = _powers(caller, tenant, member_role)
                if powers not in ("owner", "admin"):
                    raise PermissionDenied("changing roles needs the owner or admin role in the organization",
                                           reason="ORGANIZATION_ADMIN_REQUIRED")
                if role == "owner":
                    if powers != "owner":
                        raise PermissionDenied("only the organization's owner can transfer ownership",
                                               reason="OWNER_REQUIRED")
                    await _transfer_ownership(tx, tenant, user_id)
                elif target["role"] == "owner":
                    raise FailedPrecondition(
                        "the owner's role changes only by transferring ownership: make another member the owner",
                        reason="OWNER_ROLE_FIXED",
                    )
                else:
                    if "admin" in (role, target["role"]) and powers != "owner":
                        raise PermissionDenied("only the organization's owner can grant or withdraw the admin role",
                                               reason="OWNER_REQUIRED")
                    await tx.execute("UPDATE memberships SET role = ? WHERE tenant_id = ? AND user_id = ?",
                                     (role, tenant_id, user_id))
                target = await _member(tx, tenant_id, user_id)
        assert target is not None
        return auth_pb2.UpdateMemberResponse(member=model.membership_message(target))

    async def RemoveMember(
        self, request: auth_pb2.RemoveMemberRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.RemoveMemberResponse:
        caller = _caller()
        tenant_id = _required_id("organization_id", request.organization_id)
        user_id = _required_id("user_id", request.user_id)
        async with self.db.transaction() as tx:
            tenant, member_role = await _visible_tenant(tx, tenant_id, caller)
            target = await _member(tx, tenant_id, user_id)
            if target is None:
                raise NotFound(f"user {user_id} is not a member of organization {tenant_id}",
                               reason="MEMBER_NOT_FOUND")
            if target["role"] == "owner":
                raise FailedPrecondition(
                    "the owner cannot leave or be removed; transfer ownership first, or delete the organization",
                    reason="OWNER_CANNOT_LEAVE",
                )
            if user_id != caller.user_id:
                powers = _powers(caller, tenant, member_role)
                if powers not in ("owner", "admin"):
                    raise PermissionDenied("removing members needs the owner or admin role in the organization",
                                           reason="ORGANIZATION_ADMIN_REQUIRED")
                if target["role"] == "admin" and powers != "owner":
                    raise PermissionDenied("only the organization's owner can remove an admin",
                                           reason="OWNER_REQUIRED")
            await tx.execute("DELETE FROM memberships WHERE tenant_id = ? AND user_id = ?", (tenant_id, user_id))
            await _move_off(tx, user_id, tenant_id)
            revocations = await _scoped_credentials(tx, tenant_id, user_id)
        log.info("member removed", extra={"tenant": tenant_id, "user": user_id, "by": caller.user_id})
        await _revoke(self.sessions, revocations, "removed from organization")
        return auth_pb2.RemoveMemberResponse()

    async def SwitchOrganization(
        self, request: auth_pb2.SwitchOrganizationRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.SwitchOrganizationResponse:
        caller = _caller()
        tenant_id = _required_id("organization_id", request.organization_id)
        if caller.api_key_id:
            raise PermissionDenied("an API key stays scoped to its organization; sign in to switch",
                                   reason="API_KEY_CANNOT_SWITCH")
        async with self.db.transaction() as tx:
            tenant, member_role = await _visible_tenant(tx, tenant_id, caller)
            if not member_role:
                raise FailedPrecondition(f"you are not a member of organization {tenant_id}", reason="NOT_A_MEMBER")
            if tenant["status"] != "active":
                raise FailedPrecondition(f"organization {tenant_id} is {tenant['status']}",
                                         reason="ORGANIZATION_SUSPENDED")
            user = await _live_user(tx, caller.user_id)
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


async def _check_slug_free(tx: Transaction, slug: str, tenant_id: str) -> None:
    if await _slug_taken(tx, slug, tenant_id):
        raise AlreadyExists(f"slug: {slug!r} is already used by another organization", reason="SLUG_TAKEN",
                            metadata={"field": "slug"})


# ---------------------------------------------------------------------------
# ClientAdminService
# ---------------------------------------------------------------------------


class Clients:
    """agentmesh.v1.ClientAdminService: every tenant, as platform admins see it."""

    def __init__(self, db: Database, sessions: Sessions) -> None:
        self.db = db
        self.sessions = sessions

    @staticmethod
    def _admin() -> Caller:
        caller = _caller()
        if not caller.is_admin:
            raise PermissionDenied("managing clients needs the admin role", reason="ADMIN_REQUIRED")
        return caller

    @staticmethod
    async def _client_row(q: Transaction, client_id: str) -> Row:
        row = await _tenant(q, client_id)
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
        search = request.search.strip()
        if search:
            where.append("(lower(t.name) LIKE ? ESCAPE '\\' OR lower(t.slug) LIKE ? ESCAPE '\\'"
                         " OR lower(t.contact_email) LIKE ? ESCAPE '\\')")
            params += [_like(search)] * 3
        clauses, values = _filter_sql(request.filter, _CLIENT_COLUMNS)
        where += clauses
        params += values
        order = _order_sql(request.order_by, _CLIENT_COLUMNS, "t.created_at DESC", "t.tenant_id ASC")
        rows, total, token = await _page(
            self.db, _TENANT_SELECT + " FROM tenants t", "SELECT COUNT(*) AS n FROM tenants t", where, params, order,
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
            _name_violation("name", name),
            _slug_violation("slug", slug) if slug else None,
            _description_violation("description", description),
            model.check_choice("tier", tier, model.TIERS),
            model.check_choice("status", status, model.TENANT_STATUSES),
            _email_violation("contact_email", contact_email),
        ])
        async with self.db.transaction() as tx:
            if owner_id:
                owner = await _live_user(tx, owner_id)
                if owner is None:
                    raise NotFound(f"owner_id: user {owner_id} not found", reason="USER_NOT_FOUND",
                                   metadata={"field": "owner_id"})
                contact_email = contact_email or (owner["email"] or "")
            slug = await _free_slug(tx, slug, name, "slug")
            tenant_id = await _insert_tenant(
                tx, name=name, slug=slug, description=description, tier=tier, status=status,
                contact_email=contact_email, owner_id=owner_id,
            )
            row = await _tenant(tx, tenant_id)
        assert row is not None
        log.info("client created", extra={"tenant": tenant_id, "by": caller.user_id})
        return auth_pb2.AdminCreateClientResponse(client=model.client_message(row))

    async def AdminGetClient(
        self, request: auth_pb2.AdminGetClientRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.AdminGetClientResponse:
        self._admin()
        client_id = _required_id("client_id", request.client_id)
        return auth_pb2.AdminGetClientResponse(client=model.client_message(await self._client_row(self.db, client_id)))

    async def AdminUpdateClient(
        self, request: auth_pb2.AdminUpdateClientRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.AdminUpdateClientResponse:
        caller = self._admin()
        client_id = _required_id("client_id", request.client_id)
        fields = _fields_to_change(
            request, ("name", "slug", "description", "tier", "status", "contact_email", "owner_id")
        )
        values = {f: getattr(request, f).strip() for f in fields}
        if "contact_email" in values:
            values["contact_email"] = model.normalize_email(values["contact_email"])
        model.raise_if([
            _name_violation("name", values["name"]) if "name" in values else None,
            _slug_violation("slug", values["slug"]) if "slug" in values else None,
            _description_violation("description", values["description"]) if "description" in values else None,
            model.check_choice("tier", values["tier"], model.TIERS) if "tier" in values else None,
            model.check_choice("status", values["status"], model.TENANT_STATUSES) if "status" in values else None,
            _email_violation("contact_email", values["contact_email"]) if "contact_email" in values else None,
            FieldViolation("owner_id", "must name a member") if values.get("owner_id") == "" else None,
        ])
        revocations = _Revocations()
        async with self.db.transaction() as tx:
            tenant = await self._client_row(tx, client_id)
            changes = {f: v for f, v in values.items() if v != (tenant[f] or "")}
            new_owner = changes.pop("owner_id", None)
            if "slug" in changes:
                await _check_slug_free(tx, changes["slug"], client_id)
            if new_owner is not None:
                member = await _member(tx, client_id, new_owner)
                if member is None:
                    raise FailedPrecondition(f"owner_id: user {new_owner} is not a member of client {client_id};"
                                             " add them first", reason="NOT_A_MEMBER", metadata={"field": "owner_id"})
                await _transfer_ownership(tx, tenant, new_owner)
            await _update_tenant(tx, client_id, changes)
            if changes.get("status") == "suspended":
                revocations.sessions = (await _scoped_credentials(tx, client_id)).sessions
        if changes:
            log.info("client changed", extra={"tenant": client_id, "by": caller.user_id, "fields": sorted(changes)})
        await _revoke(self.sessions, revocations, "organization suspended")
        row = await self._client_row(self.db, client_id)
        return auth_pb2.AdminUpdateClientResponse(client=model.client_message(row))

    async def AdminDeleteClient(
        self, request: auth_pb2.AdminDeleteClientRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.AdminDeleteClientResponse:
        caller = self._admin()
        client_id = _required_id("client_id", request.client_id)
        async with self.db.transaction() as tx:
            tenant = await self._client_row(tx, client_id)
            revocations = await _soft_delete(tx, tenant)
        log.info("client deleted", extra={"tenant": client_id, "by": caller.user_id})
        await _revoke(self.sessions, revocations, "organization deleted")
        return auth_pb2.AdminDeleteClientResponse()

    async def AdminGetClientStats(
        self, request: auth_pb2.AdminGetClientStatsRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.AdminGetClientStatsResponse:
        self._admin()
        client_id = _required_id("client_id", request.client_id)
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
