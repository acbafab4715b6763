"""Operator alerts: each event is sent once (also across restarts), spending thresholds at 80 %
and 100 % of the cap, and the Discord dispatcher's target, fallbacks and error handling."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any
from unittest.mock import AsyncMock, MagicMock

import discord
import pytest
from discord.ext import commands

from cogs.alerts import AlertDispatcher, alert_text
from db.connection import Database
from services.alerts import AlertService, AlertTarget
from services.controls import ControlService
from services.quota import DAY, QuotaExceeded, QuotaService, Requester
from settings import Settings
from tests.clock import FakeClock
from tests.helpers import new_job

NOW = 100 * DAY
OWNER, OTHER_OWNER = 42, 43


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def alert_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(
        owner_ids=frozenset({OWNER}), global_daily_seconds_cap=100, quota_daily_seconds=1000
    )


@pytest.fixture
def alerts(db: Database, alert_settings: Settings, clock: FakeClock) -> AlertService:
    return AlertService(db, alert_settings, clock=clock)


async def spend(
    db: Database, settings: Settings, clock: FakeClock, seconds: float, user: int
) -> None:
    quota = QuotaService(db, settings, clock=clock)
    await quota.enqueue(
        new_job(user_id=user, created_at=clock(), cost_seconds=seconds), Requester(user, 10)
    )


async def test_first_time_is_true_once_and_survives_a_restart(db, alert_settings, alerts) -> None:  # type: ignore[no-untyped-def]
    assert await alerts.first_time("provider:invalid_key:1")
    assert not await alerts.first_time("provider:invalid_key:1")
    restarted = AlertService(db, alert_settings, clock=FakeClock(NOW))
    assert not await restarted.first_time("provider:invalid_key:1")
    assert await restarted.first_time("provider:invalid_key:2")


async def test_no_spending_alert_below_80_percent(db, alert_settings, alerts, clock) -> None:  # type: ignore[no-untyped-def]
    await spend(db, alert_settings, clock, 79, user=1)
    assert await alerts.spending_alerts() == []


async def test_80_then_100_percent_each_once(db, alert_settings, alerts, clock) -> None:  # type: ignore[no-untyped-def]
    await spend(db, alert_settings, clock, 80, user=1)
    [(key, alert)] = await alerts.spending_alerts()
    assert key.startswith("spend:80:cap100:")
    assert (alert.percent, alert.used, alert.cap) == (80, 80, 100)
    message = alert_text(alert)
    assert "80 %" in message and "80 s of 100 s" in message
    assert "Change it with /animate-owner cap set." in message
    # Until it is sent, the same alert is offered again; once sent, never.
    assert await alerts.spending_alerts() == [(key, alert)]
    assert await alerts.first_time(key)
    assert await alerts.spending_alerts() == []
    await spend(db, alert_settings, clock, 20, user=2)
    [(key100, alert100)] = await alerts.spending_alerts()
    message100 = alert_text(alert100)
    assert key100.startswith("spend:100:cap100:") and "reached the global daily cap" in message100
    assert await alerts.first_time(key100)
    assert await alerts.spending_alerts() == []


async def test_jump_past_100_percent_sends_only_that(db, alert_settings, alerts, clock) -> None:  # type: ignore[no-untyped-def]
    await spend(db, alert_settings, clock, 100, user=1)
    [(key, _)] = await alerts.spending_alerts()
    assert key.startswith("spend:100:")
    assert await alerts.first_time(key)
    assert await alerts.spending_alerts() == []  # the 80 % alert is covered, not sent late


async def test_a_new_cap_or_a_new_day_is_a_new_event(db, alert_settings, alerts, clock) -> None:  # type: ignore[no-untyped-def]
    clock.now = NOW + DAY / 2  # noon UTC
    await spend(db, alert_settings, clock, 85, user=1)
    [(key, _)] = await alerts.spending_alerts()
    await alerts.first_time(key)
    await ControlService(db, alert_settings, clock=clock).set_global_cap(OWNER, 90)
    [(new_cap_key, _)] = await alerts.spending_alerts()
    assert new_cap_key != key and "cap90" in new_cap_key
    await alerts.first_time(new_cap_key)
    clock.now = NOW + DAY + 1  # still in the 24 h window, but the next UTC day
    await spend(db, alert_settings, clock, 1, user=2)
    [(next_day_key, _)] = await alerts.spending_alerts()
    assert next_day_key not in (key, new_cap_key)


async def test_no_cap_means_no_spending_alerts(db, make_settings, clock) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(quota_daily_seconds=1000)
    alerts = AlertService(db, settings, clock=clock)
    await spend(db, settings, clock, 500, user=1)
    assert await alerts.spending_alerts() == []
    await ControlService(db, settings, clock=clock).set_global_cap(OWNER, 0)
    assert await alerts.spending_alerts() == []  # a zero cap is a stop, not spending


async def test_target_round_trip(alerts) -> None:  # type: ignore[no-untyped-def]
    assert await alerts.get_target() is None
    await alerts.set_target(AlertTarget("channel", 5))
    assert await alerts.get_target() == AlertTarget("channel", 5)
    assert AlertTarget.decode("garbage") is None and AlertTarget.decode("dm:x") is None
    with pytest.raises(ValueError):
        AlertTarget("email", 1)


# --- the Discord dispatcher ---------------------------------------------------------------------
def http_error(kind: type[discord.HTTPException], status: int, code: int) -> Any:
    response = MagicMock(status=status, reason="nope")
    return kind(response, {"code": code, "message": "nope"})


def make_user(user_id: int, fail: Exception | None = None) -> Any:
    user = MagicMock(spec=discord.User)
    user.id = user_id
    user.send = AsyncMock(side_effect=fail)
    return user


def make_bot(services: Any, users: dict[int, Any], channel: Any = None) -> Any:
    bot = MagicMock(spec=commands.Bot)
    bot.services = services
    bot.owner_id = None
    bot.owner_ids = set()
    bot.get_channel = MagicMock(return_value=channel)
    bot.fetch_channel = AsyncMock(side_effect=http_error(discord.NotFound, 404, 10003))
    bot.get_user = MagicMock(side_effect=users.get)
    bot.fetch_user = AsyncMock(side_effect=http_error(discord.NotFound, 404, 10013))
    return bot


def make_channel(fail: Exception | None = None) -> Any:
    channel = MagicMock(spec=discord.TextChannel)
    channel.send = AsyncMock(side_effect=fail)
    return channel


@pytest.fixture
def services(alerts, alert_settings) -> SimpleNamespace:  # type: ignore[no-untyped-def]
    return SimpleNamespace(alerts=alerts, settings=alert_settings)


@pytest.fixture
def wire(db: Database, alert_settings: Settings, clock: FakeClock) -> Callable[..., AlertService]:
    """The engine's alert service sending through the Discord dispatcher, as bot.py wires them."""

    def make(bot: Any, settings: Settings = alert_settings) -> AlertService:
        sender = AlertDispatcher(bot, owner_ids=settings.owner_ids)
        return AlertService(db, settings, sender=sender, clock=clock)

    return make


async def test_dispatcher_sends_each_key_once_to_the_channel(services, alerts, wire) -> None:  # type: ignore[no-untyped-def]
    channel = make_channel()
    owner = make_user(OWNER)
    bot = make_bot(services, {OWNER: owner}, channel)
    await alerts.set_target(AlertTarget("channel", 77))
    service = wire(bot)
    await service.raise_alert("provider:no_credits:1", "Out of credits.")
    await service.raise_alert("provider:no_credits:1", "Out of credits.")
    # A restarted bot with a new dispatcher does not repeat it either.
    await wire(bot).raise_alert("provider:no_credits:1", "Out of credits.")
    channel.send.assert_awaited_once()
    embed = channel.send.await_args.kwargs["embed"]
    assert embed.description == "Out of credits."
    bot.get_channel.assert_called_with(77)
    owner.send.assert_not_awaited()


async def test_forbidden_channel_falls_back_to_owner_dms(services, alerts, wire) -> None:  # type: ignore[no-untyped-def]
    channel = make_channel(fail=http_error(discord.Forbidden, 403, 50013))
    owner = make_user(OWNER)
    await alerts.set_target(AlertTarget("channel", 77))
    await wire(make_bot(services, {OWNER: owner}, channel)).raise_alert("k1", "Bad key.")
    owner.send.assert_awaited_once()


async def test_deleted_channel_falls_back_to_owner_dms(services, alerts, wire) -> None:  # type: ignore[no-untyped-def]
    owner = make_user(OWNER)
    await alerts.set_target(AlertTarget("channel", 77))
    bot = make_bot(services, {OWNER: owner}, channel=None)  # not cached, fetch says 10003
    await wire(bot).raise_alert("k2", "Bad key.")
    bot.fetch_channel.assert_awaited_once_with(77)
    owner.send.assert_awaited_once()


async def test_dm_target(services, alerts, wire) -> None:  # type: ignore[no-untyped-def]
    operator = make_user(7)
    owner = make_user(OWNER)
    await alerts.set_target(AlertTarget("dm", 7))
    await wire(make_bot(services, {7: operator, OWNER: owner})).raise_alert("k3", "Cap hit.")
    operator.send.assert_awaited_once()
    owner.send.assert_not_awaited()


async def test_nothing_works_logs_and_never_raises(services, caplog, wire) -> None:  # type: ignore[no-untyped-def]
    owner = make_user(OWNER, fail=http_error(discord.Forbidden, 403, 50007))
    with caplog.at_level(logging.ERROR, logger="services.alerts"):
        await wire(make_bot(services, {OWNER: owner})).raise_alert("k4", "Out of credits.")
    owner.send.assert_awaited_once()
    assert "reached nobody" in caplog.text and "Out of credits." in caplog.text


async def test_owners_from_the_application_team(db, make_settings, clock, wire) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings()  # no OWNER_IDS
    services = SimpleNamespace(alerts=AlertService(db, settings, clock=clock), settings=settings)
    first, second = make_user(1), make_user(2)
    bot = make_bot(services, {1: first, 2: second})
    app = MagicMock(spec=discord.AppInfo)
    app.team = SimpleNamespace(members=[SimpleNamespace(id=1), SimpleNamespace(id=2)])
    bot.application_info = AsyncMock(return_value=app)
    await wire(bot, settings).raise_alert("k5", "Bad key.")
    first.send.assert_awaited_once()
    second.send.assert_awaited_once()


async def test_spending_flow_sends_once_per_threshold(
    db, alert_settings, alerts, clock, services, wire
) -> None:  # type: ignore[no-untyped-def]
    """What JobService's after_enqueue hook does after every enqueue, for 12 jobs."""
    owner = make_user(OWNER)
    service = wire(make_bot(services, {OWNER: owner}))
    for user in range(12):
        with contextlib.suppress(QuotaExceeded):  # the cap refuses the last ones
            await spend(db, alert_settings, clock, 10, user=user)
        await service.announce_spending()
    texts = [call.kwargs["embed"].description for call in owner.send.await_args_list]
    assert len(texts) == 2
    assert "80 %" in texts[0] and "reached the global daily cap" in texts[1]
