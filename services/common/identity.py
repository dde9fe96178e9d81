"""Who is calling, proven: the bearer token is verified here, in every unit.

Three kinds of caller reach a unit:
- a user with a JWT (forwarded by the edge or sent directly): the caller is
  read from the verified claims; client-sent `x-user-*` metadata is ignored;
- a unit or the edge with a service token acting for a user (an API-key
  request, a task run): the service vouches for the `x-user-*` metadata;
- nobody (no credential): anonymous, served by public methods only.

`authorize` then applies the method's policy option: public, any signed-in
principal, roles, permissions.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from services.common.authctx import Caller
from services.common.errors import PermissionDenied, Unauthenticated
from services.common.policy import MethodInfo
from services.common.tokens import TokenError, TokenVerifier


def _values(metadata: Iterable[tuple[str, str | bytes]] | None) -> dict[str, str]:
    values: dict[str, str] = {}
    for key, value in metadata or ():
        if isinstance(value, str):
            values[key] = value
    return values


def _address(values: dict[str, str], peer: str) -> str:
    forwarded = values.get("x-forwarded-for", "")
    if forwarded:
        return forwarded.split(",", 1)[0].strip()
    # grpc peers look like ipv4:127.0.0.1:5050 or ipv6:[::1]:5050
    kind, _, rest = peer.partition(":")
    host = rest.rsplit(":", 1)[0] if kind in ("ipv4", "ipv6") else rest
    return host.strip("[]")


class Authenticator:
    def __init__(self, verifier: TokenVerifier) -> None:
        self.verifier = verifier

    def caller(self, metadata: Iterable[tuple[str, str | bytes]] | None, peer: str = "") -> Caller:
        values = _values(metadata)
        request_id = values.get("x-request-id", "")[:128] or uuid.uuid4().hex
        address = _address(values, peer)
        raw = values.get("authorization", "")
        if not raw:
            return Caller(request_id=request_id, address=address)
        scheme, _, token = raw.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("authorization must be 'Bearer <token>'", reason="BAD_AUTHORIZATION")
        try:
            claims = self.verifier.verify(token)
        except TokenError as exc:
            raise Unauthenticated(f"invalid token: {exc}", reason=f"TOKEN_{exc.reason.upper()}") from exc
        if claims.role == "service" and values.get("x-user-id"):
            return self._delegated(values, token, request_id, address, claims.sub)
        return Caller(
            user_id=claims.sub,
            tenant_id=claims.tid,
            role=claims.role,
            tier=claims.tier,
            email=claims.email,
            permissions=claims.perms,
            request_id=request_id,
            token=token,
            session_id=claims.sid,
            address=address,
        )

    def _delegated(self, values: dict[str, str], token: str, request_id: str, address: str, service: str) -> Caller:
        api_key_id = values.get("x-api-key-id", "")
        if api_key_id and self.verifier.revocations is not None and self.verifier.revocations.api_key_revoked(
            api_key_id
        ):
            raise Unauthenticated("the API key is revoked", reason="API_KEY_REVOKED")
        role = values.get("x-user-role", "user")
        if role == "service":
            role = "user"  # a service vouches for users, it cannot mint another service
        permissions = frozenset(p.strip() for p in values.get("x-user-permissions", "").split(",") if p.strip())
        return Caller(
            user_id=values["x-user-id"],
            tenant_id=values.get("x-client-id", ""),
            role=role,
            tier=values.get("x-user-tier", ""),
            email=values.get("x-user-email", ""),
            permissions=permissions,
            request_id=request_id,
            token=token,
            api_key_id=api_key_id,
            address=address,
            via_service=service,
        )


def authorize(caller: Caller, info: MethodInfo | None) -> None:
    """Apply the method's policy; methods outside the contracts are for signed-in callers."""
    if info is not None and info.policy.public:
        return
    if not caller.authenticated:
        raise Unauthenticated("authentication required: send 'Authorization: Bearer <token>'",
                              reason="NO_CREDENTIALS")
    if info is None:
        return
    policy = info.policy
    if caller.via_service and "service" in policy.roles:
        return  # a unit acting for a user, on a method units may call
    if not policy.allows_role(caller.role):
        raise PermissionDenied(
            f"this needs the role {' or '.join(sorted(policy.roles))}; you are {caller.role or 'without a role'}",
            reason="ROLE_REQUIRED",
        )
    if caller.role not in ("admin", "superuser"):
        missing = policy.permissions - caller.permissions
        if missing:
            raise PermissionDenied(f"missing permission: {', '.join(sorted(missing))}", reason="PERMISSION_REQUIRED")
