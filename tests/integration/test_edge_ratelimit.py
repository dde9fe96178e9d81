"""Rate-limit exactness through the whole edge, with the in-process and the Redis limiter."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from edge.mesh import create_app
from services.common.bootstrap import RunningUnit
from services.common.settings import Settings
from tests.redis_server import redis_url  # noqa: F401  (fixture)


@pytest.fixture(params=["memory", "redis"])
async def limited_edge(
    request: pytest.FixtureRequest, auth_unit: RunningUnit, settings: Settings
) -> AsyncIterator[TestClient]:
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        settings = dataclasses.replace(settings, redis_url=url)
    async with TestClient(TestServer(create_app(settings))) as client:
        yield client


async def test_200_concurrent_sign_ins_against_10_per_minute(limited_edge: TestClient) -> None:
    body = {"username": "nobody", "password": "wrong password 1"}
    responses = await asyncio.gather(*(limited_edge.post("/auth/login", json=body) for _ in range(200)))
    statuses = Counter(r.status for r in responses)
    # Exactly the class's 10 reach the auth unit (and are refused there); the rest never leave the edge.
    assert statuses == Counter({401: 10, 429: 190})
    limited = next(r for r in responses if r.status == 429)
    assert limited.headers["X-RateLimit-Remaining"] == "0" and int(limited.headers["Retry-After"]) >= 1
