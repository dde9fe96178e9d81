"""Publishing from any unit: straight onto Redis when it is shared, else through the admin unit's hub.

In the embedded default every unit is its own process and the in-process bus
lives in the admin unit, so the other units publish with
EventService.PublishEvent under their service token. Publishing never fails
the business call that caused it: an event that cannot be delivered is logged
and counted, and the call goes on.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

import grpc
from agentmesh.v1 import admin_pb2, admin_pb2_grpc
from agentmesh.v1.common_pb2 import Event

from services.common.channels import insecure_channel
from services.common.events import EventBus, bus_from_settings
from services.common.servicecreds import ServiceCredentials
from services.common.settings import Settings

log = logging.getLogger("agentmesh.events")


class Publisher(Protocol):
    async def publish(self, event: Event) -> None: ...

    def emit(self, event: Event) -> None:
        """Publish in the background: the caller's RPC does not wait for the bus."""

    async def aclose(self) -> None: ...


class _Background:
    """Keeps background publications alive until they finish, and lets aclose wait for them."""

    def __init__(self) -> None:
        self._pending: set[asyncio.Task[None]] = set()

    async def publish(self, event: Event) -> None:
        raise NotImplementedError

    def emit(self, event: Event) -> None:
        task = asyncio.get_running_loop().create_task(self.publish(event))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _finish(self) -> None:
        if self._pending:
            await asyncio.wait(self._pending, timeout=2.0)


class BusPublisher(_Background):
    """Publishes on a bus this process holds (Redis, shared by every process)."""

    def __init__(self, bus: EventBus) -> None:
        super().__init__()
        self.bus = bus

    async def publish(self, event: Event) -> None:
        try:
            await self.bus.publish(event)
        except Exception:  # an event is never worth failing the call that caused it
            log.warning("event %s not published", event.type, exc_info=True)

    async def aclose(self) -> None:
        await self._finish()
        await self.bus.aclose()


class HubPublisher(_Background):
    """Publishes through the admin unit's EventService.PublishEvent."""

    def __init__(self, settings: Settings, credentials: ServiceCredentials, *, timeout: float = 2.0) -> None:
        super().__init__()
        self._unit = credentials.unit
        self._channel = insecure_channel(f"{settings.host}:{settings.ports['admin']}")
        self._credentials = credentials
        self._stub = admin_pb2_grpc.EventServiceStub(self._channel)
        self._timeout = timeout

    async def publish(self, event: Event) -> None:
        if not event.source:
            event.source = self._unit
        try:
            await self._stub.PublishEvent(
                admin_pb2.PublishEventRequest(event=event),
                metadata=await self._credentials.metadata(),
                timeout=self._timeout,
            )
        except (TimeoutError, grpc.aio.AioRpcError) as exc:
            log.warning("event %s not published: %s", event.type, exc)

    async def aclose(self) -> None:
        await self._finish()
        await self._channel.close()


def publisher_from_settings(settings: Settings, credentials: ServiceCredentials) -> Publisher:
    """Redis when REDIS_URL is set; otherwise the admin unit's hub, under the unit's service token."""
    if settings.redis_url:
        return BusPublisher(bus_from_settings(settings, source=credentials.unit))
    return HubPublisher(settings, credentials)
