"""The task unit's tables. Times are Unix seconds (REAL); ids are prefixed random hex.

A task row is the unit of durability: it is committed (status queued) before
CreateTask answers, claimed by one runner with a conditional UPDATE, and every
change of it is recorded in `task_events` in the same transaction, which is what
WatchTask replays and resumes from and ListTaskLogs reads.
"""

from __future__ import annotations

from services.common.leases import leases_migration
from services.common.storage import Migration

MIGRATIONS = (
    Migration(
        1,
        "tasks task events workflows runs",
        """
        CREATE TABLE tasks (
            task_id           TEXT PRIMARY KEY,
            tenant_id         TEXT NOT NULL,
            owner_id          TEXT NOT NULL,
            agent_id          TEXT NOT NULL DEFAULT '',
            team_id           TEXT NOT NULL DEFAULT '',
            input             TEXT NOT NULL DEFAULT '',
            input_data        TEXT NOT NULL DEFAULT '{}',
            parameters        TEXT NOT NULL DEFAULT '{}',
            priority          INTEGER NOT NULL DEFAULT 0,
            timeout_seconds   INTEGER NOT NULL DEFAULT 0,
            idempotency_key   TEXT NOT NULL DEFAULT '',
            -- A digest of what was asked, so a reused idempotency key with another request is refused.
            request_digest    TEXT NOT NULL DEFAULT '',
            status            TEXT NOT NULL CHECK (status IN
                                ('pending', 'queued', 'running', 'succeeded', 'failed', 'cancelled')),
            progress          REAL NOT NULL DEFAULT 0,
            output            TEXT NOT NULL DEFAULT '',
            output_data       TEXT NOT NULL DEFAULT '{}',
            error             TEXT NOT NULL DEFAULT '',
            prompt_tokens     INTEGER NOT NULL DEFAULT 0,
            completion_tokens INTEGER NOT NULL DEFAULT 0,
            total_tokens      INTEGER NOT NULL DEFAULT 0,
            attempts          INTEGER NOT NULL DEFAULT 0,
            retry_of_task_id  TEXT NOT NULL DEFAULT '',
            workflow_run_id   TEXT NOT NULL DEFAULT '',
            step_id           TEXT NOT NULL DEFAULT '',
            -- Who the task acts for (user, tenant, role...; never a token), as JSON.
            actor             TEXT NOT NULL DEFAULT '{}',
            -- The runner process that claimed the task; its writes are conditional on it.
            runner_id         TEXT NOT NULL DEFAULT '',
            created_at        REAL NOT NULL,
            started_at        REAL,
            finished_at       REAL,
            updated_at        REAL NOT NULL
        );
        CREATE UNIQUE INDEX tasks_idempotency ON tasks (tenant_id, owner_id, idempotency_key)
            WHERE idempotency_key != '';
        CREATE INDEX tasks_queue ON tasks (status, priority DESC, created_at);
        CREATE INDEX tasks_tenant ON tasks (tenant_id, created_at);
        CREATE INDEX tasks_run ON tasks (workflow_run_id) WHERE workflow_run_id != '';

        -- Every change of a task: status, progress, output and log lines, in order.
        CREATE TABLE task_events (
            event_id     INTEGER PRIMARY KEY AUTOINCREMENT,
            task_id      TEXT NOT NULL REFERENCES tasks (task_id),
            type         TEXT NOT NULL,
            status       TEXT NOT NULL,
            progress     REAL NOT NULL DEFAULT 0,
            message      TEXT NOT NULL DEFAULT '',
            level        TEXT NOT NULL DEFAULT '',
            output_chunk TEXT NOT NULL DEFAULT '',
            fields       TEXT NOT NULL DEFAULT '{}',
            time         REAL NOT NULL
        );
        CREATE INDEX task_events_task ON task_events (task_id, event_id);

        -- The next member of a round_robin team.
        CREATE TABLE team_turns (
            team_id TEXT PRIMARY KEY,
            turn    INTEGER NOT NULL
        );

        CREATE TABLE workflows (
            workflow_id  TEXT PRIMARY KEY,
            tenant_id    TEXT NOT NULL,
            owner_id     TEXT NOT NULL,
            name         TEXT NOT NULL,
            description  TEXT NOT NULL DEFAULT '',
            steps        TEXT NOT NULL DEFAULT '[]',
            input_schema TEXT NOT NULL DEFAULT '{}',
            enabled      INTEGER NOT NULL DEFAULT 1,
            created_at   REAL NOT NULL,
            updated_at   REAL NOT NULL,
            deleted_at   REAL
        );
        CREATE INDEX workflows_tenant ON workflows (tenant_id, created_at);

        -- Which agents a workflow's steps name, for ListWorkflows' agent_id filter.
        CREATE TABLE workflow_agents (
            workflow_id TEXT NOT NULL REFERENCES workflows (workflow_id),
            agent_id    TEXT NOT NULL,
            PRIMARY KEY (workflow_id, agent_id)
        );

        CREATE TABLE workflow_runs (
            run_id          TEXT PRIMARY KEY,
            workflow_id     TEXT NOT NULL REFERENCES workflows (workflow_id),
            tenant_id       TEXT NOT NULL,
            owner_id        TEXT NOT NULL,
            status          TEXT NOT NULL CHECK (status IN
                              ('pending', 'running', 'succeeded', 'failed', 'cancelled')),
            input_data      TEXT NOT NULL DEFAULT '{}',
            output          TEXT NOT NULL DEFAULT '{}',
            error           TEXT NOT NULL DEFAULT '',
            async_execution INTEGER NOT NULL DEFAULT 1,
            -- The steps as they were when the run started; later edits do not reach it.
            steps           TEXT NOT NULL DEFAULT '[]',
            actor           TEXT NOT NULL DEFAULT '{}',
            created_at      REAL NOT NULL,
            started_at      REAL,
            finished_at     REAL,
            updated_at      REAL NOT NULL
        );
        CREATE INDEX workflow_runs_workflow ON workflow_runs (workflow_id, created_at);
        CREATE INDEX workflow_runs_open ON workflow_runs (status) WHERE status IN ('pending', 'running');

        CREATE TABLE run_steps (
            run_id      TEXT NOT NULL REFERENCES workflow_runs (run_id),
            step_id     TEXT NOT NULL,
            position    INTEGER NOT NULL,
            status      TEXT NOT NULL CHECK (status IN
                          ('pending', 'running', 'succeeded', 'failed', 'cancelled', 'skipped')),
            task_id     TEXT NOT NULL DEFAULT '',
            output      TEXT NOT NULL DEFAULT '',
            error       TEXT NOT NULL DEFAULT '',
            started_at  REAL,
            finished_at REAL,
            PRIMARY KEY (run_id, step_id)
        );

        -- Every change of a run and its steps, in order (WatchWorkflowRun, WatchWorkflow).
        CREATE TABLE run_events (
            event_id    INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id      TEXT NOT NULL REFERENCES workflow_runs (run_id),
            workflow_id TEXT NOT NULL,
            type        TEXT NOT NULL,
            status      TEXT NOT NULL,
            step_id     TEXT NOT NULL DEFAULT '',
            message     TEXT NOT NULL DEFAULT '',
            progress    REAL NOT NULL DEFAULT 0,
            time        REAL NOT NULL
        );
        CREATE INDEX run_events_run ON run_events (run_id, event_id);
        CREATE INDEX run_events_workflow ON run_events (workflow_id, event_id);
        """,
    ),
    leases_migration(2),
)
