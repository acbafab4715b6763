"""The provider gate under the race that flooded ModelsLab: a refused key or a full queue must stop
every submit at once. Each scenario runs 50 times in the test itself, against the fake ModelsLab
server and a fresh SQLite file, with one frozen clock shared by the runner and the fake, so "no
submit inside the hold" and "one probe per interval" are exact, not timing guesses."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from db.connection import Database
from db.jobs import JobsRepository
from db.stores import open_database
from domain import JobState
from services.app import Services, build_services
from services.quota import Requester
from services.runner.gate import Permit, ProviderGate
from settings import Settings
from tests.clock import FakeClock
from tests.fakes.modelslab_server import FakeModelsLab
from tests.fakes.notifier import RecordingNotifier
from tests.helpers import new_job

REPEATS = 50
PAUSE = 30.0  # OPERATOR_PAUSE_SECONDS on the frozen clock
SETTLE = 0.01  # real seconds the loop gets to misbehave after it has gone quiet


@dataclass
class Run:
    services: Services
    db: Database
    fake: FakeModelsLab
    clock: FakeClock
    notifier: RecordingNotifier
    tag: str

    @property
    def runner(self) -> Any:
        return self.services.runner

    def submits(self) -> list[Any]:
        mine = str.startswith
        return [r for r in self.fake.submits() if mine(str(r.json.get("prompt")), self.tag)]

    def is_paused(self) -> bool:
        return bool(self.runner.paused_reason == "invalid_key")

    def was_refused_for_room(self) -> bool:
        return any(r.status == 429 for r in self.submits())

    def submitted(self, count: int) -> Callable[[], bool]:
        return partial(self._has_submits, count)

    def _has_submits(self, count: int) -> bool:
        return len(self.submits()) >= count

    async def add(self, count: int) -> list[int]:
        ids = []
        for i in range(count):
            job = new_job(user_id=i % 7, prompt=f"{self.tag}-{i}", created_at=self.clock())
            ids.append(await self.services.quota.enqueue(job, Requester(i % 7, job.guild_id)))
        return ids

    async def states(self, ids: list[int]) -> list[JobState]:
        repo = JobsRepository(self.db)
        return [job.state for i in ids if (job := await repo.get(i)) is not None]

    async def quiet(
        self, ids: list[int], until: Callable[[], bool] = lambda: True, settle: float = SETTLE
    ) -> None:
        """Wait until `until()` holds and no step of these jobs runs, then `settle` longer."""
        deadline = asyncio.get_running_loop().time() + 5
        while not until() or any(map(self.runner.is_working_on, ids)):
            assert asyncio.get_running_loop().time() < deadline, "runner never went quiet"
            await asyncio.sleep(0.002)
        await asyncio.sleep(settle)

    async def step(
        self,
        seconds: float,
        ids: list[int],
        until: Callable[[], bool] = lambda: True,
        settle: float = SETTLE,
    ) -> None:
        """Move the clock, wake the runner, and wait for what must follow (then a little more)."""
        self.clock.advance(seconds)
        self.runner.wake()
        await asyncio.sleep(0)
        await self.quiet(ids, until, settle)


@pytest.fixture
async def make_run(
    tmp_path: Path,
    fake: FakeModelsLab,
    session: aiohttp.ClientSession,
    make_settings: Callable[..., Settings],
) -> AsyncIterator[Callable[..., Awaitable[Run]]]:
    runs: list[Run] = []
    clock = FakeClock()
    fake.time_func = clock
    origin = fake.origin

    async def make(rep: int, **overrides: Any) -> Run:
        db = await open_database(tmp_path / f"rep-{rep}.db")
        settings = make_settings(
            modelslab_base_url=fake.base_url,
            media_host_allowlist=(origin,),
            operator_pause_seconds=PAUSE,
            poll_interval_min_seconds=1.0,
            poll_interval_max_seconds=5.0,
            job_timeout_seconds=10_000.0,
            queue_max_wait_seconds=100_000.0,
            quota_max_active_jobs=50,
            quota_daily_seconds=10_000,
            quota_monthly_seconds=100_000,
            **overrides,
        )
        notifier = RecordingNotifier()
        services = build_services(
            settings=settings,
            db=db,
            session=session,
            notifier=notifier,
            alert_sender=notifier,
            clock=clock,
        )
        run = Run(services, db, fake, clock, notifier, tag=f"rep{rep}")
        runs.append(run)
        return run

    yield make
    for run in runs:
        await run.runner.stop()
        await run.db.close()


async def _finish(run: Run) -> None:
    await run.runner.stop()
    await run.db.close()


@pytest.mark.parametrize("queued", [1, 3, 20])
async def test_refused_key_one_submit_per_job_then_one_probe_per_interval(
    make_run: Callable[..., Awaitable[Run]],
    fake: FakeModelsLab,
    queued: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake.api_key = "revoked"
    for rep in range(REPEATS):
        caplog.clear()
        run = await make_run(rep)
        ids = await run.add(queued)
        await run.runner.start()
        await run.quiet(ids, run.is_paused)

        burst = run.submits()
        per_job = Counter(r.json["prompt"] for r in burst)
        assert max(per_job.values()) == 1, f"rep {rep}: a job was submitted twice: {per_job}"
        assert len(burst) <= min(queued, run.services.settings.max_concurrent_jobs)

        # Inside the pause interval nothing goes out, however often the loop wakes.
        for _ in range(2):
            await run.step(PAUSE / 3, ids)
        assert len(run.submits()) == len(burst), f"rep {rep}: submitted inside the pause"

        # Each interval that passes lets exactly one probe through.
        for interval in (1, 2):
            expected = len(burst) + interval
            await run.step(PAUSE, ids, run.submitted(expected))
            assert len(run.submits()) == len(burst) + interval, f"rep {rep}, probe {interval}"
        assert set(await run.states(ids)) == {JobState.QUEUED}, "jobs wait, never fail"
        alerts = run.notifier.alerts_about("New jobs are paused")
        assert len(alerts) == 1, f"rep {rep}: {alerts}"
        refusals = [r for r in caplog.records if "dispatching paused" in r.getMessage()]
        assert len(refusals) == 1, f"rep {rep}: the refusal was logged {len(refusals)} times"
        await _finish(run)


async def test_resume_sends_exactly_one_probe(
    make_run: Callable[..., Awaitable[Run]], fake: FakeModelsLab
) -> None:
    fake.api_key = "revoked"
    for rep in range(REPEATS):
        run = await make_run(rep)
        ids = await run.add(3)
        await run.runner.start()
        await run.quiet(ids, run.is_paused)
        before = len(run.submits())

        run.runner.resume_provider()  # /animate-owner resume, pressed twice in a hurry
        run.runner.resume_provider()
        await run.quiet(ids, run.submitted(before + 1))
        assert len(run.submits()) == before + 1, f"rep {rep}"
        assert run.runner.paused_reason == "invalid_key"  # the key is still refused
        await _finish(run)

    # Once the operator has fixed the key, a resume's probe reopens the queue for everyone.
    run = await make_run(REPEATS)
    ids = await run.add(3)
    await run.runner.start()
    await run.quiet(ids, run.is_paused)
    fake.api_key = "test-key"
    run.runner.resume_provider()
    for _ in range(40):
        if set(await run.states(ids)) == {JobState.SUCCEEDED}:
            break
        await run.step(1.0, ids)
    assert set(await run.states(ids)) == {JobState.SUCCEEDED}
    assert run.runner.paused_reason is None


async def test_no_submit_inside_a_429_hold_then_only_as_the_queue_frees(
    make_run: Callable[..., Awaitable[Run]], fake: FakeModelsLab
) -> None:
    hold = 20.0
    fake.queue_limit = 2
    fake.generation_seconds = 60.0
    fake.rate_limit_retry_after = hold
    for rep in range(REPEATS):
        run = await make_run(rep)
        ids = await run.add(5)
        await run.runner.start()
        await run.quiet(ids, run.was_refused_for_room)
        burst = len(run.submits())
        assert burst <= 5

        await run.step(hold - 1, ids)  # still inside the hold
        assert len(run.submits()) == burst, f"rep {rep}: submitted inside the hold"
        await run.step(2, ids)  # the hold is over, but the provider's queue is still full
        assert len(run.submits()) == burst, f"rep {rep}: submitted into a full queue"

        for _ in range(200):  # let the fake finish jobs; the rest follow as room frees up
            if set(await run.states(ids)) == {JobState.SUCCEEDED}:
                break
            await run.step(hold / 2, ids, settle=0.002)
        assert set(await run.states(ids)) == {JobState.SUCCEEDED}, f"rep {rep}"

        records = run.submits()
        for refused in (r for r in records if r.status == 429):
            inside = [r for r in records if refused.at < r.at < refused.at + hold]
            assert not inside, f"rep {rep}: {len(inside)} submit(s) inside a hold"
        assert fake.max_concurrent_seen <= 2
        await _finish(run)


def test_gate_permits_in_order() -> None:
    """The gate's own rules, without the runner: what each answer does to the next permit."""
    clock = FakeClock()
    gate = ProviderGate(clock=clock, pause_seconds=10, max_in_flight=3)
    assert gate.acquire(0) == Permit() and gate.acquire(2) == Permit()
    assert gate.acquire(3) is None  # the cap

    assert gate.refused_by_operator_failure("invalid_key") is True
    assert gate.refused_by_operator_failure("invalid_key") is False  # one pause, one alert
    assert gate.acquire(0) is None
    clock.advance(10)
    probe = gate.acquire(0)
    assert probe == Permit(probe=True) and gate.admits(probe)
    assert gate.acquire(0) is None  # one probe at a time
    gate.accepted(probe)
    assert gate.paused_reason is None and gate.acquire(0) == Permit()

    gate.queue_full(5)
    gate.learn_room(1)
    assert gate.acquire(0) is None and gate.next_change_at() == clock() + 5
    clock.advance(5)
    assert gate.acquire(1) is None  # the provider had room for one of ours
    permit = gate.acquire(0)
    assert permit is not None
    gate.accepted(permit)  # room grows by one per accepted submit, back to the cap
    assert gate.acquire(1) is not None and gate.acquire(2) is None
