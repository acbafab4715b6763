"""Job buttons that keep working after a restart: Cancel, Retry, and Run again in the other mode.

Each button is a DynamicItem whose custom_id carries the action and the job id; everything else
is read from the database when it is pressed, so nothing lives in memory between clicks.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any, cast

import discord
from discord.ext import commands

from cogs.errors import handle_error, reply_ephemeral
from cogs.requester import is_server_admin, requester_from
from cogs.status import receipt_text
from domain import Job, JobState, Mode
from services.jobs import JobAction, JobActionRefused, JobRefusal

if TYPE_CHECKING:
    from cogs.app_bot import AppBot

log = logging.getLogger(__name__)

CANCEL = "cancel"
RETRY = "retry"
OTHER_MODE = "other"
TEMPLATE = r"job:(?P<action>cancel|retry|other):(?P<job_id>\d+)"

_CANCELLABLE = (JobState.QUEUED, JobState.SUBMITTING, JobState.PROCESSING)
_STYLES = {
    CANCEL: discord.ButtonStyle.danger,
    RETRY: discord.ButtonStyle.primary,
    OTHER_MODE: discord.ButtonStyle.secondary,
}


def custom_id(action: str, job_id: int) -> str:
    return f"job:{action}:{job_id}"


def other_mode(mode: str) -> Mode:
    return Mode(mode).other


def _label(action: str, mode: str | None) -> str:
    if action == CANCEL:
        return "Cancel"
    if action == RETRY:
        return "Retry"
    return f"Run again as {other_mode(mode)}" if mode else "Run again in the other mode"


class JobButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=TEMPLATE):
    """One job button; the custom_id is its whole state."""

    def __init__(self, action: str, job_id: int, *, mode: str | None = None) -> None:
        super().__init__(
            discord.ui.Button(
                label=_label(action, mode),
                style=_STYLES[action],
                custom_id=custom_id(action, job_id),
            )
        )
        self.action = action
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> JobButton:
        return cls(match["action"], int(match["job_id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await run_job_action(interaction, self.action, self.job_id)


def job_view(job: Job) -> discord.ui.View | None:
    """The buttons a job's message shows in its current state (none while it is being posted)."""
    if job.state in _CANCELLABLE:
        actions = [CANCEL]
    elif job.state.is_terminal:
        actions = [RETRY, OTHER_MODE]
    else:
        return None
    view = discord.ui.View(timeout=None)
    for action in actions:
        view.add_item(JobButton(action, job.id, mode=job.mode))
    return view


async def run_job_action(interaction: discord.Interaction, action: str, job_id: int) -> None:
    """Do what a button asks and answer privately. discord.py only logs exceptions raised by
    dynamic items, so this is a boundary: every outcome is reported to the presser here."""
    # Defer first: the action touches the database and may post a status message.
    await interaction.response.defer(ephemeral=True, thinking=True)
    bot = cast("AppBot", interaction.client)
    try:
        if action == CANCEL:
            text = await _cancel(bot, interaction, job_id)
        else:
            text = await _run_again(bot, interaction, job_id, switch_mode=action == OTHER_MODE)
    except Exception as exc:  # noqa: BLE001 - boundary: handle_error logs bugs with a traceback
        await handle_error(interaction, exc, job_id=job_id)
        return
    await reply_ephemeral(interaction, text)


async def _cancel(bot: AppBot, interaction: discord.Interaction, job_id: int) -> str:
    services = bot.services
    job = await services.jobs.get(job_id)
    who = await requester_from(interaction, services.settings, bot.is_owner)
    admin = who.is_owner or (job is not None and is_server_admin(interaction, job.guild_id))
    cancelled = await services.jobs.cancel(job_id, who.user_id, admin)
    log.info("job %d: cancelled by user %d (admin: %s)", job_id, who.user_id, admin)
    await bot.messages.job_cancelled(cancelled, by_user_id=who.user_id)
    return f"Cancelled job #{job_id}. Nothing was charged."


async def _run_again(
    bot: AppBot, interaction: discord.Interaction, job_id: int, *, switch_mode: bool
) -> str:
    services = bot.services
    original = await services.jobs.get(job_id)
    if original is None:
        raise JobActionRefused(JobRefusal.NOT_FOUND, job_id, JobAction.RETRY)
    who = await requester_from(interaction, services.settings, bot.is_owner)
    mode = other_mode(original.mode) if switch_mode else None
    job = await services.jobs.retry(job_id, who, mode)
    interaction.extras["job_id"] = job.id
    log.info("job %d: queued as a re-run of job %d (%s)", job.id, job_id, job.mode)
    bot.messages.remember_interaction(job.id, interaction)
    position = await services.jobs.queue_position(job.id)
    return receipt_text(job, position, bot.messages.status_url(job))


async def setup(bot: commands.Bot) -> None:
    # Registered once for the process: presses on messages from before a restart are routed here.
    bot.add_dynamic_items(JobButton)


async def teardown(bot: commands.Bot) -> None:
    bot.remove_dynamic_items(JobButton)
