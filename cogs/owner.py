"""`/animate-owner`: the operator who pays ModelsLab pauses, caps spending, checks the balance and
the queue, chooses where alerts go, manages the DM scope, and publishes commands.

Owners are OWNER_IDS from the configuration, or the application's owner or team. Discord hides the
group from non-administrators; every command checks for an owner again when it runs (`allowed`,
through `guarded`). `/animate-owner dm` is the scoped-limit group (cogs/scoped_limits.py) that
`/animate-admin` mounts for a server, here for the DM scope.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from cogs.controls_common import (
    INFO,
    OK,
    AuditCount,
    ControlsCog,
    change_embed,
    guarded,
    is_bot_owner,
    refuse,
    reply,
    with_mentions,
)
from cogs.scoped_limits import DM_SCOPE, ScopedLimits
from services.alerts import AlertTarget
from services.control_rules import MAX_SECONDS, target_text
from services.modelslab import ModelsLabError, WalletBalance
from services.runner import OPERATOR_REASONS

if TYPE_CHECKING:
    from cogs.app_bot import AppBot

log = logging.getLogger(__name__)

Cap = app_commands.Range[int, 0, MAX_SECONDS * 100]


@app_commands.default_permissions(administrator=True)
@app_commands.guild_only()
class OwnerCog(ControlsCog, group_name="animate-owner"):
    """Bot-wide controls for the bot's operator."""

    cap = app_commands.Group(name="cap", description="The bot-wide daily spending cap.")
    alerts = app_commands.Group(name="alerts", description="Where operator alerts go.")

    def __init__(self, bot: AppBot) -> None:
        super().__init__(bot)
        # dm limits, clear-limits, block, unblock, reset-usage, usage
        self.dm = ScopedLimits(self, DM_SCOPE)

    async def allowed(self, interaction: discord.Interaction) -> bool:
        """For bot owners only; anyone else gets a refusal."""
        if await is_bot_owner(self.bot, interaction.user):
            return True
        log.info("user %d refused /animate-owner", interaction.user.id)
        await refuse(interaction, "Only the bot's owners can use this.")
        return False

    # --- overview and switches ------------------------------------------------------------------
    @app_commands.command(name="status")
    @guarded
    async def status(self, interaction: discord.Interaction) -> None:
        """Global pause, the daily cap and today's spend, provider trouble, alert target."""
        view = await self.services.controls.operator_view()
        provider = _provider_trouble(self.services.runner.paused_reason)
        embed = discord.Embed(title="Operator status", colour=INFO)
        embed.add_field(
            name="New jobs", value="⏸️ paused" if view.paused else "▶️ running", inline=True
        )
        embed.add_field(
            name="Provider",
            value=f"⚠️ held back: {provider}" if provider else "✅ no trouble seen",
            inline=True,
        )
        spent = f"{view.used_today:g} s in the last 24 h"
        if view.cap:
            spent += f" ({view.used_today / view.cap:.0%})"
        embed.add_field(name="Daily cap", value=f"{view.cap_text}\n{spent}", inline=False)
        target = with_mentions(target_text(view.alert_target))
        embed.add_field(name="Alerts go to", value=target, inline=False)
        await reply(interaction, embed)

    @app_commands.command(name="pause")
    @guarded
    async def pause(self, interaction: discord.Interaction) -> None:
        """Stop new jobs everywhere; queued jobs wait and nobody is charged."""
        controls, actor = self.services.controls, interaction.user.id
        await self.apply(interaction, lambda: controls.set_global_paused(actor, True))

    @app_commands.command(name="resume")
    @guarded
    async def resume(self, interaction: discord.Interaction) -> None:
        """Accept new jobs again and retry the provider now (after fixing a key or credits)."""
        runner, actor = self.services.runner, interaction.user.id
        held_back = _provider_trouble(runner.paused_reason)
        change = await self.services.controls.set_global_paused(actor, False)
        runner.resume_provider()
        log.info("owner %d resumed the bot (provider was held back: %s)", actor, held_back)
        embed = change_embed(change)
        if held_back:
            embed.add_field(
                name="Provider", value=f"Retrying ModelsLab now (was: {held_back}).", inline=False
            )
        await reply(interaction, embed)

    # --- the cap --------------------------------------------------------------------------------
    @cap.command(name="set")
    @app_commands.describe(seconds="Seconds of video all users together may generate per 24 h")
    @guarded
    async def cap_set(self, interaction: discord.Interaction, seconds: Cap) -> None:
        """Set the bot-wide daily cap now (0 refuses every new job)."""
        controls, actor = self.services.controls, interaction.user.id
        await self.apply(interaction, lambda: controls.set_global_cap(actor, seconds))

    @cap.command(name="off")
    @guarded
    async def cap_off(self, interaction: discord.Interaction) -> None:
        """Remove the bot-wide cap, even if the configuration sets one."""
        controls, actor = self.services.controls, interaction.user.id
        await self.apply(interaction, lambda: controls.set_global_cap(actor, "none"))

    @cap.command(name="default")
    @guarded
    async def cap_default(self, interaction: discord.Interaction) -> None:
        """Use GLOBAL_DAILY_SECONDS_CAP from the configuration again."""
        controls, actor = self.services.controls, interaction.user.id
        await self.apply(interaction, lambda: controls.set_global_cap(actor, None))

    # --- the provider ---------------------------------------------------------------------------
    @app_commands.command(name="balance")
    @guarded
    async def balance(self, interaction: discord.Interaction) -> None:
        """ModelsLab wallet balance, jobs running there, and the bot's own queue."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        client = self.services.client
        wallet, running = await asyncio.gather(
            _provider_figure("wallet balance", client.wallet_balance, _money),
            _provider_figure("processing count", client.processing_count, str),
        )
        queue = await self.services.stats.queue_state()
        embed = discord.Embed(title="ModelsLab and the queue", colour=INFO)
        embed.add_field(name="Wallet", value=wallet, inline=True)
        embed.add_field(name="Running at ModelsLab", value=running, inline=True)
        lines = [f"{count} {state}" for state, count in queue.by_state.items()]
        if queue.oldest_queued_at is not None:
            lines.append(f"Oldest waiting since <t:{int(queue.oldest_queued_at)}:R>")
        embed.add_field(name="Bot queue", value="\n".join(lines) or "Empty.", inline=False)
        provider = _provider_trouble(self.services.runner.paused_reason)
        if provider:
            embed.add_field(name="Dispatch", value=f"⚠️ held back: {provider}", inline=False)
        await reply(interaction, embed)

    # --- alerts ---------------------------------------------------------------------------------
    @alerts.command(name="channel")
    @app_commands.describe(channel="The channel for operator alerts")
    @guarded
    async def alerts_channel(
        self, interaction: discord.Interaction, channel: discord.TextChannel
    ) -> None:
        """Send operator alerts (provider failures, spending) to a channel."""
        controls, actor = self.services.controls, interaction.user.id
        target = AlertTarget("channel", channel.id)
        await self.apply(interaction, lambda: controls.set_alert_target(actor, target))

    @alerts.command(name="dm")
    @app_commands.describe(user="Who gets the alerts by DM (you if left out)")
    @guarded
    async def alerts_dm(
        self, interaction: discord.Interaction, user: discord.User | None = None
    ) -> None:
        """Send operator alerts by DM to one person."""
        controls, actor = self.services.controls, interaction.user.id
        target = AlertTarget("dm", (user or interaction.user).id)
        await self.apply(interaction, lambda: controls.set_alert_target(actor, target))

    @alerts.command(name="owners")
    @guarded
    async def alerts_owners(self, interaction: discord.Interaction) -> None:
        """Send operator alerts by DM to every owner (the default)."""
        controls, actor = self.services.controls, interaction.user.id
        await self.apply(interaction, lambda: controls.set_alert_target(actor, None))

    @alerts.command(name="test")
    @guarded
    async def alerts_test(self, interaction: discord.Interaction) -> None:
        """Send a test alert to the current target."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        where = await self.services.alerts.test_alert(
            f"Test alert requested by <@{interaction.user.id}>. Alerts reach you here."
        )
        text = (
            f"Test alert sent to {where}." if where else "Test alert reached nobody; see the log."
        )
        embed = discord.Embed(description=text, colour=OK)
        await reply(interaction, embed)

    # --- insight and upkeep ---------------------------------------------------------------------
    @app_commands.command(name="stats")
    @guarded
    async def stats(self, interaction: discord.Interaction) -> None:
        """Jobs, seconds generated, failures and waiting time across all servers and DMs."""
        await self.show_stats(interaction, None, "all servers and DMs")

    @app_commands.command(name="audit")
    @app_commands.describe(count="How many of the latest changes to show")
    @guarded
    async def audit(self, interaction: discord.Interaction, count: AuditCount = 10) -> None:
        """Show the latest bot-wide and DM changes: who, what, before and after."""
        await self.show_audit(interaction, None, count, "Latest bot-wide changes")

    @app_commands.command(name="sync")
    @guarded
    async def sync(self, interaction: discord.Interaction) -> None:
        """Publish the slash commands to every server (rate limited: use after updates only)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            synced = await self.bot.tree.sync()
        except discord.HTTPException as exc:
            log.warning("global command sync failed: %s", exc)
            await refuse(interaction, f"Discord refused the sync ({exc.status}). Try later.")
            return
        log.info("owner %d synced %d global commands", interaction.user.id, len(synced))
        embed = discord.Embed(
            description=f"Published {len(synced)} commands. Clients may take a minute.", colour=OK
        )
        await reply(interaction, embed)


async def setup(bot: AppBot) -> None:
    await bot.add_cog(OwnerCog(bot))


async def _provider_figure(
    what: str, call: Callable[[], Awaitable[Any]], show: Callable[[Any], str]
) -> str:
    """One figure from ModelsLab for display; trouble becomes a short note, never an error."""
    try:
        return show(await call())
    except ModelsLabError as exc:
        log.warning("could not read the ModelsLab %s: %s", what, exc.message)
        return f"unavailable: {exc.message}"


def _provider_trouble(reason: str | None) -> str | None:
    """The runner's pause reason in words (None: no trouble)."""
    return None if reason is None else OPERATOR_REASONS.get(reason, reason)


def _money(value: WalletBalance) -> str:
    return f"{value.balance:,.2f} {value.currency}".strip()
