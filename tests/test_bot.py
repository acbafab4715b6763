"""The composition root: a real AnimateBot wires services, loads every extension and syncs to the
development guild, all without connecting to Discord."""

from __future__ import annotations

from collections.abc import Callable
from unittest.mock import AsyncMock

import aiohttp
import discord

from bot import AnimateBot
from db.connection import Database
from settings import Settings

EXPECTED_COMMANDS = {
    "animate",
    "quota",
    "jobs",
    "help",
    "animate-admin",
    "animate-owner",
    "motion",
    "Animate",  # the message menu
}


async def test_setup_hook_wires_everything(
    db: Database, session: aiohttp.ClientSession, make_settings: Callable[..., Settings]
) -> None:
    bot = AnimateBot(settings=make_settings(), db=db, session=session)
    bot.tree.sync = AsyncMock(return_value=[])  # type: ignore[method-assign]
    try:
        await bot.setup_hook()
        assert {c.name for c in bot.tree.get_commands()} == EXPECTED_COMMANDS
        bot.tree.sync.assert_not_awaited()  # no DEV_GUILD_ID: global sync is an owner's choice
        assert bot.notifier is not None
    finally:
        await bot.services.runner.stop()


async def test_commands_sync_to_the_development_guild(
    db: Database, session: aiohttp.ClientSession, make_settings: Callable[..., Settings]
) -> None:
    bot = AnimateBot(settings=make_settings(dev_guild_id=1234), db=db, session=session)
    bot.tree.sync = AsyncMock(return_value=[])  # type: ignore[method-assign]
    try:
        await bot.setup_hook()
        bot.tree.sync.assert_awaited_once()
        guild = bot.tree.sync.await_args.kwargs["guild"]
        assert isinstance(guild, discord.Object) and guild.id == 1234
        names = {c.name for c in bot.tree.get_commands(guild=discord.Object(id=1234))}
        assert names == EXPECTED_COMMANDS
    finally:
        await bot.services.runner.stop()
