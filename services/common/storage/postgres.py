"""PostgreSQL backend: a pool of asyncpg connections, one schema per unit.

`DATABASE_URL=postgresql://...` puts every unit on one PostgreSQL database,
each in its own schema (`<DATABASE_SCHEMA_PREFIX><unit>`, `agentmesh_auth` by
default), so their tables never meet and a unit's replicas share its schema.
Statements arrive in the units' one SQL and are rewritten once per text
(services.common.storage.dialect).

What the SQLite backend promises holds here too:
- write transactions of one schema run one at a time: `transaction()` and a
  batch take the schema's transaction-scoped advisory lock first, as SQLite's
  single writer does, so the units' read-then-write steps need no row locks
  and behave the same on both backends (across replicas as well);
- a batch, once started, runs to its end (commit or rollback) even when its
  caller is cancelled meanwhile;
- values are taken as SQLite takes them: a parameter whose Python type differs
  from the column's (an int for a REAL, a bool for an INTEGER, a number for
  TEXT) is converted, from the parameter types PostgreSQL reports for the
  statement (learned once per statement);
- rows come back as dicts of plain Python values (NUMERIC, as SUM and AVG
  give, as int when integral, else float);
- unique and foreign-key violations raise storage.IntegrityError.
"""

from __future__ import annotations

import asyncio
import decimal
import hashlib
import re
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TypeVar

import asyncpg

from services.common.storage import IntegrityError, Migration, Params, Row, Statement, to_the_end
from services.common.storage.dialect import to_postgres

T = TypeVar("T")
Coercer = Callable[[Any], Any] | None

_SCHEMA = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_ROWS = re.compile(r"^\s*(?:SELECT|WITH|VALUES)\b", re.IGNORECASE)
_RETURNING = re.compile(r"\bRETURNING\b", re.IGNORECASE)
_INTEGERS = {"int2", "int4", "int8"}
_FLOATS = {"float4", "float8", "numeric"}
_TEXTS = {"text", "varchar", "bpchar", "name"}


def _to_int(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value)
    return value


def _to_float(value: Any) -> Any:
    if isinstance(value, int):  # bool included
        return float(value)
    return value


def _to_text(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def _coercer(type_name: str) -> Coercer:
    if type_name in _INTEGERS:
        return _to_int
    if type_name in _FLOATS:
        return _to_float
    if type_name in _TEXTS:
        return _to_text
    if type_name == "bool":
        return lambda v: bool(v) if isinstance(v, int) else v
    return None


def _plain(value: Any) -> Any:
    if type(value) is decimal.Decimal:
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _row(record: asyncpg.Record) -> Row:
    return {key: _plain(value) for key, value in record.items()}


def _changed(status: str) -> int:
    """The row count of a command status ('UPDATE 3', 'INSERT 0 1', 'DELETE 0'); 0 when it has none."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


def _lock_key(schema: str) -> int:
    return int.from_bytes(hashlib.blake2b(schema.encode(), digest_size=8).digest(), "big", signed=True)


class _Session:
    """Statements on one connection (inside a transaction, or autocommit on a pooled one)."""

    def __init__(self, db: PostgresDatabase, conn: asyncpg.Connection) -> None:
        self._db = db
        self._conn = conn

    async def _args(self, sql: str, params: Params) -> list[Any]:
        coercers = self._db._coercers.get(sql)
        if coercers is None:
            prepared = await self._conn.prepare(sql)
            coercers = [_coercer(t.name) for t in prepared.get_parameters()]
            self._db._coercers[sql] = coercers
        if len(coercers) != len(params):
            raise ValueError(f"the statement takes {len(coercers)} parameters, {len(params)} given: {sql}")
        return [value if coerce is None or value is None else coerce(value)
                for coerce, value in zip(coercers, params, strict=True)]

    async def execute(self, sql: str, params: Params = ()) -> int:
        sql = self._db.translated(sql)
        with _integrity():
            return _changed(await self._conn.execute(sql, *await self._args(sql, params)))

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        sql = self._db.translated(sql)
        with _integrity():
            found = await self._conn.fetchrow(sql, *await self._args(sql, params))
        return _row(found) if found is not None else None

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        sql = self._db.translated(sql)
        with _integrity():
            return [_row(r) for r in await self._conn.fetch(sql, *await self._args(sql, params))]

    async def run_batch(self, statements: Sequence[Statement]) -> tuple[list[list[Row]], bool]:
        """Each statement's rows, and whether a guard ended the batch."""
        results: list[list[Row]] = []
        for statement in statements:
            if _ROWS.match(statement.sql) or _RETURNING.search(statement.sql):
                rows = await self.fetch_all(statement.sql, statement.params)
                changed = len(rows)
            else:
                rows, changed = [], await self.execute(statement.sql, statement.params)
            results.append(rows)
            if statement.guard and not rows and changed <= 0:
                return results, True
        return results, False

    async def batch(self, statements: Sequence[Statement]) -> list[list[Row]]:
        """Inside a transaction: a guard ends the batch, not the transaction (as on SQLite)."""
        return (await self.run_batch(statements))[0]


@contextmanager
def _integrity() -> Iterator[None]:
    """asyncpg's constraint violations as storage.IntegrityError (both backends raise the same)."""
    try:
        yield
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise IntegrityError(str(exc)) from exc


class PostgresDatabase:
    """One unit's schema on a PostgreSQL server, behind the async Database interface."""

    def __init__(self, pool: asyncpg.Pool, schema: str) -> None:
        self.schema = schema
        self._pool = pool
        self._lock_key = _lock_key(schema)
        # This process's writers queue here, holding no connection, so readers always find one free;
        # the advisory lock then orders them with other processes' (replicas of the unit).
        self._writer = asyncio.Lock()
        # BEGIN and the lock in one round trip (the simple protocol takes both statements at once).
        self._begin = f"BEGIN; SELECT pg_advisory_xact_lock({self._lock_key})"
        self._coercers: dict[str, list[Coercer]] = {}
        self._never_null: frozenset[str] = frozenset()

    def translated(self, sql: str) -> str:
        return to_postgres(sql, self._never_null)

    async def _learn_columns(self) -> None:
        """The column names no table of the schema lets be NULL (see dialect: how NULLs sort)."""
        rows = await self._pool.fetch(
            "SELECT column_name, bool_and(is_nullable = 'NO') AS never FROM information_schema.columns"
            " WHERE table_schema = $1 GROUP BY column_name", self.schema)
        self._never_null = frozenset(r["column_name"] for r in rows if r["never"])

    @classmethod
    async def open(cls, url: str, schema: str, *, max_size: int = 10) -> PostgresDatabase:
        if not _SCHEMA.fullmatch(schema):
            raise ValueError(f"schema name {schema!r}: lower-case letters, digits and _ only, at most 63")
        first = await asyncpg.connect(url)
        try:
            await first.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        except asyncpg.UniqueViolationError:
            pass  # another replica created it at the same moment
        finally:
            await first.close()
        pool = await asyncpg.create_pool(url, min_size=1, max_size=max_size, reset=_reset,
                                         server_settings={"search_path": schema})
        return cls(pool, schema)

    # -- autocommit statements ----------------------------------------------------------------

    async def execute(self, sql: str, params: Params = ()) -> int:
        async with self._pool.acquire() as conn:
            return await _Session(self, conn).execute(sql, params)

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        async with self._pool.acquire() as conn:
            return await _Session(self, conn).fetch_one(sql, params)

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        async with self._pool.acquire() as conn:
            return await _Session(self, conn).fetch_all(sql, params)

    async def batch(self, statements: Sequence[Statement]) -> list[list[Row]]:
        """The statements as one transaction, committed whole or not at all; a cancelled caller
        waits for it to end, so it is never left half done."""
        return await to_the_end(self._transact(statements))

    async def _transact(self, statements: Sequence[Statement]) -> list[list[Row]]:
        async with self._writer, self._pool.acquire() as conn:
            await conn.execute(self._begin)
            try:
                results, stopped = await _Session(self, conn).run_batch(statements)
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            await conn.execute("ROLLBACK" if stopped else "COMMIT")
            return results

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_Session]:
        """One transaction, alone among this schema's write transactions; COMMIT and ROLLBACK run to
        their end even when the caller is cancelled meanwhile."""
        async with self._writer, self._pool.acquire() as conn:
            await to_the_end(conn.execute(self._begin))
            try:
                yield _Session(self, conn)
            except BaseException:
                await to_the_end(conn.execute("ROLLBACK"))
                raise
            await to_the_end(conn.execute("COMMIT"))

    async def migrate(self, migrations: Sequence[Migration]) -> list[int]:
        versions = [m.version for m in migrations]
        if versions != sorted(set(versions)):
            raise ValueError(f"migration versions must increase strictly: {versions}")
        applied: list[int] = []
        async with self._pool.acquire() as conn:
            async with conn.transaction():  # replicas starting together: one creates it, the others wait
                await conn.execute("SELECT pg_advisory_xact_lock($1)", self._lock_key)
                await conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                                   " version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)")
            for migration in migrations:
                async with conn.transaction():  # each step whole or not at all, one migrating replica at a time
                    await conn.execute("SELECT pg_advisory_xact_lock($1)", self._lock_key)
                    if await conn.fetchval("SELECT 1 FROM schema_migrations WHERE version = $1", migration.version):
                        continue
                    await conn.execute(to_postgres(migration.sql))
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name, applied_at)"
                        " VALUES ($1, $2, to_char(clock_timestamp() AT TIME ZONE 'UTC',"
                        " 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'))", migration.version, migration.name)
                applied.append(migration.version)
        await self._learn_columns()
        return applied

    async def close(self) -> None:
        await self._pool.close()


async def _reset(conn: asyncpg.Connection) -> None:
    """A connection back in the pool: only an open transaction needs ending. The units set no session state
    (their locks are transaction-scoped; no LISTEN, cursors or SET), so asyncpg's full reset, a round trip on
    every release, is not needed."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")
