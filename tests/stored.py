"""What a unit has stored, as bytes, wherever this run keeps it: to check that a secret never got there."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg

from services.common.settings import Settings


async def stored_bytes(settings: Settings, unit: str) -> list[tuple[str, bytes]]:
    """(where, bytes) for each of the unit's SQLite files, or each table of its PostgreSQL schema."""
    if not settings.database_url:
        files = await asyncio.to_thread(lambda: list(Path(settings.data_dir).glob(f"{unit}.db*")))
        assert files, f"the {unit} unit stored nothing under {settings.data_dir}"
        return [(str(path), path.read_bytes()) for path in files]
    conn = await asyncpg.connect(settings.database_url)
    try:
        schema = f"{settings.database_schema_prefix}{unit}"
        tables = [r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = $1",
                                                             schema)]
        assert tables, f"the {unit} unit has no tables in schema {schema}"
        found = []
        for table in tables:
            rows = await conn.fetch(f'SELECT t::text AS row FROM "{schema}"."{table}" t')
            found.append((f"{schema}.{table}", "".join(r["row"] for r in rows).encode()))
        return found
    finally:
        await conn.close()
