"""Delivers operator alerts to Discord: once per event, to the configured channel or DM, falling
back to the owners' DMs and then the log. Never raises for delivery trouble: an alert about a
problem must not become a second problem. `alert_text` words the engine's alert facts."""

from __future__ import annotations

import logging

import discord
from discord.ext import commands

from services.alerts import AlertTarget, DispatchPaused, OperatorAlert, SpendingReached
from services.runner import OPERATOR_REASONS

log = logging.getLogger(__name__)

ALERT_COLOUR = discord.Colour.orange()


def alert_text(alert: OperatorAlert) -> str:
    """The words of an operator alert (a plain-words note is shown as it is)."""
    if isinstance(alert, SpendingReached):
        if alert.percent >= 100:
            head = "Spending reached the global daily cap"
            tail = "New jobs are refused until older ones leave the 24-hour window."
        else:
            head = f"Spending reached {alert.percent} % of the global daily cap"
            tail = "New jobs are refused once the cap is reached."
        return (
            f"{head}: {alert.used:g} s of {alert.cap:g} s of video in the last 24 hours. {tail} "
            "Change it with /animate-owner cap set."
        )
    if isinstance(alert, DispatchPaused):
        why = OPERATOR_REASONS.get(alert.reason, alert.reason)
        return (
            f"New jobs are paused because {why}. Queued jobs wait and nobody is charged. "
            f"The bot tries again every {alert.retry_every:g} s, or "
            "resume it with /animate-owner resume once fixed."
        )
    return alert


class AlertDispatcher:
    """The engine's `AlertSender` on Discord. The engine decides whether and where; this only
    sends, falling back to the owners' DMs."""

    def __init__(self, client: discord.Client, *, owner_ids: frozenset[int]) -> None:
        self._bot = client
        self._configured_owners = owner_ids

    async def send_alert(self, target: AlertTarget | None, alert: OperatorAlert) -> str | None:
        embed = discord.Embed(title="⚠️ Animate bot: operator alert", description=alert_text(alert))
        embed.colour = ALERT_COLOUR
        if target is not None and await self._to_target(target, embed):
            return target.encode()
        if await self._to_owners(embed):
            return "the owners' DMs"
        return None

    async def _to_target(self, target: AlertTarget, embed: discord.Embed) -> bool:
        if target.kind == "channel":
            return await self._to_channel(target.id, embed)
        return await self._to_user(target.id, embed)

    async def _to_channel(self, channel_id: int, embed: discord.Embed) -> bool:
        try:
            channel = self._bot.get_channel(channel_id) or await self._bot.fetch_channel(channel_id)
            if not isinstance(channel, discord.abc.Messageable):
                log.warning("alert channel %d cannot receive messages", channel_id)
                return False
            await channel.send(embed=embed)
        except discord.HTTPException as exc:  # Forbidden and NotFound included
            log.warning(
                "alert to channel %d failed: %s (code %s)", channel_id, exc.status, exc.code
            )
            return False
        return True

    async def _to_user(self, user_id: int, embed: discord.Embed) -> bool:
        try:
            user = self._bot.get_user(user_id) or await self._bot.fetch_user(user_id)
            await user.send(embed=embed)
        except discord.HTTPException as exc:  # 50007: DMs closed
            log.warning("alert DM to user %d failed: %s (code %s)", user_id, exc.status, exc.code)
            return False
        return True

    async def _to_owners(self, embed: discord.Embed) -> bool:
        delivered = False
        for owner_id in sorted(await self._owner_ids()):
            delivered = await self._to_user(owner_id, embed) or delivered
        return delivered

    async def _owner_ids(self) -> set[int]:
        """OWNER_IDS, else the application's owner or team from Discord."""
        ids = set(self._configured_owners)
        if isinstance(self._bot, commands.Bot):
            ids |= set(self._bot.owner_ids or ())
            if self._bot.owner_id:
                ids.add(self._bot.owner_id)
        if ids:
            return ids
        try:
            app = await self._bot.application_info()
        except discord.HTTPException as exc:
            log.warning("could not look up the application's owners: %s", exc.status)
            return set()
        if app.team is not None:
            return {member.id for member in app.team.members}
        return {app.owner.id}
