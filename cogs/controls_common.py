"""What `/animate-admin` (cogs/admin.py) and `/animate-owner` (cogs/owner.py) have in common.

`ControlsCog` is the base of both command groups: it decides who may use the group (`allowed`),
runs a ControlService change and answers with before and after (or the reason it was refused), and
shows usage, stats and the audit log for one scope (a server, or None for the bot-wide and DM
scope). `guarded` puts that permission check in front of every command, wherever it is mounted
(cogs/scoped_limits.py holds the commands both groups share). Below them are the ephemeral
replies and the embeds both groups answer with.

Why a decorator and not `interaction_check`: a failed check makes discord.py raise CheckFailure,
which the tree's error handler (cogs/errors.py) answers with its own generic message, a second
reply after the refusal. The guard runs inside the callback instead: discord.py and the tests,
which invoke callbacks directly, both go through it.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import io
import re
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, Protocol, TypeVar

import discord
from discord import app_commands
from discord.ext import commands

from cogs import requester
from cogs.refusals import refusal_text
from services.control_rules import (
    MAX_ACTIVE_JOBS,
    MAX_AUDIT_ENTRIES,
    MAX_SECONDS,
    Change,
    ControlError,
)
from services.quota import Requester, UsageReport
from services.stats import Stats, render_daily_chart

if TYPE_CHECKING:
    from cogs.app_bot import AppBot
    from domain import AuditEntry, Job
    from services.app import Services

OK = discord.Colour.green()
INFO = discord.Colour.blurple()
REFUSED = discord.Colour.red()

Seconds = app_commands.Range[int, 0, MAX_SECONDS]
Active = app_commands.Range[int, 0, MAX_ACTIVE_JOBS]
Reason = app_commands.Range[str, 1, 200]
AuditCount = app_commands.Range[int, 1, MAX_AUDIT_ENTRIES]

# Option descriptions for commands that set someone's own limits: `@describe(**LIMIT_OPTIONS)`.
LIMIT_OPTIONS = {
    "daily": "Seconds of video per 24 hours",
    "monthly": "Seconds of video per 30 days",
    "active": "Jobs in progress at once",
}

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
    "motion.add": "Motion added",
    "motion.remove": "Motion removed",
    "motion.curators": "Motion curators",
}


class Guarded(Protocol):
    """What `guarded` needs from a command's binding: the group's permission check."""

    async def allowed(self, interaction: discord.Interaction) -> bool: ...


G = TypeVar("G", bound=Guarded)
P = ParamSpec("P")
Callback = Callable[Concatenate[G, discord.Interaction, P], Coroutine[Any, Any, None]]


def guarded(callback: Callback[G, P]) -> Callback[G, P]:
    """Run the command only if its group's `allowed` lets the invoker (who is refused otherwise).

    discord.py reads the options from the signature: the wrapper shows the callback's, with its
    annotations resolved in the callback's own module (they are strings there).
    """

    @functools.wraps(callback)
    async def run(
        self: G, interaction: discord.Interaction, /, *args: P.args, **kwargs: P.kwargs
    ) -> None:
        if await self.allowed(interaction):
            await callback(self, interaction, *args, **kwargs)

    function: Any = run  # a plain function object, which takes any attribute
    function.__signature__ = inspect.signature(callback, eval_str=True)
    return run


class ControlsCog(commands.GroupCog):
    """Base of the admin and owner groups; subclasses name the group and say who may use it."""

    def __init__(self, bot: AppBot) -> None:
        self.bot = bot

    @property
    def services(self) -> Services:
        return self.bot.services

    @property
    def command_group(self) -> app_commands.Group:
        """This cog's group (/animate-admin, /animate-owner), where more commands can be mounted."""
        group = self.app_command
        if group is None:  # never: a GroupCog always has its group
            raise RuntimeError(f"{type(self).__name__} has no command group")
        return group

    async def allowed(self, interaction: discord.Interaction) -> bool:
        """True if the invoker may use this group here; otherwise refuse them and say why."""
        raise NotImplementedError

    async def apply(
        self, interaction: discord.Interaction, change: Callable[[], Awaitable[Change]]
    ) -> None:
        """Run one change and answer with before and after, or the reason it was refused."""
        try:
            result = await change()
        except ControlError as exc:
            await refuse(interaction, refusal_text(exc))
            return
        await reply(interaction, change_embed(result))

    async def show_usage(
        self, interaction: discord.Interaction, user: discord.abc.User, who: Requester
    ) -> None:
        """The user's limits, usage and recent jobs in who's scope."""
        controls = self.services.controls
        report = await controls.user_usage(who)
        jobs = await controls.recent_jobs(user.id, who.guild_id)
        await reply(interaction, usage_embed(user, report, jobs))

    async def show_stats(
        self, interaction: discord.Interaction, guild_id: int | None, scope: str
    ) -> None:
        """Figures for one server (None: everywhere), deferred first: the chart takes a moment."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        figures = await self.services.stats.collect(guild_id)
        await send_stats(interaction, figures, scope)

    async def show_audit(
        self, interaction: discord.Interaction, guild_id: int | None, count: int, title: str
    ) -> None:
        """The latest `count` changes in one server (None: bot-wide and DMs)."""
        entries = await self.services.controls.audit_log(guild_id, count)
        await reply(interaction, audit_embed(entries, title))


async def is_bot_owner(bot: AppBot, user: discord.abc.User) -> bool:
    """OWNER_IDS from the configuration, or the application's owner or team."""
    return await requester.is_bot_owner(user, bot.services.settings, bot.is_owner)


def server_id(interaction: discord.Interaction) -> int:
    """The server a server-scope command runs in (its group's `allowed` refuses it elsewhere)."""
    if interaction.guild_id is None:
        raise RuntimeError("a server command ran outside a server")
    return interaction.guild_id


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


async def refuse(interaction: discord.Interaction, text: str) -> None:
    """Answer with a refusal."""
    await reply(interaction, refusal(text))


def refusal(text: str) -> discord.Embed:
    return discord.Embed(description=f"⛔ {text}", colour=REFUSED)


def change_embed(change: Change) -> discord.Embed:
    title = ACTION_TITLES.get(change.action, change.action)
    target = mention(change.target)
    if not change.changed:
        embed = discord.Embed(title=f"{title}: no change", colour=INFO)
        now = with_mentions(change.new or "-")
        embed.description = f"{target}: already {now}." if target else f"Already {now}."
        return embed
    embed = discord.Embed(title=f"{title} updated", colour=OK)
    if target:
        embed.description = target
    embed.add_field(name="Before", value=with_mentions(change.old or "-"), inline=False)
    embed.add_field(name="Now", value=with_mentions(change.new or "-"), inline=False)
    return embed


_MENTIONS = {"user": "<@{}>", "role": "<@&{}>", "channel": "<#{}>", "dm": "DMs to <@{}>"}
_REFERENCE = re.compile(r"\b(" + "|".join(_MENTIONS) + r"):(\d+)\b")


def mention(target: str | None) -> str:
    """`user:1` -> <@1>, `role:2` -> <@&2>, `channel:3` -> <#3>, `dm:4` -> DMs to <@4>; '' for
    server/bot-wide."""
    if not target or ":" not in target:
        return ""
    kind, _, ident = target.partition(":")
    return _MENTIONS[kind].format(ident) if kind in _MENTIONS else target


def with_mentions(text: str) -> str:
    """The engine's plain words with each `kind:id` reference in them shown as a mention
    ("every channel", "channel:1, channel:2" -> "<#1>, <#2>")."""
    return _REFERENCE.sub(lambda found: mention(found.group(0)), text)


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
        old, new = (_clip(with_mentions(value or "-")) for value in (e.old_value, e.new_value))
        lines.append(f"{head}\n{old} → {new}")
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
    if stats.top_motions:
        embed.add_field(
            name="Most used motions",
            value="\n".join(f"**{name}** × {count}" for name, count in stats.top_motions),
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
