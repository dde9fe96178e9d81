"""The LLM path's pieces on their own: SSE framing, the memory LRU, the cache key, Retry-After, echo chunks."""

from __future__ import annotations

import email.utils
import time
from collections.abc import AsyncIterator

import pytest

from services.speech.llm.cache import MemoryCache, cache_key, decode, encode
from services.speech.llm.echo import pieces
from services.speech.llm.providers import Completion, Usage
from services.speech.llm.retry import retry_after
from services.speech.llm.sse import MAX_EVENT_BYTES, EventTooLarge, data_events

STREAM = (
    b": keep-alive comment\r\n\r\n"
    b'data: {"a": 1}\r\n\r\n'
    b"event: message\nid: 7\ndata: first line\ndata: second line\n\n"
    b"data:no-space\n\n"
    b"data: [DONE]\n\n"
    b"data: after done\n\n"
)


async def _split(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


@pytest.mark.parametrize("size", [1, 2, 7, 64, len(STREAM)])
async def test_sse_events_whatever_the_network_chunking(size: int) -> None:
    events = [event async for event in data_events(_split(STREAM, size))]
    assert events == ['{"a": 1}', "first line\nsecond line", "no-space"]


async def test_sse_without_done_ends_with_the_input_and_refuses_endless_lines() -> None:
    assert [e async for e in data_events(_split(b"data: x\n\ndata: last", 3))] == ["x", "last"]
    with pytest.raises(EventTooLarge):
        [e async for e in data_events(_split(b"data: " + b"y" * (MAX_EVENT_BYTES + 1), 65536))]


def _completion(text: str) -> Completion:
    return Completion(text, "m", "stop", Usage(1, 2))


async def test_memory_cache_is_a_bounded_lru_with_expiry() -> None:
    now = [1000.0]
    cache = MemoryCache(10.0, max_entries=2, max_chars=10, clock=lambda: now[0])
    await cache.put("a", _completion("aaa"))
    await cache.put("b", _completion("bbb"))
    assert await cache.get("a") is not None  # a is now the most recent
    await cache.put("c", _completion("ccc"))  # evicts b, the least recently used
    assert [await cache.get(k) is not None for k in "abc"] == [True, False, True]
    await cache.put("d", _completion("dddddddd"))  # 3 + 8 > 10 characters: a and c go
    assert len(cache) == 1 and await cache.get("d") is not None
    await cache.put("huge", _completion("x" * 11))  # larger than the whole cache: not kept
    assert await cache.get("huge") is None and len(cache) == 1
    now[0] += 10.0
    assert await cache.get("d") is None and len(cache) == 0


def test_cache_key_depends_on_every_input_and_nothing_else() -> None:
    base = {"tenant": "t1", "provider": "openai", "model": "m", "system": "", "prompt": "p",
            "parameters": {"temperature": 0.5, "stop": ["x"]}}
    key = cache_key(**base)  # type: ignore[arg-type]
    assert len(key) == 64 and key == cache_key(**{**base, "parameters": {"stop": ["x"], "temperature": 0.5}})  # type: ignore[arg-type]
    variants = [{"tenant": "t2"}, {"provider": "echo"}, {"model": "n"}, {"system": "s"}, {"prompt": "q"},
                {"parameters": {"temperature": 0.6, "stop": ["x"]}}, {"parameters": {}}]
    keys = {cache_key(**{**base, **change}) for change in variants}  # type: ignore[arg-type]
    assert len(keys) == len(variants) and key not in keys


def test_stored_completions_round_trip_and_foreign_values_are_misses() -> None:
    completion = Completion("héllo", "m", "length", Usage(3, 4))
    assert decode(encode(completion)) == completion
    assert decode(b"not json") is None and decode(b'{"text": "x"}') is None


def test_retry_after_in_seconds_or_as_an_http_date() -> None:
    assert retry_after("3") == 3.0 and retry_after(" 0.5 ") == 0.5
    assert retry_after(None) is None and retry_after("soon") is None
    later = retry_after(email.utils.formatdate(time.time() + 30, usegmt=True))
    assert later is not None and 28 <= later <= 31
    assert retry_after(email.utils.formatdate(time.time() - 30, usegmt=True)) == 0.0


@pytest.mark.parametrize("text", ["echo: a b", "echo:  spaced\n\tout  ", "echo: x"])
def test_echo_pieces_are_words_that_join_back_to_the_text(text: str) -> None:
    found = pieces(text)
    assert "".join(found) == text
    assert [p.strip() for p in found if p.strip()] == text.split()
