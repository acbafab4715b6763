"""How the engine tells the outside world what happened, and the facts it gets back.

The Discord layer implements these protocols; tests use recording fakes. A notifier never writes
job rows: it returns facts (the status message it posted, how the clip was delivered) and the
engine stores them. Implementations must not raise for expected delivery problems (missing
permissions, deleted messages): they fall back and report what happened in the receipt."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from domain import DeliveryRoute, FailureCode, Job


@dataclass(frozen=True)
class Clip:
    """The finished video: a local copy when it could be downloaded, and the provider's link."""

    path: Path | None
    url: str | None
    size_bytes: int | None
    # What the member is charged once it reaches them (services/charges.py); None: not known.
    charge_seconds: float | None = None


@dataclass(frozen=True)
class DeliveryReceipt:
    """How the clip reached the user. delivered=False means no route worked."""

    method: DeliveryRoute
    message_id: int | None
    delivered: bool = True


@dataclass(frozen=True)
class StatusPosted:
    """A new status message was posted for the job (the first, or one replacing a deleted one)."""

    message_id: int


class Notifier(Protocol):
    async def job_queued(self, job: Job, position: int) -> StatusPosted | None:
        """The job waits in the queue at `position` (1 = next)."""

    async def job_started(self, job: Job) -> StatusPosted | None:
        """The provider accepted the job."""

    async def job_progress(
        self, job: Job, elapsed: float, eta: float | None
    ) -> StatusPosted | None:
        """Still generating after `elapsed` seconds; eta is the provider's guess, if any."""

    async def job_succeeded(self, job: Job, clip: Clip) -> DeliveryReceipt:
        """Post the clip. Called again after a crash mid-delivery: must not post twice."""
        ...

    async def job_failed(
        self, job: Job, code: FailureCode, detail: str | None, charged: bool
    ) -> None:
        """The job ended without a clip (`job` is its failed row); `detail` is the provider's
        own words, if any. The Discord layer words it for the member."""
