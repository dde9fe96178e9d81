"""Health of the platform: every unit, the edge and the admin unit's dependencies, probed in parallel.

Units are asked with the standard gRPC health check (grpc.health.v1): every
instance Consul lists as passing when it is configured (a unit is healthy while
one answers, degraded while some do not, and `instances` counts those that
answer), else the configured address (AGENTMESH_<UNIT>_HOST/_PORT); the whole server and, for
the speech unit's parts, its services: stt and tts are
agentmesh.v1.SpeechService, llm is agentmesh.v1.LlmService, each with the
round trip's latency. The edge ("gateway") is asked on its /health, which
also gives its uptime. The admin unit's database answers a query; the event
bus (and Redis when configured) a ping. Every probe has the deadline
`monitoring.probe_timeout_seconds` (1 s) and all run at once, so a health
answer takes at most that long whatever is down. A service that answers
SERVING more slowly than half the deadline is "degraded"; units' uptimes come
from the process start time their /metrics report (services.admin.sampler).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import aiohttp
import grpc
from agentmesh.v1 import admin_pb2
from google.protobuf import timestamp_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.admin.sampler import MetricsSampler
from services.common.channels import insecure_channel
from services.common.events import EventBus
from services.common.registry import follow_instances
from services.common.settings import UNITS, Settings
from services.common.storage import Database

VERSION = "0.1.0"
# Parts of a unit that seed 003 names as services of their own: (unit, gRPC service).
PARTS: Mapping[str, tuple[str, str]] = {
    "stt": ("speech", "agentmesh.v1.SpeechService"),
    "tts": ("speech", "agentmesh.v1.SpeechService"),
    "llm": ("speech", "agentmesh.v1.LlmService"),
}
CRITICAL = ("auth", "admin")


@dataclass(frozen=True, slots=True)
class Probe:
    """The answer of one health check."""

    healthy: bool
    latency_ms: float
    message: str = ""
    uptime: int = 0
    slow: bool = False
    instances: int = 0  # of a unit: how many answered
    partial: bool = False  # of a unit: some instances did not answer


class Monitor:
    def __init__(self, settings: Settings, db: Database, bus: EventBus, sampler: MetricsSampler) -> None:
        self.settings = settings
        self.db = db
        self.bus = bus
        self.sampler = sampler
        self._replicas: dict[str, tuple[str, ...]] = {unit: (settings.address(unit),) for unit in UNITS}
        self._channels: dict[str, grpc.aio.Channel] = {}  # by address
        self._session: aiohttp.ClientSession | None = None
        self._following: list[asyncio.Task[None]] = []
        self._follow()

    def _follow(self) -> None:
        """With Consul, probe each unit's passing instances (else its configured address); made in the loop."""
        if not self.settings.consul_http_addr:
            return
        for unit in UNITS:
            def changed(found: list[str], unit: str = unit) -> None:
                self._replicas[unit] = tuple(found) or (self.settings.address(unit),)

            self._following.append(asyncio.get_running_loop().create_task(
                follow_instances(self.settings, unit, changed), name=f"monitor-{unit}"))

    async def aclose(self) -> None:
        for task in self._following:
            task.cancel()
        for task in self._following:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for channel in self._channels.values():
            await channel.close()
        if self._session is not None:
            await self._session.close()

    def _channel(self, address: str) -> grpc.aio.Channel:
        channel = self._channels.get(address)
        if channel is None:
            channel = self._channels[address] = insecure_channel(address, own_http2=False)
        return channel

    async def _timed(self, check: Callable[[], Awaitable[Probe]], deadline: float) -> Probe:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(deadline):
                probe = await check()
        except TimeoutError:
            return Probe(False, (time.perf_counter() - started) * 1000, f"no answer within {deadline:g}s")
        latency = (time.perf_counter() - started) * 1000
        return Probe(probe.healthy, latency, probe.message, probe.uptime,
                     probe.healthy and latency > deadline * 500, probe.instances)

    async def unit(self, unit: str, service: str, deadline: float) -> Probe:
        """Every instance at once: healthy while one answers SERVING (the fastest one's latency)."""
        addresses = self._replicas[unit]
        probes = await asyncio.gather(*(self.instance(address, service, deadline) for address in addresses))
        answering = [probe for probe in probes if probe.healthy]
        if not answering:
            return probes[0] if len(probes) == 1 else Probe(False, min(p.latency_ms for p in probes),
                                                            f"no instance answers: {probes[0].message}")
        fastest = min(answering, key=lambda probe: probe.latency_ms)
        failing = [probe for probe in probes if not probe.healthy]
        message = f"{len(failing)} of {len(probes)} instances not answering: {failing[0].message}" if failing else ""
        return Probe(True, fastest.latency_ms, message, slow=fastest.slow, instances=len(answering),
                     partial=bool(failing))

    async def instance(self, address: str, service: str, deadline: float) -> Probe:
        async def check() -> Probe:
            stub = health_pb2_grpc.HealthStub(self._channel(address))
            try:
                reply = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=deadline)
            except grpc.aio.AioRpcError as exc:
                reason = {grpc.StatusCode.UNAVAILABLE: "not reachable",
                          grpc.StatusCode.NOT_FOUND: f"does not serve {service}",
                          grpc.StatusCode.DEADLINE_EXCEEDED: f"no answer within {deadline:g}s"}
                return Probe(False, 0.0, reason.get(exc.code(), exc.code().name))
            status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
            serving = reply.status == health_pb2.HealthCheckResponse.SERVING
            return Probe(serving, 0.0, "" if serving else f"{status} (starting or draining)", instances=int(serving))

        return await self._timed(check, deadline)

    async def gateway(self, deadline: float) -> Probe:
        async def check() -> Probe:
            if self._session is None:
                self._session = aiohttp.ClientSession()
            url = f"http://{self.settings.host}:{self.settings.gateway_port}/health"
            try:
                async with self._session.get(url, timeout=aiohttp.ClientTimeout(total=deadline)) as answer:
                    body = await answer.json(content_type=None) if answer.status == 200 else {}
                    if answer.status != 200:
                        return Probe(False, 0.0, f"/health answered {answer.status}")
            except (aiohttp.ClientError, ValueError, OSError):
                return Probe(False, 0.0, "not reachable")
            uptime = body.get("uptime", 0) if isinstance(body, dict) else 0
            return Probe(True, 0.0, uptime=int(uptime) if isinstance(uptime, int | float) else 0)

        return await self._timed(check, deadline)

    async def database(self, deadline: float) -> Probe:
        async def check() -> Probe:
            await self.db.fetch_one("SELECT 1 AS ok")
            return Probe(True, 0.0)

        try:
            return await self._timed(check, deadline)
        except Exception as exc:  # a broken database is reported, never raised
            return Probe(False, 0.0, type(exc).__name__)

    async def event_bus(self, deadline: float) -> Probe:
        async def check() -> Probe:
            ok = await self.bus.ping()
            return Probe(ok, 0.0, "" if ok else "not answering")

        return await self._timed(check, deadline)

    async def probes(self, deadline: float, *, parts: bool = True) -> dict[str, Probe]:
        """Every unit, the gateway, the parts and the dependencies, at once."""
        checks: dict[str, Awaitable[Probe]] = {unit: self.unit(unit, "", deadline) for unit in UNITS}
        checks["gateway"] = self.gateway(deadline)
        if parts:
            for name, (unit, service) in PARTS.items():
                checks[name] = self.unit(unit, service, deadline)
        checks["database"] = self.database(deadline)
        checks["event_bus"] = self.event_bus(deadline)
        if self.settings.redis_url:
            checks["redis"] = self.event_bus(deadline)
        answers = await asyncio.gather(*checks.values())
        return dict(zip(checks, answers, strict=True))

    def uptime_of(self, name: str, probe: Probe) -> int:
        """The gateway tells its own; a unit's (and its parts') is read from its process start time."""
        if name == "gateway":
            return probe.uptime
        unit = PARTS.get(name, (name, ""))[0]
        return self.sampler.uptime(unit) if unit in UNITS else 0


def status_message(name: str, probe: Probe, monitor: Monitor, checked: timestamp_pb2.Timestamp
                   ) -> admin_pb2.ServiceStatus:
    status = "unhealthy" if not probe.healthy else "degraded" if probe.slow or probe.partial else "healthy"
    instances = probe.instances if name in UNITS or name in PARTS else int(probe.healthy)
    return admin_pb2.ServiceStatus(
        healthy=probe.healthy, uptime=monitor.uptime_of(name, probe) if probe.healthy else 0, status=status,
        version=VERSION, instances=instances, latency_ms=round(probe.latency_ms, 3),
        message=probe.message if not probe.slow else f"answered in {probe.latency_ms:.0f} ms",
        checked_at=checked,
    )


def overall(statuses: Mapping[str, admin_pb2.ServiceStatus]) -> str:
    """healthy when everything is; unhealthy when a critical unit or most units are down; degraded otherwise."""
    down = [name for name in UNITS if name in statuses and not statuses[name].healthy]
    if any(name in down for name in CRITICAL) or len(down) > len(UNITS) // 2:
        return "unhealthy"
    if all(s.status == "healthy" for s in statuses.values()):
        return "healthy"
    return "degraded"


def now_stamp() -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.GetCurrentTime()
    return stamp
