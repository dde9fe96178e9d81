"""SQLite backend: WAL, foreign keys, busy timeout, one writer thread.

sqlite3 is blocking, so every statement runs on a dedicated thread that owns
the connection; an asyncio lock keeps a transaction's statements together.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from services.common.storage import Migration, Params, Row

T = TypeVar("T")

_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=5000",
    "PRAGMA synchronous=NORMAL",
)


class SqliteDatabase:
    """A real SQLite file (or ':memory:') behind the async Database interface."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._conn: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path | str) -> SqliteDatabase:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = cls(path)
        await db._call(db._connect)
        return db

    def _connect(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        for pragma in _PRAGMAS:
            conn.execute(pragma)
        self._conn = conn

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    def _run(self, sql: str, params: Params) -> int:
        assert self._conn is not None, "database is closed"
        return self._conn.execute(sql, tuple(params)).rowcount

    def _one(self, sql: str, params: Params) -> Row | None:
        assert self._conn is not None, "database is closed"
        row = self._conn.execute(sql, tuple(params)).fetchone()
        return dict(row) if row is not None else None

    def _all(self, sql: str, params: Params) -> list[Row]:
        assert self._conn is not None, "database is closed"
        return [dict(r) for r in self._conn.execute(sql, tuple(params)).fetchall()]

    def _script(self, sql: str) -> None:
        assert self._conn is not None, "database is closed"
        self._conn.executescript(sql)

    async def execute(self, sql: str, params: Params = ()) -> int:
        async with self._lock:
            return await self._call(self._run, sql, params)

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        async with self._lock:
            return await self._call(self._one, sql, params)

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        async with self._lock:
            return await self._call(self._all, sql, params)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_Tx]:
        """One transaction; a caller cancelled at any point (a client that went away) leaves the
        connection out of any transaction: BEGIN, COMMIT and ROLLBACK always run to their end."""
        async with self._lock:
            try:
                await self._settle(self._run, "BEGIN IMMEDIATE", ())
                yield _Tx(self)
                await self._settle(self._run, "COMMIT", ())
            except BaseException:
                await self._settle(self._rollback)
                raise

    async def _settle(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn` on the database thread to its end, even when the caller is cancelled meanwhile
        (the cancellation is raised once it has finished)."""
        future = asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            await asyncio.wait({future})
            raise

    def _rollback(self) -> None:
        if self._conn is not None and self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    async def migrate(self, migrations: Sequence[Migration]) -> list[int]:
        versions = [m.version for m in migrations]
        if versions != sorted(set(versions)):
            raise ValueError(f"migration versions must increase strictly: {versions}")
        await self.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        done = {r["version"] for r in await self.fetch_all("SELECT version FROM schema_migrations")}
        applied = []
        for migration in migrations:
            if migration.version in done:
                continue
            async with self._lock:
                await self._call(self._apply, migration)
            applied.append(migration.version)
        return applied

    def _apply(self, migration: Migration) -> None:
        # executescript commits first, so the whole step is wrapped in one explicit transaction.
        try:
            self._apply_script(migration)
        except sqlite3.Error:
            assert self._conn is not None
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise

    def _apply_script(self, migration: Migration) -> None:
        self._script(
            "BEGIN IMMEDIATE;\n"
            + migration.sql.rstrip().rstrip(";")
            + ";\nINSERT INTO schema_migrations (version, name, applied_at) VALUES ("
            + f"{int(migration.version)}, '{migration.name.replace(chr(39), '')}', "
            + "strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));\nCOMMIT;"
        )

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await self._call(conn.close)
        self._executor.shutdown(wait=True)


class _Tx:
    """Statements inside one transaction; the database lock is already held."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def execute(self, sql: str, params: Params = ()) -> int:
        return await self._db._call(self._db._run, sql, params)

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        return await self._db._call(self._db._one, sql, params)

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        return await self._db._call(self._db._all, sql, params)
