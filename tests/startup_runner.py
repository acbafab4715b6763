"""Run bot.py's main() with Discord and SQLite pointed where a start-up test wants (tests only).

    python tests/startup_runner.py API_BASE GATEWAY_URL BUSY_TIMEOUT_MS [bot.py arguments...]

API_BASE replaces discord.py's REST base (https://discord.com/api/v10), GATEWAY_URL its first
gateway address (wss://gateway.discord.gg/) and BUSY_TIMEOUT_MS how long opening the database waits
for another process's lock, so that no test touches the real Discord or waits five seconds.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import discord.http  # noqa: E402
import yarl  # noqa: E402
from discord.gateway import DiscordWebSocket  # noqa: E402

import bot  # noqa: E402
import db.connection  # noqa: E402

if __name__ == "__main__":
    api_base, gateway, busy_timeout_ms, *argv = sys.argv[1:]
    discord.http.Route.BASE = api_base
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway)
    db.connection.BUSY_TIMEOUT_MS = int(busy_timeout_ms)
    sys.exit(asyncio.run(bot.main(argv)))
