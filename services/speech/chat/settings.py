"""The bot configuration as the chat applies it.

The admin unit owns it (GetBotConfig, /admin/bot/config); the chat reads it
under this unit's own service token and keeps it for TTL seconds, so a change
applies within that and a chat turn costs no call most of the time. What the
chat applies: `enabled` (a disabled bot refuses turns), `max_message_length`
(of a text message, or of an audio turn's transcript), `max_file_size` (of
an audio turn, within the chat's own ceiling), and `default_language` and
`default_voice` for audio turns that name none. While the admin unit cannot be
asked, the last configuration read stands (the defaults before any was): the
chat does not stop because the admin unit is away.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from agentmesh.v1 import admin_pb2, admin_pb2_grpc
from google.protobuf import json_format

from services.common.servicecreds import ServiceCredentials

log = logging.getLogger("agentmesh.speech.chat")

TTL = 5.0
TIMEOUT = 2.0


@dataclass(frozen=True, slots=True)
class ChatSettings:
    enabled: bool = True
    max_message_length: int = 4000
    max_file_size: int = 10 * 1024 * 1024
    default_language: str = ""
    default_voice: str = ""

    @classmethod
    def of(cls, config: Mapping[str, Any]) -> ChatSettings:
        base = cls()

        def number(name: str, default: int) -> int:
            value = config.get(name)
            return int(value) if isinstance(value, int | float) and value >= 1 else default

        voice = config.get("default_voice")
        return cls(
            enabled=config.get("enabled") is not False,
            max_message_length=number("max_message_length", base.max_message_length),
            max_file_size=number("max_file_size", base.max_file_size),
            default_language=str(config.get("default_language") or ""),
            default_voice="" if voice in (None, "", "default") else str(voice),
        )


class BotSettings:
    """ChatSettings from the admin unit, read at most once per TTL (concurrent turns share one read)."""

    def __init__(self, channel: grpc.aio.Channel, credentials: ServiceCredentials, *, ttl: float = TTL,
                 timeout: float = TIMEOUT) -> None:
        self._stub = admin_pb2_grpc.BotAdminServiceStub(channel)
        self._credentials = credentials
        self._ttl = ttl
        self._timeout = timeout
        self._settings = ChatSettings()
        self._read_at = float("-inf")
        self._reading: asyncio.Task[None] | None = None
        self._away = False  # said once in the log while the admin unit cannot be asked

    async def current(self) -> ChatSettings:
        if time.monotonic() - self._read_at < self._ttl:
            return self._settings
        if self._reading is None:
            self._reading = asyncio.get_running_loop().create_task(self._read())
        reading = self._reading
        await asyncio.shield(reading)
        return self._settings

    async def _read(self) -> None:
        try:
            metadata = await self._credentials.metadata()
            reply = await self._stub.GetBotConfig(admin_pb2.GetBotConfigRequest(), metadata=metadata,
                                                  timeout=self._timeout)
            self._settings = ChatSettings.of(json_format.MessageToDict(reply.config))
            if self._away:
                log.info("bot configuration read again")
            self._away = False
        except grpc.aio.AioRpcError as exc:
            if not self._away:
                log.warning("bot configuration not read (%s); the last one read stands",
                            exc.details() or exc.code().name)
            self._away = True
        finally:
            self._read_at = time.monotonic()
            self._reading = None
