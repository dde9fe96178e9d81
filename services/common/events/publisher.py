"""Publishing from any unit: straight onto Redis when it is shared, else through the admin unit's hub.

In the embedded default every unit is its own process and the in-process bus
lives in the admin unit, so the other units publish with
EventService.PublishEvent under their service token. Publishing never fails
the business call that caused it: an event that cannot be delivered is logged
and counted, and the call goes on.
"""

from __future__ import annotations

import logging
from typing import Protocol

import grpc
from agentmesh.v1 import admin_pb2, admin_pb2_grpc
from agentmesh.v1.common_pb2 import Event

from services.common import contracts
from services.common.batching import InOrderSender
from services.common.channels import unit_channel
from services.common.errors import DomainError
from services.common.events import EventBus, EventBusUnavailable, bus_from_settings
from services.common.events.envelope import check_publishable
from services.common.servicecreds import ServiceCredentials
from services.common.settings import Settings

log = logging.getLogger("agentmesh.events")


class Publisher(Protocol):
    async def publish(self, event: Event) -> None:
        """Publish and wait until the bus has it (or the attempt was given up and logged)."""

    def emit(self, event: Event) -> None:
        """Publish in the background: the caller's RPC does not wait for the bus."""

    async def aclose(self) -> None: ...


class _InOrder(InOrderSender[Event]):
    """Events in order, in batches (services.common.batching); what the hub would refuse is refused here."""

    def __init__(self, unit: str, *, linger: float = InOrderSender.LINGER,
                 max_pending: int = InOrderSender.MAX_PENDING) -> None:
        super().__init__("event", linger=linger, max_pending=max_pending)
        self._unit = unit

    async def publish(self, event: Event) -> None:
        await self.send_and_wait(event)

    def emit(self, event: Event) -> None:
        self.send(event)

    def _admit(self, event: Event) -> bool:
        if not event.source:
            event.source = self._unit
        if self._unit:  # what the hub would refuse is refused here, alone, without a trip
            try:
                check_publishable(event, self._unit, contracts.event_prefixes().get(self._unit, ()))
            except DomainError as exc:
                log.warning("event %s not published: %s", event.type, exc.message)
                return False
        return True

    def _describe(self, events: list[Event]) -> str:
        return ", ".join(sorted({event.type for event in events}))


class BusPublisher(_InOrder):
    """Publishes on a bus this process holds (Redis, shared by every process)."""

    def __init__(self, bus: EventBus, unit: str = "") -> None:
        super().__init__(unit, linger=0.0)  # one command per event either way: pausing would save nothing
        self.bus = bus

    async def _deliver(self, events: list[Event]) -> list[Event]:
        for index, event in enumerate(events):
            try:
                await self.bus.publish(event)
            except EventBusUnavailable:  # Redis away: this one and the rest wait for it
                return events[index:]
            except Exception:  # an event is never worth failing the call that caused it
                log.warning("event %s not published", event.type, exc_info=True)
        return []

    async def aclose(self) -> None:
        await self._finish()
        await self.bus.aclose()


class HubPublisher(_InOrder):
    """Publishes through the admin unit's EventService.PublishEvent, a batch per call."""

    def __init__(self, settings: Settings, credentials: ServiceCredentials, *, timeout: float = 2.0,
                 max_pending: int = InOrderSender.MAX_PENDING) -> None:
        super().__init__(credentials.unit, max_pending=max_pending)
        self._channel = unit_channel(settings, "admin")
        self._credentials = credentials
        self._stub = admin_pb2_grpc.EventServiceStub(self._channel)
        self._timeout = timeout
        self._away = False  # the hub could not be reached last time (said once in the log)

    async def _deliver(self, events: list[Event]) -> list[Event]:
        request = admin_pb2.PublishEventRequest(event=events[0]) if len(events) == 1 \
            else admin_pb2.PublishEventRequest(events=events)
        outcome = await self._call(request, events)
        if outcome is _UNREACHABLE:
            return events
        if outcome is _REFUSED and len(events) > 1:
            # A bad event refuses the whole batch: halve it until the bad one stands alone, the rest go.
            half = len(events) // 2
            left = await self._deliver(events[:half])
            return [*left, *events[half:]] if left else await self._deliver(events[half:])
        return []

    async def _call(self, request: admin_pb2.PublishEventRequest, events: list[Event]) -> object:
        try:
            await self._stub.PublishEvent(request, metadata=await self._credentials.metadata(), timeout=self._timeout)
        except (TimeoutError, grpc.aio.AioRpcError) as exc:
            code = exc.code() if isinstance(exc, grpc.aio.AioRpcError) else grpc.StatusCode.DEADLINE_EXCEEDED
            if code == grpc.StatusCode.UNAVAILABLE:  # never reached the hub (or the auth unit): try again later
                if not self._away:
                    log.warning("the event hub is unreachable; events wait for it: %s", exc)
                self._away = True
                return _UNREACHABLE
            if code in _REFUSALS:
                if len(events) == 1:
                    log.warning("%s refused by the hub: %s", _names(events), exc)
                return _REFUSED
            log.warning("%s not published: %s", _names(events), exc)  # may have reached it: not sent twice
            return None
        if self._away:
            log.info("the event hub is reachable again")
            self._away = False
        return None

    async def aclose(self) -> None:
        await self._finish()
        await self._channel.close()


_REFUSALS = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED)
_UNREACHABLE, _REFUSED = object(), object()


def _names(events: list[Event]) -> str:
    if len(events) == 1:
        return f"event {events[0].type}"
    return f"{len(events)} events ({', '.join(sorted({e.type for e in events}))})"


def publisher_from_settings(settings: Settings, credentials: ServiceCredentials) -> Publisher:
    """Redis when REDIS_URL is set; otherwise the admin unit's hub, under the unit's service token."""
    if settings.redis_url:
        return BusPublisher(bus_from_settings(settings, source=credentials.unit), credentials.unit)
    return HubPublisher(settings, credentials)
