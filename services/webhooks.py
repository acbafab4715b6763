"""ModelsLab webhooks: a call to {PUBLIC_BASE_URL}/modelslab/webhook/<secret> is only a prompt to
fetch that job from ModelsLab at once. Nothing in its body is believed: a wrong or unknown secret
changes nothing (404), and a body claiming success merely makes the job's next poll due now, so
the provider's own answer to our authenticated fetch decides. Duplicates are harmless.

One more use: a webhook whose secret and track_id name a job that failed as
`submit_outcome_unknown` (the submit's answer was lost) tells us the provider job exists. The
runner fetches it by the id in the body, with our key, and if its clip is ready delivers it free
of charge (domain.ADOPTION). The secret is never logged.
"""

from __future__ import annotations

import enum
import logging
import re
from typing import Any

from db.jobs import JobsRepository
from domain import FailureCode, JobState
from services.metrics import Metrics
from services.modelslab import parse_webhook
from services.runner import Runner

log = logging.getLogger(__name__)

# secrets.token_urlsafe(24) gives 32 URL-safe characters; anything else is not one of ours.
_SECRET_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,128}")


class WebhookResult(enum.StrEnum):
    PROMPTED = "prompted"  # a processing job will be polled now
    ADOPTING = "adopting"  # a job failed as outcome unknown is being fetched for adoption
    IGNORED = "ignored"  # a known job with nothing to do (finished, a duplicate, too soon)
    UNKNOWN = "unknown"  # no job has this secret, or the track_id names another job: 404


class WebhookIntake:
    def __init__(self, *, jobs: JobsRepository, runner: Runner, metrics: Metrics) -> None:
        self._jobs = jobs
        self._runner = runner
        self._metrics = metrics

    async def receive(self, secret: str, body: Any) -> WebhookResult:
        result = await self._receive(secret, body)
        self._metrics.webhook(result.value)
        return result

    async def _receive(self, secret: str, body: Any) -> WebhookResult:
        job = (
            await self._jobs.by_webhook_secret(secret) if _SECRET_SHAPE.fullmatch(secret) else None
        )
        if job is None:
            log.warning("webhook with an unknown secret ignored")
            return WebhookResult.UNKNOWN
        notice = parse_webhook(body)
        if notice.track_id is not None and notice.track_id != str(job.id):
            log.warning("job %d: webhook track_id does not match; ignored", job.id)
            return WebhookResult.UNKNOWN
        if job.state is JobState.PROCESSING:
            prompted = await self._runner.prompt(job.id)
            log.info(
                "job %d: webhook (%s)%s",
                job.id,
                notice.status or "?",
                "" if prompted else "; poll already due",
            )
            return WebhookResult.PROMPTED if prompted else WebhookResult.IGNORED
        if (
            job.state is JobState.FAILED
            and job.failure_code is FailureCode.SUBMIT_OUTCOME_UNKNOWN
            and job.provider_job_id is None
            and notice.track_id == str(job.id)
            and notice.provider_job_id is not None
            and self._runner.adopt(job, notice.provider_job_id)
        ):
            log.info("job %d: webhook for a job whose submit outcome was unknown; fetching", job.id)
            return WebhookResult.ADOPTING
        return WebhookResult.IGNORED
