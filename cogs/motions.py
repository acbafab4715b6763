"""`/motion`: the motion library. Everyone may list it; curators add and remove.

In a server the library is the server's: members with Manage Server, members of its curator roles
(`/animate-admin curators`) and the bot's owners may change it. The owners also keep a bot-wide
library (`everywhere:True`, or any change made in a DM), offered in every server after the
server's own motions and in DMs. `add` validates the clip exactly as /animate validates an
uploaded video, then posts it as a message in the channel where it was added: that message keeps
the clip (its link is fetched fresh whenever the motion is used) and shows members the new motion.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from cogs.animate_inputs import download_input, too_large
from cogs.controls_common import guarded, is_bot_owner, refuse
from cogs.errors import reply_ephemeral
from cogs.message_host import MessageLinks, PostRefused, PostTooLarge
from cogs.motion_text import added_text, announcement, list_embed, removed_text, too_big_to_keep
from cogs.requester import role_ids_of
from cogs.status import jump_url
from services.media import VIDEO_MAX_BYTES, MediaLimitError, probe_video, validate_video
from services.motions import DESCRIPTION_MAX_CHARS, NAME_MAX_CHARS, MotionError, MotionService

if TYPE_CHECKING:
    from cogs.app_bot import AppBot

log = logging.getLogger(__name__)

MotionName = app_commands.Range[str, 1, NAME_MAX_CHARS]
Description = app_commands.Range[str, 1, DESCRIPTION_MAX_CHARS]
Page = app_commands.Range[int, 1, 100]

CANNOT_POST = (
    "I can't post in this channel, and a motion's clip is kept as a message I post. Add it in a "
    "channel where I can send messages and attach files."
)


@app_commands.allowed_installs(guilds=True, users=True)
@app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
class MotionCog(commands.GroupCog, group_name="motion"):
    """The motion library: clips to animate with instead of uploading a video."""

    def __init__(self, bot: AppBot, links: MessageLinks) -> None:
        self.bot = bot
        self._links = links

    @property
    def motions(self) -> MotionService:
        return self.bot.services.motions

    # --- who may change a library -------------------------------------------------------------
    async def is_curator(self, interaction: discord.Interaction) -> bool:
        """Manage Server or a curator role in this server; bot owners everywhere."""
        if await is_bot_owner(self.bot, interaction.user):
            return True
        guild_id = interaction.guild_id
        if guild_id is None:
            return False
        if interaction.permissions.manage_guild:
            return True
        curators = set(await self.motions.curator_roles(guild_id))
        return bool(curators & role_ids_of(interaction.user))

    async def allowed(self, interaction: discord.Interaction) -> bool:
        """Curators of this server's library (owners: of every library); refused otherwise."""
        if await self.is_curator(interaction):
            return True
        log.info(
            "user %d refused /motion changes in guild %s", interaction.user.id, interaction.guild_id
        )
        if interaction.guild_id is None:
            await refuse(interaction, "Only the bot's owners can change the bot-wide library.")
        else:
            await refuse(
                interaction,
                "To add or remove this server's motions you need the **Manage Server** "
                "permission or a curator role (admins choose them with `/animate-admin curators`).",
            )
        return False

    async def _library(
        self, interaction: discord.Interaction, everywhere: bool
    ) -> tuple[bool, int | None]:
        """(allowed, library): the server's library, or None for the bot-wide one, which only
        owners may change (anyone else is refused here)."""
        if interaction.guild_id is not None and not everywhere:
            return True, interaction.guild_id
        if not await is_bot_owner(self.bot, interaction.user):
            await refuse(interaction, "Only the bot's owners can change the bot-wide library.")
            return False, None
        return True, None

    # --- commands -------------------------------------------------------------------------------
    @app_commands.command(name="add")
    @app_commands.describe(
        name=f"What members pick it by: 1 to {NAME_MAX_CHARS} characters",
        video="The motion: MP4 or MOV, 3 to 30 s, one person in one continuous shot",
        description="Optional: what the motion is (shown when it is announced)",
        everywhere="Owners: add it to the bot-wide library, offered in every server",
    )
    @guarded
    async def add(
        self,
        interaction: discord.Interaction,
        name: MotionName,
        video: discord.Attachment,
        description: Description | None = None,
        everywhere: bool = False,
    ) -> None:
        """Add a motion clip to the library (curators)."""
        allowed, library = await self._library(interaction, everywhere)
        if not allowed:
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        clean = await self.motions.check_new(library, name)
        if video.size > VIDEO_MAX_BYTES:
            raise too_large("video", video.size, VIDEO_MAX_BYTES)
        # The clip is kept as a file the bot posts: it must fit this place's upload limit.
        limit = _upload_limit(interaction)
        if video.size > limit:
            raise MediaLimitError(too_big_to_keep(video.size, limit), "video")
        services = self.bot.services
        folder = services.settings.media_dir / f"motion-{interaction.id}"
        try:
            path = folder / "video.input"
            await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
            await download_input(
                services.session, services.allowlist, "video", video.url, path, VIDEO_MAX_BYTES
            )
            info = await asyncio.to_thread(probe_video, path)
            validate_video(info, "video")  # the longest any orientation allows
            text = announcement(clean, info.duration_seconds, interaction.user.id, description)
            filename = f"motion-{_slug(clean)}.{info.container}"
            channel_id = interaction.channel_id or 0
            try:
                source = await self._links.post_file(
                    channel_id, interaction.guild_id, text, path, filename
                )
            except PostRefused:
                await reply_ephemeral(interaction, CANNOT_POST)
                return
            except PostTooLarge:
                raise MediaLimitError(too_big_to_keep(info.size_bytes, limit), "video") from None
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        try:
            motion = await self.motions.add(
                guild_id=library,
                actor_id=interaction.user.id,
                name=clean,
                description=description,
                source=source,
                filename=filename,
                video=info,
            )
        except MotionError:
            await self._links.delete(source)  # taken meanwhile: the announcement is not needed
            raise
        log.info("motion %d (%s) added by user %d", motion.id, motion.name, interaction.user.id)
        link = jump_url(interaction.guild_id, source.channel_id, source.message_id)
        await reply_ephemeral(interaction, added_text(motion, link))

    @app_commands.command(name="remove")
    @app_commands.describe(
        name="The motion to remove", everywhere="Owners: remove it from the bot-wide library"
    )
    @guarded
    async def remove(
        self, interaction: discord.Interaction, name: MotionName, everywhere: bool = False
    ) -> None:
        """Remove a motion from the library (curators)."""
        allowed, library = await self._library(interaction, everywhere)
        if not allowed:
            return
        motion = await self.motions.remove(library, interaction.user.id, name)
        log.info("motion %d (%s) removed by user %d", motion.id, motion.name, interaction.user.id)
        await reply_ephemeral(interaction, removed_text(motion))

    @remove.autocomplete("name")
    async def remove_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        library = await self.motions.library(interaction.guild_id)
        everywhere = interaction.namespace.everywhere is True
        own = interaction.guild_id is not None and not everywhere
        motions = library.own if own else library.bot_wide
        typed = current.casefold()
        return [
            app_commands.Choice(name=m.name, value=m.name)
            for m in motions
            if typed in m.name.casefold()
        ][:25]

    @app_commands.command(name="list")
    @app_commands.describe(page="Which page, when the library is long")
    async def list_motions(self, interaction: discord.Interaction, page: Page = 1) -> None:
        """See the motions you can animate with: length, orientations, uses, who added them."""
        library = await self.motions.library(interaction.guild_id)
        owner = await is_bot_owner(self.bot, interaction.user)
        curator = interaction.guild_id is not None and await self.is_curator(interaction)
        embed = list_embed(library, page, (curator, owner))
        await interaction.response.send_message(embed=embed, ephemeral=True)


def _upload_limit(interaction: discord.Interaction) -> int:
    guild = interaction.guild
    return (
        guild.filesize_limit if guild is not None else discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES
    )


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.casefold()).strip("-")[:32] or "clip"


async def setup(bot: AppBot) -> None:
    await bot.add_cog(MotionCog(bot, MessageLinks(bot)))
