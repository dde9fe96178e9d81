"""The admin unit's tables. Times are Unix seconds (REAL)."""

from __future__ import annotations

from services.common.storage import Migration

MIGRATIONS = (
    Migration(
        1,
        "maintenance switch",
        """
        -- One row: the platform's maintenance switch, kept across restarts.
        CREATE TABLE maintenance (
            id              INTEGER PRIMARY KEY CHECK (id = 1),
            enabled         INTEGER NOT NULL DEFAULT 0,
            message         TEXT NOT NULL DEFAULT '',
            updated_at      REAL,
            updated_by      TEXT NOT NULL DEFAULT '',
            expected_end_at REAL
        );
        INSERT INTO maintenance (id) VALUES (1);
        """,
    ),
    Migration(
        2,
        "notifications",
        """
        -- One row per stored notification. Its audience is (tenant_id, user_id), read as the event
        -- bus reads an event's: '' tenant = every tenant, '' user = every user of the tenant(s).
        -- seq orders rows in the order they were stored (newest first = seq DESC).
        CREATE TABLE notifications (
            seq             INTEGER PRIMARY KEY AUTOINCREMENT,
            notification_id TEXT NOT NULL UNIQUE,
            tenant_id       TEXT NOT NULL DEFAULT '',
            user_id         TEXT NOT NULL DEFAULT '',
            title           TEXT NOT NULL DEFAULT '',
            message         TEXT NOT NULL,
            level           TEXT NOT NULL,
            level_rank      INTEGER NOT NULL,
            channel         TEXT NOT NULL,
            kind            TEXT NOT NULL DEFAULT '',
            subject_id      TEXT NOT NULL DEFAULT '',
            data            TEXT NOT NULL DEFAULT '{}',
            status          TEXT NOT NULL,
            error           TEXT NOT NULL DEFAULT '',
            sender_id       TEXT NOT NULL DEFAULT '',
            created_at      REAL NOT NULL,
            delivered_at    REAL,
            expires_at      REAL
        );
        CREATE INDEX notifications_audience ON notifications (user_id, tenant_id, seq);

        -- Read state per user: a notification addressed to a tenant or to everyone is one row above
        -- and one row here per member who has read it.
        CREATE TABLE notification_reads (
            notification_id TEXT NOT NULL REFERENCES notifications (notification_id) ON DELETE CASCADE,
            user_id         TEXT NOT NULL,
            read_at         REAL NOT NULL,
            PRIMARY KEY (notification_id, user_id)
        );

        -- A user's preferences; a user without a row has the defaults.
        CREATE TABLE notification_preferences (
            user_id           TEXT PRIMARY KEY,
            in_app_enabled    INTEGER NOT NULL DEFAULT 1,
            email_enabled     INTEGER NOT NULL DEFAULT 0,
            webhook_enabled   INTEGER NOT NULL DEFAULT 0,
            email             TEXT NOT NULL DEFAULT '',
            webhook_url       TEXT NOT NULL DEFAULT '',
            min_level         TEXT NOT NULL DEFAULT 'info',
            muted_kinds       TEXT NOT NULL DEFAULT '[]',
            digest            TEXT NOT NULL DEFAULT 'none',
            quiet_hours_start TEXT NOT NULL DEFAULT '',
            quiet_hours_end   TEXT NOT NULL DEFAULT '',
            timezone          TEXT NOT NULL DEFAULT 'UTC',
            updated_at        REAL NOT NULL
        );
        """,
    ),
)
