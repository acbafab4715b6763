"""The migration loader tolerates gaps in numbering and files that arrive out of order (parallel
branches add 0003, 0004 and 0005; whichever merges first may run first)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import db.connection as connection
from db.stores import open_database


def _write(folder: Path, name: str, sql: str) -> None:
    (folder / name).write_text(sql, encoding="utf-8")


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {r[0] for r in rows}


async def test_a_gap_then_a_late_lower_number(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    monkeypatch.setattr(connection, "MIGRATIONS_DIR", folder)
    _write(folder, "0001_a.sql", "CREATE TABLE a (x INTEGER);")
    _write(folder, "0002_b.sql", "CREATE TABLE b (x INTEGER);")
    _write(folder, "0005_e.sql", "CREATE TABLE e (x INTEGER);")
    path = tmp_path / "bot.db"
    db = await open_database(path)
    assert await db.schema_version() == 5
    await db.close()

    _write(folder, "0003_c.sql", "CREATE TABLE c (x INTEGER);")  # merged later
    db = await open_database(path)
    assert await db.schema_version() == 5
    await db.close()
    assert {"a", "b", "c", "e"} <= _tables(path)
    again = await open_database(path)  # nothing left to do: nothing runs twice
    await again.close()


async def test_a_database_from_before_the_record_is_not_migrated_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    monkeypatch.setattr(connection, "MIGRATIONS_DIR", folder)
    _write(folder, "0001_a.sql", "CREATE TABLE a (x INTEGER);")
    _write(folder, "0002_b.sql", "CREATE TABLE b (x INTEGER);")
    path = tmp_path / "bot.db"
    with sqlite3.connect(path) as conn:  # what the old loader left: tables and user_version
        conn.executescript("CREATE TABLE a (x INTEGER); CREATE TABLE b (x INTEGER);")
        conn.execute("PRAGMA user_version = 2")
    _write(folder, "0005_e.sql", "CREATE TABLE e (x INTEGER);")
    db = await open_database(path)
    assert await db.schema_version() == 5
    numbers = [r[0] for r in await db.fetchall("SELECT number FROM schema_migrations ORDER BY 1")]
    assert numbers == [1, 2, 5]
    await db.close()
