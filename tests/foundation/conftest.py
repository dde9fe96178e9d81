"""A database of either backend: `db` runs a test on a SQLite file and on the PostgreSQL test server."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.common.storage import Database
from services.common.storage.postgres import PostgresDatabase
from services.common.storage.sqlite import SqliteDatabase

_schemas = itertools.count()


@pytest.fixture(params=["sqlite", "postgresql"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    database: Database
    if request.param == "sqlite":
        database = await SqliteDatabase.open(tmp_path / "unit.db")
    else:
        database = await PostgresDatabase.open(str(request.getfixturevalue("postgres_url")),
                                               f"storage_{next(_schemas)}")
    yield database
    await database.close()
