"""Job buttons: which appear when, who may press them, and that they work after a restart."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any
from unittest.mock import Mock

import aiohttp
import discord
import pytest
from discord.ext import commands

from bot import compose_engine
from cogs.buttons import JobButton, job_view, run_job_action
from db.jobs import JobsRepository
from domain import Job, JobState
from settings import Settings
from tests.fakes.discord_fakes import (
    FakeCdn,
    FakeDiscord,
    Harness,
    add_job,
    build_harness,
    move_job,
)
from tests.stores import StoreFactory

OWNER, STRANGER, ADMIN, BOT_OWNER = 1, 2, 3, 999
GUILD, CHANNEL = 10, 100


@pytest.fixture
def bot_owner_ids() -> frozenset[int]:
    return frozenset({BOT_OWNER})


async def finish(h: Harness, job: Job, state: JobState = JobState.FAILED) -> Job:
    return await move_job(h, job, state, failure_reason="boom")


def reply(h: Harness) -> str:
    [*_, last] = h.world.followups()
    assert last.ephemeral
    return last.content or ""


# --------------------------------------------------------------------------------------------------
# Which buttons


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (JobState.QUEUED, ["job:cancel:7"]),
        (JobState.SUBMITTING, ["job:cancel:7"]),
        (JobState.PROCESSING, ["job:cancel:7"]),
        (JobState.DELIVERING, None),
        (JobState.SUCCEEDED, ["job:retry:7", "job:other:7"]),
        (JobState.FAILED, ["job:retry:7", "job:other:7"]),
        (JobState.CANCELLED, ["job:retry:7", "job:other:7"]),
    ],
)
async def test_buttons_follow_the_job_state(
    harness: Harness, state: JobState, expected: list[str] | None
) -> None:
    job = await add_job(harness)
    view = job_view(replace(job, id=7, state=state, mode="std"))
    if expected is None:
        assert view is None
        return
    assert view is not None and view.timeout is None
    assert [c.custom_id for c in view.children] == expected  # type: ignore[attr-defined]
    labels = [c.item.label for c in view.children]  # type: ignore[attr-defined]
    if "job:other:7" in expected:
        assert labels[-1] == "Run again as pro"


def test_custom_ids_fit_discord_and_match_the_template() -> None:
    button = JobButton("retry", 2**63 - 1)
    assert len(button.custom_id) <= 100
    assert button.template.fullmatch(button.custom_id)


# --------------------------------------------------------------------------------------------------
# Who may press


async def test_owner_cancels_and_the_status_message_says_so(harness: Harness) -> None:
    h = harness
    job = await add_job(h)
    await h.notifier.job_queued(job, 1)
    interaction = h.interaction(OWNER, command=None)
    earlier = len(h.world.calls)

    await run_job_action(interaction, "cancel", job.id)

    assert h.world.calls[earlier] == "defer"
    assert reply(h) == f"Cancelled job #{job.id}. Nothing was charged."
    cancelled = await h.services.jobs.get(job.id)
    assert cancelled is not None and cancelled.state is JobState.CANCELLED
    [edit] = h.world.edits
    assert edit.embed is not None and edit.embed.title == "🚫 Cancelled" and edit.custom_ids == []


async def test_someone_else_gets_a_private_refusal(harness: Harness) -> None:
    h = harness
    job = await add_job(h)
    await run_job_action(h.interaction(STRANGER, command=None), "cancel", job.id)
    assert reply(h) == f"Only the person who started job #{job.id} can cancel it."
    still = await h.services.jobs.get(job.id)
    assert still is not None and still.state is JobState.QUEUED


async def test_a_server_admin_may_cancel(harness: Harness) -> None:
    h = harness
    job = await add_job(h)
    await run_job_action(h.interaction(ADMIN, manage_guild=True, command=None), "cancel", job.id)
    assert reply(h).startswith("Cancelled")


async def test_an_admin_of_another_server_may_not(harness: Harness) -> None:
    h = harness
    job = await add_job(h)
    other = h.interaction(ADMIN, guild_id=99, manage_guild=True, command=None)
    await run_job_action(other, "cancel", job.id)
    assert reply(h).startswith("Only the person who started")


async def test_the_bot_owner_may_cancel(harness: Harness) -> None:
    h = harness
    job = await add_job(h)
    await run_job_action(h.interaction(BOT_OWNER, command=None), "cancel", job.id)
    assert reply(h).startswith("Cancelled")


async def test_cancelling_a_finished_job_is_refused(harness: Harness) -> None:
    h = harness
    job = await finish(h, await add_job(h), JobState.SUCCEEDED)
    await run_job_action(h.interaction(OWNER, command=None), "cancel", job.id)
    assert reply(h) == f"Job #{job.id} has already succeeded."


async def test_retry_queues_the_same_inputs_with_a_new_reservation(harness: Harness) -> None:
    h = harness
    job = await finish(h, await add_job(h, mode="std", cost_seconds=5.0))
    interaction = h.interaction(OWNER, command=None)

    await run_job_action(interaction, "retry", job.id)

    [again] = [j for j in await h.services.jobs.recent(OWNER) if j.id != job.id]
    assert again.retry_of == job.id and again.state is JobState.QUEUED
    assert (again.image_url, again.video_url, again.prompt) == (
        job.image_url,
        job.video_url,
        job.prompt,
    )
    assert again.mode == "std" and again.cost_seconds == 5.0
    assert reply(h).startswith(f"Job #{again.id} is queued")
    assert [s.custom_ids for s in h.world.sent_in(CHANNEL)] == [[f"job:cancel:{again.id}"]]


async def test_run_again_in_the_other_mode_flips_it(harness: Harness) -> None:
    h = harness
    job = await finish(h, await add_job(h, mode="std", video_seconds=4.2))
    await run_job_action(h.interaction(OWNER, command=None), "other", job.id)
    [again] = [j for j in await h.services.jobs.recent(OWNER) if j.id != job.id]
    assert again.mode == "pro" and again.cost_seconds == 10.0  # 5 s, pro costs double


async def test_retry_by_someone_else_is_refused(harness: Harness) -> None:
    h = harness
    job = await finish(h, await add_job(h))
    await run_job_action(h.interaction(STRANGER, command=None), "retry", job.id)
    assert "Only the person who started" in reply(h)
    assert len(await h.services.jobs.recent(STRANGER)) == 0


async def test_retry_over_quota_is_refused_with_the_limit(harness: Harness) -> None:
    h = harness
    job = await finish(h, await add_job(h, cost_seconds=50.0, video_seconds=9.5))
    await add_job(h, cost_seconds=55.0)  # uses most of the 60 s daily limit
    await run_job_action(h.interaction(OWNER, command=None), "other", job.id)
    assert "daily limit" in reply(h)


async def test_a_bug_in_a_button_gives_a_reference_code(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = harness

    async def broken(*_: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(h.services.jobs, "get", broken)
    await run_job_action(h.interaction(OWNER, command=None), "cancel", 1)
    assert "Something went wrong on my side" in reply(h) and "`" in reply(h)


# --------------------------------------------------------------------------------------------------
# After a restart


async def click(bot: commands.Bot, custom_id: str, interaction: Mock) -> None:
    """Route a button press the way discord.py does for dynamic items: find the registered
    template that matches, rebuild the item from the custom_id, check, call back. (Reads the
    client's view store, which is internal; the routing itself is discord.py's contract.)"""
    store = bot._connection._view_store
    for pattern, item_class in store._dynamic_items.items():
        match = pattern.fullmatch(custom_id)
        if match is None:
            continue
        base = discord.ui.Button(custom_id=custom_id)
        item = await item_class.from_custom_id(interaction, base, match)
        if await item.interaction_check(interaction):
            await item.callback(interaction)
        return
    raise AssertionError(f"no dynamic item is registered for {custom_id!r}")


async def test_buttons_work_after_a_restart(
    harness_settings: Callable[..., Settings],
    session: aiohttp.ClientSession,
    cdn: FakeCdn,
    stores: StoreFactory,
) -> None:
    button_settings = harness_settings()
    # Before: a job and its status message with a Cancel button.
    first_db = await stores.open()
    before = await build_harness(settings=button_settings, db=first_db, session=session, cdn=cdn)
    job = await add_job(before)
    posted = await before.notifier.job_queued(job, 1)
    assert posted is not None
    await JobsRepository(first_db).set_status_message(job.id, posted.message_id)
    [status] = before.world.sent_in(CHANNEL)
    [cancel_id] = status.custom_ids
    await first_db.close()

    # After: a new process. A real bot, fresh services on the same database file, extensions
    # loaded by their setup(); nothing carried over in memory.
    db = await stores.open()
    try:
        world = FakeDiscord()
        bot = commands.Bot(command_prefix="!", intents=discord.Intents.none())
        bot.get_partial_messageable = world.bot().get_partial_messageable  # type: ignore[method-assign]
        services, notifier = compose_engine(bot, button_settings, db, session)
        bot.services, bot.messages = services, notifier  # type: ignore[attr-defined]
        for extension in ("cogs.errors", "cogs.animate", "cogs.buttons", "cogs.user_commands"):
            await bot.load_extension(extension)
        assert {c.name for c in bot.tree.get_commands()} == {"animate", "quota", "jobs", "help"}

        stranger = world.interaction(
            user=world.member(STRANGER, GUILD), guild_id=GUILD, channel_id=CHANNEL, client=bot
        )
        await click(bot, cancel_id, stranger)
        assert world.followups()[-1].content == (
            f"Only the person who started job #{job.id} can cancel it."
        )

        owner = world.interaction(
            user=world.member(OWNER, GUILD), guild_id=GUILD, channel_id=CHANNEL, client=bot
        )
        await click(bot, cancel_id, owner)
        assert world.followups()[-1].content == f"Cancelled job #{job.id}. Nothing was charged."
        cancelled = await JobsRepository(db).get(job.id)
        assert cancelled is not None and cancelled.state is JobState.CANCELLED
        # The old status message (known only from the database) was edited in place.
        [edit] = world.edits_of(status.message_id)
        assert edit.embed is not None and edit.embed.title == "🚫 Cancelled"
    finally:
        await db.close()
