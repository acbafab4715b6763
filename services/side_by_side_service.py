"""The "Side by side" action on a delivered clip: who may ask, once per clip, from the files the
bot still keeps. Costs no quota: it is made locally (services/side_by_side.py) in a thread.

Refusals are codes (SideBySideRefusal); the Discord layer words them. The one-per-clip record is
the job row's `side_by_side_at`, written through JobsRepository.claim_side_by_side before the
video is made (two presses at once: one wins), and given back if it cannot be made or posted.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Callable
from pathlib import Path

from db.connection import Database
from db.jobs import JobsRepository
from domain import Job, JobState
from services.side_by_side import SideBySideVideo, make_side_by_side
from settings import Settings

log = logging.getLogger(__name__)

# Aim a little under the limit: the limit counts the whole attachment.
TARGET_SHARE = 0.95
# Encoding is CPU work in threads: a burst of presses is served a few at a time.
MAX_AT_ONCE = 2


class SideBySideRefusal(enum.StrEnum):
    NO_JOB = "no_job"
    NOT_OWNER = "not_owner"
    NOT_DELIVERED = "not_delivered"
    ALREADY_MADE = "already_made"
    MEDIA_GONE = "media_gone"
    CANNOT_MAKE = "cannot_make"


class SideBySideRefused(Exception):
    def __init__(self, reason: SideBySideRefusal, job: Job | None = None) -> None:
        super().__init__(reason.value)
        self.reason = reason
        self.job = job


class SideBySideService:
    def __init__(
        self, db: Database, settings: Settings, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._jobs = JobsRepository(db)
        self._settings = settings
        self._clock = clock
        self._slots = asyncio.Semaphore(MAX_AT_ONCE)

    async def make(self, job_id: int, user_id: int, max_bytes: int) -> SideBySideVideo:
        """Make the side-by-side video of a delivered clip for its owner, at most `max_bytes`.
        Raises SideBySideRefused. The caller posts the file, then calls `done` (or `give_back`
        when posting failed)."""
        job = await self._jobs.get(job_id)
        if job is None:
            raise SideBySideRefused(SideBySideRefusal.NO_JOB)
        if job.user_id != user_id:
            raise SideBySideRefused(SideBySideRefusal.NOT_OWNER, job)
        if job.state is not JobState.SUCCEEDED:
            raise SideBySideRefused(SideBySideRefusal.NOT_DELIVERED, job)
        if job.side_by_side_at is not None:
            raise SideBySideRefused(SideBySideRefusal.ALREADY_MADE, job)
        inputs = await asyncio.to_thread(self._kept_inputs, job)
        if inputs is None:
            raise SideBySideRefused(SideBySideRefusal.MEDIA_GONE, job)
        if not await self._jobs.claim_side_by_side(job.id, self._clock()):
            raise SideBySideRefused(SideBySideRefusal.ALREADY_MADE, job)
        reference, clip = inputs
        dest = clip.with_name(f"side-by-side-{job.id}.mp4")
        target = int(max_bytes * TARGET_SHARE)
        try:
            async with self._slots:
                made = await asyncio.to_thread(make_side_by_side, reference, clip, dest, target)
        except ValueError as exc:
            log.warning("job %d: side by side not made (%s)", job.id, exc)
            await self._jobs.release_side_by_side(job.id)
            raise SideBySideRefused(SideBySideRefusal.CANNOT_MAKE, job) from exc
        except BaseException:
            await self._jobs.release_side_by_side(job.id)
            raise
        log.info("job %d: side by side made (%d bytes)", job.id, made.size_bytes)
        return made

    async def done(self, made: SideBySideVideo) -> None:
        """The video was posted: its file is not kept."""
        await asyncio.to_thread(_remove, made.path)

    async def give_back(self, job_id: int, made: SideBySideVideo | None = None) -> None:
        """It could not be posted: the member may press again."""
        if made is not None:
            await asyncio.to_thread(_remove, made.path)
        await self._jobs.release_side_by_side(job_id)

    def _kept_inputs(self, job: Job) -> tuple[Path, Path] | None:
        """The reference video and the delivered clip, if both are still kept under MEDIA_DIR."""
        if job.media_purged_at is not None or not job.video_path or not job.result_path:
            return None
        root = self._settings.media_dir.resolve()
        paths = (Path(job.video_path).resolve(), Path(job.result_path).resolve())
        for path in paths:
            if root not in path.parents or not path.is_file():
                return None
        return paths


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
