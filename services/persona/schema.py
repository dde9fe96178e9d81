"""The persona unit's tables. Times are Unix seconds (REAL); ids are prefixed random hex.

Templates are global (the catalogue admins write). An instance belongs to one
tenant and one owner, and keeps a copy of what it was made from (`base`: the
template's system prompt, provider, model, config and overridable keys at that
version), so a later template update or a forced delete never changes an
instance. Executions, their log lines and the instance's event log are rows
too: an execution is stored before ExecuteInstance answers, and the events a
WatchInstance stream hands out come from `instance_events` (ids are the
AUTOINCREMENT key, so a client resumes after the last one it saw).

Replicas of the unit may share the database: a running execution names the
executor that claimed it (`runner_id`, its lease in `runner_leases`, see
services.common.leases), so one whose executor's lease lapsed can be told
from one another replica is still running.
"""

from __future__ import annotations

from services.common.leases import LEASES_SQL
from services.common.storage import Migration

MIGRATIONS = (
    Migration(
        1,
        "persona templates instances executions",
        """
        CREATE TABLE templates (
            template_id      TEXT PRIMARY KEY,
            name             TEXT NOT NULL,
            name_key         TEXT NOT NULL UNIQUE,  -- lower(name): names are unique whatever their case
            description      TEXT NOT NULL DEFAULT '',
            category         TEXT NOT NULL DEFAULT '',
            system_prompt    TEXT NOT NULL DEFAULT '',
            provider         TEXT NOT NULL DEFAULT '',
            model            TEXT NOT NULL DEFAULT '',
            config           TEXT NOT NULL DEFAULT '{}',
            overridable_keys TEXT NOT NULL DEFAULT '[]',
            published        INTEGER NOT NULL DEFAULT 0,
            tags             TEXT NOT NULL DEFAULT '[]',
            version          INTEGER NOT NULL DEFAULT 1,
            created_by       TEXT NOT NULL DEFAULT '',
            created_at       REAL NOT NULL,
            updated_at       REAL NOT NULL
        );
        CREATE INDEX templates_category ON templates (category, name_key);

        CREATE TABLE instances (
            instance_id          TEXT PRIMARY KEY,
            tenant_id            TEXT NOT NULL,
            owner_id             TEXT NOT NULL,
            template_id          TEXT NOT NULL,
            template_version     INTEGER NOT NULL,
            name                 TEXT NOT NULL,
            description          TEXT NOT NULL DEFAULT '',
            base                 TEXT NOT NULL,  -- JSON: the template as the instance was made from it
            overrides            TEXT NOT NULL DEFAULT '{}',
            status               TEXT NOT NULL DEFAULT 'idle'
                CHECK (status IN ('idle', 'running', 'stopped', 'failed')),
            current_execution_id TEXT NOT NULL DEFAULT '',
            execution_count      INTEGER NOT NULL DEFAULT 0,
            last_executed_at     REAL,
            created_at           REAL NOT NULL,
            updated_at           REAL NOT NULL
        );
        CREATE INDEX instances_tenant ON instances (tenant_id, owner_id, created_at);
        CREATE INDEX instances_template ON instances (template_id);

        CREATE TABLE executions (
            execution_id      TEXT PRIMARY KEY,
            instance_id       TEXT NOT NULL REFERENCES instances (instance_id) ON DELETE CASCADE,
            tenant_id         TEXT NOT NULL,
            actor             TEXT NOT NULL,  -- JSON: who it runs for (services.common.authctx.Actor)
            status            TEXT NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'running', 'completed', 'failed', 'stopped')),
            input             TEXT NOT NULL,
            variables         TEXT NOT NULL DEFAULT '{}',
            parameters        TEXT NOT NULL DEFAULT '{}',
            output            TEXT NOT NULL DEFAULT '',
            error             TEXT NOT NULL DEFAULT '',
            progress          INTEGER NOT NULL DEFAULT 0,
            prompt_tokens     INTEGER NOT NULL DEFAULT 0,
            completion_tokens INTEGER NOT NULL DEFAULT 0,
            total_tokens      INTEGER NOT NULL DEFAULT 0,
            provider          TEXT NOT NULL DEFAULT '',
            model             TEXT NOT NULL DEFAULT '',
            attempts          INTEGER NOT NULL DEFAULT 0,
            created_at        REAL NOT NULL,
            started_at        REAL,
            finished_at       REAL
        );
        CREATE INDEX executions_instance ON executions (instance_id, created_at);
        CREATE INDEX executions_open ON executions (status) WHERE status IN ('queued', 'running');

        CREATE TABLE instance_logs (
            log_id       INTEGER PRIMARY KEY AUTOINCREMENT,
            instance_id  TEXT NOT NULL REFERENCES instances (instance_id) ON DELETE CASCADE,
            execution_id TEXT NOT NULL DEFAULT '',
            level        TEXT NOT NULL,
            message      TEXT NOT NULL,
            fields       TEXT NOT NULL DEFAULT '{}',
            time         REAL NOT NULL
        );
        CREATE INDEX instance_logs_instance ON instance_logs (instance_id, log_id);

        CREATE TABLE instance_events (
            event_id     INTEGER PRIMARY KEY AUTOINCREMENT,
            instance_id  TEXT NOT NULL REFERENCES instances (instance_id) ON DELETE CASCADE,
            execution_id TEXT NOT NULL DEFAULT '',
            type         TEXT NOT NULL,
            data         TEXT NOT NULL DEFAULT '{}',
            time         REAL NOT NULL
        );
        CREATE INDEX instance_events_instance ON instance_events (instance_id, event_id);
        """,
    ),
    Migration(
        2,
        "execution runners and runner leases",
        """
        ALTER TABLE executions ADD COLUMN runner_id TEXT NOT NULL DEFAULT '';  -- the claiming executor's lease
        """ + LEASES_SQL,
    ),
)
