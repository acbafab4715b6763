"""The "Side by side" action on a delivered clip: who may ask, once per clip, from the files the
bot still keeps. Costs no quota: it is made locally (services/side_by_side.py) in a thread.

The delivered clip must still be kept. The motion reference is the kept upload, or, for a library
motion (or an upload whose message is known, such as the Animate menu's or a fixed file's), it
is fetched again from its message: a fresh link through the LinkRefresher, streamed to a
temporary file that is removed afterwards. That works after a restart too.

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
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from db.connection import Database
from db.jobs import JobsRepository
from domain import Job, JobState
from services.downloads import DownloadError, HostAllowlist, download_to_file
from services.links import InputGoneError, LinkRefresher, RefreshFailedError
from services.media import VIDEO_MAX_BYTES
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
    REFERENCE_UNREACHABLE = "reference_unreachable"  # its message could not be read just now


class SideBySideRefused(Exception):
    def __init__(self, reason: SideBySideRefusal, job: Job | None = None) -> None:
        super().__init__(reason.value)
        self.reason = reason
        self.job = job


@dataclass(frozen=True)
class ReferenceFetcher:
    """What fetching a motion reference again from its message needs."""

    refresher: LinkRefresher
    session: aiohttp.ClientSession
    allowlist: HostAllowlist
    timeout_seconds: float = 120.0


class SideBySideService:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        fetcher: ReferenceFetcher | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._jobs = JobsRepository(db)
        self._settings = settings
        self._fetcher = fetcher
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
        clip = await asyncio.to_thread(self._kept, job.result_path)
        reference = await asyncio.to_thread(self._kept, job.video_path)
        refetch = reference is None and job.video_source is not None and self._fetcher is not None
        if clip is None or job.media_purged_at is not None or (reference is None and not refetch):
            raise SideBySideRefused(SideBySideRefusal.MEDIA_GONE, job)
        if not await self._jobs.claim_side_by_side(job.id, self._clock()):
            raise SideBySideRefused(SideBySideRefusal.ALREADY_MADE, job)
        fetched: Path | None = None
        try:
            if reference is None:
                reference = fetched = await self._fetch_reference(job)
            made = await self._make(job, reference, clip, int(max_bytes * TARGET_SHARE))
        except BaseException:
            await self._jobs.release_side_by_side(job.id)
            raise
        finally:
            if fetched is not None:
                await asyncio.to_thread(_remove, fetched)
        log.info("job %d: side by side made (%d bytes)", job.id, made.size_bytes)
        return made

    async def _make(self, job: Job, reference: Path, clip: Path, target: int) -> SideBySideVideo:
        dest = clip.with_name(f"side-by-side-{job.id}.mp4")
        try:
            async with self._slots:
                return await asyncio.to_thread(make_side_by_side, reference, clip, dest, target)
        except ValueError as exc:
            log.warning("job %d: side by side not made (%s)", job.id, exc)
            raise SideBySideRefused(SideBySideRefusal.CANNOT_MAKE, job) from exc

    async def _fetch_reference(self, job: Job) -> Path:
        """The motion reference, downloaded again from the message that keeps it."""
        fetcher, source = self._fetcher, job.video_source
        if fetcher is None or source is None:  # make() checked both
            raise SideBySideRefused(SideBySideRefusal.MEDIA_GONE, job)
        dest = self._settings.media_dir / f"side-by-side-reference-{job.id}.mp4"
        try:
            url = await fetcher.refresher.fresh_url(source)
            await asyncio.to_thread(dest.parent.mkdir, parents=True, exist_ok=True)
            await download_to_file(
                fetcher.session,
                url,
                dest,
                max_bytes=VIDEO_MAX_BYTES,
                allowlist=fetcher.allowlist,
                timeout=fetcher.timeout_seconds,
            )
        except InputGoneError as exc:
            log.info("job %d: the motion's message is gone (%s)", job.id, exc)
            raise SideBySideRefused(SideBySideRefusal.MEDIA_GONE, job) from exc
        except (RefreshFailedError, DownloadError) as exc:
            log.warning("job %d: motion reference not fetched (%r)", job.id, exc)
            raise SideBySideRefused(SideBySideRefusal.REFERENCE_UNREACHABLE, job) from exc
        log.info(
            "job %d: motion reference fetched again from message %d", job.id, source.message_id
        )
        return dest

    async def done(self, made: SideBySideVideo) -> None:
        """The video was posted: its file is not kept."""
        await asyncio.to_thread(_remove, made.path)

    async def give_back(self, job_id: int, made: SideBySideVideo | None = None) -> None:
        """It could not be posted: the member may press again."""
        if made is not None:
            await asyncio.to_thread(_remove, made.path)
        await self._jobs.release_side_by_side(job_id)

    def _kept(self, name: str | None) -> Path | None:
        """The file, if it is still kept under MEDIA_DIR."""
        if not name:
            return None
        root = self._settings.media_dir.resolve()
        path = Path(name).resolve()
        return path if root in path.parents and path.is_file() else None


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
