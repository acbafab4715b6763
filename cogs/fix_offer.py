"""One-tap fixes, Discord side: when the only problems with an /animate request are ones the bot
can repair (services/fixes.py), reply with what is wrong, what each fix does and what it costs,
and a button per fix. Nothing is submitted or charged before a press. A press makes the fixed
file (in a thread, validated again), posts it as an attachment of the bot's reply (the provider
fetches it from there) and queues the job. An offer lasts 15 minutes and works once; a second or
late press says so and submits nothing. Offers live in memory: after a restart, run /animate again.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import discord

from cogs.errors import handle_error, reply_ephemeral
from cogs.requester import IsOwner, requester_from
from cogs.status import receipt_text
from domain import Mode, Orientation
from services.fixes import (
    Fix,
    FixKind,
    FixPlan,
    Problem,
    Remedy,
    plan_fixes,
    repair_image,
    repair_video,
)
from services.jobs import JobInputs, JobService
from services.media import ImageInfo, MediaError, VideoInfo, probe_image, probe_video
from settings import Settings

log = logging.getLogger(__name__)

OFFER_SECONDS = 15 * 60

_PROBLEMS = {
    Problem.VIDEO_TOO_LONG: "the video is longer than allowed ({video_seconds:.1f} s)",
    Problem.VIDEO_TOO_BIG: "the video is larger than 3850 px ({width}×{height})",
    Problem.VIDEO_TOO_SMALL: "the video is smaller than 340 px ({width}×{height})",
    Problem.IMAGE_ASPECT: "the picture is too long and thin ({image_width}×{image_height})",
}


def button_label(remedy: Remedy) -> str:
    fix = remedy.fixes[0]
    if fix.kind is FixKind.TRIM:
        switched = " (orientation video)" if remedy.orientation is Orientation.VIDEO else ""
        return f"Use the first {fix.seconds:g} s{switched}"
    labels = {
        FixKind.SWITCH_ORIENTATION: "Switch to orientation video",
        FixKind.DOWNSCALE: "Downscale",
        FixKind.UPSCALE: "Upscale",
        FixKind.PAD: "Pad",
        FixKind.CROP: "Crop",
    }
    return labels[fix.kind]


def fix_words(fix: Fix) -> str:
    size = f"{fix.size[0]}×{fix.size[1]}" if fix.size else ""
    return {
        FixKind.TRIM: f"keeps the first {fix.seconds or 0:g} s of the video",
        FixKind.SWITCH_ORIENTATION: "uses orientation `video` (the character turns as in it)",
        FixKind.DOWNSCALE: f"makes the video smaller ({size})",
        FixKind.UPSCALE: f"makes the video larger ({size})",
        FixKind.PAD: f"adds black bars to the picture ({size})",
        FixKind.CROP: f"cuts the picture's edges ({size}); check the character stays in",
    }[fix.kind]


def offer_text(plan: FixPlan, image: ImageInfo, video: VideoInfo, costs: list[float]) -> str:
    facts = {
        "video_seconds": video.duration_seconds,
        "width": video.width,
        "height": video.height,
        "image_width": image.width,
        "image_height": image.height,
    }
    wrong = "; ".join(_PROBLEMS[p].format(**facts) for p in plan.problems)
    lines = [f"I can't send this as it is: {wrong}. I can fix it here:"]
    for remedy, cost in zip(plan.remedies, costs, strict=True):
        what = ", ".join(fix_words(f) for f in remedy.fixes)
        lines.append(f"**{button_label(remedy)}**: {what}. Costs {cost:g} s of quota.")
    lines.append(
        f"Nothing is sent or charged until you press one. This offer lasts "
        f"{OFFER_SECONDS // 60} minutes."
    )
    return "\n".join(lines)


@dataclass
class _Offer:
    owner_id: int
    folder: Path
    image_path: Path
    video_path: Path
    image: ImageInfo
    video: VideoInfo
    image_url: str
    video_url: str
    mode: Mode
    prompt: str
    plan: FixPlan
    expires_at: float
    used: bool = False


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
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._jobs = jobs
        self._is_owner = is_owner
        self._remember = remember
        self._status_url = status_url
        self._clock = clock
        self.views: dict[int, FixOfferView] = {}  # by the offer reply's id (tests press these)

    async def offer(
        self,
        interaction: discord.Interaction,
        folder: Path,
        urls: tuple[str, str],
        orientation: Orientation,
        mode: Mode,
        prompt: str,
    ) -> bool:
        """Reply with an offer if every problem is repairable; False (nothing sent) if not."""
        image_path, video_path = folder / "image.input", folder / "video.input"
        try:
            image = await asyncio.to_thread(probe_image, image_path)
            video = await asyncio.to_thread(probe_video, video_path)
        except (MediaError, OSError):
            return False
        plan = plan_fixes(image, video, orientation)
        if plan is None:
            return False
        costs = [self._jobs.cost_of(r.video_seconds, r.orientation, mode) for r in plan.remedies]
        offer = _Offer(
            interaction.user.id,
            folder,
            image_path,
            video_path,
            image,
            video,
            *urls,
            mode,
            prompt,
            plan,
            self._clock() + OFFER_SECONDS,
        )
        view = FixOfferView(self, offer)
        message = await interaction.followup.send(
            offer_text(plan, image, video, costs), view=view, ephemeral=True, wait=True
        )
        self.views[message.id] = view
        log.info("fix offered to user %d: %s", offer.owner_id, [p.value for p in plan.problems])
        return True

    async def press(self, interaction: discord.Interaction, offer: _Offer, index: int) -> None:
        if interaction.user.id != offer.owner_id:
            await reply_ephemeral(interaction, "Only the person who asked can use this offer.")
            return
        if offer.used or self._clock() > offer.expires_at:
            why = "was already used" if offer.used else "has expired (15 minutes)"
            await reply_ephemeral(interaction, f"This offer {why}. Nothing was sent.")
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
        image_fix = next((f for f in remedy.fixes if f.kind in (FixKind.PAD, FixKind.CROP)), None)
        video_fixes = tuple(
            f for f in remedy.fixes if f.kind in (FixKind.TRIM, FixKind.DOWNSCALE, FixKind.UPSCALE)
        )
        image_path, image, video_path, video = (
            offer.image_path,
            offer.image,
            offer.video_path,
            offer.video,
        )
        files: list[tuple[str, Path]] = []
        if image_fix is not None:
            image_path = offer.folder / "image-fixed.png"
            image = await asyncio.to_thread(repair_image, offer.image_path, image_path, image_fix)
            files.append(("image", image_path))
        if video_fixes:
            video_path = offer.folder / "video-fixed.mp4"
            video = await asyncio.to_thread(
                repair_video, offer.video_path, video_path, video_fixes, remedy.orientation.value
            )
            files.append(("video", video_path))
        urls = {"image": offer.image_url, "video": offer.video_url}
        if files:
            urls |= await self._host(interaction, files)
        inputs = JobInputs(
            image_url=urls["image"],
            image_path=str(image_path),
            image=image,
            video_url=urls["video"],
            video_path=str(video_path),
            video=video,
            orientation=remedy.orientation,
            mode=offer.mode,
            prompt=offer.prompt,
        )
        who = await requester_from(interaction, self._settings, self._is_owner)
        job = await self._jobs.create(inputs, who)
        interaction.extras["job_id"] = job.id
        self._remember(job.id, interaction)
        log.info("job %d: queued from a fix (%s)", job.id, button_label(remedy))
        position = await self._jobs.queue_position(job.id)
        return receipt_text(job, position, self._status_url(job))

    async def _host(
        self, interaction: discord.Interaction, files: list[tuple[str, Path]]
    ) -> dict[str, str]:
        """Post the fixed files as attachments of the bot's reply; their links for the provider."""
        uploads = [discord.File(p, filename=f"fixed-{name}{p.suffix}") for name, p in files]
        message = await interaction.followup.send(
            "The fixed files, as sent to the generator:", files=uploads, ephemeral=True, wait=True
        )
        return {name: a.url for (name, _), a in zip(files, message.attachments, strict=True)}

    def expired(self, view: FixOfferView) -> None:
        self.views = {k: v for k, v in self.views.items() if v is not view}
        if not view.offer.used:
            shutil.rmtree(view.offer.folder, ignore_errors=True)


class _FixButton(discord.ui.Button["FixOfferView"]):
    def __init__(self, label: str, index: int) -> None:
        super().__init__(label=label, style=discord.ButtonStyle.primary)
        self.index = index

    async def callback(self, interaction: discord.Interaction) -> None:
        if self.view is not None:
            await self.view.press(interaction, self.index)


class FixOfferView(discord.ui.View):
    def __init__(self, offers: FixOffers, offer: _Offer) -> None:
        super().__init__(timeout=OFFER_SECONDS)
        self.offers = offers
        self.offer = offer
        for index, remedy in enumerate(offer.plan.remedies):
            self.add_item(_FixButton(button_label(remedy), index))

    async def press(self, interaction: discord.Interaction, index: int) -> None:
        await self.offers.press(interaction, self.offer, index)

    async def on_timeout(self) -> None:
        self.offers.expired(self)
