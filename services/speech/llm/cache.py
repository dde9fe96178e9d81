"""Finished completions kept for a while, keyed by a SHA-256 of what decides the answer.

The key covers the tenant (one tenant never sees another's answers), the
provider, the model, the system prompt, the prompt and the generation
parameters (temperature and max_tokens included), and nothing else: the
caller's API key is neither hashed in nor stored. Two backends behind one
Protocol: a bounded LRU in memory (one process), or Redis when REDIS_URL is
set (shared by every replica). A Redis that fails or answers slowly is a miss,
logged, never a failed generation.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from services.common.settings import Settings
from services.speech.llm.providers import Completion, Usage

log = logging.getLogger("agentmesh.speech.llm.cache")

KEY_PREFIX = "agentmesh:llm:completion:"
_Errors = (RedisError, OSError, TimeoutError)


def cache_key(
    *, tenant: str, provider: str, model: str, system: str, prompt: str, parameters: Mapping[str, Any],
    history: Sequence[tuple[str, str]] = (),
) -> str:
    """Hex SHA-256 of a canonical JSON of the inputs that decide the answer (a conversation's context too)."""
    inputs: dict[str, Any] = {"v": 1, "tenant": tenant, "provider": provider, "model": model, "system": system,
                              "prompt": prompt, "parameters": parameters}
    if history:
        inputs["history"] = [list(message) for message in history]
    canonical = json.dumps(inputs, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def encode(completion: Completion) -> bytes:
    return json.dumps(
        {"text": completion.text, "model": completion.model, "finish_reason": completion.finish_reason,
         "prompt_tokens": completion.usage.prompt_tokens, "completion_tokens": completion.usage.completion_tokens},
        separators=(",", ":"), ensure_ascii=False,
    ).encode()


def decode(raw: bytes | str) -> Completion | None:
    """The stored completion; None for anything this version did not write."""
    try:
        data = json.loads(raw)
        return Completion(
            str(data["text"]), str(data["model"]), str(data["finish_reason"]),
            Usage(int(data["prompt_tokens"]), int(data["completion_tokens"])),
        )
    except (ValueError, TypeError, KeyError):
        return None


class CompletionCache(Protocol):
    """Where finished completions wait for the same question."""

    @property
    def backend(self) -> str:
        """memory, redis or off: the label of the cache metrics."""
        ...

    async def get(self, key: str) -> Completion | None: ...

    async def put(self, key: str, completion: Completion) -> None: ...

    async def aclose(self) -> None: ...


class NoCache:
    """LLM_CACHE_TTL=0: every call goes to the provider."""

    backend = "off"

    async def get(self, key: str) -> Completion | None:
        return None

    async def put(self, key: str, completion: Completion) -> None:
        return None

    async def aclose(self) -> None:
        return None


class MemoryCache:
    """An LRU bounded in entries and in characters of text, entries expiring after `ttl` seconds."""

    backend = "memory"

    def __init__(
        self,
        ttl: float,
        *,
        max_entries: int = 1024,
        max_chars: int = 16_000_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.max_chars = max_chars
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, Completion]] = OrderedDict()
        self._chars = 0

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str) -> Completion | None:
        found = self._entries.get(key)
        if found is None:
            return None
        expires, completion = found
        if expires <= self._clock():
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return completion

    async def put(self, key: str, completion: Completion) -> None:
        size = len(completion.text)
        if size > self.max_chars:
            return
        if key in self._entries:
            self._drop(key)
        self._entries[key] = (self._clock() + self.ttl, completion)
        self._chars += size
        while len(self._entries) > self.max_entries or self._chars > self.max_chars:
            self._drop(next(iter(self._entries)))

    def _drop(self, key: str) -> None:
        _, completion = self._entries.pop(key)
        self._chars -= len(completion.text)

    async def aclose(self) -> None:
        self._entries.clear()
        self._chars = 0


class RedisCache:
    """Completions on a Redis shared by the replicas, with Redis's own expiry; failures are misses."""

    backend = "redis"

    def __init__(self, client: Redis, ttl: float, *, timeout: float = 0.25, prefix: str = KEY_PREFIX) -> None:
        self._client = client
        self.ttl = ttl
        self._timeout = timeout
        self._prefix = prefix
        self._last_warning = 0.0

    @classmethod
    def from_url(cls, url: str, ttl: float, *, timeout: float = 0.25) -> RedisCache:
        # A bounded pool: under a burst, a call waits `timeout` for a connection and then counts a miss.
        pool = BlockingConnectionPool.from_url(
            url, max_connections=32, timeout=timeout, socket_timeout=timeout, socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
        return cls(Redis.from_pool(pool), ttl, timeout=timeout)

    async def get(self, key: str) -> Completion | None:
        try:
            async with asyncio.timeout(self._timeout * 2):
                raw = await self._client.get(self._prefix + key)
        except _Errors as exc:
            self._warn("read", exc)
            return None
        return decode(raw) if isinstance(raw, bytes | str) else None

    async def put(self, key: str, completion: Completion) -> None:
        try:
            async with asyncio.timeout(self._timeout * 2):
                await self._client.set(self._prefix + key, encode(completion), px=max(1, int(self.ttl * 1000)))
        except _Errors as exc:
            self._warn("write", exc)

    def _warn(self, what: str, exc: BaseException) -> None:
        """Once every ten seconds at most: a Redis outage must not flood the logs with one line per call."""
        now = time.monotonic()
        if now - self._last_warning >= 10.0 or not self._last_warning:
            self._last_warning = now
            log.warning("llm cache: Redis %s failed (%s); answering without the cache", what, type(exc).__name__,
                        extra={"backend": "redis"})

    async def aclose(self) -> None:
        await self._client.aclose()


def cache_from_settings(settings: Settings) -> CompletionCache:
    """Off when LLM_CACHE_TTL is 0; on Redis when REDIS_URL is set; else in this process's memory."""
    if settings.llm_cache_ttl <= 0:
        return NoCache()
    if settings.redis_url:
        return RedisCache.from_url(settings.redis_url, settings.llm_cache_ttl)
    return MemoryCache(settings.llm_cache_ttl)
