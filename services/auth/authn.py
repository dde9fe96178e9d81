"""AuthService: credentials in, tokens and principals out."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
from agentmesh.v1 import auth_pb2, common_pb2

from services.auth import model
from services.auth.sessions import Sessions, TokenPair
from services.auth.throttle import LoginThrottle, keys_for
from services.common import authctx, passwords
from services.common.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from services.common.events.publisher import Publisher
from services.common.protoutil import new_id, seconds, struct
from services.common.servicecreds import SERVICE_TOKEN_LIFETIME, service_secret
from services.common.settings import UNITS, Settings
from services.common.storage import Database, Transaction
from services.common.tokens import Keys

log = logging.getLogger("agentmesh.auth")

BAD_CREDENTIALS = "invalid credentials"
BUILTIN_ADMIN = "usr_builtin_admin"
API_KEY_PREFIX = "amk"


class SignIn:
    """Password checks shared by Login and AdminLogin: throttled, constant-shape failures."""

    def __init__(self, db: Database, throttle: LoginThrottle) -> None:
        self.db = db
        self.throttle = throttle

    async def find(self, *, username: str = "", email: str = "", user_id: str = "") -> dict[str, Any] | None:
        if user_id:
            return await self.db.fetch_one(
                "SELECT * FROM users WHERE user_id = ? AND deleted_at IS NULL", (user_id,)
            )
        if email:
            return await self.db.fetch_one(
                "SELECT * FROM users WHERE lower(email) = ? AND deleted_at IS NULL", (model.normalize_email(email),)
            )
        return await self.db.fetch_one(
            "SELECT * FROM users WHERE (lower(username) = ? OR lower(email) = ?) AND deleted_at IS NULL",
            (username.strip().lower(), username.strip().lower()),
        )

    async def verify(self, identifier: str, password: str, user: dict[str, Any] | None) -> dict[str, Any]:
        """The user when the password is right and the account may sign in; UNAUTHENTICATED otherwise.

        The account key is the account found (by id), else what was typed, so that no other field
        of the request can steer the count away from the account whose password is checked.
        """
        account = f"id:{user['user_id']}" if user is not None else f"name:{identifier}"
        keys = keys_for("signin", account, authctx.current().address)
        await self.throttle.attempt(keys)
        encoded = user["password_hash"] if user else None
        if encoded:
            ok = await passwords.verify_password_async(password, encoded)
        else:
            await asyncio.to_thread(passwords.verify_dummy, password)
            ok = False
        if not ok or user is None:
            await self.throttle.failed(keys)
            raise Unauthenticated(BAD_CREDENTIALS, reason="INVALID_CREDENTIALS")
        await self.throttle.succeeded(keys)
        if user["status"] != "active":
            raise PermissionDenied(f"the account is {user['status']}", reason="ACCOUNT_NOT_ACTIVE")
        if passwords.needs_rehash(encoded or ""):
            new_hash = await passwords.hash_password_async(password)
            await self.db.execute("UPDATE users SET password_hash = ? WHERE user_id = ?", (new_hash, user["user_id"]))
        return user


def password_violations(field: str, password: str) -> list[FieldViolation]:
    return [FieldViolation(field, problem) for problem in passwords.check_password_rules(password)]


async def tenant_for_sign_in(tx: Transaction, user: dict[str, Any]) -> str:
    """The user's current tenant, or any tenant they still belong to."""
    if user["tenant_id"]:
        member = await tx.fetch_one(
            "SELECT 1 FROM memberships m JOIN tenants t ON t.tenant_id = m.tenant_id"
            " WHERE m.user_id = ? AND m.tenant_id = ? AND t.deleted_at IS NULL AND t.status = 'active'",
            (user["user_id"], user["tenant_id"]),
        )
        if member:
            return str(user["tenant_id"])
    row = await tx.fetch_one(
        "SELECT m.tenant_id FROM memberships m JOIN tenants t ON t.tenant_id = m.tenant_id"
        " WHERE m.user_id = ? AND t.deleted_at IS NULL AND t.status = 'active'"
        " ORDER BY t.personal DESC, m.joined_at LIMIT 1",
        (user["user_id"],),
    )
    tenant_id = str(row["tenant_id"]) if row else ""
    await tx.execute("UPDATE users SET tenant_id = ? WHERE user_id = ?", (tenant_id or None, user["user_id"]))
    return tenant_id


async def create_account(
    tx: Transaction,
    *,
    email: str,
    username: str,
    password_hash: str | None,
    full_name: str = "",
    role: str = "user",
    status: str = "active",
    organization_name: str = "",
    tier: str = "free",
    tenant_id: str = "",
) -> dict[str, Any]:
    """Insert a user with its tenant membership; a new tenant unless tenant_id names one."""
    now = time.time()
    taken = await tx.fetch_one(
        "SELECT lower(username) = ? AS same_name FROM users"
        " WHERE deleted_at IS NULL AND (lower(username) = ? OR (email IS NOT NULL AND lower(email) = ?))",
        (username.lower(), username.lower(), email or "\x00"),
    )
    if taken is not None:
        field = "username" if taken["same_name"] else "email"
        raise AlreadyExists(f"{field}: an account with this {field} already exists", reason="ACCOUNT_EXISTS")
    user_id = new_id("usr")
    member_role = "member"
    if not tenant_id:
        tenant_id = new_id("org")
        name = organization_name or f"{username}'s workspace"
        slug = model.slugify(name)
        if await tx.fetch_one("SELECT 1 FROM tenants WHERE slug = ? AND deleted_at IS NULL", (slug,)):
            slug = f"{slug[:54]}-{tenant_id[-8:]}"
        await tx.execute(
            "INSERT INTO tenants (tenant_id, name, slug, tier, owner_id, personal, contact_email, created_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (tenant_id, name, slug, tier, user_id, 0 if organization_name else 1, email or "", now, now),
        )
        member_role = "owner"
    await tx.execute(
        "INSERT INTO users (user_id, username, email, full_name, password_hash, role, status, tenant_id,"
        " created_at, updated_at, password_changed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (user_id, username, email or None, full_name, password_hash, role, status, tenant_id, now, now,
         now if password_hash else None),
    )
    await tx.execute(
        "INSERT INTO memberships (tenant_id, user_id, role, joined_at) VALUES (?, ?, ?, ?)",
        (tenant_id, user_id, member_role, now),
    )
    row = await tx.fetch_one(model.USER_SELECT + " WHERE u.user_id = ?", (user_id,))
    assert row is not None
    return row


class AuthServicer:
    def __init__(
        self, db: Database, settings: Settings, keys: Keys, sessions: Sessions, signin: SignIn, events: Publisher
    ) -> None:
        self.events = events
        self.db = db
        self.settings = settings
        self.keys = keys
        self.sessions = sessions
        self.signin = signin

    # -- sign up, sign in ---------------------------------------------------

    async def Register(self, request: auth_pb2.RegisterRequest, context: grpc.aio.ServicerContext) -> Any:
        email = model.normalize_email(request.email)
        username = request.username.strip() or model.username_from_email(email)
        tier = request.tier or "free"
        violations = [
            FieldViolation("email", p) for p in [model.email_problem(email) if email else "is required"] if p
        ]
        violations += [FieldViolation("username", p) for p in [model.username_problem(username)] if p]
        violations += password_violations("password", request.password) if request.password else [
            FieldViolation("password", "is required")
        ]
        violations += [v for v in [model.check_choice("tier", tier, model.TIERS)] if v]
        if len(request.full_name) > 200:
            violations.append(FieldViolation("full_name", "at most 200 characters"))
        if len(request.organization_name) > 200:
            violations.append(FieldViolation("organization_name", "at most 200 characters"))
        model.raise_if(list(violations))
        if tier != "free" and not authctx.current().is_admin:
            raise PermissionDenied("tier: only free accounts can be opened without billing or an admin",
                                   reason="TIER_NOT_ALLOWED")
        password_hash = await passwords.hash_password_async(request.password)
        async with self.db.transaction() as tx:
            user = await create_account(
                tx, email=email, username=username, password_hash=password_hash, full_name=request.full_name.strip(),
                organization_name=request.organization_name.strip(), tier=tier,
            )
            pair = await self.sessions.open(tx, user["user_id"], user["tenant_id"], kind="password")
        log.info("account registered", extra={"user": user["user_id"]})
        event = common_pb2.Event(type="account.registered", tenant_id=user["tenant_id"], subject_id=user["user_id"])
        event.data.update({"user_id": user["user_id"], "username": user["username"]})
        self.events.emit(event)
        return auth_pb2.RegisterResponse(user=model.user_message(user), **_pair_fields(pair))

    async def Login(self, request: auth_pb2.LoginRequest, context: grpc.aio.ServicerContext) -> Any:
        given = [f for f in ("user_id", "email", "username") if getattr(request, f).strip()]  # lookup order
        if not given:
            raise InvalidArgument(
                "one of username, email or user_id is required",
                [FieldViolation(f, "one of username, email or user_id is required")
                 for f in ("username", "email", "user_id")],
            )
        if not request.password:
            raise InvalidArgument.field("password", "is required")
        identifier = getattr(request, given[0]).strip()
        user = await self.signin.find(
            username=request.username, email=request.email, user_id=request.user_id.strip()
        )
        user = await self.signin.verify(identifier, request.password, user)
        return await self._signed_in(user, auth_pb2.LoginResponse, kind="password")

    async def AdminLogin(self, request: auth_pb2.AdminLoginRequest, context: grpc.aio.ServicerContext) -> Any:
        if request.api_key:
            expected = self.settings.admin_api_key
            if not expected:
                raise Unauthenticated("the admin API key sign-in is disabled (ADMIN_API_KEY is not set)",
                                      reason="ADMIN_KEY_DISABLED")
            keys = keys_for("admin-key", "", authctx.current().address)
            await self.signin.throttle.attempt(keys)
            if not hmac.compare_digest(request.api_key.encode(), expected.encode()):
                await self.signin.throttle.failed(keys)
                raise Unauthenticated(BAD_CREDENTIALS, reason="INVALID_CREDENTIALS")
            await self.signin.throttle.succeeded(keys)
            user = await self._builtin_admin()
            return await self._signed_in(user, auth_pb2.AdminLoginResponse, kind="admin_api_key")
        if not request.username or not request.password:
            raise InvalidArgument(
                "username and password, or api_key, are required",
                [FieldViolation("username", "is required without api_key"),
                 FieldViolation("password", "is required without api_key")],
            )
        found = await self.signin.find(username=request.username)
        if found is not None and found["role"] not in ("admin", "superuser"):
            found = None  # same answer as a wrong password: nothing tells which accounts are admins
        user = await self.signin.verify(request.username, request.password, found)
        return await self._signed_in(user, auth_pb2.AdminLoginResponse, kind="admin")

    async def _signed_in(self, user: dict[str, Any], response: Any, *, kind: str) -> Any:
        async with self.db.transaction() as tx:
            tenant_id = await tenant_for_sign_in(tx, user)
            await tx.execute("UPDATE users SET last_login_at = ? WHERE user_id = ?", (time.time(), user["user_id"]))
            pair = await self.sessions.open(tx, user["user_id"], tenant_id, kind=kind)
            fresh = await tx.fetch_one(model.USER_SELECT + " WHERE u.user_id = ?", (user["user_id"],))
        assert fresh is not None
        return response(user=model.user_message(fresh), **_pair_fields(pair))

    async def _builtin_admin(self) -> dict[str, Any]:
        """The account that ADMIN_API_KEY sign-ins act as, created on first use."""
        row = await self.db.fetch_one("SELECT * FROM users WHERE user_id = ?", (BUILTIN_ADMIN,))
        if row is not None:
            return row
        now = time.time()
        async with self.db.transaction() as tx:
            if await tx.fetch_one("SELECT 1 FROM tenants WHERE tenant_id = ?", (model.PLATFORM_TENANT,)) is None:
                await tx.execute(
                    "INSERT INTO tenants (tenant_id, name, slug, tier, owner_id, created_at, updated_at)"
                    " VALUES (?, 'Platform', 'platform', 'enterprise', ?, ?, ?)",
                    (model.PLATFORM_TENANT, BUILTIN_ADMIN, now, now),
                )
            await tx.execute(
                "INSERT OR IGNORE INTO users (user_id, username, full_name, role, status, tenant_id, created_at,"
                " updated_at) VALUES (?, 'platform-admin', 'Platform administrator', 'superuser', 'active', ?, ?, ?)",
                (BUILTIN_ADMIN, model.PLATFORM_TENANT, now, now),
            )
            await tx.execute(
                "INSERT OR IGNORE INTO memberships (tenant_id, user_id, role, joined_at) VALUES (?, ?, 'owner', ?)",
                (model.PLATFORM_TENANT, BUILTIN_ADMIN, now),
            )
        row = await self.db.fetch_one("SELECT * FROM users WHERE user_id = ?", (BUILTIN_ADMIN,))
        assert row is not None
        return row

    # -- tokens -------------------------------------------------------------

    async def RefreshToken(self, request: auth_pb2.RefreshTokenRequest, context: grpc.aio.ServicerContext) -> Any:
        if not request.refresh_token:
            raise InvalidArgument.field("refresh_token", "is required")
        pair = await self.sessions.refresh(request.refresh_token)
        return auth_pb2.RefreshTokenResponse(**_pair_fields(pair))

    async def Logout(self, request: auth_pb2.LogoutRequest, context: grpc.aio.ServicerContext) -> Any:
        caller = authctx.current()
        user_id, session_id = caller.user_id, caller.session_id
        if request.refresh_token:
            found = self.sessions.session_of(request.refresh_token)
            if found is None:
                return auth_pb2.LogoutResponse(revoked_sessions=0)
            session_id, user_id = found
        if request.all_sessions:
            if not user_id:
                raise Unauthenticated("all_sessions needs a refresh token or a bearer token", reason="NO_SESSION")
            return auth_pb2.LogoutResponse(revoked_sessions=await self.sessions.revoke_user(user_id, "logout"))
        if not session_id:
            if caller.authenticated:
                raise FailedPrecondition("this credential has no session to end; send refresh_token",
                                         reason="NO_SESSION")
            raise Unauthenticated("send refresh_token or a bearer token of the session to end", reason="NO_SESSION")
        return auth_pb2.LogoutResponse(revoked_sessions=await self.sessions.revoke_session(session_id, "logout"))

    async def IssueToken(self, request: auth_pb2.IssueTokenRequest, context: grpc.aio.ServicerContext) -> Any:
        caller = authctx.current()
        if caller.api_key_id or caller.role == "service":
            raise PermissionDenied("tokens are issued to signed-in users, not to API keys or services",
                                   reason="NOT_A_SESSION")
        target = request.user_id or caller.user_id
        if target == caller.user_id and not caller.session_id:
            raise PermissionDenied("a token without a session cannot mint another; sign in", reason="NOT_A_SESSION")
        if target != caller.user_id and not caller.is_admin:
            raise PermissionDenied("a token for another user needs the admin role", reason="NOT_ADMIN")
        async with self.db.transaction() as tx:
            user = await tx.fetch_one("SELECT * FROM users WHERE user_id = ? AND deleted_at IS NULL", (target,))
            if user is None:
                raise NotFound(f"user {target} not found")
            if user["status"] != "active":
                raise FailedPrecondition(f"the account is {user['status']}", reason="ACCOUNT_NOT_ACTIVE")
            tenant_id = caller.tenant_id if target == caller.user_id else await tenant_for_sign_in(tx, user)
            identity = await self.sessions.claims_for(tx, target, tenant_id)
        session_id = caller.session_id if target == caller.user_id else ""
        token = self.sessions.access_token(identity, session_id=session_id)
        return auth_pb2.IssueTokenResponse(
            access_token=token, token_type="bearer", expires_in=self.sessions.access_lifetime
        )

    async def GetJwks(self, request: auth_pb2.GetJwksRequest, context: grpc.aio.ServicerContext) -> Any:
        return auth_pb2.GetJwksResponse(keys=[struct(key) for key in self.keys.jwks()])

    async def IssueServiceToken(
        self, request: auth_pb2.IssueServiceTokenRequest, context: grpc.aio.ServicerContext
    ) -> Any:
        if request.service not in UNITS and request.service != "edge":
            raise InvalidArgument.field("service", f"must be one of {', '.join((*UNITS, 'edge'))}")
        keys = keys_for("service-secret", "", authctx.current().address)
        await self.signin.throttle.attempt(keys)
        expected = service_secret(self.settings)
        if not request.secret or not hmac.compare_digest(request.secret.encode(), expected.encode()):
            await self.signin.throttle.failed(keys)
            raise Unauthenticated(BAD_CREDENTIALS, reason="INVALID_CREDENTIALS")
        await self.signin.throttle.succeeded(keys)
        token, _ = self.sessions.issuer.issue(
            typ="access", sub=f"service:{request.service}", role="service", tier="enterprise",
            lifetime=SERVICE_TOKEN_LIFETIME,
        )
        return auth_pb2.IssueServiceTokenResponse(
            access_token=token, token_type="bearer", expires_in=SERVICE_TOKEN_LIFETIME
        )

    # -- API keys and revocations for verifiers -----------------------------

    async def VerifyApiKey(self, request: auth_pb2.VerifyApiKeyRequest, context: grpc.aio.ServicerContext) -> Any:
        key_id, secret = parse_api_key(request.key)
        row = await self.db.fetch_one(
            "SELECT k.*, u.role, u.status, u.email, u.deleted_at, COALESCE(t.tier, 'free') AS tier,"
            " t.status AS tenant_status, t.deleted_at AS tenant_deleted_at"
            " FROM api_keys k JOIN users u ON u.user_id = k.user_id LEFT JOIN tenants t ON t.tenant_id = k.tenant_id"
            " WHERE k.api_key_id = ?",
            (key_id,),
        )
        now = time.time()
        if row is None or not hmac.compare_digest(row["secret_hash"], hash_api_secret(secret)):
            raise NotFound("unknown API key", reason="API_KEY_UNKNOWN")
        if row["revoked_at"] is not None:
            raise PermissionDenied("the API key is revoked", reason="API_KEY_REVOKED")
        if row["expires_at"] is not None and row["expires_at"] <= now:
            raise PermissionDenied("the API key has expired", reason="API_KEY_EXPIRED")
        if row["deleted_at"] is not None or row["status"] != "active":
            raise PermissionDenied("the key's account is not active", reason="ACCOUNT_NOT_ACTIVE")
        if row["tenant_deleted_at"] is not None or row["tenant_status"] != "active":
            raise PermissionDenied("the key's tenant is not active", reason="TENANT_NOT_ACTIVE")
        if row["last_used_at"] is None or now - row["last_used_at"] > 60:
            await self.db.execute("UPDATE api_keys SET last_used_at = ? WHERE api_key_id = ?", (now, key_id))
        role = row["role"] if row["role"] != "superuser" else "admin"
        return auth_pb2.VerifyApiKeyResponse(
            principal=auth_pb2.Principal(
                user_id=row["user_id"], tenant_id=row["tenant_id"], role=role, tier=row["tier"],
                email=row["email"] or "", permissions=json.loads(row["permissions"]), api_key_id=key_id,
            )
        )

    async def WatchRevocations(
        self, request: auth_pb2.WatchRevocationsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[auth_pb2.WatchRevocationsResponse]:
        queue = self.sessions.subscribe()
        try:
            snapshot = await self.sessions.snapshot()
            if request.HasField("since"):
                after = seconds(request.since)
                snapshot = [r for r in snapshot if seconds(r.revoked_at) > after]
            yield auth_pb2.WatchRevocationsResponse(revocations=snapshot, snapshot=True)
            while True:
                batch = await queue.get()
                yield auth_pb2.WatchRevocationsResponse(revocations=batch)
        finally:
            self.sessions.unsubscribe(queue)


def _pair_fields(pair: TokenPair) -> dict[str, Any]:
    return {
        "access_token": pair.access_token,
        "refresh_token": pair.refresh_token,
        "token_type": "bearer",
        "expires_in": pair.expires_in,
        "refresh_expires_in": pair.refresh_expires_in,
    }


def hash_api_secret(secret: str) -> str:
    """API key secrets are 256 random bits, so one SHA-256 is enough to store them safely."""
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_api_key(key: str) -> tuple[str, str]:
    """`amk_<key id>_<secret>` → (key id, secret); anything else is an unknown key."""
    parts = key.strip().split("_")
    if len(parts) != 4 or parts[0] != API_KEY_PREFIX or parts[1] != "key" or not parts[3]:
        raise NotFound("unknown API key", reason="API_KEY_UNKNOWN")
    return f"key_{parts[2]}", parts[3]
