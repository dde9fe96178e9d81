"""SQLite backend: WAL, foreign keys, busy timeout, one connection and its thread.

sqlite3 is blocking, so statements run on a dedicated thread that owns the
connection and serves calls in the order they were handed to it. An asyncio
lock keeps a transaction's statements together: it is held from the
transaction's start to its end; a call from outside waits only for an open
transaction, then hands its work over and lets go of the lock at once, so
calls queue on the thread, not behind each other's trips back to the loop.

A trip to the thread costs more than a short statement: the loop hands over,
the thread wakes, takes the interpreter lock at every step of the statement
(and waits for it while the loop is busy), and the loop wakes again. So trips
are few: a transaction's BEGIN travels with its first statement, a batch is
one transaction in one trip, and a batch or a read that finds the connection
idle (no transaction open, nothing handed over and unfinished) does not travel
at all: it runs at once on the loop's thread. Batches are short writes by design
(a few indexed rows) and reads are indexed lookups or pages, cheaper to run than
to hand over (an agent lookup of two reads: 1.1 ms of CPU through the thread,
0.7 ms inline); the price is that a long read, such as a count over a large
table, holds the loop for its duration. What could make a
COMMIT slow, the WAL checkpoint and its sync, runs elsewhere
(services.common.storage.checkpoints).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from services.common.storage import IntegrityError, Migration, Params, Row, Statement, to_the_end
from services.common.storage.checkpoints import BACKSTOP_PAGES, WalCheckpointer

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
        # Work handed to the thread, and work it has finished (or that was cancelled before it started):
        # equal counts mean the connection is not in use there.
        self._handed = 0
        self._ended = 0
        self._ended_lock = threading.Lock()
        self._checkpoints = WalCheckpointer(self.path) if self.path != ":memory:" else None

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
        if self._checkpoints is not None:
            conn.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
        self._conn = conn

    def _nudge(self) -> None:
        if self._checkpoints is not None and self._conn is not None:
            self._checkpoints.nudge()

    # -- handing work to the thread ------------------------------------------------------------

    def _submit(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        self._nudge()
        self._handed += 1
        handed: Future[T] = self._executor.submit(fn, *args)
        handed.add_done_callback(self._count_ended)
        return asyncio.wrap_future(handed)

    def _count_ended(self, _: object) -> None:
        with self._ended_lock:  # the thread, or the loop when a cancel lands first
            self._ended += 1

    def _idle(self) -> bool:
        """Nothing open, queued or running on the connection: the loop's thread may use it now."""
        return self._ended == self._handed and not self._lock.locked() and self._conn is not None

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._submit(fn, *args)

    async def _handover(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """`fn` queued on the thread outside any transaction: after an open one, if any."""
        if not self._lock.locked():
            return self._submit(fn, *args)
        async with self._lock:
            return self._submit(fn, *args)

    async def _settle(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn` on the thread to its end, even when the caller is cancelled meanwhile
        (the cancellation is raised once it has finished)."""
        return await to_the_end(self._submit(fn, *args))

    # -- on the connection (the thread, or the loop's thread when idle) ------------------------

    def _cursor(self, sql: str, params: Params) -> sqlite3.Cursor:
        assert self._conn is not None, "database is closed"
        try:
            return self._conn.execute(sql, tuple(params))
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(str(exc)) from exc

    def _run(self, sql: str, params: Params) -> int:
        return self._cursor(sql, params).rowcount

    def _one(self, sql: str, params: Params) -> Row | None:
        row = self._cursor(sql, params).fetchone()
        return dict(row) if row is not None else None

    def _all(self, sql: str, params: Params) -> list[Row]:
        return [dict(r) for r in self._cursor(sql, params).fetchall()]

    def _batch(self, statements: Sequence[Statement]) -> tuple[list[list[Row]], bool]:
        """Each statement's rows, and whether a guard ended the batch."""
        assert self._conn is not None, "database is closed"
        results: list[list[Row]] = []
        for statement in statements:
            cursor = self._cursor(statement.sql, statement.params)
            rows = [dict(r) for r in cursor.fetchall()] if cursor.description else []
            results.append(rows)
            if statement.guard and not rows and cursor.rowcount <= 0:
                return results, True
        return results, False

    def _batch_rows(self, statements: Sequence[Statement]) -> list[list[Row]]:
        return self._batch(statements)[0]

    def _transact(self, statements: Sequence[Statement]) -> list[list[Row]]:
        """The batch as one transaction: committed whole, or rolled back when it fails or a guard ends it."""
        assert self._conn is not None, "database is closed"
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            results, stopped = self._batch(statements)
        except BaseException:
            self._rollback()
            raise
        self._conn.execute("ROLLBACK" if stopped else "COMMIT")
        return results

    def _begin_then(self, fn: Callable[..., T], *args: Any) -> T:
        """BEGIN and a transaction's first statement, in one trip."""
        assert self._conn is not None, "database is closed"
        self._conn.execute("BEGIN IMMEDIATE")
        return fn(*args)

    def _rollback(self) -> None:
        if self._conn is not None and self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def _script(self, sql: str) -> None:
        assert self._conn is not None, "database is closed"
        self._conn.executescript(sql)

    # -- the Database interface ----------------------------------------------------------------

    async def execute(self, sql: str, params: Params = ()) -> int:
        return await (await self._handover(self._run, sql, params))

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        if self._idle():
            self._nudge()
            return self._one(sql, params)
        return await (await self._handover(self._one, sql, params))

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        if self._idle():
            self._nudge()
            return self._all(sql, params)
        return await (await self._handover(self._all, sql, params))

    async def batch(self, statements: Sequence[Statement]) -> list[list[Row]]:
        """The statements as one transaction: at once when the connection is idle, else in one trip. Either
        way, once started it runs to its end even when the caller is cancelled meanwhile, so it is always
        committed or rolled back whole."""
        if self._idle():
            self._nudge()
            return self._transact(statements)
        return await to_the_end(await self._handover(self._transact, statements))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_Tx]:
        """One transaction; a caller cancelled at any point (a client that went away) leaves the
        connection out of any transaction: the connection serves calls in the order they came, and
        COMMIT and ROLLBACK always run to their end. BEGIN waits for the first statement."""
        async with self._lock:
            tx = _Tx(self)
            try:
                yield tx
                if tx.begun:
                    await self._settle(self._run, "COMMIT", ())
            except BaseException:
                await self._settle(self._rollback)
                raise

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
        if self._checkpoints is not None:
            await asyncio.to_thread(self._checkpoints.close)
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await self._call(conn.close)
        self._executor.shutdown(wait=True)


class _Tx:
    """Statements inside one transaction; the database lock is already held."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        self.begun = False

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        if self.begun:
            return await self._db._call(fn, *args)
        self.begun = True
        return await self._db._call(self._db._begin_then, fn, *args)

    async def execute(self, sql: str, params: Params = ()) -> int:
        return await self._call(self._db._run, sql, params)

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        return await self._call(self._db._one, sql, params)

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        return await self._call(self._db._all, sql, params)

    async def batch(self, statements: Sequence[Statement]) -> list[list[Row]]:
        return await self._call(self._db._batch_rows, statements)
