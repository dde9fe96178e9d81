"""UserService (the caller's own account, the tenant's users) and UserAdminService (every account)."""

from __future__ import annotations

import json
import time
from typing import Any

import grpc
from agentmesh.v1 import auth_pb2, common_pb2

from services.auth import model
from services.auth.authn import create_account, password_violations
from services.auth.sessions import Sessions
from services.common import authctx, passwords
from services.common.errors import (
    AlreadyExists,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from services.common.events.publisher import Publisher
from services.common.paging import page_of
from services.common.protoutil import struct, struct_dict
from services.common.storage import Database, IntegrityError, Transaction

MAX_SETTINGS_BYTES = 64 * 1024


async def _me(db: Database | Transaction) -> dict[str, Any]:
    caller = authctx.current()
    row = await db.fetch_one(model.USER_SELECT + " WHERE u.user_id = ? AND u.deleted_at IS NULL", (caller.user_id,))
    if row is None:
        raise Unauthenticated("the account no longer exists", reason="ACCOUNT_GONE")
    return row


def _mask_allows(request: Any, field: str) -> bool:
    """A field is written when present, and named by update_mask when one is given."""
    if not request.HasField(field):
        return False
    return not request.update_mask.paths or field in request.update_mask.paths


async def _apply_profile(
    tx: Transaction, user_id: str, changes: dict[str, Any], violations: list[FieldViolation]
) -> None:
    """Validate and write username/email/full_name changes; uniqueness is part of validation."""
    if "username" in changes:
        problem = model.username_problem(changes["username"])
        if problem:
            violations.append(FieldViolation("username", problem))
    if "email" in changes:
        changes["email"] = model.normalize_email(changes["email"])
        problem = model.email_problem(changes["email"])
        if problem:
            violations.append(FieldViolation("email", problem))
    if len(changes.get("full_name", "")) > 200:
        violations.append(FieldViolation("full_name", "at most 200 characters"))
    model.raise_if(list(violations))
    for field in ("username", "email"):
        if field in changes:
            clash = await tx.fetch_one(
                f"SELECT 1 FROM users WHERE lower({field}) = ? AND user_id != ? AND deleted_at IS NULL",
                (changes[field].lower(), user_id),
            )
            if clash:
                raise AlreadyExists(f"{field}: an account with this {field} already exists", reason="ACCOUNT_EXISTS")
    if changes:
        sets = ", ".join(f"{k} = ?" for k in changes)
        try:
            await tx.execute(
                f"UPDATE users SET {sets}, updated_at = ? WHERE user_id = ?", (*changes.values(), time.time(), user_id)
            )
        except IntegrityError as exc:
            raise AlreadyExists("username or email already taken", reason="ACCOUNT_EXISTS") from exc


def account_event(kind: str, row: dict[str, Any], *, private: bool = False, **data: Any) -> common_pb2.Event:
    """An `account.*` event for the account's tenant; `private` ones reach only the account's owner (and admins)."""
    event = common_pb2.Event(type=kind, tenant_id=row["tenant_id"] or "", subject_id=row["user_id"],
                             user_id=row["user_id"] if private else "")
    event.data.update({"user_id": row["user_id"], "username": row["username"] or "", **data})
    return event


class UserServicer:
    def __init__(self, db: Database, sessions: Sessions, events: Publisher) -> None:
        self.db = db
        self.sessions = sessions
        self.events = events

    async def GetMe(self, request: auth_pb2.GetMeRequest, context: grpc.aio.ServicerContext) -> Any:
        return auth_pb2.GetMeResponse(user=model.user_message(await _me(self.db)))

    async def UpdateMe(self, request: auth_pb2.UpdateMeRequest, context: grpc.aio.ServicerContext) -> Any:
        unknown = set(request.update_mask.paths) - {"username", "email", "full_name"}
        if unknown:
            raise InvalidArgument.field("update_mask", f"unknown or read-only fields: {', '.join(sorted(unknown))}")
        fields = ("username", "email", "full_name")
        changes = {f: getattr(request, f).strip() for f in fields if _mask_allows(request, f)}
        async with self.db.transaction() as tx:
            me = await _me(tx)
            if "email" in changes and model.normalize_email(changes["email"]) != (me["email"] or ""):
                changes["email_verified"] = 0
            await _apply_profile(tx, me["user_id"], changes, [])
            row = await _me(tx)
        return auth_pb2.UpdateMeResponse(user=model.user_message(row))

    async def DeleteMe(self, request: auth_pb2.DeleteMeRequest, context: grpc.aio.ServicerContext) -> Any:
        me = await _me(self.db)
        await soft_delete(self.db, self.sessions, me["user_id"], reason="account deleted by its owner")
        self.events.emit(account_event("account.deleted", me, by="owner"))
        return auth_pb2.DeleteMeResponse()

    async def ChangePassword(self, request: auth_pb2.ChangePasswordRequest, context: grpc.aio.ServicerContext) -> Any:
        violations = password_violations("new_password", request.new_password) if request.new_password else [
            FieldViolation("new_password", "is required")
        ]
        if not request.current_password:
            violations.append(FieldViolation("current_password", "is required"))
        if request.new_password and request.new_password == request.current_password:
            violations.append(FieldViolation("new_password", "must differ from the current password"))
        model.raise_if(list(violations))
        me = await _me(self.db)
        if not me["password_hash"] or not await passwords.verify_password_async(
            request.current_password, me["password_hash"]
        ):
            raise PermissionDenied("current_password is wrong", reason="WRONG_PASSWORD")
        new_hash = await passwords.hash_password_async(request.new_password)
        now = time.time()
        await self.db.execute(
            "UPDATE users SET password_hash = ?, password_changed_at = ?, updated_at = ? WHERE user_id = ?",
            (new_hash, now, now, me["user_id"]),
        )
        revoked = await self.sessions.revoke_user(me["user_id"], "password changed")
        self.events.emit(account_event("account.password_changed", me, private=True))
        return auth_pb2.ChangePasswordResponse(revoked_sessions=revoked)

    async def GetMySettings(self, request: auth_pb2.GetMySettingsRequest, context: grpc.aio.ServicerContext) -> Any:
        return auth_pb2.GetMySettingsResponse(settings=struct((await _me(self.db))["settings"]))

    async def UpdateMySettings(
        self, request: auth_pb2.UpdateMySettingsRequest, context: grpc.aio.ServicerContext
    ) -> Any:
        if not request.HasField("settings"):
            raise InvalidArgument.field("settings", "is required")
        incoming = struct_dict(request.settings)
        async with self.db.transaction() as tx:
            me = await _me(tx)
            current = json.loads(me["settings"])
            if request.update_mask.paths:
                for path in request.update_mask.paths:
                    key = path.split(".", 1)[0]
                    if key in incoming:
                        current[key] = incoming[key]
                    else:
                        current.pop(key, None)
            else:
                current.update(incoming)
            text = json.dumps(current, separators=(",", ":"), sort_keys=True)
            if len(text.encode()) > MAX_SETTINGS_BYTES:
                raise InvalidArgument.field("settings", f"at most {MAX_SETTINGS_BYTES} bytes of JSON")
            await tx.execute(
                "UPDATE users SET settings = ?, updated_at = ? WHERE user_id = ?", (text, time.time(), me["user_id"])
            )
        return auth_pb2.UpdateMySettingsResponse(settings=struct(current))

    async def ListUsers(self, request: auth_pb2.ListUsersRequest, context: grpc.aio.ServicerContext) -> Any:
        caller = authctx.current()
        where = ["u.deleted_at IS NULL", "u.user_id IN (SELECT user_id FROM memberships WHERE tenant_id = ?)"]
        params: list[Any] = [caller.tenant_id]
        _filters(request, where, params)
        return await _list_users(self.db, request, where, params, auth_pb2.ListUsersResponse)

    async def GetUser(self, request: auth_pb2.GetUserRequest, context: grpc.aio.ServicerContext) -> Any:
        caller = authctx.current()
        row = await self.db.fetch_one(
            model.USER_SELECT + " WHERE u.user_id = ? AND u.deleted_at IS NULL AND (? OR u.user_id IN"
            " (SELECT user_id FROM memberships WHERE tenant_id = ?))",
            (request.user_id, caller.is_admin, caller.tenant_id),
        )
        if row is None:
            raise NotFound(f"user {request.user_id} not found")
        return auth_pb2.GetUserResponse(user=model.user_message(row))


class UserAdminServicer:
    def __init__(self, db: Database, sessions: Sessions, events: Publisher) -> None:
        self.db = db
        self.sessions = sessions
        self.events = events

    async def AdminListUsers(self, request: auth_pb2.AdminListUsersRequest, context: grpc.aio.ServicerContext) -> Any:
        where = ["u.deleted_at IS NULL"]
        params: list[Any] = []
        _filters(request, where, params)
        if request.tenant_id:
            where.append("u.user_id IN (SELECT user_id FROM memberships WHERE tenant_id = ?)")
            params.append(request.tenant_id)
        return await _list_users(self.db, request, where, params, auth_pb2.AdminListUsersResponse)

    async def AdminGetUserStats(
        self, request: auth_pb2.AdminGetUserStatsRequest, context: grpc.aio.ServicerContext
    ) -> Any:
        where, params = "deleted_at IS NULL", []
        if request.tenant_id:
            where += " AND user_id IN (SELECT user_id FROM memberships WHERE tenant_id = ?)"
            params.append(request.tenant_id)
        rows = await self.db.fetch_all(f"SELECT status, COUNT(*) AS n FROM users WHERE {where} GROUP BY status", params)
        counts = {r["status"]: r["n"] for r in rows}
        return auth_pb2.AdminGetUserStatsResponse(
            total_users=sum(counts.values()),
            active_users=counts.get("active", 0),
            blocked_users=counts.get("blocked", 0),
            inactive_users=counts.get("inactive", 0),
        )

    async def AdminGetUser(self, request: auth_pb2.AdminGetUserRequest, context: grpc.aio.ServicerContext) -> Any:
        return auth_pb2.AdminGetUserResponse(user=model.user_message(await self._get(self.db, request.user_id)))

    async def AdminCreateUser(
        self, request: auth_pb2.AdminCreateUserRequest, context: grpc.aio.ServicerContext
    ) -> Any:
        role = request.role or "user"
        status = request.status or "active"
        tier = request.tier or "free"
        email = model.normalize_email(request.email)
        violations: list[FieldViolation | None] = [
            FieldViolation("username", p) for p in [model.username_problem(request.username.strip())] if p
        ]
        if email and model.email_problem(email):
            violations.append(FieldViolation("email", model.email_problem(email) or ""))
        if request.password:
            violations += password_violations("password", request.password)
        violations += [
            model.check_choice("role", role, model.PLATFORM_ROLES),
            model.check_choice("status", status, model.ACCOUNT_STATUSES),
            model.check_choice("tier", tier, model.TIERS),
        ]
        model.raise_if(violations)
        _may_grant(role)
        password_hash = await passwords.hash_password_async(request.password) if request.password else None
        async with self.db.transaction() as tx:
            if request.tenant_id and not await tx.fetch_one(
                "SELECT 1 FROM tenants WHERE tenant_id = ? AND deleted_at IS NULL", (request.tenant_id,)
            ):
                raise InvalidArgument.field("tenant_id", "no such tenant")
            row = await create_account(
                tx, email=email, username=request.username.strip(), password_hash=password_hash,
                full_name=request.full_name.strip(), role=role, status=status, tier=tier, tenant_id=request.tenant_id,
            )
        return auth_pb2.AdminCreateUserResponse(user=model.user_message(row))

    async def AdminUpdateUser(
        self, request: auth_pb2.AdminUpdateUserRequest, context: grpc.aio.ServicerContext
    ) -> Any:
        fields = ("username", "email", "full_name", "role", "status", "password")
        unknown = set(request.update_mask.paths) - set(fields)
        if unknown:
            raise InvalidArgument.field("update_mask", f"unknown or read-only fields: {', '.join(sorted(unknown))}")
        changes = {f: getattr(request, f) for f in fields if _mask_allows(request, f)}
        violations: list[FieldViolation | None] = []
        if "role" in changes:
            violations.append(model.check_choice("role", changes["role"], model.PLATFORM_ROLES))
        if "status" in changes:
            violations.append(model.check_choice("status", changes["status"], model.ACCOUNT_STATUSES))
        password = changes.pop("password", None)
        if password is not None:
            violations += password_violations("password", password)
        model.raise_if(violations)
        if "role" in changes:
            _may_grant(changes["role"])
        new_hash = await passwords.hash_password_async(password) if password is not None else None
        async with self.db.transaction() as tx:
            before = await self._get(tx, request.user_id)
            if before["role"] == "superuser" and authctx.current().role != "superuser":
                raise PermissionDenied("only a superuser changes a superuser", reason="NOT_SUPERUSER")
            profile = {k: v.strip() for k, v in changes.items() if k in ("username", "email", "full_name")}
            await _apply_profile(tx, request.user_id, profile, [])
            for field in ("role", "status"):
                if field in changes:
                    await tx.execute(
                        f"UPDATE users SET {field} = ? WHERE user_id = ?", (changes[field], request.user_id)
                    )
            if new_hash is not None:
                now = time.time()
                await tx.execute(
                    "UPDATE users SET password_hash = ?, password_changed_at = ?, updated_at = ? WHERE user_id = ?",
                    (new_hash, now, now, request.user_id),
                )
            after = await self._get(tx, request.user_id)
        if new_hash is not None or any(before[f] != after[f] for f in ("role", "status")):
            # New role, a block or a new password: tokens issued before say otherwise, so they go.
            await self.sessions.revoke_user(request.user_id, "changed by an administrator")
        changed = {f: after[f] for f in ("role", "status") if before[f] != after[f]}
        if changed:
            self.events.emit(account_event("account.status.changed", after, **changed))
        return auth_pb2.AdminUpdateUserResponse(user=model.user_message(after))

    async def AdminDeleteUser(
        self, request: auth_pb2.AdminDeleteUserRequest, context: grpc.aio.ServicerContext
    ) -> Any:
        row = await self._get(self.db, request.user_id)
        if row["role"] == "superuser" and authctx.current().role != "superuser":
            raise PermissionDenied("only a superuser deletes a superuser", reason="NOT_SUPERUSER")
        if row["user_id"] == authctx.current().user_id:
            raise PermissionDenied("administrators cannot delete their own account here; use DeleteMe",
                                   reason="SELF_DELETE")
        await soft_delete(self.db, self.sessions, request.user_id, reason="deleted by an administrator")
        self.events.emit(account_event("account.deleted", row, by="administrator"))
        return auth_pb2.AdminDeleteUserResponse()

    @staticmethod
    async def _get(db: Database | Transaction, user_id: str) -> dict[str, Any]:
        row = await db.fetch_one(model.USER_SELECT + " WHERE u.user_id = ? AND u.deleted_at IS NULL", (user_id,))
        if row is None:
            raise NotFound(f"user {user_id} not found")
        return row


def _may_grant(role: str) -> None:
    if role == "superuser" and authctx.current().role != "superuser":
        raise PermissionDenied("only a superuser grants the superuser role", reason="NOT_SUPERUSER")


def _filters(request: Any, where: list[str], params: list[Any]) -> None:
    if request.role:
        where.append("u.role = ?")
        params.append(request.role)
    if request.status:
        where.append("u.status = ?")
        params.append(request.status)
    if request.search:
        where.append("(lower(u.username) LIKE ? ESCAPE '\\' OR lower(COALESCE(u.email, '')) LIKE ? ESCAPE '\\'"
                     " OR lower(u.full_name) LIKE ? ESCAPE '\\')")
        needle = "%" + request.search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        params += [needle, needle, needle]
    if request.filter:
        raise InvalidArgument.field("filter", "is not supported here yet; use role, status and search")


_ORDERS = {"created_at": "u.created_at", "username": "lower(u.username)", "email": "lower(u.email)",
           "last_login_at": "u.last_login_at"}


def _order(text: str) -> str:
    if not text:
        return "u.created_at DESC, u.user_id"
    parts = text.strip().split()
    column = _ORDERS.get(parts[0])
    direction = parts[1].upper() if len(parts) > 1 else "ASC"
    if column is None or direction not in ("ASC", "DESC") or len(parts) > 2:
        raise InvalidArgument.field("order_by", f"one of {', '.join(_ORDERS)}, optionally followed by asc or desc")
    return f"{column} {direction}, u.user_id"


async def _list_users(db: Database, request: Any, where: list[str], params: list[Any], response: Any) -> Any:
    page = page_of(request)
    clause = " AND ".join(where)
    order = _order(request.order_by)
    total = await db.fetch_one(f"SELECT COUNT(*) AS n FROM users u WHERE {clause}", params)
    rows = await db.fetch_all(
        f"{model.USER_SELECT} WHERE {clause} ORDER BY {order} LIMIT ? OFFSET ?", (*params, page.limit, page.offset)
    )
    count = int(total["n"]) if total else 0
    return response(users=[model.user_message(r) for r in rows], next_page_token=page.next_token(count),
                    total_size=count)


async def soft_delete(db: Database, sessions: Sessions, user_id: str, *, reason: str) -> None:
    """Keep the row for audit, free the username and e-mail, end every session and API key."""
    now = time.time()
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE users SET deleted_at = ?, status = 'inactive', updated_at = ?, password_hash = NULL"
            " WHERE user_id = ? AND deleted_at IS NULL",
            (now, now, user_id),
        )
        keys = await tx.fetch_all("SELECT api_key_id FROM api_keys WHERE user_id = ? AND revoked_at IS NULL",
                                  (user_id,))
    await sessions.revoke_user(user_id, reason)
    for key in keys:  # published too, so the edge's key cache lets go at once
        await sessions.revoke_api_key(key["api_key_id"], user_id)
