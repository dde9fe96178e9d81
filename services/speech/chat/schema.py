"""The speech unit's tables: conversations and their messages. Times are Unix seconds (REAL).

Messages keep their order by `seq` (AUTOINCREMENT), so two messages written in
the same instant still come back in the order they were written. A
conversation's counters (message_count, last_message_at) are kept in the same
transaction as the messages they count.
"""

from __future__ import annotations

from services.common.storage import Migration

MIGRATIONS = (
    Migration(
        1,
        "conversations messages",
        """
        CREATE TABLE conversations (
            conversation_id TEXT PRIMARY KEY,
            tenant_id       TEXT NOT NULL,
            user_id         TEXT NOT NULL,
            title           TEXT NOT NULL DEFAULT '',
            metadata        TEXT NOT NULL DEFAULT '{}',
            message_count   INTEGER NOT NULL DEFAULT 0,
            created_at      REAL NOT NULL,
            updated_at      REAL NOT NULL,
            last_message_at REAL
        );
        CREATE INDEX conversations_user ON conversations (user_id, last_message_at);
        CREATE INDEX conversations_tenant ON conversations (tenant_id, last_message_at);

        CREATE TABLE messages (
            seq               INTEGER PRIMARY KEY AUTOINCREMENT,
            message_id        TEXT NOT NULL UNIQUE,
            conversation_id   TEXT NOT NULL REFERENCES conversations (conversation_id) ON DELETE CASCADE,
            role              TEXT NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
            type              TEXT NOT NULL DEFAULT 'text' CHECK (type IN ('text', 'audio')),
            content           TEXT NOT NULL,
            created_at        REAL NOT NULL,
            response_time_ms  REAL NOT NULL DEFAULT 0,
            prompt_tokens     INTEGER NOT NULL DEFAULT 0,
            completion_tokens INTEGER NOT NULL DEFAULT 0,
            total_tokens      INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX messages_conversation ON messages (conversation_id, seq);
        """,
    ),
)
