from __future__ import annotations

import asyncio
import re

import pytest

from cogs.refusals import refusal_text
from db.jobs import JobsRepository
from db.quotas import QuotaRepository
from domain import JobState
from services.quota import (
    DAY,
    QuotaExceeded,
    QuotaLimit,
    QuotaService,
    Requester,
    job_cost,
)
from tests.clock import FakeClock
from tests.helpers import new_job, walk_to

NOW = 10 * DAY


@pytest.mark.parametrize(
    ("seconds", "orientation", "mode", "expected"),
    [
        (4.2, "image", "std", 5.0),
        (4.0, "image", "std", 4.0),
        (9.99, "image", "pro", 20.0),
        (12.0, "image", "std", 10.0),  # capped at the orientation's maximum
        (29.5, "video", "pro", 60.0),
        (45.0, "video", "std", 30.0),
    ],
)
def test_job_cost(seconds: float, orientation: str, mode: str, expected: float) -> None:
    assert job_cost(seconds, orientation, mode, pro_multiplier=2.0) == expected


async def test_enqueue_inserts_queued_job(db, settings) -> None:  # type: ignore[no-untyped-def]
    quota = QuotaService(db, settings, clock=FakeClock(NOW))
    job_id = await quota.enqueue(new_job(created_at=NOW), Requester(1, 10))
    job = await JobsRepository(db).get(job_id)
    assert job is not None and job.state is JobState.QUEUED and job.cost_seconds == 5.0


async def test_daily_limit_refusal_says_which_and_when(db, make_settings) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(quota_daily_seconds=12, quota_max_active_jobs=10)
    clock = FakeClock(NOW)
    quota = QuotaService(db, settings, clock=clock)
    who = Requester(1, 10)
    await quota.enqueue(new_job(created_at=NOW - 3600, cost_seconds=5.0), who)
    await quota.enqueue(new_job(created_at=NOW, cost_seconds=5.0), who)
    with pytest.raises(QuotaExceeded) as info:
        await quota.enqueue(new_job(created_at=NOW, cost_seconds=5.0), who)
    refusal = info.value
    assert refusal.limit is QuotaLimit.DAILY
    assert refusal.used == 10.0 and refusal.allowed == 12.0
    # The first job's 5 s leave the 24 h window an hour before now + 24 h.
    assert refusal.frees_at == pytest.approx(NOW - 3600 + DAY)
    text = refusal_text(refusal)
    assert "daily limit" in text and "10 s" in text and "12 s" in text
    assert re.search(r"<t:\d+:R>", text)


async def test_request_bigger_than_limit_never_frees(db, make_settings) -> None:  # type: ignore[no-untyped-def]
    quota = QuotaService(db, make_settings(quota_daily_seconds=4), clock=FakeClock(NOW))
    with pytest.raises(QuotaExceeded) as info:
        await quota.enqueue(new_job(created_at=NOW, cost_seconds=5.0), Requester(1, 10))
    assert info.value.frees_at is None
    assert "larger than the limit" in refusal_text(info.value)


async def test_monthly_limit(db, make_settings) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(quota_daily_seconds=100, quota_monthly_seconds=12)
    quota = QuotaService(db, settings, clock=FakeClock(NOW))
    jobs = JobsRepository(db)
    old = await jobs.insert(new_job(created_at=NOW - 5 * DAY, cost_seconds=10.0))
    await walk_to(jobs, old, JobState.SUCCEEDED, NOW, charged_seconds=10.0)
    with pytest.raises(QuotaExceeded) as info:
        await quota.enqueue(new_job(created_at=NOW, cost_seconds=5.0), Requester(1, 10))
    assert info.value.limit == "monthly"


async def test_failed_and_cancelled_jobs_release(db, make_settings) -> None:  # type: ignore[no-untyped-def]
    quota = QuotaService(db, make_settings(quota_daily_seconds=10), clock=FakeClock(NOW))
    jobs = JobsRepository(db)
    who = Requester(1, 10)
    first = await quota.enqueue(new_job(created_at=NOW, cost_seconds=5.0), who)
    second = await quota.enqueue(new_job(created_at=NOW, cost_seconds=5.0), who)
    with pytest.raises(QuotaExceeded):
        await quota.enqueue(new_job(created_at=NOW, cost_seconds=5.0), who)
    await jobs.transition(first, JobState.QUEUED, JobState.FAILED, NOW)
    await jobs.transition(second, JobState.QUEUED, JobState.CANCELLED, NOW)
    await quota.enqueue(new_job(created_at=NOW, cost_seconds=10.0), who)


async def test_active_job_cap(db, make_settings) -> None:  # type: ignore[no-untyped-def]
    quota = QuotaService(db, make_settings(quota_max_active_jobs=2), clock=FakeClock(NOW))
    who = Requester(1, 10)
    for _ in range(2):
        await quota.enqueue(new_job(created_at=NOW, cost_seconds=1.0), who)
    with pytest.raises(QuotaExceeded) as info:
        await quota.enqueue(new_job(created_at=NOW, cost_seconds=1.0), who)
    assert info.value.limit is QuotaLimit.ACTIVE
    assert "2 job(s) in progress" in refusal_text(info.value)


async def test_scopes_are_separate_budgets(db, make_settings) -> None:  # type: ignore[no-untyped-def]
    quota = QuotaService(db, make_settings(quota_daily_seconds=5), clock=FakeClock(NOW))
    await quota.enqueue(new_job(created_at=NOW, cost_seconds=5.0), Requester(1, 10))
    await quota.enqueue(new_job(created_at=NOW, guild_id=20, cost_seconds=5.0), Requester(1, 20))
    await quota.enqueue(
        new_job(created_at=NOW, guild_id=None, cost_seconds=5.0), Requester(1, None)
    )
    with pytest.raises(QuotaExceeded):
        await quota.enqueue(
            new_job(created_at=NOW, guild_id=None, cost_seconds=1.0), Requester(1, None)
        )


async def test_owner_is_exempt(db, make_settings) -> None:  # type: ignore[no-untyped-def]
    quota = QuotaService(
        db, make_settings(quota_daily_seconds=0, quota_max_active_jobs=0), clock=FakeClock(NOW)
    )
    await quota.enqueue(new_job(created_at=NOW), Requester(1, 10, is_owner=True))


async def test_global_cap_across_users(db, make_settings) -> None:  # type: ignore[no-untyped-def]
    quota = QuotaService(db, make_settings(global_daily_seconds_cap=10), clock=FakeClock(NOW))
    await quota.enqueue(new_job(user_id=1, created_at=NOW, cost_seconds=5.0), Requester(1, 10))
    await quota.enqueue(new_job(user_id=2, created_at=NOW, cost_seconds=5.0), Requester(2, 10))
    with pytest.raises(QuotaExceeded) as info:
        await quota.enqueue(new_job(user_id=3, created_at=NOW, cost_seconds=1.0), Requester(3, 10))
    assert info.value.limit == "global"


async def test_fifty_concurrent_requests_with_room_for_three(db, make_settings) -> None:  # type: ignore[no-untyped-def]
    """One user fires 50 requests at once with room for 3: exactly 3 jobs exist afterwards."""
    settings = make_settings(quota_daily_seconds=15, quota_max_active_jobs=50)
    quota = QuotaService(db, settings, clock=FakeClock(NOW))
    who = Requester(7, 10)

    async def attempt() -> bool:
        try:
            await quota.enqueue(new_job(user_id=7, created_at=NOW, cost_seconds=5.0), who)
        except QuotaExceeded:
            return False
        return True

    results = await asyncio.gather(*(attempt() for _ in range(50)))
    assert sum(results) == 3
    assert await db.fetchval("SELECT COUNT(*) FROM jobs WHERE user_id = 7") == 3


async def test_usage_report_and_reset(db, make_settings) -> None:  # type: ignore[no-untyped-def]
    clock = FakeClock(NOW)
    quota = QuotaService(db, make_settings(quota_daily_seconds=30), clock=clock)
    who = Requester(1, 10)
    await quota.enqueue(new_job(created_at=NOW - 100, cost_seconds=5.0), who)
    report = await quota.usage(who)
    assert report.used_today == 5.0 and report.active_jobs == 1
    assert report.next_free_at == pytest.approx(NOW - 100 + DAY)
    await QuotaRepository(db).reset_user(1, 10, NOW)
    assert (await quota.usage(who)).used_today == 0.0
