"""The one place that builds the admin unit's store, clients and servicers."""

from __future__ import annotations

from collections.abc import Mapping

from services.admin.hub import EventServicer
from services.admin.notification_delivery import AuthUserCount, Notifier
from services.admin.notification_store import NotificationStore
from services.admin.notifications import NotificationServicer
from services.admin.platform import PlatformAdminServicer
from services.admin.schema import MIGRATIONS
from services.common.bootstrap import Resources, UnitSpec
from services.common.events import bus_from_settings


async def build(resources: Resources) -> Mapping[str, object]:
    """Servicers by service full name; services not listed answer UNIMPLEMENTED."""
    bus = bus_from_settings(resources.settings, source="admin")
    resources.stack.push_async_callback(bus.aclose)
    resources.on_drain.append(bus.aclose)  # ends the event feeds, so the drain need not wait for them
    notifications = NotificationStore(resources.db)
    notifier = Notifier(notifications, bus, AuthUserCount(resources.credentials))
    return {
        "agentmesh.v1.EventService": EventServicer(bus),
        "agentmesh.v1.PlatformAdminService": PlatformAdminServicer(resources.db, bus, notifier),
        "agentmesh.v1.NotificationService": NotificationServicer(notifications, notifier, bus),
    }


SPEC = UnitSpec(name="admin", build=build, migrations=MIGRATIONS)
