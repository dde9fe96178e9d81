"""How often and when a provider call is tried again: bounded attempts, backoff, the server's Retry-After."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

log = logging.getLogger("agentmesh.speech.llm")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """At most `attempts` tries per call; exponential backoff with jitter, or the server's Retry-After."""

    attempts: int = 3
    base_delay: float = 0.2
    max_delay: float = 5.0
    # A Retry-After longer than this is not waited for: the caller learns it from RESOURCE_EXHAUSTED.
    max_retry_after: float = 30.0

    def backoff(self, retry: int) -> float:
        return float(min(self.max_delay, self.base_delay * 2**retry) * random.uniform(0.75, 1.0))


class Budget:
    """The attempts and the time one call has left."""

    def __init__(self, policy: RetryPolicy, timeout: float, provider: str) -> None:
        self.policy = policy
        self.provider = provider
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.attempt = 1

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    async def wait_to_retry(self, delay: float, why: str) -> bool:
        """Sleep before the next attempt when one is left and fits in the time; False means give up."""
        if self.attempt >= self.policy.attempts or delay >= self.remaining():
            return False
        log.info(
            "llm provider attempt failed (%s); retrying in %.2f s", why, delay,
            extra={"provider": self.provider, "attempt": self.attempt, "reason": why},
        )
        await asyncio.sleep(delay)
        self.attempt += 1
        return True


def retry_after(value: str | None) -> float | None:
    """Retry-After in seconds, from a number of seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
