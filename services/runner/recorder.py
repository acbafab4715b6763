"""The one writer of job rows while a job runs: turns each step's outcome into a guarded state
change, then tells the notifier, and stores the facts the notifier returns (a new status message).
Every write is one UPDATE guarded by the state the job is expected to be in, so a cancel or
another worker that got there first simply wins."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from db.jobs import JobChanges, JobsRepository
from domain import FailureCode, Job, JobState
from services.alerts import AlertService
from services.charges import charge_for
from services.coaching import advice_for
from services.metrics import Metrics
from services.notifier import Notifier, StatusPosted
from services.runner.outcomes import (
    Accepted,
    Delivered,
    DeliverLater,
    Failed,
    Fetched,
    PollLater,
    Requeue,
    StillRunning,
)
from services.runner.schedule import PollSchedule
from settings import Settings

log = logging.getLogger(__name__)


class JobRecorder:
    def __init__(
        self,
        *,
        jobs: JobsRepository,
        notifier: Notifier,
        alerts: AlertService,
        settings: Settings,
        schedule: PollSchedule,
        metrics: Metrics,
        webhooks: bool,
        clock: Callable[[], float],
    ) -> None:
        self._jobs = jobs
        self._notifier = notifier
        self._alerts = alerts
        self._settings = settings
        self._schedule = schedule
        self._metrics = metrics
        self._webhooks = webhooks
        self._clock = clock

    # --- submit ---------------------------------------------------------------------------------
    async def claim(self, job: Job) -> Job | None:
        """queued -> submitting, counting the attempt (and, with webhooks, giving the job the
        secret of its webhook URL); the claimed row, or None if another claim won."""
        now = self._clock()
        changes: JobChanges = {"attempts": job.attempts + 1}
        if self._webhooks and job.webhook_secret is None:
            changes["webhook_secret"] = secrets.token_urlsafe(24)
        moved = await self._jobs.transition(
            job.id, JobState.QUEUED, JobState.SUBMITTING, now, **changes
        )
        return (
            replace(job, state=JobState.SUBMITTING, submitting_at=now, **changes) if moved else None
        )

    async def requeue(self, job: Job, outcome: Requeue) -> None:
        changes: JobChanges = {"next_attempt_at": outcome.retry_at}
        if not outcome.count_attempt:
            changes["attempts"] = job.attempts - 1  # a refusal that was not the job's fault
        await self._jobs.transition(
            job.id, JobState.SUBMITTING, JobState.QUEUED, self._clock(), **changes
        )

    async def accepted(self, job: Job, outcome: Accepted) -> None:
        now = self._clock()
        started = replace(job, processing_at=now, provider_eta=outcome.eta)
        first_poll = await self._schedule.next_poll_at(started, now)
        moved = await self._jobs.transition(
            job.id,
            JobState.SUBMITTING,
            JobState.PROCESSING,
            now,
            provider_job_id=outcome.provider_job_id,
            provider_eta=outcome.eta,
            deadline_at=now + self._settings.job_timeout_seconds,
            next_attempt_at=first_poll,
            transient_errors=0,
        )
        if not moved:
            # Cancelled while the call was in flight: the provider runs it, the user pays nothing.
            log.info(
                "job %d: cancelled mid-submit (provider id %s)", job.id, outcome.provider_job_id
            )
            return
        log.info("job %d: accepted as provider job %s", job.id, outcome.provider_job_id)
        await self._notify_with_row(job.id, "started", self._notifier.job_started)

    # --- poll -----------------------------------------------------------------------------------
    async def still_running(self, job: Job, outcome: StillRunning) -> None:
        now = self._clock()
        polls = job.polls + 1
        eta = outcome.eta or job.provider_eta
        changes: JobChanges = {
            "polls": polls,
            "transient_errors": 0,
            "next_attempt_at": await self._schedule.next_poll_at(
                replace(job, provider_eta=eta), now, job.next_attempt_at
            ),
            "provider_eta": eta,
        }
        if not await self._jobs.update(job.id, JobState.PROCESSING, **changes):
            return  # cancelled meanwhile: nothing to report
        # The row is known without reading it back: this runs on every poll of every job.
        current = replace(job, **changes)
        elapsed = now - (job.processing_at or now)
        await self._store_fact(
            job.id, "progress", self._notifier.job_progress(current, elapsed, outcome.eta)
        )

    async def poll_later(self, job: Job, outcome: PollLater) -> None:
        errors = job.transient_errors
        if outcome.trouble is not None:
            errors += 1
            if errors > (outcome.limit or self._settings.transient_retry_limit):
                await self.fail(job, JobState.PROCESSING, Failed(outcome.code))
                return
            log.warning(
                "job %d: poll problem (%s); retry %d in %.1fs",
                job.id,
                outcome.trouble,
                errors,
                outcome.delay,
            )
        await self._jobs.update(
            job.id,
            JobState.PROCESSING,
            transient_errors=errors,
            polls=job.polls + 1,
            next_attempt_at=self._clock() + outcome.delay,
        )

    async def clip_ready(self, job: Job, url: str) -> None:
        """The provider is done: recorded at once, so its slot is free while we download. The
        time it was first seen ready joins the generation history the polls are planned from."""
        ready_at = job.ready_at or self._clock()
        await self._jobs.update(job.id, JobState.PROCESSING, result_url=url, ready_at=ready_at)
        self._schedule.clip_ready(job)

    async def fetched(self, job: Job, outcome: Fetched) -> Job | None:
        """processing -> delivering; the row to deliver, or None if the job moved meanwhile."""
        now = self._clock()
        moved = await self._jobs.transition(
            job.id,
            JobState.PROCESSING,
            JobState.DELIVERING,
            now,
            result_url=outcome.url,
            result_path=None if outcome.path is None else str(outcome.path),
            next_attempt_at=now,
            transient_errors=0,
        )
        return await self._jobs.get(job.id) if moved else None

    async def adopted(self, job: Job, provider_job_id: str, outcome: Fetched) -> Job | None:
        """domain.ADOPTION: failed (outcome unknown) -> delivering, free of charge; the row to
        deliver, or None if the job was not adoptable (any more)."""
        moved = await self._jobs.adopt(
            job.id,
            provider_job_id=provider_job_id,
            result_url=outcome.url,
            result_path=None if outcome.path is None else str(outcome.path),
            now=self._clock(),
        )
        if not moved:
            return None
        log.warning(
            "job %d: adopted provider job %s after its submit outcome was unknown; "
            "delivering it free of charge",
            job.id,
            provider_job_id,
        )
        return await self._jobs.get(job.id)

    # --- deliver --------------------------------------------------------------------------------
    async def delivered(self, job: Job, outcome: Delivered) -> None:
        receipt = outcome.receipt
        now = self._clock()
        # The user is charged only for a clip that reached them, and only for what arrived.
        charged = charge_for(
            job,
            outcome.clip_seconds,
            self._settings.pro_cost_multiplier,
            delivered=receipt.delivered,
        )
        moved = await self._jobs.transition(
            job.id,
            JobState.DELIVERING,
            JobState.SUCCEEDED,
            now,
            charged_seconds=charged,
            delivery=receipt.method,
            result_message_id=receipt.message_id,
            next_attempt_at=None,
        )
        if moved and receipt.delivered:
            self._metrics.clip_posted(job, now)
        log.info(
            "job %d: succeeded, delivered by %s; clip %s s, charged %g s of %g s reserved",
            job.id,
            receipt.method,
            "unknown" if outcome.clip_seconds is None else f"{outcome.clip_seconds:.2f}",
            charged,
            job.cost_seconds,
        )

    async def deliver_later(self, job: Job, outcome: DeliverLater) -> None:
        await self._jobs.update(
            job.id,
            JobState.DELIVERING,
            transient_errors=job.transient_errors + 1,
            next_attempt_at=self._clock() + outcome.delay,
        )

    # --- endings --------------------------------------------------------------------------------
    async def fail(self, job: Job, expected: JobState, outcome: Failed) -> None:
        """End the job without a clip. Its reservation is released by the state change."""
        moved = await self._jobs.transition(
            job.id,
            expected,
            JobState.FAILED,
            self._clock(),
            failure_code=outcome.code,
            failure_reason=outcome.detail,
            next_attempt_at=None,
        )
        if not moved:
            return
        # The provider's raw words go to the log; members see coaching (services/coaching.py).
        log.info(
            "job %d: failed (%s; advice %s): %s",
            job.id,
            outcome.code,
            advice_for(outcome.code, outcome.detail),
            outcome.detail,
        )
        if outcome.code is FailureCode.SUBMIT_OUTCOME_UNKNOWN:
            log.warning("job %d: submit outcome unknown; failed without resubmitting", job.id)
            await self._alerts.raise_alert(
                f"unknown-submit:{job.id}",
                f"Job {job.id}: the submit call's outcome is unknown (timeout or crash mid-call). "
                "It was not resubmitted; check the ModelsLab dashboard for a stray job.",
            )
        await self._notify_with_row(
            job.id, "failed", self._notifier.job_failed, outcome.code, outcome.detail, False
        )

    async def crashed(self, job: Job) -> None:
        """A step raised unexpectedly: back off instead of retrying in a tight loop."""
        if job.state is JobState.SUBMITTING:
            await self.fail(job, JobState.SUBMITTING, Failed(FailureCode.SUBMIT_OUTCOME_UNKNOWN))
            return
        await self._jobs.update(
            job.id,
            job.state,
            transient_errors=job.transient_errors + 1,
            next_attempt_at=self._clock() + self._settings.poll_interval_max_seconds,
        )

    async def cancel(self, job_id: int) -> bool:
        """Cancel a job that has not produced its clip yet. True if it was cancelled."""
        moved = await self._jobs.transition(
            job_id,
            (JobState.QUEUED, JobState.SUBMITTING, JobState.PROCESSING),
            JobState.CANCELLED,
            self._clock(),
            failure_code=FailureCode.CANCELLED,
            failure_reason=None,
            next_attempt_at=None,
        )
        if moved:
            log.info("job %d: cancelled", job_id)
        return moved

    async def queued_notice(self, job: Job, position: int) -> None:
        await self._store_fact(job.id, "queued", self._notifier.job_queued(job, position))

    # --- notices --------------------------------------------------------------------------------
    async def _notify_with_row(
        self, job_id: int, what: str, fn: Callable[..., Awaitable[Any]], *args: Any
    ) -> None:
        """Tell the notifier about a job, passing its current row; store what it reports."""
        job = await self._jobs.get(job_id)
        if job is not None:
            await self._store_fact(job_id, what, fn(job, *args))

    async def _store_fact(self, job_id: int, what: str, notice: Awaitable[Any]) -> None:
        """Await a notice; its trouble is logged, never allowed to break the engine. A status
        message it posted is stored on the job."""
        try:
            fact = await notice
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("job %d: %s notice failed", job_id, what)
            return
        if isinstance(fact, StatusPosted):
            await self._jobs.set_status_message(job_id, fact.message_id)
