"""Bot commands in the chat: recognising one, and asking the admin unit to run it.

A text message that starts with PREFIX and a command name ("/help",
"/translate fr good morning") is a command; the admin unit owns the commands
(BotAdminService.InvokeBotCommand) and is asked under this unit's service
token for the chat's user, whose role it checks. Its answer is text for the
bot's turn (a reply, the help, a webhook's answer, why the command did not
run) or a prompt the chat sends to the model in place of the message. When the
admin unit cannot be asked, that is said as the bot's turn too: a chat turn
does not fail because the commands are out of reach. Any other message costs
no call.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Protocol

import grpc
from agentmesh.v1 import admin_pb2, admin_pb2_grpc

from services.common.authctx import Actor, Caller
from services.common.llm import RemoteCallError, service_metadata
from services.common.servicecreds import ServiceCredentials

log = logging.getLogger("agentmesh.speech.chat")

# The bot configuration has no prefix setting; seed 003's commands are slash commands.
PREFIX = "/"
# A command name as BotAdminService accepts one (services.admin.bot), then its arguments.
_COMMAND = re.compile(r"([A-Za-z][A-Za-z0-9_-]{0,31})(?:\s+(.*))?", re.DOTALL)
# A webhook command may take integrations.timeout_seconds (at most 60 s) on the admin unit.
INVOKE_TIMEOUT = 65.0
UNAVAILABLE = "Bot commands are unavailable right now; please try again in a moment."


@dataclass(frozen=True, slots=True)
class Called:
    """A command as the user wrote it."""

    name: str
    args: str


@dataclass(frozen=True, slots=True)
class CommandAnswer:
    """What the chat does with a command: answer `text` as the bot, or send it to the model (`prompt`)."""

    text: str
    prompt: bool = False


def parse(text: str) -> Called | None:
    """The command a message is, or None for an ordinary message ("/usr/bin is full" is one: no space)."""
    if not text.startswith(PREFIX):
        return None
    found = _COMMAND.fullmatch(text.rstrip(), len(PREFIX))
    if found is None:
        return None
    return Called(found.group(1), (found.group(2) or "").strip())


class Commands(Protocol):
    async def invoke(self, caller: Caller, called: Called, conversation_id: str,
                     time_left: float | None) -> CommandAnswer:
        """The command's answer; never raises for the admin unit's absence."""
        ...


class BotCommands:
    """Commands over BotAdminService.InvokeBotCommand."""

    def __init__(self, channel: grpc.aio.Channel, credentials: ServiceCredentials, *,
                 timeout: float = INVOKE_TIMEOUT) -> None:
        self._stub = admin_pb2_grpc.BotAdminServiceStub(channel)
        self._credentials = credentials
        self._timeout = timeout

    async def invoke(self, caller: Caller, called: Called, conversation_id: str,
                     time_left: float | None) -> CommandAnswer:
        request = admin_pb2.InvokeBotCommandRequest(name=called.name, args=called.args,
                                                    conversation_id=conversation_id)
        timeout = self._timeout if time_left is None else max(0.001, min(self._timeout, time_left))
        try:
            metadata = await service_metadata(self._credentials, Actor.of(caller))
            if caller.request_id:
                metadata.append(("x-request-id", caller.request_id))
            reply = await self._stub.InvokeBotCommand(request, metadata=metadata, timeout=timeout)
        except RemoteCallError as exc:
            log.warning("bot command not run: %s", exc, extra={"command": called.name})
            return CommandAnswer(UNAVAILABLE)
        except grpc.aio.AioRpcError as exc:
            log.warning("bot command not run: admin unit: %s", exc.details() or exc.code().name,
                        extra={"command": called.name, "code": exc.code().name})
            return CommandAnswer(UNAVAILABLE)
        kind = reply.WhichOneof("answer")
        if kind == "prompt":
            return CommandAnswer(reply.prompt, prompt=True)
        if kind == "reply_text":
            return CommandAnswer(reply.reply_text)
        return CommandAnswer(reply.error_message or f"The command /{called.name} did not answer.")
