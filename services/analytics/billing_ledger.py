"""Reckoning billing time: which plan was in force, what that costs, what it allows and what went over.

Everything here is arithmetic on values handed in (the subscription's log as
states, a stretch of a billing period, the usage recorded in it), so one
function prices both an invoice and the estimate GetBillingUsage shows.

The rules. A stretch of a period is cut where the plan in force changes and
where a trial ends. Each piece costs its plan's price times the share of the
period it covers (nothing while in trial) and brings the same share of its
plan's allowances; a period cut short (an upgrade to another interval, an
immediate cancellation) therefore costs and allows only what it lasted. A
trial is a period of its own, so its share is whole. Usage beyond the
allowance is overage; tokens of overage cost the rate of the plan in force at
the stretch's end, per thousand. Money is reckoned in decimal and each line
is rounded to a whole cent, half up; allowances to whole units.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from agentmesh.v1 import analytics_pb2

from services.analytics.billing_plans import FREE, METERS, PRORATED, UNLIMITED, Plan, day_label

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class State:
    """The state a change left: from `at` on, `plan` is in force, in trial until `trial_end`."""

    at: float
    plan: Plan
    trial_end: float | None = None


@dataclass(frozen=True, slots=True)
class Segment:
    start: float
    end: float
    plan: Plan
    trial: bool


@dataclass(frozen=True, slots=True)
class Span:
    """The stretch [start, end) of a billing period whose natural bounds are [period_start, period_end)."""

    start: float
    end: float
    period_start: float
    period_end: float

    def share(self, start: float, end: float) -> Decimal:
        return Decimal(end - start) / Decimal(self.period_end - self.period_start)


@dataclass(frozen=True, slots=True)
class Line:
    description: str
    quantity: float
    unit_amount_cents: float
    amount_cents: int

    def as_json(self) -> dict[str, Any]:
        return {"description": self.description, "quantity": self.quantity,
                "unit_amount_cents": self.unit_amount_cents, "amount_cents": self.amount_cents}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Line:
        return cls(str(data["description"]), float(data["quantity"]), float(data["unit_amount_cents"]),
                   int(data["amount_cents"]))

    def message(self) -> analytics_pb2.InvoiceLine:
        return analytics_pb2.InvoiceLine(description=self.description, quantity=self.quantity,
                                         unit_amount_cents=self.unit_amount_cents, amount_cents=self.amount_cents)


@dataclass(frozen=True, slots=True)
class Reckoning:
    """What a stretch costs and allows, given its usage."""

    plan: Plan  # in force at the stretch's end
    fees: tuple[Line, ...]
    included: Mapping[str, int]  # meter -> allowance, UNLIMITED for none
    overage: Mapping[str, Decimal]
    overage_line: Line | None

    @property
    def lines(self) -> list[Line]:
        return [*self.fees, *([self.overage_line] if self.overage_line else [])]

    @property
    def fee_cents(self) -> int:
        return sum(line.amount_cents for line in self.fees)

    @property
    def overage_cents(self) -> int:
        return self.overage_line.amount_cents if self.overage_line else 0

    @property
    def total_cents(self) -> int:
        return self.fee_cents + self.overage_cents


def cents(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def state_at(history: Sequence[State], moment: float) -> State:
    """The state in force at the moment (changes at that very moment included); free before any change."""
    found = State(-math.inf, FREE)
    for state in history:
        if state.at > moment:
            break
        found = state
    return found


def segments(history: Sequence[State], start: float, end: float) -> list[Segment]:
    """[start, end) cut where the plan or the trial changes; `history` is in the order of the changes."""
    points: list[tuple[float, State]] = [(start, state_at(history, start))]
    points += [(s.at, s) for s in history if start < s.at < end]
    found: list[Segment] = []
    for i, (begin, state) in enumerate(points):
        finish = points[i + 1][0] if i + 1 < len(points) else end
        if finish <= begin:
            continue
        if state.trial_end is not None and begin < state.trial_end:
            cut = min(state.trial_end, finish)
            found.append(Segment(begin, cut, state.plan, True))
            if cut < finish:
                found.append(Segment(cut, finish, state.plan, False))
        else:
            found.append(Segment(begin, finish, state.plan, False))
    merged: list[Segment] = []
    for seg in found:
        last = merged[-1] if merged else None
        if last and last.plan == seg.plan and last.trial == seg.trial and last.end == seg.start:
            merged[-1] = Segment(last.start, seg.end, seg.plan, seg.trial)
        else:
            merged.append(seg)
    return merged


def _fee(span: Span, seg: Segment) -> Line:
    share = span.share(seg.start, seg.end)
    when = f"{day_label(seg.start)} to {day_label(seg.end)}"
    quantity = float(round(share, 6))
    if seg.trial:
        return Line(f"{seg.plan.label} trial, {when}", quantity, 0.0, 0)
    return Line(f"{seg.plan.label}, {when}", quantity, float(seg.plan.price_cents),
                cents(seg.plan.price_cents * share))


def reckon(span: Span, history: Sequence[State], usage: Mapping[str, Decimal]) -> Reckoning:
    """Fees, allowances and overage of one stretch of a billing period with the usage recorded in it."""
    pieces = segments(history, span.start, span.end)
    fees = tuple(_fee(span, seg) for seg in pieces if seg.plan.paid)
    allowed: dict[str, Decimal | None] = {m: ZERO for m in PRORATED}
    ceiling = 0
    for seg in pieces:
        share = span.share(seg.start, seg.end)
        for meter in PRORATED:
            amount, so_far = seg.plan.included[meter], allowed[meter]
            allowed[meter] = None if amount == UNLIMITED or so_far is None else so_far + amount * share
        agents = seg.plan.included["agents"]
        ceiling = UNLIMITED if UNLIMITED in (agents, ceiling) else max(ceiling, agents)
    included = {m: UNLIMITED if v is None else cents(v) for m, v in allowed.items()}
    included["agents"] = ceiling
    overage = {m: ZERO if included[m] == UNLIMITED else max(ZERO, usage.get(m, ZERO) - included[m])
               for m in METERS}
    end_plan = pieces[-1].plan if pieces else state_at(history, span.start).plan
    line = None
    tokens = overage["tokens"]
    if tokens > 0 and end_plan.overage_per_1k_tokens > 0:
        thousands = tokens / 1000
        line = Line(f"Token overage: {int(tokens):,} tokens beyond the {included['tokens']:,} included",
                    float(thousands), float(end_plan.overage_per_1k_tokens),
                    cents(thousands * end_plan.overage_per_1k_tokens))
    return Reckoning(end_plan, fees, included, overage, line)
