"""/animate: defer, fetch and check the inputs, reserve quota and queue the job.

The motion is an uploaded `video` or a library `motion` (exactly one of the two). Nothing is
charged until every input limit has passed: the prompt, the choice of motion and the attachments'
declared sizes are checked before downloading, the downloads are capped, and the real type,
dimensions and duration are probed from the bytes (in a thread); a library motion's were probed
when it was added, and only a fresh link to it is fetched. Expected refusals (MediaError,
DownloadError, EnqueueRefused, MotionError, and ModelsLabError from publishing a converted WebP)
propagate to the tree's error handler (cogs/errors.py), which replies privately.

The "Animate" message menu (cogs/animate_menu.py) starts jobs through the same `start_and_confirm`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from cogs.animate_inputs import (
    AnimateRequest,
    FixOffered,
    PickedMotion,
    PublishImage,
    _remove_folder,
    check_declared_sizes,
    check_one_video,
    clean_prompt,
    download_input,
    modelslab_publisher,
)
from cogs.fix_offer import FixButton, FixOffers, FixSource
from cogs.message_host import MessageLinks
from cogs.motion_text import motion_label
from cogs.requester import IsOwner, requester_from
from cogs.status import receipt_text
from domain import Job, Mode, Orientation
from services.downloads import HostAllowlist
from services.jobs import JobInputs, JobService
from services.media import (
    IMAGE_MAX_BYTES,
    PROMPT_MAX_CHARS,
    VIDEO_MAX_BYTES,
    VIDEO_MAX_SECONDS,
    ImageInfo,
    MediaLimitError,
    UnsupportedMediaError,
    probe_and_validate,
    probe_image,
    validate_image,
)
from services.modelslab import UPLOAD_MAX_BYTES, ModelsLabError
from services.motions import MotionError, MotionProblem, MotionService, check_fits, video_info
from services.quota import EnqueueRefused
from services.transcode import convert_image_to_png
from settings import Settings

if TYPE_CHECKING:
    from cogs.app_bot import AppBot, JobMessages

log = logging.getLogger(__name__)

PROBE_CONCURRENCY = max(2, min(8, os.cpu_count() or 2))

ORIENTATION_CHOICES = [
    app_commands.Choice(
        name=f"image: faces as in the picture (video up to {VIDEO_MAX_SECONDS['image']:g} s)",
        value="image",
    ),
    app_commands.Choice(
        name=f"video: turns like the person in the video (up to {VIDEO_MAX_SECONDS['video']:g} s)",
        value="video",
    ),
]
MODE_CHOICES = [
    app_commands.Choice(name="std: standard, about 720p", value="std"),
    app_commands.Choice(name="pro: about 1080p, costs more quota", value="pro"),
]


class AnimateCog(commands.Cog):
    """The /animate command."""

    def __init__(
        self,
        *,
        settings: Settings,
        session: aiohttp.ClientSession,
        allowlist: HostAllowlist,
        jobs: JobService,
        messages: JobMessages,
        is_owner: IsOwner | None = None,
        publish_image: PublishImage | None = None,
        motions: MotionService | None = None,
        fixes: FixOffers | None = None,
    ) -> None:
        self._motions = motions
        self.fix_offers = fixes
        self._settings = settings
        self._session = session
        self._allowlist = allowlist
        self._jobs = jobs
        self._messages = messages
        self._is_owner = is_owner
        self._publish_image = publish_image
        # Probing is CPU work in threads: a burst of requests is served first come, first
        # served instead of all finishing late together.
        self._probe_slots = asyncio.Semaphore(PROBE_CONCURRENCY)

    # No cooldown: quotas (in the database) are the only limit, and quick requests all queue.
    @app_commands.command(name="animate")
    @app_commands.describe(
        image="The character: JPG or PNG (WebP works too), each side at least 300 px",
        orientation="Which way the character faces; also sets the longest video allowed",
        video="The motion as your clip: MP4 or MOV, 3 s or longer, one person (or use motion)",
        motion="Or a motion from the library instead of a video: type to search",
        mode="std (720p) or pro (1080p, costs more quota)",
        prompt="Optional: describe the scene or style (up to 2500 characters)",
    )
    @app_commands.choices(orientation=ORIENTATION_CHOICES, mode=MODE_CHOICES)
    @app_commands.allowed_installs(guilds=True, users=True)
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    async def animate(
        self,
        interaction: discord.Interaction,
        image: discord.Attachment,
        orientation: str,
        video: discord.Attachment | None = None,
        motion: str | None = None,
        mode: str = "std",
        prompt: app_commands.Range[str, 1, PROMPT_MAX_CHARS] | None = None,
    ) -> None:
        """Animate a character picture with the motion from a video or the library."""
        # The first await: Discord allows 3 s to answer, and nothing below is that fast for sure.
        await interaction.response.defer(ephemeral=True, thinking=True)
        request = AnimateRequest(
            image, video, Orientation(orientation), Mode(mode), prompt or "", motion=motion
        )
        try:
            await self.start_and_confirm(interaction, request, offer_fixes=True)
        except FixOffered:
            return  # the offer is the reply

    @animate.autocomplete("motion")
    async def motion_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Up to 25 library motions whose name contains what was typed."""
        if self._motions is None:
            return []
        found = await self._motions.suggest(interaction.guild_id, current)
        return [app_commands.Choice(name=motion_label(m), value=f"#{m.id}") for m in found]

    async def start_and_confirm(
        self,
        interaction: discord.Interaction,
        request: AnimateRequest,
        *,
        offer_fixes: bool = False,
    ) -> Job:
        """Queue the job, then answer privately with the receipt (interaction already deferred).
        With `offer_fixes`, repairable inputs raise FixOffered after offering a one-tap fix."""
        job = await self.start_job(interaction, request, offer_fixes=offer_fixes)
        position = await self._jobs.queue_position(job.id)
        await interaction.followup.send(
            receipt_text(job, position, self._messages.status_url(job)), ephemeral=True
        )
        return job

    async def start_job(
        self,
        interaction: discord.Interaction,
        request: AnimateRequest,
        *,
        offer_fixes: bool = False,
    ) -> Job:
        """Check everything, then queue the job. Raises the domain errors the handler reports."""
        prompt = clean_prompt(request.prompt)
        check_one_video(request)
        check_declared_sizes(request.image, request.video)
        picked = await self._pick_motion(interaction.guild_id, request)
        who = await requester_from(interaction, self._settings, self._is_owner)
        folder = self._settings.media_dir / f"request-{interaction.id}"
        # When nothing was queued the uploads are not kept. The clean-up is synchronous so that a
        # cancellation cannot interrupt it; it is two files.
        try:
            inputs = await self._prepare_inputs(folder, request, prompt, picked)
        except MediaLimitError as exc:
            if offer_fixes and await self._offer_fix(interaction, folder, request, prompt, picked):
                raise FixOffered from exc  # the folder now belongs to the offer
            _remove_folder(folder)
            raise
        except BaseException:
            _remove_folder(folder)
            raise
        try:
            job = await self._jobs.create(inputs, who)
        except EnqueueRefused:
            _remove_folder(folder)  # refused inside the transaction: no job row exists
            raise
        interaction.extras["job_id"] = job.id
        self._messages.remember_interaction(job.id, interaction)
        log.info(
            "job %d: created by user %d in guild %s (%s, %s, %.1f s video)",
            job.id,
            who.user_id,
            who.guild_id,
            job.orientation,
            job.mode,
            job.video_seconds,
        )
        return job

    async def _pick_motion(
        self, guild_id: int | None, request: AnimateRequest
    ) -> PickedMotion | None:
        """The library motion asked for, if it fits the orientation, with a fresh link."""
        if request.motion is None:
            return None
        if self._motions is None:
            raise MotionError(MotionProblem.NOT_FOUND, request.motion)
        motion = await self._motions.resolve(guild_id, request.motion)
        check_fits(motion, request.orientation)
        return PickedMotion(motion, await self._motions.fresh_url(motion))

    async def _offer_fix(
        self,
        interaction: discord.Interaction,
        folder: Path,
        request: AnimateRequest,
        prompt: str,
        picked: PickedMotion | None,
    ) -> bool:
        """Offer one-tap fixes for an upload, a library motion or the menu's message."""
        if self.fix_offers is None:
            return False
        source = FixSource(
            image_url=request.image.url,
            video_url=picked.url if picked else _attachment(request.video).url,
            orientation=request.orientation,
            mode=request.mode,
            prompt=prompt,
            image_source=request.image_source,
            video_source=picked.motion.source if picked else request.video_source,
            motion=picked.motion if picked else None,
        )
        return await self.fix_offers.offer(interaction, folder, source)

    async def _prepare_inputs(
        self, folder: Path, request: AnimateRequest, prompt: str, picked: PickedMotion | None
    ) -> JobInputs:
        image_path, video_path = folder / "image.input", folder / "video.input"
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        await self._download_both(request, image_path, video_path)
        async with self._probe_slots:
            if picked is None:
                image, video = await probe_and_validate(image_path, video_path, request.orientation)
            else:
                image, video = await _probe_image(image_path), video_info(picked.motion)
        image_url, image_source = request.image.url, request.image_source
        if image.kind == "webp":
            image_path, image, image_url = await self._webp_to_png(image_path)
            image_source = None  # the converted PNG is published elsewhere, not in the message
        return JobInputs(
            image_url=image_url,
            image_path=str(image_path),
            image=image,
            video_url=picked.url if picked else _attachment(request.video).url,
            video_path="" if picked else str(video_path),
            video=video,
            orientation=request.orientation,
            mode=request.mode,
            prompt=prompt,
            image_source=image_source,
            video_source=picked.motion.source if picked else request.video_source,
            motion_id=picked.motion.id if picked else None,
        )

    async def _download_both(
        self, request: AnimateRequest, image_path: Path, video_path: Path
    ) -> None:
        """Fetch the uploads at once; report the image's problem first if both fail."""
        downloads = [self._download("image", request.image, image_path, IMAGE_MAX_BYTES)]
        if request.video is not None:
            downloads.append(self._download("video", request.video, video_path, VIDEO_MAX_BYTES))
        results = await asyncio.gather(*downloads, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _download(
        self, input_name: str, attachment: discord.Attachment, dest: Path, max_bytes: int
    ) -> None:
        await download_input(
            self._session, self._allowlist, input_name, attachment.url, dest, max_bytes
        )

    async def _webp_to_png(self, webp_path: Path) -> tuple[Path, ImageInfo, str]:
        """The provider takes JPG or PNG only: convert, then publish the PNG for it to fetch."""
        if self._publish_image is None:
            raise UnsupportedMediaError(
                "Your image is a WebP, which I can't pass on to the generator yet; "
                "save it as PNG or JPG and upload that.",
                "image",
            )
        png_path = webp_path.with_name("image.png")
        # Sized for the publisher (ModelsLab's base64_to_url), whose limit is below the image's.
        image = await asyncio.to_thread(
            convert_image_to_png, webp_path, png_path, max_bytes=UPLOAD_MAX_BYTES
        )
        validate_image(image)
        await asyncio.to_thread(webp_path.unlink)
        try:
            url = await self._publish_image(png_path)
        except ModelsLabError as exc:
            # The handler tells the user; the operator needs to see an outage or a bad key here.
            log.warning("publishing a converted WebP failed: %r", exc)
            raise
        return png_path, image, url


def _attachment(video: discord.Attachment | None) -> discord.Attachment:
    if video is None:  # check_one_video ruled this out
        raise RuntimeError("no video and no motion")
    return video


async def _probe_image(path: Path) -> ImageInfo:
    image = await asyncio.to_thread(probe_image, path)
    validate_image(image)
    return image


async def setup(bot: AppBot) -> None:
    services = bot.services
    cog = AnimateCog(
        settings=services.settings,
        session=services.session,
        allowlist=services.allowlist,
        jobs=services.jobs,
        messages=bot.messages,
        is_owner=bot.is_owner,
        publish_image=modelslab_publisher(services.client),
        motions=services.motions,
        fixes=FixOffers(
            settings=services.settings,
            jobs=services.jobs,
            is_owner=bot.is_owner,
            remember=bot.messages.remember_interaction,
            status_url=bot.messages.status_url,
            links=MessageLinks(bot),
        ),
    )
    await bot.add_cog(cog)
    # Fix buttons from before a restart are answered ("offer gone") instead of failing.
    bot.add_dynamic_items(FixButton)


async def teardown(bot: AppBot) -> None:
    bot.remove_dynamic_items(FixButton)
