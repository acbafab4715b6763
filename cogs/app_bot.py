"""What the cogs rely on from the bot: its declared attributes, as a base class that bot.py's
AppBot fills in. Cogs import this, never bot.py, so no import cycle runs through the bot."""

from __future__ import annotations

from typing import Protocol

import discord
from discord.ext import commands

from domain import Job
from services.app import Services
from settings import Settings


class JobMessages(Protocol):
    """The Discord-side memory of jobs that commands and buttons use (cogs/notifier.py)."""

    def remember_interaction(self, job_id: int, interaction: discord.Interaction) -> None: ...

    def status_url(self, job: Job) -> str | None: ...

    async def job_cancelled(self, job: Job, by_user_id: int | None = None) -> None: ...


class AppBot(commands.Bot):
    """The cogs' view of the bot."""

    settings: Settings
    services: Services
    messages: JobMessages
