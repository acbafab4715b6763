"""`/animate-admin`, invoked the way the command tree would call each callback: refusals for
non-admins even when a command is invoked directly, and each command's effect and reply."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import discord
import pytest

from cogs.admin import AdminCog
from db.audit import AuditRepository
from db.connection import Database
from db.jobs import JobsRepository
from domain import JobState
from services.quota import Blocked, ChannelNotAllowed, Paused, Requester
from settings import Settings
from tests.control_helpers import (
    ADMIN,
    CHANNEL,
    GUILD,
    NOW,
    OTHER_CHANNEL,
    OWNER,
    ROLE,
    TARGET,
    assert_hidden_guild_group,
    cog_services,
    control_rows,
    interaction_for,
    reply_of,
    reply_to_every_command,
    role,
    run_command,
)
from tests.fakes.discord_fakes import FakeDiscord
from tests.helpers import new_job, walk_to

MEMBER = 901


@pytest.fixture
def admin_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(owner_ids=frozenset({OWNER}))


@pytest.fixture
def world() -> FakeDiscord:
    return FakeDiscord()


@pytest.fixture
def services(db: Database, admin_settings: Settings) -> SimpleNamespace:
    return cog_services(db, admin_settings)


@pytest.fixture
def cog(world: FakeDiscord, services: SimpleNamespace) -> AdminCog:
    return AdminCog(world.bot(services))


def invoke(
    world: FakeDiscord, cog: AdminCog, user_id: int = ADMIN, *, manage_guild: bool = True, **kw: Any
) -> Any:
    return interaction_for(world, cog, user_id, manage_guild=manage_guild, **kw)


# --- who may ------------------------------------------------------------------------------------
async def test_every_command_refuses_a_member_without_manage_server(world, cog, db) -> None:  # type: ignore[no-untyped-def]
    replies = await reply_to_every_command(world, cog, MEMBER, manage_guild=False)
    assert len(replies) == 19
    for name, reply in replies.items():
        assert "Manage Server" in reply.text, name
        assert reply.embed is not None and reply.embed.colour == discord.Colour.red()
    assert "defer" not in world.calls
    assert len(world.followups()) == len(replies)
    assert await control_rows(db) == 0


async def test_refused_outside_a_server(world, cog, db) -> None:  # type: ignore[no-untyped-def]
    interaction = invoke(world, cog, guild_id=None)
    await run_command(cog, "pause", interaction)
    assert "works in a server only" in reply_of(world).text
    assert await control_rows(db) == 0


async def test_bot_owner_without_manage_server_may(world, cog, db) -> None:  # type: ignore[no-untyped-def]
    await run_command(cog, "pause", invoke(world, cog, OWNER, manage_guild=False))
    assert "Server pause updated" in reply_of(world).text


async def test_application_team_owner_may(world, db, make_settings) -> None:  # type: ignore[no-untyped-def]
    services = cog_services(db, make_settings())  # no OWNER_IDS: ask Discord
    cog = AdminCog(world.bot(services, owner_ids=[OWNER]))
    await run_command(cog, "pause", invoke(world, cog, OWNER, manage_guild=False))
    assert "Server pause updated" in reply_of(world).text
    await run_command(cog, "resume", invoke(world, cog, MEMBER, manage_guild=False))
    assert "Manage Server" in reply_of(world).text


def test_group_is_hidden_from_members_and_guild_only(cog) -> None:  # type: ignore[no-untyped-def]
    assert_hidden_guild_group(cog, "animate-admin", discord.Permissions(manage_guild=True))


# --- what they do -------------------------------------------------------------------------------
async def test_limits_set_and_reset(world, cog, services) -> None:  # type: ignore[no-untyped-def]
    await run_command(cog, "limits", invoke(world, cog), daily=30, monthly=None, active=1)
    reply = reply_of(world)
    assert reply.embed is not None
    fields = {f.name: f.value for f in reply.embed.fields}
    assert fields == {"Before": "bot defaults", "Now": "daily 30 s · 30-day default · at once 1"}
    await run_command(cog, "limits", invoke(world, cog), reset=True)
    assert "bot defaults" in reply_of(world).text
    [latest, first] = await services.controls.audit_log(GUILD)
    assert (latest.actor_id, first.actor_id) == (ADMIN, ADMIN)


async def test_limits_without_values_is_a_friendly_refusal(world, cog) -> None:  # type: ignore[no-untyped-def]
    await run_command(cog, "limits", invoke(world, cog))
    assert "Give at least one value" in reply_of(world).text


async def test_role_tier_set_and_remove(world, cog, services) -> None:  # type: ignore[no-untyped-def]
    await run_command(cog, "role-tier set", invoke(world, cog), role(), 120, 900, 3)
    reply = reply_of(world)
    assert "Role tier updated" in reply.text and f"<@&{ROLE}>" in reply.text
    who = Requester(TARGET, GUILD, role_ids=frozenset({ROLE}))
    assert (await services.quota.usage(who)).limits.daily_seconds == 120
    await run_command(cog, "role-tier remove", invoke(world, cog), role())
    assert (await services.quota.usage(who)).limits.daily_seconds == 60
    await run_command(cog, "role-tier remove", invoke(world, cog), role())
    assert "has no tier" in reply_of(world).text


async def test_role_tier_for_everyone_points_to_limits(world, cog, db) -> None:  # type: ignore[no-untyped-def]
    await run_command(cog, "role-tier set", invoke(world, cog), role(GUILD, default=True), 1, 1, 1)
    assert "/animate-admin limits" in reply_of(world).text
    assert await control_rows(db) == 0


async def test_user_limit_set_and_clear(world, cog, services) -> None:  # type: ignore[no-untyped-def]
    target = world.member(TARGET, GUILD)
    await run_command(cog, "user-limit set", invoke(world, cog), target, daily=7)
    assert "Personal limits updated" in reply_of(world).text
    usage = await services.quota.usage(Requester(TARGET, GUILD))
    assert usage.limits.daily_seconds == 7
    await run_command(cog, "user-limit clear", invoke(world, cog), target)
    assert (await services.quota.usage(Requester(TARGET, GUILD))).limits.daily_seconds == 60


async def test_block_refuses_the_member_until_unblocked(world, cog, services) -> None:  # type: ignore[no-untyped-def]
    target = world.member(TARGET, GUILD)
    await run_command(cog, "block", invoke(world, cog), target, "spam")
    assert "blocked (spam)" in reply_of(world).text
    with pytest.raises(Blocked, match="spam"):
        await services.quota.enqueue(new_job(created_at=NOW), Requester(TARGET, GUILD, CHANNEL))
    await run_command(cog, "unblock", invoke(world, cog), target)
    assert "not blocked" in reply_of(world).text
    await services.quota.enqueue(new_job(created_at=NOW), Requester(TARGET, GUILD, CHANNEL))


async def test_bots_and_owners_cannot_be_blocked(world, cog, db) -> None:  # type: ignore[no-untyped-def]
    bot_user = world.member(77, GUILD)
    bot_user.bot = True
    await run_command(cog, "block", invoke(world, cog), bot_user)
    assert "Bots" in reply_of(world).text
    await run_command(cog, "block", invoke(world, cog), world.member(OWNER, GUILD))
    assert "owners" in reply_of(world).text
    assert await control_rows(db) == 0


async def test_channels_allow_list_disallow(world, cog, services) -> None:  # type: ignore[no-untyped-def]
    await run_command(cog, "channel allow", invoke(world, cog), world.channel(CHANNEL))
    assert f"<#{CHANNEL}>" in reply_of(world).text
    with pytest.raises(ChannelNotAllowed):
        await services.quota.enqueue(new_job(created_at=NOW), Requester(1, GUILD, OTHER_CHANNEL))
    await run_command(cog, "channel list", invoke(world, cog))
    assert reply_of(world).embed.description == f"<#{CHANNEL}>"
    await run_command(cog, "channel disallow", invoke(world, cog), world.channel(CHANNEL))
    assert "every channel" in reply_of(world).text
    await run_command(cog, "channel disallow", invoke(world, cog), world.channel(CHANNEL))
    assert "not on the list" in reply_of(world).text


async def test_pause_and_resume(world, cog, services) -> None:  # type: ignore[no-untyped-def]
    await run_command(cog, "pause", invoke(world, cog))
    with pytest.raises(Paused):
        await services.quota.enqueue(new_job(created_at=NOW), Requester(1, GUILD, CHANNEL))
    await run_command(cog, "pause", invoke(world, cog))
    assert "no change" in reply_of(world).text
    await run_command(cog, "resume", invoke(world, cog))
    await services.quota.enqueue(new_job(created_at=NOW), Requester(1, GUILD, CHANNEL))


async def test_reset_usage(world, cog, services) -> None:  # type: ignore[no-untyped-def]
    await services.quota.enqueue(
        new_job(user_id=TARGET, created_at=NOW - 60), Requester(TARGET, GUILD)
    )
    await run_command(cog, "reset-usage", invoke(world, cog), world.member(TARGET, GUILD))
    assert "5 s today" in reply_of(world).text
    assert (await services.quota.usage(Requester(TARGET, GUILD))).used_today == 0


async def test_usage_shows_limits_from_roles_and_recent_jobs(world, cog, services) -> None:  # type: ignore[no-untyped-def]
    await services.controls.set_role_tier(GUILD, ADMIN, ROLE, daily=90, monthly=900, max_active=2)
    job_id = await services.quota.enqueue(
        new_job(user_id=TARGET, created_at=NOW - 60), Requester(TARGET, GUILD)
    )
    member = world.member(TARGET, GUILD, role_ids=(ROLE,))
    await run_command(cog, "usage", invoke(world, cog), member)
    text = reply_of(world).text
    assert "Daily: 5 s of 90 s" in text and "From: role" in text
    assert f"#{job_id} · queued · 5 s" in text


async def test_settings_overview(world, cog, services) -> None:  # type: ignore[no-untyped-def]
    await services.controls.set_server_limits(GUILD, ADMIN, daily=30)
    await services.controls.set_role_tier(GUILD, ADMIN, ROLE, daily=90, monthly=900, max_active=2)
    await run_command(cog, "settings", invoke(world, cog))
    text = reply_of(world).text
    assert "Daily: 30 s" in text and "30-day: 600 s (bot default)" in text
    assert f"<@&{ROLE}>: daily 90 s" in text and "Every channel" in text


async def test_stats_with_chart(world, cog, db) -> None:  # type: ignore[no-untyped-def]
    jobs = JobsRepository(db)
    job_id = await jobs.insert(new_job(created_at=NOW - 600))
    await walk_to(jobs, job_id, JobState.SUCCEEDED, NOW, charged_seconds=5.0)
    await run_command(cog, "stats", invoke(world, cog))
    assert world.calls[0] == "defer"
    reply = reply_of(world)
    assert reply.file_name == "stats.png" and reply.file_size
    assert reply.embed is not None and reply.embed.image.url == "attachment://stats.png"
    assert "24 h: 5 s" in reply.text and "Median request → clip" in reply.text


async def test_stats_without_data_has_no_chart(world, cog) -> None:  # type: ignore[no-untyped-def]
    await run_command(cog, "stats", invoke(world, cog))
    reply = reply_of(world)
    assert reply.file_name is None and "None yet." in reply.text


async def test_audit_shows_latest_changes(world, cog, db) -> None:  # type: ignore[no-untyped-def]
    await run_command(cog, "audit", invoke(world, cog))
    assert "No changes recorded yet." in reply_of(world).text
    await run_command(cog, "pause", invoke(world, cog))
    await run_command(cog, "block", invoke(world, cog), world.member(TARGET, GUILD), None)
    await run_command(cog, "audit", invoke(world, cog), count=5)
    text = reply_of(world).text
    assert text.index("**Block**") < text.index("**Server pause**")  # newest first
    assert f"<@{ADMIN}>" in text and "running → paused" in text
    assert len(await AuditRepository(db).latest(GUILD)) == 2
