"""`/animate-admin`: server admins decide who may spend how much, where, and see what happened.

Discord hides the group from members without Manage Server (a hint server admins can change),
so every command checks again when it runs: Manage Server, or a bot owner. Replies are ephemeral.
The embed helpers at the bottom are shared with cogs/owner.py.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from cogs import requester
from services.controls import (
    MAX_ACTIVE_JOBS,
    MAX_AUDIT_ENTRIES,
    MAX_SECONDS,
    Change,
    ControlError,
    ServerView,
    describe_limits,
)
from services.quota import Requester, UsageReport
from services.stats import Stats, render_daily_chart

if TYPE_CHECKING:
    from db.audit import AuditEntry
    from db.jobs import Job
    from services.app import Services

log = logging.getLogger(__name__)

OK = discord.Colour.green()
INFO = discord.Colour.blurple()
REFUSED = discord.Colour.red()

Seconds = app_commands.Range[int, 0, MAX_SECONDS]
Active = app_commands.Range[int, 0, MAX_ACTIVE_JOBS]
AnyChannel = discord.TextChannel | discord.VoiceChannel | discord.Thread

ACTION_TITLES = {
    "server.limits": "Server limits",
    "server.pause": "Server pause",
    "role.tier": "Role tier",
    "user.limits": "Personal limits",
    "user.block": "Block",
    "user.unblock": "Unblock",
    "user.reset": "Usage reset",
    "channel": "Allowed channels",
    "global.pause": "Global pause",
    "global.cap": "Global daily cap",
    "global.alerts": "Operator alerts",
}


@app_commands.default_permissions(manage_guild=True)
@app_commands.guild_only()
class AdminCog(commands.GroupCog, group_name="animate-admin"):
    """Limits, role tiers, blocks, channels, pause and stats for this server."""

    role_tier = app_commands.Group(name="role-tier", description="Give a role its own limits.")
    user_limit = app_commands.Group(name="user-limit", description="Give one member own limits.")
    channel = app_commands.Group(name="channel", description="Where /animate may be used.")

    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    @property
    def services(self) -> Services:
        return self.bot.services  # type: ignore[attr-defined, no-any-return]

    async def _guard(self, interaction: discord.Interaction) -> int | None:
        """The guild id if the invoker may administer this server; else refuse and None."""
        guild_id = interaction.guild_id
        if guild_id is None:
            await reply(interaction, refusal("This command works in a server only."))
            return None
        user = interaction.user
        # Discord resolves the member's permissions into the interaction itself (no cache needed).
        if interaction.permissions.manage_guild:
            return guild_id
        if await is_bot_owner(self.bot, user):
            return guild_id
        log.info("user %d refused /animate-admin in guild %d", user.id, guild_id)
        await reply(interaction, refusal("You need the **Manage Server** permission for this."))
        return None

    async def _apply(
        self, interaction: discord.Interaction, change: Callable[[], Awaitable[Change]]
    ) -> None:
        """Run one change and answer with before and after, or the reason it was refused."""
        try:
            result = await change()
        except ControlError as exc:
            await reply(interaction, refusal(str(exc)))
            return
        await reply(interaction, change_embed(result))

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
    @app_commands.describe(
        role="The role that gets these limits",
        daily="Seconds of video per 24 hours",
        monthly="Seconds of video per 30 days",
        active="Jobs in progress at once",
    )
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
            await reply(interaction, refusal("For everyone, use `/animate-admin limits`."))
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
    @app_commands.describe(
        user="The member",
        daily="Seconds of video per 24 hours",
        monthly="Seconds of video per 30 days",
        active="Jobs in progress at once",
    )
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
        reason: app_commands.Range[str, 1, 200] | None = None,
    ) -> None:
        """Stop a member from using /animate in this server."""
        if (guild_id := await self._guard(interaction)) is None:
            return
        if user.bot:
            await reply(interaction, refusal("Bots can't use /animate anyway."))
            return
        if await is_bot_owner(self.bot, user):
            await reply(interaction, refusal("Bot owners are exempt and can't be blocked."))
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
        controls = self.services.controls
        report = await controls.user_usage(who)
        jobs = await controls.recent_jobs(user.id, guild_id)
        await reply(interaction, usage_embed(user, report, jobs))

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
        await interaction.response.defer(ephemeral=True, thinking=True)
        figures = await self.services.stats.collect(guild_id)
        await send_stats(interaction, figures, "this server")

    @app_commands.command(name="audit")
    @app_commands.describe(count="How many of the latest changes to show")
    async def audit(
        self,
        interaction: discord.Interaction,
        count: app_commands.Range[int, 1, MAX_AUDIT_ENTRIES] = 10,
    ) -> None:
        """Show the latest changes admins made here: who, what, before and after."""
        if (guild_id := await self._guard(interaction)) is None:
            return
        entries = await self.services.controls.audit_log(guild_id, count)
        await reply(interaction, audit_embed(entries, "Latest changes in this server"))


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(AdminCog(bot))


# --- shared with cogs/owner.py ----------------------------------------------------------------
async def is_bot_owner(bot: commands.Bot, user: discord.abc.User) -> bool:
    """OWNER_IDS from the configuration, or the application's owner or team."""
    settings = bot.services.settings  # type: ignore[attr-defined]
    return await requester.is_bot_owner(user, settings, bot.is_owner)  # type: ignore[arg-type]


async def reply(
    interaction: discord.Interaction, embed: discord.Embed, file: discord.File | None = None
) -> None:
    """Answer ephemerally, whether or not the interaction was deferred."""
    kwargs: dict[str, Any] = {"embed": embed, "ephemeral": True}
    if file is not None:
        kwargs["file"] = file
    if interaction.response.is_done():
        await interaction.followup.send(**kwargs)
    else:
        await interaction.response.send_message(**kwargs)


def refusal(text: str) -> discord.Embed:
    return discord.Embed(description=f"⛔ {text}", colour=REFUSED)


def change_embed(change: Change) -> discord.Embed:
    title = ACTION_TITLES.get(change.action, change.action)
    target = mention(change.target)
    if not change.changed:
        embed = discord.Embed(title=f"{title}: no change", colour=INFO)
        embed.description = (
            f"{target}: already {change.new}." if target else f"Already {change.new}."
        )
        return embed
    embed = discord.Embed(title=f"{title} updated", colour=OK)
    if target:
        embed.description = target
    embed.add_field(name="Before", value=change.old or "-", inline=False)
    embed.add_field(name="Now", value=change.new or "-", inline=False)
    return embed


def mention(target: str | None) -> str:
    """`user:1` -> <@1>, `role:2` -> <@&2>, `channel:3` -> <#3>; '' for server/bot-wide."""
    if not target or ":" not in target:
        return ""
    kind, _, ident = target.partition(":")
    return {"user": f"<@{ident}>", "role": f"<@&{ident}>", "channel": f"<#{ident}>"}.get(
        kind, target
    )


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


def usage_embed(user: discord.abc.User, report: UsageReport, jobs: list[Job]) -> discord.Embed:
    limits = report.limits
    embed = discord.Embed(title="Usage", description=f"<@{user.id}>", colour=INFO)
    if limits.blocked:
        reason = f": {limits.block_reason}" if limits.block_reason else ""
        embed.add_field(name="Status", value=f"⛔ blocked{reason}", inline=False)
    elif limits.exempt:
        embed.add_field(name="Limits", value="Bot owner: no limits.", inline=False)
    else:
        source = limits.source.removeprefix("your ")
        embed.add_field(
            name="Limits",
            value=(
                f"Daily: {_of(report.used_today, limits.daily_seconds)}\n"
                f"30-day: {_of(report.used_month, limits.monthly_seconds)}\n"
                f"In progress: {report.active_jobs} of {_count(limits.max_active_jobs)}\n"
                f"From: {source}"
            ),
            inline=False,
        )
    lines = [job_line(job) for job in jobs]
    embed.add_field(name="Recent jobs", value="\n".join(lines) or "None yet.", inline=False)
    return embed


def job_line(job: Job) -> str:
    cause = f" ({job.failure_code})" if job.failure_code and job.state == "failed" else ""
    return f"#{job.id} · {job.state}{cause} · {job.cost_seconds:g} s · <t:{int(job.created_at)}:R>"


def _of(used: float, allowed: float | None) -> str:
    return f"{used:g} s of {'unlimited' if allowed is None else f'{allowed:g} s'}"


def _count(value: int | None) -> str:
    return "unlimited" if value is None else str(value)


def audit_embed(entries: list[AuditEntry], title: str) -> discord.Embed:
    embed = discord.Embed(title=title, colour=INFO)
    if not entries:
        embed.description = "No changes recorded yet."
        return embed
    lines = []
    for e in entries:
        what = ACTION_TITLES.get(e.action, e.action)
        target = mention(e.target)
        head = f"<t:{int(e.created_at)}:R> <@{e.actor_id}> **{what}**" + (
            f" {target}" if target else ""
        )
        lines.append(f"{head}\n{_clip(e.old_value)} → {_clip(e.new_value)}")
    embed.description = _fit("\n".join(lines), 4000)
    return embed


def _clip(value: str | None, limit: int = 120) -> str:
    text = value or "-"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


STATE_ICONS = {
    "succeeded": "✅",
    "failed": "❌",
    "cancelled": "🚫",
    "queued": "🕒",
    "submitting": "⏳",
    "processing": "⏳",
    "delivering": "📤",
}


def stats_embed(stats: Stats, scope: str) -> discord.Embed:
    embed = discord.Embed(title=f"Stats: {scope}", colour=INFO)
    embed.description = "Jobs requested in the last 30 days."
    embed.add_field(
        name="Video generated",
        value=f"24 h: {stats.seconds_today:g} s\n30 days: {stats.seconds_month:g} s",
        inline=True,
    )
    median = "-" if stats.median_turnaround is None else duration(stats.median_turnaround)
    embed.add_field(name="Median request → clip", value=median, inline=True)
    states = "\n".join(
        f"{STATE_ICONS.get(state, '•')} {count} {state}"
        for state, count in sorted(stats.by_state.items(), key=lambda kv: -kv[1])
    )
    embed.add_field(name=f"Jobs ({stats.total_jobs})", value=states or "None yet.", inline=False)
    if stats.failures:
        top = list(stats.failures.items())[:6]
        embed.add_field(
            name="Failures by cause",
            value="\n".join(f"`{code}` × {count}" for code, count in top),
            inline=False,
        )
    return embed


async def send_stats(interaction: discord.Interaction, stats: Stats, scope: str) -> None:
    """The stats embed, with a chart of the last two weeks when there is anything to draw."""
    embed = stats_embed(stats, scope)
    file = None
    if stats.has_chart_data:
        png = await asyncio.to_thread(
            render_daily_chart, stats.daily, "Seconds generated per day (UTC)"
        )
        file = discord.File(io.BytesIO(png), filename="stats.png")
        embed.set_image(url="attachment://stats.png")
    await reply(interaction, embed, file)


def duration(seconds: float) -> str:
    """45 s, 3 min 5 s, 2 h 10 min."""
    total = int(round(seconds))
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"
