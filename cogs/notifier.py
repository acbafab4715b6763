"""DiscordNotifier: the engine's Notifier, speaking Discord. A thin facade over the status board
(cogs/status_board.py), the delivery of clips and failure notices (cogs/clip_delivery.py) and
the routes they share (cogs/routes.py).

It is built from explicit collaborators (the Discord client and a few settings), never reaches
into the engine, and never writes job rows: it returns facts (a status message it posted, the
delivery receipt) that the engine stores."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import discord

from cogs.clip_delivery import ClipDelivery
from cogs.routes import Routes
from cogs.status import (
    cancelled_card,
    done_card,
    failed_card,
    failure_words,
    generating_card,
    queued_card,
)
from cogs.status_board import StatusBoard
from domain import FailureCode, Job
from services.notifier import Clip, DeliveryReceipt, StatusPosted

log = logging.getLogger(__name__)


class DiscordNotifier:
    """Implements services.notifier.Notifier for Discord."""

    def __init__(
        self,
        client: discord.Client,
        *,
        edit_interval: float,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._clock = clock
        self._routes = Routes(client, monotonic=monotonic)
        self._board = StatusBoard(
            client, self._routes, edit_interval=edit_interval, monotonic=monotonic, clock=clock
        )
        self._delivery = ClipDelivery(self._routes, clock=clock)

    # --- what the Discord layer itself uses ---------------------------------------------------
    def remember_interaction(self, job_id: int, interaction: discord.Interaction) -> None:
        """Keep the interaction for its upload limit and as a fallback route, until it expires."""
        self._routes.remember_interaction(job_id, interaction)

    def status_url(self, job: Job) -> str | None:
        """Link to the job's status message, if one was posted."""
        return self._board.url(job)

    async def job_cancelled(self, job: Job, by_user_id: int | None = None) -> None:
        """The Cancel button calls it after the engine cancelled the job."""
        await self._board.show(job, cancelled_card(job, by_user_id))
        self._forget(job.id)

    # --- Notifier: progress -------------------------------------------------------------------
    async def job_queued(self, job: Job, position: int) -> StatusPosted | None:
        return await self._board.show(job, queued_card(job, position))

    async def job_started(self, job: Job) -> StatusPosted | None:
        return await self._board.show(job, generating_card(job, job.provider_eta, self._clock()))

    async def job_progress(
        self, job: Job, elapsed: float, eta: float | None
    ) -> StatusPosted | None:
        return await self._board.show(job, generating_card(job, eta, self._clock()))

    # --- Notifier: outcomes -------------------------------------------------------------------
    async def job_succeeded(self, job: Job, clip: Clip) -> DeliveryReceipt:
        """Post the clip; never twice (a recorded result, and the message nonce)."""
        if job.result_message_id is not None and job.delivery is not None:
            log.info("job %d: clip already posted as message %d", job.id, job.result_message_id)
            return DeliveryReceipt(job.delivery, job.result_message_id)
        receipt, message = await self._delivery.deliver(job, clip)
        result_url = getattr(message, "jump_url", None) if message is not None else None
        charged = clip.charge_seconds if receipt.delivered else 0.0
        await self._board.show(job, done_card(job, result_url, charged))
        self._forget(job.id)
        log.info("job %d: clip delivered by %s", job.id, receipt.method)
        return receipt

    async def job_failed(
        self, job: Job, code: FailureCode, detail: str | None, charged: bool
    ) -> None:
        reason = failure_words(job)
        await self._board.show(job, failed_card(job, reason, charged))
        if not await self._delivery.tell_failure(job, reason, charged):
            log.warning("job %d: failure (%s) could not be told to the user anywhere", job.id, code)
        self._forget(job.id)

    def _forget(self, job_id: int) -> None:
        self._board.forget(job_id)
        self._routes.forget(job_id)
