"""Transcripts and synthesized audio kept for a while, keyed by a SHA-256 of what decides them.

Seed 003 caches TTS by text, language and voice and STT by a hash of the
audio. The keys here cover those and everything else that changes the result
(speed, format, the engine and its version), and the caller's tenant, as the
LLM cache does: one tenant never learns what another had spoken or transcribed.

The store is the LLM path's (services/speech/llm/cache.py): the same bounded
in-memory LRU or shared Redis, the same expiry, Redis failures counted as
misses. This module only gives it its own instance (audio must not evict the
LLM's answers, and needs a larger memory budget) and packs results into the
:class:`Completion` those caches hold: a transcript as its text, audio as
base64 text.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from services.common.settings import Settings
from services.speech.audio import limits
from services.speech.audio.metrics import SpeechMetrics
from services.speech.llm.cache import CompletionCache, MemoryCache, NoCache, RedisCache
from services.speech.llm.providers import Completion

KEY_PREFIX = "agentmesh:speech:audio:"
_REDIS_TIMEOUT = 0.5  # a few MB per value: a little more time than the LLM cache's text needs
_AUDIO_TAG = "audio/wav;base64"


def result_key(kind: str, *, tenant: str, **inputs: Any) -> str:
    """Hex SHA-256 of a canonical JSON of the kind, the tenant and the inputs that decide the result."""
    canonical = json.dumps({"v": 1, "kind": kind, "tenant": tenant, **inputs},
                           sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def audio_store(settings: Settings) -> CompletionCache:
    """Off when the TTL is 0; on Redis (under its own prefix) when REDIS_URL is set; else in memory."""
    if limits.CACHE_TTL <= 0:
        return NoCache()
    if settings.redis_url:
        pool = BlockingConnectionPool.from_url(
            settings.redis_url, max_connections=16, timeout=_REDIS_TIMEOUT, socket_timeout=_REDIS_TIMEOUT,
            socket_connect_timeout=_REDIS_TIMEOUT, retry=Retry(NoBackoff(), 0),
        )
        return RedisCache(Redis.from_pool(pool), limits.CACHE_TTL, timeout=_REDIS_TIMEOUT, prefix=KEY_PREFIX)
    return MemoryCache(limits.CACHE_TTL, max_entries=limits.CACHE_MAX_ENTRIES, max_chars=limits.CACHE_MAX_CHARS)


class AudioResults:
    """Typed access to the store for the two kinds of result, counting every look-up."""

    def __init__(self, store: CompletionCache, metrics: SpeechMetrics) -> None:
        self.store = store
        self.metrics = metrics

    @property
    def enabled(self) -> bool:
        return self.store.backend != "off"

    async def _get(self, kind: str, key: str) -> Completion | None:
        if not self.enabled:
            return None
        found = await self.store.get(key)
        self.metrics.looked_up(kind, self.store.backend, found is not None)
        return found

    async def transcript(self, key: str) -> str | None:
        found = await self._get("stt", key)
        return None if found is None else found.text

    async def keep_transcript(self, key: str, transcript: str, engine: str) -> None:
        if self.enabled:
            await self.store.put(key, Completion(transcript, engine))

    async def speech(self, key: str) -> bytes | None:
        found = await self._get("tts", key)
        if found is None or found.model != _AUDIO_TAG:
            return None
        try:
            return base64.b64decode(found.text, validate=True)
        except (binascii.Error, ValueError):
            return None

    async def keep_speech(self, key: str, wav: bytes) -> None:
        if self.enabled:
            await self.store.put(key, Completion(base64.b64encode(wav).decode("ascii"), _AUDIO_TAG))

    async def aclose(self) -> None:
        await self.store.aclose()
