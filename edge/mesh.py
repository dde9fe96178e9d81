"""The AgentMesh edge: the generic transcoder of :mod:`edge.app` wired to the seven units.

This is the one place that builds the edge's parts from the settings: the
router from the contracts, the upstream map, identity (JWT verifier following
the auth unit's revocations, API keys, the admin key), rate limits, CORS and
security headers, health, metrics and the API documents.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from typing import Any

import grpc
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram

from edge import errors
from edge.app import DISPATCHER, build_app
from edge.auth import AdminKeyLogin, ApiKeyResolver, EdgeAuthenticator, challenge
from edge.config import EdgeSettings
from edge.docs import add_doc_routes
from edge.errors import EdgeError
from edge.forward import UpstreamPool
from edge.headers import HeaderPolicy
from edge.health import VERSION, HealthEndpoints
from edge.maintenance import MaintenanceSwitch
from edge.openapi import OpenApiProvider
from edge.ratelimit import LimiterUnavailable, RateLimits, rate_limit_headers, refusal_fields
from edge.routes import build_router
from services.common import contracts, policy
from services.common.errors import DomainError
from services.common.identity import Authenticator
from services.common.policy import MethodInfo
from services.common.registry import follow_instances
from services.common.servicecreds import RevocationFollower, ServiceCredentials
from services.common.settings import UNITS, Settings
from services.common.tokens import Keys, RevocationSet, TokenVerifier

log = logging.getLogger("agentmesh.edge")

# Per-request notes: the method served (the metrics' route label) and the rate-limit headers.
_ROUTE_KEY = web.RequestKey("agentmesh_route", str)
_RATE_KEY = web.RequestKey("agentmesh_rate_headers", dict)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_SERIES_KEPT = 4096
_UPSTREAM_CHALLENGE = 'Bearer realm="agentmesh", error="invalid_token"'


access_log = logging.getLogger("agentmesh.edge.access")


class EdgeMetrics:
    """Request counters and latency by route, plus one access-log line per request.

    The series' children are looked up once per (route, method, status) and kept:
    prometheus_client's `labels()` costs more than the increment itself.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "edge_http_requests_total", "HTTP requests by route, method and status",
            ["route", "method", "status"], registry=registry,
        )
        self.latency = Histogram(
            "edge_http_request_seconds", "Time to answer, by route and method", ["route", "method"],
            registry=registry, buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def record(self, route: str, method: str, status: int, elapsed: float) -> None:
        key = (route, method, status)
        series = self._series.get(key)
        if series is None:
            series = (self.requests.labels(route, method, str(status)), self.latency.labels(route, method))
            if len(self._series) < _SERIES_KEPT:  # routes are bounded; methods and statuses nearly so
                self._series[key] = series
        series[0].inc()
        series[1].observe(elapsed)

    def middleware(self, preflight: HeaderPolicy | None = None) -> Callable[..., Awaitable[web.StreamResponse]]:
        """Measures and logs every request; answers CORS preflights itself when given the policy
        (one middleware instead of two)."""

        @web.middleware
        async def measure(request: web.Request, handler: Handler) -> web.StreamResponse:
            started = time.perf_counter()
            status = 500
            request_id = ""
            try:
                answer = preflight.answer(request) if preflight is not None else None
                response = answer if answer is not None else await handler(request)
                status = response.status
                request_id = response.headers.get("X-Request-ID", "")
                return response
            except web.HTTPException as exc:
                status = exc.status
                raise
            finally:
                elapsed = time.perf_counter() - started
                self.record(request.get(_ROUTE_KEY) or _fixed_route(request), request.method, status, elapsed)
                if access_log.isEnabledFor(logging.INFO):
                    _log_access(request, status, request_id, elapsed)

        return measure


def _log_access(request: web.Request, status: int, request_id: str, elapsed: float) -> None:
    """One access-log line, its record built here and handed to the logger's handlers: the same
    fields as `access_log.info(..., extra=...)` without the caller lookup on the stack and the
    checks of the extra keys, which cost about 6% of the edge's CPU on a line written per request."""
    record = logging.getLogRecordFactory()(
        access_log.name, logging.INFO, __file__, 0, "%s %s %d", (request.method, request.path, status), None
    )
    record.request_id = request_id
    record.ms = round(elapsed * 1000, 2)
    record.remote = request.remote or ""
    access_log.handle(record)


def _fixed_route(request: web.Request) -> str:
    info = request.match_info.route.resource
    canonical = info.canonical if info is not None else ""
    return canonical if canonical and "{tail" not in canonical else "unmatched"


class Gate:
    """The `authenticate` hook of the transcoder: identity, policy, maintenance, then the rate limit."""

    def __init__(self, identity: EdgeAuthenticator, limits: RateLimits, maintenance: MaintenanceSwitch) -> None:
        self.identity = identity
        self.limits = limits
        self.maintenance = maintenance

    async def __call__(self, request: web.Request, info: MethodInfo) -> Sequence[tuple[str, str]]:
        request[_ROUTE_KEY] = info.full_method
        address = request.remote or ""
        try:
            identity = await self.identity.identify(request.headers, address, info)
        except DomainError as exc:
            raise _edge_error(exc, info) from None
        caller = identity.caller
        self.maintenance.check(caller, info)
        try:
            decision = await self.limits.check(
                info.policy, user_id=caller.api_key_id or caller.user_id, address=address, tier=caller.tier
            )
        except LimiterUnavailable:
            raise EdgeError(503, "rate limiting is unavailable; try again shortly", code="UNAVAILABLE") from None
        headers = rate_limit_headers(decision)
        request[_RATE_KEY] = headers
        if not decision.allowed:
            fields = refusal_fields(decision)
            raise EdgeError(
                429, str(fields["detail"]), code="RESOURCE_EXHAUSTED", headers=headers,
                extra={"retry_after": fields["retry_after"]},
            )
        return identity.metadata

    async def recheck(self, request: web.Request, info: MethodInfo) -> None:
        """Is the credential of an open socket still good (not expired, logged out or revoked)?"""
        try:
            await self.identity.identify(request.headers, request.remote or "", info)
        except DomainError as exc:
            raise _edge_error(exc, info) from None


def _edge_error(exc: DomainError, info: MethodInfo) -> EdgeError:
    service = info.unit if exc.code == grpc.StatusCode.UNAVAILABLE else None
    return EdgeError(
        errors.status_for(exc.code), exc.message, code=exc.code.name, headers=challenge(exc), service=service
    )


def _on_prepare(policy: HeaderPolicy) -> Callable[[web.BaseRequest, web.StreamResponse], Awaitable[None]]:
    """One prepare hook for every response: security and CORS headers, the rate-limit headers of a
    limited call, and a challenge on any 401 that lacks one (RFC 7235), such as a unit's refusal of
    a token whose revocation has not reached this edge yet."""

    async def prepare(request: web.BaseRequest, response: web.StreamResponse) -> None:
        policy.apply(request, response)
        rate = request.get(_RATE_KEY) if isinstance(request, web.Request) else None
        if rate:
            for name, value in rate.items():
                response.headers.setdefault(name, value)
        if response.status == 401 and "WWW-Authenticate" not in response.headers:
            response.headers["WWW-Authenticate"] = _UPSTREAM_CHALLENGE

    return prepare


async def _stopped(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def create_app(settings: Settings, *, registry: CollectorRegistry | None = None) -> web.Application:
    """The whole edge for the units at their configured addresses."""
    registry = registry or CollectorRegistry()
    # Unit-to-unit methods (under /internal/) are not routed: the outside never reaches them.
    methods = [m for m in policy.table().values() if not contracts.is_internal(m.descriptor)]
    router = build_router(methods)
    pool = UpstreamPool({unit: settings.address(unit) for unit in UNITS})
    keys = Keys.from_settings(settings)
    revocations = RevocationSet()
    verifier = TokenVerifier(keys, settings, revocations)
    stack = AsyncExitStack()
    auth_channel = pool.channel("auth")
    credentials = ServiceCredentials(auth_channel, settings, "edge")
    identity = EdgeAuthenticator(
        Authenticator(verifier),
        ApiKeyResolver(auth_channel, credentials, revocations, timeout=settings.service_timeout),
        AdminKeyLogin(auth_channel, settings.admin_api_key) if settings.admin_api_key else None,
        credentials.token,
    )
    limits = RateLimits.from_settings(settings, registry)
    maintenance = MaintenanceSwitch(pool.channel("admin"))
    gate = Gate(identity, limits, maintenance)
    metrics = EdgeMetrics(registry)
    headers = HeaderPolicy(settings.cors_origins)

    app = build_app(
        router,
        pool,
        authenticate=gate,
        settings=EdgeSettings.from_settings(settings),
        middlewares=[metrics.middleware(preflight=headers)],
    )
    app[DISPATCHER].sockets.recheck = gate.recheck
    app.on_response_prepare.append(_on_prepare(headers))

    health_channels = {unit: pool.channel(unit) for unit in UNITS}
    probes = {}
    redis_ping = getattr(getattr(limits.limiter, "primary", None), "ping", None)
    if redis_ping is not None:
        probes["redis"] = redis_ping
    HealthEndpoints(health_channels, registry, extra_probes=probes).add_routes(app)
    openapi = OpenApiProvider(app[DISPATCHER].methods, title="AgentMesh API", version=VERSION)
    add_doc_routes(app, openapi)

    async def lifecycle(_app: web.Application) -> AsyncIterator[None]:
        follower = RevocationFollower(auth_channel, credentials, revocations)
        follower.start()
        maintenance.start()
        stack.push_async_callback(follower.stop)
        stack.push_async_callback(maintenance.stop)
        stack.push_async_callback(limits.aclose)  # the pool's channels close with the app
        if settings.consul_http_addr:  # routed calls go to every passing instance of a unit, in turn
            for unit in UNITS:
                following = asyncio.get_running_loop().create_task(
                    follow_instances(settings, unit, functools.partial(pool.replace, unit)), name=f"consul-{unit}")
                stack.push_async_callback(_stopped, following)
        yield
        await stack.aclose()

    app.cleanup_ctx.append(lifecycle)
    return app
