"""The PostgreSQL store: migrations that match SQLite's, parameter translation, a URL's password
kept out of messages, and quota checks that stay atomic across processes (two pools)."""

from __future__ import annotations

import asyncio
import time

import pytest

from db.connection import DatabaseError, Dialect, available_migrations
from db.placeholders import bind, numbered
from db.postgres_store import open_postgres, redacted
from services.quota import QuotaExceeded, QuotaService, Requester
from settings import Settings
from tests.helpers import new_job
from tests.stores import TEST_DATABASE_URL, StoreFactory

needs_postgres = pytest.mark.skipif(not TEST_DATABASE_URL, reason="TEST_DATABASE_URL not set")


def test_every_migration_has_a_postgres_twin() -> None:
    sqlite = [n for n, _ in available_migrations(Dialect.SQLITE)]
    postgres = [n for n, _ in available_migrations(Dialect.POSTGRES)]
    assert sqlite == postgres and sqlite


def test_named_and_positional_parameters_become_numbered() -> None:
    assert numbered("SELECT * FROM jobs WHERE a = :x AND b = :y OR c = :x") == (
        "SELECT * FROM jobs WHERE a = $1 AND b = $2 OR c = $1",
        ("x", "y"),
    )
    assert numbered("UPDATE jobs SET a = ? WHERE id = ?") == (
        "UPDATE jobs SET a = $1 WHERE id = $2",
        2,
    )
    # Literals and casts are not parameters.
    text, shape = numbered("SELECT ':no', 'it''s ?', x::text FROM t WHERE y = :yes")
    assert text == "SELECT ':no', 'it''s ?', x::text FROM t WHERE y = $1" and shape == ("yes",)
    assert bind("SELECT :b, :a", {"a": 1, "b": 2}) == ("SELECT $1, $2", [2, 1])
    with pytest.raises(ValueError, match="takes 1 values"):
        bind("SELECT ?", ())


def test_a_url_is_shown_without_its_password() -> None:
    shown = redacted("postgresql://bot:hunter2@db.example:5433/bot?sslmode=require")
    assert shown == "postgresql://bot@db.example:5433/bot"


async def test_an_unreachable_server_is_a_clear_error_without_the_password() -> None:
    with pytest.raises(DatabaseError) as caught:
        await open_postgres("postgresql://bot:hunter2@127.0.0.1:9/nothing")
    assert "cannot connect to postgresql://bot@127.0.0.1:9/nothing" in str(caught.value)
    assert "hunter2" not in str(caught.value)


@needs_postgres
async def test_processes_started_together_migrate_once(tmp_path) -> None:  # type: ignore[no-untyped-def]
    stores = StoreFactory("postgres", tmp_path)
    try:
        first, second = await asyncio.gather(stores.open(), stores.open())
        latest = available_migrations(Dialect.POSTGRES)[-1][0]
        assert await first.schema_version() == latest == await second.schema_version()
        numbers = [r[0] for r in await first.fetchall("SELECT number FROM schema_migrations")]
        assert sorted(numbers) == [n for n, _ in available_migrations(Dialect.POSTGRES)]
    finally:
        await stores.cleanup()


@needs_postgres
async def test_fifty_enqueues_from_two_processes_admit_exactly_the_room(
    tmp_path, make_settings
) -> None:  # type: ignore[no-untyped-def]
    """One member with room for 7 jobs of 5 s (35 s a day) sends 50 requests, half through each
    of two connection pools (two bot processes): exactly 7 are admitted."""
    settings: Settings = make_settings(quota_daily_seconds=35, quota_max_active_jobs=1000)
    stores = StoreFactory("postgres", tmp_path)
    try:
        one, two = await stores.open(max_size=10), await stores.open(max_size=10)
        services = [QuotaService(one, settings), QuotaService(two, settings)]
        who = Requester(user_id=7, guild_id=99, channel_id=5)
        now = time.time()

        async def attempt(i: int) -> bool:
            job = new_job(user_id=7, guild_id=99, cost_seconds=5.0, created_at=now)
            try:
                await services[i % 2].enqueue(job, who)
            except QuotaExceeded:
                return False
            return True

        admitted = await asyncio.gather(*(attempt(i) for i in range(50)))
        assert sum(admitted) == 7
        assert await one.fetchval("SELECT COUNT(*) FROM jobs WHERE user_id = 7") == 7
    finally:
        await stores.cleanup()
