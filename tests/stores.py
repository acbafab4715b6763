"""The job stores the tests run on: a real SQLite file always, and a real PostgreSQL server when
TEST_DATABASE_URL is set (`.ci/run` starts one; see the README). Each test gets a store of its own:
a file in its tmp_path, or a schema of its own on the PostgreSQL server, dropped afterwards."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import asyncpg

from db.connection import Database
from db.postgres_store import open_postgres
from db.stores import open_database

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "").strip()
KINDS = ["sqlite", "postgres"] if TEST_DATABASE_URL else ["sqlite"]


class StoreFactory:
    """Opens the same store again and again (a reopen is a bot restart), and cleans up."""

    def __init__(self, kind: str, tmp_path: Path, name: str = "bot") -> None:
        self.kind = kind
        self._path = tmp_path / f"{name}.db"
        self._schema = f"t_{uuid.uuid4().hex[:20]}"
        self._opened: list[Database] = []
        self._schema_made = False

    @property
    def url(self) -> str | None:
        """The DATABASE_URL a bot process would use for this store (PostgreSQL only)."""
        if self.kind != "postgres":
            return None
        return TEST_DATABASE_URL

    @property
    def schema(self) -> str | None:
        return self._schema if self.kind == "postgres" else None

    async def open(self, *, max_size: int = 4) -> Database:
        if self.kind == "sqlite":
            db = await open_database(self._path)
        else:
            if not self._schema_made:
                self._schema_made = True
                await _admin(f"CREATE SCHEMA IF NOT EXISTS {self._schema}")
            db = await open_postgres(TEST_DATABASE_URL, schema=self._schema, max_size=max_size)
        self._opened.append(db)
        return db

    async def cleanup(self) -> None:
        for db in self._opened:
            await db.close()  # a second close (the test closed it) is harmless on both
        if self._schema_made:
            await _admin(f"DROP SCHEMA IF EXISTS {self._schema} CASCADE")


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(TEST_DATABASE_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()
