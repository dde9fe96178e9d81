"""The rules both tenant services share: who sees a tenant, who may change it, and how it is stored.

A tenant is one row of `tenants`; users call it an organization (see
services.auth.organizations), platform admins a client (see
services.auth.clients). Isolation rule: a user sees a tenant only while they
are a member of it (platform admins and superusers may read any); every other
id is NOT_FOUND, whether or not it exists.

Membership roles, highest first: owner (exactly one, `tenants.owner_id`),
admin, member, viewer. Owners and admins manage members; anything that grants
or withdraws the admin role, transfers ownership or deletes the tenant needs the
owner. Platform admins act with the owner's powers in every tenant.

Deleting is soft (`deleted_at`); the slug becomes free again. Members whose
current tenant it was are moved to their personal tenant (or another they
belong to), and the sessions and API keys scoped to it are revoked once the
deletion has committed. Removing a member revokes that user's sessions and API
keys scoped to the tenant; suspending a tenant revokes the sessions scoped to it.

The store operations here run inside the caller's transaction; revocations are
collected there and applied with `revoke` after it has committed.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

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
from services.common.protoutil import new_id
from services.common.storage import Database, Row, Transaction

NAME_MAX = 200
DESCRIPTION_MAX = 2000
# The tenant the built-in ADMIN_API_KEY account acts in (see services.auth.authn); never deleted.

# A tenant row with its number of members (accounts not deleted).
TENANT_SELECT = (
    "SELECT t.*, (SELECT COUNT(*) FROM memberships mc JOIN users uc ON uc.user_id = mc.user_id"
    " WHERE mc.tenant_id = t.tenant_id AND uc.deleted_at IS NULL) AS member_count"
)
MEMBER_SELECT = (
    "SELECT m.tenant_id, m.user_id, m.role, m.invited_by, m.joined_at, u.username, u.email"
    " FROM memberships m JOIN users u ON u.user_id = m.user_id"
)

# Public tenant field name -> SQL expression, for `filter` and `order_by`.
ORGANIZATION_COLUMNS: Mapping[str, str] = {
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
CLIENT_COLUMNS: Mapping[str, str] = {
    **{k: v for k, v in ORGANIZATION_COLUMNS.items() if k != "organization_id"},
    "client_id": "t.tenant_id",
    "contact_email": "t.contact_email",
}


# ---------------------------------------------------------------------------
# Request reading: validation, update masks, filters, ordering.
# ---------------------------------------------------------------------------


def signed_in_caller() -> Caller:
    """The caller, who must be an account: tenants belong to users, never to anonymous calls."""
    caller = authctx.current()
    if not caller.user_id:
        raise Unauthenticated("sign in first", reason="UNAUTHENTICATED")
    return caller




def name_violation(field_name: str, value: str) -> FieldViolation | None:
    """A tenant's name is required and bounded, whichever service writes it."""
    if not value:
        return FieldViolation(field_name, "is required")
    if len(value) > NAME_MAX:
        return FieldViolation(field_name, f"at most {NAME_MAX} characters")
    return None


def slug_violation(field_name: str, value: str) -> FieldViolation | None:
    """Slugs appear in URLs, so they follow model.slug_problem's alphabet."""
    problem = model.slug_problem(value)
    return FieldViolation(field_name, problem) if problem else None


def description_violation(field_name: str, value: str) -> FieldViolation | None:
    """Descriptions may be empty but are bounded."""
    if len(value) > DESCRIPTION_MAX:
        return FieldViolation(field_name, f"at most {DESCRIPTION_MAX} characters")
    return None


def email_violation(field_name: str, value: str) -> FieldViolation | None:
    """An e-mail address is optional, but when given it must be one."""
    problem = model.email_problem(value) if value else None
    return FieldViolation(field_name, problem) if problem else None


def tenant_field_violations(values: Mapping[str, str]) -> list[FieldViolation | None]:
    """The problems with the tenant fields an update names, in one fixed order.

    Shared so that changing a tenant as an organization or as a client rejects
    the same value with the same message.
    """
    checks = {
        "name": name_violation,
        "slug": slug_violation,
        "description": description_violation,
        "tier": lambda f, v: model.check_choice(f, v, model.TIERS),
        "status": lambda f, v: model.check_choice(f, v, model.TENANT_STATUSES),
        "contact_email": email_violation,
    }
    return [check(name, values[name]) for name, check in checks.items() if name in values]


def requested_changes(request: Any, allowed: Sequence[str]) -> dict[str, str]:
    """The fields an update names, with their trimmed values.

    They are the update mask's paths, or when it is empty the optional fields
    present in the request, so that clients without field masks can still send
    partial updates.
    """
    paths = list(request.update_mask.paths)
    if not paths:
        names = [name for name in allowed if request.HasField(name)]
    else:
        unknown = sorted({p for p in paths if p not in allowed})
        if unknown:
            raise InvalidArgument.field(
                "update_mask", f"cannot change {', '.join(unknown)}; updatable fields: {', '.join(allowed)}"
            )
        names = list(dict.fromkeys(paths))
    return {name: getattr(request, name).strip() for name in names}


# ---------------------------------------------------------------------------
# Who sees a tenant and what they may do in it.
# ---------------------------------------------------------------------------


def organization_not_found(tenant_id: str) -> NotFound:
    """The one answer for a tenant that is missing, deleted or not the caller's: nothing tells them apart."""
    return NotFound(f"organization {tenant_id} not found", reason="ORGANIZATION_NOT_FOUND")


async def tenant_row(q: Transaction, tenant_id: str) -> Row | None:
    """A live tenant with its member count, whoever asks; callers decide who may see it."""
    return await q.fetch_one(TENANT_SELECT + " FROM tenants t WHERE t.tenant_id = ? AND t.deleted_at IS NULL",
                             (tenant_id,))


async def visible_tenant(q: Transaction, tenant_id: str, caller: Caller) -> tuple[Row, str]:
    """The tenant and the caller's membership role in it ("" when none).

    NOT_FOUND unless the caller is a member or a platform admin, so that
    nothing tells a stranger whether the id exists.
    """
    row = await q.fetch_one(
        TENANT_SELECT + ", m.role AS caller_role FROM tenants t"
        " LEFT JOIN memberships m ON m.tenant_id = t.tenant_id AND m.user_id = ?"
        " WHERE t.tenant_id = ? AND t.deleted_at IS NULL",
        (caller.user_id, tenant_id),
    )
    if row is None or (not row["caller_role"] and not caller.is_admin):
        raise organization_not_found(tenant_id)
    return row, str(row["caller_role"] or "")


def acting_role(caller: Caller, tenant: Row, member_role: str) -> str:
    """The role the caller acts with in the tenant: platform admins act as its owner."""
    if caller.is_admin or member_role == "owner" or tenant["owner_id"] == caller.user_id:
        return "owner"
    return member_role


def require_manager(powers: str, message: str) -> None:
    """Owners and admins manage a tenant and its members; anyone else is PERMISSION_DENIED."""
    if powers not in ("owner", "admin"):
        raise PermissionDenied(message, reason="ORGANIZATION_ADMIN_REQUIRED")


def require_owner(powers: str, message: str) -> None:
    """The admin role, ownership and deletion are the owner's alone."""
    if powers != "owner":
        raise PermissionDenied(message, reason="OWNER_REQUIRED")


# ---------------------------------------------------------------------------
# Store operations (all inside the caller's transaction).
# ---------------------------------------------------------------------------


@dataclass(slots=True)
class Revocations:
    """What to revoke once a transaction has committed.

    Revoking reaches the revocation list outside the database, so it must not
    happen for a change that then rolls back.
    """

    sessions: list[str] = field(default_factory=list)
    api_keys: list[tuple[str, str]] = field(default_factory=list)


async def member_row(q: Transaction, tenant_id: str, user_id: str) -> Row | None:
    """A membership of a live account; deleted accounts are no longer members."""
    return await q.fetch_one(
        MEMBER_SELECT + " WHERE m.tenant_id = ? AND m.user_id = ? AND u.deleted_at IS NULL", (tenant_id, user_id)
    )


async def required_member(q: Transaction, tenant_id: str, user_id: str) -> Row:
    """The membership a request names, NOT_FOUND when the user is not a member."""
    row = await member_row(q, tenant_id, user_id)
    if row is None:
        raise NotFound(f"user {user_id} is not a member of organization {tenant_id}", reason="MEMBER_NOT_FOUND")
    return row


async def live_user(q: Transaction, user_id: str) -> Row | None:
    """An account that has not been deleted; deleted accounts neither own nor join tenants."""
    return await q.fetch_one("SELECT * FROM users WHERE user_id = ? AND deleted_at IS NULL", (user_id,))


async def _slug_taken(q: Transaction, slug: str, except_tenant: str = "") -> bool:
    row = await q.fetch_one(
        "SELECT 1 FROM tenants WHERE slug = ? AND deleted_at IS NULL AND tenant_id != ?", (slug, except_tenant)
    )
    return row is not None


async def ensure_slug_free(q: Transaction, slug: str, except_tenant: str = "") -> None:
    """ALREADY_EXISTS when a live tenant other than `except_tenant` uses the slug: slugs name one tenant."""
    if await _slug_taken(q, slug, except_tenant):
        raise AlreadyExists(f"slug: {slug!r} is already used by another organization", reason="SLUG_TAKEN",
                            metadata={"field": "slug"})


async def _free_slug(q: Transaction, requested: str, name: str) -> str:
    """The requested slug (ALREADY_EXISTS when taken), or one derived from the name, made unique."""
    if requested:
        await ensure_slug_free(q, requested)
        return requested
    base = model.slugify(name)
    slug = base
    while await _slug_taken(q, slug):
        slug = f"{base[:58].rstrip('-')}-{secrets.token_hex(2)}"
    return slug


async def add_membership(
    tx: Transaction, tenant_id: str, user_id: str, role: str, invited_by: str, joined_at: float
) -> None:
    """A membership; the tenant becomes the user's current one when they have none, so they land somewhere."""
    await tx.execute(
        "INSERT INTO memberships (tenant_id, user_id, role, invited_by, joined_at) VALUES (?, ?, ?, ?, ?)",
        (tenant_id, user_id, role, invited_by, joined_at),
    )
    await tx.execute("UPDATE users SET tenant_id = ? WHERE user_id = ? AND tenant_id IS NULL", (tenant_id, user_id))


async def insert_tenant(
    tx: Transaction,
    *,
    name: str,
    slug: str,
    description: str,
    tier: str,
    status: str,
    contact_email: str,
    owner_id: str,
) -> Row:
    """A new (non-personal) tenant, as read back; its owner, when given, becomes its owner member.

    A blank slug is derived from the name; a given one must be free.
    """
    slug = await _free_slug(tx, slug, name)
    now = time.time()
    tenant_id = new_id("org")
    await tx.execute(
        "INSERT INTO tenants (tenant_id, name, slug, description, tier, status, contact_email, owner_id, personal,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
        (tenant_id, name, slug, description, tier, status, contact_email, owner_id or None, now, now),
    )
    if owner_id:
        await add_membership(tx, tenant_id, owner_id, "owner", invited_by="", joined_at=now)
    row = await tenant_row(tx, tenant_id)
    assert row is not None
    return row


async def update_tenant(tx: Transaction, tenant_id: str, changes: Mapping[str, Any]) -> None:
    """Write the changed columns (keys are trusted column names) and touch `updated_at`; nothing when none."""
    if not changes:
        return
    assignments = ", ".join(f"{column} = ?" for column in changes)
    await tx.execute(
        f"UPDATE tenants SET {assignments}, updated_at = ? WHERE tenant_id = ?",
        (*changes.values(), time.time(), tenant_id),
    )


async def transfer_ownership(tx: Transaction, tenant: Row, new_owner: str) -> None:
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
    await update_tenant(tx, tenant_id, {"owner_id": new_owner})


async def move_off(tx: Transaction, user_id: str, leaving: str) -> None:
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


async def scoped_credentials(tx: Transaction, tenant_id: str, user_id: str = "") -> Revocations:
    """The live sessions and API keys scoped to a tenant (of one user when given)."""
    who = " AND user_id = ?" if user_id else ""
    params: tuple[str, ...] = (tenant_id, user_id) if user_id else (tenant_id,)
    sessions = await tx.fetch_all(
        f"SELECT session_id FROM sessions WHERE tenant_id = ?{who} AND revoked_at IS NULL", params
    )
    keys = await tx.fetch_all(
        f"SELECT api_key_id, user_id FROM api_keys WHERE tenant_id = ?{who} AND revoked_at IS NULL", params
    )
    return Revocations(
        sessions=[r["session_id"] for r in sessions], api_keys=[(r["api_key_id"], r["user_id"]) for r in keys]
    )


async def soft_delete(tx: Transaction, tenant: Row) -> Revocations:
    """Mark the tenant deleted, move its members' current tenant elsewhere, and say what to revoke.

    Personal tenants go only with their account, and the platform tenant never,
    since the built-in admin acts in it.
    """
    tenant_id = tenant["tenant_id"]
    if tenant["personal"]:
        raise FailedPrecondition(
            f"organization {tenant_id} is the personal organization of user {tenant['owner_id']} and is deleted"
            " only with that account",
            reason="PERSONAL_ORGANIZATION",
        )
    if tenant_id == model.PLATFORM_TENANT:
        raise FailedPrecondition("the platform organization cannot be deleted", reason="PLATFORM_ORGANIZATION")
    now = time.time()
    await tx.execute("UPDATE tenants SET deleted_at = ?, updated_at = ? WHERE tenant_id = ?", (now, now, tenant_id))
    for user in await tx.fetch_all("SELECT user_id FROM users WHERE tenant_id = ?", (tenant_id,)):
        await move_off(tx, user["user_id"], tenant_id)
    return await scoped_credentials(tx, tenant_id)


async def revoke(sessions: Sessions, revocations: Revocations, reason: str) -> None:
    """Apply revocations collected inside a transaction, after it committed."""
    for session_id in revocations.sessions:
        await sessions.revoke_session(session_id, reason)
    for api_key_id, user_id in revocations.api_keys:
        await sessions.revoke_api_key(api_key_id, user_id)


async def page(
    db: Database, select: str, count: str, where: list[str], params: list[Any], order: str, request: Any
) -> tuple[list[Row], int, str]:
    """One page of rows, the total over all pages and the next page's token."""
    window = page_of(request)
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    total_row = await db.fetch_one(count + clause, params)
    total = int(total_row["n"]) if total_row else 0
    rows = await db.fetch_all(f"{select}{clause} ORDER BY {order} LIMIT ? OFFSET ?",
                              [*params, window.limit, window.offset])
    return rows, total, window.next_token(total)
