"""How the engine tells the outside world what happened. The Discord layer implements it; tests
use a recording fake. Implementations must not raise for expected delivery problems (missing
permissions, deleted messages): they fall back and report what happened in the receipt."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from db.jobs import Job


@dataclass(frozen=True)
class Clip:
    """The finished video: a local copy when it could be downloaded, and the provider's link."""

    path: Path | None
    url: str | None
    size_bytes: int | None


@dataclass(frozen=True)
class DeliveryReceipt:
    """How the clip reached the user. delivered=False means no route worked."""

    method: str  # e.g. "file", "reencoded", "link", "dm-file", "undelivered"
    message_id: int | None
    delivered: bool = True


class Notifier(Protocol):
    async def job_queued(self, job: Job, position: int) -> None:
        """The job waits in the queue at `position` (1 = next)."""

    async def job_started(self, job: Job) -> None:
        """The provider accepted the job."""

    async def job_progress(self, job: Job, elapsed: float, eta: float | None) -> None:
        """Still generating after `elapsed` seconds; eta is the provider's guess, if any."""

    async def job_succeeded(self, job: Job, clip: Clip) -> DeliveryReceipt:
        """Post the clip. Called again after a crash mid-delivery: must not post twice."""
        ...

    async def job_failed(self, job: Job, code: str, reason: str, charged: bool) -> None:
        """The job ended without a clip; reason is plain words for the user."""

    async def operator_alert(self, key: str, message: str) -> None:
        """Something only the operator can fix (bad key, no credits, spending cap)."""
