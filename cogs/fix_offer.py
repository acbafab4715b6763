"""One-tap fixes, Discord side: when the only problems with a request are ones the bot can repair
(services/fixes.py), reply with what is wrong, what each fix does and what it costs, and a button
per fix. It works wherever inputs are checked: /animate with an upload or a library motion, and
the "Animate" message menu. Nothing is submitted or charged before a press.

A press makes the fixed file (in a thread, validated again) and keeps it as an attachment of a
public message in the channel, which shows what the generator gets; the job stores that message
and the runner fetches a fresh link to it at submit time (services/runner/inputs.py). Where the
bot cannot post or read back in the channel (a user install), the file goes on the private reply
and its link is used as it is, like an upload's.

An offer lasts 15 minutes and works once; a second or late press says so and submits nothing.
Offers live in memory, but the buttons are DynamicItems registered at start-up: a press after a
restart is answered ("offer gone, run /animate again") instead of failing.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import discord

from cogs import fix_text
from cogs.errors import handle_error, reply_ephemeral
from cogs.message_host import MessageLinks, PostRefused, PostTooLarge
from cogs.requester import IsOwner, requester_from
from cogs.routes import DEFAULT_UPLOAD_LIMIT
from cogs.status import receipt_text
from domain import HostedFile, Job, Mode, Motion, Orientation
from services.fixes import (
    IMAGE_FIXES,
    VIDEO_FIXES,
    FixPlan,
    Remedy,
    plan_fixes,
    repair_image,
    repair_video,
)
from services.jobs import JobInputs, JobService
from services.links import InputGoneError, RefreshFailedError
from services.media import (
    ImageInfo,
    MediaError,
    MediaLimitError,
    VideoInfo,
    probe_image,
    probe_video,
)
from services.motions import video_info
from settings import Settings

log = logging.getLogger(__name__)

OFFER_SECONDS = fix_text.OFFER_MINUTES * 60
TEMPLATE = r"fix:(?P<key>\d+):(?P<index>\d+)"
#: The cog that owns the offers (cogs/animate.py); a press finds them through it.
OWNER_COG = "AnimateCog"


@dataclass(frozen=True)
class FixSource:
    """What an offer starts from: the request as it came, before any repair."""

    image_url: str
    video_url: str
    orientation: Orientation
    mode: Mode
    prompt: str
    # Inputs kept in messages (the Animate menu's target, a library motion's clip).
    image_source: HostedFile | None = None
    video_source: HostedFile | None = None
    motion: Motion | None = None  # a library motion: its probed facts stand for the video


@dataclass
class _Offer:
    key: int
    owner_id: int
    folder: Path
    image: ImageInfo
    video: VideoInfo
    source: FixSource
    plan: FixPlan
    expires_at: float
    used: bool = False

    @property
    def image_path(self) -> Path:
        return self.folder / "image.input"

    @property
    def video_path(self) -> Path:
        return self.folder / "video.input"


class FixOffers:
    """Makes offers and carries out presses."""

    def __init__(
        self,
        *,
        settings: Settings,
        jobs: JobService,
        is_owner: IsOwner | None,
        remember: Callable[[int, discord.Interaction], None],
        status_url: Callable[[Any], str | None],
        links: MessageLinks | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._jobs = jobs
        self._is_owner = is_owner
        self._remember = remember
        self._status_url = status_url
        self._links = links
        self._clock = clock
        self.views: dict[int, FixOfferView] = {}  # by offer key (tests press these)

    async def offer(
        self, interaction: discord.Interaction, folder: Path, source: FixSource
    ) -> bool:
        """Reply with an offer if every problem is repairable; False (nothing sent) if not."""
        try:
            image = await asyncio.to_thread(probe_image, folder / "image.input")
            if source.motion is None:
                video = await asyncio.to_thread(probe_video, folder / "video.input")
            else:
                video = video_info(source.motion)
        except (MediaError, OSError):
            return False
        plan = plan_fixes(image, video, source.orientation)
        if plan is None:
            return False
        if source.motion is not None and any(_video_fixes(r) for r in plan.remedies):
            return False  # a library clip is kept as it was added: only the picture is repaired
        mode = source.mode
        costs = [self._jobs.cost_of(r.video_seconds, r.orientation, mode) for r in plan.remedies]
        offer = _Offer(
            interaction.id,
            interaction.user.id,
            folder,
            image,
            video,
            source,
            plan,
            self._clock() + OFFER_SECONDS,
        )
        view = FixOfferView(self, offer)
        await interaction.followup.send(
            fix_text.offer_text(plan, image, video, costs), view=view, ephemeral=True, wait=True
        )
        self.views[offer.key] = view
        log.info("fix offered to user %d: %s", offer.owner_id, [p.value for p in plan.problems])
        return True

    async def press_key(self, interaction: discord.Interaction, key: int, index: int) -> None:
        """A press routed by its custom_id: the offer, or "gone" when this process has none."""
        view = self.views.get(key)
        if view is None or index >= len(view.offer.plan.remedies):
            log.info("fix press on a gone offer %d by user %d", key, interaction.user.id)
            await reply_ephemeral(interaction, fix_text.OFFER_GONE)
            return
        await self.press(interaction, view.offer, index)

    async def press(self, interaction: discord.Interaction, offer: _Offer, index: int) -> None:
        if interaction.user.id != offer.owner_id:
            await reply_ephemeral(interaction, fix_text.NOT_YOURS)
            return
        if offer.used or self._clock() > offer.expires_at:
            used = offer.used
            await reply_ephemeral(
                interaction, fix_text.OFFER_USED if used else fix_text.OFFER_EXPIRED
            )
            return
        offer.used = True  # before any await: a second press is refused
        await interaction.response.defer(ephemeral=True, thinking=True)
        remedy = offer.plan.remedies[index]
        try:
            text = await self._carry_out(interaction, offer, remedy)
        except Exception as exc:  # noqa: BLE001 - boundary: handle_error words or logs it
            if "job_id" not in interaction.extras:  # nothing queued: the files are not kept
                await asyncio.to_thread(shutil.rmtree, offer.folder, True)
            await handle_error(interaction, exc)
            return
        await reply_ephemeral(interaction, text)

    async def _carry_out(
        self, interaction: discord.Interaction, offer: _Offer, remedy: Remedy
    ) -> str:
        source = offer.source
        inputs = JobInputs(
            image_url=source.image_url,
            image_path=str(offer.image_path),
            image=offer.image,
            video_url=source.video_url,
            video_path="" if source.motion else str(offer.video_path),
            video=offer.video,
            orientation=remedy.orientation,
            mode=source.mode,
            prompt=source.prompt,
            image_source=source.image_source,
            video_source=source.video_source,
            motion_id=source.motion.id if source.motion else None,
        )
        posted: list[HostedFile] = []
        try:
            job = await self._repair_and_queue(interaction, offer, remedy, inputs, posted)
        except Exception:
            if self._links is not None:  # nothing was queued: the kept copies are not needed
                for kept in posted:
                    await self._links.delete(kept)
            raise
        interaction.extras["job_id"] = job.id
        self._remember(job.id, interaction)
        log.info(
            "job %d: queued from a fix (%s), kept in messages: image %s, video %s",
            job.id,
            fix_text.button_label(remedy, offer.plan),
            job.image_source is not None,
            job.video_source is not None,
        )
        position = await self._jobs.queue_position(job.id)
        return receipt_text(job, position, self._status_url(job))

    async def _repair_and_queue(
        self,
        interaction: discord.Interaction,
        offer: _Offer,
        remedy: Remedy,
        inputs: JobInputs,
        posted: list[HostedFile],
    ) -> Job:
        """Make the fixed files, keep them (recorded in `posted`), and queue the job."""
        image_fixes = tuple(f for f in remedy.fixes if f.kind in IMAGE_FIXES)
        if image_fixes:
            path = offer.folder / "image-fixed.png"
            image = await asyncio.to_thread(repair_image, offer.image_path, path, *image_fixes)
            url, kept = await self._keep(interaction, "picture", path, image.size_bytes)
            posted.extend([kept] if kept else [])
            inputs = replace(
                inputs, image_url=url, image_path=str(path), image=image, image_source=kept
            )
        video_fixes = _video_fixes(remedy)
        if video_fixes:
            path = offer.folder / "video-fixed.mp4"
            video = await asyncio.to_thread(
                repair_video, offer.video_path, path, video_fixes, remedy.orientation.value
            )
            url, kept = await self._keep(interaction, "video", path, video.size_bytes)
            posted.extend([kept] if kept else [])
            inputs = replace(
                inputs, video_url=url, video_path=str(path), video=video, video_source=kept
            )
        who = await requester_from(interaction, self._settings, self._is_owner)
        return await self._jobs.create(inputs, who)

    async def _keep(
        self, interaction: discord.Interaction, what: str, path: Path, size: int
    ) -> tuple[str, HostedFile | None]:
        """Keep a fixed file where the provider can fetch it: a public message in the channel
        (its link renewed at submit time), else the private reply (its link used as it is)."""
        filename = f"fixed-{'image' if what == 'picture' else what}{path.suffix}"
        guild = interaction.guild
        channel_limit = guild.filesize_limit if guild is not None else DEFAULT_UPLOAD_LIMIT
        channel_id = interaction.channel_id
        if self._links is not None and channel_id is not None and size <= channel_limit:
            posted = await _post_in_channel(
                self._links, interaction, channel_id, (what, path, filename)
            )
            if posted is not None:
                return posted
        limit = max(channel_limit, interaction.filesize_limit)
        if size > limit:
            input_name = "image" if what == "picture" else "video"
            raise MediaLimitError(fix_text.too_large_text(what, size, limit), input_name)
        message = await interaction.followup.send(
            fix_text.FALLBACK_NOTE,
            files=[discord.File(path, filename=filename)],
            ephemeral=True,
            wait=True,
        )
        return message.attachments[0].url, None

    def expired(self, view: FixOfferView) -> None:
        self.views = {k: v for k, v in self.views.items() if v is not view}
        if not view.offer.used:
            shutil.rmtree(view.offer.folder, ignore_errors=True)


async def _post_in_channel(
    links: MessageLinks,
    interaction: discord.Interaction,
    channel_id: int,
    file: tuple[str, Path, str],
) -> tuple[str, HostedFile] | None:
    """Post (what, path, filename) in the channel; a link read back (proving the bot can renew
    it) and the message, or None where the bot may not post or read there."""
    what, path, filename = file
    content = fix_text.kept_text(interaction.user.id, what)
    try:
        kept = await links.post_file(channel_id, interaction.guild_id, content, path, filename)
    except (PostRefused, PostTooLarge):
        return None
    try:
        return await links.fresh_url(kept), kept
    except (InputGoneError, RefreshFailedError) as exc:
        log.info("fixed %s posted but not readable back (%s); replying instead", what, exc)
        await links.delete(kept)
        return None


def _video_fixes(remedy: Remedy) -> tuple[Any, ...]:
    return tuple(f for f in remedy.fixes if f.kind in VIDEO_FIXES)


def offers_of(client: discord.Client) -> FixOffers | None:
    """The running offers, found through the cog that owns them (None while it is not loaded)."""
    get_cog = getattr(client, "get_cog", None)
    cog = get_cog(OWNER_COG) if get_cog is not None else None
    offers = getattr(cog, "fix_offers", None)
    return offers if isinstance(offers, FixOffers) else None


class FixButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=TEMPLATE):
    """One fix's button. The custom_id names the offer and the fix, so a press is routed even
    after a restart, when there is no offer any more to carry out."""

    def __init__(self, key: int, index: int, label: str = "Fix") -> None:
        super().__init__(
            discord.ui.Button(
                label=label, style=discord.ButtonStyle.primary, custom_id=f"fix:{key}:{index}"
            )
        )
        self.key = key
        self.index = index

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> FixButton:
        label = getattr(item, "label", None) or "Fix"
        return cls(int(match["key"]), int(match["index"]), label)

    async def callback(self, interaction: discord.Interaction) -> None:
        offers = offers_of(interaction.client)
        if offers is None:
            await reply_ephemeral(interaction, fix_text.OFFER_GONE)
            return
        await offers.press_key(interaction, self.key, self.index)


class FixOfferView(discord.ui.View):
    """Holds the buttons and ends the offer after 15 minutes. Presses come through FixButton."""

    def __init__(self, offers: FixOffers, offer: _Offer) -> None:
        super().__init__(timeout=OFFER_SECONDS)
        self.offers = offers
        self.offer = offer
        for index, remedy in enumerate(offer.plan.remedies):
            label = fix_text.button_label(remedy, offer.plan)
            self.add_item(FixButton(offer.key, index, label))

    async def press(self, interaction: discord.Interaction, index: int) -> None:
        await self.offers.press(interaction, self.offer, index)

    async def on_timeout(self) -> None:
        self.offers.expired(self)
