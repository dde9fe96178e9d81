"""BillingService: seed 001's /api/v1/billing (plans, the tenant's subscription, usage against the plan, invoices).

Plans are the built-in catalogue (services.analytics.billing_plans). Every
other call is about the caller's tenant: any member reads, only the tenant's
owner or admins (the `tenant:admin` permission their token carries) or a
platform admin change or cancel the subscription. How changes apply is told
in services.analytics.billing_subscriptions; how time is priced in
services.analytics.billing_ledger; how periods close into invoices in
services.analytics.billing_store. A request is read whole before anything
is written, and a change is one transaction with its log entry: a refused
call leaves nothing behind.

Usage is read from the unit's usage records: tokens (model calls), tasks,
workflow runs, seconds of speech synthesised and transcribed, and agents at
work. A window that reaches the present is reckoned to the end of the
current period (what the period's invoice will be if nothing more is used);
a window in the past is reckoned as it was, each billing period it touches
contributing its share.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import grpc
from agentmesh.v1 import analytics_pb2, common_pb2

from services.analytics import billing_plans as plans
from services.analytics import billing_store as store
from services.analytics import billing_subscriptions as subscriptions
from services.analytics.billing_ledger import Line, Reckoning, Span, reckon
from services.analytics.commit_model import tenant_caller
from services.common.authctx import Caller
from services.common.crud import changed_fields
from services.common.errors import FailedPrecondition, FieldViolation, InvalidArgument, PermissionDenied
from services.common.events.publisher import Publisher
from services.common.listing import filter_sql, number_value, order_sql, time_value
from services.common.paging import page_of
from services.common.protoutil import seconds, timestamp
from services.common.storage import Database, Row

MAX_WINDOW = 400 * plans.DAY
MAX_REASON = 500
INVOICE_STATUSES = ("draft", "open", "paid", "void", "uncollectible")
_PLAN_FIELDS = ("plan_id", "name", "tier", "price_cents", "currency", "interval", "trial_days",
                "overage_cents_per_1k_tokens", "active")
_PLAN_COLUMNS: Mapping[str, str] = {name: f"p.{name.replace('interval', 'plan_interval')}" for name in _PLAN_FIELDS}
_PLAN_NUMBERS = ("price_cents", "trial_days", "overage_cents_per_1k_tokens")
_INVOICE_TEXT = ("invoice_id", "number", "status", "currency", "plan_id")
_INVOICE_NUMBERS = ("amount_due_cents", "amount_paid_cents")
_INVOICE_TIMES = ("period_start", "period_end", "due_at", "paid_at", "created_at")
_INVOICE_COLUMNS: Mapping[str, str] = {n: f"i.{n}" for n in (*_INVOICE_TEXT, *_INVOICE_NUMBERS, *_INVOICE_TIMES)}


def _catalogue() -> tuple[str, list[Any]]:
    """The catalogue as a table expression (`p`), so that lists filter, sort and page it in SQL like any other."""
    select = ("SELECT CAST(? AS TEXT) AS plan_id, CAST(? AS TEXT) AS name, CAST(? AS TEXT) AS tier,"
              " CAST(? AS INTEGER) AS price_cents, CAST(? AS TEXT) AS currency, CAST(? AS TEXT) AS plan_interval,"
              " CAST(? AS INTEGER) AS trial_days, CAST(? AS REAL) AS overage_cents_per_1k_tokens,"
              " CAST(? AS INTEGER) AS active")  # typed: PostgreSQL takes untyped parameters as text
    params: list[Any] = []
    for p in plans.PLANS:
        params += [p.plan_id, p.name, p.tier, p.price_cents, plans.CURRENCY, p.interval, p.trial_days,
                   float(p.overage_per_1k_tokens), int(p.active)]
    return f"({' UNION ALL '.join(select for _ in plans.PLANS)}) p", params


def _plan_typed(name: str, column: str, value: str) -> Any:
    field = column.removeprefix("p.")
    if field in _PLAN_NUMBERS:
        return number_value(name, value)
    if field == "active":
        if value.lower() not in ("true", "false"):
            raise InvalidArgument.field("filter", f"{name}: write true or false")
        return int(value.lower() == "true")
    return value


def _invoice_typed(name: str, column: str, value: str) -> Any:
    field = column.removeprefix("i.")
    if field in _INVOICE_NUMBERS:
        return number_value(name, value)
    if field in _INVOICE_TIMES:
        return time_value(name, value)
    return value


def _manager(caller: Caller) -> None:
    if caller.is_admin or "tenant:admin" in caller.permissions:
        return
    raise PermissionDenied("only the organization's owner or admins change its subscription",
                           reason="TENANT_ADMIN_REQUIRED")


def _stamp(moment: float) -> Any:
    return timestamp(moment)


def invoice_message(row: Row) -> analytics_pb2.Invoice:
    found = analytics_pb2.Invoice(
        invoice_id=row["invoice_id"], tenant_id=row["tenant_id"], number=row["number"], status=row["status"],
        currency=row["currency"], amount_due_cents=int(row["amount_due_cents"]),
        amount_paid_cents=int(row["amount_paid_cents"]),
        lines=[Line.from_json(line).message() for line in json.loads(row["lines"] or "[]")],
        period_start=_stamp(row["period_start"]), period_end=_stamp(row["period_end"]),
        created_at=_stamp(row["created_at"]),
    )
    for name in ("due_at", "paid_at"):
        if row[name] is not None:
            getattr(found, name).CopyFrom(_stamp(row[name]))
    return found


class Billing:
    """agentmesh.v1.BillingService."""

    def __init__(self, db: Database, events: Publisher | None = None, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.events = events
        self.clock = clock

    def _announce(self, subscription: analytics_pb2.Subscription) -> None:
        """subscription.changed, which the auth unit follows to give the tenant's tokens the plan's tier."""
        if self.events is None:
            return
        event = common_pb2.Event(type="subscription.changed", tenant_id=subscription.tenant_id,
                                 subject_id=subscription.subscription_id)
        event.data.update({"tenant_id": subscription.tenant_id, "plan_id": subscription.plan_id,
                           "tier": subscription.plan.tier, "status": subscription.status,
                           "pending_plan_id": subscription.pending_plan_id,
                           "cancel_at_period_end": subscription.cancel_at_period_end})
        self.events.emit(event)

    async def _settled(self, tenant_id: str, now: float) -> Row | None:
        """The tenant's subscription with every period ended by now closed (a write only when one is due)."""
        if not await store.due(self.db, tenant_id, now):
            return await store.subscription(self.db, tenant_id)
        async with self.db.transaction() as tx:
            row = await store.settle(tx, tenant_id, now)
        self._announce(subscriptions.subscription_message(row, tenant_id, now))  # a period end may change the plan
        return row

    async def ListPlans(self, request: analytics_pb2.ListPlansRequest,
                        context: grpc.aio.ServicerContext) -> analytics_pb2.ListPlansResponse:
        where: list[str] = []
        params: list[Any] = []
        tier = request.tier.strip().lower()
        if tier:
            if tier not in plans.TIERS:
                raise InvalidArgument.field("tier", f"one of {', '.join(plans.TIERS)}")
            where.append("p.tier = ?")
            params.append(tier)
        clauses, values = filter_sql(request.filter, _PLAN_COLUMNS, _plan_typed)
        order = order_sql(request.order_by, _PLAN_COLUMNS, "p.price_cents", "p.plan_id")
        window = page_of(request, default=100, maximum=100)
        table, table_params = _catalogue()
        clause = (" WHERE " + " AND ".join([*where, *clauses])) if where or clauses else ""
        bound = [*table_params, *params, *values]
        counted = await self.db.fetch_one(f"SELECT COUNT(*) AS n FROM {table}{clause}", bound)
        total = int(counted["n"]) if counted else 0
        rows = await self.db.fetch_all(f"SELECT p.plan_id FROM {table}{clause} ORDER BY {order} LIMIT ? OFFSET ?",
                                       [*bound, window.limit, window.offset])
        return analytics_pb2.ListPlansResponse(
            plans=[plans.plan_message(plans.BY_ID[r["plan_id"]]) for r in rows],
            next_page_token=window.next_token(total), total_size=total)

    async def GetSubscription(self, request: analytics_pb2.GetSubscriptionRequest,
                              context: grpc.aio.ServicerContext) -> analytics_pb2.GetSubscriptionResponse:
        caller = tenant_caller()
        now = self.clock()
        row = await self._settled(caller.tenant_id, now)
        return analytics_pb2.GetSubscriptionResponse(
            subscription=subscriptions.subscription_message(row, caller.tenant_id, now))

    async def UpdateSubscription(self, request: analytics_pb2.UpdateSubscriptionRequest,
                                 context: grpc.aio.ServicerContext) -> analytics_pb2.UpdateSubscriptionResponse:
        caller = tenant_caller()
        _manager(caller)
        fields = _changed(request)
        target: plans.Plan | None = None
        if "plan_id" in fields:
            wanted = request.plan_id.strip()
            found = plans.BY_ID.get(wanted)
            if not wanted:
                raise InvalidArgument.field("plan_id", "is required: name the plan to move to")
            if found is None or not found.active:
                raise InvalidArgument.field("plan_id", f"unknown plan {wanted!r}; plans on offer:"
                                                       f" {', '.join(p.plan_id for p in plans.PLANS if p.active)}")
            target = found
        stay = "cancel_at_period_end" in fields and not request.cancel_at_period_end
        leave = "cancel_at_period_end" in fields and request.cancel_at_period_end
        now = self.clock()
        async with self.db.transaction() as tx:
            row = await store.settle(tx, caller.tenant_id, now)
            if stay and row is not None:
                row = await subscriptions.withdraw_cancellation(tx, row, now, caller.user_id)
            if target is not None:
                row = await subscriptions.change_plan(tx, row, caller.tenant_id, target, now, caller.user_id)
            if leave:
                row = await subscriptions.schedule_cancellation(tx, _paid(row), now, caller.user_id, "")
        changed = subscriptions.subscription_message(row, caller.tenant_id, now)
        self._announce(changed)
        return analytics_pb2.UpdateSubscriptionResponse(subscription=changed)

    async def CancelSubscription(self, request: analytics_pb2.CancelSubscriptionRequest,
                                 context: grpc.aio.ServicerContext) -> analytics_pb2.CancelSubscriptionResponse:
        caller = tenant_caller()
        _manager(caller)
        reason = request.reason.strip()
        if len(reason) > MAX_REASON:
            raise InvalidArgument.field("reason", f"at most {MAX_REASON} characters")
        at_period_end = request.at_period_end if request.HasField("at_period_end") else True
        now = self.clock()
        async with self.db.transaction() as tx:
            row = _paid(await store.settle(tx, caller.tenant_id, now))
            if at_period_end:
                row = await subscriptions.schedule_cancellation(tx, row, now, caller.user_id, reason)
            else:
                row = await subscriptions.cancel_now(tx, row, now, caller.user_id, reason)
        changed = subscriptions.subscription_message(row, caller.tenant_id, now)
        self._announce(changed)
        return analytics_pb2.CancelSubscriptionResponse(subscription=changed)

    async def GetBillingUsage(self, request: analytics_pb2.GetBillingUsageRequest,
                              context: grpc.aio.ServicerContext) -> analytics_pb2.GetBillingUsageResponse:
        caller = tenant_caller()
        tenant = caller.tenant_id
        now = self.clock()
        row = await self._settled(tenant, now)
        period_start, period_end = subscriptions.current_period(row, now)
        start, end = _window(request, period_start, period_end, now)
        # A window that reaches the present is reckoned to the period's end: the invoice to expect.
        until = period_end if end >= now else end
        states = await store.history(self.db, tenant)
        reckonings: list[Reckoning] = []
        for span in await self._spans(tenant, row, start, until):
            used = await store.usage(self.db, tenant, span.start, min(span.end, end))
            reckonings.append(reckon(span, states, used.meters))
        total = await store.usage(self.db, tenant, start, end)
        overage = sum(r.overage_cents for r in reckonings)
        return analytics_pb2.GetBillingUsageResponse(
            start_time=_stamp(start), end_time=_stamp(end), plan_id=reckonings[-1].plan.plan_id,
            items=[_item(meter, total.meters[meter], reckonings) for meter in plans.METERS],
            usage=common_pb2.TokenUsage(prompt_tokens=total.prompt_tokens, completion_tokens=total.completion_tokens,
                                        total_tokens=int(total.meters["tokens"])),
            overage_cents=overage, estimated_total_cents=sum(r.total_cents for r in reckonings),
            currency=plans.CURRENCY,
        )

    async def _spans(self, tenant_id: str, row: Row | None, start: float, end: float) -> list[Span]:
        """[start, end) as stretches of billing periods: the paid periods (invoiced or current) and, between
        them, calendar months of free time."""
        rows = await self.db.fetch_all(
            "SELECT period_start, period_end, period_natural_end FROM billing_invoices WHERE tenant_id = ?"
            " AND period_end > ? AND period_start < ? ORDER BY period_start", (tenant_id, start, end))
        paid = [(float(r["period_start"]), float(r["period_end"]), float(r["period_natural_end"])) for r in rows]
        if row is not None and plans.plan(row["plan_id"]).paid:
            paid.append((float(row["current_period_start"]), float(row["current_period_end"]),
                         float(row["current_period_end"])))
        spans: list[Span] = []
        cursor = start
        for begin, finish, natural in sorted(paid):
            if finish <= cursor or begin >= end:
                continue
            spans += _free_months(cursor, max(begin, cursor))
            spans.append(Span(max(begin, cursor), min(finish, end), begin, natural))
            cursor = min(finish, end)
        return spans + _free_months(cursor, end)

    async def ListInvoices(self, request: analytics_pb2.ListInvoicesRequest,
                           context: grpc.aio.ServicerContext) -> analytics_pb2.ListInvoicesResponse:
        caller = tenant_caller()
        where, params = ["i.tenant_id = ?"], [caller.tenant_id]
        status = request.status.strip().lower()
        if status:
            if status not in INVOICE_STATUSES:
                raise InvalidArgument.field("status", f"one of {', '.join(INVOICE_STATUSES)}")
            where.append("i.status = ?")
            params.append(status)
        clauses, values = filter_sql(request.filter, _INVOICE_COLUMNS, _invoice_typed)
        order = order_sql(request.order_by, _INVOICE_COLUMNS, "i.created_at DESC",
                          "i.period_start DESC, i.invoice_id DESC")
        window = page_of(request, default=20, maximum=100)
        await self._settled(caller.tenant_id, self.clock())
        clause = " WHERE " + " AND ".join([*where, *clauses])
        bound = [*params, *values]
        counted = await self.db.fetch_one(f"SELECT COUNT(*) AS n FROM billing_invoices i{clause}", bound)
        total = int(counted["n"]) if counted else 0
        rows = await self.db.fetch_all(
            f"SELECT i.* FROM billing_invoices i{clause} ORDER BY {order} LIMIT ? OFFSET ?",
            [*bound, window.limit, window.offset])
        return analytics_pb2.ListInvoicesResponse(invoices=[invoice_message(r) for r in rows],
                                                  next_page_token=window.next_token(total), total_size=total)


def _changed(request: analytics_pb2.UpdateSubscriptionRequest) -> list[str]:
    fields = changed_fields(request, ("plan_id", "cancel_at_period_end"))
    if not fields:
        raise InvalidArgument("nothing to change: send plan_id, cancel_at_period_end or both", [
            FieldViolation("plan_id", "the plan to move to (or cancel_at_period_end)"),
            FieldViolation("cancel_at_period_end", "false to withdraw a pending cancellation (or plan_id)")])
    return fields


def _paid(row: Row | None) -> Row:
    """The row of a paid subscription; FAILED_PRECONDITION for a tenant on the free plan."""
    if row is None or not plans.plan(row["plan_id"]).paid:
        raise FailedPrecondition("the organization is on the free plan: there is no subscription to cancel",
                                 reason="NOTHING_TO_CANCEL")
    return row


def _window(request: analytics_pb2.GetBillingUsageRequest, period_start: float, period_end: float,
            now: float) -> tuple[float, float]:
    """[start, end) of a usage request, checked: in order, within the current period's end, at most MAX_WINDOW."""
    start = seconds(request.start_time) if request.HasField("start_time") else period_start
    end = seconds(request.end_time) if request.HasField("end_time") else now
    if request.HasField("start_time") and start < 0:
        raise InvalidArgument.field("start_time", "must not be before 1970-01-01")
    if end > period_end:
        raise InvalidArgument.field("end_time", f"must not be after the current billing period's end"
                                                f" ({plans.day_label(period_end)})")
    if end <= start:
        if request.HasField("start_time"):
            raise InvalidArgument.field("start_time", "must come before end_time (default: now)")
        raise InvalidArgument.field("end_time", "must come after the current billing period's start"
                                                f" ({plans.day_label(period_start)}); or give start_time")
    if end - start > MAX_WINDOW:
        raise InvalidArgument.field("start_time", f"windows are at most {int(MAX_WINDOW // plans.DAY)} days")
    return start, end


def _free_months(start: float, end: float) -> list[Span]:
    spans = []
    while start < end:
        month_start, month_end = plans.month_bounds(start)
        spans.append(Span(start, min(month_end, end), month_start, month_end))
        start = min(month_end, end)
    return spans


def _item(meter: str, used: Decimal, reckonings: list[Reckoning]) -> analytics_pb2.BillingUsageItem:
    """One meter over the window: allowances and overage summed period by period (agents: the ceiling)."""
    allowances = [r.included[meter] for r in reckonings]
    unlimited = plans.UNLIMITED in allowances
    if meter == "agents":
        ceiling = plans.UNLIMITED if unlimited else max(allowances)
        over = Decimal(0) if unlimited else max(Decimal(0), used - ceiling)
        return analytics_pb2.BillingUsageItem(metric=meter, quantity=float(used), included=ceiling,
                                              overage=float(over))
    overage = sum((r.overage[meter] for r in reckonings), Decimal(0))
    amount = sum(r.overage_cents for r in reckonings) if meter == "tokens" else 0
    return analytics_pb2.BillingUsageItem(
        metric=meter, quantity=float(used), included=plans.UNLIMITED if unlimited else sum(allowances),
        overage=float(overage), amount_cents=amount)
