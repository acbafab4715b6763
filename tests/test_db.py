from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import asyncpg
import pytest

from db.connection import DatabaseError, available_migrations
from db.jobs import JobsRepository
from db.stores import open_database
from domain import JobState
from tests.helpers import new_job


async def test_migrations_set_version_and_pragmas(tmp_path: Path) -> None:
    db = await open_database(tmp_path / "a" / "bot.db")
    try:
        assert await db.schema_version() == available_migrations()[-1][0]
        assert (await db.fetchval("PRAGMA journal_mode")).lower() == "wal"
        assert await db.fetchval("PRAGMA foreign_keys") == 1
        assert await db.fetchval("PRAGMA busy_timeout") > 0
    finally:
        await db.close()
    again = await open_database(tmp_path / "a" / "bot.db")  # idempotent re-open
    await again.close()


async def test_newer_schema_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 999")
    with pytest.raises(DatabaseError, match="newer than this code"):
        await open_database(path)


async def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(DatabaseError, match="not a usable SQLite database"):
        await open_database(path)


async def test_state_check_constraint(db) -> None:  # type: ignore[no-untyped-def]
    job_id = await JobsRepository(db).insert(new_job())
    with pytest.raises((sqlite3.IntegrityError, asyncpg.CheckViolationError)):
        await db.execute("UPDATE jobs SET state = 'exploded' WHERE id = ?", (job_id,))


async def test_transition_is_guarded(db) -> None:  # type: ignore[no-untyped-def]
    jobs = JobsRepository(db)
    job_id = await jobs.insert(new_job())
    assert await jobs.transition(job_id, JobState.QUEUED, JobState.SUBMITTING, 10.0)
    assert not await jobs.transition(job_id, JobState.QUEUED, JobState.SUBMITTING, 11.0)
    job = await jobs.get(job_id)
    assert job is not None and job.state is JobState.SUBMITTING and job.submitting_at == 10.0


async def test_transaction_rolls_back_on_error(db) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RuntimeError):
        async with db.transaction() as tx:
            await JobsRepository(tx).insert(new_job())
            raise RuntimeError("boom")
    assert await db.fetchval("SELECT COUNT(*) FROM jobs") == 0


async def test_transactions_are_serialized(db) -> None:  # type: ignore[no-untyped-def]
    async def add() -> None:
        async with db.transaction() as tx:
            count = await tx.fetchval("SELECT COUNT(*) FROM jobs")
            await asyncio.sleep(0)
            await JobsRepository(tx).insert(new_job(prompt=f"n{count}"))

    await asyncio.gather(*(add() for _ in range(20)))
    prompts = [r[0] for r in await db.fetchall("SELECT prompt FROM jobs ORDER BY id")]
    assert prompts == [f"n{i}" for i in range(20)]
