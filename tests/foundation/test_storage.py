"""SQLite storage: a real file, WAL, foreign keys, migrations, atomic transactions."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from services.common.storage import Migration
from services.common.storage.sqlite import SqliteDatabase

MIGRATIONS = [
    Migration(1, "parents", "CREATE TABLE parent (id TEXT PRIMARY KEY)"),
    Migration(
        2,
        "children",
        "CREATE TABLE child (id TEXT PRIMARY KEY, parent_id TEXT NOT NULL REFERENCES parent(id))",
    ),
]


@pytest.fixture
async def db(tmp_path: Path):  # type: ignore[no-untyped-def]
    database = await SqliteDatabase.open(tmp_path / "unit.db")
    yield database
    await database.close()


async def test_file_uses_wal_and_foreign_keys(db: SqliteDatabase, tmp_path: Path) -> None:
    assert (tmp_path / "unit.db").exists()
    mode = await db.fetch_one("PRAGMA journal_mode")
    assert mode is not None and mode["journal_mode"] == "wal"
    fk = await db.fetch_one("PRAGMA foreign_keys")
    assert fk is not None and fk["foreign_keys"] == 1
    timeout = await db.fetch_one("PRAGMA busy_timeout")
    assert timeout is not None and timeout["timeout"] >= 1000


async def test_migrations_apply_once_in_order(db: SqliteDatabase) -> None:
    assert await db.migrate(MIGRATIONS) == [1, 2]
    assert await db.migrate(MIGRATIONS) == []
    more = [*MIGRATIONS, Migration(3, "names", "ALTER TABLE parent ADD COLUMN name TEXT")]
    assert await db.migrate(more) == [3]
    rows = await db.fetch_all("SELECT version, name FROM schema_migrations ORDER BY version")
    assert [(r["version"], r["name"]) for r in rows] == [(1, "parents"), (2, "children"), (3, "names")]


async def test_out_of_order_migrations_are_refused(db: SqliteDatabase) -> None:
    with pytest.raises(ValueError, match="increase"):
        await db.migrate([MIGRATIONS[1], MIGRATIONS[0]])


async def test_a_failing_migration_leaves_no_trace(db: SqliteDatabase) -> None:
    broken = [Migration(1, "half", "CREATE TABLE a (id TEXT); CREATE TABLE a (id TEXT)")]
    with pytest.raises(Exception, match="already exists"):
        await db.migrate(broken)
    tables = await db.fetch_all("SELECT name FROM sqlite_master WHERE type='table' AND name='a'")
    assert tables == []
    assert await db.fetch_all("SELECT * FROM schema_migrations") == []


async def test_foreign_keys_are_enforced(db: SqliteDatabase) -> None:
    await db.migrate(MIGRATIONS)
    with pytest.raises(Exception, match="FOREIGN KEY"):
        await db.execute("INSERT INTO child (id, parent_id) VALUES ('c1', 'missing')")


async def test_transaction_is_all_or_nothing(db: SqliteDatabase) -> None:
    await db.migrate(MIGRATIONS)
    with pytest.raises(RuntimeError):
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO parent (id) VALUES ('p1')")
            raise RuntimeError("half-way")
    assert await db.fetch_all("SELECT * FROM parent") == []
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO parent (id) VALUES ('p1')")
        await tx.execute("INSERT INTO child (id, parent_id) VALUES ('c1', 'p1')")
    assert await db.fetch_one("SELECT parent_id FROM child WHERE id = 'c1'") == {"parent_id": "p1"}


async def test_data_survives_reopen(tmp_path: Path) -> None:
    first = await SqliteDatabase.open(tmp_path / "keep.db")
    await first.migrate(MIGRATIONS)
    await first.execute("INSERT INTO parent (id) VALUES ('kept')")
    await first.close()
    second = await SqliteDatabase.open(tmp_path / "keep.db")
    try:
        assert await second.migrate(MIGRATIONS) == []
        assert await second.fetch_all("SELECT id FROM parent") == [{"id": "kept"}]
    finally:
        await second.close()


async def test_a_cancelled_transaction_leaves_the_connection_usable(db: SqliteDatabase) -> None:
    """A client that goes away mid-write cancels its RPC: at whatever point that lands (BEGIN in flight,
    a statement, COMMIT), nothing is half-written and the next transaction starts cleanly."""
    await db.execute("CREATE TABLE pairs (n INTEGER)")

    async def write_pair() -> None:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO pairs VALUES (1)")
            await tx.execute("INSERT INTO pairs VALUES (2)")

    for step in range(40):
        task = asyncio.create_task(write_pair())
        await asyncio.sleep(step * 0.00005)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        async with db.transaction() as tx:  # never "cannot start a transaction within a transaction"
            await tx.execute("INSERT INTO pairs VALUES (0)")
    counts = {r["n"]: r["c"] for r in await db.fetch_all("SELECT n, COUNT(*) AS c FROM pairs GROUP BY n")}
    assert counts[0] == 40
    assert counts.get(1, 0) == counts.get(2, 0)  # every pair whole or absent
