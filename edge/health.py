"""The edge's own endpoints: /health, /health/ready, /status, /metrics.

/health says the edge process answers (seed 000, 003 and 004 clients poll it);
/health/ready asks every unit over grpc.health.v1 and Redis when configured,
and is 503 until all answer; /status is seed 003's per-service view.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import grpc
from aiohttp import web
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from edge.errors import now_rfc3339

VERSION = "0.1.0"
PROBE_TIMEOUT = 1.0

Probe = Callable[[], Awaitable[bool]]



async def unit_status(channel: grpc.aio.Channel, wait: float = PROBE_TIMEOUT) -> str:
    """SERVING, NOT_SERVING, or the gRPC code name of why it could not be asked."""
    try:
        reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=wait)
    except grpc.aio.AioRpcError as err:
        return str(err.code().name)
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


class HealthEndpoints:
    def __init__(
        self,
        channels: Mapping[str, grpc.aio.Channel],
        registry: CollectorRegistry,
        *,
        extra_probes: Mapping[str, Probe] | None = None,
        started: float | None = None,
    ) -> None:
        self.channels = channels
        self.registry = registry
        self.extra_probes = dict(extra_probes or {})
        self.started = started if started is not None else time.monotonic()

    def uptime(self) -> int:
        return int(time.monotonic() - self.started)

    async def statuses(self) -> dict[str, str]:
        names = list(self.channels)
        units = await asyncio.gather(*(unit_status(self.channels[n]) for n in names))
        result = dict(zip(names, units, strict=True))
        for name, probe in self.extra_probes.items():
            try:
                ok = await asyncio.wait_for(probe(), PROBE_TIMEOUT)
            except Exception:  # a dependency that fails its probe is reported, never raised
                ok = False
            result[name] = "SERVING" if ok else "UNAVAILABLE"
        return result

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"status": "healthy", "service": "edge", "version": VERSION, "uptime": self.uptime(),
             "timestamp": now_rfc3339()}
        )

    async def ready(self, request: web.Request) -> web.Response:
        statuses = await self.statuses()
        ready = all(s == "SERVING" for s in statuses.values())
        body: dict[str, Any] = {
            "status": "ready" if ready else "not_ready",
            "checks": statuses,
            "timestamp": now_rfc3339(),
        }
        return web.json_response(body, status=200 if ready else 503)

    async def status(self, request: web.Request) -> web.Response:
        statuses = await self.statuses()
        services = {name: ("online" if s == "SERVING" else "offline") for name, s in statuses.items()}
        overall = "operational" if all(v == "online" for v in services.values()) else "degraded"
        return web.json_response(
            {"status": overall, "services": services, "uptime": self.uptime(), "timestamp": now_rfc3339()}
        )

    async def metrics(self, request: web.Request) -> web.Response:
        body = await asyncio.to_thread(generate_latest, self.registry)
        response = web.Response(body=body)
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/health", self.health)
        app.router.add_get("/health/ready", self.ready)
        app.router.add_get("/status", self.status)
        app.router.add_get("/metrics", self.metrics)
