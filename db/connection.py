"""The job store's interface: run statements, one atomic transaction at a time, migrations.

Two stores implement it with the same repositories and the same numbered migrations:
- SQLite (db/sqlite_store.py), the default: one file, one process, nothing to install.
- PostgreSQL through asyncpg (db/postgres_store.py), when DATABASE_URL is set: several bot
  processes share it.

Repositories write one SQL dialect that both understand: `?` or `:name` parameters, standard
functions only (CASE instead of SQLite's two-argument MIN/MAX, IS [NOT] DISTINCT FROM, ON CONFLICT,
RETURNING). Where the two truly differ, a repository asks `executor.dialect`.

Atomic multi-statement work uses `async with db.transaction() as tx:`. Write transactions are
serialized on both stores (SQLite: BEGIN IMMEDIATE; PostgreSQL: one advisory lock held until
commit), so a quota or cap check and the insert it allows can never interleave with another.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")

Params = Sequence[Any] | dict[str, Any]


class Dialect(StrEnum):
    SQLITE = "sqlite"
    POSTGRES = "postgres"


class Row(Protocol):
    """A result row: by position or by column name (sqlite3.Row and asyncpg.Record both are)."""

    def __getitem__(self, key: Any, /) -> Any: ...

    def keys(self) -> Iterable[str]: ...


class DatabaseError(RuntimeError):
    """The database cannot be used: unreachable, not a database, or a schema newer than this
    code. The message never carries a password."""


class DatabaseLockedError(DatabaseError):
    """Another process held a lock on the database for longer than the busy timeout."""


@dataclass(frozen=True)
class WriteResult:
    rowcount: int


class Executor(ABC):
    """Runs statements: the database itself (each statement on its own), or a transaction."""

    dialect: Dialect

    @abstractmethod
    async def execute(self, sql: str, params: Params = ()) -> WriteResult: ...

    @abstractmethod
    async def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...

    @abstractmethod
    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...

    async def fetchval(self, sql: str, params: Params = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]


class Transaction(Executor, ABC):
    """Statements inside `Database.transaction()`: all of them commit together or none does."""


class Database(Executor, ABC):
    """The bot's job store."""

    # Where the data lives, for messages and logs (never with a password).
    description: str

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """One serialized write transaction: all of it happens or none of it does."""

    @abstractmethod
    async def schema_version(self) -> int:
        """The highest migration number applied."""

    @abstractmethod
    async def close(self) -> None: ...


def available_migrations(dialect: Dialect = Dialect.SQLITE) -> list[tuple[int, Path]]:
    """(number, file) of every migration of a dialect, in number order. SQLite's files are in
    db/migrations, PostgreSQL's in db/migrations/postgres, under the same numbers."""
    folder = MIGRATIONS_DIR if dialect is Dialect.SQLITE else MIGRATIONS_DIR / "postgres"
    found = []
    for path in sorted(folder.glob("*.sql")):
        match = _MIGRATION_NAME.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return found


def pending_migrations(
    migrations: list[tuple[int, Path]], applied: set[int], current: int, description: str
) -> list[tuple[int, Path]]:
    """The migrations still to apply, in order; refuses a schema newer than this code."""
    latest = migrations[-1][0] if migrations else 0
    if current > latest:
        raise DatabaseError(
            f"{description} has schema version {current}, newer than this code knows ({latest}); "
            "run a newer version of the bot or restore a matching backup"
        )
    return [(n, p) for n, p in migrations if n not in applied]
