"""`/animate-owner`: only owners may, even a server administrator is refused; each command's
effect on the bot-wide switches, the DM scope, the provider figures and command publishing."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any
from unittest.mock import AsyncMock, Mock

import discord
import pytest
from discord import app_commands

from cogs.alerts import AlertDispatcher
from cogs.owner import OwnerCog
from db.connection import Database
from db.policy import PolicyRepository
from services.alerts import AlertService, AlertTarget
from services.modelslab import ModelsLabClient, OperatorError, WalletBalance
from services.quota import (
    STATE_GLOBAL_PAUSED,
    Blocked,
    Paused,
    Requester,
    global_cap,
)
from settings import Settings
from tests.control_helpers import (
    ADMIN,
    GUILD,
    NOW,
    OWNER,
    TARGET,
    assert_hidden_guild_group,
    cog_services,
    control_rows,
    interaction_for,
    reply_of,
    reply_to_every_command,
    run_command,
)
from tests.fakes.discord_fakes import FakeDiscord, http_error
from tests.helpers import new_job

ALERT_CHANNEL = 300


@pytest.fixture
def owner_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(owner_ids=frozenset({OWNER}), global_daily_seconds_cap=600)


@pytest.fixture
def world() -> FakeDiscord:
    return FakeDiscord()


@pytest.fixture
def services(db: Database, owner_settings: Settings) -> SimpleNamespace:
    services = cog_services(db, owner_settings)
    client = Mock(spec=ModelsLabClient)
    client.wallet_balance = AsyncMock(return_value=WalletBalance(balance=43.6, currency="USD"))
    client.processing_count = AsyncMock(return_value=2)
    services.client = client
    return services


@pytest.fixture
def cog(world: FakeDiscord, services: SimpleNamespace) -> OwnerCog:
    bot = world.bot(services)
    bot.tree = Mock(spec=app_commands.CommandTree)
    bot.tree.sync = AsyncMock(return_value=[object(), object(), object()])
    bot.get_channel = Mock(side_effect=world.channel)
    # Alerts go out through the Discord dispatcher on this bot, as bot.py wires them.
    sender = AlertDispatcher(bot, owner_ids=services.settings.owner_ids)
    services.alerts = AlertService(services.db, services.settings, sender=sender)
    return OwnerCog(bot)


def invoke(world: FakeDiscord, cog: OwnerCog, user_id: int = OWNER, **kw: Any) -> Any:
    return interaction_for(world, cog, user_id, **kw)


# --- who may ------------------------------------------------------------------------------------
async def test_every_command_refuses_non_owners_even_server_admins(
    world, cog, db, services
) -> None:  # type: ignore[no-untyped-def]
    replies = await reply_to_every_command(world, cog, ADMIN, manage_guild=True)
    assert len(replies) == 20
    for name, reply in replies.items():
        assert "Only the bot's owners" in reply.text, name
    assert "defer" not in world.calls
    assert await control_rows(db, "bot_state") == 0
    services.runner.resume_provider.assert_not_called()
    cog.bot.tree.sync.assert_not_awaited()
    services.client.wallet_balance.assert_not_awaited()


async def test_team_owner_from_the_application(world, db, make_settings) -> None:  # type: ignore[no-untyped-def]
    services = cog_services(db, make_settings())  # no OWNER_IDS
    cog = OwnerCog(world.bot(services, owner_ids=[OWNER]))
    await run_command(cog, "pause", invoke(world, cog))
    assert "Global pause updated" in reply_of(world).text


def test_group_is_hidden_from_non_administrators(cog) -> None:  # type: ignore[no-untyped-def]
    assert_hidden_guild_group(cog, "animate-owner", discord.Permissions(administrator=True))


# --- switches -----------------------------------------------------------------------------------
async def test_pause_and_resume(world, cog, db, services) -> None:  # type: ignore[no-untyped-def]
    await run_command(cog, "pause", invoke(world, cog))
    assert await PolicyRepository(db).get_state(STATE_GLOBAL_PAUSED) == "1"
    with pytest.raises(Paused, match="operator"):
        await services.quota.enqueue(new_job(created_at=NOW), Requester(TARGET, GUILD))
    services.runner.paused_reason = "no_credits"
    await run_command(cog, "resume", invoke(world, cog))
    assert await PolicyRepository(db).get_state(STATE_GLOBAL_PAUSED) is None
    services.runner.resume_provider.assert_called_once_with()
    text = reply_of(world).text
    assert "paused" in text and "running" in text and "out of credits" in text


async def test_resume_after_a_provider_pause_alone(world, cog, services) -> None:  # type: ignore[no-untyped-def]
    await run_command(cog, "resume", invoke(world, cog))
    services.runner.resume_provider.assert_called_once_with()
    assert "no change" in reply_of(world).text


async def test_cap_set_off_default(world, cog, db, owner_settings) -> None:  # type: ignore[no-untyped-def]
    await run_command(cog, "cap set", invoke(world, cog), 120)
    assert await global_cap(db, owner_settings) == 120
    assert "120 s per 24 h" in reply_of(world).text
    await run_command(cog, "cap off", invoke(world, cog))
    assert await global_cap(db, owner_settings) is None
    await run_command(cog, "cap default", invoke(world, cog))
    assert await global_cap(db, owner_settings) == 600
    assert "(configuration)" in reply_of(world).text


async def test_status(world, cog, services) -> None:  # type: ignore[no-untyped-def]
    await services.quota.enqueue(new_job(created_at=NOW, cost_seconds=60.0), Requester(1, GUILD))
    await run_command(cog, "status", invoke(world, cog))
    text = reply_of(world).text
    assert "running" in text and "no trouble" in text
    assert "600 s per 24 h (configuration)" in text and "60 s in the last 24 h (10%)" in text
    assert "owners' DMs" in text


# --- provider -----------------------------------------------------------------------------------
async def test_balance_and_queue(world, cog, services) -> None:  # type: ignore[no-untyped-def]
    await services.quota.enqueue(new_job(created_at=NOW), Requester(1, GUILD))
    await run_command(cog, "balance", invoke(world, cog))
    assert world.calls[0] == "defer"
    text = reply_of(world).text
    assert "43.60 USD" in text and "Running at ModelsLab\n2" in text
    assert "1 queued" in text and "Oldest waiting since" in text


async def test_balance_when_modelslab_refuses(world, cog, services) -> None:  # type: ignore[no-untyped-def]
    services.client.wallet_balance.side_effect = OperatorError(
        "ModelsLab rejected the API key", reason="invalid_key"
    )
    services.runner.paused_reason = "invalid_key"
    await run_command(cog, "balance", invoke(world, cog))
    text = reply_of(world).text
    assert "unavailable: ModelsLab rejected the API key" in text
    assert "Bot queue\nEmpty." in text and "held back" in text


# --- alerts -------------------------------------------------------------------------------------
async def test_alert_targets(world, cog, services) -> None:  # type: ignore[no-untyped-def]
    await run_command(cog, "alerts channel", invoke(world, cog), world.channel(ALERT_CHANNEL))
    assert await services.alerts.get_target() == AlertTarget("channel", ALERT_CHANNEL)
    await run_command(cog, "alerts dm", invoke(world, cog))
    assert await services.alerts.get_target() == AlertTarget("dm", OWNER)
    await run_command(cog, "alerts dm", invoke(world, cog), world.user(7))
    assert await services.alerts.get_target() == AlertTarget("dm", 7)
    await run_command(cog, "alerts owners", invoke(world, cog))
    assert await services.alerts.get_target() is None


async def test_alert_test_reaches_the_channel(world, cog, services) -> None:  # type: ignore[no-untyped-def]
    await services.alerts.set_target(AlertTarget("channel", ALERT_CHANNEL))
    await run_command(cog, "alerts test", invoke(world, cog))
    [alert] = world.sent_in(ALERT_CHANNEL)
    assert "Test alert requested by" in alert.text
    assert "Test alert sent" in reply_of(world).text


# --- the DM scope -------------------------------------------------------------------------------
async def test_dm_scope_commands(world, cog, db, services) -> None:  # type: ignore[no-untyped-def]
    user = world.user(TARGET)
    await run_command(cog, "dm limits", invoke(world, cog), user, daily=7)
    row = await db.fetchone("SELECT guild_key, daily_seconds FROM user_limits")
    assert (row["guild_key"], row["daily_seconds"]) == (0, 7)
    await run_command(cog, "dm usage", invoke(world, cog), user)
    assert "Daily: 0 s of 7 s" in reply_of(world).text and "personal limit" in reply_of(world).text
    await run_command(cog, "dm block", invoke(world, cog), user, "abuse")
    with pytest.raises(Blocked):
        await services.quota.enqueue(
            new_job(guild_id=None, created_at=NOW), Requester(TARGET, None)
        )
    await services.quota.enqueue(new_job(created_at=NOW), Requester(TARGET, GUILD))  # servers: ok
    await run_command(cog, "dm unblock", invoke(world, cog), user)
    dm_job = new_job(guild_id=None, created_at=NOW - 60, cost_seconds=5.0)
    await services.quota.enqueue(dm_job, Requester(TARGET, None))
    await run_command(cog, "dm reset-usage", invoke(world, cog), user)
    assert "5 s today" in reply_of(world).text
    await run_command(cog, "dm clear-limits", invoke(world, cog), user)
    await run_command(cog, "audit", invoke(world, cog))
    text = reply_of(world).text
    for title in ("Personal limits", "Block", "Unblock", "Usage reset"):
        assert f"**{title}**" in text


# --- insight and upkeep -------------------------------------------------------------------------
async def test_global_stats(world, cog, services) -> None:  # type: ignore[no-untyped-def]
    await services.quota.enqueue(new_job(created_at=NOW), Requester(1, GUILD))
    await services.quota.enqueue(new_job(guild_id=None, created_at=NOW), Requester(1, None))
    await run_command(cog, "stats", invoke(world, cog))
    text = reply_of(world).text
    assert "all servers and DMs" in text and "2 queued" in text


async def test_sync(world, cog) -> None:  # type: ignore[no-untyped-def]
    await run_command(cog, "sync", invoke(world, cog))
    cog.bot.tree.sync.assert_awaited_once_with()
    assert "Published 3 commands" in reply_of(world).text
    cog.bot.tree.sync.side_effect = http_error(discord.HTTPException, 429, 30034)
    await run_command(cog, "sync", invoke(world, cog))
    assert "Discord refused the sync (429)" in reply_of(world).text
