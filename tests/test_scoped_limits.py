"""The scoped-limit commands `/animate-admin` and `/animate-owner dm` share (cogs/scoped_limits.py):
each mount shows Discord the same commands and options as before they were shared, both refuse the
same targets with the same words, and the permission check also holds on discord.py's own path
from an interaction to a callback, answering once."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any
from unittest.mock import Mock

import discord
import pytest
from discord import app_commands

from cogs.admin import AdminCog
from cogs.controls_common import ControlsCog
from cogs.errors import on_app_command_error
from cogs.owner import OwnerCog
from db.connection import Database
from settings import Settings
from tests.control_helpers import (
    ADMIN,
    OWNER,
    TARGET,
    cog_services,
    control_rows,
    every_command,
    interaction_for,
    reply_of,
    run_command,
)
from tests.fakes.discord_fakes import FakeDiscord

MEMBER, BOT, CO_OWNER = 901, 77, 43

# Qualified name -> option names, read from the two cogs before they shared these commands.
ADMIN_TREE = {
    "animate-admin audit": ("count",),
    "animate-admin block": ("user", "reason"),
    "animate-admin channel allow": ("channel",),
    "animate-admin channel disallow": ("channel",),
    "animate-admin channel list": (),
    "animate-admin curators add": ("role",),
    "animate-admin curators remove": ("role",),
    "animate-admin limits": ("daily", "monthly", "active", "reset"),
    "animate-admin pause": (),
    "animate-admin reset-usage": ("user",),
    "animate-admin resume": (),
    "animate-admin role-tier remove": ("role",),
    "animate-admin role-tier set": ("role", "daily", "monthly", "active"),
    "animate-admin settings": (),
    "animate-admin stats": (),
    "animate-admin unblock": ("user",),
    "animate-admin usage": ("user",),
    "animate-admin user-limit clear": ("user",),
    "animate-admin user-limit set": ("user", "daily", "monthly", "active"),
}
OWNER_TREE = {
    "animate-owner alerts channel": ("channel",),
    "animate-owner alerts dm": ("user",),
    "animate-owner alerts owners": (),
    "animate-owner alerts test": (),
    "animate-owner audit": ("count",),
    "animate-owner balance": (),
    "animate-owner cap default": (),
    "animate-owner cap off": (),
    "animate-owner cap set": ("seconds",),
    "animate-owner dm block": ("user", "reason"),
    "animate-owner dm clear-limits": ("user",),
    "animate-owner dm limits": ("user", "daily", "monthly", "active"),
    "animate-owner dm reset-usage": ("user",),
    "animate-owner dm unblock": ("user",),
    "animate-owner dm usage": ("user",),
    "animate-owner pause": (),
    "animate-owner resume": (),
    "animate-owner stats": (),
    "animate-owner status": (),
    "animate-owner sync": (),
}


@pytest.fixture
def world() -> FakeDiscord:
    return FakeDiscord()


@pytest.fixture
def services(db: Database, make_settings: Callable[..., Settings]) -> SimpleNamespace:
    return cog_services(db, make_settings(owner_ids=frozenset({OWNER, CO_OWNER})))


@pytest.fixture
def admin(world: FakeDiscord, services: SimpleNamespace) -> AdminCog:
    return AdminCog(world.bot(services))


@pytest.fixture
def owner(world: FakeDiscord, services: SimpleNamespace) -> OwnerCog:
    return OwnerCog(world.bot(services))


def as_admin(world: FakeDiscord, cog: ControlsCog) -> Any:
    """An interaction by someone the cog lets in: a server admin, or a bot owner."""
    if isinstance(cog, AdminCog):
        return interaction_for(world, cog, ADMIN, manage_guild=True)
    return interaction_for(world, cog, OWNER)


def command_tree(cog: ControlsCog) -> dict[str, tuple[str, ...]]:
    return {c.qualified_name: tuple(p.name for p in c.parameters) for c in every_command(cog)}


# --- what Discord sees --------------------------------------------------------------------------
def test_admin_group_shows_the_same_commands_and_options(admin) -> None:  # type: ignore[no-untyped-def]
    assert command_tree(admin) == ADMIN_TREE


def test_owner_group_shows_the_same_commands_and_options(owner) -> None:  # type: ignore[no-untyped-def]
    assert command_tree(owner) == OWNER_TREE
    dm = owner.command_group.get_command("dm")
    assert isinstance(dm, app_commands.Group) and dm.description.startswith("Limits for use in DMs")


def test_shared_commands_are_bound_to_one_group_class(admin, owner) -> None:  # type: ignore[no-untyped-def]
    shared = {"block", "unblock", "reset-usage", "usage"}
    for cog in (admin, owner):
        bindings = {type(c.binding).__name__ for c in every_command(cog) if c.name in shared}
        assert bindings == {"ScopedLimits"}


# --- the same target checks in both mounts ------------------------------------------------------
SAME_COMMAND = {
    "block": ("block", "dm block"),
    "limits": ("user-limit set", "dm limits"),
}


@pytest.mark.parametrize("action", sorted(SAME_COMMAND))
async def test_a_bot_is_refused_alike_in_both_mounts(world, admin, owner, db, action) -> None:  # type: ignore[no-untyped-def]
    bot_user = world.user(BOT)
    bot_user.bot = True
    refusals = set()
    for cog, name in zip((admin, owner), SAME_COMMAND[action], strict=True):
        await run_command(cog, name, as_admin(world, cog), bot_user)
        refusals.add(reply_of(world).embed.description)
    assert refusals == {"⛔ Bots can't use /animate anyway."}
    assert await control_rows(db) == 0


@pytest.mark.parametrize(
    ("action", "words"),
    [("block", "can't be blocked"), ("limits", "can't be given limits")],
)
async def test_an_owner_is_refused_alike_in_both_mounts(  # type: ignore[no-untyped-def]
    world, admin, owner, db, action, words
) -> None:
    refusals = set()
    for cog, name in zip((admin, owner), SAME_COMMAND[action], strict=True):
        await run_command(cog, name, as_admin(world, cog), world.user(CO_OWNER))
        refusals.add(reply_of(world).embed.description)
    assert refusals == {f"⛔ Bot owners are exempt and {words}."}
    assert await control_rows(db) == 0


async def test_other_users_are_blocked_and_limited_in_their_own_scope(
    world, admin, owner, db
) -> None:  # type: ignore[no-untyped-def]
    target = world.user(TARGET)
    await run_command(admin, "block", as_admin(world, admin), target)
    await run_command(owner, "dm block", as_admin(world, owner), target)
    await run_command(owner, "dm limits", as_admin(world, owner), target, daily=7)
    rows = await db.fetchall("SELECT guild_key, blocked, daily_seconds FROM user_limits")
    assert sorted(tuple(r) for r in rows) == [(0, 1, 7), (10, 1, None)]


# --- discord.py's own dispatch ------------------------------------------------------------------
def tree_for(cog: ControlsCog) -> app_commands.CommandTree:
    """A real command tree with the cog's group and the bot's error handler (cogs/errors.py)."""
    tree = app_commands.CommandTree(discord.Client(intents=discord.Intents(guilds=True)))
    tree.add_command(cog.command_group)
    tree.on_error = on_app_command_error  # type: ignore[method-assign]
    return tree


def slash(interaction: Any, command: str, **options: Any) -> Any:
    """Turn `interaction` into the one Discord sends for `/command`, with int or user options."""
    *path, leaf = command.split()
    node: dict[str, Any] = {
        "type": 1,
        "name": leaf,
        "options": [option(name, value) for name, value in options.items()],
    }
    for name in reversed(path[1:]):
        node = {"type": 2, "name": name, "options": [node]}
    users = {str(v.id): v for v in options.values() if isinstance(v, Mock)}
    interaction.type = discord.InteractionType.application_command
    interaction.data = {
        "type": 1,
        "name": path[0],
        "options": [node],
        "resolved": {"users": {user_id: {"id": user_id} for user_id in users}},
    }
    interaction.command_failed = False
    interaction._state = Mock()
    interaction._state.create_user = Mock(side_effect=lambda data: users[data["id"]])
    return interaction


def option(name: str, value: Any) -> dict[str, Any]:
    if isinstance(value, Mock):  # a fake user: Discord sends the id, and the user as resolved
        return {"type": 6, "name": name, "value": str(value.id)}
    return {"type": 4, "name": name, "value": value}


async def dispatch(cog: ControlsCog, interaction: Any) -> None:
    # The coroutine the tree runs for each application-command interaction it receives.
    await tree_for(cog)._call(interaction)


async def test_tree_refuses_a_member_once_for_own_and_shared_commands(world, admin, db) -> None:  # type: ignore[no-untyped-def]
    for command in ("animate-admin pause", "animate-admin limits", "animate-admin usage"):
        options = {"user": world.user(TARGET)} if command.endswith("usage") else {}
        interaction = interaction_for(world, admin, MEMBER, manage_guild=False)
        await dispatch(admin, slash(interaction, command, **options))
    texts = [sent.text for sent in world.followups()]
    assert texts == ["\n\n⛔ You need the **Manage Server** permission for this."] * 3
    assert await control_rows(db) == 0


async def test_tree_refuses_a_server_admin_in_the_dm_group(world, owner, db) -> None:  # type: ignore[no-untyped-def]
    interaction = interaction_for(world, owner, ADMIN, manage_guild=True)
    await dispatch(owner, slash(interaction, "animate-owner dm block", user=world.user(TARGET)))
    [refusal] = world.followups()
    assert refusal.embed is not None and refusal.embed.description == (
        "⛔ Only the bot's owners can use this."
    )
    assert await control_rows(db) == 0


async def test_tree_runs_shared_commands_for_those_let_in(world, admin, owner, db) -> None:  # type: ignore[no-untyped-def]
    await dispatch(admin, slash(as_admin(world, admin), "animate-admin limits", daily=30))
    bot_user = world.user(BOT)
    bot_user.bot = True
    await dispatch(owner, slash(as_admin(world, owner), "animate-owner dm block", user=bot_user))
    target = world.user(TARGET)
    await dispatch(owner, slash(as_admin(world, owner), "animate-owner dm limits", user=target))
    texts = [sent.text for sent in world.followups()]
    assert "Server limits updated" in texts[0]
    assert "Bots can't use /animate anyway." in texts[1]
    assert "Give at least one value" in texts[2]
    assert len(texts) == 3
