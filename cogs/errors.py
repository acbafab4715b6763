"""The one app-command error handler, and ephemeral replies that work before or after a defer.

Expected problems (bad input, quota refusals, refused button actions, failed downloads, a failed
image upload to the provider) become friendly private replies: the engine's refusals are facts
worded by cogs/refusals.py; input and download problems carry their own sentence. Anything
else is logged with its traceback under a short reference code, and the user sees only that code:
never a traceback or a secret.
"""

from __future__ import annotations

import logging
import secrets

import discord
from discord import app_commands
from discord.ext import commands

from cogs.motion_text import motion_error_text
from cogs.refusals import REFUSALS, refusal_text
from services.downloads import DownloadError
from services.media import MediaError
from services.modelslab import InputError, OperatorError, TransientError
from services.motions import MotionError

log = logging.getLogger(__name__)

#: Exceptions whose str() is already a sentence for the user.
EXPECTED_ERRORS: tuple[type[Exception], ...] = (MediaError, DownloadError)

# The one provider call a command makes is publishing a converted WebP (owner commands handle
# their own). An InputError's message is about the user's image; the others become these.
PROVIDER_UNAVAILABLE = "The animation service is unavailable right now; try again later."
IMAGE_NOT_PREPARED = "I couldn't prepare your image for the generator; try again in a minute."

# Unknown interaction (answered too late) and invalid webhook token (older than 15 minutes):
# nothing more can be said through this interaction.
DEAD_INTERACTION_CODES = frozenset({10062, 50027})


def new_reference() -> str:
    """A short code that ties what the user sees to one log line."""
    return secrets.token_hex(4)


async def reply_ephemeral(
    interaction: discord.Interaction,
    content: str | None = None,
    *,
    embed: discord.Embed | None = None,
) -> bool:
    """Reply privately, whether or not the interaction was already answered or deferred.
    Returns False when the interaction can no longer be answered."""
    embeds = [] if embed is None else [embed]
    try:
        if interaction.response.is_done():
            await interaction.followup.send(content or "", embeds=embeds, ephemeral=True)
        else:
            await interaction.response.send_message(content, embeds=embeds, ephemeral=True)
    except discord.HTTPException as exc:
        if exc.code not in DEAD_INTERACTION_CODES:
            raise
        log.warning(
            "could not reply to interaction %d (code %d): it expired", interaction.id, exc.code
        )
        return False
    return True


def user_message(error: BaseException) -> str | None:
    """The reply for an error a user can act on or should know about; None for a bug."""
    if isinstance(error, REFUSALS):
        return refusal_text(error)
    if isinstance(error, EXPECTED_ERRORS):
        return str(error)
    if isinstance(error, InputError):
        return error.message
    if isinstance(error, MotionError):
        return motion_error_text(error)
    if isinstance(error, OperatorError):
        return PROVIDER_UNAVAILABLE
    if isinstance(error, TransientError):
        return IMAGE_NOT_PREPARED
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"Slow down: you can use this again in {error.retry_after:.0f} s."
    if isinstance(error, app_commands.NoPrivateMessage):
        return "This command only works in a server."
    if isinstance(error, app_commands.MissingPermissions):
        return "You need the Manage Server permission for this."
    if isinstance(error, app_commands.BotMissingPermissions):
        missing = ", ".join(p.replace("_", " ") for p in error.missing_permissions)
        return f"I'm missing permissions here: {missing}. Ask a server admin."
    if isinstance(error, app_commands.CheckFailure):
        return "You can't use this command here."
    return None


def unwrap(error: BaseException) -> BaseException:
    """The exception the command raised, out of discord.py's wrappers."""
    if isinstance(error, app_commands.CommandInvokeError | commands.CommandInvokeError):
        return error.original
    return error


def _command_name(interaction: discord.Interaction) -> str:
    command = interaction.command
    return command.qualified_name if command is not None else "component"


async def handle_error(
    interaction: discord.Interaction, error: BaseException, *, job_id: int | None = None
) -> None:
    """Tell the user what went wrong; log bugs with a reference code and the job id."""
    error = unwrap(error)
    if job_id is None:
        job_id = interaction.extras.get("job_id")
    if isinstance(error, discord.HTTPException) and error.code in DEAD_INTERACTION_CODES:
        # Too late to answer (for example the 3 s deadline passed under load): nobody to tell.
        log.warning(
            "%s for user %d (job %s): interaction expired (code %d)",
            _command_name(interaction),
            interaction.user.id,
            job_id,
            error.code,
        )
        return
    message = user_message(error)
    if message is not None:
        log.info(
            "%s refused for user %d (job %s): %s",
            _command_name(interaction),
            interaction.user.id,
            job_id,
            type(error).__name__,
        )
        await reply_ephemeral(interaction, message)
        return
    reference = new_reference()
    log.error(
        "unexpected error [ref %s] in %s for user %d (job %s)",
        reference,
        _command_name(interaction),
        interaction.user.id,
        job_id,
        exc_info=error,
    )
    await reply_ephemeral(
        interaction,
        "Something went wrong on my side. If it keeps happening, give the bot's operator "
        f"this code: `{reference}`.",
    )


async def on_app_command_error(
    interaction: discord.Interaction, error: app_commands.AppCommandError
) -> None:
    """The command tree's error handler."""
    try:
        await handle_error(interaction, error)
    except discord.HTTPException:
        # Replying failed too (for example Discord is down): the log is all that is left.
        log.exception("could not report an error to user %d", interaction.user.id)


async def setup(bot: commands.Bot) -> None:
    bot.tree.error(on_app_command_error)


async def teardown(bot: commands.Bot) -> None:
    bot.tree.error(type(bot.tree).on_error.__get__(bot.tree))
