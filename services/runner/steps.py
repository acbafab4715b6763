"""The steps of a job: submit, poll, fetch the result, deliver. Each talks to one outside party
and returns an outcome value (services/runner/outcomes.py); none writes the job's row."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import aiohttp

from domain import DeliveryRoute, FailureCode, Job
from services.alerts import AlertService, DispatchPaused
from services.charges import charge_for, clip_seconds
from services.downloads import DownloadError, DownloadFailedError, HostAllowlist, download_to_file
from services.metrics import Metrics
from services.modelslab import (
    InputError,
    ModelsLabClient,
    ModelsLabError,
    MotionControlRequest,
    OperatorError,
    OutcomeUnknownError,
    ProviderState,
    RateLimitedError,
    TransientError,
)
from services.notifier import Clip, DeliveryReceipt, Notifier
from services.runner.gate import Permit, ProviderGate
from services.runner.inputs import InputLinks
from services.runner.outcomes import (
    Accepted,
    Delivered,
    DeliverLater,
    DeliverOutcome,
    Failed,
    Fetched,
    FetchOutcome,
    PollLater,
    PollOutcome,
    Ready,
    Requeue,
    StillRunning,
    SubmitOutcome,
)
from settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

# Where ModelsLab calls back: {PUBLIC_BASE_URL}/modelslab/webhook/<the job's secret>.
WEBHOOK_PATH = "/modelslab/webhook/"

# How many "success but no URL yet" answers we accept before giving up.
MAX_SUCCESS_WITHOUT_URL = 5
# Deliveries that raise unexpectedly are retried this many times.
MAX_DELIVERY_ATTEMPTS = 5

OPERATOR_REASONS = {
    "invalid_key": "ModelsLab rejected the API key",
    "no_credits": "the ModelsLab account is out of credits",
    "forbidden": "the ModelsLab plan does not allow this feature",
}


class JobSteps:
    def __init__(
        self,
        *,
        client: ModelsLabClient,
        gate: ProviderGate,
        notifier: Notifier,
        alerts: AlertService,
        settings: Settings,
        session: aiohttp.ClientSession,
        allowlist: HostAllowlist,
        globally_paused: Callable[[], Awaitable[bool]],
        ours_at_provider: Callable[[], Awaitable[int]],
        metrics: Metrics,
        webhook_base: str | None,
        clock: Callable[[], float],
        inputs: InputLinks | None = None,
    ) -> None:
        self._client = client
        self._gate = gate
        self._notifier = notifier
        self._alerts = alerts
        self._settings = settings
        self._session = session
        self._allowlist = allowlist
        self._globally_paused = globally_paused
        self._ours_at_provider = ours_at_provider
        self._metrics = metrics
        self._webhook_base = webhook_base
        self._clock = clock
        self._inputs = inputs

    async def _observed(self, call: str, work: Awaitable[T]) -> T:
        """One provider call, counted (with its error, if any) for /metrics."""
        try:
            result = await work
        except ModelsLabError as exc:
            self._metrics.provider_call(call, exc)
            raise
        self._metrics.provider_call(call, None)
        return result

    # --- submit ---------------------------------------------------------------------------------
    async def submit(self, job: Job, permit: Permit) -> SubmitOutcome:
        if self._inputs is not None:  # inputs in Discord messages get fresh links first
            refreshed = await self._inputs.refresh(job)
            if not isinstance(refreshed, Job):
                self._gate.release(permit)
                return refreshed
            job = refreshed
        webhook, track_id = self._webhook_fields(job)
        request = MotionControlRequest(
            image_url=job.image_url,
            video_url=job.video_url,
            orientation=job.orientation,
            mode=job.mode,
            prompt=job.prompt,
            webhook=webhook,
            track_id=track_id,
        )
        # The gate is checked again at the moment of sending: another submit may have been
        # refused (pausing or holding) since this job was claimed. Nothing awaits between
        # this check and the call.
        globally_paused = await self._globally_paused()
        if globally_paused or not self._gate.admits(permit):
            self._gate.release(permit)
            return Requeue(retry_at=None, count_attempt=False)
        log.info("job %d: submitting (attempt %d)", job.id, job.attempts)
        try:
            result = await self._observed("submit", self._client.submit_motion_control(request))
        except RateLimitedError as exc:
            wait = exc.retry_after or self._settings.poll_interval_max_seconds
            # Close the gate before the job goes back: the loop must not pick it up again.
            self._gate.queue_full(wait)
            # This job is still counted as being submitted; the rest is what the queue holds.
            self._gate.learn_room(max(await self._ours_at_provider() - 1, 0))
            log.info("job %d: provider queue full, holding submits for %.1fs", job.id, wait)
            return Requeue(retry_at=None, count_attempt=False)
        except OperatorError as exc:
            await self.operator_failure(exc.reason)
            return Requeue(retry_at=None, count_attempt=False)
        except InputError as exc:
            self._gate.submit_ended(permit)
            return Failed(FailureCode.INPUT, exc.message)
        except OutcomeUnknownError:
            self._gate.submit_ended(permit)
            return Failed(FailureCode.SUBMIT_OUTCOME_UNKNOWN)
        except TransientError as exc:
            self._gate.submit_ended(permit)
            if job.attempts >= self._settings.transient_retry_limit:
                return Failed(FailureCode.PROVIDER_UNREACHABLE)
            delay = exc.retry_after or self.backoff(job.attempts)
            log.warning("job %d: submit failed (%s); retry in %.1fs", job.id, exc, delay)
            return Requeue(retry_at=self._clock() + delay)
        if permit.probe and self._gate.paused_reason is not None:
            log.info("provider accepted a job again; dispatching resumed")
        self._gate.accepted(permit)
        if result.job_id is None:
            log.error("job %d: provider returned no job id", job.id)
            return Failed(FailureCode.NO_PROVIDER_ID)
        return Accepted(result.job_id, result.eta_seconds)

    def _webhook_fields(self, job: Job) -> tuple[str | None, str | None]:
        """The webhook URL (with the job's secret) and track_id, when webhooks are on."""
        if self._webhook_base is None or job.webhook_secret is None:
            return None, None
        return f"{self._webhook_base}{WEBHOOK_PATH}{job.webhook_secret}", str(job.id)

    async def operator_failure(self, reason: str) -> None:
        """Close the gate; once per pause, one log line and one operator alert."""
        if not self._gate.refused_by_operator_failure(reason):
            return
        text = OPERATOR_REASONS.get(reason, reason)
        log.error("dispatching paused: %s", text)
        await self._alerts.raise_alert(
            f"provider:{reason}:{int(self._clock())}",
            DispatchPaused(reason, self._settings.operator_pause_seconds),
        )

    # --- poll -----------------------------------------------------------------------------------
    async def poll(self, job: Job) -> PollOutcome:
        if job.deadline_at is not None and self._clock() >= job.deadline_at:
            return Failed(FailureCode.TIMEOUT)
        if job.provider_job_id is None:  # cannot happen after Accepted; be safe anyway
            return Failed(FailureCode.NO_PROVIDER_ID)
        slowest = self._settings.poll_interval_max_seconds
        try:
            result = await self._observed("fetch", self._client.fetch(job.provider_job_id))
        except RateLimitedError as exc:
            return PollLater(exc.retry_after or slowest)
        except OperatorError as exc:
            await self.operator_failure(exc.reason)
            return PollLater(slowest)
        except TransientError as exc:
            return self._trouble(job, str(exc), FailureCode.PROVIDER_UNREACHABLE)
        if result.state is ProviderState.FAILED:
            return Failed(FailureCode.PROVIDER_FAILED, result.message or None)
        if result.state is ProviderState.SUCCESS and result.output_url:
            return Ready(result.output_url)
        if result.state is ProviderState.SUCCESS:
            return self._trouble(
                job, "success without a clip URL", FailureCode.NO_OUTPUT, MAX_SUCCESS_WITHOUT_URL
            )
        return StillRunning(result.eta_seconds)

    def _trouble(
        self, job: Job, detail: str, code: FailureCode, limit: int | None = None
    ) -> PollLater:
        return PollLater(self.backoff(job.transient_errors + 1), detail, code, limit)

    # --- fetch the result -----------------------------------------------------------------------
    async def fetch_result(self, job: Job, url: str) -> FetchOutcome:
        """Download the clip at once (provider links are temporary)."""
        dest = self._settings.media_dir / f"job-{job.id}" / "result.mp4"
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
                return self._trouble(job, f"clip download failed: {exc}", FailureCode.NO_OUTPUT)
            log.warning("job %d: clip download failed for good (%s); handing the link", job.id, exc)
            return Fetched(url, None, None)
        except DownloadError as exc:
            # Too large or not an allowed host: the link is all we can hand over.
            log.warning("job %d: clip not downloaded (%s); handing over the link", job.id, exc)
            return Fetched(url, None, None)
        return Fetched(url, dest, size)

    # --- deliver --------------------------------------------------------------------------------
    async def deliver(self, job: Job, size: int | None = None) -> DeliverOutcome:
        path = Path(job.result_path) if job.result_path else None
        if path is not None and size is None:
            size = await asyncio.to_thread(_file_size, path)
            if size is None:
                path = None
        # Charged by what arrived: the clip's real length, probed off the event loop.
        seconds = await asyncio.to_thread(clip_seconds, path)
        charge = charge_for(job, seconds, self._settings.pro_cost_multiplier, delivered=True)
        clip = Clip(path=path, url=job.result_url, size_bytes=size, charge_seconds=charge)
        try:
            return Delivered(await self._notifier.job_succeeded(job, clip), seconds)
        except asyncio.CancelledError:
            raise
        except Exception:
            attempts = job.transient_errors + 1
            log.exception("job %d: delivery attempt %d raised", job.id, attempts)
            if attempts < MAX_DELIVERY_ATTEMPTS:
                return DeliverLater(self.backoff(attempts))
            undelivered = DeliveryReceipt(DeliveryRoute.UNDELIVERED, None, delivered=False)
            return Delivered(undelivered, seconds)

    def backoff(self, failures: int) -> float:
        """Exponential backoff with full jitter, between the poll interval bounds."""
        s = self._settings
        ceiling = min(s.poll_interval_max_seconds, s.poll_interval_min_seconds * 2**failures)
        low = s.poll_interval_min_seconds
        return random.uniform(low, max(ceiling, low))  # noqa: S311 - jitter, not security


def _file_size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None
