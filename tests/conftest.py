"""Shared fixtures: settings in a temp directory, units started on free ports."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from services.common.bootstrap import RunningUnit, UnitSpec, start
from services.common.settings import Settings

TEST_SECRET = "test-secret-for-the-suite-only-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env({"AGENTMESH_DATA_DIR": str(tmp_path / "data"), "JWT_SECRET": TEST_SECRET})


StartUnit = Callable[[UnitSpec], Awaitable[RunningUnit]]


@pytest.fixture
async def start_unit(settings: Settings) -> AsyncIterator[StartUnit]:
    """Start units in this process on port 0; all are stopped when the test ends."""
    async with AsyncExitStack() as stack:

        async def _start(spec: UnitSpec) -> RunningUnit:
            return await start(spec, settings, stack, port=0, metrics_port=0)

        yield _start
