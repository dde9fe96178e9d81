"""BillingService (seed 001's /api/v1/billing) on the real analytics unit, behind the real edge and auth unit.

Usage goes in as the units report it (RecordUsage under a service token).
Billing reads the time from its unit's clock; the tests hand the unit a clock
of their own, set in 2024 and moved by hand, so that trials run out, periods
end and invoices close within a test. Every amount below is worked out by
hand in the comments beside it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import grpc
import pytest
from agentmesh.v1 import analytics_pb2, analytics_pb2_grpc, auth_pb2, auth_pb2_grpc, common_pb2
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from edge.mesh import create_app
from services.analytics import wiring
from services.analytics.billing import Billing
from services.analytics.billing_ledger import Span, State, reckon, segments
from services.analytics.billing_plans import BY_ID, FREE, add_months, period_end
from services.common.servicecreds import service_secret
from services.common.settings import Settings
from tests.agent.conftest import fails, violations
from tests.analytics.conftest import Analytics, People, at
from tests.auth.conftest import Account

Client = TestClient[web.Request, web.Application]
INVOICE_NUMBER = re.compile(r"^INV-[0-9A-F]{6}-(\d{4})$")


def moment(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp()


@dataclass
class Clock:
    now: float

    def __call__(self) -> float:
        return self.now

    def set(self, *when: int) -> None:
        self.now = moment(*when)


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The billing servicer's clock, in place before the unit starts: 10 January 2024, midnight UTC."""
    found = Clock(moment(2024, 1, 10))
    monkeypatch.setattr(wiring, "Billing", functools.partial(Billing, clock=found))
    return found


@pytest.fixture
async def edge(analytics: Analytics, settings: Settings) -> AsyncIterator[Client]:
    async with TestClient(TestServer(create_app(settings))) as client:
        yield client


@dataclass
class Usage:
    """Puts usage records in the way the units do: RecordUsage under a service token."""

    analytics: Analytics
    metadata: list[tuple[str, str]]
    serial: int = 0

    async def tokens(self, who: Account, total: int, *when: int, kind: str = "llm_call") -> None:
        self.serial += 1
        prompt = total * 3 // 5
        record = analytics_pb2.UsageRecord(
            record_id=f"rec-{self.serial}", tenant_id=who.tenant_id, user_id=who.user_id, unit="speech",
            kind=kind, model="echo", occurred_at=at(*when),
            usage=common_pb2.TokenUsage(prompt_tokens=prompt, completion_tokens=total - prompt, total_tokens=total))
        stub = analytics_pb2_grpc.UsageAnalyticsServiceStub(self.analytics.channel)
        reply = await stub.RecordUsage(analytics_pb2.RecordUsageRequest(records=[record]), metadata=self.metadata)
        assert reply.recorded_count == 1


@pytest.fixture
async def usage(analytics: Analytics, auth_channel: grpc.aio.Channel, settings: Settings) -> Usage:
    token = await auth_pb2_grpc.AuthServiceStub(auth_channel).IssueServiceToken(
        auth_pb2.IssueServiceTokenRequest(service="speech", secret=service_secret(settings)))
    return Usage(analytics, [("authorization", f"Bearer {token.access_token}")])


def bearer(who: Account) -> dict[str, str]:
    return {"Authorization": f"Bearer {who.access_token}"}


async def _json(reply: Any, status: int) -> Any:
    assert reply.status == status, await reply.text()
    return await reply.json()


def _fields(body: dict[str, Any]) -> set[str]:
    return {v["field"] for d in body["error"]["details"] if d["@type"].endswith("google.rpc.BadRequest")
            for v in d["field_violations"]}


def _item(body: dict[str, Any], metric: str) -> dict[str, Any]:
    return next(i for i in body["items"] if i["metric"] == metric)


async def test_seed_001_billing_a_tenant_through_trial_upgrade_and_cancellation(
        edge: Client, people: People, usage: Usage, clock: Clock) -> None:
    alice, bob = bearer(people.alice), bearer(people.bob)
    sub = await _json(await edge.get("/api/v1/billing/subscription", headers=alice), 200)
    assert (sub["plan_id"], sub["status"], sub["subscription_id"]) == ("free", "active", "")
    assert (sub["current_period_start"], sub["current_period_end"]) == ("2024-01-01T00:00:00Z",
                                                                        "2024-02-01T00:00:00Z")
    await usage.tokens(people.alice, 50_000, 2024, 1, 5, 12)
    free = await _json(await edge.get("/api/v1/billing/usage", headers=alice), 200)
    assert (free["plan_id"], free["estimated_total_cents"], free["currency"]) == ("free", "0", "usd")
    assert _item(free, "tokens") == {"metric": "tokens", "quantity": 50_000, "included": 100_000, "overage": 0,
                                     "amount_cents": "0"}
    assert free["usage"] == {"prompt_tokens": "30000", "completion_tokens": "20000", "total_tokens": "50000"}

    # 10 Jan: Pro starts with its 14-day trial, a period of its own
    sub = await _json(await edge.put("/api/v1/billing/subscription", headers=alice,
                                     json={"plan_id": "pro-monthly"}), 200)
    assert (sub["plan_id"], sub["status"], sub["plan"]["price_cents"]) == ("pro-monthly", "trialing", "4900")
    assert sub["subscription_id"].startswith("sub_") and sub["trial_end"] == "2024-01-24T00:00:00Z"
    assert (sub["current_period_start"], sub["current_period_end"]) == ("2024-01-10T00:00:00Z",
                                                                        "2024-01-24T00:00:00Z")
    clock.set(2024, 1, 20)
    await usage.tokens(people.alice, 1_500_000, 2024, 1, 15)
    trial = await _json(await edge.get("/api/v1/billing/usage", headers=alice), 200)
    assert (trial["plan_id"], trial["start_time"], trial["estimated_total_cents"]) == (
        "pro-monthly", "2024-01-10T00:00:00Z", "0")
    assert (_item(trial, "tokens")["quantity"], _item(trial, "tokens")["included"]) == (1_500_000, 2_000_000)

    # 24 Jan 00:30: the trial period is closed into a draft: 2,150,000 tokens, 150,000 over at 0.8 c/1k = 120 c
    await usage.tokens(people.alice, 650_000, 2024, 1, 22)
    clock.set(2024, 1, 24, 0, 30)
    [draft] = (await _json(await edge.get("/api/v1/billing/invoices", headers=alice), 200))["invoices"]
    assert (draft["status"], draft["number"], draft["amount_due_cents"]) == ("draft", "", "120")
    assert [line["amount_cents"] for line in draft["lines"]] == ["0", "120"]
    assert draft["lines"][0]["description"] == "Pro (monthly) trial, 10 Jan 2024 to 24 Jan 2024"
    assert (draft["lines"][1]["quantity"], draft["lines"][1]["unit_amount_cents"]) == (150.0, 0.8)
    sub = await _json(await edge.get("/api/v1/billing/subscription", headers=alice), 200)
    assert (sub["status"], sub["current_period_end"], "trial_end" in sub) == ("active", "2024-02-24T00:00:00Z",
                                                                              False)
    # a record of the trial that arrives late still counts while the invoice is a draft: 200,000 over = 160 c
    await usage.tokens(people.alice, 50_000, 2024, 1, 23)
    clock.set(2024, 1, 24, 1, 0)
    [first] = (await _json(await edge.get("/api/v1/billing/invoices", headers=alice), 200))["invoices"]
    assert (first["status"], first["amount_due_cents"], first["amount_paid_cents"]) == ("open", "160", "0")
    assert first["invoice_id"] == draft["invoice_id"] and first["due_at"] == "2024-02-07T00:00:00Z"
    number = INVOICE_NUMBER.match(first["number"])
    assert number is not None and number[1] == "0001"

    # 3 Feb: a move down waits for the period's end; 8 Feb: a move up applies at once and withdraws it
    clock.set(2024, 2, 3)
    await usage.tokens(people.alice, 10_000, 2024, 2, 1)
    await usage.tokens(people.alice, 0, 2024, 2, 2, kind="task")
    sub = await _json(await edge.put("/api/v1/billing/subscription", headers=alice, json={"planId": "free"}), 200)
    assert (sub["plan_id"], sub["pending_plan_id"]) == ("pro-monthly", "free")
    clock.set(2024, 2, 8)
    sub = await _json(await edge.patch("/api/v1/billing/subscription", headers=alice,
                                       json={"plan_id": "enterprise-monthly"}), 200)
    assert (sub["plan_id"], sub["pending_plan_id"], sub["current_period_end"]) == (
        "enterprise-monthly", "", "2024-02-24T00:00:00Z")
    # 24 Jan to 24 Feb is 31 days: Pro for 15 (4900 * 15/31 = 2370.97) and Enterprise for 16
    # (49900 * 16/31 = 25754.84): 2371 + 25755 = 28126; tokens allowed 2M * 15/31 + 30M * 16/31 = 16,451,612.9
    now = await _json(await edge.get("/api/v1/billing/usage", headers=alice), 200)
    assert (now["plan_id"], now["estimated_total_cents"], now["overage_cents"]) == ("enterprise-monthly",
                                                                                    "28126", "0")
    assert (_item(now, "tokens")["quantity"], _item(now, "tokens")["included"]) == (10_000, 16_451_613)
    assert (_item(now, "tasks")["quantity"], _item(now, "tasks")["included"]) == (1, -1)

    sub = await _json(await edge.post("/api/v1/billing/subscription/cancel", headers=alice,
                                      json={"reason": "moving to another vendor"}), 200)
    assert (sub["cancel_at_period_end"], sub["cancelled_at"], sub["status"]) == (True, "2024-02-08T00:00:00Z",
                                                                                 "active")

    # 24 Feb 02:00: the period is invoiced, the subscription has ended, the tenant is on the free plan
    clock.set(2024, 2, 24, 2)
    sub = await _json(await edge.get("/api/v1/billing/subscription", headers=alice), 200)
    assert (sub["plan_id"], sub["status"], sub["cancel_at_period_end"]) == ("free", "cancelled", False)
    assert (sub["current_period_start"], sub["current_period_end"]) == ("2024-02-24T00:00:00Z",
                                                                        "2024-03-01T00:00:00Z")
    listed = await _json(await edge.get("/api/v1/billing/invoices", headers=alice), 200)
    assert [i["amount_due_cents"] for i in listed["invoices"]] == ["28126", "160"]
    second = listed["invoices"][0]
    assert second["number"] == first["number"][:-4] + "0002" and second["status"] == "open"
    assert [(line["description"], line["amount_cents"]) for line in second["lines"]] == [
        ("Pro (monthly), 24 Jan 2024 to 8 Feb 2024", "2371"),
        ("Enterprise (monthly), 8 Feb 2024 to 24 Feb 2024", "25755")]
    page = await _json(await edge.get("/api/v1/billing/invoices?limit=1", headers=alice), 200)
    assert (len(page["invoices"]), page["total_size"]) == (1, 2) and page["next_page_token"]
    rest = await _json(await edge.get(f"/api/v1/billing/invoices?limit=1&page_token={page['next_page_token']}",
                                      headers=alice), 200)
    assert [i["number"] for i in rest["invoices"]] == [first["number"]] and rest["next_page_token"] == ""
    big = await _json(await edge.get("/api/v1/billing/invoices?filter=amount_due_cents>1000", headers=alice), 200)
    assert [i["number"] for i in big["invoices"]] == [second["number"]]
    assert (await _json(await edge.get("/api/v1/billing/invoices?status=paid", headers=alice), 200))[
        "total_size"] == 0

    # a past window is reckoned as it was billed; free time is prorated by calendar month
    billed = await _json(await edge.get("/api/v1/billing/usage?start_time=2024-01-24T00:00:00Z"
                                        "&end_time=2024-02-24T00:00:00Z", headers=alice), 200)
    assert (billed["estimated_total_cents"], _item(billed, "tokens")["included"]) == ("28126", 16_451_613)
    before = await _json(await edge.get("/api/v1/billing/usage?start_time=2024-01-01T00:00:00Z"
                                        "&end_time=2024-01-10T00:00:00Z", headers=alice), 200)
    # 100,000 * 9/31 = 29,032.26 allowed, 50,000 used: 20,968 over, which the free plan does not charge
    assert (before["plan_id"], before["estimated_total_cents"]) == ("free", "0")
    assert _item(before, "tokens") == {"metric": "tokens", "quantity": 50_000, "included": 29_032,
                                       "overage": 20_968, "amount_cents": "0"}

    # another tenant sees none of it
    await usage.tokens(people.bob, 999, 2024, 2, 20)
    assert (await _json(await edge.get("/api/v1/billing/subscription", headers=bob), 200))["plan_id"] == "free"
    assert (await _json(await edge.get("/api/v1/billing/invoices", headers=bob), 200))["total_size"] == 0
    theirs = await _json(await edge.get("/api/v1/billing/usage", headers=bob), 200)
    assert _item(theirs, "tokens")["quantity"] == 999


async def test_who_may_change_the_subscription_and_bad_input_writes_nothing(
        edge: Client, people: People, clock: Clock) -> None:
    alice, carol, ada = bearer(people.alice), bearer(people.carol), bearer(people.ada)
    assert (await edge.get("/api/v1/billing/subscription")).status == 401
    for call in (edge.put("/api/v1/billing/subscription", headers=carol, json={"plan_id": "pro-monthly"}),
                 edge.post("/api/v1/billing/subscription/cancel", headers=carol, json={})):
        denied = await _json(await call, 403)
        assert denied["error"]["code"] == "PERMISSION_DENIED"
    assert (await _json(await edge.get("/api/v1/billing/subscription", headers=carol), 200))["plan_id"] == "free"

    bad: list[tuple[str, str, dict[str, Any] | None, set[str]]] = [
        ("put", "/api/v1/billing/subscription", {}, {"plan_id", "cancel_at_period_end"}),
        ("put", "/api/v1/billing/subscription", {"plan_id": "gold"}, {"plan_id"}),
        ("patch", "/api/v1/billing/subscription", {"plan_id": "  "}, {"plan_id"}),
        ("put", "/api/v1/billing/subscription", {"plan_id": "pro-monthly", "update_mask": "planId,price"},
         {"update_mask"}),
        ("post", "/api/v1/billing/subscription/cancel", {"reason": "x" * 501}, {"reason"}),
        ("get", "/api/v1/billing/usage?start_time=2024-01-09T00:00:00Z&end_time=2024-01-05T00:00:00Z", None,
         {"start_time"}),
        ("get", "/api/v1/billing/usage?end_time=2024-03-01T00:00:00Z", None, {"end_time"}),
        ("get", "/api/v1/billing/usage?start_time=2022-01-01T00:00:00Z", None, {"start_time"}),
        ("get", "/api/v1/billing/invoices?status=late", None, {"status"}),
        ("get", "/api/v1/billing/invoices?order_by=price", None, {"order_by"}),
        ("get", "/api/v1/billing/invoices?page_token=xyz", None, {"page_token"}),
    ]
    for method, path, body, fields in bad:
        refused = await _json(await getattr(edge, method)(path, headers=alice, json=body), 400)
        assert refused["error"]["code"] == "INVALID_ARGUMENT" and _fields(refused) == fields, (path, refused)
    unknown = await _json(await edge.put("/api/v1/billing/subscription", headers=alice,
                                         json={"plan_id": "pro-monthly", "seats": 3}), 400)
    assert "seats" in unknown["detail"]
    nothing = await _json(await edge.post("/api/v1/billing/subscription/cancel", headers=alice, json={}), 400)
    assert nothing["error"]["code"] == "FAILED_PRECONDITION"
    sub = await _json(await edge.get("/api/v1/billing/subscription", headers=alice), 200)
    assert (sub["subscription_id"], sub["plan_id"]) == ("", "free")  # nothing was written

    # a platform admin acting in the tenant may; the owner schedules a cancellation, which blocks a move down
    sub = await _json(await edge.put("/api/v1/billing/subscription", headers=ada, json={"plan_id": "pro-yearly"}),
                      200)
    assert (sub["plan_id"], sub["tenant_id"]) == ("pro-yearly", people.alice.tenant_id)
    sub = await _json(await edge.put("/api/v1/billing/subscription", headers=alice,
                                     json={"cancel_at_period_end": True}), 200)
    assert sub["cancel_at_period_end"] is True
    blocked = await _json(await edge.put("/api/v1/billing/subscription", headers=alice,
                                         json={"plan_id": "pro-monthly"}), 400)
    assert blocked["error"]["code"] == "FAILED_PRECONDITION"
    sub = await _json(await edge.put("/api/v1/billing/subscription", headers=alice,
                                     json={"cancel_at_period_end": False, "plan_id": "pro-monthly"}), 200)
    assert (sub["cancel_at_period_end"], sub["plan_id"], sub["pending_plan_id"]) == (False, "pro-yearly",
                                                                                     "pro-monthly")
    assert "cancelled_at" not in sub


async def test_cut_periods_and_immediate_cancellation_over_grpc(
        analytics: Analytics, people: People, usage: Usage, clock: Clock) -> None:
    billing = analytics_pb2_grpc.BillingServiceStub(analytics.channel)
    bob = people.bob.metadata

    async def update(**fields: Any) -> analytics_pb2.Subscription:
        reply = await billing.UpdateSubscription(analytics_pb2.UpdateSubscriptionRequest(**fields), metadata=bob)
        found: analytics_pb2.Subscription = reply.subscription
        return found

    async def invoices() -> list[analytics_pb2.Invoice]:
        reply = await billing.ListInvoices(analytics_pb2.ListInvoicesRequest(), metadata=bob)
        return list(reply.invoices)

    clock.set(2024, 3, 1)
    sub = await update(plan_id="enterprise-monthly")  # no trial on Enterprise
    assert (sub.status, sub.current_period_end.ToSeconds()) == ("active", moment(2024, 4, 1))
    await usage.tokens(people.bob, 10_000_000, 2024, 3, 2)
    # 11 Mar: to a yearly interval, the month's period closes now (10 of 31 days) and a year starts
    clock.set(2024, 3, 11)
    sub = await update(plan_id="enterprise-yearly")
    assert (sub.current_period_start.ToSeconds(), sub.current_period_end.ToSeconds()) == (
        moment(2024, 3, 11), moment(2025, 3, 11))
    [cut] = await invoices()
    # 49900 * 10/31 = 16096.77; 30M * 10/31 = 9,677,419 tokens allowed, 322,581 over at 0.5 c/1k = 161.29
    assert (cut.status, cut.amount_due_cents, [line.amount_cents for line in cut.lines]) == (
        "draft", 16_258, [16_097, 161])
    assert cut.period_end.ToSeconds() == moment(2024, 3, 11)

    # 21 Mar: cancelled at once, the year's period is billed for its 10 of 365 days: 499000 * 10/365 = 13671.23
    clock.set(2024, 3, 21)
    cancelled = (await billing.CancelSubscription(analytics_pb2.CancelSubscriptionRequest(
        at_period_end=False, reason="budget"), metadata=bob)).subscription
    assert (cancelled.status, cancelled.plan_id, cancelled.current_period_end.ToSeconds()) == (
        "cancelled", "free", moment(2024, 4, 1))
    again = await fails(billing.CancelSubscription(analytics_pb2.CancelSubscriptionRequest(), metadata=bob),
                        grpc.StatusCode.FAILED_PRECONDITION)
    assert "free plan" in (again.details() or "")
    clock.set(2024, 3, 21, 2)
    found = await invoices()
    assert [(i.number[-4:], i.status, i.amount_due_cents) for i in found] == [
        ("0002", "open", 13_671), ("0001", "open", 16_258)]

    # Bob never had a trial (Enterprise offers none): Pro starts with one; cancelled in it, it costs nothing
    sub = await update(plan_id="pro-monthly")
    assert (sub.status, sub.trial_end.ToSeconds()) == ("trialing", moment(2024, 4, 4, 2))
    await billing.CancelSubscription(analytics_pb2.CancelSubscriptionRequest(), metadata=bob)
    clock.set(2024, 4, 4, 4)
    latest = (await invoices())[0]
    assert (latest.number[-4:], latest.status, latest.amount_due_cents) == ("0003", "paid", 0)
    assert latest.paid_at.ToSeconds() == moment(2024, 4, 4, 3)
    sub = (await billing.GetSubscription(analytics_pb2.GetSubscriptionRequest(), metadata=bob)).subscription
    assert (sub.status, sub.plan_id) == ("cancelled", "free")
    # the trial is once per tenant
    assert (await update(plan_id="pro-monthly")).status == "active"

    bad = await fails(update(plan_id="platinum"), grpc.StatusCode.INVALID_ARGUMENT)
    assert set(violations(bad)) == {"plan_id"}


async def test_the_plan_catalogue_is_public_and_lists_like_any_other(edge: Client) -> None:
    listed = await _json(await edge.get("/api/v1/billing/plans"), 200)
    assert [p["plan_id"] for p in listed["plans"]] == ["free", "pro-monthly", "pro-yearly", "enterprise-monthly",
                                                       "enterprise-yearly"]
    pro = listed["plans"][1]
    assert (pro["tier"], pro["price_cents"], pro["interval"], pro["currency"], pro["trial_days"]) == (
        "pro", "4900", "month", "usd", 14)
    assert pro["limits"]["included_tokens"] == 2_000_000 and pro["limits"]["rate_limit_multiplier"] == 5
    assert pro["overage_cents_per_1k_tokens"] == 0.8 and pro["active"] is True
    assert [p["plan_id"] for p in (await _json(await edge.get("/api/v1/billing/plans?tier=pro"), 200))["plans"]] == [
        "pro-monthly", "pro-yearly"]
    yearly = await _json(await edge.get('/api/v1/billing/plans?filter=interval="year"'), 200)
    assert [p["plan_id"] for p in yearly["plans"]] == ["pro-yearly", "enterprise-yearly"]
    dear = await _json(await edge.get("/api/v1/billing/plans?filter=price_cents>=49000&order_by=price_cents desc"
                                      "&limit=2"), 200)
    assert [p["plan_id"] for p in dear["plans"]] == ["enterprise-yearly", "enterprise-monthly"]
    assert dear["total_size"] == 3 and dear["next_page_token"]
    assert _fields(await _json(await edge.get("/api/v1/billing/plans?tier=gold"), 400)) == {"tier"}
    assert _fields(await _json(await edge.get("/api/v1/billing/plans?filter=colour=red"), 400)) == {"filter"}


def test_periods_keep_the_anchor_day_and_time_is_priced_by_share() -> None:
    anchor = moment(2024, 1, 31)
    assert [add_months(anchor, k) for k in (1, 2, 13)] == [moment(2024, 2, 29), moment(2024, 3, 31),
                                                           moment(2025, 2, 28)]
    assert period_end(anchor, "month", moment(2024, 3, 1)) == moment(2024, 3, 31)
    assert period_end(anchor, "year", anchor) == moment(2025, 1, 31)
    pro, enterprise = BY_ID["pro-monthly"], BY_ID["enterprise-monthly"]
    # free until 10 Jan, Pro in trial to 24 Jan, then Pro; 1 to 31 January (30 days) reckoned as one period
    history = [State(moment(2024, 1, 10), pro, moment(2024, 1, 24))]
    pieces = segments(history, moment(2024, 1, 1), moment(2024, 1, 31))
    assert [(s.plan.plan_id, s.trial) for s in pieces] == [("free", False), ("pro-monthly", True),
                                                           ("pro-monthly", False)]
    span = Span(moment(2024, 1, 1), moment(2024, 1, 31), moment(2024, 1, 1), moment(2024, 1, 31))
    priced = reckon(span, history, {"tokens": Decimal(3_000_000), "agents": Decimal(30)})
    # fee: Pro for 7 of 30 days = 1143.33; tokens: 100k * 9/30 + 2M * 21/30 = 1,430,000, 1,570,000 over = 1256 c
    assert [line.amount_cents for line in priced.lines] == [0, 1143, 1256]
    assert (priced.included["tokens"], priced.included["agents"], priced.total_cents) == (1_430_000, 25, 2399)
    unlimited = reckon(span, [State(moment(2024, 1, 1), enterprise)], {"agents": Decimal(300)})
    assert (unlimited.included["agents"], unlimited.overage["agents"], unlimited.total_cents) == (
        -1, Decimal(0), 49_900)
    assert reckon(span, [], {"tokens": Decimal(10**9)}).plan == FREE
