"""What users do with jobs, free of discord.py: create one from validated inputs, cancel, retry
(same inputs, new reservation, optionally the other mode), and look them up."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from enum import StrEnum

from db.connection import Database
from db.jobs import JobsRepository
from domain import HostedFile, Job, JobState, Mode, NewJob, Orientation
from services.media import ImageInfo, VideoInfo
from services.notifier import Notifier
from services.quota import QuotaService, Requester, job_cost
from settings import Settings

log = logging.getLogger(__name__)

# Discord's signed attachment URLs live about a day; the provider fetches the inputs by URL.
INPUT_URL_LIFETIME_SECONDS = 20 * 3600


class JobAction(StrEnum):
    """What a user tried to do with a job."""

    CANCEL = "cancel"
    RETRY = "retry"


class JobRefusal(StrEnum):
    """Why a cancel or retry cannot be done."""

    NOT_FOUND = "not_found"
    NOT_OWNER = "not_owner"  # only the job's owner (or, to cancel, an admin) may
    ALREADY_ENDED = "already_ended"  # cancel: the job has ended (`state` says how)
    BEING_POSTED = "being_posted"  # cancel: the clip is being delivered now
    MOVED_ON = "moved_on"  # cancel: the job changed state during the request
    NOT_ENDED = "not_ended"  # retry: the job is still running (`state` says where)
    FILES_PURGED = "files_purged"  # retry: the inputs are no longer kept
    UPLOADS_EXPIRED = "uploads_expired"  # retry: the input links have expired


class JobActionRefused(Exception):
    """A cancel or retry that cannot be done. The facts are attributes; the Discord layer words
    them (cogs/refusals.py). str() is a short note for the log."""

    def __init__(
        self,
        reason: JobRefusal,
        job_id: int,
        action: JobAction,
        state: JobState | None = None,
    ) -> None:
        note = f"{action.value} job {job_id}: {reason.value}"
        super().__init__(note if state is None else f"{note} ({state.value})")
        self.reason = reason
        self.job_id = job_id
        self.action = action
        self.state = state


@dataclass(frozen=True)
class JobInputs:
    """A validated request, ready to be queued."""

    image_url: str
    image_path: str
    image: ImageInfo
    video_url: str
    video_path: str
    video: VideoInfo
    orientation: Orientation
    mode: Mode
    prompt: str
    # Inputs kept in Discord messages (fresh links at submit time) and the library motion used.
    image_source: HostedFile | None = None
    video_source: HostedFile | None = None
    motion_id: int | None = None


class JobService:
    """Creates, cancels and retries jobs. The runner does the rest."""

    def __init__(
        self,
        *,
        db: Database,
        settings: Settings,
        quota: QuotaService,
        notifier: Notifier,
        wake_runner: Callable[[], None],
        cancel_in_runner: Callable[[int], Awaitable[bool]],
        after_enqueue: Callable[[], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = db
        self._jobs = JobsRepository(db)
        self._settings = settings
        self._quota = quota
        self._notifier = notifier
        self._wake_runner = wake_runner
        self._cancel_in_runner = cancel_in_runner
        self._after_enqueue = after_enqueue
        self._clock = clock

    def cost_of(self, video_seconds: float, orientation: str, mode: str) -> float:
        return job_cost(video_seconds, orientation, mode, self._settings.pro_cost_multiplier)

    async def create(self, inputs: JobInputs, who: Requester, retry_of: int | None = None) -> Job:
        """Reserve quota and queue the job (raises EnqueueRefused), then announce it."""
        new = NewJob(
            user_id=who.user_id,
            guild_id=who.guild_id,
            channel_id=who.channel_id,
            image_url=inputs.image_url,
            image_path=inputs.image_path,
            image_kind=inputs.image.kind,
            image_bytes=inputs.image.size_bytes,
            image_width=inputs.image.width,
            image_height=inputs.image.height,
            video_url=inputs.video_url,
            video_path=inputs.video_path,
            video_kind=inputs.video.container,
            video_bytes=inputs.video.size_bytes,
            video_width=inputs.video.width,
            video_height=inputs.video.height,
            video_seconds=inputs.video.duration_seconds,
            orientation=inputs.orientation,
            mode=inputs.mode,
            prompt=inputs.prompt or self._settings.default_prompt,
            model_id=self._settings.modelslab_model_id,
            cost_seconds=self.cost_of(
                inputs.video.duration_seconds, inputs.orientation, inputs.mode
            ),
            created_at=self._clock(),
            retry_of=retry_of,
            motion_id=inputs.motion_id,
            **_source_columns("image", inputs.image_source),
            **_source_columns("video", inputs.video_source),
        )
        return await self._queue(new, who)

    async def _queue(self, new: NewJob, who: Requester) -> Job:
        job_id = await self._quota.enqueue(new, who)
        log.info("job %d: queued for user %d (cost %.0fs)", job_id, who.user_id, new.cost_seconds)
        job = await self._must_get(job_id)
        posted = await self._notifier.job_queued(job, await self._jobs.queue_position(job_id))
        if posted is not None:
            await self._jobs.set_status_message(job_id, posted.message_id)
        self._wake_runner()
        if self._after_enqueue is not None:
            await self._after_enqueue()
        return await self._must_get(job_id)

    async def get(self, job_id: int) -> Job | None:
        return await self._jobs.get(job_id)

    async def _must_get(self, job_id: int) -> Job:
        job = await self.get(job_id)
        if job is None:  # jobs are never deleted
            raise RuntimeError(f"job {job_id} vanished")
        return job

    async def recent(self, user_id: int, limit: int = 10) -> list[Job]:
        return await self._jobs.recent_for_user(user_id, limit=limit)

    async def queue_position(self, job_id: int) -> int:
        return await self._jobs.queue_position(job_id)

    async def cancel(self, job_id: int, actor_id: int, actor_is_admin: bool) -> Job:
        """Cancel for its owner or an admin; refunds the reservation. Returns the updated job."""
        cancel = JobAction.CANCEL
        job = await self._require(job_id, actor_id, actor_is_admin, cancel)
        if job.state.is_terminal:
            raise JobActionRefused(JobRefusal.ALREADY_ENDED, job_id, cancel, job.state)
        if job.state is JobState.DELIVERING:
            raise JobActionRefused(JobRefusal.BEING_POSTED, job_id, cancel, job.state)
        if not await self._cancel_in_runner(job_id):
            raise JobActionRefused(JobRefusal.MOVED_ON, job_id, cancel)
        return await self._must_get(job_id)

    async def retry(self, job_id: int, who: Requester, mode: Mode | None = None) -> Job:
        """Queue the same inputs again as a new job with a new reservation (in `mode` if given).
        Only the job's owner may: it spends their quota."""
        retry = JobAction.RETRY
        job = await self._require(job_id, who.user_id, False, retry)
        if not job.state.is_terminal:
            raise JobActionRefused(JobRefusal.NOT_ENDED, job_id, retry, job.state)
        if job.inputs_refreshable:
            pass  # both inputs live in Discord messages: fresh links come at submit time
        elif job.media_purged_at is not None:
            raise JobActionRefused(JobRefusal.FILES_PURGED, job_id, retry)
        elif self._clock() - job.created_at > INPUT_URL_LIFETIME_SECONDS:
            raise JobActionRefused(JobRefusal.UPLOADS_EXPIRED, job_id, retry)
        new_mode = mode or job.mode
        original = NewJob(**{f: getattr(job, f) for f in NewJob.__dataclass_fields__})
        new = replace(
            original,
            channel_id=who.channel_id or job.channel_id,
            mode=new_mode,
            cost_seconds=self.cost_of(job.video_seconds, job.orientation, new_mode),
            created_at=self._clock(),
            retry_of=job.id,
        )
        return await self._queue(new, replace(who, guild_id=job.guild_id))

    async def _require(
        self, job_id: int, actor_id: int, actor_is_admin: bool, action: JobAction
    ) -> Job:
        job = await self.get(job_id)
        if job is None:
            raise JobActionRefused(JobRefusal.NOT_FOUND, job_id, action)
        if job.user_id != actor_id and not actor_is_admin:
            raise JobActionRefused(JobRefusal.NOT_OWNER, job_id, action)
        return job


def _source_columns(prefix: str, source: HostedFile | None) -> dict[str, int | None]:
    """The job row's columns for an input kept in a Discord message."""
    return {
        f"{prefix}_channel_id": None if source is None else source.channel_id,
        f"{prefix}_message_id": None if source is None else source.message_id,
        f"{prefix}_attachment_id": None if source is None else source.attachment_id,
    }
