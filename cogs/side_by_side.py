"""The "Side by side" button on a delivered clip: posts, as a reply to the clip, one video with
the motion reference and the generated clip next to each other. Made locally, costs no quota;
only the job's owner may press it, once per clip (the engine records it on the job row).

The button is a DynamicItem whose custom_id carries the job id, so it keeps working after a
restart as long as the clip is still kept (MEDIA_RETENTION_HOURS); a library motion is fetched
again from its message."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any, cast

import discord
from discord.ext import commands

from cogs.errors import handle_error, reply_ephemeral
from cogs.routes import DEFAULT_UPLOAD_LIMIT, describe, message_kwargs
from services.side_by_side import SideBySideVideo
from services.side_by_side_service import SideBySideRefusal, SideBySideRefused

if TYPE_CHECKING:
    from cogs.app_bot import AppBot

log = logging.getLogger(__name__)

TEMPLATE = r"job:sbs:(?P<job_id>\d+)"

_REFUSALS = {
    SideBySideRefusal.NO_JOB: "Job #{id} does not exist.",
    SideBySideRefusal.NOT_OWNER: "Only the person who started job #{id} can ask for this.",
    SideBySideRefusal.NOT_DELIVERED: "Job #{id} has no delivered clip to compare.",
    SideBySideRefusal.ALREADY_MADE: "The side-by-side video of job #{id} was already posted.",
    SideBySideRefusal.MEDIA_GONE: (
        "The files of job #{id} are no longer kept, so the side-by-side video can't be made."
    ),
    SideBySideRefusal.REFERENCE_UNREACHABLE: (
        "**Try again later**: I couldn't fetch the motion of job #{id} from Discord just now. "
        "Nothing was charged."
    ),
    SideBySideRefusal.CANNOT_MAKE: (
        "The side-by-side video of job #{id} could not be made small enough to post here. "
        "Nothing was charged."
    ),
}


def refusal_text(reason: SideBySideRefusal, job_id: int) -> str:
    return _REFUSALS[reason].format(id=job_id)


def posted_text(user_id: int, job_id: int) -> str:
    return (
        f"<@{user_id}> side by side for job #{job_id}: the motion on the left, "
        "the animation on the right."
    )


class SideBySideButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=TEMPLATE):
    """The button; its custom_id is its whole state."""

    def __init__(self, job_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Side by side",
                style=discord.ButtonStyle.secondary,
                custom_id=f"job:sbs:{job_id}",
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> SideBySideButton:
        return cls(int(match["job_id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await run_side_by_side(interaction, self.job_id)


def upload_limit(interaction: discord.Interaction) -> int:
    """What a message in this channel may carry (the server's boost level, else Discord's base)."""
    guild = interaction.guild
    return guild.filesize_limit if guild is not None else DEFAULT_UPLOAD_LIMIT


async def run_side_by_side(interaction: discord.Interaction, job_id: int) -> None:
    """Make and post the side-by-side video; every outcome is answered privately."""
    await interaction.response.defer(ephemeral=True, thinking=True)
    service = cast("AppBot", interaction.client).services.side_by_side
    try:
        made = await service.make(job_id, interaction.user.id, upload_limit(interaction))
    except SideBySideRefused as exc:
        log.info("job %d: side by side refused for user %d (%s)", job_id, interaction.user.id, exc)
        await reply_ephemeral(interaction, refusal_text(exc.reason, job_id))
        return
    except Exception as exc:  # noqa: BLE001 - boundary: handle_error logs bugs with a traceback
        await handle_error(interaction, exc, job_id=job_id)
        return
    try:
        await _post(interaction, made, job_id)
    except Exception as exc:  # noqa: BLE001 - boundary: give the press back, then report
        await service.give_back(job_id, made)
        await handle_error(interaction, exc, job_id=job_id)
        return
    await service.done(made)
    await reply_ephemeral(interaction, f"Posted the side-by-side video of job #{job_id}.")


async def _post(interaction: discord.Interaction, made: SideBySideVideo, job_id: int) -> None:
    """As a reply to the clip in its channel; where the bot may not post, as a follow-up."""
    kwargs = message_kwargs(content=posted_text(interaction.user.id, job_id))
    name = f"side-by-side-{job_id}.mp4"
    channel = interaction.channel
    if channel is not None and isinstance(channel, discord.abc.Messageable):
        reply_to: dict[str, Any] = {}
        if interaction.message is not None:
            reply_to["reference"] = interaction.message.to_reference(fail_if_not_exists=False)
        try:
            await channel.send(**kwargs, **reply_to, file=discord.File(made.path, filename=name))
            return
        except (discord.Forbidden, discord.NotFound) as exc:
            log.info("job %d: side by side not postable in the channel (%s)", job_id, describe(exc))
    await interaction.followup.send(**kwargs, file=discord.File(made.path, filename=name))


async def setup(bot: commands.Bot) -> None:
    # Registered once for the process: presses on messages from before a restart are routed here.
    bot.add_dynamic_items(SideBySideButton)


async def teardown(bot: commands.Bot) -> None:
    bot.remove_dynamic_items(SideBySideButton)
