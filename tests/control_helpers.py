"""Builders shared by the `/animate-admin` and `/animate-owner` tests: the services both cogs use,
interactions for a cog's commands, commands by name (invoked directly, as the command tree calls
their callbacks), made-up arguments for every option, and what was stored."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any
from unittest.mock import Mock

import discord
from discord import app_commands

from cogs.controls_common import ControlsCog
from db.connection import Database
from services.alerts import AlertService
from services.controls import ControlService
from services.quota import DAY, QuotaService
from services.stats import StatsService
from settings import Settings
from tests.clock import FakeClock
from tests.fakes.discord_fakes import FakeDiscord, Sent

NOW = 100 * DAY + 12 * 3600
GUILD = 10
CHANNEL, OTHER_CHANNEL = 100, 200
ADMIN, OWNER, TARGET = 900, 42, 1
ROLE = 555
CONTROL_TABLES = ("audit_log", "guild_settings", "role_limits", "user_limits", "allowed_channels")


def cog_services(db: Database, settings: Settings) -> SimpleNamespace:
    """The services the admin and owner cogs use, as Services will hold them."""
    clock = FakeClock(NOW)
    runner = Mock(spec=["paused_reason", "resume_provider"])
    runner.paused_reason = None
    return SimpleNamespace(
        settings=settings,
        db=db,
        controls=ControlService(db, settings, clock=clock),
        stats=StatsService(db, clock=clock),
        alerts=AlertService(db, settings, clock=clock),
        quota=QuotaService(db, settings, clock=clock),
        runner=runner,
        client=None,
    )


def interaction_for(
    world: FakeDiscord,
    cog: ControlsCog,
    user_id: int,
    *,
    guild_id: int | None = GUILD,
    role_ids: tuple[int, ...] = (),
    **kw: Any,
) -> Any:
    """An invocation of one of the cog's commands by a member of GUILD (a user outside one)."""
    user = world.member(user_id, GUILD, role_ids) if guild_id else world.user(user_id)
    return world.interaction(
        user=user,
        guild_id=guild_id,
        channel_id=CHANNEL,
        client=cog.bot,
        command=cog.__cog_group_name__,
        **kw,
    )


def reply_of(world: FakeDiscord) -> Sent:
    [*_, last] = world.followups()
    assert last.ephemeral, "admin and owner replies are private"
    return last


def role(role_id: int = ROLE, *, default: bool = False) -> Any:
    fake = Mock(spec=discord.Role)
    fake.id = role_id
    fake.is_default = Mock(return_value=default)
    return fake


def argument_for(param: app_commands.Parameter, world: FakeDiscord) -> Any:
    kind = param.type
    if kind is discord.AppCommandOptionType.user:
        return world.member(TARGET, GUILD)
    if kind is discord.AppCommandOptionType.role:
        return role()
    if kind is discord.AppCommandOptionType.channel:
        return world.channel(OTHER_CHANNEL)
    if kind is discord.AppCommandOptionType.integer:
        return 5
    if kind is discord.AppCommandOptionType.boolean:
        return False
    return "reason"


def every_command(cog: ControlsCog) -> list[app_commands.Command[Any, ..., Any]]:
    return [c for c in cog.command_group.walk_commands() if isinstance(c, app_commands.Command)]


def command_named(cog: ControlsCog, name: str) -> app_commands.Command[Any, ..., Any]:
    """The cog's command `name` ("block", "role-tier set", "dm usage"), wherever it is mounted."""
    qualified = f"{cog.command_group.name} {name}"
    [command] = [c for c in every_command(cog) if c.qualified_name == qualified]
    return command


async def call(
    command: app_commands.Command[Any, ..., Any], interaction: Any, *args: Any, **kw: Any
) -> None:
    """Call the callback as the command tree does: on the object the command is bound to (the cog,
    or the scoped-limits group it shares with the other cog)."""
    await command.callback(command.binding, interaction, *args, **kw)


async def run_command(cog: ControlsCog, name: str, interaction: Any, *args: Any, **kw: Any) -> None:
    await call(command_named(cog, name), interaction, *args, **kw)


async def reply_to_every_command(
    world: FakeDiscord, cog: ControlsCog, user_id: int, **kw: Any
) -> dict[str, Sent]:
    """Invoke each command directly as user_id, with made-up arguments: the replies by name."""
    replies = {}
    for command in every_command(cog):
        args = {p.name: argument_for(p, world) for p in command.parameters}
        await call(command, interaction_for(world, cog, user_id, **kw), **args)
        replies[command.qualified_name] = reply_of(world)
    return replies


def assert_hidden_guild_group(
    cog: ControlsCog, name: str, default_permissions: discord.Permissions
) -> None:
    """The group's name, where Discord shows it, and descriptions within Discord's limits."""
    group = cog.command_group
    assert group.name == name and group.guild_only
    assert group.default_permissions == default_permissions
    for command in every_command(cog):
        assert 0 < len(command.description) <= 100, command.qualified_name
        assert all(len(p.description) <= 100 for p in command.parameters)


async def control_rows(db: Database, *more_tables: str) -> int:
    """Rows in the tables the controls write (and in more_tables)."""
    total = 0
    for table in (*CONTROL_TABLES, *more_tables):
        total += await db.fetchval(f"SELECT COUNT(*) FROM {table}")  # noqa: S608 - fixed names
    return total
