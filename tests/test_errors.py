"""The app-command error handler and ephemeral replies (cogs/errors.py)."""

from __future__ import annotations

import logging
from typing import Any
from unittest.mock import Mock

import discord
import pytest
from discord import app_commands
from discord.ext import commands

from cogs.errors import (
    handle_error,
    on_app_command_error,
    reply_ephemeral,
    setup,
    teardown,
)
from domain import JobState
from services.downloads import HostNotAllowedError
from services.jobs import JobAction, JobActionRefused, JobRefusal
from services.media import MediaLimitError
from services.quota import QuotaExceeded, QuotaLimit
from tests.fakes.discord_fakes import (
    FakeDiscord,
    forbidden,
    not_found,
    server_error,
    token_expired,
)


@pytest.fixture
def world() -> FakeDiscord:
    return FakeDiscord()


def make_interaction(world: FakeDiscord, **kw: Any) -> Any:
    return world.interaction(user=world.member(1, 10), guild_id=10, channel_id=100, **kw)


def last(world: FakeDiscord) -> str:
    [*_, sent] = world.followups()
    assert sent.ephemeral
    return sent.content or ""


async def test_reply_before_and_after_the_response(world: FakeDiscord) -> None:
    interaction = make_interaction(world)
    assert await reply_ephemeral(interaction, "first")
    assert world.calls == ["response"]
    assert await reply_ephemeral(interaction, "second")
    assert world.calls == ["response", "followup"]
    assert [s.content for s in world.followups()] == ["first", "second"]
    assert all(s.ephemeral for s in world.followups())


@pytest.mark.parametrize("error", [not_found(10062), token_expired()])
async def test_reply_to_a_dead_interaction_is_dropped(world: FakeDiscord, error: Any) -> None:
    interaction = make_interaction(world, followup_errors=[error])
    await interaction.response.defer()
    assert await reply_ephemeral(interaction, "hello") is False


async def test_reply_raises_other_http_errors(world: FakeDiscord) -> None:
    interaction = make_interaction(world, followup_errors=[forbidden()])
    await interaction.response.defer()
    with pytest.raises(discord.Forbidden):
        await reply_ephemeral(interaction, "hello")


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (
            MediaLimitError("Your video is 2.0 s long; it must be at least 3 s.", "video"),
            "Your video is 2.0 s long; it must be at least 3 s.",
        ),
        (
            QuotaExceeded(QuotaLimit.DAILY, 58, 60, 5, 2_000_000_000),
            "This needs 5 s of video but you have used 58 s of your 60 s daily limit. "
            "Enough frees up <t:2000000000:R>.",
        ),
        (
            JobActionRefused(JobRefusal.ALREADY_ENDED, 3, JobAction.CANCEL, JobState.SUCCEEDED),
            "Job #3 has already succeeded.",
        ),
        (HostNotAllowedError("evil.example"), str(HostNotAllowedError("evil.example"))),
    ],
)
async def test_expected_errors_become_their_text(
    world: FakeDiscord, error: Exception, text: str
) -> None:
    interaction = make_interaction(world)
    command = Mock(spec=app_commands.Command)
    command.name = "animate"
    wrapped = app_commands.CommandInvokeError(command, error)
    await on_app_command_error(interaction, wrapped)
    assert last(world) == text


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (app_commands.NoPrivateMessage(), "only works in a server"),
        (app_commands.MissingPermissions(["manage_guild"]), "Manage Server"),
        (app_commands.BotMissingPermissions(["attach_files"]), "attach files"),
        (app_commands.CheckFailure(), "can't use this command here"),
    ],
)
async def test_check_failures_are_explained(
    world: FakeDiscord, error: Exception, text: str
) -> None:
    interaction = make_interaction(world)
    await on_app_command_error(interaction, error)  # type: ignore[arg-type]
    assert text in last(world)


async def test_unexpected_errors_get_a_reference_code_and_a_logged_traceback(
    world: FakeDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    interaction = make_interaction(world)
    interaction.extras["job_id"] = 77
    try:
        raise KeyError("api_key=sk-live-secret")
    except KeyError as exc:
        error = exc
    with caplog.at_level(logging.ERROR, logger="cogs.errors"):
        await handle_error(interaction, error)
    text = last(world)
    code = text.split("`")[1]
    assert len(code) == 8
    assert "sk-live-secret" not in text and "KeyError" not in text and "Traceback" not in text
    [record] = caplog.records
    assert code in record.getMessage() and "job 77" in record.getMessage()
    assert record.exc_info is not None and record.exc_info[1] is error


async def test_each_error_gets_its_own_code(world: FakeDiscord) -> None:
    interaction = make_interaction(world)
    await handle_error(interaction, RuntimeError("a"))
    await handle_error(interaction, RuntimeError("b"))
    first, second = (s.content or "" for s in world.followups())
    assert first.split("`")[1] != second.split("`")[1]


async def test_when_even_the_reply_fails_it_is_logged(
    world: FakeDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    interaction = make_interaction(world, followup_errors=[server_error()])
    await interaction.response.defer()
    with caplog.at_level(logging.ERROR, logger="cogs.errors"):
        await on_app_command_error(interaction, app_commands.CheckFailure())
    assert "could not report an error" in caplog.text


async def test_setup_installs_the_tree_handler_and_teardown_removes_it() -> None:
    bot = commands.Bot(command_prefix="!", intents=discord.Intents.none())
    await setup(bot)
    assert bot.tree.on_error is on_app_command_error
    await teardown(bot)
    assert bot.tree.on_error is not on_app_command_error
