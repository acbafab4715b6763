"""The SQLite store: PRAGMAs, numbered migrations, and one serialized writer.

Every statement goes through one aiosqlite connection guarded by one asyncio lock, so two
coroutines' transactions never interleave on it. A transaction is BEGIN IMMEDIATE ... COMMIT
(ROLLBACK on error). One bot process per file: several processes need PostgreSQL.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite

from db.connection import (
    Database,
    DatabaseError,
    DatabaseLockedError,
    Dialect,
    Executor,
    Params,
    Row,
    Transaction,
    WriteResult,
    available_migrations,
    pending_migrations,
)

log = logging.getLogger(__name__)

# How long a statement waits for another connection's lock before failing with "database is locked".
BUSY_TIMEOUT_MS = 5000


class _SqliteExecutor(Executor):
    """Runs statements on the shared connection. Subclasses decide how the lock is held."""

    dialect = Dialect.SQLITE

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> WriteResult:
        async with self._locked():
            cursor = await self._conn.execute(sql, params)
            result = WriteResult(cursor.rowcount)
            await cursor.close()
            return result

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        async with self._locked():
            async with self._conn.execute(sql, params) as cursor:
                row: sqlite3.Row | None = await cursor.fetchone()
                return row

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        async with self._locked():
            async with self._conn.execute(sql, params) as cursor:
                return list(await cursor.fetchall())

    @asynccontextmanager
    async def _locked(self) -> AsyncIterator[None]:
        yield


class _SqliteTransaction(_SqliteExecutor, Transaction):
    """Inside `SqliteDatabase.transaction()`: the lock is already held for its whole life."""


class SqliteDatabase(_SqliteExecutor, Database):
    """Standalone statements each take the lock (autocommit)."""

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        super().__init__(conn)
        self.path = path
        self.description = str(path)
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def _locked(self) -> AsyncIterator[None]:
        async with self._lock:
            yield

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """One write transaction (BEGIN IMMEDIATE): all of it happens or none of it does."""
        async with self._lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield _SqliteTransaction(self._conn)
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            await self._conn.execute("COMMIT")

    async def schema_version(self) -> int:
        return int(await self.fetchval("PRAGMA user_version"))

    async def close(self) -> None:
        await self._conn.close()

    async def migrate(self) -> None:
        """Apply every migration not applied yet, in number order. Numbers may have gaps, and a
        lower-numbered file that arrives later (branches merged in another order) is still
        applied: applied numbers are recorded in `schema_migrations`. A database from before
        that table counts everything up to its `user_version` as applied. `user_version` stays
        the highest number applied."""
        migrations = available_migrations(Dialect.SQLITE)
        current = await self.schema_version()
        tracked = await self.fetchval(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
        )
        if tracked:
            rows = await self.fetchall("SELECT number FROM schema_migrations")
            applied = {int(r[0]) for r in rows}
        else:
            applied = {n for n, _ in migrations if n <= current}
        pending = pending_migrations(migrations, applied, current, self.description)
        if tracked and not pending:
            return
        # executescript cannot run inside our own BEGIN; each script is wrapped so that all
        # pending migrations and the version bump commit together or not at all.
        script = (
            "BEGIN IMMEDIATE;\n"
            "CREATE TABLE IF NOT EXISTS schema_migrations (number INTEGER PRIMARY KEY);\n"
        )
        for number in sorted(applied):
            script += f"INSERT OR IGNORE INTO schema_migrations VALUES ({int(number)});\n"  # noqa: S608
        for number, path in pending:
            script += path.read_text(encoding="utf-8")
            script += f"\nINSERT INTO schema_migrations (number) VALUES ({number});\n"
        version = max([current, *(n for n, _ in pending)])
        script += f"PRAGMA user_version = {version};\nCOMMIT;"
        async with self._lock:
            try:
                await self._conn.executescript(script)
            except sqlite3.Error:
                if self._conn.in_transaction:
                    await self._conn.execute("ROLLBACK")
                raise
        if pending:
            log.info(
                "database migrated from version %d to %d (applied %s)",
                current,
                version,
                ", ".join(f"{n:04d}" for n, _ in pending),
            )


async def open_sqlite(path: Path) -> SqliteDatabase:
    """Open (creating the folder and file if needed), set PRAGMAs and apply pending migrations."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(path, isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        raise DatabaseError(f"cannot open {path} ({exc})") from exc
    conn.row_factory = sqlite3.Row
    try:
        await conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_MS)}")
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute("PRAGMA foreign_keys = ON")
        await conn.execute("PRAGMA synchronous = NORMAL")
        db = SqliteDatabase(conn, path)
        await db.migrate()
    except sqlite3.DatabaseError as exc:
        await conn.close()
        # SQLITE_BUSY, or one of its extended codes (BUSY_RECOVERY, BUSY_SNAPSHOT, BUSY_TIMEOUT).
        if getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_BUSY:
            raise DatabaseLockedError(
                f"{path} is locked by another process (waited {BUSY_TIMEOUT_MS / 1000:g} s)"
            ) from exc
        raise DatabaseError(f"{path} is not a usable SQLite database ({exc})") from exc
    except BaseException:
        await conn.close()
        raise
    return db
