"""Housekeeping: the start-up rule for jobs caught mid-submit, queued jobs that waited too long,
queue-position notices, and removing media after the retention period."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from db.jobs import JobsRepository
from domain import ACTIVE_STATES, FailureCode, Job, JobState
from services.runner.outcomes import Failed
from services.runner.recorder import JobRecorder
from settings import Settings

log = logging.getLogger(__name__)

# Queue-position notices go to this many jobs at the head of the queue.
NOTIFIED_QUEUE_HEAD = 25


class Housekeeping:
    def __init__(self, *, jobs: JobsRepository, recorder: JobRecorder, settings: Settings) -> None:
        self._jobs = jobs
        self._recorder = recorder
        self._settings = settings

    async def recover(self) -> None:
        """At start-up: a job found in `submitting` may or may not exist at the provider, and
        submitting it again could bill twice, so it fails as outcome unknown (refunded).
        Everything else resumes by itself: processing and delivering jobs carry their next
        attempt time."""
        for job in await self._jobs.in_states(JobState.SUBMITTING):
            await self._recorder.fail(
                job, JobState.SUBMITTING, Failed(FailureCode.SUBMIT_OUTCOME_UNKNOWN)
            )
        active = await self._jobs.count_in_states(*ACTIVE_STATES)
        log.info("runner resuming %d unfinished job(s)", active)

    async def run(self, now: float) -> None:
        for job in await self._jobs.queued_stale(now - self._settings.queue_max_wait_seconds):
            if job.inputs_refreshable:  # fresh links are fetched when it is submitted
                continue
            await self._recorder.fail(job, JobState.QUEUED, Failed(FailureCode.EXPIRED_IN_QUEUE))
        for position, job in enumerate(await self._jobs.queued_head(NOTIFIED_QUEUE_HEAD), 1):
            await self._recorder.queued_notice(job, position)
        retention = self._settings.media_retention_hours * 3600
        for job in await self._jobs.media_to_purge(now - retention):
            await asyncio.to_thread(_remove_job_media, self._settings.media_dir, job)
            await self._jobs.mark_media_purged(job.id, now)


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
