"""Consul: every unit registers itself with a gRPC health check; the edge follows the healthy instances.

Only with CONSUL_HTTP_ADDR set; the embedded default needs no registry. A unit
registers as service `agentmesh-<unit>` (id `agentmesh-<unit>-<host>-<port>`,
tags `agentmesh` and the unit, its metrics port in the meta) with Consul's
standard gRPC check of its health service, through py-consul's asyncio client
against the agent's HTTP API. An agent that cannot be reached at start does
not stop the unit: registration is retried in the background until it takes.
A drain deregisters first, so the edge stops sending before the server stops.

`follow_instances` runs Consul blocking queries on a service's passing
instances and hands every change of their addresses to a callback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import warnings
from collections.abc import Callable
from urllib.parse import urlsplit

import consul
import consul.aio

from services.common.settings import Settings

log = logging.getLogger("agentmesh.registry")
RETRY = (0.5, 10.0)  # first and longest pause between attempts
WAIT = "30s"  # how long one blocking query may hang


def service_name(unit: str) -> str:
    return f"agentmesh-{unit}"


def client(settings: Settings) -> consul.aio.Consul:
    url = urlsplit(settings.consul_http_addr)
    scheme = url.scheme or "http"
    # py-consul's asyncio adapter still builds its connector with aiohttp's deprecated TLS arguments
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return consul.aio.Consul(host=url.hostname or "127.0.0.1",
                                 port=url.port or (443 if scheme == "https" else 8500), scheme=scheme)


def advertised_host(settings: Settings) -> str:
    if settings.advertise_host:
        return settings.advertise_host
    if settings.host in ("", "0.0.0.0", "::", "[::]"):
        return socket.gethostname()
    return settings.host


class Registration:
    """One unit process in Consul, from its start to its drain."""

    def __init__(self, settings: Settings, unit: str, port: int, metrics_port: int) -> None:
        self.settings = settings
        self.unit = unit
        self.host = advertised_host(settings)
        self.port = port
        self.metrics_port = metrics_port
        self.service_id = f"{service_name(unit)}-{self.host}-{port}"
        self.registered = asyncio.Event()
        self._client = client(settings)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._register(), name=f"consul-{self.unit}")

    async def _register(self) -> None:
        interval = f"{self.settings.consul_check_interval:g}s"
        check = consul.Check.grpc(f"{self.host}:{self.port}", interval, deregister="1m")
        delay, said = RETRY[0], ""
        while True:
            try:
                await self._client.agent.service.register(
                    service_name(self.unit), service_id=self.service_id, address=self.host, port=self.port,
                    tags=["agentmesh", self.unit], meta={"unit": self.unit, "metrics_port": str(self.metrics_port)},
                    check=check,
                )
            except Exception as exc:  # the agent away or refusing: keep serving, keep trying
                reason = repr(exc)[:200]
                if reason != said:
                    log.warning("not registered in Consul yet (%s); trying again", reason,
                                extra={"consul": self.settings.consul_http_addr})
                    said = reason
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY[1])
                continue
            log.info("registered in Consul",
                     extra={"service_id": self.service_id, "consul": self.settings.consul_http_addr})
            self.registered.set()
            return

    async def deregister(self) -> None:
        """Leave Consul (the drain's first step); a failure is logged, the check expires the entry anyway."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.registered.is_set():
            try:
                await self._client.agent.service.deregister(self.service_id)
                log.info("deregistered from Consul", extra={"service_id": self.service_id})
            except Exception as exc:
                log.warning("could not deregister from Consul: %r", exc, extra={"service_id": self.service_id})
            self.registered.clear()

    async def aclose(self) -> None:
        await self.deregister()
        await self._client.close()


async def follow_instances(settings: Settings, unit: str, changed: Callable[[list[str]], None]) -> None:
    """Hand `changed` the "host:port" of the unit's passing instances at first and after every change."""
    registry = client(settings)
    index, known, delay = None, None, RETRY[0]
    try:
        while True:
            try:
                index, nodes = await registry.health.service(service_name(unit), passing=True, index=index,
                                                             wait=WAIT)
            except Exception as exc:
                log.warning("Consul unreachable for %s: %r; keeping %s", unit, exc, known or "nothing")
                index = None
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY[1])
                continue
            delay = RETRY[0]
            found = sorted(f"{n['Service']['Address'] or n['Node']['Address']}:{n['Service']['Port']}" for n in nodes)
            if found != known:
                known = found
                changed(found)
    finally:
        await registry.close()
