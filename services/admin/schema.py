"""The admin unit's tables. Times are Unix seconds (REAL)."""

from __future__ import annotations

from services.common.leases import LEASES_SQL
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
    Migration(
        3,
        "configuration, audit, logs, activity, bot, integrations",
        """
        -- Every version of each configuration document (scope system or bot): the keys as set (defaults
        -- are not stored), what changed from the version before, why, who and when. The newest is current.
        CREATE TABLE config_versions (
            scope        TEXT NOT NULL,
            version      INTEGER NOT NULL,
            config       TEXT NOT NULL,
            changed_keys TEXT NOT NULL DEFAULT '[]',
            reason       TEXT NOT NULL DEFAULT '',
            updated_by   TEXT NOT NULL DEFAULT '',
            created_at   REAL NOT NULL,
            PRIMARY KEY (scope, version)
        );

        -- One row per call of an audited method in any unit (audit.recorded events).
        CREATE TABLE audit_log (
            seq            INTEGER PRIMARY KEY AUTOINCREMENT,
            audit_entry_id TEXT NOT NULL UNIQUE,
            time           REAL NOT NULL,
            actor_id       TEXT NOT NULL DEFAULT '',
            actor_role     TEXT NOT NULL DEFAULT '',
            tenant_id      TEXT NOT NULL DEFAULT '',
            method         TEXT NOT NULL,
            resource_type  TEXT NOT NULL DEFAULT '',
            resource_id    TEXT NOT NULL DEFAULT '',
            outcome        TEXT NOT NULL,
            status_code    TEXT NOT NULL,
            request        TEXT NOT NULL DEFAULT '{}',
            ip_address     TEXT NOT NULL DEFAULT '',
            user_agent     TEXT NOT NULL DEFAULT '',
            request_id     TEXT NOT NULL DEFAULT '',
            unit           TEXT NOT NULL DEFAULT '',
            via_service    TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX audit_log_time ON audit_log (time);
        CREATE INDEX audit_log_actor ON audit_log (actor_id, time);
        CREATE INDEX audit_log_resource ON audit_log (resource_type, resource_id);

        -- Warning-and-worse log lines of every unit (log.* events), bounded by logs.retention_days.
        CREATE TABLE system_logs (
            seq        INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id   TEXT NOT NULL UNIQUE,
            time       REAL NOT NULL,
            level      TEXT NOT NULL,
            level_rank INTEGER NOT NULL,
            unit       TEXT NOT NULL,
            logger     TEXT NOT NULL DEFAULT '',
            message    TEXT NOT NULL,
            request_id TEXT NOT NULL DEFAULT '',
            fields     TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX system_logs_time ON system_logs (time);

        -- Where the unit's follower of its own hub stopped (resumed from on a shared Redis bus).
        CREATE TABLE hub_cursor (
            feed          TEXT PRIMARY KEY,
            last_event_id TEXT NOT NULL,
            updated_at    REAL NOT NULL
        );

        -- The platform's activity as the hub announced it, for the statistics: work not finished yet
        -- (tasks queued or running) and what exists (persona instances) ...
        CREATE TABLE activity_open (
            kind       TEXT NOT NULL,
            subject_id TEXT NOT NULL,
            tenant_id  TEXT NOT NULL DEFAULT '',
            status     TEXT NOT NULL DEFAULT '',
            at         REAL NOT NULL,
            PRIMARY KEY (kind, subject_id)
        );
        -- ... what happened in the last day (tasks created, runs started, tokens used) ...
        CREATE TABLE activity_recent (
            seq     INTEGER PRIMARY KEY AUTOINCREMENT,
            kind    TEXT NOT NULL,
            at      REAL NOT NULL,
            amount  INTEGER NOT NULL DEFAULT 0,
            amount2 INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX activity_recent_kind ON activity_recent (kind, at);
        -- ... and totals since the platform started.
        CREATE TABLE activity_counters (
            name  TEXT PRIMARY KEY,
            value INTEGER NOT NULL
        );

        -- The chat bot's turns (chat.completed) and failed answers (llm.failed of kind chat).
        CREATE TABLE chat_turns (
            event_id         TEXT PRIMARY KEY,
            at               REAL NOT NULL,
            tenant_id        TEXT NOT NULL DEFAULT '',
            user_id          TEXT NOT NULL DEFAULT '',
            conversation_id  TEXT NOT NULL DEFAULT '',
            type             TEXT NOT NULL DEFAULT 'text',
            response_time_ms REAL,
            language         TEXT NOT NULL DEFAULT '',
            failed           INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX chat_turns_at ON chat_turns (at);

        -- The chat bot's slash commands; names are unique whatever their case.
        CREATE TABLE bot_commands (
            command_id       TEXT PRIMARY KEY,
            name             TEXT NOT NULL,
            name_key         TEXT NOT NULL UNIQUE,
            description      TEXT NOT NULL DEFAULT '',
            action           TEXT NOT NULL,
            response_text    TEXT NOT NULL DEFAULT '',
            prompt_template  TEXT NOT NULL DEFAULT '',
            webhook_url      TEXT NOT NULL DEFAULT '',
            usage            TEXT NOT NULL DEFAULT '',
            enabled          INTEGER NOT NULL DEFAULT 1,
            required_role    TEXT NOT NULL DEFAULT 'user',
            created_by       TEXT NOT NULL DEFAULT '',
            invocation_count INTEGER NOT NULL DEFAULT 0,
            created_at       REAL NOT NULL,
            updated_at       REAL NOT NULL
        );

        -- A tenant's outbound integrations. The URL, the signing secret and the settings are sealed
        -- (AES-GCM, bound to the integration); url_shown is the URL with its secret parts masked.
        CREATE TABLE integrations (
            integration_id   TEXT PRIMARY KEY,
            tenant_id        TEXT NOT NULL,
            kind             TEXT NOT NULL,
            name             TEXT NOT NULL,
            name_key         TEXT NOT NULL,
            url_sealed       TEXT NOT NULL DEFAULT '',
            url_shown        TEXT NOT NULL DEFAULT '',
            events           TEXT NOT NULL DEFAULT '[]',
            secret_sealed    TEXT NOT NULL DEFAULT '',
            config_sealed    TEXT NOT NULL DEFAULT '',
            config_shown     TEXT NOT NULL DEFAULT '{}',
            enabled          INTEGER NOT NULL DEFAULT 1,
            failure_count    INTEGER NOT NULL DEFAULT 0,
            last_delivery_at REAL,
            created_by       TEXT NOT NULL,
            created_at       REAL NOT NULL,
            updated_at       REAL NOT NULL,
            UNIQUE (tenant_id, name_key)
        );

        -- Every event sent (or to be sent) through an integration, with its last attempt.
        CREATE TABLE deliveries (
            seq                  INTEGER PRIMARY KEY AUTOINCREMENT,
            delivery_id          TEXT NOT NULL UNIQUE,
            integration_id       TEXT NOT NULL REFERENCES integrations (integration_id) ON DELETE CASCADE,
            tenant_id            TEXT NOT NULL,
            event_id             TEXT NOT NULL,
            event_type           TEXT NOT NULL,
            event                TEXT NOT NULL,
            status               TEXT NOT NULL,
            attempts             INTEGER NOT NULL DEFAULT 0,
            response_status_code INTEGER NOT NULL DEFAULT 0,
            response_body        TEXT NOT NULL DEFAULT '',
            error                TEXT NOT NULL DEFAULT '',
            latency_ms           REAL NOT NULL DEFAULT 0,
            test                 INTEGER NOT NULL DEFAULT 0,
            created_at           REAL NOT NULL,
            delivered_at         REAL,
            next_retry_at        REAL
        );
        CREATE INDEX deliveries_due ON deliveries (status, next_retry_at);
        CREATE INDEX deliveries_integration ON deliveries (integration_id, seq);
        """,
    ),
    Migration(
        4,
        "deliveries claimed by one replica, stored once per event",
        """
        ALTER TABLE deliveries ADD COLUMN claimed_until REAL NOT NULL DEFAULT 0;
        CREATE UNIQUE INDEX deliveries_once ON deliveries (integration_id, event_id) WHERE test = 0;
        """ + LEASES_SQL,
    ),
)
