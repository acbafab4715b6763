"""`/animate-admin`: server admins decide who may spend how much, where, and see what happened.

Discord hides the group from members without Manage Server (a hint server admins can change),
so every command checks again when it runs (`allowed`, through `guarded`): Manage Server, or a
bot owner. Replies are ephemeral. Limits, role tiers, blocks and a member's usage are the
scoped-limit commands (cogs/scoped_limits.py) this group shares with `/animate-owner dm`; what
else the two groups share lives in cogs/controls_common.py.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from cogs.controls_common import (
    INFO,
    AuditCount,
    ControlsCog,
    guarded,
    is_bot_owner,
    refuse,
    reply,
    server_id,
)
from cogs.scoped_limits import SERVER_SCOPE, ScopedLimits
from services.control_rules import describe_limits
from services.control_views import ServerView

if TYPE_CHECKING:
    from cogs.app_bot import AppBot

log = logging.getLogger(__name__)

AnyChannel = discord.TextChannel | discord.VoiceChannel | discord.Thread


@app_commands.default_permissions(manage_guild=True)
@app_commands.guild_only()
class AdminCog(ControlsCog, group_name="animate-admin"):
    """Limits, role tiers, blocks, channels, pause and stats for this server."""

    channel = app_commands.Group(name="channel", description="Where /animate may be used.")
    curators = app_commands.Group(
        name="curators", description="Who may add and remove this server's library motions."
    )

    def __init__(self, bot: AppBot) -> None:
        super().__init__(bot)
        # limits, role-tier, user-limit, block, unblock, reset-usage, usage
        self.scoped_limits = ScopedLimits(self, SERVER_SCOPE)

    async def allowed(self, interaction: discord.Interaction) -> bool:
        """In a server, for members with Manage Server there and bot owners."""
        guild_id = interaction.guild_id
        if guild_id is None:
            await refuse(interaction, "This command works in a server only.")
            return False
        user = interaction.user
        # Discord resolves the member's permissions into the interaction itself (no cache needed).
        if interaction.permissions.manage_guild or await is_bot_owner(self.bot, user):
            return True
        log.info("user %d refused /animate-admin in guild %d", user.id, guild_id)
        await refuse(interaction, "You need the **Manage Server** permission for this.")
        return False

    # --- server-wide ----------------------------------------------------------------------------
    @app_commands.command(name="settings")
    @guarded
    async def show_settings(self, interaction: discord.Interaction) -> None:
        """Show this server's limits, role tiers, channels and pause state."""
        view = await self.services.controls.server_view(server_id(interaction))
        await reply(interaction, settings_embed(view))

    @app_commands.command(name="pause")
    @guarded
    async def pause(self, interaction: discord.Interaction) -> None:
        """Stop new /animate jobs in this server (queued jobs still finish)."""
        await self._set_paused(interaction, True)

    @app_commands.command(name="resume")
    @guarded
    async def resume(self, interaction: discord.Interaction) -> None:
        """Allow new /animate jobs in this server again."""
        await self._set_paused(interaction, False)

    async def _set_paused(self, interaction: discord.Interaction, paused: bool) -> None:
        guild_id, actor = server_id(interaction), interaction.user.id
        controls = self.services.controls
        await self.apply(interaction, lambda: controls.set_server_paused(guild_id, actor, paused))

    # --- channels -------------------------------------------------------------------------------
    @channel.command(name="allow")
    @app_commands.describe(channel="A channel where /animate may be used")
    @guarded
    async def channel_allow(self, interaction: discord.Interaction, channel: AnyChannel) -> None:
        """Allow /animate in a channel; once any is listed, only listed channels work."""
        guild_id, actor = server_id(interaction), interaction.user.id
        controls = self.services.controls
        await self.apply(interaction, lambda: controls.allow_channel(guild_id, actor, channel.id))

    @channel.command(name="disallow")
    @app_commands.describe(channel="The channel to take off the list")
    @guarded
    async def channel_disallow(self, interaction: discord.Interaction, channel: AnyChannel) -> None:
        """Take a channel off the list; an empty list allows every channel."""
        guild_id, actor = server_id(interaction), interaction.user.id
        controls = self.services.controls
        await self.apply(
            interaction, lambda: controls.disallow_channel(guild_id, actor, channel.id)
        )

    @channel.command(name="list")
    @guarded
    async def channel_list(self, interaction: discord.Interaction) -> None:
        """Show where /animate may be used."""
        view = await self.services.controls.server_view(server_id(interaction))
        text = channels_text(view.channels)
        await reply(
            interaction, discord.Embed(title="Allowed channels", description=text, colour=INFO)
        )

    # --- motion curators -----------------------------------------------------------------------
    @curators.command(name="add")
    @app_commands.describe(role="Members with this role may add and remove motions")
    @guarded
    async def curators_add(self, interaction: discord.Interaction, role: discord.Role) -> None:
        """Let a role's members add and remove this server's library motions."""
        await self._set_curator(interaction, role, True)

    @curators.command(name="remove")
    @app_commands.describe(role="The role that should no longer curate motions")
    @guarded
    async def curators_remove(self, interaction: discord.Interaction, role: discord.Role) -> None:
        """Stop a role's members from adding and removing motions."""
        await self._set_curator(interaction, role, False)

    async def _set_curator(
        self, interaction: discord.Interaction, role: discord.Role, curator: bool
    ) -> None:
        guild_id, actor = server_id(interaction), interaction.user.id
        motions = self.services.motions
        await self.apply(
            interaction, lambda: motions.set_curator(guild_id, actor, role.id, curator)
        )

    # --- insight --------------------------------------------------------------------------------
    @app_commands.command(name="stats")
    @guarded
    async def stats(self, interaction: discord.Interaction) -> None:
        """Jobs, seconds generated, failures and waiting time in this server."""
        await self.show_stats(interaction, server_id(interaction), "this server")

    @app_commands.command(name="audit")
    @app_commands.describe(count="How many of the latest changes to show")
    @guarded
    async def audit(self, interaction: discord.Interaction, count: AuditCount = 10) -> None:
        """Show the latest changes admins made here: who, what, before and after."""
        guild_id = server_id(interaction)
        await self.show_audit(interaction, guild_id, count, "Latest changes in this server")


async def setup(bot: AppBot) -> None:
    await bot.add_cog(AdminCog(bot))


def channels_text(channels: list[int]) -> str:
    if not channels:
        return "Every channel (no list set)."
    return "\n".join(f"<#{c}>" for c in channels)


def settings_embed(view: ServerView) -> discord.Embed:
    embed = discord.Embed(title="/animate in this server", colour=INFO)
    embed.add_field(name="Status", value="⏸️ paused" if view.paused else "▶️ running", inline=False)
    row = view.limits

    def pick(own: int | None, default: int | None, unit: str = " s") -> str:
        if own is None:
            return f"{default:g}{unit} (bot default)"
        return f"{own:g}{unit}"

    embed.add_field(
        name="Member limits",
        value=(
            f"Daily: {pick(row.daily_seconds, view.defaults.daily_seconds)}\n"
            f"30-day: {pick(row.monthly_seconds, view.defaults.monthly_seconds)}\n"
            f"At once: {pick(row.max_active_jobs, view.defaults.max_active_jobs, '')}"
        ),
        inline=False,
    )
    tiers = "\n".join(f"<@&{t.role_id}>: {describe_limits(t)}" for t in view.tiers)
    embed.add_field(name="Role tiers", value=tiers or "None.", inline=False)
    embed.add_field(name="Channels", value=channels_text(view.channels), inline=False)
    return embed
