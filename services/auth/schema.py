"""The auth unit's tables. Times are Unix seconds (REAL); ids are prefixed random hex."""

from __future__ import annotations

from services.common.storage import Migration

MIGRATIONS = (
    Migration(
        1,
        "accounts tenants sessions api keys",
        """
        CREATE TABLE tenants (
            tenant_id     TEXT PRIMARY KEY,
            name          TEXT NOT NULL,
            slug          TEXT NOT NULL,
            description   TEXT NOT NULL DEFAULT '',
            tier          TEXT NOT NULL DEFAULT 'free',
            status        TEXT NOT NULL DEFAULT 'active',
            contact_email TEXT NOT NULL DEFAULT '',
            owner_id      TEXT,
            personal      INTEGER NOT NULL DEFAULT 0,
            created_at    REAL NOT NULL,
            updated_at    REAL NOT NULL,
            deleted_at    REAL
        );
        CREATE UNIQUE INDEX tenants_slug ON tenants (slug) WHERE deleted_at IS NULL;

        CREATE TABLE users (
            user_id             TEXT PRIMARY KEY,
            username            TEXT NOT NULL,
            email               TEXT,
            full_name           TEXT NOT NULL DEFAULT '',
            password_hash       TEXT,
            role                TEXT NOT NULL DEFAULT 'user',
            status              TEXT NOT NULL DEFAULT 'active',
            tenant_id           TEXT REFERENCES tenants (tenant_id),
            email_verified      INTEGER NOT NULL DEFAULT 0,
            settings            TEXT NOT NULL DEFAULT '{}',
            created_at          REAL NOT NULL,
            updated_at          REAL NOT NULL,
            last_login_at       REAL,
            password_changed_at REAL,
            deleted_at          REAL
        );
        CREATE UNIQUE INDEX users_username ON users (lower(username)) WHERE deleted_at IS NULL;
        CREATE UNIQUE INDEX users_email ON users (lower(email)) WHERE deleted_at IS NULL AND email IS NOT NULL;
        CREATE INDEX users_tenant ON users (tenant_id);

        CREATE TABLE memberships (
            tenant_id  TEXT NOT NULL REFERENCES tenants (tenant_id),
            user_id    TEXT NOT NULL REFERENCES users (user_id),
            role       TEXT NOT NULL DEFAULT 'member',
            invited_by TEXT NOT NULL DEFAULT '',
            joined_at  REAL NOT NULL,
            PRIMARY KEY (tenant_id, user_id)
        );
        CREATE INDEX memberships_user ON memberships (user_id);

        -- One row per sign-in. refresh_jti is the only refresh token of the
        -- session that may still be exchanged; presenting another one of the
        -- same session is reuse, and revokes the session.
        CREATE TABLE sessions (
            session_id     TEXT PRIMARY KEY,
            user_id        TEXT NOT NULL REFERENCES users (user_id),
            tenant_id      TEXT NOT NULL,
            refresh_jti    TEXT NOT NULL,
            kind           TEXT NOT NULL DEFAULT 'password',
            created_at     REAL NOT NULL,
            last_used_at   REAL NOT NULL,
            expires_at     REAL NOT NULL,
            revoked_at     REAL,
            revoked_reason TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX sessions_user ON sessions (user_id);

        -- What verifiers must refuse: a session, every token of a user issued
        -- before revoked_at, or an API key. Rows go once expire_at passes.
        CREATE TABLE revocations (
            revocation_id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind          TEXT NOT NULL CHECK (kind IN ('session', 'user', 'api_key')),
            subject       TEXT NOT NULL,
            revoked_at    REAL NOT NULL,
            expire_at     REAL NOT NULL
        );
        CREATE INDEX revocations_expire ON revocations (expire_at);

        CREATE TABLE api_keys (
            api_key_id   TEXT PRIMARY KEY,
            user_id      TEXT NOT NULL REFERENCES users (user_id),
            tenant_id    TEXT NOT NULL,
            name         TEXT NOT NULL,
            prefix       TEXT NOT NULL,
            last_four    TEXT NOT NULL,
            secret_hash  TEXT NOT NULL,
            permissions  TEXT NOT NULL DEFAULT '[]',
            created_at   REAL NOT NULL,
            expires_at   REAL,
            last_used_at REAL,
            revoked_at   REAL
        );
        CREATE INDEX api_keys_user ON api_keys (user_id);

        -- Failed sign-ins per account identifier and per client address.
        CREATE TABLE login_failures (
            key          TEXT PRIMARY KEY,
            failures     INTEGER NOT NULL,
            first_at     REAL NOT NULL,
            last_at      REAL NOT NULL,
            locked_until REAL NOT NULL DEFAULT 0
        );
        """,
    ),
    Migration(
        2,
        "feed cursors",
        """
        -- The id of the last hub event a feed of this unit applied, where it resumes (subscription tiers).
        CREATE TABLE feed_cursors (
            feed          TEXT PRIMARY KEY,
            last_event_id TEXT NOT NULL,
            updated_at    REAL NOT NULL
        );
        """,
    ),
)
