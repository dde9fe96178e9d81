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
)
