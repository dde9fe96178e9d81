"""The analytics unit's tables. Times are Unix seconds (REAL, UTC); ids are prefixed random hex.

Commit tracking and behavioural analytics (seed 004) own versions 100 and up
(`COMMIT_MIGRATIONS`); versions 1..99 are kept for the unit's usage and billing
tables, which join `MIGRATIONS` in version order beside them.

A commit belongs to the tenant it was tracked in and to the user who tracked
it; one user tracks a given hash once per repository (the unique key), so a
refusal never tells anything about another member's commits. An analysis is a
row, stored (queued) before AnalyzeBehavior answers and run in the background
(services.analytics.behavior_runner); the patterns it finds are rows that carry
its id. A successful analysis replaces the patterns of the earlier analyses of
the same user and repository scope. A running analysis names the runner that
claimed it (`runner_id`, its lease in `runner_leases`, see
services.common.leases), so replicas of the unit sharing the database tell one
a crashed runner left behind from one a live runner is still working on.
"""

from __future__ import annotations

from services.analytics.billing_schema import BILLING_MIGRATIONS
from services.analytics.usage_schema import USAGE_MIGRATIONS
from services.common.leases import LEASES_SQL
from services.common.storage import Migration

COMMIT_MIGRATIONS = (
    Migration(
        100,
        "commits",
        """
        CREATE TABLE commits (
            commit_id     TEXT PRIMARY KEY,
            tenant_id     TEXT NOT NULL,
            user_id       TEXT NOT NULL,
            commit_hash   TEXT NOT NULL,             -- 40 lower-case hexadecimal digits
            repository    TEXT NOT NULL DEFAULT '',
            branch        TEXT NOT NULL DEFAULT '',
            author        TEXT NOT NULL DEFAULT '',
            author_email  TEXT NOT NULL DEFAULT '',
            message       TEXT NOT NULL DEFAULT '',
            timestamp     REAL NOT NULL,             -- when the commit was made (author date)
            files_changed INTEGER NOT NULL DEFAULT 0 CHECK (files_changed >= 0),
            additions     INTEGER NOT NULL DEFAULT 0 CHECK (additions >= 0),
            deletions     INTEGER NOT NULL DEFAULT 0 CHECK (deletions >= 0),
            files         TEXT NOT NULL DEFAULT '[]', -- JSON list of paths
            created_at    REAL NOT NULL
        );
        CREATE UNIQUE INDEX commits_hash ON commits (tenant_id, user_id, repository, commit_hash);
        CREATE INDEX commits_hash_lookup ON commits (tenant_id, commit_hash);
        CREATE INDEX commits_user_time ON commits (tenant_id, user_id, timestamp);
        CREATE INDEX commits_user_repository_time ON commits (tenant_id, user_id, repository, timestamp);
        CREATE INDEX commits_tenant_time ON commits (tenant_id, timestamp);
        """,
    ),
    Migration(
        101,
        "behaviour analyses and patterns",
        """
        CREATE TABLE behavior_analyses (
            analysis_id   TEXT PRIMARY KEY,
            tenant_id     TEXT NOT NULL,
            user_id       TEXT NOT NULL,             -- whose commits
            requested_by  TEXT NOT NULL,
            repository    TEXT NOT NULL DEFAULT '',  -- '' = every repository
            start_time    REAL NOT NULL,
            end_time      REAL NOT NULL,
            kinds         TEXT NOT NULL DEFAULT '[]', -- JSON list; [] = every kind
            status        TEXT NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
            commit_count  INTEGER NOT NULL DEFAULT 0,
            pattern_count INTEGER NOT NULL DEFAULT 0,
            error         TEXT NOT NULL DEFAULT '',
            attempts      INTEGER NOT NULL DEFAULT 0,
            created_at    REAL NOT NULL,
            started_at    REAL,
            finished_at   REAL
        );
        CREATE INDEX behavior_analyses_scope ON behavior_analyses (tenant_id, user_id, repository, status, finished_at);
        CREATE INDEX behavior_analyses_open ON behavior_analyses (status) WHERE status IN ('queued', 'running');

        CREATE TABLE behavior_patterns (
            pattern_id   TEXT PRIMARY KEY,
            analysis_id  TEXT NOT NULL REFERENCES behavior_analyses (analysis_id) ON DELETE CASCADE,
            tenant_id    TEXT NOT NULL,
            user_id      TEXT NOT NULL,
            kind         TEXT NOT NULL,
            title        TEXT NOT NULL,
            description  TEXT NOT NULL DEFAULT '',
            confidence   REAL NOT NULL,
            data         TEXT NOT NULL DEFAULT '{}',
            repository   TEXT NOT NULL DEFAULT '',
            start_time   REAL NOT NULL,
            end_time     REAL NOT NULL,
            created_at   REAL NOT NULL
        );
        CREATE INDEX behavior_patterns_analysis ON behavior_patterns (analysis_id, confidence);
        """,
    ),
    Migration(
        102,
        "analysis runners and runner leases",
        """
        ALTER TABLE behavior_analyses ADD COLUMN runner_id TEXT NOT NULL DEFAULT '';  -- the claiming runner's lease
        """ + LEASES_SQL,
    ),
)

MIGRATIONS = (*USAGE_MIGRATIONS, *BILLING_MIGRATIONS, *COMMIT_MIGRATIONS)
