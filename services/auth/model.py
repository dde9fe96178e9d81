"""The auth unit's vocabulary: allowed values, validation, and rows turned into messages."""

from __future__ import annotations

import json
import re
from typing import Any

from agentmesh.v1 import auth_pb2

from services.common.errors import FieldViolation
from services.common.errors import raise_if as raise_if  # the unit's modules take it from here
from services.common.protoutil import timestamp

PLATFORM_ROLES = ("user", "moderator", "admin", "superuser")
ACCOUNT_STATUSES = ("active", "blocked", "inactive")
TIERS = ("free", "pro", "enterprise")
MEMBER_ROLES = ("owner", "admin", "member", "viewer")
TENANT_STATUSES = ("active", "suspended")
# The tenant of the built-in administrator that ADMIN_API_KEY sign-ins act as; it is never deleted.
PLATFORM_TENANT = "org_platform"

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$")
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def normalize_email(value: str) -> str:
    return value.strip().lower()


def email_problem(value: str) -> str | None:
    if len(value) > 254 or not _EMAIL.match(value):
        return "must be an e-mail address such as alice@example.com"
    return None


def username_problem(value: str) -> str | None:
    if not _USERNAME.match(value):
        return "2 to 64 letters, digits, dots, dashes or underscores, starting with a letter or digit"
    return None


def username_from_email(email: str) -> str:
    local = re.sub(r"[^A-Za-z0-9._-]", "", email.split("@", 1)[0])[:60]
    return local if len(local) >= 2 else f"user{local}"


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:63].strip("-")
    return slug or "org"


def slug_problem(value: str) -> str | None:
    if not _SLUG.match(value):
        return "lower-case letters, digits and dashes, at most 63, not starting or ending with a dash"
    return None


def check_choice(field: str, value: str, allowed: tuple[str, ...]) -> FieldViolation | None:
    if value not in allowed:
        return FieldViolation(field, f"must be one of {', '.join(allowed)}")
    return None


def user_message(row: dict[str, Any], tier: str = "") -> auth_pb2.User:
    return auth_pb2.User(
        user_id=row["user_id"],
        username=row["username"],
        email=row["email"] or "",
        full_name=row["full_name"],
        role=row["role"],
        status=row["status"],
        tier=tier or row.get("tier") or "free",
        tenant_id=row["tenant_id"] or "",
        email_verified=bool(row["email_verified"]),
        created_at=timestamp(row["created_at"]),
        updated_at=timestamp(row["updated_at"]),
        last_login_at=timestamp(row["last_login_at"]),
    )


def organization_message(row: dict[str, Any]) -> auth_pb2.Organization:
    return auth_pb2.Organization(
        organization_id=row["tenant_id"],
        name=row["name"],
        slug=row["slug"],
        description=row["description"],
        tier=row["tier"],
        status=row["status"],
        owner_id=row["owner_id"] or "",
        member_count=int(row.get("member_count") or 0),
        created_at=timestamp(row["created_at"]),
        updated_at=timestamp(row["updated_at"]),
    )


def client_message(row: dict[str, Any]) -> auth_pb2.Client:
    return auth_pb2.Client(
        client_id=row["tenant_id"],
        name=row["name"],
        slug=row["slug"],
        description=row["description"],
        tier=row["tier"],
        status=row["status"],
        contact_email=row["contact_email"],
        owner_id=row["owner_id"] or "",
        member_count=int(row.get("member_count") or 0),
        created_at=timestamp(row["created_at"]),
        updated_at=timestamp(row["updated_at"]),
    )


def membership_message(row: dict[str, Any]) -> auth_pb2.Membership:
    return auth_pb2.Membership(
        organization_id=row["tenant_id"],
        user_id=row["user_id"],
        username=row.get("username") or "",
        email=row.get("email") or "",
        role=row["role"],
        invited_by=row["invited_by"],
        joined_at=timestamp(row["joined_at"]),
    )


def api_key_message(row: dict[str, Any]) -> auth_pb2.ApiKey:
    return auth_pb2.ApiKey(
        api_key_id=row["api_key_id"],
        name=row["name"],
        prefix=row["prefix"],
        last_four=row["last_four"],
        permissions=json.loads(row["permissions"]),
        user_id=row["user_id"],
        tenant_id=row["tenant_id"],
        created_at=timestamp(row["created_at"]),
        expires_at=timestamp(row["expires_at"]),
        last_used_at=timestamp(row["last_used_at"]),
        revoked_at=timestamp(row["revoked_at"]),
    )


# A user row joined with the tier of its current tenant.
USER_SELECT = (
    "SELECT u.*, COALESCE(t.tier, 'free') AS tier FROM users u LEFT JOIN tenants t ON t.tenant_id = u.tenant_id"
)
