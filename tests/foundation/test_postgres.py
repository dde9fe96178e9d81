"""The PostgreSQL backend's own behaviour against a real server (what both backends promise: test_storage.py)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import pytest

from services.common.storage import Migration
from services.common.storage.postgres import PostgresDatabase
from tests.postgres_server import postgres_url  # noqa: F401  (fixture)

MIGRATIONS = [
    Migration(1, "parents", "CREATE TABLE parent (id TEXT PRIMARY KEY)"),
    Migration(2, "children", "CREATE TABLE child (id TEXT PRIMARY KEY, parent_id TEXT NOT NULL REFERENCES parent(id))"),
]
_schemas = itertools.count()


@pytest.fixture
async def db(postgres_url: str) -> AsyncIterator[PostgresDatabase]:  # noqa: F811
    database = await PostgresDatabase.open(postgres_url, f"storage_test_{next(_schemas)}")
    yield database
    await database.close()


async def test_each_unit_keeps_its_tables_in_its_schema(db: PostgresDatabase, postgres_url: str) -> None:  # noqa: F811
    assert await db.migrate(MIGRATIONS) == [1, 2]
    other = await PostgresDatabase.open(postgres_url, f"storage_test_{next(_schemas)}")
    try:  # another unit's schema: its own tables and migrations
        assert await other.migrate(MIGRATIONS[:1]) == [1]
        await other.execute("INSERT INTO parent (id) VALUES ('elsewhere')")
        assert await db.fetch_all("SELECT id FROM parent") == []
    finally:
        await other.close()


async def test_replicas_migrating_at_once_apply_each_step_once(postgres_url: str) -> None:  # noqa: F811
    schema = f"storage_test_{next(_schemas)}"
    replicas = [await PostgresDatabase.open(postgres_url, schema) for _ in range(3)]
    try:
        applied = await asyncio.gather(*(r.migrate(MIGRATIONS) for r in replicas))
        assert sorted(v for versions in applied for v in versions) == [1, 2]
    finally:
        for replica in replicas:
            await replica.close()


async def test_values_are_taken_and_given_back_as_sqlite_does(db: PostgresDatabase) -> None:
    await db.execute("CREATE TABLE v (i INTEGER, r REAL, t TEXT, b BLOB, "
                     "seq INTEGER PRIMARY KEY AUTOINCREMENT)")
    await db.execute("INSERT INTO v (i, r, t, b) VALUES (?, ?, ?, ?)", (True, 3, 42, b"\x00\x01"))
    await db.execute("INSERT INTO v (i, r, t, b) VALUES (?, ?, ?, ?)", (2.0, 0.5, "x", None))
    rows = await db.fetch_all("SELECT i, r, t, b, seq FROM v ORDER BY seq")
    assert rows == [{"i": 1, "r": 3.0, "t": "42", "b": b"\x00\x01", "seq": 1},
                    {"i": 2, "r": 0.5, "t": "x", "b": None, "seq": 2}]
    sums = await db.fetch_one("SELECT SUM(i) AS total, AVG(i) AS mean, CAST(SUM(r) / 2 AS INTEGER) AS half FROM v")
    assert sums == {"total": 3, "mean": 1.5, "half": 1}  # 3.5 / 2 truncated, as SQLite does
    assert type(sums["total"]) is int and type(sums["mean"]) is float
    scalars = await db.fetch_all("SELECT MAX(i, 5) AS high, MIN(r, 1) AS low FROM v ORDER BY seq")
    assert scalars == [{"high": 5, "low": 1.0}, {"high": 5, "low": 0.5}]
    assert await db.fetch_one("SELECT COUNT(*) AS n FROM v WHERE t LIKE ?", ("X",)) == {"n": 1}  # as SQLite: any case
