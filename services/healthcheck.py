"""`make health`: ask every unit over grpc.health.v1; exit 1 unless all are SERVING."""

from __future__ import annotations

import asyncio
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.bootstrap import health_names
from services.common.settings import UNITS, Settings, load


async def check_unit(settings: Settings, unit: str, wait: float = 2.0) -> dict[str, str]:
    """{service name: status name} for the whole server ('') and each service."""
    target = settings.address(unit)
    results: dict[str, str] = {}
    async with grpc.aio.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for name in health_names(unit):
            try:
                reply = await stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=wait)
                results[name] = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
            except grpc.aio.AioRpcError as exc:
                results[name] = f"{exc.code().name}"
    return results


async def check_all(settings: Settings) -> dict[str, dict[str, str]]:
    replies = await asyncio.gather(*(check_unit(settings, u) for u in UNITS))
    return dict(zip(UNITS, replies, strict=True))


def main() -> int:
    settings = load()
    report = asyncio.run(check_all(settings))
    healthy = True
    for unit, statuses in report.items():
        overall = statuses.get("", "UNKNOWN")
        bad = {k: v for k, v in statuses.items() if v != "SERVING"}
        healthy &= not bad
        detail = "" if not bad else "  " + ", ".join(f"{k or '<server>'}={v}" for k, v in bad.items())
        print(f"{unit:<10} {settings.address(unit):<22} {overall}{detail}")
    print("all units SERVING" if healthy else "some units are not SERVING")
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
