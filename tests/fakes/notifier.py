"""A Notifier that records every call, for engine tests and benchmarks."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from cogs.alerts import alert_text
from domain import DeliveryRoute, FailureCode, Job
from services.alerts import AlertTarget, OperatorAlert
from services.notifier import Clip, DeliveryReceipt


@dataclass
class RecordingNotifier:
    events: list[tuple[str, int | None, tuple[Any, ...]]] = field(default_factory=list)
    delivered: list[tuple[int, Clip]] = field(default_factory=list)
    alerts: list[tuple[str, str]] = field(default_factory=list)
    receipt: DeliveryReceipt = field(
        default_factory=lambda: DeliveryReceipt(DeliveryRoute.FILE, 555)
    )
    fail_deliveries: int = 0  # raise on this many job_succeeded calls first
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    def _record(self, kind: str, job: Job | None, *args: Any) -> None:
        self.events.append((kind, None if job is None else job.id, args))

    def kinds(self, job_id: int) -> list[str]:
        return [kind for kind, jid, _ in self.events if jid == job_id]

    async def job_queued(self, job: Job, position: int) -> None:
        self._record("queued", job, position)

    async def job_started(self, job: Job) -> None:
        self._record("started", job)

    async def job_progress(self, job: Job, elapsed: float, eta: float | None) -> None:
        self._record("progress", job, elapsed, eta)

    async def job_succeeded(self, job: Job, clip: Clip) -> DeliveryReceipt:
        if self.fail_deliveries > 0:
            self.fail_deliveries -= 1
            raise RuntimeError("delivery blew up")
        self._record("succeeded", job, clip)
        self.delivered.append((job.id, clip))
        self.finished.set()
        return self.receipt

    async def job_failed(
        self, job: Job, code: FailureCode, detail: str | None, charged: bool
    ) -> None:
        self._record("failed", job, code, detail, charged)
        self.finished.set()

    async def send_alert(self, target: AlertTarget | None, alert: OperatorAlert) -> str | None:
        """The engine's alert sender too: (where, words) for every alert that went out, worded
        as the Discord layer words them."""
        where = "owners" if target is None else target.encode()
        self.alerts.append((where, alert_text(alert)))
        return where

    def alerts_about(self, words: str) -> list[str]:
        return [message for _, message in self.alerts if words in message]
