"""Storage behind a small async interface.

A unit talks to :class:`Database`; the SQLite backend (embedded default) and the
PostgreSQL backend implement it. SQL is written in the common subset with `?`
placeholders; the PostgreSQL backend rewrites them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

Row = dict[str, Any]


class IntegrityError(Exception):
    """A statement broke a constraint (a unique key taken, a foreign key missing); both backends raise it."""

Params = Sequence[Any]


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step. Versions are applied in order, each exactly once."""

    version: int
    name: str
    sql: str


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement of a batch.

    A `guard` states a condition the rest of the batch depends on (a conditional
    UPDATE ... RETURNING, an INSERT ... ON CONFLICT DO NOTHING RETURNING): when it
    returns no row and changes none, the batch ends there.
    """

    sql: str
    params: Params = ()
    guard: bool = False


class Transaction(Protocol):
    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run a statement; return the number of rows it changed."""

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None: ...

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]: ...

    async def batch(self, statements: Sequence[Statement]) -> list[list[Row]]:
        """Run the statements in order in one round trip to the database, which is what makes a
        write of several statements cheap; return each one's rows (RETURNING or SELECT; [] for
        a statement that returns none). A guard that returns and changes no row ends the batch:
        the list then ends with its empty result and the statements after it do not run."""


class Database(Transaction, Protocol):
    """A connection pool to one database; statements outside `transaction()` autocommit.

    Outside a transaction a `batch` is a transaction of its own: it commits whole, or, when a
    statement fails or a guard ends it, not at all; once started it runs to that end even when its
    caller is cancelled meanwhile.
    """

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """All statements inside commit together or not at all."""

    async def migrate(self, migrations: Sequence[Migration]) -> list[int]:
        """Apply the migrations not applied yet; return their versions."""

    async def close(self) -> None: ...


async def to_the_end(work: Awaitable[T]) -> T:
    """Await `work` (a commit, a rollback, a batch); a caller cancelled meanwhile waits for it to end, then
    sees the cancellation, so the database is never left with it half done."""
    future = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await asyncio.wait({future})
        raise
