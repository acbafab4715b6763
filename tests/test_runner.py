"""The job engine against the fake ModelsLab server and real SQLite files."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from db.connection import Database
from db.jobs import JobsRepository
from domain import Job, JobState
from services.app import Services, build_services
from services.quota import Requester
from settings import Settings
from tests.fakes.modelslab_server import FakeJobSpec, FakeModelsLab
from tests.fakes.notifier import RecordingNotifier
from tests.helpers import new_job, walk_to


async def wait_for(predicate: Callable[[], Awaitable[bool]], within: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


@dataclass
class Engine:
    services: Services
    db: Database
    fake: FakeModelsLab
    notifier: RecordingNotifier

    async def add(self, user_id: int = 1, **overrides: Any) -> int:
        job = new_job(user_id=user_id, **{"created_at": time.time(), **overrides})
        return await self.services.quota.enqueue(job, Requester(user_id, job.guild_id))

    async def job(self, job_id: int) -> Job:
        job = await JobsRepository(self.db).get(job_id)
        assert job is not None
        return job

    async def state(self, job_id: int) -> JobState:
        return (await self.job(job_id)).state

    async def until(self, job_id: int, *states: JobState, within: float = 5.0) -> Job:
        async def reached() -> bool:
            runner = self.services.runner
            return await self.state(job_id) in states and not runner.is_working_on(job_id)

        await wait_for(reached, within)
        return await self.job(job_id)

    async def all_done(self, ids: list[int], within: float = 10.0) -> None:
        async def done() -> bool:
            runner = self.services.runner
            states = [await self.state(i) for i in ids]
            return all(s.is_terminal for s in states) and not any(map(runner.is_working_on, ids))

        await wait_for(done, within)


def engine_settings(
    make_settings: Callable[..., Settings], fake: FakeModelsLab, **kw: Any
) -> Settings:
    parts = urlsplit(fake.base_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    return make_settings(modelslab_base_url=fake.base_url, media_host_allowlist=(origin,), **kw)


@pytest.fixture
async def make_engine(
    db: Database,
    fake: FakeModelsLab,
    session: aiohttp.ClientSession,
    make_settings: Callable[..., Settings],
) -> AsyncIterator[Callable[..., Awaitable[Engine]]]:
    engines: list[Engine] = []

    async def make(
        database: Database | None = None, notifier: RecordingNotifier | None = None, **kw: Any
    ) -> Engine:
        settings = engine_settings(
            make_settings,
            fake,
            **{"quota_max_active_jobs": 50, "quota_daily_seconds": 10_000, **kw},
        )
        rec = notifier or RecordingNotifier()
        services = build_services(
            settings=settings, db=database or db, session=session, notifier=rec, alert_sender=rec
        )
        engine = Engine(services, database or db, fake, rec)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        await engine.services.runner.stop()


async def test_lifecycle_submit_poll_deliver_charge(make_engine, fake) -> None:  # type: ignore[no-untyped-def]
    engine = await make_engine()
    job_id = await engine.add()
    await engine.services.runner.start()
    job = await engine.until(job_id, JobState.SUCCEEDED)

    assert job.provider_job_id is not None
    assert job.charged_seconds == job.cost_seconds == 5.0
    assert job.delivery == "file" and job.result_message_id == 555
    kinds = [k for k in engine.notifier.kinds(job_id) if k not in ("progress", "queued")]
    assert kinds == ["started", "succeeded"]
    ((delivered_id, clip),) = engine.notifier.delivered
    assert delivered_id == job_id and clip.path is not None
    assert clip.path.read_bytes() == fake.clip_bytes
    assert len(fake.submits()) == 1
    body = fake.submits()[0].json
    assert body["init_image"] == "http://127.0.0.1/image.png"
    assert body["character_orientation"] == "image" and body["mode"] == "std"
    for stamp in (job.submitting_at, job.processing_at, job.delivering_at, job.finished_at):
        assert stamp is not None


async def test_round_robin_across_users(make_engine, fake) -> None:  # type: ignore[no-untyped-def]
    engine = await make_engine(max_concurrent_jobs=1)
    ids = [await engine.add(user_id=1, prompt=f"a{i}") for i in range(4)]
    ids += [await engine.add(user_id=2, prompt=f"b{i}") for i in range(2)]
    ids += [await engine.add(user_id=3, prompt="c0")]
    await engine.services.runner.start()
    await engine.all_done(ids)
    order = [r.json["prompt"] for r in fake.submits()]
    assert order == ["a0", "b0", "c0", "a1", "b1", "a2", "a3"]


async def test_concurrency_cap_never_exceeded(make_engine, fake) -> None:  # type: ignore[no-untyped-def]
    fake.queue_limit = 20
    engine = await make_engine(max_concurrent_jobs=3)
    ids = [await engine.add(user_id=u % 4) for u in range(12)]
    await engine.services.runner.start()
    await engine.all_done(ids)
    assert fake.max_concurrent_seen <= 3
    assert fake.max_concurrent_seen == 3
    assert [await engine.state(i) for i in ids] == [JobState.SUCCEEDED] * len(ids)


async def test_provider_queue_full_waits_instead_of_failing(make_engine, fake) -> None:  # type: ignore[no-untyped-def]
    fake.queue_limit = 2
    engine = await make_engine(max_concurrent_jobs=4)
    ids = [await engine.add(user_id=u) for u in range(6)]
    await engine.services.runner.start()
    await engine.all_done(ids)
    assert [await engine.state(i) for i in ids] == [JobState.SUCCEEDED] * len(ids)
    assert any(r.status == 429 for r in fake.requests)


async def test_input_error_fails_and_releases(make_engine, fake) -> None:  # type: ignore[no-untyped-def]
    engine = await make_engine()
    fake.script_faults("submit", ["input_400"])
    job_id = await engine.add()
    await engine.services.runner.start()
    job = await engine.until(job_id, JobState.FAILED)
    assert job.failure_code == "input" and job.charged_seconds == 0
    usage = await engine.services.quota.usage(Requester(1, 10))
    assert usage.used_today == 0 and usage.active_jobs == 0
    kind, _, args = engine.notifier.events[-1]
    assert kind == "failed" and args[2] is False


async def test_provider_failure_fails_with_reason(make_engine, fake) -> None:  # type: ignore[no-untyped-def]
    engine = await make_engine()
    fake.queue_next(FakeJobSpec(outcome="failed", failure_message="No person detected"))
    job_id = await engine.add()
    await engine.services.runner.start()
    job = await engine.until(job_id, JobState.FAILED)
    assert job.failure_code == "provider_failed"
    assert "No person detected" in (job.failure_reason or "")


async def test_transient_submit_errors_retry_then_succeed(make_engine, fake) -> None:  # type: ignore[no-untyped-def]
    engine = await make_engine()
    fake.script_faults("submit", ["500", "html_502"])
    job_id = await engine.add()
    await engine.services.runner.start()
    job = await engine.until(job_id, JobState.SUCCEEDED)
    assert job.attempts == 3
    assert len([r for r in fake.submits() if r.status == 200]) == 1


async def test_transient_poll_errors_retry_then_succeed(make_engine, fake) -> None:  # type: ignore[no-untyped-def]
    engine = await make_engine()
    fake.script_faults("fetch", ["503", "non_json", "truncated"])
    job_id = await engine.add()
    await engine.services.runner.start()
    await engine.until(job_id, JobState.SUCCEEDED)


async def test_submit_timeout_fails_without_resubmitting(make_engine, fake) -> None:  # type: ignore[no-untyped-def]
    engine = await make_engine(submit_timeout_seconds=0.1)
    fake.script_faults("submit", ["slow:0.5"])
    job_id = await engine.add()
    await engine.services.runner.start()
    job = await engine.until(job_id, JobState.FAILED)
    assert job.failure_code == "submit_outcome_unknown" and job.charged_seconds == 0
    assert len(fake.submits()) == 1
    assert engine.notifier.alerts_about("outcome is unknown")


async def test_operator_failure_pauses_queue_and_alerts_once(make_engine, fake) -> None:  # type: ignore[no-untyped-def]
    fake.api_key = "another-key"  # our key is now rejected
    engine = await make_engine(operator_pause_seconds=0.1)
    ids = [await engine.add(user_id=u) for u in range(3)]
    await engine.services.runner.start()

    async def probed_twice() -> bool:
        return len(fake.submits()) >= 3

    await wait_for(probed_twice)
    assert engine.services.runner.paused_reason == "invalid_key"
    for i in ids:  # waiting, never failed (a probe may be mid-submit)
        assert await engine.state(i) in (JobState.QUEUED, JobState.SUBMITTING)
    provider_alerts = engine.notifier.alerts_about("New jobs are paused")
    assert len(provider_alerts) == 1
    fake.api_key = "test-key"  # the operator fixes the key
    await engine.all_done(ids)
    assert engine.services.runner.paused_reason is None
    assert [await engine.state(i) for i in ids] == [JobState.SUCCEEDED] * len(ids)


async def test_timeout_fails_and_releases(make_engine, fake) -> None:  # type: ignore[no-untyped-def]
    fake.generation_seconds = 30
    engine = await make_engine(job_timeout_seconds=0.2)
    job_id = await engine.add()
    await engine.services.runner.start()
    job = await engine.until(job_id, JobState.FAILED)
    assert job.failure_code == "timeout" and job.charged_seconds == 0


async def test_cancel_queued_job_never_reaches_provider(make_engine, fake) -> None:  # type: ignore[no-untyped-def]
    engine = await make_engine()
    job_id = await engine.add()
    cancelled = await engine.services.jobs.cancel(job_id, actor_id=1, actor_is_admin=False)
    assert cancelled.state is JobState.CANCELLED
    await engine.services.runner.start()
    await asyncio.sleep(0.1)
    assert fake.submits() == []
    assert (await engine.services.quota.usage(Requester(1, 10))).used_today == 0


async def test_cancel_processing_job_stops_polling(make_engine, fake) -> None:  # type: ignore[no-untyped-def]
    fake.generation_seconds = 30
    engine = await make_engine()
    job_id = await engine.add()
    await engine.services.runner.start()
    await engine.until(job_id, JobState.PROCESSING)
    await engine.services.jobs.cancel(job_id, actor_id=1, actor_is_admin=False)
    await asyncio.sleep(0.05)
    polls = len(fake.fetches())
    await asyncio.sleep(0.2)
    assert len(fake.fetches()) <= polls + 1  # at most one poll that was already in flight
    job = await engine.job(job_id)
    assert job.state is JobState.CANCELLED and job.charged_seconds == 0


async def test_delivery_retried_when_notifier_raises(make_engine) -> None:  # type: ignore[no-untyped-def]
    notifier = RecordingNotifier(fail_deliveries=2)
    engine = await make_engine(notifier=notifier)
    job_id = await engine.add()
    await engine.services.runner.start()
    job = await engine.until(job_id, JobState.SUCCEEDED)
    assert len(notifier.delivered) == 1 and job.charged_seconds == 5.0


async def test_undelivered_clip_is_not_charged(make_engine) -> None:  # type: ignore[no-untyped-def]
    from services.notifier import DeliveryReceipt

    notifier = RecordingNotifier(receipt=DeliveryReceipt("undelivered", None, delivered=False))
    engine = await make_engine(notifier=notifier)
    job_id = await engine.add()
    await engine.services.runner.start()
    job = await engine.until(job_id, JobState.SUCCEEDED)
    assert job.charged_seconds == 0 and job.delivery == "undelivered"


# --- restarts ---------------------------------------------------------------------------------


async def test_resume_every_state_after_abrupt_stop(make_engine, fake, stores) -> None:  # type: ignore[no-untyped-def]
    """Jobs left queued, submitting, processing and delivering by a dead process are each
    finished by the next one, with no double submit and no double delivery."""
    first_db = await stores.open()
    engine = await make_engine(database=first_db)
    jobs = JobsRepository(first_db)
    now = time.time()

    queued = await engine.add(user_id=1)
    submitting = await engine.add(user_id=2)
    await jobs.transition(submitting, JobState.QUEUED, JobState.SUBMITTING, now, attempts=1)

    # A job the provider accepted before the crash.
    processing = await engine.add(user_id=3)
    accepted = await engine.services.client.submit_motion_control(_request())
    await walk_to(
        jobs,
        processing,
        JobState.PROCESSING,
        now,
        provider_job_id=accepted.job_id,
        next_attempt_at=now,
        deadline_at=now + 60,
    )
    # A job whose clip was downloaded and was being posted.
    delivering = await engine.add(user_id=4)
    await walk_to(
        jobs,
        delivering,
        JobState.DELIVERING,
        now,
        provider_job_id="999",
        result_url="http://127.0.0.1/x.mp4",
        next_attempt_at=now,
    )
    await first_db.close()
    submits_before = len(fake.submits())

    second_db = await stores.open()
    try:
        restarted = await make_engine(database=second_db)
        await restarted.services.runner.start()
        await restarted.all_done([queued, submitting, processing, delivering])
        assert (await restarted.job(submitting)).failure_code == "submit_outcome_unknown"
        assert (await restarted.job(submitting)).charged_seconds == 0
        for job_id in (queued, processing, delivering):
            assert await restarted.state(job_id) is JobState.SUCCEEDED
        # Only the queued job was submitted again; the submitting one was not retried blindly.
        assert len(fake.submits()) == submits_before + 1
        delivered = [jid for jid, _ in restarted.notifier.delivered]
        assert sorted(delivered) == sorted([queued, processing, delivering])

        # A third start finds nothing to do: nothing is submitted or delivered twice.
        await restarted.services.runner.stop()
        third = await make_engine(database=second_db)
        await third.services.runner.start()
        await asyncio.sleep(0.1)
        assert third.notifier.delivered == []
        assert len(fake.submits()) == submits_before + 1
        await third.services.runner.stop()
    finally:
        await second_db.close()


async def test_stop_mid_processing_then_resume(make_engine, fake, stores) -> None:  # type: ignore[no-untyped-def]
    fake.generation_seconds = 0.3
    first_db = await stores.open()
    engine = await make_engine(database=first_db)
    job_id = await engine.add()
    await engine.services.runner.start()
    await engine.until(job_id, JobState.PROCESSING)
    await engine.services.runner.stop()  # abrupt: tasks cancelled mid-flight
    await first_db.close()

    second_db = await stores.open()
    try:
        again = await make_engine(database=second_db)
        await again.services.runner.start()
        await again.until(job_id, JobState.SUCCEEDED)
        assert len(fake.submits()) == 1
        assert len(again.notifier.delivered) == 1
        await again.services.runner.stop()
    finally:
        await second_db.close()


def _request():  # type: ignore[no-untyped-def]
    from services.modelslab import MotionControlRequest

    return MotionControlRequest(
        image_url="http://127.0.0.1/i.png",
        video_url="http://127.0.0.1/v.mp4",
        orientation="image",
        mode="std",
        prompt="p",
    )


async def test_stale_queued_job_expires_and_old_media_is_purged(
    make_engine, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    engine = await make_engine(queue_max_wait_seconds=60.0, media_retention_hours=1.0)
    settings = engine.services.settings
    folder = settings.media_dir / "req-abc"
    folder.mkdir(parents=True)
    image, video = folder / "image.png", folder / "video.mp4"
    image.write_bytes(b"i")
    video.write_bytes(b"v")
    old = time.time() - 2 * 3600
    stale = await engine.add(created_at=old, image_path=str(image), video_path=str(video))
    # Claim the global pause so nothing is dispatched: only housekeeping acts.
    from db.policy import PolicyRepository
    from services.quota import STATE_GLOBAL_PAUSED

    await PolicyRepository(engine.db).set_state(STATE_GLOBAL_PAUSED, "1", time.time())
    await engine.services.runner.start()
    job = await engine.until(stale, JobState.FAILED)
    assert job.failure_code == "expired_in_queue"
    # Finished two hours "ago" by the clock of the next sweep: its files go.
    await JobsRepository(engine.db).update(stale, JobState.FAILED, finished_at=old)
    await engine.services.runner.stop()
    await engine.services.runner.start()

    async def purged() -> bool:
        return (await engine.job(stale)).media_purged_at is not None

    await wait_for(purged)
    assert not image.exists() and not video.exists() and not folder.exists()


async def test_job_without_a_usable_eta_is_polled_from_the_minimum(make_engine, fake) -> None:  # type: ignore[no-untyped-def]
    engine = await make_engine()
    fake.queue_next(FakeJobSpec(eta="soon"))  # not a number: the client reports no eta
    job_id = await engine.add()
    await engine.services.runner.start()
    job = await engine.until(job_id, JobState.SUCCEEDED)
    assert job.provider_eta is None


async def test_loop_sleeps_while_a_slow_poll_is_in_flight(make_engine, fake) -> None:  # type: ignore[no-untyped-def]
    """A poll that takes a while must not make the loop spin on its stale due time."""
    engine = await make_engine(poll_interval_min_seconds=0.5, poll_interval_max_seconds=1.0)
    fake.script_faults("fetch", ["slow:0.3"])
    job_id = await engine.add()
    runner = engine.services.runner
    ticks = 0
    original = runner._tick

    async def counting(*args: Any) -> None:
        nonlocal ticks
        ticks += 1
        await original(*args)

    runner._tick = counting  # type: ignore[method-assign]
    await runner.start()
    await engine.until(job_id, JobState.PROCESSING)

    async def polling() -> bool:
        return runner.is_working_on(job_id)

    await wait_for(polling)
    before = ticks
    await asyncio.sleep(0.2)  # inside the slow poll
    assert ticks - before <= 3


async def test_a_crashing_step_backs_off_and_the_job_still_finishes(make_engine, fake) -> None:  # type: ignore[no-untyped-def]
    engine = await make_engine()
    runner = engine.services.runner
    steps = runner._steps
    original = steps.poll
    crashes = 0
    attempts: list[float] = []

    async def buggy(job: Job) -> Any:
        nonlocal crashes
        attempts.append(time.time())
        if crashes < 2:
            crashes += 1
            raise RuntimeError("a bug")
        return await original(job)

    steps.poll = buggy  # type: ignore[method-assign]
    job_id = await engine.add()
    await runner.start()
    await engine.until(job_id, JobState.SUCCEEDED)
    assert crashes == 2
    # Each crash pushed the next poll back by the maximum interval instead of retrying at once.
    first, second, third = attempts[:3]
    max_interval = engine.services.settings.poll_interval_max_seconds
    assert second - first >= max_interval * 0.9
    assert third - second >= max_interval * 0.9
