"""Sign-in sessions: token pairs, refresh rotation with reuse detection, revocation.

A session is one sign-in. Its refresh tokens are JWTs of type "refresh" whose
jti must equal the session's current `refresh_jti`; each refresh replaces it in
the same statement that checks it, so of two requests presenting the same
token only one can win. The loser's token is by then a used one: that is
reuse, and it revokes the whole session (the token family), the winner's new
tokens included.

Revocations are written to the `revocations` table, applied at once to this
process's :class:`RevocationSet`, and pushed to every `WatchRevocations`
subscriber (the edge and the other units), which apply them to theirs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agentmesh.v1 import auth_pb2

from services.common.errors import Unauthenticated
from services.common.protoutil import new_id, timestamp
from services.common.settings import Settings
from services.common.storage import Database, Row, Transaction
from services.common.tokens import RevocationSet, TokenError, TokenIssuer, TokenVerifier

log = logging.getLogger("agentmesh.auth.sessions")

# Tenant-role permissions carried in the perms claim, so that units can check
# "may this caller manage the tenant" without asking auth.
TENANT_PERMISSIONS = {
    "owner": ("tenant:read", "tenant:write", "tenant:admin", "tenant:owner"),
    "admin": ("tenant:read", "tenant:write", "tenant:admin"),
    "member": ("tenant:read", "tenant:write"),
    "viewer": ("tenant:read",),
}


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int
    session_id: str


class Sessions:
    """Opens, refreshes and revokes sessions; the only writer of revocations."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        issuer: TokenIssuer,
        verifier: TokenVerifier,
        revocations: RevocationSet,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.settings = settings
        self.issuer = issuer
        self.verifier = verifier
        self.revocations = revocations
        self.clock = clock
        self.access_lifetime = settings.jwt_expiration_minutes * 60
        self.refresh_lifetime = settings.refresh_expiration_days * 86400
        self._subscribers: set[asyncio.Queue[list[auth_pb2.Revocation]]] = set()

    # -- start-up ---------------------------------------------------------

    async def load(self) -> int:
        """Forget expired revocations and apply the rest to this process's set."""
        now = self.clock()
        await self.db.execute("DELETE FROM revocations WHERE expire_at < ?", (now,))
        rows = await self.db.fetch_all("SELECT * FROM revocations ORDER BY revocation_id")
        for row in rows:
            self._apply(row)
        return len(rows)

    # -- issuing ----------------------------------------------------------

    async def claims_for(self, tx: Transaction, user_id: str, tenant_id: str) -> dict[str, Any]:
        """The identity claims of a user acting in a tenant, read fresh from the tables."""
        row = await tx.fetch_one(
            "SELECT u.user_id, u.email, u.role, COALESCE(t.tier, 'free') AS tier, m.role AS member_role"
            " FROM users u LEFT JOIN tenants t ON t.tenant_id = ?"
            " LEFT JOIN memberships m ON m.tenant_id = ? AND m.user_id = u.user_id"
            " WHERE u.user_id = ?",
            (tenant_id, tenant_id, user_id),
        )
        if row is None:
            raise Unauthenticated("the account no longer exists", reason="ACCOUNT_GONE")
        return {
            "sub": row["user_id"],
            "tid": tenant_id,
            "role": row["role"],
            "tier": row["tier"],
            "email": row["email"] or "",
            "perms": TENANT_PERMISSIONS.get(row["member_role"] or "", ()),
        }

    async def open(self, tx: Transaction, user_id: str, tenant_id: str, *, kind: str = "password") -> TokenPair:
        """A new session for the user in the tenant, inside the caller's transaction."""
        now = self.clock()
        session_id = new_id("ses")
        identity = await self.claims_for(tx, user_id, tenant_id)
        access, _ = self.issuer.issue(typ="access", sid=session_id, lifetime=self.access_lifetime, **identity)
        refresh, refresh_claims = self.issuer.issue(
            typ="refresh", sub=user_id, tid=tenant_id, sid=session_id, lifetime=self.refresh_lifetime
        )
        await tx.execute(
            "INSERT INTO sessions (session_id, user_id, tenant_id, refresh_jti, kind, created_at, last_used_at,"
            " expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (session_id, user_id, tenant_id, refresh_claims.jti, kind, now, now, now + self.refresh_lifetime),
        )
        return TokenPair(access, refresh, self.access_lifetime, self.refresh_lifetime, session_id)

    def access_token(self, identity: dict[str, Any], *, session_id: str = "", lifetime: int | None = None) -> str:
        token, _ = self.issuer.issue(
            typ="access", sid=session_id, lifetime=lifetime or self.access_lifetime, **identity
        )
        return token

    # -- refresh ----------------------------------------------------------

    async def refresh(self, refresh_token: str) -> TokenPair:
        """Rotate: the token sent stops working; a used one revokes the session."""
        try:
            claims = self.verifier.verify(refresh_token, typ="refresh")
        except TokenError as exc:
            raise Unauthenticated(f"invalid refresh token: {exc}", reason="INVALID_REFRESH_TOKEN") from exc
        now = self.clock()
        revoked: list[Row] = []
        reused = False
        async with self.db.transaction() as tx:
            session = await tx.fetch_one("SELECT * FROM sessions WHERE session_id = ?", (claims.sid,))
            if session is None or session["revoked_at"] is not None or session["expires_at"] < now:
                raise Unauthenticated("the session has ended; sign in again", reason="SESSION_ENDED")
            new_jti = new_id("rt")
            changed = await tx.execute(
                "UPDATE sessions SET refresh_jti = ?, last_used_at = ?, expires_at = ?"
                " WHERE session_id = ? AND refresh_jti = ? AND revoked_at IS NULL",
                (new_jti, now, now + self.refresh_lifetime, claims.sid, claims.jti),
            )
            if changed != 1:
                reused = True
                _, revoked = await self._revoke_session(tx, claims.sid, "refresh token reuse")
            else:
                user = await tx.fetch_one("SELECT status, deleted_at FROM users WHERE user_id = ?", (claims.sub,))
                if user is None or user["deleted_at"] is not None or user["status"] != "active":
                    reused = True
                    _, revoked = await self._revoke_session(tx, claims.sid, "account not active")
                else:
                    identity = await self.claims_for(tx, claims.sub, session["tenant_id"])
        if reused:
            self._publish(revoked)
            log.warning("refresh token reuse or inactive account; session revoked", extra={"session": claims.sid})
            raise Unauthenticated("the refresh token was already used; the session is revoked", reason="TOKEN_REUSED")
        access = self.access_token(identity, session_id=claims.sid)
        refresh, _ = self.issuer.issue(
            typ="refresh", sub=claims.sub, tid=session["tenant_id"], sid=claims.sid, jti=new_jti,
            lifetime=self.refresh_lifetime,
        )
        return TokenPair(access, refresh, self.access_lifetime, self.refresh_lifetime, claims.sid)

    def session_of(self, refresh_token: str) -> tuple[str, str] | None:
        """(session id, user id) of a valid refresh token; None when it is invalid or already revoked."""
        try:
            claims = self.verifier.verify(refresh_token, typ="refresh")
        except TokenError:
            return None
        return claims.sid, claims.sub

    # -- revocation -------------------------------------------------------
    #
    # Each revocation is written in its own transaction; once that commits it
    # is applied to this process's set and pushed to the subscribers.

    async def revoke_session(self, session_id: str, reason: str) -> int:
        async with self.db.transaction() as tx:
            count, rows = await self._revoke_session(tx, session_id, reason)
        self._publish(rows)
        return count

    async def revoke_user(self, user_id: str, reason: str) -> int:
        """End every session of the user and refuse every token issued to them until now."""
        now = self.clock()
        async with self.db.transaction() as tx:
            count = await tx.execute(
                "UPDATE sessions SET revoked_at = ?, revoked_reason = ? WHERE user_id = ? AND revoked_at IS NULL",
                (now, reason, user_id),
            )
            row = await self._record(tx, "user", user_id, now + max(self.access_lifetime, 3600) + 60)
        self._publish([row])
        return count

    async def revoke_api_key(self, api_key_id: str, user_id: str) -> bool:
        """Mark the caller's key revoked; False when it is unknown or already revoked."""
        now = self.clock()
        async with self.db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE api_key_id = ? AND user_id = ? AND revoked_at IS NULL",
                (now, api_key_id, user_id),
            )
            if not changed:
                return False
            row = await self._record(tx, "api_key", api_key_id, now + 10 * 365 * 86400)
        self._publish([row])
        return True

    async def _revoke_session(self, tx: Transaction, session_id: str, reason: str) -> tuple[int, list[Row]]:
        now = self.clock()
        count = await tx.execute(
            "UPDATE sessions SET revoked_at = ?, revoked_reason = ? WHERE session_id = ? AND revoked_at IS NULL",
            (now, reason, session_id),
        )
        if not count:
            return 0, []
        return count, [await self._record(tx, "session", session_id, now + self.access_lifetime + 60)]

    async def _record(self, tx: Transaction, kind: str, subject: str, expire_at: float) -> Row:
        now = self.clock()
        await tx.execute(
            "INSERT INTO revocations (kind, subject, revoked_at, expire_at) VALUES (?, ?, ?, ?)",
            (kind, subject, now, expire_at),
        )
        return {"kind": kind, "subject": subject, "revoked_at": now, "expire_at": expire_at}

    def _apply(self, row: Row) -> None:
        if row["kind"] == "session":
            self.revocations.revoke_session(row["subject"], row["expire_at"])
        elif row["kind"] == "user":
            self.revocations.revoke_user(row["subject"], row["revoked_at"], row["expire_at"])
        else:
            self.revocations.revoke_api_key(row["subject"], row["expire_at"])

    def _publish(self, rows: list[Row]) -> None:
        if not rows:
            return
        for row in rows:
            self._apply(row)
        batch = [revocation_message(row) for row in rows]
        for queue in list(self._subscribers):
            queue.put_nowait(batch)

    # -- subscribers --------------------------------------------------------

    async def snapshot(self) -> list[auth_pb2.Revocation]:
        rows = await self.db.fetch_all(
            "SELECT * FROM revocations WHERE expire_at >= ? ORDER BY revocation_id", (self.clock(),)
        )
        return [revocation_message(row) for row in rows]

    def subscribe(self) -> asyncio.Queue[list[auth_pb2.Revocation]]:
        queue: asyncio.Queue[list[auth_pb2.Revocation]] = asyncio.Queue()
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[list[auth_pb2.Revocation]]) -> None:
        self._subscribers.discard(queue)


def revocation_message(row: dict[str, Any]) -> auth_pb2.Revocation:
    message = auth_pb2.Revocation(revoked_at=timestamp(row["revoked_at"]), expire_at=timestamp(row["expire_at"]))
    if row["kind"] == "session":
        message.session_id = row["subject"]
    elif row["kind"] == "user":
        message.user_id = row["subject"]
    else:
        message.api_key_id = row["subject"]
    return message


