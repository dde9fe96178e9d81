"""A database of either backend: `db` runs a test on a SQLite file and on the PostgreSQL test server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.common.storage import Database
from services.common.storage.postgres import PostgresDatabase
from services.common.storage.sqlite import SqliteDatabase


@pytest.fixture(params=["sqlite", "postgresql"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    database: Database
    if request.param == "sqlite":
        database = await SqliteDatabase.open(tmp_path / "unit.db")
    else:
        # A fresh schema name: a server given by URL outlives the run.
        database = await PostgresDatabase.open(str(request.getfixturevalue("postgres_url")),
                                               f"storage_{uuid.uuid4().hex[:12]}")
    yield database
    await database.close()
