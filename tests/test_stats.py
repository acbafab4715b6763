"""Stats: jobs by state, seconds generated, failures by cause, median request -> clip time, per
server and bot-wide; the queue state; the chart is a real PNG."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from PIL import Image

from db.connection import Database
from db.jobs import JobsRepository
from db.stats import StatsRepository
from domain import JobState
from services.quota import DAY
from services.stats import CHART_DAYS, StatsService, render_daily_chart
from tests.clock import FakeClock
from tests.helpers import new_job, walk_to

NOW = 100 * DAY + 12 * 3600  # noon UTC on day 100
GUILD, OTHER = 10, 20


async def add(
    db: Database,
    state: JobState,
    *,
    created_at: float = NOW - 3600,
    took: float = 60.0,
    charged: float = 0.0,
    code: str | None = None,
    guild_id: int | None = GUILD,
) -> int:
    jobs = JobsRepository(db)
    job_id = await jobs.insert(new_job(created_at=created_at, guild_id=guild_id, cost_seconds=5))
    if state is not JobState.QUEUED:
        values = {"charged_seconds": charged} if state is JobState.SUCCEEDED else {}
        if code is not None:
            values["failure_code"] = code
        await walk_to(jobs, job_id, state, created_at + took, **values)
    return job_id


@pytest.fixture
async def seeded(db: Database) -> Database:
    await add(db, JobState.SUCCEEDED, charged=5, took=100)
    await add(db, JobState.SUCCEEDED, charged=10, took=300)
    await add(db, JobState.SUCCEEDED, charged=5, took=200, created_at=NOW - 3 * DAY)
    await add(db, JobState.SUCCEEDED, charged=20, took=50, created_at=NOW - 40 * DAY)  # too old
    await add(db, JobState.FAILED, code="timeout")
    await add(db, JobState.FAILED, code="timeout")
    await add(db, JobState.FAILED, code="no_credits")
    await add(db, JobState.CANCELLED)
    await add(db, JobState.QUEUED)
    await add(db, JobState.PROCESSING)
    await add(db, JobState.SUCCEEDED, charged=7, took=1000, guild_id=OTHER)
    await add(db, JobState.FAILED, code="invalid_key", guild_id=None)
    return db


async def test_server_stats(seeded) -> None:  # type: ignore[no-untyped-def]
    stats = await StatsService(seeded, clock=FakeClock(NOW)).collect(GUILD)
    assert stats.by_state == {
        "succeeded": 3,
        "failed": 3,
        "cancelled": 1,
        "queued": 1,
        "processing": 1,
    }
    assert stats.total_jobs == 9
    assert stats.seconds_today == 15 and stats.seconds_month == 20
    assert stats.failures == {"timeout": 2, "no_credits": 1}
    assert list(stats.failures) == ["timeout", "no_credits"]  # most frequent first
    assert stats.median_turnaround == 200  # of 100, 200 and 300


async def test_global_stats_include_every_server_and_dms(seeded) -> None:  # type: ignore[no-untyped-def]
    stats = await StatsService(seeded, clock=FakeClock(NOW)).collect(None)
    assert stats.by_state["succeeded"] == 4 and stats.by_state["failed"] == 4
    assert stats.seconds_today == 22
    assert stats.failures["invalid_key"] == 1
    assert stats.median_turnaround == 250  # even count: mean of 200 and 300


async def test_daily_series_has_every_day_with_zeros(seeded) -> None:  # type: ignore[no-untyped-def]
    stats = await StatsService(seeded, clock=FakeClock(NOW)).collect(GUILD)
    assert len(stats.daily) == CHART_DAYS
    days = dict(stats.daily)
    today = date(1970, 1, 1) + timedelta(days=100)
    assert stats.daily[-1][0] == today
    assert days[today] == 15
    assert sum(days.values()) == 20 and stats.has_chart_data


async def test_empty_database(db) -> None:  # type: ignore[no-untyped-def]
    stats = await StatsService(db, clock=FakeClock(NOW)).collect(GUILD)
    assert stats.by_state == {} and stats.failures == {}
    assert stats.seconds_today == 0 and stats.median_turnaround is None
    assert not stats.has_chart_data


async def test_queue_state(seeded) -> None:  # type: ignore[no-untyped-def]
    queue = await StatsService(seeded, clock=FakeClock(NOW)).queue_state()
    assert queue.by_state == {"queued": 1, "processing": 1}
    assert queue.oldest_queued_at == NOW - 3600


async def test_median_of_one(db) -> None:  # type: ignore[no-untyped-def]
    await add(db, JobState.SUCCEEDED, charged=5, took=42)
    assert await StatsRepository(db).median_turnaround(0) == 42


def test_chart_is_a_png() -> None:
    daily = [(date(2026, 1, d), float(d * 10)) for d in range(1, CHART_DAYS + 1)]
    png = render_daily_chart(daily, "Seconds generated per day")
    assert png.startswith(b"\x89PNG")
    with Image.open(io.BytesIO(png)) as image:
        assert image.size == (640, 280)
    # All zeros must not divide by zero.
    assert render_daily_chart([(date(2026, 1, 1), 0.0)], "empty").startswith(b"\x89PNG")
