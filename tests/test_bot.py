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


async def test_http_endpoint_reports_the_gateway_down_before_connecting(
    db: Database, session: aiohttp.ClientSession, make_settings: Callable[..., Settings]
) -> None:
    from bot import build_http_api
    from tests.test_webhooks import free_port

    assert build_http_api(AnimateBot(settings=make_settings(), db=db, session=session)) is None
    bot = AnimateBot(settings=make_settings(http_port=free_port()), db=db, session=session)
    bot.tree.sync = AsyncMock(return_value=[])  # type: ignore[method-assign]
    await bot.setup_hook()
    http = build_http_api(bot)
    assert http is not None
    await http.start()
    try:
        async with session.get(f"http://127.0.0.1:{http.port}/healthz") as resp:
            assert resp.status == 503
            body = await resp.json()
        # Logged in but not connected: the gateway is down; the database and runner are fine.
        assert body["failing"] == ["gateway"]
        assert body["checks"] == {"gateway": False, "database": True, "runner": True}
    finally:
        await http.stop()
        await bot.services.runner.stop()
