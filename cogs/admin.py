"""`/animate-admin`: server admins decide who may spend how much, where, and see what happened.

Discord hides the group from members without Manage Server (a hint server admins can change),
so every command checks again when it runs: Manage Server, or a bot owner. Replies are ephemeral.
What this group shares with `/animate-owner` lives in cogs/controls_common.py.
"""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from cogs import requester
from cogs.controls_common import (
    INFO,
    LIMIT_OPTIONS,
    Active,
    AuditCount,
    ControlsCog,
    Reason,
    Seconds,
    is_bot_owner,
    refuse,
    reply,
)
from services.controls import ServerView, describe_limits
from services.quota import Requester

log = logging.getLogger(__name__)

AnyChannel = discord.TextChannel | discord.VoiceChannel | discord.Thread


@app_commands.default_permissions(manage_guild=True)
@app_commands.guild_only()
class AdminCog(ControlsCog, group_name="animate-admin"):
    """Limits, role tiers, blocks, channels, pause and stats for this server."""

    role_tier = app_commands.Group(name="role-tier", description="Give a role its own limits.")
    user_limit = app_commands.Group(name="user-limit", description="Give one member own limits.")
    channel = app_commands.Group(name="channel", description="Where /animate may be used.")

    async def _guard(self, interaction: discord.Interaction) -> int | None:
        """The guild id if the invoker may administer this server; else refuse and None."""
        guild_id = interaction.guild_id
        if guild_id is None:
            await refuse(interaction, "This command works in a server only.")
            return None
        user = interaction.user
        # Discord resolves the member's permissions into the interaction itself (no cache needed).
        if interaction.permissions.manage_guild:
            return guild_id
        if await is_bot_owner(self.bot, user):
            return guild_id
        log.info("user %d refused /animate-admin in guild %d", user.id, guild_id)
        await refuse(interaction, "You need the **Manage Server** permission for this.")
        return None

    # --- server-wide ----------------------------------------------------------------------------
    @app_commands.command(name="settings")
    async def show_settings(self, interaction: discord.Interaction) -> None:
        """Show this server's limits, role tiers, channels and pause state."""
        if (guild_id := await self._guard(interaction)) is None:
            return
        view = await self.services.controls.server_view(guild_id)
        await reply(interaction, settings_embed(view))

    @app_commands.command(name="limits")
    @app_commands.describe(
        daily="Seconds of video each member may generate per 24 hours",
        monthly="Seconds of video each member may generate per 30 days",
        active="Jobs one member may have in progress at once",
        reset="Forget this server's limits and use the bot's defaults",
    )
    async def limits(
        self,
        interaction: discord.Interaction,
        daily: Seconds | None = None,
        monthly: Seconds | None = None,
        active: Active | None = None,
        reset: bool = False,
    ) -> None:
        """Set the default limits for members of this server."""
        if (guild_id := await self._guard(interaction)) is None:
            return
        controls, actor = self.services.controls, interaction.user.id
        if reset:
            await self._apply(interaction, lambda: controls.reset_server_limits(guild_id, actor))
            return
        await self._apply(
            interaction,
            lambda: controls.set_server_limits(
                guild_id, actor, daily=daily, monthly=monthly, max_active=active
            ),
        )

    @app_commands.command(name="pause")
    async def pause(self, interaction: discord.Interaction) -> None:
        """Stop new /animate jobs in this server (queued jobs still finish)."""
        if (guild_id := await self._guard(interaction)) is None:
            return
        controls, actor = self.services.controls, interaction.user.id
        await self._apply(interaction, lambda: controls.set_server_paused(guild_id, actor, True))

    @app_commands.command(name="resume")
    async def resume(self, interaction: discord.Interaction) -> None:
        """Allow new /animate jobs in this server again."""
        if (guild_id := await self._guard(interaction)) is None:
            return
        controls, actor = self.services.controls, interaction.user.id
        await self._apply(interaction, lambda: controls.set_server_paused(guild_id, actor, False))

    # --- role tiers -----------------------------------------------------------------------------
    @role_tier.command(name="set")
    @app_commands.describe(role="The role that gets these limits", **LIMIT_OPTIONS)
    async def tier_set(
        self,
        interaction: discord.Interaction,
        role: discord.Role,
        daily: Seconds,
        monthly: Seconds,
        active: Active,
    ) -> None:
        """Give a role its own limits; members get the most generous of their roles."""
        if (guild_id := await self._guard(interaction)) is None:
            return
        if role.is_default():
            await refuse(interaction, "For everyone, use `/animate-admin limits`.")
            return
        controls, actor = self.services.controls, interaction.user.id
        await self._apply(
            interaction,
            lambda: controls.set_role_tier(
                guild_id, actor, role.id, daily=daily, monthly=monthly, max_active=active
            ),
        )

    @role_tier.command(name="remove")
    @app_commands.describe(role="The role whose own limits to remove")
    async def tier_remove(self, interaction: discord.Interaction, role: discord.Role) -> None:
        """Remove a role's own limits."""
        if (guild_id := await self._guard(interaction)) is None:
            return
        controls, actor = self.services.controls, interaction.user.id
        await self._apply(interaction, lambda: controls.remove_role_tier(guild_id, actor, role.id))

    # --- members --------------------------------------------------------------------------------
    @user_limit.command(name="set")
    @app_commands.describe(user="The member", **LIMIT_OPTIONS)
    async def user_limit_set(
        self,
        interaction: discord.Interaction,
        user: discord.User,
        daily: Seconds | None = None,
        monthly: Seconds | None = None,
        active: Active | None = None,
    ) -> None:
        """Give one member their own limits, over their roles and the server default."""
        if (guild_id := await self._guard(interaction)) is None:
            return
        controls, actor = self.services.controls, interaction.user.id
        await self._apply(
            interaction,
            lambda: controls.set_user_limits(
                guild_id, actor, user.id, daily=daily, monthly=monthly, max_active=active
            ),
        )

    @user_limit.command(name="clear")
    @app_commands.describe(user="The member")
    async def user_limit_clear(self, interaction: discord.Interaction, user: discord.User) -> None:
        """Remove a member's own limits; their roles and the server default apply again."""
        if (guild_id := await self._guard(interaction)) is None:
            return
        controls, actor = self.services.controls, interaction.user.id
        await self._apply(interaction, lambda: controls.clear_user_limits(guild_id, actor, user.id))

    @app_commands.command(name="block")
    @app_commands.describe(user="The member to block", reason="Shown to them when refused")
    async def block(
        self,
        interaction: discord.Interaction,
        user: discord.User,
        reason: Reason | None = None,
    ) -> None:
        """Stop a member from using /animate in this server."""
        if (guild_id := await self._guard(interaction)) is None:
            return
        if user.bot:
            await refuse(interaction, "Bots can't use /animate anyway.")
            return
        if await is_bot_owner(self.bot, user):
            await refuse(interaction, "Bot owners are exempt and can't be blocked.")
            return
        controls, actor = self.services.controls, interaction.user.id
        await self._apply(
            interaction, lambda: controls.block_user(guild_id, actor, user.id, reason)
        )

    @app_commands.command(name="unblock")
    @app_commands.describe(user="The member to unblock")
    async def unblock(self, interaction: discord.Interaction, user: discord.User) -> None:
        """Let a blocked member use /animate again."""
        if (guild_id := await self._guard(interaction)) is None:
            return
        controls, actor = self.services.controls, interaction.user.id
        await self._apply(interaction, lambda: controls.unblock_user(guild_id, actor, user.id))

    @app_commands.command(name="reset-usage")
    @app_commands.describe(user="The member whose usage to forgive")
    async def reset_usage(self, interaction: discord.Interaction, user: discord.User) -> None:
        """Forgive a member's usage so far (daily and 30-day)."""
        if (guild_id := await self._guard(interaction)) is None:
            return
        controls, actor = self.services.controls, interaction.user.id
        await self._apply(interaction, lambda: controls.reset_usage(guild_id, actor, user.id))

    @app_commands.command(name="usage")
    @app_commands.describe(user="The member to look at")
    async def usage(self, interaction: discord.Interaction, user: discord.User) -> None:
        """Show a member's limits, usage and recent jobs here."""
        if (guild_id := await self._guard(interaction)) is None:
            return
        who = Requester(
            user_id=user.id,
            guild_id=guild_id,
            role_ids=requester.role_ids_of(user),
            is_owner=await is_bot_owner(self.bot, user),
        )
        await self._show_usage(interaction, user, who)

    # --- channels -------------------------------------------------------------------------------
    @channel.command(name="allow")
    @app_commands.describe(channel="A channel where /animate may be used")
    async def channel_allow(self, interaction: discord.Interaction, channel: AnyChannel) -> None:
        """Allow /animate in a channel; once any is listed, only listed channels work."""
        if (guild_id := await self._guard(interaction)) is None:
            return
        controls, actor = self.services.controls, interaction.user.id
        await self._apply(interaction, lambda: controls.allow_channel(guild_id, actor, channel.id))

    @channel.command(name="disallow")
    @app_commands.describe(channel="The channel to take off the list")
    async def channel_disallow(self, interaction: discord.Interaction, channel: AnyChannel) -> None:
        """Take a channel off the list; an empty list allows every channel."""
        if (guild_id := await self._guard(interaction)) is None:
            return
        controls, actor = self.services.controls, interaction.user.id
        await self._apply(
            interaction, lambda: controls.disallow_channel(guild_id, actor, channel.id)
        )

    @channel.command(name="list")
    async def channel_list(self, interaction: discord.Interaction) -> None:
        """Show where /animate may be used."""
        if (guild_id := await self._guard(interaction)) is None:
            return
        view = await self.services.controls.server_view(guild_id)
        text = channels_text(view.channels)
        await reply(
            interaction, discord.Embed(title="Allowed channels", description=text, colour=INFO)
        )

    # --- insight --------------------------------------------------------------------------------
    @app_commands.command(name="stats")
    async def stats(self, interaction: discord.Interaction) -> None:
        """Jobs, seconds generated, failures and waiting time in this server."""
        if (guild_id := await self._guard(interaction)) is None:
            return
        await self._show_stats(interaction, guild_id, "this server")

    @app_commands.command(name="audit")
    @app_commands.describe(count="How many of the latest changes to show")
    async def audit(self, interaction: discord.Interaction, count: AuditCount = 10) -> None:
        """Show the latest changes admins made here: who, what, before and after."""
        if (guild_id := await self._guard(interaction)) is None:
            return
        await self._show_audit(interaction, guild_id, count, "Latest changes in this server")


async def setup(bot: commands.Bot) -> None:
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
