"""The plans on offer and the calendar of billing periods.

The catalogue is code, not data: five plans over the three tiers the
contracts' rate-limit table knows (free, pro, enterprise), pro and enterprise
each by the month or by the year (ten months' price, twelve months'
allowance). Allowances are per billing period; -1 means unlimited. Only
tokens beyond the allowance cost money (`overage_cents_per_1k_tokens`); the
other meters are allowances that usage is shown against. A plan's tier is
also its rate-limit tier, whose multiplier is read from common.proto's
`(agentmesh.v1.rate_limits)` option rather than written here again.

Periods: a paid subscription's periods follow its anchor, one month or one
year at a time, keeping the anchor's day of month where the month has it
(31 January, 29 February, 31 March). Free time is counted in calendar months
(UTC).
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from agentmesh.v1 import analytics_pb2, common_pb2, options_pb2

from services.common.protoutil import struct

DAY = 86_400.0
CURRENCY = "usd"
TIERS = ("free", "pro", "enterprise")
INTERVALS = ("month", "year")
# The meters of a period, in the order usage lists them. All but `agents` are counted over time and
# prorated with it; `agents` (distinct agents at work) is a ceiling, never prorated.
METERS = ("tokens", "tasks", "workflow_runs", "tts_seconds", "transcribe_seconds", "agents")
PRORATED = METERS[:-1]
UNLIMITED = -1


_RATE_LIMITS: Any = options_pb2.rate_limits


def _tier_multipliers() -> Mapping[str, float]:
    option: Any = common_pb2.DESCRIPTOR.GetOptions().Extensions[_RATE_LIMITS]
    return {t.tier: float(t.multiplier) for t in option.tiers}


MULTIPLIERS = MappingProxyType(dict(_tier_multipliers()))


@dataclass(frozen=True, slots=True)
class Plan:
    plan_id: str
    name: str
    description: str
    tier: str
    price_cents: int
    interval: str
    included: Mapping[str, int]  # meter -> allowance per billing period (agents: at most at once)
    overage_per_1k_tokens: Decimal  # cents
    trial_days: int = 0
    features: tuple[str, ...] = field(default_factory=tuple)
    active: bool = True

    @property
    def paid(self) -> bool:
        return self.price_cents > 0

    @property
    def rank(self) -> tuple[int, int]:
        """Higher is more: the tier first, then the longer commitment."""
        return TIERS.index(self.tier), INTERVALS.index(self.interval)

    @property
    def label(self) -> str:
        return f"{self.name} ({self.interval}ly)" if self.paid else self.name


def _allowance(tokens: int, tasks: int, runs: int, tts: int, transcribe: int, agents: int) -> Mapping[str, int]:
    return MappingProxyType({"tokens": tokens, "tasks": tasks, "workflow_runs": runs, "tts_seconds": tts,
                             "transcribe_seconds": transcribe, "agents": agents})


_PRO_FEATURES = ("25 agents", "2M model tokens a month included", "teams and workflows", "speech: 10 h of TTS and"
                 " 10 h of transcription a month", "5x rate limits", "$8 per extra million tokens")
_ENTERPRISE_FEATURES = ("unlimited agents, tasks and workflow runs", "30M model tokens a month included",
                        "speech: 100 h of TTS and 100 h of transcription a month", "20x rate limits",
                        "$5 per extra million tokens")

PLANS: tuple[Plan, ...] = (
    Plan("free", "Free", "For trying the platform: a few agents and a small monthly allowance.", "free", 0, "month",
         _allowance(100_000, 1_000, 100, 600, 600, 3), Decimal(0),
         features=("3 agents", "100k model tokens a month", "1,000 tasks and 100 workflow runs a month",
                   "10 min of TTS and 10 min of transcription a month", "standard rate limits")),
    Plan("pro-monthly", "Pro", "For teams running agents every day, billed monthly.", "pro", 4_900, "month",
         _allowance(2_000_000, 20_000, 2_000, 36_000, 36_000, 25), Decimal("0.8"), trial_days=14,
         features=(*_PRO_FEATURES, "14-day free trial")),
    Plan("pro-yearly", "Pro", "Pro billed yearly: twelve months for the price of ten.", "pro", 49_000, "year",
         _allowance(24_000_000, 240_000, 24_000, 432_000, 432_000, 25), Decimal("0.8"), trial_days=14,
         features=(*_PRO_FEATURES, "14-day free trial", "two months free")),
    Plan("enterprise-monthly", "Enterprise", "For organisations at scale, billed monthly.", "enterprise", 49_900,
         "month", _allowance(30_000_000, UNLIMITED, UNLIMITED, 360_000, 360_000, UNLIMITED), Decimal("0.5"),
         features=_ENTERPRISE_FEATURES),
    Plan("enterprise-yearly", "Enterprise", "Enterprise billed yearly: twelve months for the price of ten.",
         "enterprise", 499_000, "year",
         _allowance(360_000_000, UNLIMITED, UNLIMITED, 4_320_000, 4_320_000, UNLIMITED), Decimal("0.5"),
         features=(*_ENTERPRISE_FEATURES, "two months free")),
)
BY_ID: Mapping[str, Plan] = MappingProxyType({p.plan_id: p for p in PLANS})
FREE = BY_ID["free"]


def plan(plan_id: str) -> Plan:
    """A stored plan id's plan; an id the catalogue no longer has counts as free (nothing is billed for it)."""
    return BY_ID.get(plan_id, FREE)


def limits(p: Plan) -> dict[str, Any]:
    """The plan's quotas as the Plan message's `limits` carry them."""
    found: dict[str, Any] = {f"included_{m}": p.included[m] for m in PRORATED}
    found["max_agents"] = p.included["agents"]
    found["rate_limit_tier"] = p.tier
    found["rate_limit_multiplier"] = MULTIPLIERS.get(p.tier, 1.0)
    return found


def plan_message(p: Plan) -> analytics_pb2.Plan:
    return analytics_pb2.Plan(
        plan_id=p.plan_id, name=p.name, description=p.description, tier=p.tier, price_cents=p.price_cents,
        currency=CURRENCY, interval=p.interval, features=list(p.features), limits=struct(limits(p)),
        overage_cents_per_1k_tokens=float(p.overage_per_1k_tokens), trial_days=p.trial_days, active=p.active,
    )


# ---------------------------------------------------------------------------
# Periods


def add_months(anchor: float, months: int) -> float:
    """The anchor moved by whole months, on the anchor's day of month or the month's last day."""
    moment = datetime.fromtimestamp(anchor, UTC)
    year, month0 = divmod(moment.year * 12 + moment.month - 1 + months, 12)
    day = min(moment.day, calendar.monthrange(year, month0 + 1)[1])
    return moment.replace(year=year, month=month0 + 1, day=day).timestamp()


def period_end(anchor: float, interval: str, after: float) -> float:
    """The end of the period on the anchor's grid that contains `after` (the first step past it)."""
    step = 12 if interval == "year" else 1
    start, moment = datetime.fromtimestamp(anchor, UTC), datetime.fromtimestamp(after, UTC)
    k = max(1, ((moment.year - start.year) * 12 + moment.month - start.month) // step)
    while k > 1 and add_months(anchor, (k - 1) * step) > after:
        k -= 1
    while add_months(anchor, k * step) <= after:
        k += 1
    return add_months(anchor, k * step)


def month_bounds(moment: float) -> tuple[float, float]:
    """The calendar month (UTC) that contains the moment."""
    day = datetime.fromtimestamp(moment, UTC)
    start = datetime(day.year, day.month, 1, tzinfo=UTC)
    return start.timestamp(), add_months(start.timestamp(), 1)


def day_label(moment: float) -> str:
    day = datetime.fromtimestamp(moment, UTC)
    return f"{day.day} {day:%b %Y}"
