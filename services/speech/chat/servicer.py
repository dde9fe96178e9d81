"""ChatService (seed 003's /chat, /api/v1/chat and the /ws/{user_id} socket) and ConversationAdminService.

A chat turn answers the user's message with the platform's default model,
sending the conversation's latest messages as context (services.speech.chat.
store), through the LLM path's cache and providers (LlmServicer.complete and
.pieces), then writes the question and the answer together. An audio turn
transcribes the message first and speaks the answer (an AudioEngine); without
one, audio is FAILED_PRECONDITION. A text message that is a bot command
(services.speech.chat.commands) is run by the admin unit: its answer is the
bot's turn without the model, or its prompt goes to the model in place of the
message; either way the turn is recorded like any other. Each answered turn
announces `chat.completed` to its user (conversation, message, response time,
tokens); a turn the model could not answer, `chat.failed`.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, Protocol

import grpc
from agentmesh.v1 import common_pb2, speech_pb2

from services.common import authctx
from services.common.authctx import Caller
from services.common.crud import page, required_id
from services.common.errors import DomainError, FailedPrecondition, FieldViolation, InvalidArgument, NotFound, raise_if
from services.common.events.publisher import Publisher
from services.common.listing import filter_sql, like, order_sql
from services.common.protoutil import new_id, struct_dict, timestamp
from services.speech.chat import commands, store
from services.speech.chat.commands import CommandAnswer, Commands
from services.speech.chat.settings import BotSettings, ChatSettings
from services.speech.chat.store import Conversations, Exchange
from services.speech.llm.generation import MAX_PROMPT_CHARS
from services.speech.llm.providers import Chunk, Completion
from services.speech.llm.servicer import LlmServicer

TYPES = ("text", "audio")
# What the assistant is told before every conversation.
SYSTEM_PROMPT = "You are a helpful assistant. Answer clearly and briefly."
MAX_AUDIO_BYTES = 10 * 1024 * 1024


class AudioEngine(Protocol):
    """Speech recognition and synthesis for audio turns."""

    async def transcribe(self, audio: bytes, language: str, context: grpc.aio.ServicerContext) -> tuple[str, str]:
        """The transcript and its language."""
        ...

    async def speak(self, text: str, language: str, voice_id: str,
                    context: grpc.aio.ServicerContext) -> tuple[bytes, int]:
        """The spoken text as WAV bytes and their sample rate."""
        ...


@dataclass(frozen=True, slots=True)
class Turn:
    """A checked chat request: what the user said (transcribed for audio) and where it goes."""

    type: str
    text: str
    conversation_id: str
    language: str
    voice_id: str
    transcript: str = ""


class ChatServicer:
    """agentmesh.v1.ChatService."""

    def __init__(self, conversations: Conversations, llm: LlmServicer, events: Publisher,
                 audio: AudioEngine | None = None, commands: Commands | None = None,
                 bot: BotSettings | None = None) -> None:
        self.conversations = conversations
        self.llm = llm
        self.events = events
        self.audio = audio
        self.commands = commands
        self.bot = bot

    async def _turn(self, request: Any, context: grpc.aio.ServicerContext) -> Turn:
        bot = await self.bot.current() if self.bot is not None else ChatSettings()
        if not bot.enabled:
            raise FailedPrecondition("the bot is disabled by an administrator", reason="BOT_DISABLED")
        longest = min(MAX_PROMPT_CHARS, bot.max_message_length)
        largest = min(MAX_AUDIO_BYTES, bot.max_file_size)
        kind = (request.type or "text").strip().lower()
        problems: list[FieldViolation] = []
        if kind not in TYPES:
            problems.append(FieldViolation("type", "text or audio"))
        content: str = request.content
        if not content.strip():
            problems.append(FieldViolation("content", "is required"))
        elif kind == "text" and len(content) > longest:
            problems.append(FieldViolation("content", f"at most {longest} characters"))
        audio = b""
        if kind == "audio" and content.strip():
            try:
                audio = base64.b64decode(content, validate=True)
            except (binascii.Error, ValueError):
                problems.append(FieldViolation("content", "base64-encoded audio for type audio"))
            if len(audio) > largest:
                problems.append(FieldViolation("content", f"at most {largest} bytes of audio"))
        raise_if(problems)
        conversation_id = request.conversation_id.strip()
        if kind == "text":
            return Turn("text", content, conversation_id, request.language.strip(), request.voice_id.strip())
        if self.audio is None:
            raise FailedPrecondition("audio chat needs speech recognition, which this unit does not run",
                                     reason="AUDIO_UNAVAILABLE")
        asked = request.language.strip() or bot.default_language
        transcript, language = await self.audio.transcribe(audio, asked, context)
        if not transcript.strip():
            raise InvalidArgument.field("content", "no speech was recognized in the audio")
        if len(transcript) > longest:
            raise InvalidArgument.field("content", f"the speech makes more than {longest} characters of text")
        voice = request.voice_id.strip() or bot.default_voice
        return Turn("audio", transcript, conversation_id, language, voice, transcript)

    async def _command(self, turn: Turn, caller: Caller, conversation_id: str,
                       context: grpc.aio.ServicerContext) -> CommandAnswer | None:
        """The answer of the bot command the turn is; None for any other message, which costs no call."""
        if turn.type != "text" or self.commands is None:
            return None
        called = commands.parse(turn.text)
        if called is None:
            return None
        if turn.conversation_id:  # someone else's conversation is NOT_FOUND before anything runs
            await self.conversations.owned(self.conversations.db, turn.conversation_id, caller)
        return await self.commands.invoke(caller, called, conversation_id, context.time_remaining())

    async def _generation(self, turn: Turn, caller: Caller, context: grpc.aio.ServicerContext,
                          command: CommandAnswer | None = None) -> Any:
        """What the model is asked: the user's message, or the prompt of the command it was."""
        history = await self.conversations.history(turn.conversation_id, caller) if turn.conversation_id else []
        system = SYSTEM_PROMPT + (f" Answer in the language whose ISO 639-1 code is {turn.language}."
                                  if turn.language else "")
        prompt = command.text if command is not None else turn.text
        return await self.llm.prepare(speech_pb2.GenerateRequest(prompt=prompt, system=system), context, history)

    async def _record(self, caller: Caller, turn: Turn, completion: Completion, began: float,
                      conversation_id: str = "", answer_id: str = "") -> tuple[dict[str, Any], dict[str, Any]]:
        exchange = Exchange(turn.type, turn.text, completion.text, (time.perf_counter() - began) * 1000,
                            completion.usage.prompt_tokens, completion.usage.completion_tokens)
        conversation, answer = await self.conversations.record(
            caller, turn.conversation_id, exchange, new_conversation_id=conversation_id, answer_id=answer_id)
        event = common_pb2.Event(type="chat.completed", tenant_id=caller.tenant_id, user_id=caller.user_id,
                                 subject_id=conversation["conversation_id"])
        event.data.update({"conversation_id": conversation["conversation_id"], "message_id": answer["message_id"],
                           "type": turn.type, "response_time_ms": answer["response_time_ms"],
                           "prompt_tokens": answer["prompt_tokens"], "completion_tokens": answer["completion_tokens"],
                           "total_tokens": answer["total_tokens"], "new_conversation": not turn.conversation_id})
        self.events.emit(event)
        return conversation, answer

    def _failed(self, caller: Caller, turn: Turn, conversation_id: str) -> None:
        """chat.failed: the model could not answer the turn (the bot's figures count these)."""
        event = common_pb2.Event(type="chat.failed", tenant_id=caller.tenant_id, user_id=caller.user_id,
                                 subject_id=conversation_id)
        event.data.update({"conversation_id": conversation_id, "type": turn.type})
        self.events.emit(event)

    async def Chat(self, request: speech_pb2.ChatRequest, context: grpc.aio.ServicerContext) -> Any:
        caller = authctx.current()
        began = time.perf_counter()
        turn = await self._turn(request, context)
        conversation_id = turn.conversation_id or new_id("conv")
        command = await self._command(turn, caller, conversation_id, context)
        if command is not None and not command.prompt:
            completion = Completion(command.text, model="")
        else:
            try:
                completion, _ = await self.llm.complete(await self._generation(turn, caller, context, command),
                                                        {"subject_id": conversation_id})
            except DomainError:
                self._failed(caller, turn, conversation_id)
                raise
        conversation, answer = await self._record(caller, turn, completion, began,
                                                  "" if turn.conversation_id else conversation_id)
        reply = speech_pb2.ChatResponse(
            type=turn.type, content=completion.text, conversation_id=conversation["conversation_id"],
            message_id=answer["message_id"], timestamp=timestamp(answer["created_at"]), transcript=turn.transcript,
        )
        if turn.type == "audio" and self.audio is not None:
            reply.audio_b64, reply.sample_rate = await self.audio.speak(completion.text, turn.language,
                                                                        turn.voice_id, context)
        return reply

    async def StreamChat(self, request: speech_pb2.StreamChatRequest,
                         context: grpc.aio.ServicerContext) -> AsyncIterator[speech_pb2.StreamChatResponse]:
        caller = authctx.current()
        wanted = request.user_id.strip()
        if wanted and wanted != caller.user_id and not caller.is_admin:
            raise NotFound(f"user {wanted} not found", reason="USER_NOT_FOUND")
        began = time.perf_counter()
        turn = await self._turn(request, context)
        # the ids are known before the answer, so every chunk names them; nothing is written until it is whole
        conversation_id = turn.conversation_id or new_id("conv")
        answer_id = new_id("msg")
        completion: Completion | None = None
        command = await self._command(turn, caller, conversation_id, context)
        if command is not None and not command.prompt:
            completion = Completion(command.text, model="")
            yield speech_pb2.StreamChatResponse(type="text", content=command.text, conversation_id=conversation_id,
                                                message_id=answer_id, timestamp=timestamp(time.time()))
        else:
            generation = await self._generation(turn, caller, context, command)
            try:
                async with aclosing(self.llm.pieces(generation, {"subject_id": conversation_id})) as pieces:
                    async for piece in pieces:
                        if isinstance(piece, Chunk):
                            yield speech_pb2.StreamChatResponse(type="text", content=piece.delta,
                                                                conversation_id=conversation_id,
                                                                message_id=answer_id,
                                                                timestamp=timestamp(time.time()))
                        else:
                            completion = piece
            except DomainError:
                self._failed(caller, turn, conversation_id)
                raise
        assert completion is not None
        await self._record(caller, turn, completion, began, "" if turn.conversation_id else conversation_id,
                           answer_id)
        if turn.type == "audio" and self.audio is not None:
            spoken, _ = await self.audio.speak(completion.text, turn.language, turn.voice_id, context)
            yield speech_pb2.StreamChatResponse(type="audio", content=base64.b64encode(spoken).decode(),
                                                conversation_id=conversation_id, message_id=answer_id,
                                                timestamp=timestamp(time.time()))
        yield speech_pb2.StreamChatResponse(type=turn.type, conversation_id=conversation_id, message_id=answer_id,
                                            done=True, timestamp=timestamp(time.time()))

    async def ListConversations(self, request: speech_pb2.ListConversationsRequest,
                                context: grpc.aio.ServicerContext) -> Any:
        caller = authctx.current()
        clauses, values = filter_sql(request.filter, store.CONVERSATION_COLUMNS)
        order = order_sql(request.order_by, store.CONVERSATION_COLUMNS, "c.last_message_at DESC, c.created_at DESC",
                          "c.conversation_id DESC")
        rows, total, token = await page(self.conversations.db, "conversations c",
                                        ["c.user_id = ?", "c.tenant_id = ?", *clauses],
                                        [caller.user_id, caller.tenant_id, *values], order, request)
        return speech_pb2.ListConversationsResponse(
            conversations=[store.conversation_message(r) for r in rows], next_page_token=token, total_size=total)

    async def CreateConversation(self, request: speech_pb2.CreateConversationRequest,
                                 context: grpc.aio.ServicerContext) -> Any:
        caller = authctx.current()
        title, metadata = request.title.strip(), struct_dict(request.metadata)
        _check_conversation(title, metadata)
        row = await self.conversations.create(self.conversations.db, caller, title, metadata)
        return speech_pb2.CreateConversationResponse(conversation=store.conversation_message(row))

    async def GetConversation(self, request: speech_pb2.GetConversationRequest,
                              context: grpc.aio.ServicerContext) -> Any:
        row = await self.conversations.owned(self.conversations.db,
                                             required_id("conversation_id", request.conversation_id),
                                             authctx.current())
        return speech_pb2.GetConversationResponse(conversation=store.conversation_message(row))

    async def DeleteConversation(self, request: speech_pb2.DeleteConversationRequest,
                                 context: grpc.aio.ServicerContext) -> Any:
        row = await self.conversations.owned(self.conversations.db,
                                             required_id("conversation_id", request.conversation_id),
                                             authctx.current())
        await self.conversations.delete(row["conversation_id"])
        return speech_pb2.DeleteConversationResponse()

    async def ListMessages(self, request: speech_pb2.ListMessagesRequest, context: grpc.aio.ServicerContext) -> Any:
        conversation = await self.conversations.owned(
            self.conversations.db, required_id("conversation_id", request.conversation_id), authctx.current())
        where, params = ["m.conversation_id = ?"], [conversation["conversation_id"]]
        if request.role:
            if request.role not in store.ROLES:
                raise InvalidArgument.field("role", f"one of {', '.join(store.ROLES)}")
            where.append("m.role = ?")
            params.append(request.role)
        clauses, values = filter_sql(request.filter, store.MESSAGE_COLUMNS)
        order = order_sql(request.order_by, store.MESSAGE_COLUMNS, "m.seq ASC", "m.seq ASC")
        rows, total, token = await page(self.conversations.db, "messages m", [*where, *clauses], [*params, *values],
                                        order, request)
        return speech_pb2.ListMessagesResponse(messages=[store.message_message(r) for r in rows],
                                               next_page_token=token, total_size=total)


def _check_conversation(title: str, metadata: dict[str, Any]) -> None:
    problems = []
    if len(title) > store.TITLE_MAX:
        problems.append(FieldViolation("title", f"at most {store.TITLE_MAX} characters"))
    if len(json.dumps(metadata)) > store.METADATA_MAX_BYTES:
        problems.append(FieldViolation("metadata", f"at most {store.METADATA_MAX_BYTES} bytes of JSON"))
    raise_if(problems)


class ConversationAdminServicer:
    """agentmesh.v1.ConversationAdminService: every user's conversations, for admins."""

    def __init__(self, conversations: Conversations) -> None:
        self.conversations = conversations

    async def AdminListConversations(self, request: speech_pb2.AdminListConversationsRequest,
                                     context: grpc.aio.ServicerContext) -> Any:
        where: list[str] = []
        params: list[Any] = []
        for name in ("user_id", "tenant_id"):
            if getattr(request, name).strip():
                where.append(f"c.{name} = ?")
                params.append(getattr(request, name).strip())
        clauses, values = filter_sql(request.filter, store.ADMIN_COLUMNS)
        order = order_sql(request.order_by, store.ADMIN_COLUMNS, "c.last_message_at DESC, c.created_at DESC",
                          "c.conversation_id DESC")
        rows, total, token = await page(self.conversations.db, "conversations c", [*where, *clauses],
                                        [*params, *values], order, request)
        return speech_pb2.AdminListConversationsResponse(
            conversations=[store.conversation_message(r) for r in rows], next_page_token=token, total_size=total)

    async def AdminSearchConversations(self, request: speech_pb2.AdminSearchConversationsRequest,
                                       context: grpc.aio.ServicerContext) -> Any:
        terms = store.search_terms(request.query)
        if not terms:
            raise InvalidArgument.field("query", "is required")
        if len(request.query) > 500:
            raise InvalidArgument.field("query", "at most 500 characters")
        where: list[str] = []
        params: list[Any] = []
        for term in terms:  # every term, in the title or in a message
            where.append("(lower(c.title) LIKE ? ESCAPE '\\' OR EXISTS (SELECT 1 FROM messages m WHERE"
                         " m.conversation_id = c.conversation_id AND lower(m.content) LIKE ? ESCAPE '\\'))")
            params += [like(term), like(term)]
        if request.user_id.strip():
            where.append("c.user_id = ?")
            params.append(request.user_id.strip())
        # best match first: terms found in the title, then the most recently active
        title_hits = " + ".join("CASE WHEN lower(c.title) LIKE ? ESCAPE '\\' THEN 1 ELSE 0 END" for _ in terms)
        table = f"(SELECT c.*, ({title_hits}) AS title_hits FROM conversations c) c"
        order = "c.title_hits DESC, c.last_message_at DESC, c.conversation_id DESC"
        rows, total, token = await page(self.conversations.db, table, where,
                                        [*(like(t) for t in terms), *params], order, request)
        return speech_pb2.AdminSearchConversationsResponse(
            conversations=[store.conversation_message(r) for r in rows], next_page_token=token, total_size=total)

    async def AdminGetConversation(self, request: speech_pb2.AdminGetConversationRequest,
                                   context: grpc.aio.ServicerContext) -> Any:
        row = await self.conversations.any(self.conversations.db,
                                           required_id("conversation_id", request.conversation_id))
        messages = await self.conversations.messages(row["conversation_id"])
        return speech_pb2.AdminGetConversationResponse(conversation=store.conversation_message(row),
                                                       messages=[store.message_message(m) for m in messages])

    async def AdminDeleteConversation(self, request: speech_pb2.AdminDeleteConversationRequest,
                                      context: grpc.aio.ServicerContext) -> Any:
        row = await self.conversations.any(self.conversations.db,
                                           required_id("conversation_id", request.conversation_id))
        await self.conversations.delete(row["conversation_id"])
        return speech_pb2.AdminDeleteConversationResponse()
