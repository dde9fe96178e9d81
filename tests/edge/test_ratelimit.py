"""Rate limits: the table from the contracts, window arithmetic, exactness, Redis and its fallback."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Sequence

import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis
from redis.exceptions import TimeoutError as RedisTimeoutError

from edge.ratelimit import (
    KEY_PREFIX,
    Decision,
    FallbackLimiter,
    LimiterUnavailable,
    LimitTable,
    MemoryLimiter,
    RateLimitMetrics,
    RateLimits,
    RedisLimiter,
    Window,
    key_for,
    rate_limit_headers,
    refusal_fields,
)
from services.common import policy
from services.common.policy import Policy
from services.common.settings import Settings
from tests.redis_server import free_port, redis_url  # noqa: F401  (redis_url is a fixture)

T0 = 1_699_999_200  # a Unix time on the hour (and so on the minute)
LLM = (Window(10, 60), Window(100, 3600))


# ---------------------------------------------------------------------------- the table

TABLE = [
    ("llm", "", [(10, 60), (100, 3600)]),
    ("tts", "", [(20, 60), (200, 3600)]),
    ("transcribe", "", [(20, 60), (200, 3600)]),
    ("chat", "", [(30, 60), (500, 3600)]),
    ("default", "", [(60, 60), (1000, 3600)]),
    ("auth", "", [(10, 60), (100, 3600)]),
    ("llm", "free", [(10, 60), (100, 3600)]),
    ("llm", "pro", [(50, 60), (500, 3600)]),
    ("chat", "enterprise", [(600, 60), (10000, 3600)]),
    ("default", "pro", [(300, 60), (5000, 3600)]),
    ("llm", "no-such-tier", [(10, 60), (100, 3600)]),
    ("no-such-class", "", [(60, 60), (1000, 3600)]),
    ("no-such-class", "pro", [(60, 60), (1000, 3600)]),
]


@pytest.mark.parametrize(("rate_class", "tier", "expected"), TABLE)
def test_limit_table_from_contracts(rate_class: str, tier: str, expected: list[tuple[int, int]]) -> None:
    assert LimitTable.from_contracts().windows(rate_class, tier) == tuple(Window(*w) for w in expected)


@pytest.mark.parametrize(
    ("env", "default_windows"),
    [
        ({}, ((60, 60), (1000, 3600))),
        ({"RATE_LIMIT_DEFAULT": "60"}, ((60, 60), (1000, 3600))),
        ({"RATE_LIMIT_DEFAULT": "120"}, ((120, 60), (1000, 3600))),
        ({"RATE_LIMIT_DEFAULT": "5"}, ((5, 60), (1000, 3600))),
    ],
)
def test_rate_limit_default_overrides_the_default_minute(
    env: dict[str, str], default_windows: tuple[tuple[int, int], ...]
) -> None:
    table = LimitTable.from_contracts(Settings.from_env(env))
    assert table.windows("default") == default_windows
    assert table.windows("llm") == LLM
    pro = table.windows("default", "pro")
    assert pro == tuple(Window(n * 5, s) for n, s in default_windows)


def test_every_policy_class_is_in_the_table() -> None:
    table = LimitTable.from_contracts()
    assert {info.policy.rate_limit for info in policy.table().values()} <= set(table.classes)


@pytest.mark.parametrize(
    ("classes", "tiers", "message"),
    [
        ({"llm": (10, 100)}, {}, "no 'default' class"),
        ({"default": (0, 0)}, {}, "neither"),
        ({"default": (60, 1000)}, {"odd": 0.0}, "must be positive"),
    ],
)
def test_bad_tables_are_refused(classes: dict[str, tuple[int, int]], tiers: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LimitTable.build(classes, tiers)


def test_a_zero_figure_means_no_such_window_and_fractions_round_down() -> None:
    table = LimitTable.build({"default": (60, 0), "slow": (0, 7)}, {"half": 0.5, "tiny": 0.01})
    assert table.windows("default") == (Window(60, 60),)
    assert table.windows("slow", "half") == (Window(3, 3600),)
    assert table.windows("slow", "tiny") == (Window(1, 3600),)


@pytest.mark.parametrize(
    ("user_id", "address", "key"),
    [
        ("u-1", "10.0.0.1", "llm:user:u-1"),
        ("", "10.0.0.1", "llm:addr:10.0.0.1"),
        ("", "::ffff:10.0.0.1", "llm:addr:10.0.0.1"),
        ("", "2001:db8:1:2:aaaa::1", "llm:addr:2001:db8:1:2::/64"),
        ("", "2001:db8:1:2:bbbb::9", "llm:addr:2001:db8:1:2::/64"),
        ("", "", "llm:addr:unknown"),
        ("", "not-an-ip", "llm:addr:not-an-ip"),
        ("", "fe80::1%eth0", "llm:addr:fe80::/64"),
        ("", "not:an:ip", "llm:addr:not:an:ip"),
    ],
)
def test_key_for(user_id: str, address: str, key: str) -> None:
    assert key_for(user_id, address, "llm") == key
    assert key_for(user_id, address, "chat") != key


# ---------------------------------------------------------------------------- both limiters


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[MemoryLimiter | RedisLimiter]:
    if request.param == "memory":
        yield MemoryLimiter(clock=lambda: pytest.fail("the tests pass the time explicitly"))
        return
    redis = RedisLimiter.from_url(request.getfixturevalue("redis_url"), timeout=5.0)
    yield redis
    await redis.aclose()


def fresh_key() -> str:
    return f"test:{uuid.uuid4().hex}"


async def test_window_arithmetic(limiter: MemoryLimiter | RedisLimiter) -> None:
    key, windows = fresh_key(), (Window(3, 60), Window(10, 3600))
    assert await limiter.hit(key, windows, T0 + 15) == Decision(True, 3, 2, T0 + 60, 0)
    assert await limiter.hit(key, windows, T0 + 15.5) == Decision(True, 3, 1, T0 + 60, 0)
    assert await limiter.hit(key, windows, T0 + 16) == Decision(True, 3, 0, T0 + 60, 0)
    assert await limiter.hit(key, windows, T0 + 20) == Decision(False, 3, 0, T0 + 60, 40)
    assert await limiter.hit(key, windows, T0 + 59.5) == Decision(False, 3, 0, T0 + 60, 1)
    assert await limiter.hit(key, windows, T0 + 59.99) == Decision(False, 3, 0, T0 + 60, 1)
    # A new minute: its window is empty, the hour keeps the 3 calls counted so far.
    assert await limiter.hit(key, windows, T0 + 60) == Decision(True, 3, 2, T0 + 120, 0)
    for second in (61, 62):
        await limiter.hit(key, windows, T0 + second)
    # Minute 2 and 3 use up the hour: 9 counted, one left, and the hour is now the tighter window.
    for second in (120, 121, 122):
        await limiter.hit(key, windows, T0 + second)
    assert await limiter.hit(key, windows, T0 + 180) == Decision(True, 10, 0, T0 + 3600, 0)
    assert await limiter.hit(key, windows, T0 + 181) == Decision(False, 10, 0, T0 + 3600, 3600 - 181)
    assert (await limiter.hit(key, windows, T0 + 3600)).allowed


async def test_the_tighter_window_is_reported(limiter: MemoryLimiter | RedisLimiter) -> None:
    windows = (Window(10, 60), Window(3, 3600))
    assert await limiter.hit(fresh_key(), windows, T0 + 1) == Decision(True, 3, 2, T0 + 3600, 0)
    # Equal room left in both: the window that frees up later is the one that matters.
    assert await limiter.hit(fresh_key(), (Window(2, 60), Window(2, 3600)), T0 + 1) == Decision(
        True, 2, 1, T0 + 3600, 0
    )


async def test_refused_by_the_hour_consumes_nothing_from_the_minute(limiter: MemoryLimiter | RedisLimiter) -> None:
    key, windows = fresh_key(), (Window(5, 60), Window(6, 3600))
    for i in range(5):
        assert (await limiter.hit(key, windows, T0 + i)).allowed
    assert (await limiter.hit(key, windows, T0 + 61)).allowed  # the hour's sixth call
    for i in range(10):
        refused = await limiter.hit(key, windows, T0 + 62 + i)
        assert refused == Decision(False, 6, 0, T0 + 3600, 3600 - 62 - i)
    # The minute window saw only the one allowed call of minute 1.
    assert await limiter.hit(key, (Window(5, 60),), T0 + 90) == Decision(True, 5, 3, T0 + 120, 0)


async def test_refused_by_the_minute_consumes_nothing_from_the_hour(limiter: MemoryLimiter | RedisLimiter) -> None:
    key, windows = fresh_key(), (Window(2, 60), Window(100, 3600))
    for _ in range(12):
        await limiter.hit(key, windows, T0 + 5)
    assert await limiter.hit(key, (Window(100, 3600),), T0 + 6) == Decision(True, 100, 97, T0 + 3600, 0)


async def test_exactly_the_limit_under_200_concurrent_calls(limiter: MemoryLimiter | RedisLimiter) -> None:
    key = fresh_key()
    decisions = await asyncio.gather(*(limiter.hit(key, LLM, T0 + 30) for _ in range(200)))
    allowed = [d for d in decisions if d.allowed]
    assert len(allowed) == 10
    assert sorted(d.remaining for d in allowed) == list(range(10))
    assert all(d == Decision(False, 10, 0, T0 + 60, 30) for d in decisions if not d.allowed)
    # The refusals took nothing from the hour: 10 counted, 90 left.
    assert await limiter.hit(key, LLM, T0 + 60) == Decision(True, 10, 9, T0 + 120, 0)
    assert await limiter.hit(key, (Window(100, 3600),), T0 + 61) == Decision(True, 100, 88, T0 + 3600, 0)


async def test_keys_do_not_share_counts(limiter: MemoryLimiter | RedisLimiter) -> None:
    one, two = fresh_key(), fresh_key()
    for _ in range(3):
        await limiter.hit(one, (Window(3, 60),), T0)
    assert not (await limiter.hit(one, (Window(3, 60),), T0)).allowed
    assert (await limiter.hit(two, (Window(3, 60),), T0)).allowed


async def test_no_windows_is_a_programming_error(limiter: MemoryLimiter | RedisLimiter) -> None:
    with pytest.raises(ValueError, match="at least one window"):
        await limiter.hit(fresh_key(), (), T0)


# ---------------------------------------------------------------------------- in process only


async def test_memory_limiter_uses_its_clock_and_sweeps_ended_keys() -> None:
    now = [T0 + 1.0]
    limiter = MemoryLimiter(clock=lambda: now[0], sweep_every=30.0)
    for i in range(100):
        await limiter.hit(f"k{i}", (Window(5, 60),))
    await limiter.hit("long", LLM)
    assert len(limiter) == 101
    now[0] = T0 + 61.0  # the minute keys have ended, "long" has its hour to go
    assert (await limiter.hit("k0", (Window(5, 60),))) == Decision(True, 5, 4, T0 + 120, 0)
    assert len(limiter) == 2
    now[0] = T0 + 3600.0
    await limiter.hit("other", (Window(5, 60),))
    assert len(limiter) == 1


# ---------------------------------------------------------------------------- Redis only


async def test_redis_keys_are_namespaced_and_expire(redis_url: str) -> None:  # noqa: F811
    limiter = RedisLimiter.from_url(redis_url)
    client = Redis.from_url(redis_url)
    try:
        key = fresh_key()
        await limiter.hit(key, LLM, T0 + 600)
        assert await client.exists(KEY_PREFIX + key) == 1
        assert 0 < await client.ttl(KEY_PREFIX + key) <= 3000 + 1
        minute_only = fresh_key()
        await limiter.hit(minute_only, (Window(5, 60),), T0 + 50)
        assert 0 < await client.ttl(KEY_PREFIX + minute_only) <= 11
        # A refused call writes nothing, so it cannot extend a key's life.
        full = fresh_key()
        await limiter.hit(full, (Window(1, 60),), T0 + 50)
        ttl = await client.ttl(KEY_PREFIX + full)
        assert not (await limiter.hit(full, (Window(1, 60),), T0 + 10)).allowed
        assert await client.ttl(KEY_PREFIX + full) <= ttl
    finally:
        await client.aclose()
        await limiter.aclose()


async def test_ping_says_whether_redis_answers(redis_url: str) -> None:  # noqa: F811
    live = RedisLimiter.from_url(redis_url)
    dead = RedisLimiter.from_url(f"redis://127.0.0.1:{free_port()}/0")
    try:
        assert await live.ping()
        assert not await dead.ping()
    finally:
        await live.aclose()
        await dead.aclose()


async def test_redis_uses_the_server_clock_without_a_time(redis_url: str) -> None:  # noqa: F811
    limiter = RedisLimiter.from_url(redis_url)
    try:
        before = time.time()
        decision = await limiter.hit(fresh_key(), LLM)
        assert decision.allowed and decision.remaining == 9
        assert decision.reset % 60 == 0 and before < decision.reset <= before + 61
    finally:
        await limiter.aclose()


async def test_redis_script_survives_a_script_flush(redis_url: str) -> None:  # noqa: F811
    limiter = RedisLimiter.from_url(redis_url)
    client = Redis.from_url(redis_url)
    try:
        key = fresh_key()
        assert (await limiter.hit(key, LLM, T0)).remaining == 9
        await client.script_flush()
        assert (await limiter.hit(key, LLM, T0)).remaining == 8
    finally:
        await client.aclose()
        await limiter.aclose()


async def test_a_timed_out_call_leaves_no_stale_reply_behind(redis_url: str) -> None:  # noqa: F811
    limiter = RedisLimiter.from_url(redis_url, timeout=0.1, max_connections=1)
    client = Redis.from_url(redis_url)
    try:
        await limiter.hit(fresh_key(), (Window(5, 60),), T0)  # the one connection is open
        await client.client_pause(300)
        with pytest.raises(LimiterUnavailable) as late:
            await limiter.hit(fresh_key(), (Window(7, 60),), T0)
        assert isinstance(late.value.__cause__, TimeoutError | RedisTimeoutError)
        await asyncio.sleep(0.35)
        # Were the late reply still on the connection, this call would read limit 7.
        assert await limiter.hit(fresh_key(), (Window(3, 60),), T0) == Decision(True, 3, 2, T0 + 60, 0)
    finally:
        await client.aclose()
        await limiter.aclose()


# ---------------------------------------------------------------------------- failure and fallback


class CountingLimiter:
    """Delegates to another limiter and counts the calls it receives."""

    def __init__(self, inner: RedisLimiter) -> None:
        self.inner = inner
        self.calls = 0

    async def hit(
        self, key: str, windows: Sequence[Window], now: float | None = None, *, fail_closed: bool = False
    ) -> Decision:
        self.calls += 1
        return await self.inner.hit(key, windows, now)

    async def aclose(self) -> None:
        await self.inner.aclose()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def fallback_count(registry: CollectorRegistry, reason: str) -> float:
    return registry.get_sample_value("edge_ratelimit_fallback_total", {"reason": reason}) or 0.0


@pytest.fixture
async def dead_redis() -> AsyncIterator[CountingLimiter]:
    primary = CountingLimiter(RedisLimiter.from_url(f"redis://127.0.0.1:{free_port()}/0"))
    yield primary
    await primary.aclose()


async def test_a_dead_redis_falls_back_to_memory_and_is_counted(dead_redis: CountingLimiter) -> None:
    registry, clock = CollectorRegistry(), Clock()
    limiter = FallbackLimiter(dead_redis, MemoryLimiter(), RateLimitMetrics(registry), monotonic=clock)
    decisions = [await limiter.hit("k", (Window(3, 60),), T0) for _ in range(5)]
    assert [d.allowed for d in decisions] == [True, True, True, False, False]
    assert decisions[0] == Decision(True, 3, 2, T0 + 60, 0)
    assert limiter.degraded
    assert fallback_count(registry, "error") == 1
    assert fallback_count(registry, "open") == 4


async def test_the_circuit_does_not_hammer_a_dead_redis(dead_redis: CountingLimiter) -> None:
    clock = Clock()
    limiter = FallbackLimiter(dead_redis, MemoryLimiter(), RateLimitMetrics(CollectorRegistry()), monotonic=clock)
    await asyncio.gather(*(limiter.hit("k", LLM, T0) for _ in range(50)))
    assert dead_redis.calls <= 50  # the first wave may all have been in flight together
    first_wave = dead_redis.calls
    for _ in range(50):
        await limiter.hit("k", LLM, T0)
    clock.now += 0.9
    for _ in range(50):
        await limiter.hit("k", LLM, T0)
    assert dead_redis.calls == first_wave  # open: not asked for a second
    clock.now += 0.2
    await asyncio.gather(*(limiter.hit("k", LLM, T0) for _ in range(50)))
    assert dead_redis.calls == first_wave + 1  # one probe, the others kept to memory


async def test_fail_closed_methods_refuse_when_redis_is_dead(dead_redis: CountingLimiter) -> None:
    registry, clock = CollectorRegistry(), Clock()
    limiter = FallbackLimiter(dead_redis, MemoryLimiter(), RateLimitMetrics(registry), monotonic=clock)
    with pytest.raises(LimiterUnavailable) as first:
        await limiter.hit("k", LLM, T0, fail_closed=True)
    assert first.value.__cause__ is not None  # the Redis error, for the log
    with pytest.raises(LimiterUnavailable):
        await limiter.hit("k", LLM, T0, fail_closed=True)  # while open, without asking Redis
    assert dead_redis.calls == 1
    assert fallback_count(registry, "error") == fallback_count(registry, "open") == 0
    assert (await limiter.hit("k", LLM, T0)).allowed  # an ordinary method still goes through


async def test_a_redis_that_does_not_answer_times_out_quickly() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    registry = CollectorRegistry()
    redis = RedisLimiter.from_url(f"redis://127.0.0.1:{port}/0", timeout=0.2)
    limiter = FallbackLimiter(redis, MemoryLimiter(), RateLimitMetrics(registry))
    try:
        started = time.perf_counter()
        assert (await limiter.hit("k", LLM, T0)).allowed
        assert time.perf_counter() - started < 1.0
        assert fallback_count(registry, "timeout") == 1
    finally:
        await limiter.aclose()
        server.close()
        await server.wait_closed()


class FlakyLimiter:
    """Fails while ``down`` is set; otherwise answers after ``gate`` opens."""

    def __init__(self) -> None:
        self.down = True
        self.calls = 0
        self.gate = asyncio.Event()
        self.gate.set()

    async def hit(
        self, key: str, windows: Sequence[Window], now: float | None = None, *, fail_closed: bool = False
    ) -> Decision:
        self.calls += 1
        await self.gate.wait()
        if self.down:
            raise LimiterUnavailable("down") from ConnectionError("refused")
        return Decision(True, 1, 1, 1, 0)


async def test_the_circuit_closes_when_redis_is_back() -> None:
    primary, clock, registry = FlakyLimiter(), Clock(), CollectorRegistry()
    limiter = FallbackLimiter(primary, MemoryLimiter(), RateLimitMetrics(registry), monotonic=clock)
    assert (await limiter.hit("k", LLM, T0)).remaining == 9  # from memory
    primary.down = False
    clock.now += 1.5
    primary.gate.clear()
    probe = asyncio.create_task(limiter.hit("k", LLM, T0))
    await asyncio.sleep(0)
    during = await asyncio.gather(*(limiter.hit("k", LLM, T0) for _ in range(5)))
    assert primary.calls == 2 and all(d.limit == 10 for d in during)  # only the probe reached it
    primary.gate.set()
    assert (await probe) == Decision(True, 1, 1, 1, 0)
    assert not limiter.degraded
    await limiter.hit("k", LLM, T0)
    assert primary.calls == 3


# ---------------------------------------------------------------------------- the edge's entry point


def test_headers_and_body_of_a_refusal() -> None:
    allowed = Decision(True, 10, 7, T0 + 60)
    assert rate_limit_headers(allowed) == {
        "X-RateLimit-Limit": "10",
        "X-RateLimit-Remaining": "7",
        "X-RateLimit-Reset": str(T0 + 60),
    }
    refused = Decision(False, 100, 0, T0 + 3600, 1234)
    assert rate_limit_headers(refused) == {
        "X-RateLimit-Limit": "100",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(T0 + 3600),
        "Retry-After": "1234",
    }
    assert refusal_fields(refused) == {"detail": "Rate limit exceeded", "retry_after": 1234}


def decisions_count(registry: CollectorRegistry, rate_class: str, outcome: str) -> float:
    labels = {"class": rate_class, "outcome": outcome}
    return registry.get_sample_value("edge_ratelimit_decisions_total", labels) or 0.0


async def test_rate_limits_from_a_policy_are_keyed_and_counted() -> None:
    registry = CollectorRegistry()
    limits = RateLimits.from_settings(Settings.from_env({}), registry, clock=lambda: T0 + 1.0)
    assert isinstance(limits.limiter, MemoryLimiter)
    generate = Policy(rate_limit="llm")
    for _ in range(10):
        assert (await limits.check(generate, user_id="u1", address="10.0.0.1")).allowed
    refused = await limits.check(generate, user_id="u1", address="10.0.0.1")
    assert refused == Decision(False, 10, 0, T0 + 60, 59)
    # Another principal behind the same address, and an anonymous caller, have their own counts.
    assert (await limits.check(generate, user_id="u2", address="10.0.0.1")).remaining == 9
    assert (await limits.check(generate, user_id="", address="10.0.0.1")).remaining == 9
    assert (await limits.check(generate, user_id="u3", address="", tier="pro")).limit == 50
    assert decisions_count(registry, "llm", "allowed") == 13
    assert decisions_count(registry, "llm", "limited") == 1
    await limits.aclose()


async def test_login_fails_closed_and_other_methods_fall_back_when_redis_is_dead() -> None:
    registry = CollectorRegistry()
    settings = Settings.from_env({"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    limits = RateLimits.from_settings(settings, registry, redis_timeout=0.5)
    assert isinstance(limits.limiter, FallbackLimiter)
    login = policy.lookup("/agentmesh.v1.AuthService/Login")
    assert login is not None and login.policy.rate_limit_fail_closed
    try:
        with pytest.raises(LimiterUnavailable):
            await limits.check(login.policy, user_id="", address="10.0.0.1")
        assert (await limits.check(Policy(), user_id="u1", address="10.0.0.1")).allowed
        assert decisions_count(registry, "auth", "unavailable") == 1
        assert decisions_count(registry, "default", "allowed") == 1
        assert fallback_count(registry, "open") == 1
    finally:
        await limits.aclose()


async def test_rate_limits_on_a_live_redis(redis_url: str) -> None:  # noqa: F811
    # The default 0.25 s timeout, so one call at a time (exactness under concurrency is tested above).
    registry = CollectorRegistry()
    limits = RateLimits.from_settings(Settings.from_env({"REDIS_URL": redis_url}), registry)
    user = uuid.uuid4().hex
    try:
        decisions = [await limits.check(Policy(rate_limit="llm"), user_id=user, address="", now=T0) for _ in range(12)]
        assert [d.remaining for d in decisions] == [9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0, 0]
        assert decisions_count(registry, "llm", "limited") == 2
        assert fallback_count(registry, "error") + fallback_count(registry, "timeout") == 0
        assert not isinstance(limits.limiter, FallbackLimiter) or not limits.limiter.degraded
    finally:
        await limits.aclose()
