"""Storage behind a small async interface.

A unit talks to :class:`Database`; the SQLite backend (embedded default) and the
PostgreSQL backend implement it. SQL is written in the common subset with `?`
placeholders; the PostgreSQL backend rewrites them.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

Row = dict[str, Any]
Params = Sequence[Any]


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step. Versions are applied in order, each exactly once."""

    version: int
    name: str
    sql: str


class Transaction(Protocol):
    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run a statement; return the number of rows it changed."""

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None: ...

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]: ...


class Database(Transaction, Protocol):
    """A connection pool to one database; statements outside `transaction()` autocommit."""

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """All statements inside commit together or not at all."""

    async def migrate(self, migrations: Sequence[Migration]) -> list[int]:
        """Apply the migrations not applied yet; return their versions."""

    async def close(self) -> None: ...
