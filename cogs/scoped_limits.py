"""The scoped-limit commands, written once and mounted twice: for a server, straight in
`/animate-admin` (the server of the interaction), and for the DM scope as `/animate-owner dm`
(guild None: a user's personal budget in DMs and user installs).

Both mounts share per-user limits, block and unblock (bots and bot owners refused alike), usage
resets, and a user's usage with recent jobs. A server also has default limits and role tiers.
`LimitsScope` says where a mount's commands go and how each is worded (the names Discord users
know, so each mount keeps its own). Who may use them is the mounting cog's `allowed`.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

import discord
from discord import app_commands

from cogs import requester
from cogs.controls_common import (
    LIMIT_OPTIONS,
    Active,
    ControlsCog,
    Reason,
    Seconds,
    guarded,
    is_bot_owner,
    refuse,
    server_id,
)
from services.quota import Requester

CommandMethod = Callable[..., Coroutine[Any, Any, None]]  # a bound, `guarded` command method


@dataclass(frozen=True)
class Wording:
    """A command's or group's name and description, and its options' descriptions."""

    name: str
    description: str
    options: Mapping[str, str] = field(default_factory=dict)


def says(name: str, description: str, **options: str) -> Wording:
    return Wording(name, description, options)


@dataclass(frozen=True)
class LimitsScope:
    """A server (`server`: the interaction's guild) or the DM scope (guild None)."""

    server: bool
    # The group these commands form under the cog's group; None: straight in the cog's group.
    subgroup: Wording | None
    # By callback name (and "role_tier", "user_limit" for a server's subgroups).
    wording: Mapping[str, Wording]


REASON = "Shown to them when refused"

SERVER_SCOPE = LimitsScope(
    server=True,
    subgroup=None,
    wording={
        "server_limits": says(
            "limits",
            "Set the default limits for members of this server.",
            daily="Seconds of video each member may generate per 24 hours",
            monthly="Seconds of video each member may generate per 30 days",
            active="Jobs one member may have in progress at once",
            reset="Forget this server's limits and use the bot's defaults",
        ),
        "role_tier": says("role-tier", "Give a role its own limits."),
        "tier_set": says(
            "set",
            "Give a role its own limits; members get the most generous of their roles.",
            role="The role that gets these limits",
            **LIMIT_OPTIONS,
        ),
        "tier_remove": says(
            "remove", "Remove a role's own limits.", role="The role whose own limits to remove"
        ),
        "user_limit": says("user-limit", "Give one member own limits."),
        "set_limits": says(
            "set",
            "Give one member their own limits, over their roles and the server default.",
            user="The member",
            **LIMIT_OPTIONS,
        ),
        "clear_limits": says(
            "clear",
            "Remove a member's own limits; their roles and the server default apply again.",
            user="The member",
        ),
        "block": says(
            "block",
            "Stop a member from using /animate in this server.",
            user="The member to block",
            reason=REASON,
        ),
        "unblock": says(
            "unblock", "Let a blocked member use /animate again.", user="The member to unblock"
        ),
        "reset_usage": says(
            "reset-usage",
            "Forgive a member's usage so far (daily and 30-day).",
            user="The member whose usage to forgive",
        ),
        "usage": says(
            "usage",
            "Show a member's limits, usage and recent jobs here.",
            user="The member to look at",
        ),
    },
)

DM_SCOPE = LimitsScope(
    server=False,
    subgroup=says("dm", "Limits for use in DMs and user installs."),
    wording={
        "set_limits": says(
            "limits",
            "Give a user their own limits in DMs (others get the bot's defaults).",
            user="The user",
            **LIMIT_OPTIONS,
        ),
        "clear_limits": says("clear-limits", "Remove a user's own DM limits.", user="The user"),
        "block": says(
            "block", "Stop a user from using /animate in DMs.", user="The user", reason=REASON
        ),
        "unblock": says("unblock", "Let a user use /animate in DMs again.", user="The user"),
        "reset_usage": says("reset-usage", "Forgive a user's DM usage so far.", user="The user"),
        "usage": says(
            "usage", "Show a user's DM limits, usage and recent DM jobs.", user="The user"
        ),
    },
)


class ScopedLimits(app_commands.Group):
    """Limits, blocks and usage in one scope, mounted in `cog`'s group. Every command runs the
    cog's `allowed` first (`guarded`), wherever it is mounted."""

    def __init__(self, cog: ControlsCog, scope: LimitsScope) -> None:
        mount = cog.command_group
        home: app_commands.Group  # where the commands go
        if scope.subgroup is None:
            # Straight into the cog's group: this group stands for it and never reaches Discord.
            super().__init__(name=mount.name, description=mount.description)
            home = mount
        else:
            subgroup = scope.subgroup
            super().__init__(name=subgroup.name, description=subgroup.description, parent=mount)
            home = self
        self.cog = cog
        self.scope = scope
        if scope.server:
            self._add(home, "server_limits", self.server_limits)
            tiers = self._group(home, "role_tier")
            self._add(tiers, "tier_set", self.tier_set)
            self._add(tiers, "tier_remove", self.tier_remove)
            people = self._group(home, "user_limit")
        else:
            people = home
        self._add(people, "set_limits", self.set_limits)
        self._add(people, "clear_limits", self.clear_limits)
        for key, callback in (
            ("block", self.block),
            ("unblock", self.unblock),
            ("reset_usage", self.reset_usage),
            ("usage", self.usage),
        ):
            self._add(home, key, callback)

    def _group(self, parent: app_commands.Group, key: str) -> app_commands.Group:
        wording = self.scope.wording[key]
        group = app_commands.Group(name=wording.name, description=wording.description)
        parent.add_command(group)
        return group

    def _add(self, parent: app_commands.Group, key: str, callback: CommandMethod) -> None:
        """Add the command `callback` (a method of this group) to `parent`, worded for the scope."""
        wording = self.scope.wording[key]
        command: app_commands.Command[Any, ..., None] = app_commands.Command(
            name=wording.name, description=wording.description, callback=callback
        )
        app_commands.describe(**wording.options)(command)
        parent.add_command(command)

    async def allowed(self, interaction: discord.Interaction) -> bool:
        return await self.cog.allowed(interaction)

    def _guild_id(self, interaction: discord.Interaction) -> int | None:
        return server_id(interaction) if self.scope.server else None

    async def _refuse_target(
        self, interaction: discord.Interaction, user: discord.abc.User, action: str
    ) -> bool:
        """Bots never use /animate and bot owners are exempt: refuse to block or limit them."""
        if user.bot:
            await refuse(interaction, "Bots can't use /animate anyway.")
            return True
        if await is_bot_owner(self.cog.bot, user):
            await refuse(interaction, f"Bot owners are exempt and can't be {action}.")
            return True
        return False

    # --- a server's defaults and role tiers -----------------------------------------------------
    @guarded
    async def server_limits(
        self,
        interaction: discord.Interaction,
        daily: Seconds | None = None,
        monthly: Seconds | None = None,
        active: Active | None = None,
        reset: bool = False,
    ) -> None:
        guild_id, actor = server_id(interaction), interaction.user.id
        controls = self.cog.services.controls
        if reset:
            await self.cog.apply(interaction, lambda: controls.reset_server_limits(guild_id, actor))
            return
        await self.cog.apply(
            interaction,
            lambda: controls.set_server_limits(
                guild_id, actor, daily=daily, monthly=monthly, max_active=active
            ),
        )

    @guarded
    async def tier_set(
        self,
        interaction: discord.Interaction,
        role: discord.Role,
        daily: Seconds,
        monthly: Seconds,
        active: Active,
    ) -> None:
        if role.is_default():
            await refuse(interaction, "For everyone, use `/animate-admin limits`.")
            return
        guild_id, actor = server_id(interaction), interaction.user.id
        controls = self.cog.services.controls
        await self.cog.apply(
            interaction,
            lambda: controls.set_role_tier(
                guild_id, actor, role.id, daily=daily, monthly=monthly, max_active=active
            ),
        )

    @guarded
    async def tier_remove(self, interaction: discord.Interaction, role: discord.Role) -> None:
        guild_id, actor = server_id(interaction), interaction.user.id
        controls = self.cog.services.controls
        await self.cog.apply(
            interaction, lambda: controls.remove_role_tier(guild_id, actor, role.id)
        )

    # --- one user, in either scope --------------------------------------------------------------
    @guarded
    async def set_limits(
        self,
        interaction: discord.Interaction,
        user: discord.User,
        daily: Seconds | None = None,
        monthly: Seconds | None = None,
        active: Active | None = None,
    ) -> None:
        if await self._refuse_target(interaction, user, "given limits"):
            return
        guild_id, actor = self._guild_id(interaction), interaction.user.id
        controls = self.cog.services.controls
        await self.cog.apply(
            interaction,
            lambda: controls.set_user_limits(
                guild_id, actor, user.id, daily=daily, monthly=monthly, max_active=active
            ),
        )

    @guarded
    async def clear_limits(self, interaction: discord.Interaction, user: discord.User) -> None:
        guild_id, actor = self._guild_id(interaction), interaction.user.id
        controls = self.cog.services.controls
        await self.cog.apply(
            interaction, lambda: controls.clear_user_limits(guild_id, actor, user.id)
        )

    @guarded
    async def block(
        self,
        interaction: discord.Interaction,
        user: discord.User,
        reason: Reason | None = None,
    ) -> None:
        if await self._refuse_target(interaction, user, "blocked"):
            return
        guild_id, actor = self._guild_id(interaction), interaction.user.id
        controls = self.cog.services.controls
        await self.cog.apply(
            interaction, lambda: controls.block_user(guild_id, actor, user.id, reason)
        )

    @guarded
    async def unblock(self, interaction: discord.Interaction, user: discord.User) -> None:
        guild_id, actor = self._guild_id(interaction), interaction.user.id
        controls = self.cog.services.controls
        await self.cog.apply(interaction, lambda: controls.unblock_user(guild_id, actor, user.id))

    @guarded
    async def reset_usage(self, interaction: discord.Interaction, user: discord.User) -> None:
        guild_id, actor = self._guild_id(interaction), interaction.user.id
        controls = self.cog.services.controls
        await self.cog.apply(interaction, lambda: controls.reset_usage(guild_id, actor, user.id))

    @guarded
    async def usage(self, interaction: discord.Interaction, user: discord.User) -> None:
        """Limits, usage and recent jobs in this scope (roles count in a server only)."""
        who = Requester(
            user_id=user.id,
            guild_id=self._guild_id(interaction),
            role_ids=requester.role_ids_of(user) if self.scope.server else frozenset(),
            is_owner=await is_bot_owner(self.cog.bot, user),
        )
        await self.cog.show_usage(interaction, user, who)
