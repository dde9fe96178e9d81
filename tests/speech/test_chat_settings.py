"""The chat applies the bot configuration the admin unit keeps (read under the speech unit's service token)."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest
from agentmesh.v1 import admin_pb2, speech_pb2
from google.protobuf import struct_pb2

from services.speech.chat.settings import TTL, ChatSettings
from tests.auth.conftest import auth_channel, auth_unit, stack  # noqa: F401
from tests.speech.test_chat_commands import Mesh, mesh, settings  # noqa: F401


async def _configure(mesh: Mesh, values: dict[str, Any]) -> None:  # noqa: F811
    config = struct_pb2.Struct()
    config.update(values)
    await mesh.bot.UpdateBotConfig(admin_pb2.UpdateBotConfigRequest(config=config, reason="tests"),
                                   metadata=mesh.people["admin"].metadata)


async def test_a_disabled_bot_refuses_and_message_length_follows_the_config(mesh: Mesh) -> None:  # noqa: F811
    await _configure(mesh, {"enabled": False})
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await mesh.say("alice", "hello")
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "disabled by an administrator" in (refused.value.details() or "")

    await _configure(mesh, {"enabled": True, "max_message_length": 10})
    await asyncio.sleep(TTL + 0.2)  # the chat reads the configuration again once what it kept is that old
    assert (await mesh.say("alice", "short")).content == "echo: short"
    with pytest.raises(grpc.aio.AioRpcError) as too_long:
        await mesh.chat.Chat(speech_pb2.ChatRequest(content="x" * 11), metadata=mesh.people["alice"].metadata)
    assert too_long.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "at most 10 characters" in (too_long.value.details() or "")


async def test_the_chat_goes_on_while_the_admin_unit_is_away(mesh: Mesh) -> None:  # noqa: F811
    await mesh.admin_stack.aclose()  # the admin unit stops before the chat ever read the configuration
    answer = await mesh.say("alice", "still there?")
    assert answer.content == "echo: still there?"  # the defaults stand


def test_settings_from_a_config_document() -> None:
    found = ChatSettings.of({"enabled": False, "max_message_length": 50, "max_file_size": 2048,
                             "default_language": "fr", "default_voice": "default"})
    assert found == ChatSettings(enabled=False, max_message_length=50, max_file_size=2048, default_language="fr",
                                 default_voice="")
    assert ChatSettings.of({"max_message_length": "lots", "default_voice": "en-us"}) == ChatSettings(
        default_voice="en-us")
