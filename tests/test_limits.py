"""Limit resolution, every precedence rule, set up through the admin service like an admin would:
owner exemption, block, user override, best role tier, server default, global default, then the
global cap on top; plus role changes, DMs and the cap under concurrent requests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from cogs.refusals import refusal_text
from db.connection import Database
from db.quotas import QuotaRepository
from services.controls import ControlService
from services.quota import (
    DAY,
    Blocked,
    QuotaExceeded,
    QuotaService,
    Requester,
    resolve_limits,
)
from settings import Settings
from tests.clock import FakeClock
from tests.helpers import new_job

NOW = 100 * DAY
GUILD = 10
ADMIN = 900
USER = 1
GOLD, SILVER = 501, 502


@pytest.fixture
def limits_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(quota_daily_seconds=60, quota_monthly_seconds=600, quota_max_active_jobs=2)


@pytest.fixture
def controls(db: Database, limits_settings: Settings) -> ControlService:
    return ControlService(db, limits_settings, clock=FakeClock(NOW))


async def limits_of(db: Database, settings: Settings, **who: Any) -> tuple[Any, ...]:
    requester = Requester(**{"user_id": USER, "guild_id": GUILD, **who})
    got = await resolve_limits(db, settings, requester)
    return got.daily_seconds, got.monthly_seconds, got.max_active_jobs, got.source


async def test_global_default_when_nothing_is_set(db, limits_settings) -> None:  # type: ignore[no-untyped-def]
    assert await limits_of(db, limits_settings) == (60, 600, 2, "the bot's default")


async def test_server_default_beats_global_default(db, limits_settings, controls) -> None:  # type: ignore[no-untyped-def]
    await controls.set_server_limits(GUILD, ADMIN, daily=30, monthly=300, max_active=1)
    assert await limits_of(db, limits_settings) == (30, 300, 1, "this server's default")
    # Another server is untouched.
    assert await limits_of(db, limits_settings, guild_id=11) == (60, 600, 2, "the bot's default")


async def test_partial_server_default_falls_through(db, limits_settings, controls) -> None:  # type: ignore[no-untyped-def]
    await controls.set_server_limits(GUILD, ADMIN, daily=30)
    assert (await limits_of(db, limits_settings))[:3] == (30, 600, 2)


async def test_role_tier_beats_server_default(db, limits_settings, controls) -> None:  # type: ignore[no-untyped-def]
    await controls.set_server_limits(GUILD, ADMIN, daily=30, monthly=300, max_active=1)
    await controls.set_role_tier(GUILD, ADMIN, GOLD, daily=120, monthly=900, max_active=3)
    with_role = await limits_of(db, limits_settings, role_ids=frozenset({GOLD}))
    assert with_role == (120, 900, 3, "your role")
    assert (await limits_of(db, limits_settings, role_ids=frozenset({999})))[0] == 30


async def test_most_generous_role_wins_per_value(db, limits_settings, controls) -> None:  # type: ignore[no-untyped-def]
    await controls.set_role_tier(GUILD, ADMIN, GOLD, daily=120, monthly=500, max_active=1)
    await controls.set_role_tier(GUILD, ADMIN, SILVER, daily=40, monthly=800, max_active=4)
    both = await limits_of(db, limits_settings, role_ids=frozenset({GOLD, SILVER}))
    assert both[:3] == (120, 800, 4)


async def test_a_role_tier_can_be_stricter_than_the_default(db, limits_settings, controls) -> None:  # type: ignore[no-untyped-def]
    """A tier replaces the server default rather than topping it up: admins can restrict a role."""
    await controls.set_role_tier(GUILD, ADMIN, SILVER, daily=5, monthly=50, max_active=1)
    assert (await limits_of(db, limits_settings, role_ids=frozenset({SILVER})))[:3] == (5, 50, 1)


async def test_user_override_beats_role_tier(db, limits_settings, controls) -> None:  # type: ignore[no-untyped-def]
    await controls.set_role_tier(GUILD, ADMIN, GOLD, daily=120, monthly=900, max_active=3)
    await controls.set_user_limits(GUILD, ADMIN, USER, daily=10)
    got = await limits_of(db, limits_settings, role_ids=frozenset({GOLD}))
    # The override sets only the daily value; the others still come from the role.
    assert got == (10, 900, 3, "your personal limit")


async def test_clearing_the_override_restores_the_role(db, limits_settings, controls) -> None:  # type: ignore[no-untyped-def]
    await controls.set_role_tier(GUILD, ADMIN, GOLD, daily=120, monthly=900, max_active=3)
    await controls.set_user_limits(GUILD, ADMIN, USER, daily=10, monthly=20, max_active=1)
    await controls.clear_user_limits(GUILD, ADMIN, USER)
    assert (await limits_of(db, limits_settings, role_ids=frozenset({GOLD})))[0] == 120


async def test_block_beats_override(db, limits_settings, controls) -> None:  # type: ignore[no-untyped-def]
    await controls.set_user_limits(GUILD, ADMIN, USER, daily=1000, monthly=1000, max_active=9)
    await controls.block_user(GUILD, ADMIN, USER, "spam")
    got = await resolve_limits(db, limits_settings, Requester(USER, GUILD))
    assert got.blocked and got.block_reason == "spam"
    # The block is per server: elsewhere the user is free.
    assert not (await resolve_limits(db, limits_settings, Requester(USER, 11))).blocked
    assert not (await resolve_limits(db, limits_settings, Requester(USER, None))).blocked


async def test_owner_exemption_beats_everything(db, make_settings) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(quota_daily_seconds=0)
    controls = ControlService(db, settings, clock=FakeClock(NOW))
    await controls.block_user(GUILD, ADMIN, USER)  # blocked as a member, but also an owner
    got = await resolve_limits(db, settings, Requester(USER, GUILD, is_owner=True))
    assert got.source == "owner" and got.exempt and not got.blocked


async def test_blocked_user_gets_a_clear_refusal(db, limits_settings, controls) -> None:  # type: ignore[no-untyped-def]
    quota = QuotaService(db, limits_settings, clock=FakeClock(NOW))
    await controls.block_user(GUILD, ADMIN, USER, "posting NSFW")
    with pytest.raises(Blocked) as info:
        await quota.enqueue(new_job(created_at=NOW), Requester(USER, GUILD))
    assert info.value.reason == "posting NSFW"
    assert "not allowed to use /animate here" in refusal_text(info.value)
    assert "posting NSFW" in refusal_text(info.value)
    await controls.unblock_user(GUILD, ADMIN, USER)
    await quota.enqueue(new_job(created_at=NOW), Requester(USER, GUILD))


async def test_global_cap_applies_on_top_of_generous_limits(db, make_settings) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(global_daily_seconds_cap=8)
    controls = ControlService(db, settings, clock=FakeClock(NOW))
    quota = QuotaService(db, settings, clock=FakeClock(NOW))
    await controls.set_user_limits(GUILD, ADMIN, USER, daily=1000, monthly=1000, max_active=9)
    await quota.enqueue(new_job(created_at=NOW, cost_seconds=5.0), Requester(USER, GUILD))
    with pytest.raises(QuotaExceeded) as info:
        await quota.enqueue(new_job(created_at=NOW, cost_seconds=5.0), Requester(USER, GUILD))
    assert info.value.limit == "global"


async def test_runtime_cap_overrides_the_configured_one(db, make_settings) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(global_daily_seconds_cap=100, quota_daily_seconds=100)
    controls = ControlService(db, settings, clock=FakeClock(NOW))
    quota = QuotaService(db, settings, clock=FakeClock(NOW))
    await controls.set_global_cap(ADMIN, 4)
    with pytest.raises(QuotaExceeded):
        await quota.enqueue(new_job(created_at=NOW, cost_seconds=5.0), Requester(USER, GUILD))
    await controls.set_global_cap(ADMIN, "none")
    await quota.enqueue(new_job(created_at=NOW, cost_seconds=5.0), Requester(USER, GUILD))


async def test_role_changes_take_effect_on_the_next_request(db, limits_settings, controls) -> None:  # type: ignore[no-untyped-def]
    quota = QuotaService(db, limits_settings, clock=FakeClock(NOW))
    await controls.set_server_limits(GUILD, ADMIN, daily=5)
    await controls.set_role_tier(GUILD, ADMIN, GOLD, daily=20, monthly=100, max_active=5)
    gold = Requester(USER, GUILD, role_ids=frozenset({GOLD}))
    plain = Requester(USER, GUILD)
    await quota.enqueue(new_job(created_at=NOW, cost_seconds=10.0), gold)
    # The member lost the role (Discord sends their current roles with each request).
    with pytest.raises(QuotaExceeded) as info:
        await quota.enqueue(new_job(created_at=NOW, cost_seconds=1.0), plain)
    assert info.value.allowed == 5
    # The admin makes the tier smaller: it applies at once to members holding it.
    await controls.set_role_tier(GUILD, ADMIN, GOLD, daily=10, monthly=100, max_active=5)
    with pytest.raises(QuotaExceeded):
        await quota.enqueue(new_job(created_at=NOW, cost_seconds=1.0), gold)
    await controls.set_role_tier(GUILD, ADMIN, GOLD, daily=30, monthly=100, max_active=5)
    await quota.enqueue(new_job(created_at=NOW, cost_seconds=1.0), gold)
    # Removing the tier drops members back to the server default.
    await controls.remove_role_tier(GUILD, ADMIN, GOLD)
    assert (await resolve_limits(db, limits_settings, gold)).daily_seconds == 5


async def test_dm_scope_uses_guild_key_zero(db, limits_settings, controls) -> None:  # type: ignore[no-untyped-def]
    quota = QuotaService(db, limits_settings, clock=FakeClock(NOW))
    await controls.set_server_limits(GUILD, ADMIN, daily=1000, monthly=1000, max_active=9)
    await controls.set_role_tier(GUILD, ADMIN, GOLD, daily=1000, monthly=1000, max_active=9)
    await controls.set_user_limits(None, ADMIN, USER, daily=7, monthly=70, max_active=1)
    row = await db.fetchone(
        "SELECT guild_key, daily_seconds FROM user_limits WHERE user_id = ?", (USER,)
    )
    assert (row["guild_key"], row["daily_seconds"]) == (0, 7)

    dm = Requester(USER, None, role_ids=frozenset({GOLD}))  # roles never apply in DMs
    got = await resolve_limits(db, limits_settings, dm)
    assert (got.daily_seconds, got.source) == (7, "your personal limit")
    await quota.enqueue(new_job(guild_id=None, created_at=NOW, cost_seconds=5.0), dm)
    with pytest.raises(QuotaExceeded) as info:
        await quota.enqueue(new_job(guild_id=None, created_at=NOW, cost_seconds=5.0), dm)
    assert info.value.limit in ("daily", "active")
    # The server budget is separate from the personal one.
    await quota.enqueue(new_job(created_at=NOW, cost_seconds=5.0), Requester(USER, GUILD))
    # Another user in DMs gets the bot's defaults.
    assert (await resolve_limits(db, limits_settings, Requester(2, None))).daily_seconds == 60


async def test_dm_block_and_reset(db, limits_settings, controls) -> None:  # type: ignore[no-untyped-def]
    quota = QuotaService(db, limits_settings, clock=FakeClock(NOW))
    dm = Requester(USER, None)
    await quota.enqueue(new_job(guild_id=None, created_at=NOW - 60, cost_seconds=50.0), dm)
    assert (await quota.usage(dm)).used_today == 50
    await controls.reset_usage(None, ADMIN, USER)
    assert (await quota.usage(dm)).used_today == 0
    await controls.block_user(None, ADMIN, USER)
    with pytest.raises(Blocked):
        await quota.enqueue(new_job(guild_id=None, created_at=NOW), dm)
    # A DM block does not block the user in servers.
    await quota.enqueue(new_job(created_at=NOW), Requester(USER, GUILD))


async def test_cap_holds_under_thirty_concurrent_users(db, make_settings) -> None:  # type: ignore[no-untyped-def]
    """30 different users request at once against a cap with room for 4 jobs: never more."""
    settings = make_settings(global_daily_seconds_cap=22, quota_daily_seconds=100)
    quota = QuotaService(db, settings, clock=FakeClock(NOW))

    async def attempt(user_id: int) -> bool:
        job = new_job(user_id=user_id, created_at=NOW, cost_seconds=5.0)
        try:
            await quota.enqueue(job, Requester(user_id, GUILD))
        except QuotaExceeded as exc:
            assert exc.limit == "global"
            return False
        return True

    results = await asyncio.gather(*(attempt(user_id) for user_id in range(100, 130)))
    reserved = await QuotaRepository(db).global_usage(NOW - DAY)
    assert sum(results) == 4
    assert reserved == 20.0 <= 22


async def test_cap_holds_with_runtime_cap_and_mixed_costs(db, make_settings) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(quota_daily_seconds=100)
    controls = ControlService(db, settings, clock=FakeClock(NOW))
    await controls.set_global_cap(ADMIN, 30)
    quota = QuotaService(db, settings, clock=FakeClock(NOW))

    async def attempt(user_id: int) -> None:
        job = new_job(user_id=user_id, created_at=NOW, cost_seconds=float(1 + user_id % 7))
        try:
            await quota.enqueue(job, Requester(user_id, GUILD))
        except QuotaExceeded:
            pass

    await asyncio.gather(*(attempt(user_id) for user_id in range(30)))
    assert await QuotaRepository(db).global_usage(NOW - DAY) <= 30
