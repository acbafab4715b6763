"""Opening the job store the settings name: PostgreSQL when DATABASE_URL is set, else SQLite."""

from __future__ import annotations

from pathlib import Path

from db.connection import Database
from db.postgres_store import open_postgres
from db.sqlite_store import open_sqlite


async def open_store(database_url: str | None, database_path: Path) -> Database:
    """PostgreSQL when a DATABASE_URL is given, else the SQLite file at `database_path`; either
    is migrated to this code's schema."""
    if database_url:
        return await open_postgres(database_url)
    return await open_sqlite(database_path)


async def open_database(path: Path) -> Database:
    """The SQLite store at `path` (created and migrated as needed)."""
    return await open_sqlite(path)
