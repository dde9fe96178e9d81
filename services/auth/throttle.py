"""Brute-force protection for password sign-ins.

Failures are counted per account identifier (as typed, so unknown accounts
count the same as real ones and nothing reveals which exist) and per client
address. After `free` failures within the window every further failure is
answered more slowly; after `lock_after` the key is locked for `lock_seconds`
and sign-ins on it are refused with RESOURCE_EXHAUSTED and a retry delay,
whether or not the password is right.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from services.common.errors import ResourceExhausted
from services.common.storage import Database


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    free: int = 5
    lock_after: int = 10
    window: float = 15 * 60
    lock_seconds: float = 15 * 60
    base_delay: float = 0.25
    max_delay: float = 2.0


def keys_for(identifier: str, address: str) -> list[str]:
    keys = [f"account:{identifier.strip().lower()}"]
    if address:
        keys.append(f"address:{address}")
    return keys


class LoginThrottle:
    def __init__(
        self,
        db: Database,
        policy: ThrottlePolicy | None = None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], object] = asyncio.sleep,
    ) -> None:
        self.db = db
        self.policy = policy or ThrottlePolicy()
        self.clock = clock
        self.sleep = sleep

    async def check(self, keys: Sequence[str]) -> None:
        """Refuse while any key is locked."""
        now = self.clock()
        marks = ",".join("?" * len(keys))
        row = await self.db.fetch_one(
            f"SELECT MAX(locked_until) AS until FROM login_failures WHERE key IN ({marks})", tuple(keys)
        )
        until = float(row["until"] or 0) if row else 0.0
        if until > now:
            raise ResourceExhausted(
                "too many failed sign-ins; try again later", retry_after=round(until - now), reason="SIGN_IN_LOCKED"
            )

    async def failed(self, keys: Sequence[str]) -> None:
        """Count a failure on every key, lock the ones past the limit, then slow the answer."""
        now = self.clock()
        policy = self.policy
        worst = 0
        async with self.db.transaction() as tx:
            for key in keys:
                row = await tx.fetch_one("SELECT * FROM login_failures WHERE key = ?", (key,))
                if row is None or now - row["first_at"] > policy.window:
                    failures, first = 1, now
                else:
                    failures, first = row["failures"] + 1, row["first_at"]
                locked = now + policy.lock_seconds if failures >= policy.lock_after else 0.0
                await tx.execute(
                    "INSERT INTO login_failures (key, failures, first_at, last_at, locked_until)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET failures = excluded.failures,"
                    " first_at = excluded.first_at, last_at = excluded.last_at,"
                    " locked_until = MAX(login_failures.locked_until, excluded.locked_until)",
                    (key, failures, first, now, locked),
                )
                worst = max(worst, failures)
        if worst > policy.free:
            delay = min(policy.max_delay, policy.base_delay * 2 ** (worst - policy.free - 1))
            result = self.sleep(delay)
            if asyncio.iscoroutine(result):
                await result

    async def succeeded(self, identifier_key: str) -> None:
        """A correct password clears the account's count (not the address's)."""
        await self.db.execute("DELETE FROM login_failures WHERE key = ? AND locked_until <= ?",
                              (identifier_key, self.clock()))
