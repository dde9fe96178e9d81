"""Scoped lookups and the instance journal: events and log lines written with the change that caused them.

Lookups of an instance are confined to the caller's tenant and, for a user who
is not an admin, to their own instances: anything else is NOT_FOUND, exactly
like a missing id. Drafts (unpublished templates) are NOT_FOUND for
non-admins.

`Journal.event` inserts an instance event in the caller's transaction and keeps
it; `Journal.announce`, called once the transaction committed, pushes the kept
events to the unit's feeds (WatchInstance) and to the event hub, so nothing is
announced that was rolled back.
"""

from __future__ import annotations

import json
import time
from typing import Any

from agentmesh.v1 import common_pb2

from services.common.authctx import Caller
from services.common.events.publisher import Publisher
from services.common.feeds import Feeds
from services.common.storage import Row, Transaction
from services.persona import model

TEMPLATE_SELECT = (
    "SELECT t.*, (SELECT COUNT(*) FROM instances i WHERE i.template_id = t.template_id) AS instance_count"
    " FROM templates t"
)


def feed_key(instance_id: str) -> str:
    return f"instance:{instance_id}"


async def template_row(q: Transaction, template_id: str, caller: Caller) -> Row:
    row = await q.fetch_one(f"{TEMPLATE_SELECT} WHERE t.template_id = ?", (template_id,))
    if row is None or not (row["published"] or caller.is_admin):
        raise model.template_not_found(template_id)
    return row


def instance_scope(caller: Caller) -> tuple[list[str], list[Any]]:
    """WHERE terms that confine instances (alias i) to what the caller may see."""
    if caller.is_admin:
        return ["i.tenant_id = ?"], [caller.tenant_id]
    return ["i.tenant_id = ?", "i.owner_id = ?"], [caller.tenant_id, caller.user_id]


async def instance_row(q: Transaction, instance_id: str, caller: Caller) -> Row:
    where, params = instance_scope(caller)
    row = await q.fetch_one(f"SELECT * FROM instances i WHERE i.instance_id = ? AND {' AND '.join(where)}",
                            [instance_id, *params])
    if row is None:
        raise model.instance_not_found(instance_id)
    return row


class Journal:
    """One transaction's instance events and log lines (create one per change)."""

    def __init__(self, feeds: Feeds, events: Publisher) -> None:
        self._feeds = feeds
        self._events = events
        self._kept: list[tuple[Row, Row]] = []

    async def event(self, tx: Transaction, instance: Row, kind: str, execution_id: str = "",
                    **data: Any) -> None:
        body = {"instance_id": instance["instance_id"], **({"execution_id": execution_id} if execution_id else {}),
                **data}
        row = await tx.fetch_one(
            "INSERT INTO instance_events (instance_id, execution_id, type, data, time) VALUES (?, ?, ?, ?, ?)"
            " RETURNING *",
            (instance["instance_id"], execution_id, kind, json.dumps(body), time.time()),
        )
        assert row is not None
        self._kept.append((row, instance))

    async def status(self, tx: Transaction, instance: Row, new: str, reason: str, execution_id: str = "") -> None:
        """instance.status.changed, when the status really changes (seed 002's event and fields)."""
        if instance["status"] != new:
            await self.event(tx, instance, "instance.status.changed", execution_id,
                             previous_status=instance["status"], new_status=new, reason=reason)

    @staticmethod
    async def log(tx: Transaction, instance_id: str, level: str, message: str, execution_id: str = "",
                  **fields: Any) -> None:
        await tx.execute(
            "INSERT INTO instance_logs (instance_id, execution_id, level, message, fields, time)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (instance_id, execution_id, level, message, json.dumps(fields), time.time()),
        )

    def announce(self) -> None:
        """Tell the feeds and the hub what the committed transaction recorded."""
        for row, instance in self._kept:
            self._feeds.publish(feed_key(row["instance_id"]), row)
            announced = common_pb2.Event(type=row["type"], tenant_id=instance["tenant_id"],
                                         user_id=instance["owner_id"], subject_id=row["instance_id"])
            announced.data.update(json.loads(row["data"]))
            self._events.emit(announced)
        self._kept.clear()
