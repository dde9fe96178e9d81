"""The analytics unit's billing tables (migration versions 10 to 19).

`billing_subscriptions` holds a tenant's one subscription (a tenant without a
row is on the free plan); `version` rises with every write, and a write names
the version it read, so two writers never both win. `billing_changes` is the
subscription's log, one row per change with the state it left (the plan in
force and the trial's end from `effective_at` on): the invoices and the usage
allowances of any window are computed from it, and it is the audit record
(who, when, why). `billing_invoices` holds one invoice per closed paid period:
a draft while late usage records may still arrive, then numbered per tenant
(`seq` 1, 2, 3...) and frozen.
"""

from __future__ import annotations

from services.common.storage import Migration

BILLING_MIGRATIONS = (
    Migration(
        10,
        "billing subscriptions, their log and invoices",
        """
        CREATE TABLE billing_subscriptions (
            subscription_id      TEXT PRIMARY KEY,
            tenant_id            TEXT NOT NULL UNIQUE,
            plan_id              TEXT NOT NULL,
            status               TEXT NOT NULL CHECK (status IN ('trialing', 'active', 'cancelled')),
            billing_anchor       REAL NOT NULL,            -- periods are whole months or years from here
            current_period_start REAL NOT NULL,
            current_period_end   REAL NOT NULL,            -- the period's natural end (never cut short)
            cancel_at_period_end INTEGER NOT NULL DEFAULT 0,
            cancelled_at         REAL,                     -- when cancellation was asked for
            cancel_reason        TEXT NOT NULL DEFAULT '',
            ended_at             REAL,                     -- when the paid subscription ended
            trial_end            REAL,
            trial_used           INTEGER NOT NULL DEFAULT 0,
            pending_plan_id      TEXT NOT NULL DEFAULT '', -- a downgrade waiting for the period's end
            version              INTEGER NOT NULL DEFAULT 1,
            created_at           REAL NOT NULL,
            updated_at           REAL NOT NULL
        );

        CREATE TABLE billing_changes (
            change_id        TEXT PRIMARY KEY,
            tenant_id        TEXT NOT NULL,
            subscription_id  TEXT NOT NULL,
            seq              INTEGER NOT NULL,             -- per tenant, from 1: the order of changes
            kind             TEXT NOT NULL,
            plan_id          TEXT NOT NULL,                -- the plan in force after the change
            previous_plan_id TEXT NOT NULL DEFAULT '',
            trial_end        REAL,                         -- the trial's end in force after the change
            effective_at     REAL NOT NULL,
            actor_id         TEXT NOT NULL DEFAULT '',     -- '' for the period's end
            reason           TEXT NOT NULL DEFAULT '',
            created_at       REAL NOT NULL,
            UNIQUE (tenant_id, seq)
        );
        CREATE INDEX billing_changes_time ON billing_changes (tenant_id, effective_at, seq);

        CREATE TABLE billing_invoices (
            invoice_id         TEXT PRIMARY KEY,
            tenant_id          TEXT NOT NULL,
            subscription_id    TEXT NOT NULL,
            seq                INTEGER,                    -- set when finalized
            number             TEXT NOT NULL DEFAULT '',
            status             TEXT NOT NULL DEFAULT 'draft'
                CHECK (status IN ('draft', 'open', 'paid', 'void', 'uncollectible')),
            currency           TEXT NOT NULL,
            amount_due_cents   INTEGER NOT NULL DEFAULT 0 CHECK (amount_due_cents >= 0),
            amount_paid_cents  INTEGER NOT NULL DEFAULT 0 CHECK (amount_paid_cents >= 0),
            lines              TEXT NOT NULL DEFAULT '[]', -- JSON list of InvoiceLine
            plan_id            TEXT NOT NULL,              -- the plan in force at the period's end
            period_start       REAL NOT NULL,
            period_end         REAL NOT NULL,              -- earlier than natural_end when cut short
            period_natural_end REAL NOT NULL,              -- what prices and allowances are prorated over
            due_at             REAL,
            paid_at            REAL,
            finalized_at       REAL,
            created_at         REAL NOT NULL,
            updated_at         REAL NOT NULL,
            UNIQUE (subscription_id, period_start),
            UNIQUE (tenant_id, seq)
        );
        CREATE INDEX billing_invoices_tenant ON billing_invoices (tenant_id, created_at);
        CREATE INDEX billing_invoices_drafts ON billing_invoices (tenant_id, status, period_start);
        """,
    ),
)
