"""The SQLite connection: PRAGMAs, migrations by `PRAGMA user_version`, and one serialized writer.

Every statement goes through one aiosqlite connection guarded by one asyncio lock, so two
coroutines' transactions never interleave on it. Atomic multi-statement work uses
`async with db.transaction() as tx:` (BEGIN IMMEDIATE ... COMMIT, ROLLBACK on error).
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")

Params = Sequence[Any] | dict[str, Any]

# How long a statement waits for another connection's lock before failing with "database is locked".
BUSY_TIMEOUT_MS = 5000


class DatabaseError(RuntimeError):
    """The database cannot be used: not a database, or a schema newer than this code."""


class DatabaseLockedError(DatabaseError):
    """Another process held a lock on the database for longer than the busy timeout."""


@dataclass(frozen=True)
class WriteResult:
    rowcount: int
    lastrowid: int | None


class Executor:
    """Runs statements on the shared connection. Subclasses decide how the lock is held."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> WriteResult:
        async with self._locked():
            cursor = await self._conn.execute(sql, params)
            result = WriteResult(cursor.rowcount, cursor.lastrowid)
            await cursor.close()
            return result

    async def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        async with self._locked():
            async with self._conn.execute(sql, params) as cursor:
                return await cursor.fetchone()

    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        async with self._locked():
            async with self._conn.execute(sql, params) as cursor:
                return list(await cursor.fetchall())

    async def fetchval(self, sql: str, params: Params = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    @asynccontextmanager
    async def _locked(self) -> AsyncIterator[None]:
        yield


class Transaction(Executor):
    """Statements inside `Database.transaction()`: the lock is already held for its whole life."""


class Database(Executor):
    """The bot's database. Standalone statements each take the lock (autocommit)."""

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        super().__init__(conn)
        self.path = path
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
                yield Transaction(self._conn)
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            await self._conn.execute("COMMIT")

    async def schema_version(self) -> int:
        return int(await self.fetchval("PRAGMA user_version"))

    async def close(self) -> None:
        await self._conn.close()


def available_migrations() -> list[tuple[int, Path]]:
    found = []
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        match = _MIGRATION_NAME.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return found


async def open_database(path: Path) -> Database:
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
        db = Database(conn, path)
        await _migrate(db)
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


async def _migrate(db: Database) -> None:
    """Apply every migration not applied yet, in number order. Numbers may have gaps, and a
    lower-numbered file that arrives later (branches merged in another order: 0005 applied
    before 0003 and 0004 existed) is still applied: applied numbers are recorded in
    `schema_migrations`. A database from before that table counts everything up to its
    `user_version` as applied. `user_version` stays the highest number applied."""
    migrations = available_migrations()
    latest = migrations[-1][0] if migrations else 0
    current = await db.schema_version()
    if current > latest:
        raise DatabaseError(
            f"{db.path} has schema version {current}, newer than this code knows ({latest}); "
            "run a newer version of the bot or restore a matching backup"
        )
    tracked = await db.fetchval(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    )
    if tracked:
        applied = {int(r[0]) for r in await db.fetchall("SELECT number FROM schema_migrations")}
    else:
        applied = {n for n, _ in migrations if n <= current}
    pending = [(n, p) for n, p in migrations if n not in applied]
    if tracked and not pending:
        return
    # executescript cannot run inside our own BEGIN; each script is wrapped so that all pending
    # migrations and the version bump commit together or not at all.
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
    async with db._lock:
        try:
            await db._conn.executescript(script)
        except sqlite3.Error:
            if db._conn.in_transaction:
                await db._conn.execute("ROLLBACK")
            raise
    if pending:
        log.info(
            "database migrated from version %d to %d (applied %s)",
            current,
            version,
            ", ".join(f"{n:04d}" for n, _ in pending),
        )
