"""What each step of a job ended with. Steps talk to ModelsLab, the CDN and the notifier and
return one of these; the recorder turns it into the job's next row. Nothing here does I/O."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from domain import FailureCode
from services.notifier import DeliveryReceipt


@dataclass(frozen=True)
class Accepted:
    """The provider took the job."""

    provider_job_id: str
    eta: float | None


@dataclass(frozen=True)
class Requeue:
    """Back to the queue. `count_attempt` is False when the refusal was not the job's fault."""

    retry_at: float | None
    count_attempt: bool = True


@dataclass(frozen=True)
class Failed:
    """The job ends without a clip. `detail` is the provider's own words, if any."""

    code: FailureCode
    detail: str | None = None


@dataclass(frozen=True)
class StillRunning:
    """The provider is still generating."""

    eta: float | None


@dataclass(frozen=True)
class PollLater:
    """Ask again after `delay`; `trouble` says why when it was an error (counts towards the limit
    of `limit` errors in a row, after which the job fails with `code`)."""

    delay: float
    trouble: str | None = None
    code: FailureCode = FailureCode.PROVIDER_UNREACHABLE
    limit: int | None = None


@dataclass(frozen=True)
class Ready:
    """The clip exists at the provider's link."""

    url: str


@dataclass(frozen=True)
class Fetched:
    """The clip's local copy (None when only the link can be handed over)."""

    url: str
    path: Path | None
    size: int | None


@dataclass(frozen=True)
class Delivered:
    """The clip went out (or no route took it: see the receipt). `clip_seconds` is the
    delivered clip's probed length, None when it could not be measured."""

    receipt: DeliveryReceipt
    clip_seconds: float | None = None


@dataclass(frozen=True)
class DeliverLater:
    """A delivery attempt raised (an outage); try again after `delay`."""

    delay: float


SubmitOutcome = Accepted | Requeue | Failed
PollOutcome = StillRunning | PollLater | Ready | Failed
FetchOutcome = Fetched | PollLater
DeliverOutcome = Delivered | DeliverLater
