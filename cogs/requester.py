"""Who is asking: a services.quota.Requester from a Discord interaction."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import discord

from services.quota import Requester
from settings import Settings

log = logging.getLogger(__name__)

IsOwner = Callable[[discord.abc.User], Awaitable[bool]]


def role_ids_of(user: discord.abc.User) -> frozenset[int]:
    """Role ids of a server member (role tiers key on them); none in DMs."""
    if isinstance(user, discord.Member):
        return frozenset(role.id for role in user.roles)
    return frozenset()


async def is_bot_owner(
    user: discord.abc.User, settings: Settings, is_owner: IsOwner | None
) -> bool:
    """OWNER_IDS first; without it, the application's owner or team (bot.is_owner asks Discord
    once and caches the answer)."""
    if user.id in settings.owner_ids:
        return True
    if settings.owner_ids or is_owner is None:
        return False
    try:
        return await is_owner(user)
    except discord.HTTPException as exc:
        log.warning("could not look up the application's owners (code %s)", exc.code)
        return False


async def requester_from(
    interaction: discord.Interaction, settings: Settings, is_owner: IsOwner | None = None
) -> Requester:
    """The requester for quota purposes. In a DM (or group DM) guild_id is None: the user's
    personal budget applies."""
    user = interaction.user
    return Requester(
        user_id=user.id,
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id,
        role_ids=role_ids_of(user),
        is_owner=await is_bot_owner(user, settings, is_owner),
    )


def is_server_admin(interaction: discord.Interaction, guild_id: int | None) -> bool:
    """A member with Manage Server in the server the job belongs to."""
    return (
        guild_id is not None
        and interaction.guild_id == guild_id
        and interaction.permissions.manage_guild
    )
