"""Composition root: settings, logging, the database, one HTTP session, the engine, the Bot.

python bot.py           run the bot
python bot.py --check   check settings and MEDIA_DIR, migrate the database, then exit (no Discord)

A failure an operator can fix (see startup.py) is one line of advice on stderr and an exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

import aiohttp
import discord
from discord.ext import commands

from cogs.alerts import AlertDispatcher
from cogs.app_bot import AppBot
from cogs.message_host import MessageLinks
from cogs.notifier import DiscordNotifier
from db.connection import Database
from db.stores import open_database
from services.app import Services, build_services
from services.http_api import HttpApi, database_answers
from settings import Settings, load_settings
from startup import check_media_dir, explain, probe_gateway

log = logging.getLogger("bot")

EXTENSIONS = (
    "cogs.errors",
    "cogs.animate",
    "cogs.animate_menu",
    "cogs.motions",
    "cogs.buttons",
    "cogs.side_by_side",
    "cogs.user_commands",
    "cogs.admin",
    "cogs.owner",
)


class AnimateBot(AppBot):
    """The Discord client. Owns nothing it did not get from main()."""

    db: Database
    session: aiohttp.ClientSession
    notifier: DiscordNotifier  # also `messages`: the Discord-side memory the cogs use

    def __init__(self, *, settings: Settings, db: Database, session: aiohttp.ClientSession) -> None:
        # Voice is unused: no warnings that its optional libraries (PyNaCl, davey) are missing.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents.default(),
            owner_ids=set(settings.owner_ids) or None,
            allowed_mentions=discord.AllowedMentions(everyone=False, roles=False, users=True),
        )
        self.settings = settings
        self.db = db
        self.session = session

    async def setup_hook(self) -> None:
        self.services, self.notifier = compose_engine(self, self.settings, self.db, self.session)
        self.messages = self.notifier
        for name in EXTENSIONS:
            await self.load_extension(name)
        if self.settings.dev_guild_id is not None:
            guild = discord.Object(id=self.settings.dev_guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d commands to the development guild", len(synced))
        await self.services.runner.start()

    async def close(self) -> None:
        if hasattr(self, "services"):
            await self.services.runner.stop()
        await super().close()


def compose_engine(
    client: discord.Client, settings: Settings, db: Database, session: aiohttp.ClientSession
) -> tuple[Services, DiscordNotifier]:
    """The engine and the Discord side it reports through, wired one way: the notifier and the
    alert sender get the client and settings, never the engine. Tests wire the bot with this."""
    notifier = DiscordNotifier(client, edit_interval=settings.status_edit_interval_seconds)
    alert_sender = AlertDispatcher(client, owner_ids=settings.owner_ids)
    services = build_services(
        settings=settings,
        db=db,
        session=session,
        notifier=notifier,
        alert_sender=alert_sender,
        link_refresher=MessageLinks(client),  # fresh links to inputs kept in messages
    )
    return services, notifier


def build_http_api(bot: AnimateBot) -> HttpApi | None:
    """The health, metrics and webhook endpoint, when HTTP_PORT is set (after login: it reports
    on the engine that setup_hook built)."""
    settings = bot.settings
    if settings.http_port is None:
        if settings.public_base_url is not None:
            log.warning("PUBLIC_BASE_URL is set but HTTP_PORT is not: webhooks stay off")
        return None
    services = bot.services
    return HttpApi(
        host=settings.http_host,
        port=settings.http_port,
        checks={
            "gateway": lambda: not bot.is_closed() and bot.is_ready(),
            "database": lambda: database_answers(bot.db),
            "runner": lambda: services.runner.is_running,
        },
        metrics=services.metrics.render,
        webhooks=services.webhooks,
    )


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # At DEBUG these log request details and SQL parameters (signed attachment URLs): never below
    # INFO, whatever LOG_LEVEL says.
    floor = max(logging.INFO, logging.getLevelName(level))
    for noisy in ("discord.http", "discord.gateway", "aiosqlite"):
        logging.getLogger(noisy).setLevel(floor)


async def check(settings: Settings) -> int:
    """Validate settings and MEDIA_DIR and migrate the database without connecting to Discord."""
    check_media_dir(settings.media_dir)
    db = await open_database(settings.database_path)
    try:
        version = await db.schema_version()
    finally:
        await db.close()
    print("Settings OK:")
    print(settings.summary())
    print(f"Media folder OK: {settings.media_dir}")
    print(f"Database OK: {settings.database_path} at schema version {version}")
    return 0


async def run(settings: Settings) -> int:
    """Check what can be checked locally, then log in to Discord and serve until closed."""
    check_media_dir(settings.media_dir)
    db = await open_database(settings.database_path)
    try:
        async with aiohttp.ClientSession() as session:
            bot = AnimateBot(settings=settings, db=db, session=session)
            async with bot:
                await bot.login(settings.discord_token.reveal())
                await probe_gateway()
                http = build_http_api(bot)
                if http is not None:
                    await http.start()
                try:
                    await bot.connect()
                finally:
                    if http is not None:
                        await http.stop()
    finally:
        await db.close()
    return 0


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Kling motion-control Discord bot")
    parser.add_argument(
        "--check", action="store_true", help="validate settings, MEDIA_DIR and the database"
    )
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        setup_logging(settings.log_level)
        return await (check(settings) if args.check else run(settings))
    except Exception as exc:
        failure = explain(exc)
        if failure is None:
            raise
        print(failure, file=sys.stderr)
        return failure.exit_code


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main(sys.argv[1:])))
    except KeyboardInterrupt:
        sys.exit(130)
