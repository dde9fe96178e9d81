"""The one place that builds the admin unit's store, clients and servicers."""

from __future__ import annotations

from collections.abc import Mapping

from services.admin.bot import BotAdminServicer
from services.admin.bot_commands import CommandRunner
from services.admin.config_store import ConfigDocuments
from services.admin.hub import EventServicer, OpenFeeds
from services.admin.integration_model import box_from_settings
from services.admin.integrations import IntegrationServicer
from services.admin.monitor import Monitor
from services.admin.notification_delivery import AuthUserCount, Notifier
from services.admin.notification_store import NotificationStore
from services.admin.notifications import NotificationServicer
from services.admin.platform import Console, PlatformAdminServicer
from services.admin.platform_stats import PlatformStats
from services.admin.recorder import HubRecorder
from services.admin.sampler import MetricsSampler
from services.admin.schema import MIGRATIONS
from services.admin.webhooks import Dispatcher, WebhookSender
from services.common.bootstrap import Resources, UnitSpec
from services.common.events import bus_from_settings
from services.common.events.publisher import BusPublisher
from services.common.leases import Lease


class OwnBusPublisher(BusPublisher):
    """The admin unit's own audit records and log lines go straight onto its bus (the hub), in order;
    closing it leaves the bus to its owner."""

    async def aclose(self) -> None:
        await self._finish()


async def build(resources: Resources) -> Mapping[str, object]:
    """Servicers by service full name; services not listed answer UNIMPLEMENTED."""
    settings, db, stack = resources.settings, resources.db, resources.stack
    bus = bus_from_settings(settings, source="admin", registry=resources.registry)
    stack.push_async_callback(bus.aclose)
    resources.on_drain.append(bus.aclose)  # ends the event feeds, so the drain need not wait for them
    resources.trail.attach(OwnBusPublisher(bus, "admin"))

    configs = ConfigDocuments(db, bus)
    box = box_from_settings(settings)
    dispatcher = Dispatcher(db)
    sender = WebhookSender(db, box, configs)
    await sender.start()
    stack.push_async_callback(sender.aclose)
    lease = Lease(db, "recorder", ttl=settings.lease_ttl)
    recorder = HubRecorder(bus, db, configs, dispatcher, sender, lease, resume=bool(settings.redis_url))
    await recorder.start()  # before the unit serves: nothing published from then on is missed
    stack.push_async_callback(recorder.aclose)

    system = await configs.effective("system")
    sampler = MetricsSampler(settings, timeout=float(system["monitoring.probe_timeout_seconds"]))
    await sampler.start()
    stack.push_async_callback(sampler.aclose)
    monitor = Monitor(settings, db, bus, sampler)
    stack.push_async_callback(monitor.aclose)
    feeds = OpenFeeds()
    stats = PlatformStats(settings, resources.credentials, db, lambda: feeds.count)
    stack.push_async_callback(stats.aclose)

    notifications = NotificationStore(db)
    notifier = Notifier(notifications, bus, AuthUserCount(resources.credentials))
    console = Console(configs, monitor, sampler, stats, feeds)
    return {
        "agentmesh.v1.EventService": EventServicer(bus, feeds),
        "agentmesh.v1.PlatformAdminService": PlatformAdminServicer(db, bus, notifier, console),
        "agentmesh.v1.NotificationService": NotificationServicer(notifications, notifier, bus, feeds),
        "agentmesh.v1.BotAdminService": BotAdminServicer(db, configs, monitor, sampler,
                                                         CommandRunner(db, configs, sender)),
        "agentmesh.v1.IntegrationService": IntegrationServicer(db, box, configs, dispatcher, sender),
    }


SPEC = UnitSpec(name="admin", build=build, migrations=MIGRATIONS)
