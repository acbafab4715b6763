"""/quota, /jobs and /help: private answers, short enough to read on a phone."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from cogs.requester import IsOwner, requester_from
from cogs.status import help_embed, jobs_embed, usage_embed
from services.jobs import JobService
from services.quota import QuotaService
from settings import Settings

if TYPE_CHECKING:
    from cogs.app_bot import AppBot

RECENT_JOBS_SHOWN = 8


class UserCommands(commands.Cog):
    """Commands every user has."""

    def __init__(
        self,
        *,
        settings: Settings,
        quota: QuotaService,
        jobs: JobService,
        is_owner: IsOwner | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._quota = quota
        self._jobs = jobs
        self._is_owner = is_owner
        self._clock = clock

    @app_commands.command(name="quota")
    @app_commands.allowed_installs(guilds=True, users=True)
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    async def quota(self, interaction: discord.Interaction) -> None:
        """See how many seconds of video you have left, and when usage frees up."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        who = await requester_from(interaction, self._settings, self._is_owner)
        report = await self._quota.usage(who)
        embed = usage_embed(report, who.guild_id is not None, self._settings.pro_cost_multiplier)
        await interaction.followup.send(embed=embed, ephemeral=True)

    @app_commands.command(name="jobs")
    @app_commands.allowed_installs(guilds=True, users=True)
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    async def jobs(self, interaction: discord.Interaction) -> None:
        """List your recent animation jobs with their state and results."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        recent = await self._jobs.recent(interaction.user.id, limit=RECENT_JOBS_SHOWN)
        await interaction.followup.send(embed=jobs_embed(recent, self._clock()), ephemeral=True)

    @app_commands.command(name="help")
    @app_commands.allowed_installs(guilds=True, users=True)
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    async def help(self, interaction: discord.Interaction) -> None:
        """How to use /animate: the inputs, orientation, modes and limits."""
        # No I/O before answering, so no defer is needed.
        embed = help_embed(self._settings.pro_cost_multiplier)
        await interaction.response.send_message(embed=embed, ephemeral=True)


async def setup(bot: AppBot) -> None:
    services = bot.services
    await bot.add_cog(
        UserCommands(
            settings=services.settings,
            quota=services.quota,
            jobs=services.jobs,
            is_owner=bot.is_owner,
        )
    )
