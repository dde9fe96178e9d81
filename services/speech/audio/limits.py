"""The audio path's limits, and the gate that bounds how much engine work runs at once.

The sizes follow from gRPC: a unit receives and the edge accepts messages of
at most 4 MiB, so an upload stays below 4 MB and one reply carries at most
90 s of 22,050 Hz 16-bit mono audio (3.97 MB). These constants are the
defaults of settings the unit will read from the environment.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from services.common.errors import ResourceExhausted

# Text to speech.
MAX_TEXT_CHARS = 50_000  # seed 003: 1 to 50000 characters
MAX_SPEECH_SECONDS = 90.0  # TTS_MAX_SECONDS: the longest audio one reply carries
MIN_SPEED, MAX_SPEED = 0.5, 3.0  # relative to espeak-ng's normal 175 words per minute
NORMAL_WPM = 175
TTS_CONCURRENCY = 2  # TTS_CONCURRENCY: espeak-ng processes at once
TTS_TIMEOUT = 30.0  # seconds one synthesis may take, whatever the caller's deadline

# Speech to text.
MAX_AUDIO_BYTES = 4_000_000  # STT_MAX_BYTES
MAX_AUDIO_SECONDS = 60.0  # STT_MAX_SECONDS
STT_WORKERS = 2  # STT_WORKERS: recognizer processes (each decodes one upload at a time)
STT_TIMEOUT = 60.0  # seconds one recognition may take, whatever the caller's deadline
STT_LANGUAGES = ("en",)  # the acoustic and language models pocketsphinx ships: US English

# Both.
MAX_QUEUED = 16  # SPEECH_MAX_QUEUED: calls that may wait for an engine before the next is refused
CACHE_TTL = 3600.0  # SPEECH_CACHE_TTL: seconds a transcript or synthesized audio is kept; 0 turns it off
CACHE_MAX_ENTRIES = 512
CACHE_MAX_CHARS = 96_000_000  # base64 characters of audio held in memory (about 72 MB of WAV)
RETRY_AFTER = 1.0


class Gate:
    """At most `slots` holders at once and `queued` waiting; one more is refused with RESOURCE_EXHAUSTED."""

    def __init__(self, what: str, slots: int, queued: int) -> None:
        self.what = what
        self.slots = slots
        self.queued = queued
        self._free = asyncio.Semaphore(slots)
        self._waiting = 0

    @property
    def waiting(self) -> int:
        return self._waiting

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self._free.locked() and self._waiting >= self.queued:
            raise ResourceExhausted(
                f"{self.what} is busy ({self.slots} running, {self._waiting} waiting); try again shortly",
                retry_after=RETRY_AFTER, reason="SPEECH_ENGINE_BUSY",
            )
        self._waiting += 1
        try:
            await self._free.acquire()
        finally:
            self._waiting -= 1
        try:
            yield
        finally:
            self._free.release()
