"""Seed 003's /api/v1/llm/generate through the real edge, in front of the real auth and speech units."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from edge.mesh import create_app
from services.common.settings import UNITS, Settings
from tests.conftest import free_port
from tests.speech.conftest import Speech, StartSpeech


@pytest.fixture
def base_env(base_env: dict[str, str]) -> dict[str, str]:
    """Every unit on a port of its own, so the edge finds the speech unit where it is configured."""
    return {**base_env, **{f"AGENTMESH_{unit.upper()}_PORT": str(free_port()) for unit in UNITS if unit != "auth"}}


@pytest.fixture
async def speech(start_speech: StartSpeech, settings: Settings) -> Speech:
    return await start_speech(port=settings.ports["speech"])


@pytest.fixture
async def edge(speech: Speech, settings: Settings) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(create_app(settings))) as client:
        yield client


async def _token(edge: TestClient) -> dict[str, str]:
    registered = await edge.post("/api/v1/auth/register",
                                 json={"email": "llm@example.com", "password": "correct horse 1"})
    assert registered.status == 201, await registered.text()
    return {"Authorization": f"Bearer {(await registered.json())['access_token']}"}


async def test_seed_003_generate_body_and_answer(edge: TestClient) -> None:
    headers = await _token(edge)
    reply = await edge.post("/api/v1/llm/generate", headers=headers, json={"prompt": "Hello, how are you?"})
    assert reply.status == 200, await reply.text()
    body = await reply.json()
    assert body["text"] == "echo: Hello, how are you?" and body["provider"] == "echo"
    assert "X-RateLimit-Limit" in reply.headers
    too_long = await edge.post("/api/v1/llm/generate", headers=headers, json={"prompt": "x" * 100_001})
    assert too_long.status == 400
    assert (await too_long.json())["error"]["code"] == "INVALID_ARGUMENT"
    anonymous = await edge.post("/api/v1/llm/generate", json={"prompt": "hi"})
    assert anonymous.status == 401


async def test_stream_generate_as_ndjson(edge: TestClient) -> None:
    headers = {**await _token(edge), "Accept": "application/x-ndjson"}
    reply = await edge.post("/api/v1/llm/generate:stream", headers=headers, json={"prompt": "one two three"})
    assert reply.status == 200, await reply.text()
    lines = [json.loads(line) for line in (await reply.text()).splitlines() if line]
    assert "".join(line.get("delta", "") for line in lines) == "echo: one two three"
    last = lines[-1]
    assert last["done"] is True and last.get("finish_reason", last.get("finishReason")) == "stop"
