"""/quota, /jobs and /help through spec'd interactions and real services."""

from __future__ import annotations

import discord
import pytest
from discord.ext import commands

from cogs.user_commands import UserCommands
from domain import JobState
from tests.fakes.discord_fakes import Harness, Sent, add_job, move_job

USER, OWNER, GUILD, CHANNEL = 1, 999, 10, 100


@pytest.fixture
def bot_owner_ids() -> frozenset[int]:
    return frozenset({OWNER})


@pytest.fixture
def cog(harness: Harness) -> UserCommands:
    s = harness.services
    return UserCommands(
        settings=s.settings, quota=s.quota, jobs=s.jobs, is_owner=harness.bot.is_owner
    )


def answer(h: Harness) -> Sent:
    [*_, last] = h.world.followups()
    assert last.ephemeral and last.embed is not None
    return last


async def test_commands_work_in_servers_dms_and_user_installs(cog: UserCommands) -> None:
    bot = commands.Bot(command_prefix="!", intents=discord.Intents.none())
    await bot.add_cog(cog)
    for name in ("quota", "jobs", "help"):
        command = bot.tree.get_command(name)
        assert command is not None and command.description
        payload = command.to_dict(bot.tree)  # type: ignore[union-attr]
        assert sorted(payload["contexts"]) == [0, 1, 2]
        assert sorted(payload["integration_types"]) == [0, 1]


async def test_quota_shows_what_is_left_and_when_it_frees(
    harness: Harness, cog: UserCommands
) -> None:
    h = harness
    await add_job(h, cost_seconds=5.0)
    interaction = h.interaction(USER)
    await cog.quota.callback(cog, interaction)  # type: ignore[arg-type]

    assert h.world.calls[0] == "defer"
    text = answer(h).text
    assert "For this server" in text
    assert "Last 24 h: **55 s left** (5 s of 60 s)" in text
    assert "Last 30 days: **595 s left** (5 s of 600 s)" in text
    assert "In progress: 1 of 3 jobs" in text
    assert "Usage starts freeing up <t:" in text
    assert all(len(line) <= 80 for line in text.splitlines())  # readable on a phone


async def test_quota_in_a_dm_is_the_personal_budget(harness: Harness, cog: UserCommands) -> None:
    h = harness
    await add_job(h, cost_seconds=5.0)  # spent in the server, not in DMs
    dm = h.interaction(USER, guild_id=None, channel_id=h.world.dm_channel_id(USER))
    await cog.quota.callback(cog, dm)  # type: ignore[arg-type]
    text = answer(h).text
    assert "your DMs and personal use" in text and "**60 s left**" in text


async def test_quota_for_the_owner_says_no_limits(harness: Harness, cog: UserCommands) -> None:
    h = harness
    await cog.quota.callback(cog, h.interaction(OWNER))  # type: ignore[arg-type]
    assert "No limits apply to you" in answer(h).text


async def test_jobs_lists_recent_jobs_with_state_and_results(
    harness: Harness, cog: UserCommands
) -> None:
    h = harness
    done = await add_job(h, mode="pro")
    await move_job(h, done, JobState.SUCCEEDED, result_message_id=555, delivery="file")
    failed = await add_job(h)
    await move_job(h, failed, JobState.FAILED, failure_reason="No person detected in the video.")
    running = await add_job(h)

    await cog.jobs.callback(cog, h.interaction(USER))  # type: ignore[arg-type]

    text = answer(h).text
    assert text.index(f"#{running.id}") < text.index(f"#{failed.id}") < text.index(f"#{done.id}")
    assert f"✅ **#{done.id}** succeeded · pro · <t:" in text
    assert f"https://discord.com/channels/{GUILD}/{CHANNEL}/555" in text
    assert "❌" in text and "No person detected in the video." in text
    assert f"⏳ **#{running.id}** queued" in text and "In progress." in text


async def test_jobs_when_there_are_none(harness: Harness, cog: UserCommands) -> None:
    h = harness
    await cog.jobs.callback(cog, h.interaction(USER))  # type: ignore[arg-type]
    assert "No jobs yet" in answer(h).text


async def test_help_answers_at_once_with_the_limits(harness: Harness, cog: UserCommands) -> None:
    h = harness
    interaction = h.interaction(USER, command="help")
    await cog.help.callback(cog, interaction)  # type: ignore[arg-type]
    assert h.world.calls == ["response"]
    [sent] = h.world.followups()
    assert sent.ephemeral and sent.embed is not None
    text = sent.text
    for fragment in ("10 MB", "100 MB", "300 px", "340 to 3850 px", "up to 10 s", "up to 30 s"):
        assert fragment in text
    assert "costs ×2" in text
