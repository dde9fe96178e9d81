"""Who is calling the edge, and what the units are told about it.

Three credentials are accepted:
- `Authorization: Bearer <JWT>`: verified here with the shared verifier (the
  same code every unit runs), revocations followed from the auth unit;
- `X-API-Key: amk_...`: resolved by the auth unit's VerifyApiKey, cached for a
  short while; the edge then calls units with its own service token, vouching
  for the key's owner;
- `X-API-Key: <ADMIN_API_KEY>` (seed 000's admin key): acts as the built-in
  platform administrator, through a token the auth unit issues for it.

The method's policy option then decides (public, signed in, roles,
permissions). Client-sent `x-user-*` headers never reach a unit: the metadata
forwarded is built here from the verified principal only.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import grpc
from agentmesh.v1 import auth_pb2, auth_pb2_grpc

from services.common.authctx import Caller
from services.common.errors import DomainError, PermissionDenied, Unauthenticated, Unavailable
from services.common.identity import Authenticator, authorize
from services.common.policy import MethodInfo
from services.common.servicecreds import RenewingToken, ServiceCredentials
from services.common.tokens import Claims, RevocationSet, TokenError

API_KEY_CACHE_SECONDS = 30.0
API_KEY_CACHE_SIZE = 10_000
BEARER_CACHE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class Identity:
    """The verified caller and the metadata that carries it to a unit."""

    caller: Caller
    metadata: tuple[tuple[str, str], ...]


def _principal_metadata(caller: Caller) -> list[tuple[str, str]]:
    """The caller's identity keys only: the credential and request id are forwarded separately."""
    return [(k, v) for k, v in caller.metadata() if k.startswith("x-") and k != "x-request-id"]


class ApiKeyResolver:
    """API key → principal through the auth unit, cached by the key's hash for a short while."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        credentials: ServiceCredentials,
        revocations: RevocationSet,
        *,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stub = auth_pb2_grpc.AuthServiceStub(channel)
        self._credentials = credentials
        self._revocations = revocations
        self._timeout = timeout
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, auth_pb2.Principal]] = OrderedDict()

    async def resolve(self, key: str) -> auth_pb2.Principal:
        digest = hashlib.sha256(key.encode()).hexdigest()
        hit = self._cache.get(digest)
        now = self._clock()
        if hit is not None and hit[0] > now:
            principal = hit[1]
        else:
            principal = await self._ask(key)
            self._cache[digest] = (now + API_KEY_CACHE_SECONDS, principal)
            self._cache.move_to_end(digest)
            while len(self._cache) > API_KEY_CACHE_SIZE:
                self._cache.popitem(last=False)
        if self._revocations.api_key_revoked(principal.api_key_id):
            self._cache.pop(digest, None)
            raise Unauthenticated("the API key is revoked", reason="API_KEY_REVOKED")
        return principal

    async def _ask(self, key: str) -> auth_pb2.Principal:
        try:
            reply = await self._stub.VerifyApiKey(
                auth_pb2.VerifyApiKeyRequest(key=key),
                metadata=await self._credentials.metadata(),
                timeout=self._timeout,
            )
        except grpc.aio.AioRpcError as err:
            if err.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED):
                raise Unauthenticated(f"invalid API key: {err.details()}", reason="INVALID_API_KEY") from err
            raise Unavailable("the auth unit cannot check API keys right now", reason="AUTH_UNAVAILABLE") from err
        principal: auth_pb2.Principal = reply.principal
        return principal


class AdminKeyLogin:
    """ADMIN_API_KEY as a credential: one admin token from the auth unit, renewed before it ends."""

    def __init__(self, channel: grpc.aio.Channel, admin_key: str, *, timeout: float = 5.0) -> None:
        self._stub = auth_pb2_grpc.AuthServiceStub(channel)
        self._admin_key = admin_key
        self._timeout = timeout
        self.token = RenewingToken(self._sign_in)

    def matches(self, key: str) -> bool:
        return bool(self._admin_key) and hmac.compare_digest(key.encode(), self._admin_key.encode())

    async def _sign_in(self) -> tuple[str, float]:
        try:
            request = auth_pb2.AdminLoginRequest(api_key=self._admin_key)
            reply = await self._stub.AdminLogin(request, timeout=self._timeout)
        except grpc.aio.AioRpcError as err:
            raise Unavailable("the auth unit cannot sign the admin key in", reason="AUTH_UNAVAILABLE") from err
        return reply.access_token, reply.expires_in


TokenSource = Callable[[], Awaitable[str]]


class EdgeAuthenticator:
    """Turns request headers into a verified Identity and applies the method's policy.

    A bearer credential seen before costs one verifier lookup: the caller and
    the metadata built for it are kept by the header's text for as long as the
    verifier keeps returning the same verified claims (it still checks expiry
    and revocations on every call; anything else takes the full path again).
    """

    def __init__(
        self,
        authenticator: Authenticator,
        api_keys: ApiKeyResolver | None,
        admin_key: AdminKeyLogin | None,
        service_token: TokenSource | None,
    ) -> None:
        self._authenticator = authenticator
        self._api_keys = api_keys
        self._admin_key = admin_key
        self._service_token = service_token
        self._bearers: dict[str, tuple[Claims, Caller, tuple[tuple[str, str], ...]]] = {}

    async def identify(self, headers: Mapping[str, str], address: str, info: MethodInfo | None) -> Identity:
        """The caller of one request; raises Unauthenticated (401) or PermissionDenied (403)."""
        authorization = headers.get("Authorization", "")
        known = self._bearers.get(authorization) if authorization else None
        if known is not None and self._still_valid(authorization, known[0]):
            caller, base = known[1], known[2]
        else:
            caller, forward = await self._credential(authorization, headers.get("X-API-Key", ""))
            base = (*forward, *_principal_metadata(caller))
            if authorization:
                self._remember(authorization, caller, base)
        authorize(caller, info)
        return Identity(caller, (*base, ("x-forwarded-for", address)) if address else base)

    def _still_valid(self, authorization: str, claims: Claims) -> bool:
        try:
            return self._authenticator.verifier.verify(authorization.partition(" ")[2].strip()) is claims
        except TokenError:
            return False  # the full path says why

    def _remember(self, authorization: str, caller: Caller, base: tuple[tuple[str, str], ...]) -> None:
        try:
            claims = self._authenticator.verifier.verify(authorization.partition(" ")[2].strip())
        except TokenError:
            return
        if len(self._bearers) >= BEARER_CACHE_SIZE:
            self._bearers.clear()
        self._bearers[authorization] = (claims, caller, base)

    async def _credential(self, authorization: str, api_key: str) -> tuple[Caller, list[tuple[str, str]]]:
        if authorization:
            caller = self._authenticator.caller([("authorization", authorization)])
            if caller.role == "service":
                # Service tokens are for units; through the front door they carry no one.
                raise PermissionDenied("service tokens are not accepted at the edge", reason="SERVICE_TOKEN")
            return caller, [("authorization", authorization)]
        if api_key:
            if self._admin_key is not None and self._admin_key.matches(api_key):
                token = await self._admin_key.token()
                bearer = f"Bearer {token}"
                return self._authenticator.caller([("authorization", bearer)]), [("authorization", bearer)]
            if self._api_keys is None or self._service_token is None:
                raise Unauthenticated("API keys are not accepted here", reason="API_KEYS_DISABLED")
            principal = await self._api_keys.resolve(api_key)
            caller = Caller(
                user_id=principal.user_id,
                tenant_id=principal.tenant_id,
                role=principal.role,
                tier=principal.tier,
                email=principal.email,
                permissions=frozenset(principal.permissions),
                api_key_id=principal.api_key_id,
            )
            service = f"Bearer {await self._service_token()}"
            return caller, [("authorization", service), ("x-api-key-id", principal.api_key_id)]
        return Caller(), []


def challenge(error: DomainError) -> dict[str, str]:
    """The WWW-Authenticate header of a 401, per RFC 6750."""
    if not isinstance(error, Unauthenticated):
        return {}
    reason = error.reason.lower()
    if reason == "no_credentials":
        return {"WWW-Authenticate": 'Bearer realm="agentmesh"'}
    description = error.message.replace('"', "'")
    return {"WWW-Authenticate": f'Bearer realm="agentmesh", error="invalid_token", error_description="{description}"'}
