"""Rate limits at the edge: which windows apply to a call, and whether it may go on.

Numbers come from the contracts: the file option ``(agentmesh.v1.rate_limits)``
of ``common.proto`` lists the classes (requests per minute and per hour) and the
tier multipliers, and each method's policy names its class. :class:`LimitTable`
turns them into windows; a :class:`Limiter` decides.

Algorithm: fixed windows aligned on the Unix epoch (a minute window starts at
second 0 of each minute, an hour window at the top of each hour). For each
window a key keeps the window's start and its count. Counts are exact, a key
costs a few integers whatever its limit, and ``X-RateLimit-Reset`` is simply
the end of the window, as seed 003 describes it. The price is the known one of
fixed windows: a client may spend one window's allowance just before a boundary
and the next one just after it.

A decision is one atomic step over all windows of the call: when any window is
full the call is refused and nothing is counted anywhere, so a call refused by
the hour window takes nothing from the minute window. :class:`MemoryLimiter`
gets this from asyncio (no ``await`` between reading and counting);
:class:`RedisLimiter` runs one Lua script per decision, so every edge sharing a
Redis sees the same counts. :class:`FallbackLimiter` keeps ordinary routes
served by the in-process limiter while Redis is unreachable, and refuses
(:class:`LimiterUnavailable`, answered 503) for methods whose policy says
``rate_limit_fail_closed``.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any, NamedTuple, Protocol

from agentmesh.v1 import common_pb2, options_pb2
from prometheus_client import CollectorRegistry, Counter
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.common.policy import Policy
from services.common.settings import Settings

KEY_PREFIX = "agentmesh:rl:"
DEFAULT_CLASS = "default"
DEFAULT_REDIS_TIMEOUT = 1.0  # seconds per Redis decision, pool wait included, before the fallback decides
REFUSAL_DETAIL = "Rate limit exceeded"
_RATE_LIMITS_OPTION: Any = options_pb2.rate_limits
_SETTINGS_DEFAULT_PER_MINUTE = next(f.default for f in fields(Settings) if f.name == "rate_limit_default")


class Window(NamedTuple):
    """At most ``limit`` calls per window of ``seconds`` (windows of one call differ in length)."""

    limit: int
    seconds: int


class Decision(NamedTuple):
    """The answer for one call, with what the rate-limit headers report.

    ``limit``, ``remaining`` and ``reset`` describe the window that matters to
    the caller: the one that refused the call (the latest to free up when
    several did), else the one with the fewest calls left (on a tie, the one
    that frees up later). A tuple because one is built on every call.
    """

    allowed: bool
    limit: int
    remaining: int
    reset: int  # Unix seconds at which that window starts over
    retry_after: int = 0  # seconds to wait, at least 1 when refused


class LimiterUnavailable(Exception):
    """No decision could be made: the shared store is unreachable and the method fails closed."""


class Limiter(Protocol):
    async def hit(
        self, key: str, windows: Sequence[Window], now: float | None = None, *, fail_closed: bool = False
    ) -> Decision:
        """Check every window and, only when all have room, count the call in all of them.

        ``now`` is Unix seconds (the limiter's own clock when None). ``fail_closed``
        matters only to limiters that can fall back; the others ignore it.
        """
        ...


# ---------------------------------------------------------------------------- the table


@dataclass(frozen=True, slots=True)
class LimitTable:
    """Windows for every (class, tier), resolved once at start-up."""

    classes: Mapping[str, tuple[Window, ...]]
    tiers: Mapping[str, float]
    _resolved: Mapping[tuple[str, str], tuple[Window, ...]]

    @classmethod
    def build(cls, classes: Mapping[str, tuple[int, int]], tiers: Mapping[str, float]) -> LimitTable:
        """From {class: (per_minute, per_hour)}; a figure of 0 means no such window."""
        if DEFAULT_CLASS not in classes:
            raise ValueError(f"the rate-limit table has no {DEFAULT_CLASS!r} class")
        base: dict[str, tuple[Window, ...]] = {}
        for name, (per_minute, per_hour) in classes.items():
            windows = tuple(Window(n, s) for n, s in ((per_minute, 60), (per_hour, 3600)) if n > 0)
            if not windows:
                raise ValueError(f"rate-limit class {name!r} has neither a per-minute nor a per-hour figure")
            base[name] = windows
        resolved = {(name, ""): windows for name, windows in base.items()}
        for tier, factor in tiers.items():
            if factor <= 0:
                raise ValueError(f"tier {tier!r}: the multiplier must be positive, not {factor}")
            for name, windows in base.items():
                resolved[(name, tier)] = tuple(Window(max(1, int(w.limit * factor)), w.seconds) for w in windows)
        return cls(MappingProxyType(base), MappingProxyType(dict(tiers)), MappingProxyType(resolved))

    @classmethod
    def from_contracts(cls, settings: Settings | None = None) -> LimitTable:
        """The contracts' table; RATE_LIMIT_DEFAULT, when set, replaces the default class's per-minute figure."""
        option = common_pb2.DESCRIPTOR.GetOptions().Extensions[_RATE_LIMITS_OPTION]
        classes = {c.name: (int(c.per_minute), int(c.per_hour)) for c in option.classes}
        if settings is not None and settings.rate_limit_default != _SETTINGS_DEFAULT_PER_MINUTE:
            classes[DEFAULT_CLASS] = (settings.rate_limit_default, classes.get(DEFAULT_CLASS, (0, 0))[1])
        return cls.build(classes, {t.tier: float(t.multiplier) for t in option.tiers})

    def windows(self, rate_class: str, tier: str = "") -> tuple[Window, ...]:
        """An unknown tier counts as multiplier 1; an unknown class (a foreign service) as the default class."""
        found = self._resolved.get((rate_class, tier))
        if found is not None:
            return found
        return self.classes.get(rate_class) or self.classes[DEFAULT_CLASS]


def key_for(user_id: str, address: str, rate_class: str) -> str:
    """Whom a call is counted against: its principal, else its client address."""
    if user_id:
        return f"{rate_class}:user:{user_id}"
    return f"{rate_class}:addr:{_client_of(address) if ':' in address else address or 'unknown'}"


@functools.lru_cache(maxsize=4096)
def _client_of(address: str) -> str:
    """IPv6 callers are counted per /64, the block one subscriber usually holds, so
    rotating addresses inside it does not multiply the allowance; IPv4 written
    as IPv6 (::ffff:a.b.c.d) is the IPv4 caller."""
    try:
        ip = ipaddress.IPv6Address(address.partition("%")[0])
    except ValueError:
        return address
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return f"{ipaddress.IPv6Network((ip, 64), strict=False).network_address}/64"


def rate_limit_headers(decision: Decision) -> dict[str, str]:
    """Headers of every rate-limited response; a refusal adds Retry-After."""
    headers = {
        "X-RateLimit-Limit": str(decision.limit),
        "X-RateLimit-Remaining": str(decision.remaining),
        "X-RateLimit-Reset": str(decision.reset),
    }
    if not decision.allowed:
        headers["Retry-After"] = str(decision.retry_after)
    return headers


def refusal_fields(decision: Decision) -> dict[str, object]:
    """Seed 003's 429 body fields, for the edge to merge into its error body."""
    return {"detail": REFUSAL_DETAIL, "retry_after": decision.retry_after}


# ---------------------------------------------------------------------------- in process


class _Entry:
    __slots__ = ("expires", "slots")

    def __init__(self) -> None:
        self.expires = 0  # when every window of the key has ended
        self.slots: dict[int, list[int]] = {}  # window seconds -> [window start, count]


class MemoryLimiter:
    """Counts in this process; exact because a decision never awaits.

    Keys whose windows have all ended are swept at most every ``sweep_every``
    seconds, so memory follows the number of callers seen in the last hour.
    """

    def __init__(self, clock: Callable[[], float] = time.time, sweep_every: float = 30.0) -> None:
        self.clock = clock
        self._sweep_every = sweep_every
        self._entries: dict[str, _Entry] = {}
        self._next_sweep = 0.0

    def __len__(self) -> int:
        return len(self._entries)

    async def hit(
        self, key: str, windows: Sequence[Window], now: float | None = None, *, fail_closed: bool = False
    ) -> Decision:
        return self.decide(key, windows, self.clock() if now is None else now)

    def decide(self, key: str, windows: Sequence[Window], now: float) -> Decision:
        """The atomic step itself, synchronous."""
        if not windows:
            raise ValueError("a rate-limit decision needs at least one window")
        if now >= self._next_sweep:
            self._sweep(now)
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry()
        slots = entry.slots
        blocked = False
        limit = left = reset = -1
        for cap, seconds in windows:
            start = int(now // seconds) * seconds
            slot = slots.get(seconds)
            used = slot[1] if slot is not None and slot[0] == start else 0
            ends = start + seconds
            if used >= cap:
                if not blocked or ends > reset:
                    limit, reset = cap, ends
                blocked = True
            elif not blocked:
                rest = cap - used - 1
                if left < 0 or rest < left or (rest == left and ends > reset):
                    limit, left, reset = cap, rest, ends
        if blocked:
            return Decision(False, limit, 0, reset, max(1, math.ceil(reset - now)))
        for _cap, seconds in windows:
            start = int(now // seconds) * seconds
            slot = slots.get(seconds)
            if slot is not None and slot[0] == start:
                slot[1] += 1
            else:
                slots[seconds] = [start, 1]
                if start + seconds > entry.expires:
                    entry.expires = start + seconds
        return Decision(True, limit, left, reset, 0)

    def _sweep(self, now: float) -> None:
        for key in [key for key, entry in self._entries.items() if entry.expires <= now]:
            del self._entries[key]
        self._next_sweep = now + self._sweep_every


# ---------------------------------------------------------------------------- Redis

# One decision for one key. KEYS[1] is a hash holding, per window length L,
# the fields "L:s" (window start) and "L:n" (count). ARGV[1] is the time in
# Unix seconds, or "" to use the Redis server's clock (so that edges with
# skewed clocks still share windows); then limit, seconds pairs. The reply is
# {allowed, limit, remaining, reset, retry_after}, as MemoryLimiter computes it.
_DECIDE = """
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local n = (#ARGV - 1) / 2
local names = {}
for i = 1, n do
  names[2 * i - 1] = ARGV[2 * i + 1] .. ':s'
  names[2 * i] = ARGV[2 * i + 1] .. ':n'
end
local stored = redis.call('HMGET', KEYS[1], unpack(names))
local starts, blocked, limit, left, reset, last = {}, false, -1, -1, -1, 0
for i = 1, n do
  local cap = tonumber(ARGV[2 * i])
  local seconds = tonumber(ARGV[2 * i + 1])
  local start = math.floor(now / seconds) * seconds
  local used = 0
  if tonumber(stored[2 * i - 1]) == start then used = tonumber(stored[2 * i]) or 0 end
  local ends = start + seconds
  starts[i] = start
  if ends > last then last = ends end
  if used >= cap then
    if not blocked or ends > reset then limit, reset = cap, ends end
    blocked = true
  elseif not blocked then
    local rest = cap - used - 1
    if left < 0 or rest < left or (rest == left and ends > reset) then limit, left, reset = cap, rest, ends end
  end
end
if blocked then
  return {0, limit, 0, reset, math.max(1, math.ceil(reset - now))}
end
local values = {}
for i = 1, n do
  local used = 0
  if tonumber(stored[2 * i - 1]) == starts[i] then used = tonumber(stored[2 * i]) or 0 end
  values[4 * i - 3], values[4 * i - 2] = names[2 * i - 1], starts[i]
  values[4 * i - 1], values[4 * i] = names[2 * i], used + 1
end
redis.call('HSET', KEYS[1], unpack(values))
redis.call('EXPIRE', KEYS[1], math.ceil(last - now) + 1)
return {1, limit, left, reset, 0}
"""


class RedisLimiter:
    """Counts in Redis, shared by every edge: one EVALSHA per decision.

    Keys are ``agentmesh:rl:<key>`` and expire when their longest window ends.
    Any failure, including a reply slower than ``timeout``, raises
    :class:`LimiterUnavailable`; nothing is retried here.
    """

    def __init__(self, client: Redis, *, timeout: float = DEFAULT_REDIS_TIMEOUT) -> None:
        self._client = client
        self._script = client.register_script(_DECIDE)
        self._timeout = timeout

    @classmethod
    def from_url(cls, url: str, *, timeout: float = DEFAULT_REDIS_TIMEOUT, max_connections: int = 64) -> RedisLimiter:
        """A client whose connect, read and pool waits are all bounded by ``timeout``."""
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=timeout,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
        return cls(Redis.from_pool(pool), timeout=timeout)

    async def hit(
        self, key: str, windows: Sequence[Window], now: float | None = None, *, fail_closed: bool = False
    ) -> Decision:
        if not windows:
            raise ValueError("a rate-limit decision needs at least one window")
        args: list[str | int] = ["" if now is None else repr(float(now))]
        for window in windows:
            args += (window.limit, window.seconds)
        try:
            async with asyncio.timeout(self._timeout):
                reply = await self._script(keys=[KEY_PREFIX + key], args=args)
        except (RedisError, OSError, TimeoutError) as exc:
            raise LimiterUnavailable(f"Redis rate limiter: {type(exc).__name__}: {exc}") from exc
        allowed, limit, remaining, reset, retry_after = (int(v) for v in reply)
        return Decision(bool(allowed), limit, remaining, reset, retry_after)

    async def ping(self) -> bool:
        """Whether Redis answers within the timeout (for /health/ready)."""
        try:
            async with asyncio.timeout(self._timeout):
                return bool(await self._client.ping())
        except (RedisError, OSError, TimeoutError):
            return False

    async def aclose(self) -> None:
        await self._client.aclose()


# ---------------------------------------------------------------------------- fallback and metrics


class RateLimitMetrics:
    """The edge's rate-limit series, in the registry it is given."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.decisions = Counter(
            "edge_ratelimit_decisions_total",
            "Rate-limit decisions by class and outcome (allowed, limited, unavailable).",
            ("class", "outcome"),
            registry=registry,
        )
        self.fallbacks = Counter(
            "edge_ratelimit_fallback_total",
            "Decisions made by the in-process limiter because Redis failed (error, timeout) or was skipped (open).",
            ("reason",),
            registry=registry,
        )


class FallbackLimiter:
    """The shared limiter while it answers, the in-process one while it does not.

    After a failure the primary is left alone for ``retry_after`` seconds; then
    one call probes it while the others keep to the fallback.
    """

    def __init__(
        self,
        primary: Limiter,
        fallback: Limiter,
        metrics: RateLimitMetrics,
        *,
        retry_after: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._primary = primary
        self._fallback = fallback
        self._metrics = metrics
        self._retry_after = retry_after
        self._monotonic = monotonic
        self._open_until = 0.0  # 0: closed, the primary is in use
        self._probing = False

    @property
    def degraded(self) -> bool:
        """Whether the primary failed last time it was asked (for /health/ready)."""
        return self._open_until > 0

    async def hit(
        self, key: str, windows: Sequence[Window], now: float | None = None, *, fail_closed: bool = False
    ) -> Decision:
        reason = "open"
        if self._may_ask_primary():
            probing = self._open_until > 0
            try:
                decision = await self._primary.hit(key, windows, now)
            except LimiterUnavailable as exc:
                self._open_until = self._monotonic() + self._retry_after
                reason = "timeout" if isinstance(exc.__cause__, TimeoutError | RedisTimeoutError) else "error"
                if fail_closed:
                    raise
            else:
                self._open_until = 0.0
                return decision
            finally:
                if probing:
                    self._probing = False
        if fail_closed:
            raise LimiterUnavailable("the shared rate limiter is unreachable")
        self._metrics.fallbacks.labels(reason).inc()
        return await self._fallback.hit(key, windows, now)

    def _may_ask_primary(self) -> bool:
        if self._open_until == 0:
            return True
        if self._probing or self._monotonic() < self._open_until:
            return False
        self._probing = True
        return True

    async def aclose(self) -> None:
        for limiter in (self._primary, self._fallback):
            close: Callable[[], Awaitable[None]] | None = getattr(limiter, "aclose", None)
            if close is not None:
                await close()


# ---------------------------------------------------------------------------- the edge's entry point


class RateLimits:
    """The rate-limit step of a call: its windows, its key, the decision, the metrics."""

    def __init__(self, table: LimitTable, limiter: Limiter, metrics: RateLimitMetrics) -> None:
        self.table = table
        self.limiter = limiter
        self.metrics = metrics
        self._outcomes: dict[tuple[str, str], Any] = {}  # metric children by (class, outcome): classes are few

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        registry: CollectorRegistry,
        *,
        redis_timeout: float = DEFAULT_REDIS_TIMEOUT,
        clock: Callable[[], float] = time.time,
    ) -> RateLimits:
        """Redis behind an in-process fallback when REDIS_URL is set, in-process only otherwise."""
        metrics = RateLimitMetrics(registry)
        limiter: Limiter = MemoryLimiter(clock)
        if settings.redis_url:
            redis = RedisLimiter.from_url(settings.redis_url, timeout=redis_timeout)
            limiter = FallbackLimiter(redis, limiter, metrics)
        return cls(LimitTable.from_contracts(settings), limiter, metrics)

    async def check(
        self, policy: Policy, *, user_id: str, address: str, tier: str = "", now: float | None = None
    ) -> Decision:
        """Raises LimiterUnavailable when the method fails closed and no limiter can decide."""
        rate_class = policy.rate_limit
        windows = self.table.windows(rate_class, tier)
        key = key_for(user_id, address, rate_class)
        limiter = self.limiter
        try:
            if type(limiter) is MemoryLimiter:  # decides without waiting: no coroutine for it
                decision = limiter.decide(key, windows, limiter.clock() if now is None else now)
            else:
                decision = await limiter.hit(key, windows, now, fail_closed=policy.rate_limit_fail_closed)
        except LimiterUnavailable:
            self._count(rate_class, "unavailable")
            raise
        self._count(rate_class, "allowed" if decision.allowed else "limited")
        return decision

    def _count(self, rate_class: str, outcome: str) -> None:
        child = self._outcomes.get((rate_class, outcome))
        if child is None:
            child = self._outcomes[(rate_class, outcome)] = self.metrics.decisions.labels(rate_class, outcome)
        child.inc()

    async def aclose(self) -> None:
        close: Callable[[], Awaitable[None]] | None = getattr(self.limiter, "aclose", None)
        if close is not None:
            await close()
