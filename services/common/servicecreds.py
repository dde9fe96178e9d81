"""How units prove who they are to each other, and how they learn of revocations.

A unit exchanges the deployment's service secret for a short-lived token with
the `service` role (AuthService.IssueServiceToken) and renews it before it
ends. With that token it follows AuthService.WatchRevocations, so that its own
verifier refuses a revoked session within moments of the logout, without a
call to the auth unit per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable

import grpc
from agentmesh.v1 import auth_pb2, auth_pb2_grpc

from services.common.protoutil import seconds
from services.common.settings import Settings
from services.common.tokens import RevocationSet

log = logging.getLogger("agentmesh.servicecreds")

SERVICE_TOKEN_LIFETIME = 3600


def service_secret(settings: Settings) -> str:
    """AGENTMESH_SERVICE_SECRET, else one derived from the JWT secret (which every unit shares)."""
    if settings.service_secret:
        return settings.service_secret
    return hmac.new(settings.jwt_secret.encode(), b"agentmesh service credential v1", hashlib.sha256).hexdigest()


class RenewingToken:
    """A token fetched once and shared, fetched again when less than a fifth of its life is left.

    `fetch` returns (token, lifetime in seconds); concurrent callers wait for one fetch.
    """

    def __init__(
        self, fetch: Callable[[], Awaitable[tuple[str, float]]], *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self._token = ""
        self._renew_at = 0.0
        self._lock = asyncio.Lock()

    async def __call__(self) -> str:
        if self._token and self._clock() < self._renew_at:
            return self._token
        async with self._lock:
            if not self._token or self._clock() >= self._renew_at:
                token, lifetime = await self._fetch()
                self._token, self._renew_at = token, self._clock() + lifetime * 0.8
        return self._token


class ServiceCredentials:
    """One unit's service token, from the auth unit in exchange for the service secret."""

    def __init__(self, channel: grpc.aio.Channel, settings: Settings, unit: str) -> None:
        self.channel = channel
        self.unit = unit
        self._stub = auth_pb2_grpc.AuthServiceStub(channel)
        self._settings = settings
        self.token = RenewingToken(self._issue)

    async def _issue(self) -> tuple[str, float]:
        reply = await self._stub.IssueServiceToken(
            auth_pb2.IssueServiceTokenRequest(service=self.unit, secret=service_secret(self._settings)),
            timeout=self._settings.service_timeout,
        )
        return reply.access_token, reply.expires_in

    async def metadata(self) -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {await self.token()}")]


class RevocationFollower:
    """Keeps a RevocationSet in step with the auth unit; reconnects with backoff."""

    def __init__(self, channel: grpc.aio.Channel, credentials: ServiceCredentials, revocations: RevocationSet) -> None:
        self._stub = auth_pb2_grpc.AuthServiceStub(channel)
        self._credentials = credentials
        self._revocations = revocations
        self._task: asyncio.Task[None] | None = None
        self.synced = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="revocation-follower")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def apply(self, revocation: auth_pb2.Revocation) -> None:
        expire_at = seconds(revocation.expire_at)
        if revocation.session_id:
            self._revocations.revoke_session(revocation.session_id, expire_at)
        elif revocation.api_key_id:
            self._revocations.revoke_api_key(revocation.api_key_id, expire_at)
        elif revocation.user_id:
            self._revocations.revoke_user(revocation.user_id, seconds(revocation.revoked_at), expire_at)

    async def _run(self) -> None:
        delay, failures = 0.2, 0
        while True:
            try:
                call = self._stub.WatchRevocations(
                    auth_pb2.WatchRevocationsRequest(), metadata=await self._credentials.metadata()
                )
                async for batch in call:
                    for revocation in batch.revocations:
                        self.apply(revocation)
                    if batch.snapshot:
                        log.info("revocation feed in step", extra={"revocations": len(batch.revocations)})
                        self.synced.set()
                        delay, failures = 0.2, 0
            except asyncio.CancelledError:
                raise
            except grpc.aio.AioRpcError as exc:
                failures += 1
                # The auth unit often starts a moment after the others: say so only when it lasts.
                level = logging.WARNING if failures >= 5 else logging.DEBUG
                log.log(level, "revocation feed interrupted: %s; retrying in %.1fs", exc.code().name, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
