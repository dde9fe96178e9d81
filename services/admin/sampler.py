"""System metrics: every unit's and the edge's Prometheus figures, and the host's, over the last 5 minutes.

Every SAMPLE_EVERY seconds (and at each GetSystemMetrics) the sampler reads
each unit's /metrics (its configured metrics port), the edge's /metrics
(GATEWAY_PORT) and the host's /proc, and keeps the snapshots of the last
WINDOW seconds. Rates are the difference between the newest snapshot and the
oldest one in the window, per minute; a counter that went back (a restarted
process) counts from zero. Request figures leave out gRPC's own services
(health checks, reflection); failures are the codes that say the server
failed (UNKNOWN, INTERNAL, UNAVAILABLE, DEADLINE_EXCEEDED, DATA_LOSS) and, at
the edge, 5xx. Percentiles are read from the latency histograms' buckets,
interpolated within a bucket as Prometheus does. A source that does not answer
leaves its figures out (zeros) until it does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from services.common.settings import UNITS, Settings

SAMPLE_EVERY = 15.0
WINDOW = 300.0
EDGE = "gateway"
_FAILED_CODES = frozenset({"UNKNOWN", "INTERNAL", "UNAVAILABLE", "DEADLINE_EXCEEDED", "DATA_LOSS"})


@dataclass(slots=True)
class Snapshot:
    """One source's counters at one moment."""

    at: float
    requests: float = 0.0
    failures: float = 0.0
    latency_sum: float = 0.0
    latency_count: float = 0.0
    buckets: dict[float, float] = field(default_factory=dict)
    in_flight: float = 0.0
    cpu_seconds: float = 0.0
    memory_bytes: float = 0.0
    start_time: float = 0.0
    events: float = 0.0
    cache_hits: float = 0.0
    cache_misses: float = 0.0


@dataclass(slots=True)
class HostSnapshot:
    at: float
    cpu_busy: float = 0.0
    cpu_total: float = 0.0
    memory_total: int = 0
    memory_available: int = 0


@dataclass(frozen=True, slots=True)
class Rates:
    """A source's figures over the window."""

    requests_per_minute: float = 0.0
    error_rate: float = 0.0
    average_latency_ms: float = 0.0
    p95_latency_ms: float = 0.0
    in_flight: int = 0
    cpu_percent: float = 0.0
    memory_bytes: int = 0
    events_per_minute: float = 0.0
    cache_hits: float = 0.0
    cache_lookups: float = 0.0


def parse(text: str, at: float) -> Snapshot:
    """The figures of one /metrics page (a unit's gRPC series or the edge's HTTP series)."""
    snap = Snapshot(at)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name, labels, value = sample.name, sample.labels, sample.value
            if labels.get("grpc_service", "").startswith("grpc."):
                continue
            if name == "grpc_server_handled_total":
                snap.requests += value
                snap.failures += value if labels.get("grpc_code") in _FAILED_CODES else 0.0
            elif name == "edge_http_requests_total":
                snap.requests += value
                snap.failures += value if labels.get("status", "").startswith("5") else 0.0
            elif name in ("grpc_server_handling_seconds_bucket", "edge_http_request_seconds_bucket"):
                bound = float(labels["le"])
                snap.buckets[bound] = snap.buckets.get(bound, 0.0) + value
            elif name in ("grpc_server_handling_seconds_sum", "edge_http_request_seconds_sum"):
                snap.latency_sum += value
            elif name in ("grpc_server_handling_seconds_count", "edge_http_request_seconds_count"):
                snap.latency_count += value
            elif name == "grpc_server_in_flight":
                snap.in_flight += value
            elif name == "process_cpu_seconds_total":
                snap.cpu_seconds = value
            elif name == "process_resident_memory_bytes":
                snap.memory_bytes = value
            elif name == "process_start_time_seconds":
                snap.start_time = value
            elif name == "agentmesh_events_published_total":
                snap.events += value
            elif name == "agentmesh_llm_cache_requests_total":
                if labels.get("result") == "hit":
                    snap.cache_hits += value
                else:
                    snap.cache_misses += value
    return snap


def _delta(new: float, old: float) -> float:
    return new - old if new >= old else new  # a counter that went back started again from zero


def quantile(q: float, buckets: Mapping[float, float]) -> float:
    """The q-quantile of a cumulative histogram (upper bounds -> counts), interpolated within its bucket."""
    ordered = sorted(buckets.items())
    if not ordered or ordered[-1][1] <= 0:
        return 0.0
    rank = q * ordered[-1][1]
    lower, below = 0.0, 0.0
    for bound, count in ordered:
        if count >= rank:
            if bound == float("inf"):
                return lower
            inside = count - below
            return lower + (bound - lower) * ((rank - below) / inside if inside > 0 else 1.0)
        lower, below = bound, count
    return lower


def rates(old: Snapshot, new: Snapshot) -> Rates:
    elapsed = new.at - old.at
    if elapsed < 0.5:
        return Rates(in_flight=int(new.in_flight), memory_bytes=int(new.memory_bytes))
    requests = _delta(new.requests, old.requests)
    count = _delta(new.latency_count, old.latency_count)
    buckets = {bound: _delta(value, old.buckets.get(bound, 0.0)) for bound, value in new.buckets.items()}
    hits, misses = _delta(new.cache_hits, old.cache_hits), _delta(new.cache_misses, old.cache_misses)
    return Rates(
        requests_per_minute=requests * 60 / elapsed,
        error_rate=_delta(new.failures, old.failures) / requests if requests else 0.0,
        average_latency_ms=_delta(new.latency_sum, old.latency_sum) / count * 1000 if count else 0.0,
        p95_latency_ms=quantile(0.95, buckets) * 1000,
        in_flight=int(new.in_flight),
        cpu_percent=_delta(new.cpu_seconds, old.cpu_seconds) / elapsed * 100,
        memory_bytes=int(new.memory_bytes),
        events_per_minute=_delta(new.events, old.events) * 60 / elapsed,
        cache_hits=hits,
        cache_lookups=hits + misses,
    )


def _read_host(at: float) -> HostSnapshot:
    snap = HostSnapshot(at)
    with contextlib.suppress(OSError, ValueError, IndexError):
        fields = [float(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)  # idle + iowait
        snap.cpu_total = sum(fields[:8])
        snap.cpu_busy = snap.cpu_total - idle
    with contextlib.suppress(OSError, ValueError):
        info = {line.split(":")[0]: int(line.split()[1]) * 1024
                for line in Path("/proc/meminfo").read_text().splitlines() if line.endswith("kB")}
        snap.memory_total, snap.memory_available = info.get("MemTotal", 0), info.get("MemAvailable", 0)
    return snap


@dataclass(frozen=True, slots=True)
class HostFigures:
    cpu_percent: float
    memory_percent: float
    memory_used_bytes: int
    disk_percent: float


class MetricsSampler:
    """Snapshots of the units, the edge and the host, the last WINDOW seconds of them."""

    def __init__(self, settings: Settings, *, timeout: float = 1.0) -> None:
        self.settings = settings
        self.timeout = timeout
        self.sources: dict[str, str] = {
            unit: f"http://{settings.address(unit).rsplit(':', 1)[0]}:{settings.metrics_ports[unit]}/metrics"
            for unit in UNITS
        }
        self.sources[EDGE] = f"http://{settings.host}:{settings.gateway_port}/metrics"
        self._snapshots: dict[str, deque[Snapshot]] = {name: deque() for name in self.sources}
        self._host: deque[HostSnapshot] = deque()
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="metrics-sampler")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._session is not None:
            await self._session.close()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(Exception):
                await self.sample()
            await asyncio.sleep(SAMPLE_EVERY)

    async def _scrape(self, name: str, url: str) -> Snapshot | None:
        assert self._session is not None
        at = time.time()
        try:
            async with self._session.get(url, timeout=aiohttp.ClientTimeout(total=self.timeout)) as answer:
                if answer.status != 200:
                    return None
                text = await answer.text()
        except (aiohttp.ClientError, TimeoutError, OSError):
            return None
        try:
            return parse(text, at)
        except ValueError:
            return None

    async def sample(self) -> None:
        """Read every source now and keep what answered."""
        names = list(self.sources)
        found = await asyncio.gather(*(self._scrape(name, self.sources[name]) for name in names))
        now = time.time()
        for name, snap in zip(names, found, strict=True):
            kept = self._snapshots[name]
            if snap is not None:
                kept.append(snap)
            while len(kept) > 1 and kept[1].at <= now - WINDOW:
                kept.popleft()
        self._host.append(await asyncio.to_thread(_read_host, now))
        while len(self._host) > 1 and self._host[1].at <= now - WINDOW:
            self._host.popleft()

    async def refresh(self, max_age: float = 5.0) -> None:
        """Sample now unless every source that answered was read within `max_age` seconds."""
        now = time.time()
        if any(not kept or kept[-1].at < now - max_age for kept in self._snapshots.values()):
            await self.sample()

    def latest(self, name: str) -> Snapshot | None:
        kept = self._snapshots.get(name)
        return kept[-1] if kept else None

    def rates(self, name: str) -> Rates | None:
        """The source's figures over the window; None when it never answered."""
        kept = self._snapshots.get(name)
        if not kept:
            return None
        return rates(kept[0], kept[-1])

    def uptime(self, name: str) -> int:
        snap = self.latest(name)
        return int(time.time() - snap.start_time) if snap is not None and snap.start_time else 0

    def host(self) -> HostFigures:
        cpu = 0.0
        if len(self._host) > 1:
            first, last = self._host[0], self._host[-1]
            total = last.cpu_total - first.cpu_total
            cpu = (last.cpu_busy - first.cpu_busy) / total * 100 if total > 0 else 0.0
        memory = self._host[-1] if self._host else HostSnapshot(0.0)
        used = max(memory.memory_total - memory.memory_available, 0)
        disk = 0.0
        with contextlib.suppress(OSError):
            usage = shutil.disk_usage(self.settings.data_dir if os.path.exists(self.settings.data_dir) else ".")
            disk = usage.used / usage.total * 100 if usage.total else 0.0
        return HostFigures(round(cpu, 2), round(used / memory.memory_total * 100, 2) if memory.memory_total else 0.0,
                           used, round(disk, 2))

    def names(self) -> Iterable[str]:
        return self.sources
