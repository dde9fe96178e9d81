"""Billing's storage: the subscription row, its log, usage sums, invoices, and the roll from period to period.

Nothing runs in the background: every billing call first settles the
caller's tenant as of its clock (`settle`), inside its transaction. Settling
closes each paid period that has ended into a draft invoice, applies what
was waiting for the period's end (a cancellation, a downgrade) and opens the
next period; then it prices every draft again from the usage records, since
records of a period may arrive after it (the hub's feed replays them after a
restart), and finalizes the drafts whose period ended GRACE ago: numbered,
frozen, due NET_DAYS after the period's end. Invoice times are the period's
own (closed at its end, finalized at its end plus GRACE), not the time of the
call that happened to settle them, so an invoice is the same whoever asks
and whenever.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from services.analytics import billing_plans as plans
from services.analytics.billing_ledger import Span, State, reckon
from services.common.errors import Aborted
from services.common.protoutil import new_id
from services.common.storage import Row, Transaction

GRACE = 3_600.0
NET_DAYS = 14
MAX_ROLLS = 10_000  # periods one settle may close (a monthly subscription left alone for 800 years)


@dataclass(frozen=True, slots=True)
class Usage:
    meters: Mapping[str, Decimal]
    prompt_tokens: int = 0
    completion_tokens: int = 0


_USAGE_SQL = (
    "SELECT SUM(total_tokens) AS tokens, SUM(prompt_tokens) AS prompt, SUM(completion_tokens) AS completion,"
    " SUM(CASE WHEN kind = 'task' THEN 1 ELSE 0 END) AS tasks,"
    " SUM(CASE WHEN kind = 'workflow_run' THEN 1 ELSE 0 END) AS workflow_runs,"
    " SUM(CASE WHEN kind = 'tts' THEN audio_seconds ELSE 0 END) AS tts_seconds,"
    " SUM(CASE WHEN kind = 'transcribe' THEN audio_seconds ELSE 0 END) AS transcribe_seconds,"
    " COUNT(DISTINCT NULLIF(agent_id, '')) AS agents"
    " FROM usage_records WHERE tenant_id = ? AND occurred_at >= ? AND occurred_at < ?"
)


async def usage(q: Transaction, tenant_id: str, start: float, end: float) -> Usage:
    """What the tenant used in [start, end), per meter, from the usage records."""
    if end <= start:
        return Usage({m: Decimal(0) for m in plans.METERS})
    row = await q.fetch_one(_USAGE_SQL, (tenant_id, start, end)) or {}
    meters = {m: Decimal(str(round(float(row.get(m) or 0), 3))) for m in plans.METERS}
    return Usage(meters, int(row.get("prompt") or 0), int(row.get("completion") or 0))


async def subscription(q: Transaction, tenant_id: str) -> Row | None:
    return await q.fetch_one("SELECT * FROM billing_subscriptions WHERE tenant_id = ?", (tenant_id,))


async def history(q: Transaction, tenant_id: str) -> list[State]:
    rows = await q.fetch_all(
        "SELECT plan_id, trial_end, effective_at FROM billing_changes WHERE tenant_id = ?"
        " ORDER BY effective_at, seq", (tenant_id,))
    return [State(float(r["effective_at"]), plans.plan(r["plan_id"]), r["trial_end"]) for r in rows]


async def log_change(tx: Transaction, row: Mapping[str, Any], kind: str, *, at: float, now: float,
                     plan_id: str | None = None, trial_end: float | None = None, actor: str = "",
                     reason: str = "") -> None:
    """Append to the subscription's log the state the change leaves: the plan in force and the trial's end
    (the row's own when `plan_id` is not given: a change that leaves the plan as it is)."""
    if plan_id is None:
        plan_id, trial_end = row["plan_id"], row["trial_end"]
    found = await tx.fetch_one("SELECT COALESCE(MAX(seq), 0) AS n FROM billing_changes WHERE tenant_id = ?",
                               (row["tenant_id"],))
    seq = int(found["n"]) + 1 if found else 1
    await tx.execute(
        "INSERT INTO billing_changes (change_id, tenant_id, subscription_id, seq, kind, plan_id, previous_plan_id,"
        " trial_end, effective_at, actor_id, reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (new_id("bch"), row["tenant_id"], row["subscription_id"], seq, kind, plan_id,
         row.get("plan_id") or "", trial_end, at, actor, reason, now))


async def save(tx: Transaction, row: Row, changes: Mapping[str, Any], now: float) -> Row:
    """Write the changes to the row version that was read; ABORTED when another writer came first."""
    if not changes:
        return row
    columns = {**changes, "updated_at": now}
    assignments = ", ".join(f"{name} = ?" for name in columns)
    changed = await tx.execute(
        f"UPDATE billing_subscriptions SET {assignments}, version = version + 1"
        " WHERE subscription_id = ? AND version = ?",
        [*columns.values(), row["subscription_id"], row["version"]])
    if not changed:
        raise Aborted("the subscription changed meanwhile; try again", reason="CONCURRENT_CHANGE")
    return {**row, **columns, "version": row["version"] + 1}


async def insert(tx: Transaction, row: Mapping[str, Any]) -> None:
    await tx.execute(f"INSERT INTO billing_subscriptions ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
                     list(row.values()))


# ---------------------------------------------------------------------------
# Periods and invoices


async def close_period(tx: Transaction, row: Mapping[str, Any], end: float) -> None:
    """The current paid period, ended at `end` (its natural end or sooner), becomes a draft invoice."""
    await tx.execute(
        "INSERT INTO billing_invoices (invoice_id, tenant_id, subscription_id, status, currency, plan_id,"
        " period_start, period_end, period_natural_end, created_at, updated_at)"
        " VALUES (?, ?, ?, 'draft', ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (subscription_id, period_start) DO NOTHING",
        (new_id("inv"), row["tenant_id"], row["subscription_id"], plans.CURRENCY, row["plan_id"],
         row["current_period_start"], end, row["current_period_end"], end, end))


def free_period(moment: float) -> dict[str, Any]:
    """The columns of free time from `moment` to the end of its calendar month."""
    return {"billing_anchor": moment, "current_period_start": moment,
            "current_period_end": plans.month_bounds(moment)[1]}


async def to_free(tx: Transaction, row: Row, at: float, now: float, *, kind: str, status: str, actor: str = "",
                  reason: str = "") -> dict[str, Any]:
    """End the paid subscription at `at` (its current period closed by the caller): the free plan from then on."""
    await log_change(tx, row, kind, at=at, now=now, plan_id=plans.FREE.plan_id, actor=actor, reason=reason)
    return {"plan_id": plans.FREE.plan_id, "status": status, "cancel_at_period_end": 0, "pending_plan_id": "",
            "ended_at": at, "trial_end": None, **free_period(at)}


async def _roll(tx: Transaction, row: Row, now: float) -> dict[str, Any]:
    """Close every paid period that has ended and open the next; free time moves on by calendar month."""
    changes: dict[str, Any] = {}
    for _ in range(MAX_ROLLS):
        current = {**row, **changes}
        at = float(current["current_period_end"])
        if now < at:
            break
        plan = plans.plan(current["plan_id"])
        if not plan.paid:
            changes.update(current_period_start=plans.month_bounds(now)[0],
                           current_period_end=plans.month_bounds(now)[1])
            break
        await close_period(tx, current, at)
        if current["cancel_at_period_end"]:
            changes.update(await to_free(tx, current, at, now, kind="cancelled", status="cancelled",
                                         reason=current["cancel_reason"]))
            continue
        anchor = float(current["billing_anchor"])
        pending = plans.BY_ID.get(current["pending_plan_id"])
        if pending is not None and not pending.paid:
            changes.update(await to_free(tx, current, at, now, kind="downgraded", status="active"))
            continue
        if pending is not None:
            await log_change(tx, current, "downgraded", at=at, now=now, plan_id=pending.plan_id)
            if pending.interval != plan.interval:
                anchor = at
            plan = pending
        changes.update(plan_id=plan.plan_id, pending_plan_id="", status="active", billing_anchor=anchor,
                       current_period_start=at, current_period_end=plans.period_end(anchor, plan.interval, at))
    return {k: v for k, v in changes.items() if row.get(k) != v}


def invoice_number(tenant_id: str, seq: int) -> str:
    """Per tenant, gap-free: INV-<six hex digits of the tenant>-0001, -0002, ..."""
    return f"INV-{hashlib.sha256(tenant_id.encode()).hexdigest()[:6].upper()}-{seq:04d}"


async def refresh_drafts(tx: Transaction, tenant_id: str, now: float) -> None:
    """Price every draft again from the records; finalize (number, freeze) those past their grace."""
    drafts = await tx.fetch_all(
        "SELECT * FROM billing_invoices WHERE tenant_id = ? AND status = 'draft' ORDER BY period_start",
        (tenant_id,))
    if not drafts:
        return
    states = await history(tx, tenant_id)
    for draft in drafts:
        start, end = float(draft["period_start"]), float(draft["period_end"])
        used = await usage(tx, tenant_id, start, end)
        priced = reckon(Span(start, end, start, float(draft["period_natural_end"])), states, used.meters)
        values: dict[str, Any] = {
            "amount_due_cents": priced.total_cents, "plan_id": priced.plan.plan_id,
            "lines": json.dumps([line.as_json() for line in priced.lines], separators=(",", ":")),
            "updated_at": now,
        }
        if now >= end + GRACE:
            found = await tx.fetch_one("SELECT COALESCE(MAX(seq), 0) AS n FROM billing_invoices WHERE tenant_id = ?",
                                       (tenant_id,))
            seq = int(found["n"]) + 1 if found else 1
            finalized = end + GRACE
            paid = priced.total_cents == 0
            values.update(seq=seq, number=invoice_number(tenant_id, seq), status="paid" if paid else "open",
                          finalized_at=finalized, due_at=end + NET_DAYS * plans.DAY,
                          paid_at=finalized if paid else None)
        assignments = ", ".join(f"{name} = ?" for name in values)
        await tx.execute(f"UPDATE billing_invoices SET {assignments} WHERE invoice_id = ? AND status = 'draft'",
                         [*values.values(), draft["invoice_id"]])


async def settle(tx: Transaction, tenant_id: str, now: float) -> Row | None:
    """The tenant's subscription as of `now`, every period that ended by then closed and invoiced."""
    row = await subscription(tx, tenant_id)
    if row is not None:
        row = await save(tx, row, await _roll(tx, row, now), now)
    await refresh_drafts(tx, tenant_id, now)
    return row


async def due(q: Transaction, tenant_id: str, now: float) -> bool:
    """Whether settling would change anything (so that plain reads need no write transaction)."""
    row = await subscription(q, tenant_id)
    if row is not None and now >= float(row["current_period_end"]):
        return True
    draft = await q.fetch_one("SELECT 1 AS x FROM billing_invoices WHERE tenant_id = ? AND status = 'draft' LIMIT 1",
                              (tenant_id,))
    return draft is not None
