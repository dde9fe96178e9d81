"""Storage: what both backends promise (each test runs on SQLite and on PostgreSQL), then SQLite's own
(a real file, WAL, reads on the loop, background checkpoints). PostgreSQL's own: test_postgres.py."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.common.storage import Database, IntegrityError, Migration, Statement
from services.common.storage.checkpoints import BACKSTOP_PAGES
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
async def sqlite_db(tmp_path: Path) -> AsyncIterator[SqliteDatabase]:
    database = await SqliteDatabase.open(tmp_path / "unit.db")
    yield database
    await database.close()


async def test_sqlite_file_uses_wal_and_foreign_keys(sqlite_db: SqliteDatabase, tmp_path: Path) -> None:
    db = sqlite_db
    assert (tmp_path / "unit.db").exists()
    mode = await db.fetch_one("PRAGMA journal_mode")
    assert mode is not None and mode["journal_mode"] == "wal"
    fk = await db.fetch_one("PRAGMA foreign_keys")
    assert fk is not None and fk["foreign_keys"] == 1
    timeout = await db.fetch_one("PRAGMA busy_timeout")
    assert timeout is not None and timeout["timeout"] >= 1000


async def test_migrations_apply_once_in_order(db: Database) -> None:
    assert await db.migrate(MIGRATIONS) == [1, 2]
    assert await db.migrate(MIGRATIONS) == []
    more = [*MIGRATIONS, Migration(3, "names", "ALTER TABLE parent ADD COLUMN name TEXT")]
    assert await db.migrate(more) == [3]
    rows = await db.fetch_all("SELECT version, name FROM schema_migrations ORDER BY version")
    assert [(r["version"], r["name"]) for r in rows] == [(1, "parents"), (2, "children"), (3, "names")]


async def test_out_of_order_migrations_are_refused(db: Database) -> None:
    with pytest.raises(ValueError, match="increase"):
        await db.migrate([MIGRATIONS[1], MIGRATIONS[0]])


async def test_a_failing_migration_leaves_no_trace(db: Database) -> None:
    broken = [Migration(1, "half", "CREATE TABLE a (id TEXT); CREATE TABLE a (id TEXT)")]
    with pytest.raises(Exception, match="already exists"):
        await db.migrate(broken)
    assert await db.fetch_all("SELECT * FROM schema_migrations") == []
    assert await db.migrate([Migration(1, "whole", "CREATE TABLE a (id TEXT)")]) == [1]  # no table a was left


async def test_constraints_are_enforced_as_integrity_errors(db: Database) -> None:
    await db.migrate(MIGRATIONS)
    with pytest.raises(IntegrityError):
        await db.execute("INSERT INTO child (id, parent_id) VALUES ('c1', 'missing')")
    await db.execute("INSERT INTO parent (id) VALUES ('p1')")
    with pytest.raises(IntegrityError):
        await db.execute("INSERT INTO parent (id) VALUES (?)", ("p1",))
    assert await db.execute("INSERT OR IGNORE INTO parent (id) VALUES (?)", ("p1",)) == 0


async def test_transaction_is_all_or_nothing(db: Database) -> None:
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


async def test_sqlite_data_survives_reopen(tmp_path: Path) -> None:
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


async def test_a_cancelled_transaction_leaves_the_connection_usable(db: Database) -> None:
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


async def test_a_batch_runs_in_order_and_returns_each_statements_rows(db: Database) -> None:
    await db.migrate(MIGRATIONS)
    results = await db.batch([
        Statement("INSERT INTO parent (id) VALUES ('p1'), ('p2') RETURNING id"),
        Statement("INSERT INTO child (id, parent_id) VALUES ('c1', 'p2')"),
        Statement("SELECT parent_id FROM child WHERE id = ?", ("c1",)),
    ])
    assert sorted(r["id"] for r in results[0]) == ["p1", "p2"]
    assert results[1:] == [[], [{"parent_id": "p2"}]]
    assert await db.fetch_one("SELECT COUNT(*) AS n FROM parent") == {"n": 2}


async def test_a_batch_is_all_or_nothing(db: Database) -> None:
    await db.migrate(MIGRATIONS)
    with pytest.raises(IntegrityError):
        await db.batch([Statement("INSERT INTO parent (id) VALUES ('p1')"),
                        Statement("INSERT INTO child (id, parent_id) VALUES ('c1', 'missing')")])
    assert await db.fetch_all("SELECT * FROM parent") == []
    await db.batch([Statement("INSERT INTO parent (id) VALUES ('p1')")])  # the connection is usable again
    assert await db.fetch_all("SELECT id FROM parent") == [{"id": "p1"}]


async def test_a_guard_that_finds_nothing_ends_the_batch_and_writes_nothing(db: Database) -> None:
    await db.migrate(MIGRATIONS)
    await db.execute("INSERT INTO parent (id) VALUES ('kept')")
    results = await db.batch([
        Statement("INSERT INTO parent (id) VALUES ('p1')"),
        Statement("UPDATE parent SET id = 'moved' WHERE id = ? RETURNING id", ("missing",), guard=True),
        Statement("INSERT INTO parent (id) VALUES ('p2')"),
    ])
    assert results == [[], []]  # stopped at the guard, which found no row
    assert await db.fetch_all("SELECT id FROM parent") == [{"id": "kept"}]
    results = await db.batch([
        Statement("UPDATE parent SET id = 'moved' WHERE id = ?", ("kept",), guard=True),  # changes a row: goes on
        Statement("INSERT INTO parent (id) VALUES ('p2') RETURNING id"),
    ])
    assert results == [[], [{"id": "p2"}]]
    assert sorted(r["id"] for r in await db.fetch_all("SELECT id FROM parent")) == ["moved", "p2"]


async def test_in_a_transaction_a_guard_ends_only_the_batch(db: Database) -> None:
    await db.migrate(MIGRATIONS)
    async with db.transaction() as tx:
        results = await tx.batch([
            Statement("INSERT INTO parent (id) VALUES ('p1')"),
            Statement("SELECT id FROM parent WHERE id = 'missing'", guard=True),
            Statement("INSERT INTO parent (id) VALUES ('p2')"),
        ])
        assert results == [[], []]
        await tx.execute("INSERT INTO parent (id) VALUES ('p3')")
    assert sorted(r["id"] for r in await db.fetch_all("SELECT id FROM parent")) == ["p1", "p3"]


async def test_a_batch_never_joins_an_open_transaction(db: Database) -> None:
    """A batch issued while a transaction is open runs after it, so the transaction's rollback spares it."""
    await db.migrate(MIGRATIONS)
    inside = asyncio.Event()
    batch_done: list[list[list[dict[str, object]]]] = []

    async def doomed() -> None:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO parent (id) VALUES ('doomed')")
            inside.set()
            await asyncio.sleep(0.05)
            assert not batch_done  # still waiting for this transaction to end
            raise RuntimeError("roll back")

    transaction = asyncio.create_task(doomed())
    await inside.wait()
    batch_done.append(await db.batch([Statement("INSERT INTO parent (id) VALUES ('independent') RETURNING id")]))
    with pytest.raises(RuntimeError):
        await transaction
    assert batch_done == [[[{"id": "independent"}]]]
    assert await db.fetch_all("SELECT id FROM parent") == [{"id": "independent"}]


async def test_sqlite_reads_run_at_once_when_idle_and_never_inside_an_open_transaction(
        sqlite_db: SqliteDatabase) -> None:
    """An idle connection answers a read without a trip to the thread; while a transaction is open, a read
    from outside waits for its end and never sees what it wrote before rolling back."""
    db = sqlite_db
    await db.migrate(MIGRATIONS)
    await db.batch([Statement("INSERT INTO parent (id) VALUES ('kept')")])
    handed = db._handed
    assert await db.fetch_one("SELECT id FROM parent") == {"id": "kept"}
    assert await db.fetch_all("SELECT id FROM parent") == [{"id": "kept"}]
    assert db._handed == handed  # no trip
    inside = asyncio.Event()

    async def doomed() -> None:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO parent (id) VALUES ('doomed')")
            inside.set()
            await asyncio.sleep(0.05)
            raise RuntimeError("roll back")

    transaction = asyncio.create_task(doomed())
    await inside.wait()
    seen = await db.fetch_all("SELECT id FROM parent ORDER BY id")
    with pytest.raises(RuntimeError):
        await transaction
    assert seen == [{"id": "kept"}]


async def test_sqlite_batches_and_reads_keep_the_order_they_were_issued_in(sqlite_db: SqliteDatabase) -> None:
    """A batch that finds work under way on the database thread queues behind it, and later calls behind
    the batch: each read sees exactly the writes issued before it."""
    db = sqlite_db
    await db.execute("CREATE TABLE counter (n INTEGER)")
    calls = []
    for i in range(30):
        calls.append(db.fetch_one("SELECT COUNT(*) AS n FROM counter"))
        calls.append(db.batch([Statement("INSERT INTO counter VALUES (?)", (i,))]))
    results = await asyncio.gather(*calls)
    assert [r["n"] for r in results[0::2]] == list(range(30))  # type: ignore[index]


async def test_a_cancelled_batch_is_written_whole_or_not_at_all(db: Database) -> None:
    await db.execute("CREATE TABLE pairs (n INTEGER)")
    for step in range(30):
        reading = asyncio.create_task(db.fetch_all("SELECT * FROM pairs"))  # so the batch queues on the thread
        task = asyncio.create_task(db.batch([Statement("INSERT INTO pairs VALUES (1)"),
                                             Statement("INSERT INTO pairs VALUES (2)")]))
        await asyncio.sleep(step * 0.00005)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await reading
    counts = {r["n"]: r["c"] for r in await db.fetch_all("SELECT n, COUNT(*) AS c FROM pairs GROUP BY n")}
    assert counts.get(1, 0) == counts.get(2, 0)
    async with db.transaction() as tx:  # no transaction left open
        await tx.execute("INSERT INTO pairs VALUES (0)")


async def test_write_transactions_run_one_at_a_time(db: Database) -> None:
    """Read-then-write steps need no row locks: concurrent increments lose no update."""
    await db.execute("CREATE TABLE counter (n INTEGER)")
    await db.execute("INSERT INTO counter VALUES (0)")

    async def increment() -> None:
        async with db.transaction() as tx:
            row = await tx.fetch_one("SELECT n FROM counter")
            assert row is not None
            await asyncio.sleep(0.001)
            await tx.execute("UPDATE counter SET n = ?", (row["n"] + 1,))

    await asyncio.gather(*(increment() for _ in range(20)))
    assert await db.fetch_one("SELECT n FROM counter") == {"n": 20}


async def test_a_transaction_without_statements_leaves_nothing_open(db: Database) -> None:
    async with db.transaction():
        pass
    await db.batch([Statement("CREATE TABLE t (n INTEGER)")])
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO t VALUES (1)")
    assert await db.fetch_all("SELECT n FROM t") == [{"n": 1}]


async def test_sqlite_log_is_copied_back_in_the_background(tmp_path: Path) -> None:
    """Writers leave checkpoints (and their syncs) to a connection of their own: the writing connection only
    checkpoints past a high backstop, yet the database file keeps up with the log while it is in use."""
    path = tmp_path / "busy.db"
    db = await SqliteDatabase.open(path)
    try:
        assert await db.fetch_one("PRAGMA wal_autocheckpoint") == {"wal_autocheckpoint": BACKSTOP_PAGES}
        await db.execute("CREATE TABLE t (n INTEGER, pad TEXT)")
        empty = path.stat().st_size
        for i in range(300):  # far below the backstop: no COMMIT checkpoints by itself
            await db.batch([Statement("INSERT INTO t VALUES (?, ?)", (i, "x" * 500))])
        deadline = asyncio.get_running_loop().time() + 5
        while path.stat().st_size < empty + 300 * 500:
            assert asyncio.get_running_loop().time() < deadline, "the log was never copied back"
            await asyncio.sleep(0.1)
            await db.fetch_one("SELECT COUNT(*) AS n FROM t")  # the database in use: a checkpoint falls due
        assert await db.fetch_one("SELECT COUNT(*) AS n FROM t") == {"n": 300}
    finally:
        await db.close()
    reopened = await SqliteDatabase.open(path)
    try:
        assert await reopened.fetch_one("SELECT COUNT(*) AS n FROM t") == {"n": 300}
    finally:
        await reopened.close()
