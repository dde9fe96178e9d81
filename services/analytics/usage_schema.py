"""The analytics unit's usage tables (migration versions 1 to 99; commit tracking takes 100 and up).

`usage_records` holds one row per finished operation (services.analytics.
usage_records); `usage_feed` the id of the last hub event stored, where the
feed resumes.
"""

from __future__ import annotations

from services.common.storage import Migration

USAGE_MIGRATIONS = (
    Migration(
        1,
        "usage records",
        """
        CREATE TABLE usage_records (
            record_id         TEXT PRIMARY KEY,
            tenant_id         TEXT NOT NULL,
            user_id           TEXT NOT NULL DEFAULT '',
            unit              TEXT NOT NULL,
            kind              TEXT NOT NULL,
            subject_id        TEXT NOT NULL DEFAULT '',
            agent_id          TEXT NOT NULL DEFAULT '',
            team_id           TEXT NOT NULL DEFAULT '',
            workflow_id       TEXT NOT NULL DEFAULT '',
            provider          TEXT NOT NULL DEFAULT '',
            model             TEXT NOT NULL DEFAULT '',
            prompt_tokens     INTEGER NOT NULL DEFAULT 0,
            completion_tokens INTEGER NOT NULL DEFAULT 0,
            total_tokens      INTEGER NOT NULL DEFAULT 0,
            latency_ms        REAL NOT NULL DEFAULT 0,
            outcome           TEXT NOT NULL DEFAULT 'succeeded',
            error_code        TEXT NOT NULL DEFAULT '',
            cost_usd          REAL NOT NULL DEFAULT 0,
            audio_seconds     REAL NOT NULL DEFAULT 0,
            occurred_at       REAL NOT NULL,
            recorded_at       REAL NOT NULL
        );
        CREATE INDEX usage_tenant_time ON usage_records (tenant_id, occurred_at);
        CREATE INDEX usage_subject ON usage_records (tenant_id, kind, subject_id);

        CREATE TABLE usage_feed (
            feed          TEXT PRIMARY KEY,
            last_event_id TEXT NOT NULL,
            updated_at    REAL NOT NULL
        );
        """,
    ),
)
