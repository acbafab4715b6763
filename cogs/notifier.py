"""DiscordNotifier: the engine's Notifier, speaking Discord.

Status lives in a bot-owned message (channel.send / PartialMessage.edit), never behind the
15-minute interaction token. It is edited only when something a person notices changed, and at
most every STATUS_EDIT_INTERVAL_SECONDS; a change that arrives sooner is held and shown when the
interval is up (the newest one wins). The final edit of a job is never held.

The clip is posted as a new message that mentions the user, along these routes in order: the
job's channel, the interaction's followup while its token is valid, then the user's DMs. On each
route it goes as a file if it fits the upload limit, else a smaller re-encode, else the provider's
link with its expiry. Forbidden (50001/50013), unknown channel (10003) and closed DMs (50007) move
on to the next route; server errors raise so the runner retries later (the message nonce keeps a
retry from posting twice). Channels that refused are not tried again for a while: repeated
failed requests can get the bot's IP banned.

Memory here is an optimisation only (interactions, where a status message lives, when it was last
edited): after a restart everything needed is rebuilt from the job row.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import aiohttp
import discord

from cogs.buttons import job_view
from cogs.status import (
    StatusCard,
    cancelled_card,
    clip_text,
    done_card,
    failed_card,
    failure_text,
    generating_card,
    jump_url,
    link_expiry,
    queued_card,
    worth_editing,
)
from db.jobs import Job, JobState
from services.media import reencode_to_fit
from services.notifier import Clip, DeliveryReceipt

if TYPE_CHECKING:
    from bot import AnimateBot
    from services.app import Services

log = logging.getLogger(__name__)

DEFAULT_UPLOAD_LIMIT = discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES
# Re-encodes aim a little under the limit: the limit counts the whole attachment.
REENCODE_TARGET_SHARE = 0.95
# A channel or DM that refused us is skipped for this long.
REFUSAL_MEMORY_SECONDS = 600.0
# An interaction this close to its 15-minute expiry is no longer used.
TOKEN_SAFETY_MARGIN = timedelta(seconds=30)

# The route cannot be used: no access or permission, unknown channel or message, closed DMs,
# dead interaction token.
_ROUTE_CLOSED_CODES = frozenset({50001, 50013, 10003, 10008, 50007, 10062, 50027})
_TOO_LARGE_CODE = 40005
# Trouble that must not stop a job: status messages and failure notices are best effort.
_STATUS_TROUBLE = (discord.HTTPException, aiohttp.ClientError, TimeoutError)


class AlertSender(Protocol):
    """Where operator alerts go (cogs/alerts.py provides one)."""

    async def send(self, key: str, message: str) -> None: ...


class _RouteClosed(Exception):
    """This route cannot deliver; try the next one."""


class _TooLarge(Exception):
    """Discord refused the attachment's size (40005)."""


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


@dataclass(frozen=True)
class _Route:
    """One place a message can go: `send` posts it, `upload_limit` caps its attachment."""

    name: str  # "channel", "interaction" or "dm"
    prefix: str  # prefixed to the receipt method: "", "interaction-", "dm-"
    upload_limit: int
    send: Callable[..., Any]
    supports_nonce: bool


class DiscordNotifier:
    """Implements services.notifier.Notifier for Discord."""

    def __init__(
        self,
        bot: AnimateBot,
        alerts: AlertSender | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._bot = bot
        self._alerts = alerts
        self._monotonic = monotonic
        self._clock = clock
        self._interactions: dict[int, discord.Interaction] = {}
        self._status: dict[int, _Status] = {}
        self._refused_until: dict[tuple[str, int], float] = {}

    @property
    def _services(self) -> Services:
        # Read lazily: the services are built after the notifier.
        return self._bot.services

    @property
    def _edit_interval(self) -> float:
        return self._services.settings.status_edit_interval_seconds

    # --- interactions -------------------------------------------------------------------------
    def remember_interaction(self, job_id: int, interaction: discord.Interaction) -> None:
        """Keep the interaction for its upload limit and as a fallback route, until it expires."""
        self._drop_expired_interactions()
        if self._token_valid(interaction):
            self._interactions[job_id] = interaction

    def _interaction_for(self, job_id: int) -> discord.Interaction | None:
        interaction = self._interactions.get(job_id)
        if interaction is not None and not self._token_valid(interaction):
            del self._interactions[job_id]
            return None
        return interaction

    def _token_valid(self, interaction: discord.Interaction) -> bool:
        return discord.utils.utcnow() < interaction.expires_at - TOKEN_SAFETY_MARGIN

    def _drop_expired_interactions(self) -> None:
        for job_id in [j for j, i in self._interactions.items() if not self._token_valid(i)]:
            del self._interactions[job_id]

    def status_url(self, job: Job) -> str | None:
        """Link to the job's status message, if one was posted."""
        status = self._status.get(job.id)
        channel_id = status.channel_id if status else job.channel_id
        message_id = status.message_id if status else job.status_message_id
        if channel_id is None or message_id is None:
            return None
        guild_id = job.guild_id if channel_id == job.channel_id else None
        return jump_url(guild_id, channel_id, message_id)

    # --- Notifier: progress -------------------------------------------------------------------
    async def job_queued(self, job: Job, position: int) -> None:
        await self._show(job, queued_card(job, position))

    async def job_started(self, job: Job) -> None:
        await self._show(job, generating_card(job, job.provider_eta, self._clock()))

    async def job_progress(self, job: Job, elapsed: float, eta: float | None) -> None:
        await self._show(job, generating_card(job, eta, self._clock()))

    async def job_cancelled(self, job: Job, by_user_id: int | None = None) -> None:
        """Not part of the engine's Notifier: the Cancel button calls it after cancelling."""
        await self._show(job, cancelled_card(job, by_user_id))
        self._forget(job.id)

    # --- status message -----------------------------------------------------------------------
    def _status_of(self, job: Job) -> _Status:
        status = self._status.get(job.id)
        if status is None:
            status = _Status(channel_id=job.channel_id, message_id=job.status_message_id)
            self._status[job.id] = status
        return status

    async def _show(self, job: Job, card: StatusCard) -> None:
        if job.state.is_terminal and not card.is_final:
            # A poll that was in flight when the job was cancelled: the card would undo the
            # cancellation on screen.
            return
        status = self._status_of(job)
        async with status.lock:
            if status.message_id is None:
                if not card.is_final:
                    await self._post_status(job, status, card)
                return
            if status.shown is not None and not worth_editing(status.shown, card, self._clock()):
                status.held = None  # what is on screen is still right
                return
            wait = status.shown_at + self._edit_interval - self._monotonic()
            if wait > 0 and not card.is_final:
                self._hold(job, status, card, wait)
                return
            await self._edit_status(job, status, card)

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
                await self._edit_status(job, status, card)
            except Exception:  # a background task: nobody else would see this
                log.exception("job %d: held status edit failed", job_id)

    async def _post_status(self, job: Job, status: _Status, card: StatusCard) -> None:
        kwargs = self._message_kwargs(embed=card.embed, view=job_view(job))
        for route in self._status_routes(job):
            try:
                message = await self._send(job, route, kwargs)
            except _RouteClosed:
                continue
            except _STATUS_TROUBLE as exc:
                # Status is best effort: the job must not fail because Discord hiccuped.
                log.warning("job %d: status message not posted (%s)", job.id, _describe(exc))
                return
            status.channel_id = message.channel.id
            status.message_id = message.id
            self._mark_shown(status, card)
            await self._services.jobs.set_status_message(job.id, message.id)
            log.info("job %d: status message %d posted via %s", job.id, message.id, route.name)
            return
        log.warning("job %d: no status message could be posted; carrying on without one", job.id)

    async def _edit_status(self, job: Job, status: _Status, card: StatusCard) -> None:
        if status.channel_id is None or status.message_id is None:
            return
        channel = self._bot.get_partial_messageable(status.channel_id)
        message = channel.get_partial_message(status.message_id)
        view = None if card.is_final else job_view(job)
        try:
            await message.edit(embed=card.embed, view=view)
        except (discord.NotFound, discord.Forbidden) as exc:
            # Deleted by someone, or we lost access: never fatal. Post a fresh one unless the
            # job is over (its outcome is posted as its own message anyway).
            log.info("job %d: status message gone (code %d)", job.id, exc.code)
            self._remember_refusal(exc, "channel", status.channel_id)
            status.message_id = None
            status.channel_id = job.channel_id
            if not card.is_final:
                await self._post_status(job, status, card)
            return
        except _STATUS_TROUBLE as exc:
            # 30046 (too many edits of an old message) or an outage: the next change tries again.
            log.warning("job %d: status edit failed (%s)", job.id, _describe(exc))
            return
        self._mark_shown(status, card)

    def _mark_shown(self, status: _Status, card: StatusCard) -> None:
        status.shown = card
        status.shown_at = self._monotonic()
        status.held = None

    def _forget(self, job_id: int) -> None:
        status = self._status.pop(job_id, None)
        if status is not None and status.flush is not None:
            status.flush.cancel()
        self._interactions.pop(job_id, None)

    # --- Notifier: outcomes -------------------------------------------------------------------
    async def job_succeeded(self, job: Job, clip: Clip) -> DeliveryReceipt:
        """Post the clip; never twice (a recorded result, and the message nonce)."""
        if job.result_message_id is not None:
            log.info("job %d: clip already posted as message %d", job.id, job.result_message_id)
            return DeliveryReceipt(job.delivery or "file", job.result_message_id)
        made_smaller: dict[int, Path | None] = {}
        try:
            receipt, message = await self._deliver(job, clip, made_smaller)
        finally:
            await asyncio.to_thread(_remove_files, [p for p in made_smaller.values() if p])
        if receipt.message_id is not None:
            # Recorded at once: a crash before the runner marks the job done must not repost.
            await self._services.jobs.record_delivery(job.id, receipt.method, receipt.message_id)
        result_url = getattr(message, "jump_url", None) if message is not None else None
        await self._show(job, done_card(job, result_url))
        self._forget(job.id)
        log.info("job %d: clip delivered by %s", job.id, receipt.method)
        return receipt

    async def job_failed(self, job: Job, code: str, reason: str, charged: bool) -> None:
        await self._show(job, failed_card(job, reason, charged))
        kwargs = self._message_kwargs(
            content=failure_text(job, reason, charged), view=job_view(job), mention=job.user_id
        )
        for route in self._delivery_routes(job):
            try:
                await self._send(job, route, {**kwargs, "nonce": f"fail-{job.id}"})
            except _RouteClosed:
                continue
            except _STATUS_TROUBLE as exc:
                log.warning("job %d: failure notice not sent (%s)", job.id, _describe(exc))
                continue
            break
        else:
            log.warning("job %d: failure (%s) could not be told to the user anywhere", job.id, code)
        self._forget(job.id)

    async def operator_alert(self, key: str, message: str) -> None:
        if self._alerts is None:
            log.error("operator alert %s: %s", key, message)
            return
        await self._alerts.send(key, message)

    # --- delivery -----------------------------------------------------------------------------
    async def _deliver(
        self, job: Job, clip: Clip, made_smaller: dict[int, Path | None]
    ) -> tuple[DeliveryReceipt, Any]:
        for route in self._delivery_routes(job, clip.size_bytes):
            try:
                outcome = await self._deliver_via(route, job, clip, made_smaller)
            except _RouteClosed:
                continue
            if outcome is not None:
                return outcome
        log.warning("job %d: no route could deliver the clip", job.id)
        return DeliveryReceipt("undelivered", None, delivered=False), None

    async def _deliver_via(
        self, route: _Route, job: Job, clip: Clip, made_smaller: dict[int, Path | None]
    ) -> tuple[DeliveryReceipt, Any] | None:
        """File if it fits, else a smaller re-encode, else the link. None: nothing to send."""
        if clip.path is not None and clip.size_bytes is not None:
            if clip.size_bytes <= route.upload_limit:
                message = await self._send_clip(route, job, clip, clip.path, "file")
                if message is not None:
                    return DeliveryReceipt(route.prefix + "file", message.id), message
            smaller = await self._smaller_copy(job, clip.path, route.upload_limit, made_smaller)
            if smaller is not None:
                message = await self._send_clip(route, job, clip, smaller, "reencoded")
                if message is not None:
                    return DeliveryReceipt(route.prefix + "reencoded", message.id), message
        if clip.url:
            message = await self._send_clip(route, job, clip, None, "link")
            if message is not None:
                return DeliveryReceipt(route.prefix + "link", message.id), message
        return None

    async def _send_clip(
        self, route: _Route, job: Job, clip: Clip, path: Path | None, method: str
    ) -> Any | None:
        """Post one form of the clip. None when Discord says the file is too large."""
        content = clip_text(job, method, clip.url, link_expiry(job, self._clock()))
        kwargs = self._message_kwargs(
            content=content, view=job_view_after(job), mention=job.user_id
        )
        kwargs["nonce"] = f"job-{job.id}"
        if path is None:
            return await self._send(job, route, kwargs)
        file = discord.File(path, filename=f"animation-{job.id}.mp4")
        try:
            return await self._send(job, route, {**kwargs, "file": file})
        except _TooLarge:
            log.info("job %d: %s upload too large for %s", job.id, method, route.name)
            return None
        finally:
            file.close()

    async def _smaller_copy(
        self, job: Job, src: Path, limit: int, made_smaller: dict[int, Path | None]
    ) -> Path | None:
        """A re-encode under `limit` (made once per limit), or None if it cannot be done."""
        target = int(limit * REENCODE_TARGET_SHARE)
        if target not in made_smaller:
            dest = src.with_name(f"{src.stem}-fit-{target}.mp4")
            log.info("job %d: re-encoding the clip to fit %d bytes", job.id, target)
            fits = await asyncio.to_thread(reencode_to_fit, src, dest, target)
            made_smaller[target] = dest if fits else None
        return made_smaller[target]

    # --- routes -------------------------------------------------------------------------------
    def _channel_route(self, job: Job) -> _Route | None:
        if job.channel_id is None or self._refused("channel", job.channel_id):
            return None
        guild = self._bot.get_guild(job.guild_id) if job.guild_id is not None else None
        limit = guild.filesize_limit if guild is not None else DEFAULT_UPLOAD_LIMIT
        channel = self._bot.get_partial_messageable(job.channel_id, guild_id=job.guild_id)
        return _Route("channel", "", limit, channel.send, supports_nonce=True)

    def _interaction_route(self, job: Job) -> _Route | None:
        interaction = self._interaction_for(job.id)
        if interaction is None:
            return None

        async def send(**kwargs: Any) -> Any:
            return await interaction.followup.send(**kwargs, wait=True)

        return _Route(
            "interaction", "interaction-", interaction.filesize_limit, send, supports_nonce=False
        )

    def _dm_route(self, job: Job) -> _Route | None:
        if self._refused("dm", job.user_id):
            return None

        async def send(**kwargs: Any) -> Any:
            channel = await self._bot.create_dm(discord.Object(id=job.user_id))
            return await channel.send(**kwargs)

        return _Route("dm", "dm-", DEFAULT_UPLOAD_LIMIT, send, supports_nonce=True)

    def _status_routes(self, job: Job) -> list[_Route]:
        routes = (self._channel_route(job), self._dm_route(job))
        return [r for r in routes if r is not None]

    def _delivery_routes(self, job: Job, size: int | None = None) -> list[_Route]:
        channel, interaction, dm = (
            self._channel_route(job),
            self._interaction_route(job),
            self._dm_route(job),
        )
        # The interaction's limit can be larger (the user's Nitro): it posts in the same channel,
        # so prefer it when only it can take the original file.
        if (
            channel is not None
            and interaction is not None
            and size is not None
            and channel.upload_limit < size <= interaction.upload_limit
        ):
            channel, interaction = interaction, channel
        return [r for r in (channel, interaction, dm) if r is not None]

    async def _send(self, job: Job, route: _Route, kwargs: dict[str, Any]) -> Any:
        """Send on one route; translate Discord's refusals into _RouteClosed / _TooLarge."""
        if not route.supports_nonce:
            kwargs = {k: v for k, v in kwargs.items() if k != "nonce"}
        try:
            return await route.send(**kwargs)
        except discord.HTTPException as exc:
            if exc.code == _TOO_LARGE_CODE or exc.status == 413:
                raise _TooLarge from exc
            if exc.status >= 500 or exc.status == 429:
                raise  # an outage: the runner retries the delivery later
            log.warning(
                "job %d: %s route refused (HTTP %d, code %d); trying the next",
                job.id,
                route.name,
                exc.status,
                exc.code,
            )
            self._close_route(job, route, exc)
            raise _RouteClosed from exc

    def _close_route(self, job: Job, route: _Route, exc: discord.HTTPException) -> None:
        if route.name == "interaction":
            self._interactions.pop(job.id, None)
        elif route.name == "dm" and exc.code in _ROUTE_CLOSED_CODES:
            self._refused_until[("dm", job.user_id)] = self._monotonic() + REFUSAL_MEMORY_SECONDS
        elif route.name == "channel" and job.channel_id is not None:
            self._remember_refusal(exc, "channel", job.channel_id)

    def _remember_refusal(self, exc: discord.HTTPException, kind: str, target: int | None) -> None:
        if target is not None and exc.code in _ROUTE_CLOSED_CODES - {10008}:
            self._refused_until[(kind, target)] = self._monotonic() + REFUSAL_MEMORY_SECONDS

    def _refused(self, kind: str, target: int) -> bool:
        until = self._refused_until.get((kind, target))
        if until is None:
            return False
        if until <= self._monotonic():
            del self._refused_until[(kind, target)]
            return False
        return True

    @staticmethod
    def _message_kwargs(
        *,
        content: str | None = None,
        embed: discord.Embed | None = None,
        view: discord.ui.View | None = None,
        mention: int | None = None,
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if content is not None:
            kwargs["content"] = content
        if embed is not None:
            kwargs["embed"] = embed
        if view is not None:
            kwargs["view"] = view
        # Mention only the job's owner, whatever the text contains.
        users: list[discord.Object] = [] if mention is None else [discord.Object(id=mention)]
        kwargs["allowed_mentions"] = discord.AllowedMentions(
            everyone=False, roles=False, users=users
        )
        return kwargs


def job_view_after(job: Job) -> discord.ui.View | None:
    """Buttons for the message that ends a job (Retry, other mode). The job passed in is still
    `delivering`, so build the view of its finished self."""
    return job_view(replace(job, state=JobState.SUCCEEDED))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, discord.HTTPException):
        return f"HTTP {exc.status}, code {exc.code}"
    return type(exc).__name__


def _remove_files(paths: list[Path]) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
