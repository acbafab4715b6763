"""The domain model every layer shares: a job, its states and the moves between them, and the
small vocabularies (mode, orientation, failure codes, delivery routes) as enums, not bare strings.

It imports nothing from the project: `db/` maps rows to and from these types, `services/` acts on
them, `cogs/` renders them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class JobState(enum.StrEnum):
    QUEUED = "queued"
    SUBMITTING = "submitting"
    PROCESSING = "processing"
    DELIVERING = "delivering"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES

    @property
    def is_cancellable(self) -> bool:
        return self in CANCELLABLE_STATES

    def can_move_to(self, new: JobState) -> bool:
        return new in ALLOWED_MOVES[self]


TERMINAL_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})
ACTIVE_STATES = tuple(s for s in JobState if s not in TERMINAL_STATES)
# Before the clip exists the member may cancel; once it is being delivered, it is theirs.
CANCELLABLE_STATES = (JobState.QUEUED, JobState.SUBMITTING, JobState.PROCESSING)

# queued -> submitting -> processing -> delivering -> succeeded; failed from any unfinished state;
# cancelled before delivery; submitting -> queued when a submit was refused without being taken.
# One exception lives outside this table, on purpose: ADOPTION below.
ALLOWED_MOVES: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.SUBMITTING, JobState.FAILED, JobState.CANCELLED}),
    JobState.SUBMITTING: frozenset(
        {JobState.QUEUED, JobState.PROCESSING, JobState.FAILED, JobState.CANCELLED}
    ),
    JobState.PROCESSING: frozenset({JobState.DELIVERING, JobState.FAILED, JobState.CANCELLED}),
    JobState.DELIVERING: frozenset({JobState.SUCCEEDED, JobState.FAILED}),
    JobState.SUCCEEDED: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.CANCELLED: frozenset(),
}


# Adoption, the one way out of a terminal state: a job failed as SUBMIT_OUTCOME_UNKNOWN (the
# submit call's answer was lost) whose provider job turns out to exist, because ModelsLab called
# its webhook (right secret, track_id naming the job). The engine fetches that provider job itself;
# if the clip is ready, the job moves failed -> delivering with its cost set to 0 and is delivered
# free of charge. Only that failure code qualifies, only once (the row then has a provider id),
# and the move is made by one guarded UPDATE (db/jobs.py `adopt`), never by `transition`.
ADOPTION = (JobState.FAILED, JobState.DELIVERING)


class Mode(enum.StrEnum):
    STD = "std"
    PRO = "pro"

    @property
    def other(self) -> Mode:
        return Mode.PRO if self is Mode.STD else Mode.STD


class Orientation(enum.StrEnum):
    """Whose facing the clip keeps: the picture's (short videos) or the video's."""

    IMAGE = "image"
    VIDEO = "video"


class FailureCode(enum.StrEnum):
    INPUT = "input"
    PROVIDER_FAILED = "provider_failed"
    SUBMIT_OUTCOME_UNKNOWN = "submit_outcome_unknown"
    TIMEOUT = "timeout"
    PROVIDER_UNREACHABLE = "provider_unreachable"
    NO_OUTPUT = "no_output"
    EXPIRED_IN_QUEUE = "expired_in_queue"
    NO_PROVIDER_ID = "no_provider_id"
    CANCELLED = "cancelled"
    # The Discord message holding an input (a library motion, the menu's target) is gone.
    INPUT_GONE = "input_gone"


class DeliveryRoute(enum.StrEnum):
    """How a clip reached the member: where (the channel, the interaction's follow-up, a DM) and
    in what form (the file, a smaller re-encode, the provider's link)."""

    FILE = "file"
    REENCODED = "reencoded"
    LINK = "link"
    INTERACTION_FILE = "interaction-file"
    INTERACTION_REENCODED = "interaction-reencoded"
    INTERACTION_LINK = "interaction-link"
    DM_FILE = "dm-file"
    DM_REENCODED = "dm-reencoded"
    DM_LINK = "dm-link"
    UNDELIVERED = "undelivered"

    @classmethod
    def of(cls, prefix: str, form: str) -> DeliveryRoute:
        """The route for a place's prefix ("", "interaction-", "dm-") and a form."""
        return cls(prefix + form)


@dataclass(frozen=True)
class HostedFile:
    """A file kept as an attachment of a Discord message: store the message, not the link, and
    fetch the message again for a freshly signed link whenever the file must be handed on."""

    channel_id: int
    message_id: int
    attachment_id: int

    @classmethod
    def of(
        cls, channel_id: int | None, message_id: int | None, attachment_id: int | None
    ) -> HostedFile | None:
        if channel_id is None or message_id is None or attachment_id is None:
            return None
        return cls(channel_id, message_id, attachment_id)


@dataclass(frozen=True, kw_only=True)
class NewJob:
    """What a validated request inserts."""

    user_id: int
    guild_id: int | None
    channel_id: int | None
    image_url: str
    image_path: str
    image_kind: str
    image_bytes: int
    image_width: int
    image_height: int
    video_url: str
    video_path: str
    video_kind: str
    video_bytes: int
    video_width: int
    video_height: int
    video_seconds: float
    orientation: Orientation
    mode: Mode
    prompt: str
    model_id: str
    cost_seconds: float
    created_at: float
    retry_of: int | None = None
    # Inputs kept as attachments of Discord messages the bot can fetch again for a fresh link
    # (services/links.py); None for uploads, whose links cannot be renewed.
    motion_id: int | None = None
    image_channel_id: int | None = None
    image_message_id: int | None = None
    image_attachment_id: int | None = None
    video_channel_id: int | None = None
    video_message_id: int | None = None
    video_attachment_id: int | None = None

    @property
    def image_source(self) -> HostedFile | None:
        return HostedFile.of(self.image_channel_id, self.image_message_id, self.image_attachment_id)

    @property
    def video_source(self) -> HostedFile | None:
        return HostedFile.of(self.video_channel_id, self.video_message_id, self.video_attachment_id)

    @property
    def inputs_refreshable(self) -> bool:
        """Both inputs get fresh links at submit time, so no link of theirs can expire while
        the job waits: neither the queue's wait limit nor Retry's age limit applies."""
        return self.image_source is not None and self.video_source is not None


@dataclass(frozen=True, kw_only=True)
class Job(NewJob):
    """One job as stored."""

    id: int
    state: JobState
    status_message_id: int | None
    result_message_id: int | None
    delivery: DeliveryRoute | None
    provider_job_id: str | None
    provider_eta: float | None
    attempts: int
    polls: int
    transient_errors: int
    next_attempt_at: float | None
    deadline_at: float | None
    charged_seconds: float
    result_url: str | None
    result_path: str | None
    failure_code: FailureCode | None
    failure_reason: str | None
    submitting_at: float | None
    processing_at: float | None
    delivering_at: float | None
    finished_at: float | None
    media_purged_at: float | None
    # When the side-by-side video of the delivered clip was made (at most once per clip).
    side_by_side_at: float | None = None
    ready_at: float | None = None  # when the provider first reported the clip ready
    webhook_at: float | None = None  # when a webhook with the right secret last prompted a fetch
    # The random part of this job's webhook URL: kept out of repr so it never reaches a log.
    webhook_secret: str | None = field(default=None, repr=False)
    # The process working on the job and until when its claim holds (it renews it while it works);
    # a job whose lease ran out is taken over by any process.
    claimed_by: str | None = None
    lease_until: float | None = None


@dataclass(frozen=True)
class AuditEntry:
    """One recorded admin or owner change. guild_id is None for bot-wide and DM-scope changes."""

    id: int
    guild_id: int | None
    actor_id: int
    action: str
    target: str | None
    old_value: str | None
    new_value: str | None
    created_at: float


@dataclass(frozen=True, kw_only=True)
class Motion:
    """A motion clip in a library: a server's (guild_id) or the bot-wide one (guild_id None).
    The clip lives as an attachment of a message the bot posted (`source`); its probe results
    are stored, so using it downloads nothing."""

    id: int
    guild_id: int | None
    name: str
    description: str | None
    source: HostedFile
    filename: str
    video_kind: str
    video_bytes: int
    video_width: int
    video_height: int
    video_seconds: float
    has_audio: bool
    added_by: int
    added_at: float
    unavailable_at: float | None = None
    uses: int = 0

    @property
    def available(self) -> bool:
        return self.unavailable_at is None
