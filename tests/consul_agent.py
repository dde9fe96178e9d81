"""A local stand-in for a Consul agent: the part of its HTTP API the platform uses, spoken for real.

Consul's agent cannot run here, so tests run this instead. It serves
`PUT /v1/agent/service/register`, `PUT /v1/agent/service/deregister/<id>`,
`GET /v1/agent/services` and `GET /v1/health/service/<name>` (with `passing`,
and blocking queries: `index` + `wait`, answered with `X-Consul-Index`), and
it runs each registered gRPC check itself, as the agent does: the standard
grpc.health.v1 Check against the registered address at the registered
interval, passing on SERVING, critical otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass, field
from typing import Any

import grpc
from aiohttp import web
from grpc_health.v1 import health_pb2, health_pb2_grpc

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m)$")


def seconds(text: str, default: float) -> float:
    found = _DURATION.match(text or "")
    if not found:
        return default
    value, unit = float(found[1]), found[2]
    return value / 1000 if unit == "ms" else value * 60 if unit == "m" else value


def _key(body: dict[str, Any], name: str) -> Any:
    """Consul reads its JSON keys case-blind (py-consul sends them in lower case)."""
    for key, value in body.items():
        if key.lower() == name.lower():
            return value
    return None


@dataclass
class Registered:
    service_id: str
    name: str
    address: str
    port: int
    tags: list[str]
    meta: dict[str, str]
    grpc_target: str = ""
    interval: float = 10.0
    status: str = "critical"  # Consul starts a new check as critical until it passes
    checker: asyncio.Task[None] | None = field(default=None, repr=False)


class FakeConsulAgent:
    def __init__(self) -> None:
        self.services: dict[str, Registered] = {}
        self.index = 1
        self.registrations: list[dict[str, Any]] = []  # every register body, as sent
        self.deregistrations: list[str] = []
        self._changed = asyncio.Condition()
        self.app = web.Application()
        self.app.router.add_put("/v1/agent/service/register", self._register)
        self.app.router.add_put("/v1/agent/service/deregister/{service_id}", self._deregister)
        self.app.router.add_get("/v1/agent/services", self._agent_services)
        self.app.router.add_get("/v1/health/service/{name}", self._health)
        self.app.on_cleanup.append(self._stop_checks)

    async def _bump(self) -> None:
        async with self._changed:
            self.index += 1
            self._changed.notify_all()

    async def _register(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.registrations.append(body)
        name = _key(body, "Name")
        if not isinstance(name, str) or not name:
            return web.Response(status=400, text="Missing service name")
        service_id = _key(body, "ID") or name
        checks = [_key(body, "Check") or {}, *(_key(body, "Checks") or [])]  # both spellings are API
        check = next((c for c in checks if _key(c, "GRPC")), {})
        previous = self.services.pop(service_id, None)
        if previous is not None and previous.checker is not None:
            previous.checker.cancel()
        entry = Registered(service_id, name, _key(body, "Address") or "127.0.0.1", int(_key(body, "Port") or 0),
                           list(_key(body, "Tags") or []), dict(_key(body, "Meta") or {}),
                           grpc_target=_key(check, "GRPC") or "", interval=seconds(_key(check, "Interval"), 10.0))
        if not entry.grpc_target:
            entry.status = "passing"  # no check: the agent considers it healthy
        self.services[service_id] = entry
        if entry.grpc_target:
            entry.checker = asyncio.get_running_loop().create_task(self._check_loop(entry))
        await self._bump()
        return web.Response(status=200)

    async def _deregister(self, request: web.Request) -> web.Response:
        service_id = request.match_info["service_id"]
        entry = self.services.pop(service_id, None)
        if entry is None:
            return web.Response(status=404, text=f'Unknown service ID "{service_id}"')
        self.deregistrations.append(service_id)
        if entry.checker is not None:
            entry.checker.cancel()
        await self._bump()
        return web.Response(status=200)

    async def _check_loop(self, entry: Registered) -> None:
        target = entry.grpc_target.split("/", 1)[0]
        async with grpc.aio.insecure_channel(target) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while True:
                try:
                    reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
                    status = "passing" if reply.status == health_pb2.HealthCheckResponse.SERVING else "critical"
                except grpc.aio.AioRpcError:
                    status = "critical"
                if status != entry.status:
                    entry.status = status
                    await self._bump()
                await asyncio.sleep(entry.interval)

    async def _agent_services(self, request: web.Request) -> web.Response:
        return web.json_response({s.service_id: {"ID": s.service_id, "Service": s.name, "Address": s.address,
                                                 "Port": s.port, "Tags": s.tags, "Meta": s.meta}
                                  for s in self.services.values()})

    async def _health(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        passing = "passing" in request.query and request.query["passing"] not in ("0", "false")
        wanted = int(request.query.get("index", "0") or 0)
        if wanted and wanted >= self.index:
            with contextlib.suppress(TimeoutError):
                async with self._changed:
                    await asyncio.wait_for(self._changed.wait_for(lambda: self.index > wanted),
                                           seconds(request.query.get("wait", ""), 300.0))
        nodes = [{
            "Node": {"Node": "test-agent", "Address": "127.0.0.1"},
            "Service": {"ID": s.service_id, "Service": s.name, "Address": s.address, "Port": s.port,
                        "Tags": s.tags, "Meta": s.meta},
            "Checks": [{"CheckID": f"service:{s.service_id}", "ServiceID": s.service_id, "Status": s.status}],
        } for s in self.services.values() if s.name == name and (not passing or s.status == "passing")]
        return web.json_response(nodes, headers={"X-Consul-Index": str(self.index)})

    async def _stop_checks(self, _app: web.Application) -> None:
        for entry in self.services.values():
            if entry.checker is not None:
                entry.checker.cancel()
