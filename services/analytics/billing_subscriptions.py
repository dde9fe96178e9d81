"""Changes to a tenant's subscription, each written with its log entry inside the caller's transaction.

The rules. A tenant without a row is on the free plan. Leaving a free plan
for a paid one starts a subscription at once, with a period of its own from
that moment; the first paid subscription of a tenant whose plan offers a
trial starts with the trial, a period of its own (nothing to pay for it),
after which the periods run from the trial's end. A move up (a higher tier,
or the same tier for a year instead of a month) applies at once: within the
same interval the period goes on and each plan is billed for its share of
it; to another interval (or out of a trial into a plan without one) the
current period closes now and a new one starts. A move down waits for the
period's end (`pending_plan_id`); choosing the current plan again withdraws
it. A cancellation ends the subscription at the period's end (or now), and
the tenant is on the free plan from then on (status `cancelled`); while one
is pending, moving down is refused, since nothing renews, and a move up
keeps it pending (it then ends the new plan's period).
"""

from __future__ import annotations

from typing import Any

from agentmesh.v1 import analytics_pb2

from services.analytics import billing_plans as plans
from services.analytics import billing_store as store
from services.analytics.billing_plans import Plan
from services.common.errors import FailedPrecondition
from services.common.protoutil import new_id, timestamp
from services.common.storage import Row, Transaction


async def change_plan(tx: Transaction, row: Row | None, tenant_id: str, target: Plan, now: float,
                      actor: str) -> Row | None:
    """Move the tenant to `target` by the rules above; the row as it is afterwards."""
    current = plans.plan(row["plan_id"]) if row else plans.FREE
    if not current.paid:
        return await _subscribe(tx, row, tenant_id, target, now, actor) if target.paid else row
    assert row is not None
    if target == current:
        if not row["pending_plan_id"]:
            return row
        await store.log_change(tx, row, "downgrade_withdrawn", at=now, now=now, actor=actor)
        return await store.save(tx, row, {"pending_plan_id": ""}, now)
    if target.rank > current.rank:
        return await _upgrade(tx, row, target, now, actor)
    if row["cancel_at_period_end"]:
        raise FailedPrecondition(
            "the subscription ends with this period, so there is nothing to move down to; withdraw the"
            " cancellation first (cancel_at_period_end: false)", reason="CANCELLATION_PENDING")
    if row["pending_plan_id"] == target.plan_id:
        return row
    await store.log_change(tx, row, "downgrade_scheduled", at=now, now=now, actor=actor,
                           reason=f"to {target.plan_id} at the period's end")
    return await store.save(tx, row, {"pending_plan_id": target.plan_id}, now)


async def _subscribe(tx: Transaction, row: Row | None, tenant_id: str, target: Plan, now: float,
                     actor: str) -> Row:
    trial = target.trial_days > 0 and not (row and row["trial_used"])
    trial_end = now + target.trial_days * plans.DAY if trial else None
    columns: dict[str, Any] = {
        "plan_id": target.plan_id, "status": "trialing" if trial else "active",
        "billing_anchor": trial_end if trial_end is not None else now, "current_period_start": now,
        "current_period_end": trial_end if trial_end is not None else plans.period_end(now, target.interval, now),
        "cancel_at_period_end": 0, "cancelled_at": None, "cancel_reason": "", "ended_at": None,
        "trial_end": trial_end, "trial_used": 1 if trial or (row and row["trial_used"]) else 0,
        "pending_plan_id": "",
    }
    before: Row = row or {"subscription_id": new_id("sub"), "tenant_id": tenant_id, "plan_id": plans.FREE.plan_id,
                          "trial_end": None}
    await store.log_change(tx, before, "subscribed", at=now, now=now, plan_id=target.plan_id, trial_end=trial_end,
                           actor=actor)
    if row is not None:
        return await store.save(tx, row, columns, now)
    created = {"subscription_id": before["subscription_id"], "tenant_id": tenant_id, **columns, "version": 1,
               "created_at": now, "updated_at": now}
    await store.insert(tx, created)
    return created


async def _upgrade(tx: Transaction, row: Row, target: Plan, now: float, actor: str) -> Row:
    current = plans.plan(row["plan_id"])
    trialing = row["status"] == "trialing"
    columns: dict[str, Any] = {"plan_id": target.plan_id, "pending_plan_id": ""}
    if trialing and target.trial_days > 0:  # the trial goes on, on the new plan
        await store.log_change(tx, row, "upgraded", at=now, now=now, plan_id=target.plan_id,
                               trial_end=row["trial_end"], actor=actor)
        return await store.save(tx, row, columns, now)
    if trialing or target.interval != current.interval:
        if now > float(row["current_period_start"]):
            await store.close_period(tx, row, now)
        columns.update(status="active", billing_anchor=now, current_period_start=now,
                       current_period_end=plans.period_end(now, target.interval, now))
        if trialing:
            columns["trial_end"] = now
    await store.log_change(tx, row, "upgraded", at=now, now=now, plan_id=target.plan_id, actor=actor)
    return await store.save(tx, row, columns, now)


async def schedule_cancellation(tx: Transaction, row: Row, now: float, actor: str, reason: str) -> Row:
    if row["cancel_at_period_end"]:
        return row
    await store.log_change(tx, row, "cancellation_scheduled", at=now, now=now, actor=actor, reason=reason)
    return await store.save(tx, row, {"cancel_at_period_end": 1, "cancelled_at": now, "cancel_reason": reason,
                                      "pending_plan_id": ""}, now)


async def withdraw_cancellation(tx: Transaction, row: Row, now: float, actor: str) -> Row:
    if not row["cancel_at_period_end"]:
        return row
    await store.log_change(tx, row, "cancellation_withdrawn", at=now, now=now, actor=actor)
    return await store.save(tx, row, {"cancel_at_period_end": 0, "cancelled_at": None, "cancel_reason": ""}, now)


async def cancel_now(tx: Transaction, row: Row, now: float, actor: str, reason: str) -> Row:
    """End the paid subscription at once: its period closes now into an invoice for the time it lasted."""
    if now > float(row["current_period_start"]):
        await store.close_period(tx, row, now)
    columns = await store.to_free(tx, row, now, now, kind="cancelled", status="cancelled", actor=actor,
                                  reason=reason)
    columns.update(cancelled_at=now, cancel_reason=reason)
    return await store.save(tx, row, columns, now)


def current_period(row: Row | None, now: float) -> tuple[float, float]:
    if row is None:
        return plans.month_bounds(now)
    return float(row["current_period_start"]), float(row["current_period_end"])


def subscription_message(row: Row | None, tenant_id: str, now: float) -> analytics_pb2.Subscription:
    """The stored subscription, or for a tenant without one the free plan over the calendar month (no id)."""
    start, end = current_period(row, now)
    if row is None:
        return analytics_pb2.Subscription(
            tenant_id=tenant_id, plan_id=plans.FREE.plan_id, plan=plans.plan_message(plans.FREE), status="active",
            current_period_start=timestamp(start), current_period_end=timestamp(end))
    found = analytics_pb2.Subscription(
        subscription_id=row["subscription_id"], tenant_id=row["tenant_id"], plan_id=row["plan_id"],
        plan=plans.plan_message(plans.plan(row["plan_id"])), status=row["status"],
        current_period_start=timestamp(start), current_period_end=timestamp(end),
        cancel_at_period_end=bool(row["cancel_at_period_end"]), pending_plan_id=row["pending_plan_id"],
        created_at=timestamp(row["created_at"]), updated_at=timestamp(row["updated_at"]),
    )
    if row["cancelled_at"] is not None:
        found.cancelled_at.FromNanoseconds(int(row["cancelled_at"] * 1e9))
    if row["status"] == "trialing" and row["trial_end"] is not None:
        found.trial_end.FromNanoseconds(int(row["trial_end"] * 1e9))
    return found
