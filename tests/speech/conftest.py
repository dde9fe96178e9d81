"""The real speech unit in-process beside the real auth unit, and a local OpenAI-compatible server."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import grpc
import pytest
from agentmesh.v1 import speech_pb2, speech_pb2_grpc

from services.common.bootstrap import RunningUnit, start
from services.common.settings import Settings
from services.speech.wiring import SPEC
from tests.auth.conftest import (  # noqa: F401  (fixtures)
    ADMIN_KEY,
    Account,
    auth_channel,
    auth_unit,
    quick_throttle,
    signed_in,
    stack,
)
from tests.conftest import TEST_SECRET, free_port

SETTINGS_KEY = "sk-settings-key-0123456789abcdefghij"
REQUEST_KEY = "sk-request-key-9876543210zyxwvutsrq"


@dataclass(frozen=True)
class Speech:
    unit: RunningUnit
    channel: grpc.aio.Channel
    settings: Settings

    @property
    def llm(self) -> speech_pb2_grpc.LlmServiceStub:
        return speech_pb2_grpc.LlmServiceStub(self.channel)

    async def metrics(self) -> str:
        """The unit's /metrics page."""
        async with aiohttp.ClientSession() as session, session.get(
            f"http://127.0.0.1:{self.unit.metrics_port}/metrics"
        ) as response:
            return await response.text()


StartSpeech = Callable[..., Awaitable[Speech]]


async def collect(call: grpc.aio.UnaryStreamCall) -> list[speech_pb2.StreamGenerateResponse]:  # type: ignore[type-arg]
    """Every message of a StreamGenerate call."""
    return [reply async for reply in call]


@pytest.fixture
def base_env(tmp_path: Path) -> dict[str, str]:
    return {
        "AGENTMESH_DATA_DIR": str(tmp_path / "data"),
        "JWT_SECRET": TEST_SECRET,
        "ADMIN_API_KEY": ADMIN_KEY,
        "AGENTMESH_AUTH_PORT": str(free_port()),
        "AGENTMESH_SUPERVISED": "1",
    }


@pytest.fixture
def settings(base_env: dict[str, str]) -> Settings:
    return Settings.from_env(base_env)


@pytest.fixture
def start_speech(
    auth_unit: RunningUnit, stack: AsyncExitStack, base_env: dict[str, str], tmp_path: Path  # noqa: F811
) -> StartSpeech:
    """Start a speech unit (on `port`, else a free one) with extra environment (LLM_PROVIDER, REDIS_URL...)."""
    serial = itertools.count(1)

    async def _start(port: int = 0, **env: str) -> Speech:
        data = tmp_path / f"speech-{next(serial)}"
        settings = Settings.from_env({**base_env, "AGENTMESH_DATA_DIR": str(data), **env})
        unit = await start(SPEC, settings, stack, port=port, metrics_port=0)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{unit.port}")
        stack.push_async_callback(channel.close)
        return Speech(unit, channel, settings)

    return _start


@pytest.fixture
async def account(auth_channel: grpc.aio.Channel) -> Account:  # noqa: F811
    return await signed_in(auth_channel)
