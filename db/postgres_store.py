"""The PostgreSQL store (asyncpg), for several bot processes sharing one database.

Statements run on a connection pool. A transaction holds one connection and, until it commits,
one transaction-level advisory lock that every write transaction takes: like SQLite's
BEGIN IMMEDIATE, two quota checks (from any process) never interleave, so a check and the insert
it allows are atomic. Migrations run under a session-level advisory lock, so processes started
together migrate once.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from db.connection import (
    Database,
    DatabaseError,
    Dialect,
    Executor,
    Params,
    Row,
    Transaction,
    WriteResult,
    available_migrations,
    pending_migrations,
)
from db.placeholders import bind

log = logging.getLogger(__name__)

# Connections per process. Statements are short; the runner and the commands share them.
POOL_MAX_SIZE = 10
CONNECT_TIMEOUT_SECONDS = 10.0
# Advisory lock keys (any 64-bit numbers unique to this application).
WRITE_LOCK = 0x6B6C696E67_01  # held by every write transaction until it ends
MIGRATION_LOCK = 0x6B6C696E67_02  # held while one process migrates


def redacted(url: str) -> str:
    """The URL without its password (for messages and logs)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit((parts.scheme, user + host, parts.path, "", ""))


def _rowcount(status: str) -> int:
    """Rows touched, from a command tag such as 'UPDATE 3' or 'INSERT 0 1'."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class _PostgresExecutor(Executor):
    dialect = Dialect.POSTGRES

    def __init__(self, target: asyncpg.Pool | asyncpg.Connection) -> None:
        self._target = target

    async def execute(self, sql: str, params: Params = ()) -> WriteResult:
        text, args = bind(sql, params)
        return WriteResult(_rowcount(await self._target.execute(text, *args)))

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        text, args = bind(sql, params)
        row: Row | None = await self._target.fetchrow(text, *args)
        return row

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        text, args = bind(sql, params)
        return list(await self._target.fetch(text, *args))


class _PostgresTransaction(_PostgresExecutor, Transaction):
    """Statements on the one connection of an open transaction."""


class PostgresDatabase(_PostgresExecutor, Database):
    def __init__(self, pool: asyncpg.Pool, description: str) -> None:
        super().__init__(pool)
        self._pool = pool
        self.description = description

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", WRITE_LOCK)
            yield _PostgresTransaction(conn)

    async def schema_version(self) -> int:
        return int(await self.fetchval("SELECT COALESCE(MAX(number), 0) FROM schema_migrations"))

    async def close(self) -> None:
        await self._pool.close()

    async def migrate(self) -> None:
        """Apply every migration not applied yet, each in its own transaction with its number."""
        async with self._pool.acquire() as conn:
            await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
            try:
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (number INTEGER PRIMARY KEY)"
                )
                rows = await conn.fetch("SELECT number FROM schema_migrations")
                applied = {int(r[0]) for r in rows}
                current = max(applied, default=0)
                migrations = available_migrations(Dialect.POSTGRES)
                pending = pending_migrations(migrations, applied, current, self.description)
                for number, path in pending:
                    async with conn.transaction():
                        await conn.execute(path.read_text(encoding="utf-8"))
                        await conn.execute(
                            "INSERT INTO schema_migrations (number) VALUES ($1)", number
                        )
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
        if pending:
            log.info(
                "database migrated to version %d (applied %s)",
                pending[-1][0],
                ", ".join(f"{n:04d}" for n, _ in pending),
            )


async def open_postgres(
    url: str, *, schema: str | None = None, max_size: int = POOL_MAX_SIZE
) -> PostgresDatabase:
    """Connect a pool to `url` and apply pending migrations. `schema` (tests) puts the tables
    in that schema instead of the user's default."""
    description = redacted(url)
    settings: dict[str, Any] = {"application_name": "kling-bot"}
    if schema is not None:
        settings["search_path"] = schema
    try:
        pool = await asyncpg.create_pool(
            url,
            min_size=1,
            max_size=max_size,
            timeout=CONNECT_TIMEOUT_SECONDS,
            server_settings=settings,
        )
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        reason = str(exc) or type(exc).__name__  # PostgreSQL never echoes a password back
        raise DatabaseError(f"cannot connect to {description} ({reason})") from None
    db = PostgresDatabase(pool, description)
    try:
        await db.migrate()
    except BaseException:
        await pool.close()
        raise
    return db
