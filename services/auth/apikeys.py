"""ApiKeyService: keys that act for their owner in one tenant, shown once, stored as hashes."""

from __future__ import annotations

import json
import re
import secrets
import time
from typing import Any

import grpc
from agentmesh.v1 import auth_pb2

from services.auth import model
from services.auth.authn import API_KEY_PREFIX, hash_api_secret
from services.auth.sessions import Sessions
from services.common import authctx
from services.common.errors import FieldViolation, NotFound, PermissionDenied
from services.common.paging import page_of
from services.common.protoutil import new_id, seconds
from services.common.storage import Database

MAX_KEYS_PER_USER = 100
_PERMISSION = re.compile(r"^[a-z][a-z0-9_.-]*(:[a-z0-9_.*-]+)*$")


class ApiKeyServicer:
    def __init__(self, db: Database, sessions: Sessions) -> None:
        self.db = db
        self.sessions = sessions

    async def CreateApiKey(self, request: auth_pb2.CreateApiKeyRequest, context: grpc.aio.ServicerContext) -> Any:
        caller = authctx.current()
        if caller.api_key_id:
            raise PermissionDenied(
                "an API key cannot create API keys; sign in with a password", reason="API_KEY_CALLER"
            )
        now = time.time()
        name = request.name.strip()
        violations: list[FieldViolation | None] = []
        if not name or len(name) > 100:
            violations.append(FieldViolation("name", "1 to 100 characters"))
        for i, permission in enumerate(request.permissions):
            if not _PERMISSION.match(permission) or len(permission) > 100:
                violations.append(FieldViolation(f"permissions[{i}]", "a permission such as tasks:read"))
        expires_at = seconds(request.expires_at) if request.HasField("expires_at") else None
        if expires_at is not None and expires_at <= now:
            violations.append(FieldViolation("expires_at", "must be in the future"))
        model.raise_if(violations)
        key_id = new_id("key")
        secret = secrets.token_hex(32)
        full_key = f"{API_KEY_PREFIX}_{key_id}_{secret}"
        async with self.db.transaction() as tx:
            count = await tx.fetch_one(
                "SELECT COUNT(*) AS n FROM api_keys WHERE user_id = ? AND revoked_at IS NULL", (caller.user_id,)
            )
            if count and count["n"] >= MAX_KEYS_PER_USER:
                raise PermissionDenied(f"at most {MAX_KEYS_PER_USER} active API keys per user; revoke one first",
                                       reason="TOO_MANY_KEYS")
            await tx.execute(
                "INSERT INTO api_keys (api_key_id, user_id, tenant_id, name, prefix, last_four, secret_hash,"
                " permissions, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key_id, caller.user_id, caller.tenant_id, name, f"{API_KEY_PREFIX}_{key_id}", secret[-4:],
                 hash_api_secret(secret), json.dumps(sorted(set(request.permissions))), now, expires_at),
            )
            row = await tx.fetch_one("SELECT * FROM api_keys WHERE api_key_id = ?", (key_id,))
        assert row is not None
        return auth_pb2.CreateApiKeyResponse(api_key=model.api_key_message(row), key=full_key)

    async def ListApiKeys(self, request: auth_pb2.ListApiKeysRequest, context: grpc.aio.ServicerContext) -> Any:
        caller = authctx.current()
        page = page_of(request)
        where = "user_id = ?" + ("" if request.include_revoked else " AND revoked_at IS NULL")
        total = await self.db.fetch_one(f"SELECT COUNT(*) AS n FROM api_keys WHERE {where}", (caller.user_id,))
        rows = await self.db.fetch_all(
            f"SELECT * FROM api_keys WHERE {where} ORDER BY created_at DESC, api_key_id LIMIT ? OFFSET ?",
            (caller.user_id, page.limit, page.offset),
        )
        count = int(total["n"]) if total else 0
        return auth_pb2.ListApiKeysResponse(
            api_keys=[model.api_key_message(r) for r in rows], next_page_token=page.next_token(count), total_size=count
        )

    async def RevokeApiKey(self, request: auth_pb2.RevokeApiKeyRequest, context: grpc.aio.ServicerContext) -> Any:
        caller = authctx.current()
        if not await self.sessions.revoke_api_key(request.api_key_id, caller.user_id):
            raise NotFound(f"API key {request.api_key_id} not found")
        return auth_pb2.RevokeApiKeyResponse()
