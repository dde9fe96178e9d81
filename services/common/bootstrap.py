"""Run one unit: storage, servicers, health, reflection, metrics, graceful drain.

A unit describes itself with a :class:`UnitSpec` (its migrations and a `build`
coroutine from its wiring module); :func:`start` brings it up inside an
``AsyncExitStack`` and :func:`main` runs it until SIGTERM/SIGINT.

Health follows the unit's real state: every service is NOT_SERVING until the
storage is open and the servicers are built, SERVING while the unit works, and
NOT_SERVING again the moment drain starts, so balancers stop sending before
in-flight calls finish.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import CollectorRegistry, ProcessCollector, start_http_server

from services.common import contracts, eventloop, logs
from services.common.channels import unit_channel
from services.common.events.publisher import publisher_from_settings
from services.common.handlers import generic_handlers
from services.common.identity import Authenticator
from services.common.interceptors import CallerContextInterceptor, ErrorInterceptor, MetricsInterceptor
from services.common.metrics import RpcMetrics
from services.common.registry import Registration
from services.common.servicecreds import RevocationFollower, ServiceCredentials
from services.common.settings import Settings, SettingsError, load
from services.common.storage import Database, Migration
from services.common.storage.postgres import PostgresDatabase
from services.common.storage.sqlite import SqliteDatabase
from services.common.tokens import Keys, RevocationSet, TokenVerifier
from services.common.trail import Trail, forward_logs

log = logging.getLogger("agentmesh.bootstrap")


@dataclass(frozen=True, slots=True)
class Resources:
    """What `build` receives: settings, the open database, the token machinery, the exit stack."""

    settings: Settings
    db: Database
    stack: AsyncExitStack
    keys: Keys
    verifier: TokenVerifier
    revocations: RevocationSet
    # This unit's service token (and its channel to the auth unit), for calls to other units.
    credentials: ServiceCredentials
    # The registry the unit's /metrics serves: a unit's own series go here.
    registry: CollectorRegistry
    # Run when drain starts, before in-flight calls are awaited: end long-lived streams (event
    # feeds) so that a drain does not wait out the whole grace period for them.
    on_drain: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # The unit's audit records and forwarded log lines (services.common.trail). `build` may attach the
    # sink they go through (the admin unit: its own bus); otherwise the unit's publisher takes them.
    trail: Trail = field(default_factory=lambda: Trail(""))


Build = Callable[[Resources], Awaitable[Mapping[str, object]]]


@dataclass(frozen=True, slots=True)
class UnitSpec:
    """A unit: its name, its schema migrations and how to build its servicers."""

    name: str
    build: Build
    migrations: Sequence[Migration] = ()


@dataclass(slots=True)
class RunningUnit:
    """A started unit, as tests and `main` see it."""

    spec: UnitSpec
    server: grpc.aio.Server
    port: int
    metrics_port: int
    health: health.aio.HealthServicer
    metrics: RpcMetrics
    service_names: tuple[str, ...]
    db: Database
    stopped: asyncio.Event = field(default_factory=asyncio.Event)
    on_drain: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    trail: Trail | None = None

    async def drain(self, grace: float) -> None:
        """NOT_SERVING first, end the streams that would never end, then let in-flight RPCs finish."""
        await self.health.enter_graceful_shutdown()
        for hook in self.on_drain:
            await hook()
        log.info("draining", extra={"grace_seconds": grace})
        await self.server.stop(grace)
        self.stopped.set()


async def open_database(settings: Settings, unit: str, migrations: Sequence[Migration] = ()) -> Database:
    """The unit's database as the settings place it (a PostgreSQL schema, or a SQLite file), migrated."""
    if settings.database_url.startswith(("postgres://", "postgresql://")):
        schema = f"{settings.database_schema_prefix}{unit}"
        db: Database = await PostgresDatabase.open(settings.database_url, schema)
        where = f"postgresql schema {schema}"
    else:
        if settings.database_url.startswith("sqlite:"):
            path = Path(settings.database_url.split(":", 1)[1].lstrip("/") or ":memory:")
            target = path.parent / f"{path.stem}-{unit}{path.suffix or '.db'}"
        else:
            target = settings.data_dir / f"{unit}.db"
        db, where = await SqliteDatabase.open(target), str(target)
    applied = await db.migrate(migrations)
    if applied:
        log.info("schema migrated", extra={"versions": applied, "database": where})
    return db


async def start(
    spec: UnitSpec,
    settings: Settings,
    stack: AsyncExitStack,
    *,
    port: int | None = None,
    metrics_port: int | None = None,
) -> RunningUnit:
    """Start the unit; everything it opens is closed by `stack`, in reverse order."""
    metrics = RpcMetrics()
    ProcessCollector(registry=metrics.registry)  # CPU, memory and start time, for the admin unit's monitoring
    trail = Trail(spec.name)
    keys = Keys.from_settings(settings)
    revocations = RevocationSet()
    verifier = TokenVerifier(keys, settings, revocations)
    server = grpc.aio.server(
        interceptors=[
            MetricsInterceptor(metrics),  # outermost: refused calls are counted too
            CallerContextInterceptor(Authenticator(verifier), trail),
            ErrorInterceptor(),
        ],
        options=[("grpc.so_reuseport", 0)],
    )
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    service_names = tuple(s.full_name for s in contracts.services_of(spec.name))
    for name in ("", *service_names):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    reflection.enable_server_reflection(
        (*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )

    address = f"{settings.host}:{settings.ports[spec.name] if port is None else port}"
    try:  # grpcio raises where it once returned 0
        bound = server.add_insecure_port(address)
    except RuntimeError:
        bound = 0
    if bound == 0:
        raise OSError(f"{spec.name}: cannot listen on {address} (is the port taken? "
                      f"AGENTMESH_{spec.name.upper()}_PORT moves it)")

    db = await open_database(settings, spec.name, spec.migrations)
    stack.push_async_callback(db.close)
    credentials = _service_credentials(spec.name, settings, stack)
    if spec.name != "auth":
        _follow_revocations(credentials, stack, revocations)
    resources = Resources(settings, db, stack, keys, verifier, revocations, credentials, metrics.registry,
                          trail=trail)
    servicers = await spec.build(resources)
    if not trail.attached:
        trail.attach(publisher_from_settings(settings, credentials))
    stack.push_async_callback(trail.aclose)
    server.add_generic_rpc_handlers(tuple(generic_handlers(spec.name, servicers)))

    await server.start()
    stack.push_async_callback(server.stop, 0)

    wanted_metrics = settings.metrics_ports[spec.name] if metrics_port is None else metrics_port
    httpd, _thread = start_http_server(wanted_metrics, addr=settings.host, registry=metrics.registry)
    stack.callback(httpd.server_close)
    stack.callback(httpd.shutdown)

    for name in ("", *service_names):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    drain_first: list[Callable[[], Awaitable[None]]] = []
    if settings.consul_http_addr:
        registration = Registration(settings, spec.name, bound, httpd.server_port)
        registration.start()
        stack.push_async_callback(registration.aclose)
        drain_first.append(registration.deregister)  # the edge stops sending before the unit stops serving
    unit = RunningUnit(
        spec, server, bound, httpd.server_port, health_servicer, metrics, service_names, db,
        on_drain=[*drain_first, *resources.on_drain], trail=trail,
    )
    log.info(
        "serving",
        extra={"grpc": f"{settings.host}:{bound}", "metrics": f"{settings.host}:{httpd.server_port}"},
    )
    return unit


def _service_credentials(unit: str, settings: Settings, stack: AsyncExitStack) -> ServiceCredentials:
    """The unit's own service token, over its one channel to the auth unit."""
    channel = unit_channel(settings, "auth")
    stack.push_async_callback(channel.close)
    return ServiceCredentials(channel, settings, unit)


def _follow_revocations(credentials: ServiceCredentials, stack: AsyncExitStack, revocations: RevocationSet) -> None:
    """Every unit but auth learns of logouts and revoked keys from the auth unit's feed."""
    follower = RevocationFollower(credentials.channel, credentials, revocations)
    follower.start()
    stack.push_async_callback(follower.stop)


def _warn_unsafe(settings: Settings) -> None:
    for problem in settings.unsafe_defaults():
        log.warning("UNSAFE FOR PRODUCTION: %s", problem)


async def serve(spec: UnitSpec, settings: Settings) -> None:
    """Run until SIGTERM or SIGINT, then drain within the grace period."""
    if not settings.supervised:
        _warn_unsafe(settings)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with AsyncExitStack() as stack:
        unit = await start(spec, settings, stack)
        assert unit.trail is not None
        stack.enter_context(forward_logs(unit.trail))  # warning-and-worse lines to the admin unit
        await stop.wait()
        await unit.drain(settings.grace_period)
    log.info("stopped")


def main(spec: UnitSpec, environ: Mapping[str, str] | None = None) -> None:
    """Entry point of `python -m services.<unit>`; exit 0 after a clean drain."""
    try:
        settings = Settings.from_env(environ) if environ is not None else load()
    except SettingsError as exc:
        print(f"{spec.name}: bad setting: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    logs.configure(spec.name, settings.log_level, settings.log_format)
    # What the imports built (descriptors, modules) lives as long as the process; left to the collector,
    # every full collection walks all of it and stalls the event loop for tens of milliseconds.
    gc.freeze()
    try:
        eventloop.run(serve(spec, settings))
    except SettingsError as exc:
        log.error("bad setting: %s", exc)
        raise SystemExit(2) from None
    except OSError as exc:
        log.error("cannot start: %s", exc)
        raise SystemExit(1) from None


def health_names(unit: str) -> tuple[str, ...]:
    """The names a health client may ask this unit about ('' is the whole server)."""
    return ("", *(s.full_name for s in contracts.services_of(unit)))
