"""The job runner: one long-lived loop that submits queued jobs fairly, polls them, and delivers.

Every step is persisted before the next one starts, so a crash at any point is resumed from the
database. The rule for a crash during a submit call (state `submitting` at start-up): the job may
or may not exist at ModelsLab, and submitting again could bill the operator twice, so the job is
failed with code `submit_outcome_unknown`, the user's reservation is released (nothing charged),
the user is told and may press Retry, and the operator is alerted. A submit that times out or loses
its connection mid-call is treated the same way.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp

from db.connection import Database
from db.jobs import ACTIVE_STATES, Job, JobsRepository, JobState
from db.policy import PolicyRepository
from services.downloads import (
    DownloadError,
    DownloadFailedError,
    HostAllowlist,
    download_to_file,
)
from services.modelslab import (
    InputError,
    ModelsLabClient,
    MotionControlRequest,
    OperatorError,
    OutcomeUnknownError,
    ProviderJob,
    ProviderState,
    RateLimitedError,
    TransientError,
)
from services.notifier import Clip, DeliveryReceipt, Notifier
from services.provider_gate import Permit, ProviderGate
from services.quota import STATE_GLOBAL_PAUSED
from settings import Settings

log = logging.getLogger(__name__)

# How many "success but no URL yet" answers we accept before giving up.
MAX_SUCCESS_WITHOUT_URL = 5
# Deliveries that raise unexpectedly are retried this many times.
MAX_DELIVERY_ATTEMPTS = 5
# Stale-queue expiry, queue-position refresh and media retention run at most this often.
HOUSEKEEPING_MAX_SECONDS = 60.0

OPERATOR_REASONS = {
    "invalid_key": "ModelsLab rejected the API key",
    "no_credits": "the ModelsLab account is out of credits",
    "forbidden": "the ModelsLab plan does not allow this feature",
}

FAILURE_TEXT = {
    "submit_outcome_unknown": (
        "The bot lost contact with ModelsLab while starting your job, so it was stopped rather "
        "than risk running it twice. Press Retry to try again."
    ),
    "timeout": "Generation took longer than {minutes:g} minutes and was stopped.",
    "provider_unreachable": "ModelsLab could not be reached for too long.",
    "no_output": "ModelsLab reported success but never provided the clip.",
    "expired_in_queue": (
        "Your job waited in the queue too long and its uploaded files expired. Run /animate again."
    ),
    "no_provider_id": "ModelsLab accepted the job but returned no id to follow it.",
}


class Runner:
    """Dispatch, poll and deliver. Start with `start()`, stop with `stop()`."""

    def __init__(
        self,
        *,
        db: Database,
        client: ModelsLabClient,
        notifier: Notifier,
        settings: Settings,
        session: aiohttp.ClientSession,
        allowlist: HostAllowlist,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = db
        self._jobs = JobsRepository(db)
        self._policy = PolicyRepository(db)
        self._client = client
        self._notifier = notifier
        self._settings = settings
        self._session = session
        self._allowlist = allowlist
        self._clock = clock
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._tasks: dict[int, asyncio.Task[None]] = {}  # job id -> its submit/poll/deliver task
        self._gate = ProviderGate(
            clock=clock,
            pause_seconds=settings.operator_pause_seconds,
            max_in_flight=settings.max_concurrent_jobs,
        )
        self._next_housekeeping = 0.0
        self._housekeeping_interval = min(
            max(settings.status_edit_interval_seconds, 0.5), HOUSEKEEPING_MAX_SECONDS
        )

    # --- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        """Resume unfinished work from the database and start the loop."""
        await self._recover()
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
    def paused_reason(self) -> str | None:
        return self._gate.paused_reason

    def resume_provider(self) -> None:
        """Operator says the provider problem is fixed: send one probe now. Its answer reopens
        the gate (and the queue follows) or renews the pause; the queue never goes out blind."""
        self._gate.probe_now()
        self.wake()

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
            await self._housekeeping(now)
        await self._dispatch(now)
        for job in await self._jobs.due_polls(now, exclude=tuple(self._tasks)):
            self._spawn(job, self._poll(job))
        for job in await self._due_deliveries(now):
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
            if job.state is JobState.SUBMITTING:
                await self._fail_unknown_outcome(job)
            else:
                await self._jobs.update(
                    job.id,
                    job.state,
                    transient_errors=job.transient_errors + 1,
                    next_attempt_at=self._clock() + self._settings.poll_interval_max_seconds,
                )

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
        if job is None:
            return False
        claimed = await self._jobs.transition(
            job.id, JobState.QUEUED, JobState.SUBMITTING, now, attempts=job.attempts + 1
        )
        if not claimed:
            return False
        claimed_job = replace(job, state=JobState.SUBMITTING, attempts=job.attempts + 1)
        self._spawn(claimed_job, self._submit(claimed_job, permit))
        return True

    async def _submit(self, job: Job, permit: Permit) -> None:
        request = MotionControlRequest(
            image_url=job.image_url,
            video_url=job.video_url,
            orientation=job.orientation,
            mode=job.mode,
            prompt=job.prompt,
        )
        # The gate is checked again at the moment of sending: another submit may have been
        # refused (pausing or holding) since this job was claimed. Nothing awaits between
        # this check and the call.
        globally_paused = await self._globally_paused()
        if globally_paused or not self._gate.admits(permit):
            self._gate.release(permit)
            await self._requeue(job, next_attempt_at=None, count_attempt=False)
            return
        log.info("job %d: submitting (attempt %d)", job.id, job.attempts)
        try:
            result = await self._client.submit_motion_control(request)
        except RateLimitedError as exc:
            wait = exc.retry_after or self._settings.poll_interval_max_seconds
            # Close the gate first, then put the job back: the loop must not pick it up again.
            self._gate.queue_full(wait)
            self._gate.learn_room(max(await self._jobs.count_at_provider() - 1, 0))
            log.info("job %d: provider queue full, holding submits for %.1fs", job.id, wait)
            await self._requeue(job, next_attempt_at=None, count_attempt=False)
        except OperatorError as exc:
            first = self._gate.refused_by_operator_failure(exc.reason)
            await self._requeue(job, next_attempt_at=None, count_attempt=False)
            if first:
                await self._announce_pause(exc.reason)
        except InputError as exc:
            self._gate.submit_ended(permit)
            await self._fail(job, JobState.SUBMITTING, "input", _input_text(exc.message))
        except OutcomeUnknownError:
            self._gate.submit_ended(permit)
            await self._fail_unknown_outcome(job)
        except TransientError as exc:
            self._gate.submit_ended(permit)
            if job.attempts >= self._settings.transient_retry_limit:
                await self._fail(
                    job,
                    JobState.SUBMITTING,
                    "provider_unreachable",
                    FAILURE_TEXT["provider_unreachable"],
                )
            else:
                delay = exc.retry_after or self._backoff(job.attempts)
                log.warning("job %d: submit failed (%s); retry in %.1fs", job.id, exc, delay)
                await self._requeue(job, next_attempt_at=self._clock() + delay)
        else:
            if permit.probe and self._gate.paused_reason is not None:
                log.info("provider accepted a job again; dispatching resumed")
            self._gate.accepted(permit)
            await self._accepted(job, result)

    async def _accepted(self, job: Job, result: ProviderJob) -> None:
        now = self._clock()
        if result.job_id is None:
            log.error("job %d: provider returned no job id", job.id)
            await self._fail(
                job, JobState.SUBMITTING, "no_provider_id", FAILURE_TEXT["no_provider_id"]
            )
            return
        first_poll = now + self._clamp(
            result.eta_seconds or self._settings.poll_interval_min_seconds
        )
        moved = await self._jobs.transition(
            job.id,
            JobState.SUBMITTING,
            JobState.PROCESSING,
            now,
            provider_job_id=result.job_id,
            provider_eta=result.eta_seconds,
            deadline_at=now + self._settings.job_timeout_seconds,
            next_attempt_at=first_poll,
            transient_errors=0,
        )
        if not moved:
            # Cancelled while the call was in flight: the provider runs it, the user pays nothing.
            log.info("job %d: cancelled during submit (provider id %s)", job.id, result.job_id)
            return
        log.info("job %d: accepted as provider job %s", job.id, result.job_id)
        await self._notify("started", job.id, self._notifier.job_started)

    async def _requeue(
        self, job: Job, next_attempt_at: float | None, count_attempt: bool = True
    ) -> None:
        values: dict[str, Any] = {"next_attempt_at": next_attempt_at}
        if not count_attempt:
            values["attempts"] = job.attempts - 1  # a refusal that was not the job's fault
        await self._jobs.transition(
            job.id, JobState.SUBMITTING, JobState.QUEUED, self._clock(), **values
        )

    async def _fail_unknown_outcome(self, job: Job) -> None:
        log.warning("job %d: submit outcome unknown; failing without resubmitting", job.id)
        await self._fail(
            job,
            JobState.SUBMITTING,
            "submit_outcome_unknown",
            FAILURE_TEXT["submit_outcome_unknown"],
        )
        await self._alert(
            f"unknown-submit:{job.id}",
            f"Job {job.id}: the submit call's outcome is unknown (timeout or crash mid-call). "
            "It was not resubmitted; check the ModelsLab dashboard for a stray job.",
        )

    # --- polling --------------------------------------------------------------------------------
    async def _poll(self, job: Job) -> None:
        now = self._clock()
        if job.deadline_at is not None and now >= job.deadline_at:
            minutes = self._settings.job_timeout_seconds / 60
            await self._fail(
                job, JobState.PROCESSING, "timeout", FAILURE_TEXT["timeout"].format(minutes=minutes)
            )
            return
        if job.provider_job_id is None:  # cannot happen through _accepted; be safe anyway
            await self._fail(
                job, JobState.PROCESSING, "no_provider_id", FAILURE_TEXT["no_provider_id"]
            )
            return
        try:
            result = await self._client.fetch(job.provider_job_id)
        except RateLimitedError as exc:
            await self._schedule_poll(
                job, exc.retry_after or self._settings.poll_interval_max_seconds
            )
        except OperatorError as exc:
            if self._gate.refused_by_operator_failure(exc.reason):
                await self._announce_pause(exc.reason)
            await self._schedule_poll(job, self._settings.poll_interval_max_seconds)
        except TransientError as exc:
            await self._poll_trouble(job, "provider_unreachable", str(exc))
        else:
            await self._handle_status(job, result)

    async def _handle_status(self, job: Job, result: ProviderJob) -> None:
        now = self._clock()
        if result.state is ProviderState.FAILED:
            reason = result.message or "no reason given"
            await self._fail(
                job,
                JobState.PROCESSING,
                "provider_failed",
                f"ModelsLab could not make it: {reason}",
            )
        elif result.state is ProviderState.SUCCESS and result.output_url:
            await self._download_result(job, result.output_url)
        elif result.state is ProviderState.SUCCESS:
            await self._poll_trouble(
                job, "no_output", "success without a clip URL", MAX_SUCCESS_WITHOUT_URL
            )
        else:
            polls = job.polls + 1
            changes: dict[str, Any] = {
                "polls": polls,
                "transient_errors": 0,
                "next_attempt_at": self._next_poll_at(job, polls, now),
                "provider_eta": result.eta_seconds or job.provider_eta,
            }
            if not await self._jobs.update(job.id, JobState.PROCESSING, **changes):
                return  # cancelled meanwhile: nothing to report
            # The row is known without reading it back: this runs on every poll of every job.
            elapsed = now - (job.processing_at or now)
            await _safely(
                f"job {job.id}: progress notice",
                self._notifier.job_progress(replace(job, **changes), elapsed, result.eta_seconds),
            )

    async def _poll_trouble(
        self, job: Job, code: str, detail: str, limit: int | None = None
    ) -> None:
        errors = job.transient_errors + 1
        if errors > (limit or self._settings.transient_retry_limit):
            await self._fail(job, JobState.PROCESSING, code, FAILURE_TEXT[code])
            return
        delay = self._backoff(errors)
        log.warning("job %d: poll problem (%s); retry %d in %.1fs", job.id, detail, errors, delay)
        await self._jobs.update(
            job.id,
            JobState.PROCESSING,
            transient_errors=errors,
            polls=job.polls + 1,
            next_attempt_at=self._clock() + delay,
        )

    async def _schedule_poll(self, job: Job, delay: float) -> None:
        await self._jobs.update(
            job.id, JobState.PROCESSING, polls=job.polls + 1, next_attempt_at=self._clock() + delay
        )

    def _next_poll_at(self, job: Job, polls: int, now: float) -> float:
        # From the planned time, not from now, so call latency does not add up over many polls.
        planned = (job.next_attempt_at or now) + self._poll_interval(job, polls)
        return max(planned, now)

    def _poll_interval(self, job: Job, polls: int) -> float:
        """After the first poll (near the eta), back off by doubling to the maximum."""
        first = self._clamp(job.provider_eta or self._settings.poll_interval_min_seconds)
        return self._clamp(first * 2 ** max(polls - 1, 0))

    def _clamp(self, seconds: float) -> float:
        s = self._settings
        return min(max(seconds, s.poll_interval_min_seconds), s.poll_interval_max_seconds)

    def _backoff(self, failures: int) -> float:
        """Exponential backoff with full jitter, between the poll interval bounds."""
        s = self._settings
        ceiling = min(s.poll_interval_max_seconds, s.poll_interval_min_seconds * 2**failures)
        low = s.poll_interval_min_seconds
        return random.uniform(low, max(ceiling, low))  # noqa: S311 - jitter, not security

    # --- delivery -------------------------------------------------------------------------------
    async def _download_result(self, job: Job, url: str) -> None:
        # The provider is done with this job: record it so its slot is free for the next one
        # while we download.
        await self._jobs.update(job.id, JobState.PROCESSING, result_url=url)
        self.wake()
        dest = self._settings.media_dir / f"job-{job.id}" / "result.mp4"
        path: Path | None = dest
        size: int | None = None
        await asyncio.to_thread(dest.parent.mkdir, parents=True, exist_ok=True)
        try:
            size = await download_to_file(
                self._session,
                url,
                dest,
                max_bytes=self._settings.max_clip_bytes,
                allowlist=self._allowlist,
            )
        except DownloadFailedError as exc:
            if exc.transient and job.transient_errors < self._settings.transient_retry_limit:
                await self._poll_trouble(job, "no_output", f"clip download failed: {exc}")
                return
            log.warning(
                "job %d: clip download failed for good (%s); delivering the link", job.id, exc
            )
            path = None
        except DownloadError as exc:
            # Too large or not an allowed host: the link is all we can hand over.
            log.warning("job %d: clip not downloaded (%s); delivering the link", job.id, exc)
            path = None
        moved = await self._jobs.transition(
            job.id,
            JobState.PROCESSING,
            JobState.DELIVERING,
            self._clock(),
            result_url=url,
            result_path=None if path is None else str(path),
            next_attempt_at=self._clock(),
            transient_errors=0,
        )
        if moved:
            fresh = await self._jobs.get(job.id)
            if fresh is not None:
                await self._deliver(fresh, size)

    async def _due_deliveries(self, now: float) -> list[Job]:
        jobs = await self._jobs.in_states(JobState.DELIVERING)
        return [
            j
            for j in jobs
            if j.id not in self._tasks and (j.next_attempt_at is None or j.next_attempt_at <= now)
        ]

    async def _deliver(self, job: Job, size: int | None = None) -> None:
        path = Path(job.result_path) if job.result_path else None
        if path is not None and size is None:
            size = await asyncio.to_thread(_file_size, path)
            if size is None:
                path = None
        clip = Clip(path=path, url=job.result_url, size_bytes=size)
        try:
            receipt = await self._notifier.job_succeeded(job, clip)
        except asyncio.CancelledError:
            raise
        except Exception:
            attempts = job.transient_errors + 1
            log.exception("job %d: delivery attempt %d raised", job.id, attempts)
            if attempts < MAX_DELIVERY_ATTEMPTS:
                await self._jobs.update(
                    job.id,
                    JobState.DELIVERING,
                    transient_errors=attempts,
                    next_attempt_at=self._clock() + self._backoff(attempts),
                )
                return
            receipt = DeliveryReceipt("undelivered", None, delivered=False)
        # The user is charged only for a clip that reached them.
        await self._jobs.transition(
            job.id,
            JobState.DELIVERING,
            JobState.SUCCEEDED,
            self._clock(),
            charged_seconds=job.cost_seconds if receipt.delivered else 0.0,
            delivery=receipt.method,
            result_message_id=receipt.message_id,
            next_attempt_at=None,
        )
        log.info("job %d: succeeded, delivered by %s", job.id, receipt.method)

    # --- failure, pause, housekeeping -----------------------------------------------------------
    async def _fail(self, job: Job, expected: JobState, code: str, reason: str) -> None:
        """End the job without a clip. Its reservation is released by the state change."""
        moved = await self._jobs.transition(
            job.id,
            expected,
            JobState.FAILED,
            self._clock(),
            failure_code=code,
            failure_reason=reason,
            next_attempt_at=None,
        )
        if not moved:
            return
        log.info("job %d: failed (%s)", job.id, code)
        await self._notify("failed", job.id, self._notifier.job_failed, code, reason, False)

    async def _announce_pause(self, reason: str) -> None:
        """Once per pause: one log line and one operator alert, however many submits bounce."""
        text = OPERATOR_REASONS.get(reason, reason)
        log.error("dispatching paused: %s", text)
        await self._alert(
            f"provider:{reason}:{int(self._clock())}",
            f"New jobs are paused because {text}. Queued jobs wait and nobody is charged. "
            f"The bot tries again every {self._settings.operator_pause_seconds:g} s, or "
            "resume it with /animate-owner resume once fixed.",
        )

    async def _alert(self, key: str, message: str) -> None:
        await _safely(f"operator alert {key}", self._notifier.operator_alert(key, message))

    async def _notify(self, what: str, job_id: int, fn: Callable[..., Any], *args: Any) -> None:
        """Tell the notifier about a job, passing its current row."""
        job = await self._jobs.get(job_id)
        if job is not None:
            await _safely(f"job {job_id}: {what} notice", fn(job, *args))

    async def _recover(self) -> None:
        """Apply the start-up rule to jobs caught mid-submit; everything else resumes by itself
        (processing and delivering jobs carry their next attempt time)."""
        for job in await self._jobs.in_states(JobState.SUBMITTING):
            await self._fail_unknown_outcome(job)
        active = await self._jobs.in_states(*ACTIVE_STATES)
        log.info("runner resuming %d unfinished job(s)", len(active))

    async def _housekeeping(self, now: float) -> None:
        for job in await self._jobs.queued_stale(now - self._settings.queue_max_wait_seconds):
            await self._fail(
                job, JobState.QUEUED, "expired_in_queue", FAILURE_TEXT["expired_in_queue"]
            )
        for position, job in enumerate(await self._jobs.queued_head(25), start=1):
            await _safely(f"job {job.id}: queued notice", self._notifier.job_queued(job, position))
        retention = self._settings.media_retention_hours * 3600
        for job in await self._jobs.media_to_purge(now - retention):
            await asyncio.to_thread(_remove_job_media, self._settings.media_dir, job)
            await self._jobs.mark_media_purged(job.id, now)

    # --- user actions ---------------------------------------------------------------------------
    async def cancel(self, job_id: int) -> bool:
        """Cancel a job that has not produced its clip yet. True if it was cancelled."""
        moved = await self._jobs.transition(
            job_id,
            (JobState.QUEUED, JobState.SUBMITTING, JobState.PROCESSING),
            JobState.CANCELLED,
            self._clock(),
            failure_code="cancelled",
            failure_reason="Cancelled.",
            next_attempt_at=None,
        )
        if moved:
            # A submit or poll in flight finishes harmlessly: its guarded updates find the job
            # cancelled and change nothing.
            log.info("job %d: cancelled", job_id)
            self.wake()
        return moved


async def _safely(label: str, notice: Awaitable[Any]) -> None:
    """Await a notifier call; its trouble is logged, never allowed to break the engine."""
    try:
        await notice
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("%s failed", label)


def _input_text(message: str) -> str:
    return f"ModelsLab refused the inputs: {message}"


def _file_size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def _remove_job_media(media_dir: Path, job: Job) -> None:
    """Delete the job's inputs and result, and their folders once empty (only inside MEDIA_DIR)."""
    root = media_dir.resolve()
    for name in (job.image_path, job.video_path, job.result_path):
        if not name:
            continue
        path = Path(name).resolve()
        if root not in path.parents:
            continue
        path.unlink(missing_ok=True)
        folder = path.parent
        if folder != root and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
