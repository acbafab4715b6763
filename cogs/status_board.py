"""The status board: one bot-owned message per job (channel.send / PartialMessage.edit), never
behind the 15-minute interaction token. It is edited only when something a person notices
changed, and at most every STATUS_EDIT_INTERVAL_SECONDS; a change that arrives sooner is held and
shown when the interval is up (the newest one wins). The final edit of a job is never held.

It posts a message when a job has none, and returns that fact (`StatusPosted`) for the engine to
store; it never writes job rows. Memory here is an optimisation only: after a restart
everything needed is rebuilt from the job row."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
import discord

from cogs.buttons import job_view
from cogs.routes import RouteClosed, Routes, describe, message_kwargs
from cogs.status import StatusCard, jump_url, worth_editing
from domain import Job
from services.notifier import StatusPosted

log = logging.getLogger(__name__)

# Trouble that must not stop a job: status messages are best effort.
STATUS_TROUBLE = (discord.HTTPException, aiohttp.ClientError, TimeoutError)


@dataclass
class _Status:
    """Where a job's status message is and what it last showed."""

    channel_id: int | None
    message_id: int | None
    shown: StatusCard | None = None
    shown_at: float = float("-inf")
    held: tuple[Job, StatusCard] | None = None
    flush: asyncio.Task[None] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class StatusBoard:
    def __init__(
        self,
        client: discord.Client,
        routes: Routes,
        *,
        edit_interval: float,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._routes = routes
        self._edit_interval = edit_interval
        self._monotonic = monotonic
        self._clock = clock
        self._status: dict[int, _Status] = {}

    def url(self, job: Job) -> str | None:
        """Link to the job's status message, if one was posted."""
        status = self._status.get(job.id)
        channel_id = status.channel_id if status else job.channel_id
        message_id = status.message_id if status else job.status_message_id
        if channel_id is None or message_id is None:
            return None
        guild_id = job.guild_id if channel_id == job.channel_id else None
        return jump_url(guild_id, channel_id, message_id)

    async def show(self, job: Job, card: StatusCard) -> StatusPosted | None:
        """Bring the job's status message up to `card` (or hold it); a new message is reported."""
        if job.state.is_terminal and not card.is_final:
            # A poll that was in flight when the job was cancelled: the card would undo the
            # cancellation on screen.
            return None
        status = self._status_of(job)
        async with status.lock:
            if status.message_id is None:
                return None if card.is_final else await self._post(job, status, card)
            if status.shown is not None and not worth_editing(status.shown, card, self._clock()):
                status.held = None  # what is on screen is still right
                return None
            wait = status.shown_at + self._edit_interval - self._monotonic()
            if wait > 0 and not card.is_final:
                self._hold(job, status, card, wait)
                return None
            return await self._edit(job, status, card, repost=True)

    def forget(self, job_id: int) -> None:
        status = self._status.pop(job_id, None)
        if status is not None and status.flush is not None:
            status.flush.cancel()

    def _status_of(self, job: Job) -> _Status:
        status = self._status.get(job.id)
        if status is None:
            status = _Status(channel_id=job.channel_id, message_id=job.status_message_id)
            self._status[job.id] = status
        return status

    def _hold(self, job: Job, status: _Status, card: StatusCard, wait: float) -> None:
        """Show `card` when the edit interval is up, unless a newer card replaces it first."""
        status.held = (job, card)
        if status.flush is None or status.flush.done():
            status.flush = asyncio.create_task(
                self._flush_later(job.id, wait), name=f"status-{job.id}"
            )

    async def _flush_later(self, job_id: int, wait: float) -> None:
        await asyncio.sleep(wait)
        status = self._status.get(job_id)
        if status is None:
            return
        async with status.lock:
            if status.held is None or status.message_id is None:
                return
            job, card = status.held
            try:
                # No new message from here: nobody would store it. The next change posts one.
                await self._edit(job, status, card, repost=False)
            except Exception:  # a background task: nobody else would see this
                log.exception("job %d: held status edit failed", job_id)

    async def _post(self, job: Job, status: _Status, card: StatusCard) -> StatusPosted | None:
        kwargs = message_kwargs(embed=card.embed, view=job_view(job))
        for route in self._routes.for_status(job):
            try:
                message = await self._routes.send(job, route, kwargs)
            except RouteClosed:
                continue
            except STATUS_TROUBLE as exc:
                # Status is best effort: the job must not fail because Discord hiccuped.
                log.warning("job %d: status message not posted (%s)", job.id, describe(exc))
                return None
            status.channel_id = message.channel.id
            status.message_id = message.id
            self._mark_shown(status, card)
            log.info("job %d: status message %d posted via %s", job.id, message.id, route.name)
            return StatusPosted(message.id)
        log.warning("job %d: no status message could be posted; carrying on without one", job.id)
        return None

    async def _edit(
        self, job: Job, status: _Status, card: StatusCard, *, repost: bool
    ) -> StatusPosted | None:
        if status.channel_id is None or status.message_id is None:
            return None
        channel = self._client.get_partial_messageable(status.channel_id)
        message = channel.get_partial_message(status.message_id)
        view = None if card.is_final else job_view(job)
        try:
            await message.edit(embed=card.embed, view=view)
        except (discord.NotFound, discord.Forbidden) as exc:
            # Deleted by someone, or we lost access: never fatal. Post a fresh one unless the
            # job is over (its outcome is posted as its own message anyway).
            log.info("job %d: status message gone (code %d)", job.id, exc.code)
            self._routes.remember_refusal(exc, "channel", status.channel_id)
            status.message_id = None
            status.channel_id = job.channel_id
            if repost and not card.is_final:
                return await self._post(job, status, card)
            return None
        except STATUS_TROUBLE as exc:
            # 30046 (too many edits of an old message) or an outage: the next change tries again.
            log.warning("job %d: status edit failed (%s)", job.id, describe(exc))
            return None
        self._mark_shown(status, card)
        return None

    def _mark_shown(self, status: _Status, card: StatusCard) -> None:
        status.shown = card
        status.shown_at = self._monotonic()
        status.held = None
