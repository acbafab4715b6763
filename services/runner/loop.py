"""The job runner: one long-lived loop that submits queued jobs fairly, polls them, and delivers.

Every step is persisted before the next one starts, so a crash at any point is resumed from the
database. The rule for a crash during a submit call (state `submitting` at start-up): the job may
or may not exist at ModelsLab, and submitting again could bill the operator twice, so the job is
failed with code `submit_outcome_unknown`, the user's reservation is released (nothing charged),
the user is told and may press Retry, and the operator is alerted. A submit that times out or loses
its connection mid-call is treated the same way.

This module is the loop and its task registry; the pieces it drives live beside it: the provider
gate (gate.py), the steps (steps.py), the one writer of job rows (recorder.py) and housekeeping.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any

import aiohttp

from db.connection import Database
from db.jobs import JobsRepository
from db.motions import MotionsRepository
from db.policy import PolicyRepository
from db.poll_history import PollHistoryRepository
from domain import FailureCode, Job, JobState
from services.alerts import AlertService
from services.downloads import HostAllowlist
from services.links import LinkRefresher
from services.metrics import Metrics
from services.modelslab import ModelsLabClient
from services.notifier import Notifier
from services.quota import STATE_GLOBAL_PAUSED
from services.runner.gate import Permit, ProviderGate
from services.runner.housekeeping import Housekeeping
from services.runner.inputs import InputLinks
from services.runner.outcomes import (
    Accepted,
    Delivered,
    Failed,
    Fetched,
    Ready,
    Requeue,
    StillRunning,
)
from services.runner.recorder import JobRecorder
from services.runner.schedule import PollSchedule
from services.runner.steps import JobSteps
from settings import Settings

log = logging.getLogger(__name__)

# Stale-queue expiry, queue-position refresh and media retention run at most this often.
HOUSEKEEPING_MAX_SECONDS = 60.0
# Webhook prompts are remembered this long (to ignore floods and catch one racing a poll).
PROMPT_MEMORY = 600.0


class Runner:
    """Dispatch, poll and deliver. Start with `start()`, stop with `stop()`."""

    def __init__(
        self,
        *,
        db: Database,
        client: ModelsLabClient,
        notifier: Notifier,
        alerts: AlertService,
        settings: Settings,
        session: aiohttp.ClientSession,
        allowlist: HostAllowlist,
        metrics: Metrics,
        webhook_base: str | None = None,
        clock: Callable[[], float] = time.time,
        link_refresher: LinkRefresher | None = None,
    ) -> None:
        self._jobs = JobsRepository(db)
        self._policy = PolicyRepository(db)
        self._settings = settings
        self._clock = clock
        self._schedule = PollSchedule(
            history=PollHistoryRepository(db),
            settings=settings,
            clock=clock,
            webhooks_enabled=webhook_base is not None,
        )
        self._gate = ProviderGate(
            clock=clock,
            pause_seconds=settings.operator_pause_seconds,
            max_in_flight=settings.max_concurrent_jobs,
        )
        self._record = JobRecorder(
            jobs=self._jobs,
            notifier=notifier,
            alerts=alerts,
            settings=settings,
            schedule=self._schedule,
            metrics=metrics,
            webhooks=webhook_base is not None,
            clock=clock,
        )
        self._steps = JobSteps(
            client=client,
            gate=self._gate,
            notifier=notifier,
            alerts=alerts,
            settings=settings,
            session=session,
            allowlist=allowlist,
            globally_paused=self._globally_paused,
            ours_at_provider=self._jobs.count_at_provider,
            metrics=metrics,
            webhook_base=webhook_base,
            clock=clock,
            inputs=None
            if link_refresher is None
            else InputLinks(
                refresher=link_refresher,
                motions=MotionsRepository(db),
                settings=settings,
                clock=clock,
            ),
        )
        self._housekeeping = Housekeeping(jobs=self._jobs, recorder=self._record, settings=settings)
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._tasks: dict[int, asyncio.Task[None]] = {}  # job id -> its submit/poll/deliver task
        self._prompted: dict[int, float] = {}  # job id -> when a webhook last prompted a poll
        self._next_housekeeping = 0.0
        self._housekeeping_interval = min(
            max(settings.status_edit_interval_seconds, 0.5), HOUSEKEEPING_MAX_SECONDS
        )

    # --- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        """Resume unfinished work from the database and start the loop."""
        await self._housekeeping.recover()
        self._loop_task = asyncio.create_task(self._run(), name="job-runner")

    async def stop(self) -> None:
        """Stop at once. Whatever was in flight is resumed from the database on the next start."""
        tasks = [t for t in (self._loop_task, *self._tasks.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loop_task = None
        self._tasks.clear()

    def wake(self) -> None:
        """New work or a freed slot: look again now rather than at the next timer."""
        self._wake.set()

    def is_working_on(self, job_id: int) -> bool:
        """True while a step of this job (submit, poll, delivery, notices) is still running."""
        return job_id in self._tasks

    @property
    def is_running(self) -> bool:
        """Whether the loop is alive (for /healthz)."""
        return self._loop_task is not None and not self._loop_task.done()

    @property
    def paused_reason(self) -> str | None:
        return self._gate.paused_reason

    def resume_provider(self) -> None:
        """Operator says the provider problem is fixed: send one probe now. Its answer reopens
        the gate (and the queue follows) or renews the pause; the queue never goes out blind."""
        self._gate.probe_now()
        self.wake()

    async def cancel(self, job_id: int) -> bool:
        """Cancel a job that has not produced its clip yet. True if it was cancelled. A step in
        flight finishes harmlessly: its guarded updates find the job cancelled."""
        moved = await self._record.cancel(job_id)
        if moved:
            self.wake()
        return moved

    # --- webhooks --------------------------------------------------------------------------------
    async def prompt(self, job_id: int) -> bool:
        """A webhook says this job may be done: poll it now (what ModelsLab answers decides, not
        the webhook). Repeats within the minimum poll interval are ignored. True if prompted."""
        now = self._clock()
        if now - self._prompted.get(job_id, -math.inf) < self._settings.poll_interval_min_seconds:
            return False
        self._prompted = {j: t for j, t in self._prompted.items() if now - t < PROMPT_MEMORY}
        if not await self._jobs.prompt_poll(job_id, now):
            return False
        self._prompted[job_id] = now
        job = await self._jobs.get(job_id)
        if job is not None and job.state is JobState.PROCESSING and job_id not in self._tasks:
            self._spawn(job, self._poll(job))  # at once, not at the loop's next turn
        return True

    def adopt(self, job: Job, provider_job_id: str) -> bool:
        """A webhook names a job failed as submit_outcome_unknown: fetch that provider job and,
        if its clip is ready, deliver it free of charge (domain.ADOPTION). True if started."""
        if job.failure_code is not FailureCode.SUBMIT_OUTCOME_UNKNOWN or job.id in self._tasks:
            return False
        self._spawn(job, self._adopt(job, provider_job_id))
        return True

    async def _adopt(self, job: Job, provider_job_id: str) -> None:
        if await self._jobs.provider_job_taken(provider_job_id):
            log.warning("job %d: webhook names a provider job another job follows", job.id)
            return
        probe = replace(job, provider_job_id=provider_job_id, deadline_at=None)
        outcome = await self._steps.poll(probe)
        if not isinstance(outcome, Ready):
            log.info("job %d: provider job %s not ready for adoption", job.id, provider_job_id)
            return
        fetched = await self._steps.fetch_result(probe, outcome.url)
        if not isinstance(fetched, Fetched):
            fetched = Fetched(outcome.url, None, None)  # hand over the link
        delivering = await self._record.adopted(job, provider_job_id, fetched)
        if delivering is not None:
            await self._deliver(delivering, fetched.size)

    # --- the loop -------------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self._tick()
                delay = await self._next_delay()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("runner tick failed; retrying shortly")
                delay = self._settings.poll_interval_min_seconds
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=max(delay, 0.0))
            except TimeoutError:
                pass

    async def _tick(self) -> None:
        now = self._clock()
        if now >= self._next_housekeeping:
            self._next_housekeeping = now + self._housekeeping_interval
            await self._housekeeping.run(now)
        await self._dispatch(now)
        for job in await self._jobs.due_polls(now, exclude=tuple(self._tasks)):
            if job.id not in self._tasks:  # a webhook may have started its poll meanwhile
                self._spawn(job, self._poll(job))
        for job in await self._jobs.due_deliveries(now, exclude=tuple(self._tasks)):
            if job.id not in self._tasks:
                self._spawn(job, self._deliver(job))

    async def _next_delay(self) -> float:
        now = self._clock()
        candidates = [self._next_housekeeping - now]
        # Jobs with a step in flight wake the loop when that step ends.
        wake_at = await self._jobs.next_wake_at(exclude=tuple(self._tasks))
        if wake_at is not None:
            candidates.append(wake_at - now)
        gate_opens_at = self._gate.next_change_at()
        if gate_opens_at is not None:
            candidates.append(gate_opens_at - now)
        return max(min(candidates), 0.0)

    def _spawn(self, job: Job, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(self._guarded(job, work), name=f"job-{job.id}")
        self._tasks[job.id] = task
        task.add_done_callback(lambda t: self._task_done(job.id, t))

    async def _guarded(self, job: Job, work: Coroutine[Any, Any, None]) -> None:
        """Run one step; a bug in it is logged and the job backs off instead of being retried
        in a tight loop (or, mid-submit, failed under the unknown-outcome rule)."""
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("job %d: %s step crashed", job.id, job.state.value)
            await self._record.crashed(job)

    def _task_done(self, job_id: int, task: asyncio.Task[None]) -> None:
        if self._tasks.get(job_id) is task:
            del self._tasks[job_id]
        self.wake()

    # --- dispatch -------------------------------------------------------------------------------
    async def _dispatch(self, now: float) -> None:
        """Claim queued jobs while the gate gives permits. Each claim asks the gate again, since
        a submit spawned a moment ago may already have closed it."""
        while not await self._globally_paused():
            permit = self._gate.acquire(await self._jobs.count_at_provider())
            if permit is None:
                return
            if not await self._dispatch_one(now, permit):
                self._gate.release(permit)
                return
            if permit.probe:
                return

    async def _globally_paused(self) -> bool:
        return await self._policy.get_state(STATE_GLOBAL_PAUSED) == "1"

    async def _dispatch_one(self, now: float, permit: Permit) -> bool:
        job = await self._jobs.next_fair_queued(now)
        claimed = None if job is None else await self._record.claim(job)
        if claimed is None:
            return False
        self._spawn(claimed, self._submit(claimed, permit))
        return True

    # --- one job's steps ------------------------------------------------------------------------
    async def _submit(self, job: Job, permit: Permit) -> None:
        outcome = await self._steps.submit(job, permit)
        if isinstance(outcome, Accepted):
            await self._record.accepted(job, outcome)
        elif isinstance(outcome, Requeue):
            await self._record.requeue(job, outcome)
        else:
            await self._record.fail(job, JobState.SUBMITTING, outcome)

    async def _poll(self, job: Job) -> None:
        started = self._clock()
        outcome = await self._steps.poll(job)
        if isinstance(outcome, StillRunning):
            await self._record.still_running(job, outcome)
            if self._prompted.get(job.id, -math.inf) >= started:
                # A webhook came while this poll was out: its answer may predate the clip.
                await self._jobs.prompt_poll(job.id, self._clock())
        elif isinstance(outcome, Ready):
            await self._record.clip_ready(job, outcome.url)
            self.wake()  # the provider's slot is free for the next job while we download
            await self._fetch(job, outcome.url)
        elif isinstance(outcome, Failed):
            await self._record.fail(job, JobState.PROCESSING, outcome)
        else:
            await self._record.poll_later(job, outcome)

    async def _fetch(self, job: Job, url: str) -> None:
        outcome = await self._steps.fetch_result(job, url)
        if not isinstance(outcome, Fetched):
            await self._record.poll_later(job, outcome)
            return
        delivering = await self._record.fetched(job, outcome)
        if delivering is not None:
            await self._deliver(delivering, outcome.size)

    async def _deliver(self, job: Job, size: int | None = None) -> None:
        outcome = await self._steps.deliver(job, size)
        if isinstance(outcome, Delivered):
            await self._record.delivered(job, outcome)
        else:
            await self._record.deliver_later(job, outcome)
