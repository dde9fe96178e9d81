"""Conversations and messages: scoped lookups, the context a model sees, and an exchange written at once.

A conversation belongs to one user in one tenant; anyone else's lookup is
NOT_FOUND, exactly like a missing id (admins use the unscoped lookups of the
admin service). An exchange (the user's message and the assistant's answer,
and the conversation itself when it is new) is written in one transaction once
the answer exists, so a failed model call leaves nothing behind.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agentmesh.v1 import common_pb2, speech_pb2

from services.common.authctx import Caller
from services.common.errors import NotFound
from services.common.protoutil import new_id, struct, timestamp
from services.common.storage import Database, Row, Transaction

TITLE_MAX = 200
METADATA_MAX_BYTES = 16 * 1024
# The context a model sees: at most this many earlier messages, and at most this many characters of them.
HISTORY_MESSAGES = 20
HISTORY_CHARS = 50_000
ROLES = ("user", "assistant", "system")

CONVERSATION_COLUMNS: Mapping[str, str] = {
    name: f"c.{name}"
    for name in ("conversation_id", "title", "message_count", "created_at", "updated_at", "last_message_at")
}
ADMIN_COLUMNS: Mapping[str, str] = {**CONVERSATION_COLUMNS, "user_id": "c.user_id", "tenant_id": "c.tenant_id"}
MESSAGE_COLUMNS: Mapping[str, str] = {
    "message_id": "m.message_id", "role": "m.role", "type": "m.type", "content": "m.content",
    "created_at": "m.seq", "response_time_ms": "m.response_time_ms", "total_tokens": "m.total_tokens",
}


def conversation_not_found(conversation_id: str) -> NotFound:
    return NotFound(f"conversation {conversation_id} not found", reason="CONVERSATION_NOT_FOUND")


def derived_title(text: str) -> str:
    """A title from a first message: its first line, cut at a word near 60 characters."""
    line = " ".join(text.strip().split("\n", 1)[0].split())
    if len(line) <= 60:
        return line
    cut = line[:60].rsplit(" ", 1)[0] or line[:60]
    return cut + "…"


def conversation_message(row: Mapping[str, Any]) -> speech_pb2.Conversation:
    return speech_pb2.Conversation(
        conversation_id=row["conversation_id"], user_id=row["user_id"], tenant_id=row["tenant_id"],
        title=row["title"], message_count=row["message_count"], created_at=timestamp(row["created_at"]),
        updated_at=timestamp(row["updated_at"]), last_message_at=timestamp(row["last_message_at"]),
        metadata=struct(row["metadata"]),
    )


def message_message(row: Mapping[str, Any]) -> speech_pb2.Message:
    return speech_pb2.Message(
        message_id=row["message_id"], conversation_id=row["conversation_id"], role=row["role"], type=row["type"],
        content=row["content"], created_at=timestamp(row["created_at"]), response_time_ms=row["response_time_ms"],
        usage=common_pb2.TokenUsage(prompt_tokens=row["prompt_tokens"], completion_tokens=row["completion_tokens"],
                                    total_tokens=row["total_tokens"]),
    )


@dataclass(frozen=True, slots=True)
class Exchange:
    """What one chat turn writes: the user's message and the answer, with how the answer came about."""

    type: str
    question: str
    answer: str
    response_time_ms: float
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Conversations:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def owned(self, q: Transaction, conversation_id: str, caller: Caller) -> Row:
        """One of the caller's conversations; NOT_FOUND for anyone else's."""
        row = await q.fetch_one("SELECT * FROM conversations WHERE conversation_id = ? AND user_id = ?"
                                " AND tenant_id = ?", (conversation_id, caller.user_id, caller.tenant_id))
        if row is None:
            raise conversation_not_found(conversation_id)
        return row

    async def any(self, q: Transaction, conversation_id: str) -> Row:
        row = await q.fetch_one("SELECT * FROM conversations WHERE conversation_id = ?", (conversation_id,))
        if row is None:
            raise conversation_not_found(conversation_id)
        return row

    async def create(self, q: Transaction, caller: Caller, title: str, metadata: dict[str, Any],
                     conversation_id: str = "") -> Row:
        now = time.time()
        row: Row = {"conversation_id": conversation_id or new_id("conv"), "tenant_id": caller.tenant_id,
                    "user_id": caller.user_id, "title": title, "metadata": json.dumps(metadata),
                    "message_count": 0, "created_at": now, "updated_at": now, "last_message_at": None}
        await q.execute(f"INSERT INTO conversations ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
                        list(row.values()))
        return row

    async def history(self, conversation_id: str, caller: Caller) -> list[tuple[str, str]]:
        """The context of the caller's conversation: its latest messages, oldest first, within the limits."""
        await self.owned(self.db, conversation_id, caller)
        rows = await self.db.fetch_all(
            "SELECT role, content FROM messages WHERE conversation_id = ? AND role != 'system'"
            " ORDER BY seq DESC LIMIT ?", (conversation_id, HISTORY_MESSAGES))
        kept: list[tuple[str, str]] = []
        size = 0
        for row in rows:
            size += len(row["content"])
            if size > HISTORY_CHARS:
                break
            kept.append((row["role"], row["content"]))
        return kept[::-1]

    async def record(self, caller: Caller, conversation_id: str, exchange: Exchange, *,
                     new_conversation_id: str = "", answer_id: str = "") -> tuple[Row, Row]:
        """Write a turn (and its new conversation, when conversation_id is empty); the conversation and answer.

        `new_conversation_id` and `answer_id` are ids handed out before the answer was whole (a stream).
        """
        now = time.time()
        async with self.db.transaction() as tx:
            if conversation_id:
                conversation = await self.owned(tx, conversation_id, caller)
            else:
                conversation = await self.create(tx, caller, derived_title(exchange.question), {},
                                                 new_conversation_id)
            if not conversation["title"]:
                await tx.execute("UPDATE conversations SET title = ? WHERE conversation_id = ?",
                                 (derived_title(exchange.question), conversation["conversation_id"]))
            question = self._message(conversation["conversation_id"], "user", exchange.type, exchange.question,
                                     now - exchange.response_time_ms / 1000)
            answer = self._message(conversation["conversation_id"], "assistant", exchange.type, exchange.answer, now,
                                   message_id=answer_id or new_id("msg"),
                                   response_time_ms=round(exchange.response_time_ms, 3),
                                   prompt_tokens=exchange.prompt_tokens, completion_tokens=exchange.completion_tokens,
                                   total_tokens=exchange.prompt_tokens + exchange.completion_tokens)
            for message in (question, answer):
                await tx.execute(f"INSERT INTO messages ({', '.join(message)}) VALUES"
                                 f" ({', '.join('?' for _ in message)})", list(message.values()))
            await tx.execute("UPDATE conversations SET message_count = message_count + 2, last_message_at = ?,"
                             " updated_at = ? WHERE conversation_id = ?", (now, now, conversation["conversation_id"]))
            stored = await tx.fetch_one("SELECT * FROM conversations WHERE conversation_id = ?",
                                        (conversation["conversation_id"],))
        assert stored is not None
        return stored, answer

    @staticmethod
    def _message(conversation_id: str, role: str, kind: str, content: str, at: float, **extra: Any) -> Row:
        return {"message_id": new_id("msg"), "conversation_id": conversation_id, "role": role, "type": kind,
                "content": content, "created_at": at, "response_time_ms": 0.0, "prompt_tokens": 0,
                "completion_tokens": 0, "total_tokens": 0, **extra}

    async def messages(self, conversation_id: str) -> list[Row]:
        return await self.db.fetch_all("SELECT * FROM messages WHERE conversation_id = ? ORDER BY seq",
                                       (conversation_id,))

    async def delete(self, conversation_id: str) -> None:
        await self.db.execute("DELETE FROM conversations WHERE conversation_id = ?", (conversation_id,))


def search_terms(query: str) -> Sequence[str]:
    return [term for term in query.lower().split() if term][:10]
