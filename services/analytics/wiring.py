"""The one place that builds the analytics unit's store, clients and servicers."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from services.analytics.behavior import BehaviorAnalytics
from services.analytics.behavior_runner import AnalysisRunner
from services.analytics.billing import Billing
from services.analytics.commits import Commits
from services.analytics.conversation_analytics import ConversationAnalytics
from services.analytics.schema import MIGRATIONS
from services.analytics.usage import UsageAnalytics
from services.analytics.usage_feed import UsageFeed
from services.common.bootstrap import Resources, UnitSpec
from services.common.channels import unit_channel
from services.common.events.publisher import publisher_from_settings
from services.common.leases import Lease

log = logging.getLogger("agentmesh.analytics")


async def build(resources: Resources) -> Mapping[str, object]:
    """Servicers by service full name; services not listed answer UNIMPLEMENTED."""
    db, settings = resources.db, resources.settings
    lease = Lease(db, "behavior-analysis", ttl=settings.lease_ttl)
    runner = AnalysisRunner(db, lease)
    interrupted = await runner.run(resources.stack)
    if interrupted:
        log.info("behaviour analyses interrupted by a restart settled", extra={"count": interrupted})
    hub = unit_channel(settings, "admin")
    resources.stack.push_async_callback(hub.close)
    events = publisher_from_settings(settings, resources.credentials)
    resources.stack.push_async_callback(events.aclose)
    feed = UsageFeed(db, hub, resources.credentials)
    feed.start()
    resources.stack.push_async_callback(feed.aclose)
    return {
        "agentmesh.v1.UsageAnalyticsService": UsageAnalytics(db),
        "agentmesh.v1.ConversationAnalyticsService": ConversationAnalytics(db),
        "agentmesh.v1.CommitService": Commits(db),
        "agentmesh.v1.BehaviorAnalyticsService": BehaviorAnalytics(db, runner),
        "agentmesh.v1.BillingService": Billing(db, events),
    }


SPEC = UnitSpec(name="analytics", build=build, migrations=MIGRATIONS)
