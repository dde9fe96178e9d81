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


def keys_for(kind: str, identifier: str, address: str) -> list[str]:
    """Counter keys of one attempt: the account (when there is one) and the client address.

    Each kind (password sign-in, admin key, service secret) has its own key space, so failures of
    one can never lock another. Machine credentials pass no identifier: they are counted per
    address only, so nobody can lock a unit or the admin key out from elsewhere.
    """
    keys = [f"{kind}:{identifier.strip().lower()}"] if identifier else []
    if address:
        keys.append(f"{kind}-address:{address}")
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

    async def attempt(self, keys: Sequence[str]) -> None:
        """Count the attempt on every key BEFORE the password is checked, refusing once locked.

        Counting first is what keeps parallel guesses honest: each concurrent attempt takes its
        own place in the count inside one transaction, so the 11th is refused even when all
        eleven arrive at once. A success gives its place back (:meth:`succeeded`).
        """
        now = self.clock()
        policy = self.policy
        locked_until = 0.0
        async with self.db.transaction() as tx:
            for key in keys:
                row = await tx.fetch_one("SELECT * FROM login_failures WHERE key = ?", (key,))
                if row is not None and row["locked_until"] > now:
                    locked_until = max(locked_until, row["locked_until"])
                    continue
                if row is None or now - row["first_at"] > policy.window:
                    failures, first = 1, now
                else:
                    failures, first = row["failures"] + 1, row["first_at"]
                locked = now + policy.lock_seconds if failures > policy.lock_after else 0.0
                await tx.execute(
                    "INSERT INTO login_failures (key, failures, first_at, last_at, locked_until)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET failures = excluded.failures,"
                    " first_at = excluded.first_at, last_at = excluded.last_at,"
                    " locked_until = MAX(login_failures.locked_until, excluded.locked_until)",
                    (key, failures, first, now, locked),
                )
                locked_until = max(locked_until, locked)
        if locked_until > now:
            raise ResourceExhausted(
                "too many failed sign-ins; try again later",
                retry_after=max(1, round(locked_until - now)),
                reason="SIGN_IN_LOCKED",
            )

    async def failed(self, keys: Sequence[str]) -> None:
        """The attempt was wrong (it is already counted): past the free ones, answer more slowly."""
        marks = ",".join("?" * len(keys))
        row = await self.db.fetch_one(
            f"SELECT MAX(failures) AS worst FROM login_failures WHERE key IN ({marks})", tuple(keys)
        )
        worst = int(row["worst"] or 0) if row else 0
        policy = self.policy
        if worst > policy.free:
            delay = min(policy.max_delay, policy.base_delay * 2 ** (worst - policy.free - 1))
            result = self.sleep(delay)
            if asyncio.iscoroutine(result):
                await result

    async def succeeded(self, keys: Sequence[str]) -> None:
        """A right answer clears the account's count and gives the address back its place."""
        async with self.db.transaction() as tx:
            for key in keys:
                if "-address:" in key:
                    await tx.execute(
                        "UPDATE login_failures SET failures = MAX(failures - 1, 0) WHERE key = ?", (key,)
                    )
                else:
                    await tx.execute(
                        "DELETE FROM login_failures WHERE key = ? AND locked_until <= ?", (key, self.clock())
                    )
