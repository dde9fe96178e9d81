"""The edge in front of a real auth unit (the other units' ports are free, so they are 'down')."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from edge.mesh import create_app
from services.common.bootstrap import RunningUnit
from services.common.settings import UNITS, Settings
from tests.auth.conftest import ADMIN_KEY, auth_channel, auth_unit, quick_throttle, stack  # noqa: F401  (fixtures)
from tests.conftest import TEST_SECRET, free_port


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    env = {
        "AGENTMESH_DATA_DIR": str(tmp_path / "data"),
        "JWT_SECRET": TEST_SECRET,
        "ADMIN_API_KEY": ADMIN_KEY,
        "CORS_ORIGINS": "https://app.example.com",
    }
    for unit in UNITS:
        env[f"AGENTMESH_{unit.upper()}_PORT"] = str(free_port())
    return Settings.from_env(env)


@pytest.fixture
async def edge(auth_unit: RunningUnit, settings: Settings) -> AsyncIterator[TestClient]:  # noqa: F811
    async with TestClient(TestServer(create_app(settings))) as client:
        yield client
