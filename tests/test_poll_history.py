"""Generation history lives in the jobs table: it survives a restart, and the recorder plans the
polls of the next jobs of the same kind from it."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import aiohttp

from db.jobs import JobsRepository
from db.poll_history import PollHistoryRepository
from domain import JobState
from services.app import build_services
from services.quota import Requester
from services.runner.poll_plan import Bounds, make_plan, simple_offsets
from settings import Settings
from tests.fakes.modelslab_server import FakeModelsLab
from tests.fakes.notifier import RecordingNotifier
from tests.helpers import new_job, walk_to
from tests.stores import StoreFactory
from tests.test_runner import engine_settings, wait_for


async def test_history_survives_a_restart_and_plans_the_next_jobs(
    tmp_path: Path,
    fake: FakeModelsLab,
    session: aiohttp.ClientSession,
    make_settings: Callable[..., Settings],
    stores: StoreFactory,
) -> None:
    settings = engine_settings(
        make_settings,
        fake,
        poll_plan_min_history=3,
        quota_max_active_jobs=10,
        poll_interval_min_seconds=0.01,
        poll_interval_max_seconds=0.2,
    )
    db = await stores.open()
    notifier = RecordingNotifier()
    services = build_services(
        settings=settings, db=db, session=session, notifier=notifier, alert_sender=notifier
    )
    ids = []
    for _ in range(3):
        job = new_job(created_at=time.time())
        ids.append(await services.quota.enqueue(job, Requester(job.user_id, job.guild_id)))
    await services.runner.start()
    try:

        async def done() -> bool:
            jobs = [await JobsRepository(db).get(i) for i in ids]
            return all(j is not None and j.state is JobState.SUCCEEDED for j in jobs)

        await wait_for(done)
    finally:
        await services.runner.stop()
    # No PUBLIC_BASE_URL: no webhook is asked for and no secret is made.
    assert all("webhook" not in r.json and "track_id" not in r.json for r in fake.submits())
    for job_id in ids:
        row = await JobsRepository(db).get(job_id)
        assert row is not None and row.webhook_secret is None
    history = PollHistoryRepository(db)
    before = await history.generation_seconds("std", "image", 0.0, 5.0, 200)
    assert len(before) == 3 and all(0 < t < 1 for t in before)
    await db.close()

    # A new process: the same file, a new engine.
    db = await stores.open()
    try:
        after = await PollHistoryRepository(db).generation_seconds("std", "image", 0.0, 5.0, 200)
        assert after == before
        services = build_services(
            settings=settings, db=db, session=session, notifier=notifier, alert_sender=notifier
        )
        repo = JobsRepository(db)
        job_id = await repo.insert(new_job(created_at=time.time()))
        await walk_to(repo, job_id, JobState.PROCESSING, time.time(), provider_eta=10.0)
        job = await repo.get(job_id)
        assert job is not None
        bounds = Bounds(0.01, 0.2)
        plan = await services.runner._schedule.plan_for(job)
        assert plan == make_plan(after, 10.0, bounds, min_history=3)
        assert plan.offsets != tuple(simple_offsets(10.0, bounds, bounds.high))
        # Other kinds of job have no history yet: today's schedule.
        pro = await repo.insert(new_job(created_at=time.time(), mode="pro"))
        await walk_to(repo, pro, JobState.PROCESSING, time.time(), provider_eta=10.0)
        pro_job = await repo.get(pro)
        assert pro_job is not None
        pro_plan = await services.runner._schedule.plan_for(pro_job)
        assert pro_plan.offsets == tuple(simple_offsets(10.0, bounds, bounds.high))
    finally:
        await db.close()


async def test_the_recorder_writes_the_planned_poll_times(
    tmp_path: Path,
    fake: FakeModelsLab,
    session: aiohttp.ClientSession,
    make_settings: Callable[..., Settings],
    stores: StoreFactory,
) -> None:
    """With history known, each processing job's next poll is the plan's, counted from the
    moment the provider accepted it."""
    settings = engine_settings(
        make_settings,
        fake,
        poll_plan_min_history=20,
        poll_interval_min_seconds=0.05,
        poll_interval_max_seconds=1.0,
    )
    db = await stores.open()
    try:
        repo = JobsRepository(db)
        now = time.time()
        for i in range(20):  # generation times 2.0 .. 3.9 s
            old = await repo.insert(new_job(created_at=now - 100))
            ready_at = now - 100 + 2.0 + i * 0.1
            await walk_to(repo, old, JobState.SUCCEEDED, now - 100, ready_at=ready_at)
        notifier = RecordingNotifier()
        services = build_services(
            settings=settings, db=db, session=session, notifier=notifier, alert_sender=notifier
        )
        fake.generation_seconds = 30.0
        fake.eta = 0.05  # far too early: today's schedule would spend polls ramping up from it
        job = new_job(created_at=time.time())
        job_id = await services.quota.enqueue(job, Requester(job.user_id, job.guild_id))
        await services.runner.start()

        async def accepted() -> bool:
            row = await repo.get(job_id)
            return row is not None and row.state is JobState.PROCESSING

        await wait_for(accepted)
        await services.runner.stop()
        row = await repo.get(job_id)
        assert row is not None and row.processing_at is not None
        plan = await services.runner._schedule.plan_for(row)
        # The history says nothing finishes before 2 s: the first wait is the longest allowed.
        assert plan.offsets[0] == 1.0
        assert row.next_attempt_at == row.processing_at + plan.offsets[0]
        # Those polls go where clips finish instead: dense from 2 to 4 s.
        dense = [o for o in plan.offsets if 2.0 <= o <= 4.0]
        assert len(dense) >= 5
    finally:
        await db.close()
