"""Fresh input links at submit time, for jobs whose inputs live in Discord messages (a library
motion, the "Animate" menu's target message). Their stored links may have expired while the job
waited; the message is fetched again through the LinkRefresher (services/links.py).

A message that is gone fails the job with `input_gone` (its reservation is released), and a
library motion whose message is gone is marked unavailable so it is no longer offered. When
Discord cannot be asked just now the job goes back to the queue and is tried again later."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import replace

from db.motions import MotionsRepository
from domain import FailureCode, HostedFile, Job
from services.links import InputGoneError, LinkRefresher, RefreshFailedError
from services.runner.outcomes import Failed, Requeue
from settings import Settings

log = logging.getLogger(__name__)


class InputLinks:
    def __init__(
        self,
        *,
        refresher: LinkRefresher,
        motions: MotionsRepository,
        settings: Settings,
        clock: Callable[[], float],
    ) -> None:
        self._refresher = refresher
        self._motions = motions
        self._settings = settings
        self._clock = clock

    async def refresh(self, job: Job) -> Job | Failed | Requeue:
        """The job with fresh links for its message-hosted inputs, or why it cannot go now."""
        image, video = job.image_source, job.video_source
        if image is None and video is None:
            return job
        try:
            if image is not None:
                job = replace(job, image_url=await self._fresh(job, image, "image"))
            if video is not None:
                job = replace(job, video_url=await self._fresh(job, video, "video"))
        except _Gone as gone:
            return Failed(FailureCode.INPUT_GONE, gone.which)
        except RefreshFailedError as exc:
            if job.attempts >= self._settings.transient_retry_limit:
                log.warning("job %d: no fresh input link after %d tries", job.id, job.attempts)
                return Failed(FailureCode.INPUT_GONE, "unreachable")
            delay = _backoff(self._settings, job.attempts)
            log.warning("job %d: fresh input link failed (%s); retry in %.1fs", job.id, exc, delay)
            return Requeue(retry_at=self._clock() + delay)
        return job

    async def _fresh(self, job: Job, source: HostedFile, which: str) -> str:
        try:
            return await self._refresher.fresh_url(source)
        except InputGoneError as exc:
            log.info("job %d: the message holding its %s is gone (%s)", job.id, which, exc)
            if which == "video" and job.motion_id is not None:
                motion = await self._motions.get(job.motion_id)
                if motion is not None and motion.source == source:
                    await self._motions.mark_unavailable(motion.id, self._clock())
                    log.info("motion %d (%s) marked unavailable", motion.id, motion.name)
                    raise _Gone(f"motion:{motion.name}") from exc
            raise _Gone(which) from exc


class _Gone(Exception):
    def __init__(self, which: str) -> None:
        super().__init__(which)
        self.which = which


def _backoff(settings: Settings, failures: int) -> float:
    ceiling = min(
        settings.poll_interval_max_seconds, settings.poll_interval_min_seconds * 2**failures
    )
    low = settings.poll_interval_min_seconds
    return random.uniform(low, max(ceiling, low))  # noqa: S311 - jitter, not security
