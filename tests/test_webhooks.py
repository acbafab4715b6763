"""ModelsLab webhooks end to end: the fake provider calls the bot's real HTTP endpoint; the engine
runs on a real SQLite file. A webhook only ever prompts a fetch; forged ones change nothing."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from db.connection import Database
from db.jobs import JobsRepository
from domain import FailureCode, Job, JobState
from services.app import Services, build_services
from services.http_api import HttpApi
from services.quota import Requester
from services.runner.poll_plan import Bounds, fallback_offsets
from services.runner.steps import WEBHOOK_PATH
from settings import Settings
from tests.fakes.modelslab_server import FakeModelsLab
from tests.fakes.notifier import RecordingNotifier
from tests.helpers import new_job
from tests.test_runner import engine_settings, wait_for


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Hooked:
    services: Services
    db: Database
    notifier: RecordingNotifier
    base: str  # the bot's public base URL (the HTTP endpoint)

    async def add(self, user_id: int = 1, **overrides: Any) -> int:
        job = new_job(user_id=user_id, **{"created_at": time.time(), **overrides})
        return await self.services.quota.enqueue(job, Requester(user_id, job.guild_id))

    async def job(self, job_id: int) -> Job:
        job = await JobsRepository(self.db).get(job_id)
        assert job is not None
        return job

    async def until(self, job_id: int, *states: JobState, within: float = 5.0) -> Job:
        async def reached() -> bool:
            runner = self.services.runner
            return (await self.job(job_id)).state in states and not runner.is_working_on(job_id)

        await wait_for(reached, within)
        return await self.job(job_id)


@pytest.fixture
async def make_hooked(
    db: Database,
    fake: FakeModelsLab,
    session: aiohttp.ClientSession,
    make_settings: Callable[..., Settings],
) -> AsyncIterator[Callable[..., Awaitable[Hooked]]]:
    made: list[tuple[Services, HttpApi]] = []

    async def make(**kw: Any) -> Hooked:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        settings = engine_settings(
            make_settings,
            fake,
            **{"quota_max_active_jobs": 50, "http_port": port, "public_base_url": base, **kw},
        )
        notifier = RecordingNotifier()
        services = build_services(
            settings=settings, db=db, session=session, notifier=notifier, alert_sender=notifier
        )
        api = HttpApi(
            host="127.0.0.1",
            port=port,
            checks={},
            metrics=services.metrics.render,
            webhooks=services.webhooks,
        )
        await api.start()
        made.append((services, api))
        return Hooked(services, db, notifier, base)

    yield make
    for services, api in made:
        await services.runner.stop()
        await api.stop()


async def test_submit_carries_webhook_and_track_id_and_the_webhook_fetches_at_once(
    make_hooked: Callable[..., Awaitable[Hooked]],
    fake: FakeModelsLab,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    # As bot.py sets it up: aiosqlite logs SQL parameters at DEBUG, so it never goes below INFO.
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
    # Polls at most every 2 s (the first after 1 s); the clip is ready after 0.2 s.
    hooked = await make_hooked(poll_interval_min_seconds=1.0, poll_interval_max_seconds=2.0)
    fake.generation_seconds = 0.2
    fake.send_webhooks = True
    job_id = await hooked.add()
    await hooked.services.runner.start()
    job = await hooked.until(job_id, JobState.SUCCEEDED, within=3.0)

    assert job.webhook_secret is not None and len(job.webhook_secret) >= 32
    (submit,) = fake.submits()
    assert submit.json["webhook"] == f"{hooked.base}{WEBHOOK_PATH}{job.webhook_secret}"
    assert submit.json["track_id"] == str(job_id)
    assert fake.webhook_calls == [(int(job.provider_job_id or 0), 200)]
    # Fetched when the webhook came, long before the first planned poll (1 s after acceptance).
    assert job.processing_at is not None and job.finished_at is not None
    assert job.finished_at - job.processing_at < 0.8
    assert len(fake.fetches()) == 1
    assert job.webhook_at is not None and job.ready_at is not None
    assert job.charged_seconds == job.cost_seconds
    # The secret is never logged, nor shown in the job's repr.
    assert all(job.webhook_secret not in r.getMessage() for r in caplog.records)
    assert job.webhook_secret not in repr(job)


async def test_forged_webhooks_change_nothing(
    make_hooked: Callable[..., Awaitable[Hooked]],
    fake: FakeModelsLab,
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    hooked = await make_hooked(poll_interval_min_seconds=2.0, poll_interval_max_seconds=4.0)
    fake.generation_seconds = 30.0  # still generating for the whole test
    job_id = await hooked.add()
    await hooked.services.runner.start()
    before = await hooked.until(job_id, JobState.PROCESSING)
    assert before.webhook_secret is not None
    claim = {"status": "success", "output": ["https://evil.example/x.mp4"], "track_id": job_id}
    hook = f"{hooked.base}{WEBHOOK_PATH}"

    # A wrong secret, a secret no job has, and a right secret with another job's track_id: 404.
    forged = [
        (hook + "not-the-secret-but-long-enough", claim),
        (hook + "x" * 32, claim),
        (hook + before.webhook_secret, {**claim, "track_id": job_id + 1}),
    ]
    for url, body in forged:
        async with session.post(url, json=body) as resp:
            assert resp.status == 404
    after = await hooked.job(job_id)
    assert after == before
    assert after.webhook_at is None
    assert not any(before.webhook_secret in r.getMessage() for r in caplog.records)
    assert "unknown secret" in caplog.text

    # The right secret with a body claiming success only prompts a fetch; ModelsLab says it is
    # still processing, so the job stays as it was (no result, nothing charged).
    fetches = len(fake.fetches())
    async with session.post(hook + before.webhook_secret, json=claim) as resp:
        assert resp.status == 200
    await wait_for(lambda: _async(len(fake.fetches()) > fetches))
    await hooked.until(job_id, JobState.PROCESSING)
    prompted = await hooked.job(job_id)
    assert prompted.result_url is None and prompted.ready_at is None
    assert prompted.charged_seconds == 0 and prompted.state is JobState.PROCESSING
    assert hooked.notifier.delivered == []


async def test_duplicate_webhooks_are_harmless(
    make_hooked: Callable[..., Awaitable[Hooked]], fake: FakeModelsLab
) -> None:
    hooked = await make_hooked(poll_interval_min_seconds=1.0, poll_interval_max_seconds=2.0)
    fake.generation_seconds = 0.1
    job_id = await hooked.add()
    await hooked.services.runner.start()
    job = await hooked.until(job_id, JobState.PROCESSING)
    await wait_for(lambda: _async(fake.processing_count() == 0))
    provider_id = job.provider_job_id or ""
    statuses = [await fake.send_webhook(provider_id) for _ in range(4)]
    done = await hooked.until(job_id, JobState.SUCCEEDED, within=3.0)
    statuses.append(await fake.send_webhook(provider_id))  # after delivery
    assert statuses == [200] * 5
    assert len(hooked.notifier.delivered) == 1
    assert done.charged_seconds == done.cost_seconds
    assert len(fake.fetches()) <= 2


async def test_webhook_adopts_a_job_whose_submit_outcome_was_unknown(
    make_hooked: Callable[..., Awaitable[Hooked]], fake: FakeModelsLab
) -> None:
    hooked = await make_hooked(submit_timeout_seconds=0.2)
    fake.generation_seconds = 0.1
    fake.script_faults("submit", ["slow:0.4"])  # the answer is lost, but the job is created
    job_id = await hooked.add()
    await hooked.services.runner.start()
    failed = await hooked.until(job_id, JobState.FAILED)
    assert failed.failure_code is FailureCode.SUBMIT_OUTCOME_UNKNOWN
    await wait_for(lambda: _async(len(fake.jobs) == 1))
    (provider_job,) = fake.jobs.values()
    assert provider_job.track_id == str(job_id)

    # While the provider job still runs, a webhook adopts nothing (the fetch says processing).
    assert await fake.send_webhook(provider_job.id) == 200
    await hooked.until(job_id, JobState.FAILED)
    await wait_for(lambda: _async(fake.processing_count() == 0))
    assert await fake.send_webhook(provider_job.id) == 200
    adopted = await hooked.until(job_id, JobState.SUCCEEDED)
    assert adopted.provider_job_id == str(provider_job.id)
    assert adopted.charged_seconds == 0 and adopted.cost_seconds == 0
    assert adopted.failure_code is None
    ((delivered_id, clip),) = hooked.notifier.delivered
    assert delivered_id == job_id and clip.path is not None
    assert clip.path.read_bytes() == fake.clip_bytes
    # Once adopted, another webhook does nothing more.
    assert await fake.send_webhook(provider_job.id) == 200
    assert len(hooked.notifier.delivered) == 1
    assert len(fake.submits()) == 1
    # The member heard of the failure first, then got the clip; never charged.
    assert [k for k in hooked.notifier.kinds(job_id) if k != "queued"] == ["failed", "succeeded"]


async def test_adoption_needs_the_track_id_and_an_unclaimed_provider_job(
    make_hooked: Callable[..., Awaitable[Hooked]], fake: FakeModelsLab
) -> None:
    hooked = await make_hooked(submit_timeout_seconds=0.2)
    fake.generation_seconds = 0.05
    other = await hooked.add(user_id=2)
    await hooked.services.runner.start()
    other_job = await hooked.until(other, JobState.SUCCEEDED)
    fake.script_faults("submit", ["slow:0.4"])
    job_id = await hooked.add()
    failed = await hooked.until(job_id, JobState.FAILED)
    secret = failed.webhook_secret or ""
    url = f"{hooked.base}{WEBHOOK_PATH}{secret}"
    # No track_id: nothing to adopt. Another job's provider id: refused.
    ready = {"status": "success", "id": other_job.provider_job_id}
    assert await fake.send_webhook(0, body=ready, url=url) == 200
    assert await fake.send_webhook(0, body={**ready, "track_id": job_id}, url=url) == 200
    await hooked.until(job_id, JobState.FAILED)
    still = await hooked.job(job_id)
    assert (
        still.provider_job_id is None and still.failure_code is FailureCode.SUBMIT_OUTCOME_UNKNOWN
    )
    assert [d for d, _ in hooked.notifier.delivered] == [other]


async def test_polls_become_sparse_while_webhooks_arrive(
    make_hooked: Callable[..., Awaitable[Hooked]], fake: FakeModelsLab
) -> None:
    hooked = await make_hooked(poll_interval_min_seconds=0.01, poll_interval_max_seconds=0.2)
    fake.generation_seconds = 0.05
    fake.send_webhooks = True
    ids = [await hooked.add(user_id=u % 3) for u in range(6)]
    await hooked.services.runner.start()
    for job_id in ids:
        await hooked.until(job_id, JobState.SUCCEEDED)
    # Every clip was announced by its webhook; the next job's polls are the sparse fallback.
    late = await hooked.job(ids[-1])
    plan = await hooked.services.runner._schedule.plan_for(late)
    assert plan.offsets == tuple(fallback_offsets(Bounds(0.01, 0.2), 0.0)) == (0.8,)
    for job_id in ids:
        assert (await hooked.job(job_id)).webhook_at is not None


async def _async(value: bool) -> bool:
    return value


def test_webhook_bodies_are_read_defensively() -> None:
    from services.modelslab import parse_webhook

    notice = parse_webhook({"status": "Success", "id": 155, "track_id": 7})
    assert (notice.provider_job_id, notice.track_id, notice.status) == ("155", "7", "success")
    by_link = parse_webhook({"fetch_result": "https://x/api/v7/video-fusion/fetch/99"})
    assert by_link.provider_job_id == "99" and by_link.track_id is None
    for junk in (None, [], "text", {"track_id": {"a": 1}}):
        assert parse_webhook(junk).track_id is None
