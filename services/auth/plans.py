"""A tenant's tier follows its billing plan: the auth unit applies the analytics unit's subscription.changed.

The tier travels in every token the tenant's members get from then on (a
refresh or a new sign-in), and the edge's rate limits multiply by it. The
event names a tier the platform knows (free, pro, enterprise); anything else
is ignored and logged. The feed resumes after the last event it applied
(kept in `feed_cursors`); the first time, from the oldest the hub retains,
which is harmless: applying a tier again changes nothing.
"""

from __future__ import annotations

import logging
import time

from agentmesh.v1 import common_pb2

from services.auth import model
from services.common.storage import Database

log = logging.getLogger("agentmesh.auth")
PATTERNS = ("subscription.changed",)
FEED = "subscription-tiers"
FROM_THE_START = "0-0"


class TierFollower:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def since(self) -> str:
        row = await self.db.fetch_one("SELECT last_event_id FROM feed_cursors WHERE feed = ?", (FEED,))
        return str(row["last_event_id"]) if row else FROM_THE_START

    async def apply(self, event: common_pb2.Event) -> None:
        tier = event.data["tier"] if "tier" in event.data else ""  # noqa: SIM401 (a Struct has no get)
        if event.type not in PATTERNS or not event.tenant_id or not isinstance(tier, str):
            return
        if tier not in model.TIERS:
            log.warning("subscription.changed names an unknown tier; the tenant keeps its own",
                        extra={"tenant_id": event.tenant_id, "tier": tier[:50]})
            tier = ""
        now = time.time()
        async with self.db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE tenants SET tier = ?, updated_at = ? WHERE tenant_id = ? AND tier != ?",
                (tier, now, event.tenant_id, tier)) if tier else 0
            await tx.execute("INSERT INTO feed_cursors (feed, last_event_id, updated_at) VALUES (?, ?, ?)"
                             " ON CONFLICT (feed) DO UPDATE SET last_event_id = excluded.last_event_id,"
                             " updated_at = excluded.updated_at", (FEED, event.id, now))
        if changed:
            log.info("tenant tier follows its plan", extra={"tenant_id": event.tenant_id, "tier": tier})
