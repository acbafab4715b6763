"""ControlService: each change is validated, written and audited in one transaction; pause and
channel rules reach the enqueue transaction; the global cap and alert target are stored."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from db.audit import AuditRepository
from db.connection import Database
from db.policy import PolicyRepository
from services.alerts import AlertService, AlertTarget
from services.control_rules import ControlError, ControlRefusal
from services.controls import ControlService
from services.quota import (
    DAY,
    STATE_GLOBAL_CAP,
    STATE_GLOBAL_PAUSED,
    ChannelNotAllowed,
    Paused,
    PausedBy,
    QuotaExceeded,
    QuotaLimit,
    QuotaService,
    Requester,
    global_cap,
)
from settings import Settings
from tests.clock import FakeClock
from tests.helpers import new_job

NOW = 100 * DAY
GUILD, OTHER_GUILD = 10, 11
ADMIN, OWNER, USER = 900, 42, 1
CHANNEL, OTHER_CHANNEL = 100, 200


@pytest.fixture
def ctl_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(owner_ids=frozenset({OWNER}), global_daily_seconds_cap=500)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def controls(db: Database, ctl_settings: Settings, clock: FakeClock) -> ControlService:
    return ControlService(db, ctl_settings, clock=clock)


@pytest.fixture
def quota(db: Database, ctl_settings: Settings, clock: FakeClock) -> QuotaService:
    return QuotaService(db, ctl_settings, clock=clock)


async def test_change_is_audited_with_who_what_old_new_when(db, controls) -> None:  # type: ignore[no-untyped-def]
    change = await controls.set_server_limits(GUILD, ADMIN, daily=30, max_active=1)
    assert change.changed
    assert change.old == "bot defaults"
    assert change.new == "daily 30 s · 30-day default · at once 1"
    [entry] = await AuditRepository(db).latest(GUILD)
    assert (entry.guild_id, entry.actor_id, entry.action, entry.target) == (
        GUILD,
        ADMIN,
        "server.limits",
        "server",
    )
    assert (entry.old_value, entry.new_value, entry.created_at) == (change.old, change.new, NOW)
    assert await AuditRepository(db).latest(OTHER_GUILD) == []


async def test_values_left_out_keep_their_setting(controls) -> None:  # type: ignore[no-untyped-def]
    await controls.set_server_limits(GUILD, ADMIN, daily=30, monthly=300, max_active=1)
    change = await controls.set_server_limits(GUILD, ADMIN, monthly=900)
    assert change.new == "daily 30 s · 30-day 900 s · at once 1"


async def test_no_op_is_not_audited(db, controls) -> None:  # type: ignore[no-untyped-def]
    await controls.set_server_paused(GUILD, ADMIN, True)
    again = await controls.set_server_paused(GUILD, ADMIN, True)
    assert not again.changed and again.new == "paused"
    assert len(await AuditRepository(db).latest(GUILD)) == 1


@pytest.mark.parametrize(
    ("kwargs", "reason", "limit", "maximum"),
    [
        ({"daily": -1}, ControlRefusal.NEGATIVE, QuotaLimit.DAILY, None),
        ({"monthly": 10_000_000}, ControlRefusal.TOO_LARGE, QuotaLimit.MONTHLY, 1_000_000),
        ({"max_active": 101}, ControlRefusal.TOO_LARGE, QuotaLimit.ACTIVE, 100),
        ({}, ControlRefusal.NOTHING_GIVEN, None, None),
    ],
)
async def test_invalid_limits_write_nothing(db, controls, kwargs, reason, limit, maximum) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ControlError) as info:
        await controls.set_server_limits(GUILD, ADMIN, **kwargs)
    refused = info.value
    assert (refused.reason, refused.limit, refused.maximum) == (reason, limit, maximum)
    assert await PolicyRepository(db).guild_settings(GUILD) is None
    assert await AuditRepository(db).latest(GUILD) == []


async def test_refused_change_inside_the_transaction_leaves_no_audit(db, controls) -> None:  # type: ignore[no-untyped-def]
    refusals = []
    for attempt, expected in (
        (lambda: controls.remove_role_tier(GUILD, ADMIN, 77), (ControlRefusal.NO_TIER, 77)),
        (lambda: controls.unblock_user(GUILD, ADMIN, USER), (ControlRefusal.NOT_BLOCKED, USER)),
        (
            lambda: controls.clear_user_limits(GUILD, ADMIN, USER),
            (ControlRefusal.NO_PERSONAL_LIMITS, USER),
        ),
        (
            lambda: controls.disallow_channel(GUILD, ADMIN, CHANNEL),
            (ControlRefusal.CHANNEL_NOT_LISTED, CHANNEL),
        ),
    ):
        with pytest.raises(ControlError) as info:
            await attempt()
        refusals.append(((info.value.reason, info.value.subject_id), expected))
    assert all(got == expected for got, expected in refusals), refusals
    assert await AuditRepository(db).latest(GUILD) == []


async def test_role_tier_old_and_new(controls) -> None:  # type: ignore[no-untyped-def]
    first = await controls.set_role_tier(GUILD, ADMIN, 5, daily=10, monthly=100, max_active=1)
    assert (first.old, first.target) == ("no tier", "role:5")
    second = await controls.set_role_tier(GUILD, ADMIN, 5, daily=20, monthly=100, max_active=1)
    assert second.old == first.new and "daily 20 s" in (second.new or "")
    removed = await controls.remove_role_tier(GUILD, ADMIN, 5)
    assert removed.new == "no tier"


async def test_block_keeps_override_and_reason_is_checked(db, controls, ctl_settings) -> None:  # type: ignore[no-untyped-def]
    await controls.set_user_limits(GUILD, ADMIN, USER, daily=99)
    change = await controls.block_user(GUILD, ADMIN, USER, "  spam  ")
    assert (change.old, change.new) == ("not blocked", "blocked (spam)")
    override = await PolicyRepository(db).user_override(GUILD, USER)
    assert override is not None and override.daily_seconds == 99 and override.blocked
    with pytest.raises(ControlError) as too_long:
        await controls.block_user(GUILD, ADMIN, USER, "x" * 201)
    assert (too_long.value.reason, too_long.value.maximum) == (ControlRefusal.REASON_TOO_LONG, 200)
    with pytest.raises(ControlError) as owner:
        await controls.block_user(GUILD, ADMIN, OWNER)
    assert owner.value.reason is ControlRefusal.OWNER_EXEMPT
    unblocked = await controls.unblock_user(GUILD, ADMIN, USER)
    assert unblocked.new == "not blocked"
    actions = [e.action for e in await AuditRepository(db).latest(GUILD)]
    assert actions == ["user.unblock", "user.block", "user.limits"]


async def test_server_pause_refuses_new_jobs_then_resume(controls, quota) -> None:  # type: ignore[no-untyped-def]
    await controls.set_server_paused(GUILD, ADMIN, True)
    with pytest.raises(Paused) as info:
        await quota.enqueue(new_job(created_at=NOW), Requester(USER, GUILD, CHANNEL))
    assert info.value.by is PausedBy.SERVER
    # Other servers and DMs carry on.
    await quota.enqueue(new_job(guild_id=OTHER_GUILD, created_at=NOW), Requester(USER, OTHER_GUILD))
    await controls.set_server_paused(GUILD, ADMIN, False)
    await quota.enqueue(new_job(created_at=NOW), Requester(USER, GUILD, CHANNEL))


async def test_channel_restrictions(controls, quota) -> None:  # type: ignore[no-untyped-def]
    elsewhere = Requester(USER, GUILD, OTHER_CHANNEL)
    await quota.enqueue(new_job(created_at=NOW, cost_seconds=1.0), elsewhere)  # none set: anywhere
    change = await controls.allow_channel(GUILD, ADMIN, CHANNEL)
    assert (change.old, change.new) == ("every channel", f"channel:{CHANNEL}")
    with pytest.raises(ChannelNotAllowed) as info:
        await quota.enqueue(new_job(created_at=NOW, cost_seconds=1.0), elsewhere)
    assert info.value.channel_ids == [CHANNEL]
    await quota.enqueue(new_job(created_at=NOW, cost_seconds=1.0), Requester(USER, GUILD, CHANNEL))
    removed = await controls.disallow_channel(GUILD, ADMIN, CHANNEL)
    assert removed.new == "every channel"
    await quota.enqueue(new_job(created_at=NOW, cost_seconds=1.0), elsewhere)


async def test_reset_usage_reports_what_was_forgiven(controls, quota, clock) -> None:  # type: ignore[no-untyped-def]
    who = Requester(USER, GUILD)
    await quota.enqueue(new_job(created_at=NOW - 10, cost_seconds=10.0), who)
    await quota.enqueue(new_job(created_at=NOW - 5, cost_seconds=50.0), who)
    with pytest.raises(QuotaExceeded):
        await quota.enqueue(new_job(created_at=NOW, cost_seconds=10.0), who)
    change = await controls.reset_usage(GUILD, ADMIN, USER)
    assert change.old == "60 s today · 60 s in 30 days"
    clock.now = NOW + 1
    await quota.enqueue(new_job(created_at=NOW + 1, cost_seconds=10.0), who)


async def test_global_pause_stops_everyone_but_owners(db, controls, quota) -> None:  # type: ignore[no-untyped-def]
    change = await controls.set_global_paused(OWNER, True)
    assert (change.old, change.new) == ("running", "paused")
    assert await PolicyRepository(db).get_state(STATE_GLOBAL_PAUSED) == "1"
    with pytest.raises(Paused) as info:
        await quota.enqueue(new_job(guild_id=None, created_at=NOW), Requester(USER, None))
    assert info.value.by is PausedBy.OPERATOR
    await quota.enqueue(new_job(created_at=NOW), Requester(OWNER, GUILD, is_owner=True))
    await controls.set_global_paused(OWNER, False)
    assert await PolicyRepository(db).get_state(STATE_GLOBAL_PAUSED) is None
    [entry, _] = await AuditRepository(db).latest(None)
    assert (entry.guild_id, entry.action, entry.new_value) == (None, "global.pause", "running")


async def test_global_cap_values(db, controls, ctl_settings) -> None:  # type: ignore[no-untyped-def]
    policy = PolicyRepository(db)
    assert await global_cap(db, ctl_settings) == 500  # from the configuration
    change = await controls.set_global_cap(OWNER, 120)
    assert (change.old, change.new) == ("500 s per 24 h (configuration)", "120 s per 24 h")
    assert await global_cap(db, ctl_settings) == 120
    await controls.set_global_cap(OWNER, "none")
    assert await policy.get_state(STATE_GLOBAL_CAP) == "none"
    assert await global_cap(db, ctl_settings) is None
    await controls.set_global_cap(OWNER, "0")
    assert await global_cap(db, ctl_settings) == 0  # a cap of zero refuses every job
    back = await controls.set_global_cap(OWNER, None)
    assert back.new == "500 s per 24 h (configuration)"
    assert await policy.get_state(STATE_GLOBAL_CAP) is None
    for bad, reason in (
        ("lots", ControlRefusal.CAP_NOT_A_NUMBER),
        ("-5", ControlRefusal.CAP_NOT_A_NUMBER),
        (-5, ControlRefusal.NEGATIVE),
    ):
        with pytest.raises(ControlError) as info:
            await controls.set_global_cap(OWNER, bad)
        assert info.value.reason is reason


async def test_operator_view(db, controls, quota) -> None:  # type: ignore[no-untyped-def]
    await quota.enqueue(new_job(created_at=NOW, cost_seconds=5.0), Requester(USER, GUILD))
    await controls.set_global_cap(OWNER, 50)
    await controls.set_alert_target(OWNER, AlertTarget("channel", 77))
    view = await controls.operator_view()
    assert (view.paused, view.cap, view.used_today) == (False, 50, 5.0)
    assert view.cap_text == "50 s per 24 h" and view.alert_target == AlertTarget("channel", 77)


async def test_alert_target_is_shared_with_the_alert_service(db, controls, ctl_settings) -> None:  # type: ignore[no-untyped-def]
    alerts = AlertService(db, ctl_settings, clock=FakeClock(NOW))
    change = await controls.set_alert_target(OWNER, AlertTarget("dm", OWNER))
    assert (change.old, change.new) == ("owners' DMs", f"dm:{OWNER}")
    assert await alerts.get_target() == AlertTarget("dm", OWNER)
    await controls.set_alert_target(OWNER, None)
    assert await alerts.get_target() is None


async def test_server_view_and_recent_jobs(db, controls, quota) -> None:  # type: ignore[no-untyped-def]
    await controls.set_server_limits(GUILD, ADMIN, daily=30)
    await controls.set_role_tier(GUILD, ADMIN, 5, daily=10, monthly=100, max_active=1)
    await controls.allow_channel(GUILD, ADMIN, CHANNEL)
    view = await controls.server_view(GUILD)
    assert view.limits.daily_seconds == 30 and view.limits.monthly_seconds is None
    assert view.defaults.monthly_seconds == 600
    assert [t.role_id for t in view.tiers] == [5] and view.channels == [CHANNEL]
    await quota.enqueue(new_job(created_at=NOW), Requester(USER, GUILD, CHANNEL))
    await quota.enqueue(new_job(guild_id=None, created_at=NOW), Requester(USER, None))
    jobs = await controls.recent_jobs(USER, GUILD)
    assert [j.guild_id for j in jobs] == [GUILD]
    report = await controls.user_usage(Requester(USER, GUILD))
    assert report.used_today == 5.0 and report.limits.daily_seconds == 30


async def test_audit_log_is_newest_first_and_bounded(controls) -> None:  # type: ignore[no-untyped-def]
    for value in range(1, 31):
        await controls.set_server_limits(GUILD, ADMIN, daily=value)
    entries = await controls.audit_log(GUILD, 100)
    assert len(entries) == 25
    assert entries[0].new_value is not None and entries[0].new_value.startswith("daily 30 s")
