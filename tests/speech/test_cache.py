"""The LLM result cache through the real speech unit: memory and Redis, tenants, TTL, metrics, no keys kept."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import grpc
import pytest
from agentmesh.v1 import speech_pb2
from redis.asyncio import Redis

from services.speech.llm.cache import KEY_PREFIX
from tests.auth.conftest import Account, signed_in
from tests.conftest import free_port
from tests.redis_server import redis_url  # noqa: F401  (fixture)
from tests.speech.conftest import REQUEST_KEY, SETTINGS_KEY, Speech, StartSpeech, collect
from tests.speech.openai_server import Failure, FakeOpenAi

# The unit's /metrics serves the registry the bootstrap hands to `build`, once Resources carries it.


def generate(prompt: str = "cache me", **fields: object) -> speech_pb2.GenerateRequest:
    return speech_pb2.GenerateRequest(prompt=prompt, provider="openai", **fields)  # type: ignore[arg-type]


def metric(page: str, backend: str, result: str) -> float:
    line = f'agentmesh_llm_cache_requests_total{{backend="{backend}",result="{result}"}} '
    found = [float(row.removeprefix(line)) for row in page.splitlines() if row.startswith(line)]
    return found[0] if found else 0.0


def files_containing(root: Path, needle: bytes) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file() and needle in path.read_bytes()]


@pytest.fixture
async def speech(start_speech: StartSpeech, openai_server: FakeOpenAi) -> Speech:
    return await start_speech(OPENAI_BASE_URL=openai_server.base_url, OPENAI_API_KEY=SETTINGS_KEY)


async def test_a_second_identical_call_is_a_hit_and_the_provider_is_not_called(
    speech: Speech, account: Account, openai_server: FakeOpenAi
) -> None:
    first = await speech.llm.Generate(generate(temperature=0.2), metadata=account.metadata)
    second = await speech.llm.Generate(generate(temperature=0.2, api_key=REQUEST_KEY), metadata=account.metadata)
    assert (first.cached, second.cached) == (False, True)
    assert (second.text, second.model, second.usage, second.provider) == (
        first.text, first.model, first.usage, first.provider
    )
    assert len(openai_server.completions()) == 1  # the key is not part of the cache key
    # What decides the answer is: another temperature, model, system prompt or parameter is a miss.
    for request in (generate(temperature=0.3), generate(model="fake-large"), generate(system="be terse"),
                    generate(max_tokens=2), generate("cache me!")):
        assert not (await speech.llm.Generate(request, metadata=account.metadata)).cached
    assert len(openai_server.completions()) == 6


async def test_hits_and_misses_show_on_the_units_metrics(speech: Speech, account: Account) -> None:
    for _ in range(3):
        await speech.llm.Generate(generate(), metadata=account.metadata)
    page = await speech.metrics()
    assert (metric(page, "memory", "miss"), metric(page, "memory", "hit")) == (1.0, 2.0)
    assert 'agentmesh_llm_provider_calls_total{outcome="OK",provider="openai"} 1.0' in page


async def test_another_tenant_never_gets_a_hit(
    speech: Speech, account: Account, auth_channel: grpc.aio.Channel, openai_server: FakeOpenAi
) -> None:
    other = await signed_in(auth_channel)
    assert other.tenant_id != account.tenant_id
    assert not (await speech.llm.Generate(generate(), metadata=account.metadata)).cached
    assert not (await speech.llm.Generate(generate(), metadata=other.metadata)).cached
    assert (await speech.llm.Generate(generate(), metadata=other.metadata)).cached
    assert len(openai_server.completions()) == 2


async def test_entries_expire_after_the_ttl(
    start_speech: StartSpeech, account: Account, openai_server: FakeOpenAi
) -> None:
    speech = await start_speech(OPENAI_BASE_URL=openai_server.base_url, LLM_CACHE_TTL="0.5")
    assert not (await speech.llm.Generate(generate(), metadata=account.metadata)).cached
    assert (await speech.llm.Generate(generate(), metadata=account.metadata)).cached
    await asyncio.sleep(0.7)
    assert not (await speech.llm.Generate(generate(), metadata=account.metadata)).cached
    assert len(openai_server.completions()) == 2


async def test_a_ttl_of_zero_turns_the_cache_off(
    start_speech: StartSpeech, account: Account, openai_server: FakeOpenAi
) -> None:
    speech = await start_speech(OPENAI_BASE_URL=openai_server.base_url, LLM_CACHE_TTL="0")
    for _ in range(2):
        assert not (await speech.llm.Generate(generate(), metadata=account.metadata)).cached
    assert len(openai_server.completions()) == 2


async def test_stream_generate_stores_and_serves_from_the_cache(
    speech: Speech, account: Account, openai_server: FakeOpenAi
) -> None:
    request = speech_pb2.StreamGenerateRequest(prompt="stream then hit", provider="openai")
    streamed = await collect(speech.llm.StreamGenerate(request, metadata=account.metadata))
    text = "".join(r.delta for r in streamed)
    assert len(streamed) > 3
    unary = await speech.llm.Generate(generate("stream then hit"), metadata=account.metadata)
    assert unary.cached and unary.text == text and unary.usage == streamed[-1].usage
    again = await collect(speech.llm.StreamGenerate(request, metadata=account.metadata))
    assert [(r.delta, r.done) for r in again] == [(text, False), ("", True)]  # one chunk, then done
    assert again[-1].usage == streamed[-1].usage and again[-1].finish_reason == "stop"
    assert len(openai_server.completions()) == 1


async def test_a_failed_call_is_not_cached(speech: Speech, account: Account, openai_server: FakeOpenAi) -> None:
    openai_server.fail_next(Failure(400))
    with pytest.raises(grpc.aio.AioRpcError):
        await speech.llm.Generate(generate(), metadata=account.metadata)
    assert not (await speech.llm.Generate(generate(), metadata=account.metadata)).cached


async def test_redis_cache_is_shared_by_replicas_and_keeps_no_key(
    start_speech: StartSpeech, account: Account, openai_server: FakeOpenAi, redis_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    env = {"OPENAI_BASE_URL": openai_server.base_url, "OPENAI_API_KEY": SETTINGS_KEY, "REDIS_URL": redis_url,
           "LLM_CACHE_TTL": "60"}
    one, two = await start_speech(**env), await start_speech(**env)
    prompt = f"shared across replicas {tmp_path.name}"
    first = await one.llm.Generate(generate(prompt, api_key=REQUEST_KEY), metadata=account.metadata)
    second = await two.llm.Generate(generate(prompt, api_key=REQUEST_KEY), metadata=account.metadata)
    assert (first.cached, second.cached, second.text) == (False, True, first.text)
    assert len(openai_server.completions()) == 1

    client = Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{KEY_PREFIX}*")]
        assert keys
        for key in keys:
            value = await client.get(key)
            assert value is not None
            for secret in (REQUEST_KEY, SETTINGS_KEY):
                assert secret.encode() not in key and secret.encode() not in value
            assert 0 < await client.pttl(key) <= 60_000
    finally:
        await client.aclose()
    assert not files_containing(tmp_path, REQUEST_KEY.encode())  # nor in the units' data directories
    assert metric(await two.metrics(), "redis", "hit") == 1.0


async def test_redis_down_is_a_logged_miss_never_a_failed_call(
    start_speech: StartSpeech, account: Account, openai_server: FakeOpenAi, caplog: pytest.LogCaptureFixture
) -> None:
    speech = await start_speech(OPENAI_BASE_URL=openai_server.base_url, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    with caplog.at_level(logging.WARNING, logger="agentmesh.speech.llm.cache"):
        for _ in range(2):
            reply = await speech.llm.Generate(generate(), metadata=account.metadata)
            assert not reply.cached and reply.text
        streamed = await collect(speech.llm.StreamGenerate(
            speech_pb2.StreamGenerateRequest(prompt="still streams", provider="openai"), metadata=account.metadata
        ))
    assert streamed[-1].done
    assert len(openai_server.completions()) == 3
    assert any("Redis read failed" in r.getMessage() for r in caplog.records)
