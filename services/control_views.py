"""What admins and owners look at: a server's settings, the bot-wide switches, a user's usage and
recent jobs, the audit log. Read-only; the changes are in services/controls.py."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from db.audit import AuditRepository
from db.connection import Database
from db.jobs import JobsRepository
from db.policy import GuildSettings, LimitRow, PolicyRepository, RoleTier
from db.quotas import QuotaRepository
from domain import AuditEntry, Job
from services.alerts import AlertTarget, read_target
from services.control_rules import MAX_AUDIT_ENTRIES, cap_text
from services.quota import (
    DAY,
    STATE_GLOBAL_CAP,
    STATE_GLOBAL_PAUSED,
    QuotaService,
    Requester,
    UsageReport,
    global_cap,
)
from settings import Settings


@dataclass(frozen=True)
class ServerView:
    """A server's settings as admins see them."""

    guild_id: int
    limits: LimitRow  # None fields: the bot's default applies
    defaults: LimitRow  # the bot's defaults from the configuration
    paused: bool
    tiers: list[RoleTier]
    channels: list[int]  # empty: everywhere


@dataclass(frozen=True)
class OperatorView:
    """The bot-wide switches as the operator sees them."""

    paused: bool
    cap: float | None
    cap_text: str
    used_today: float
    alert_target: AlertTarget | None


class ControlReads:
    """The read side of the admin and owner controls (ControlService adds the changes)."""

    def __init__(
        self, db: Database, settings: Settings, clock: Callable[[], float] = time.time
    ) -> None:
        self._db = db
        self._settings = settings
        self._clock = clock
        self._quota = QuotaService(db, settings, clock=clock)

    async def server_view(self, guild_id: int) -> ServerView:
        """The server's defaults, pause, role tiers and allowed channels."""
        policy = PolicyRepository(self._db)
        current: GuildSettings | None = await policy.guild_settings(guild_id)
        return ServerView(
            guild_id=guild_id,
            limits=current if current is not None else LimitRow(None, None, None),
            defaults=LimitRow(
                self._settings.quota_daily_seconds,
                self._settings.quota_monthly_seconds,
                self._settings.quota_max_active_jobs,
            ),
            paused=current is not None and current.paused,
            tiers=await policy.role_tiers(guild_id),
            channels=await policy.allowed_channels(guild_id),
        )

    async def user_usage(self, who: Requester) -> UsageReport:
        """A user's limits (resolved the one usual way) and usage in the requester's scope."""
        return await self._quota.usage(who)

    async def recent_jobs(self, user_id: int, guild_id: int | None, limit: int = 5) -> list[Job]:
        """The user's latest jobs in this scope, newest first."""
        return await JobsRepository(self._db).recent_for_user(
            user_id, guild_id, limit=limit, any_guild=False
        )

    async def audit_log(self, guild_id: int | None, limit: int = 10) -> list[AuditEntry]:
        """The latest changes in a server (or bot-wide and DM-scope ones for None)."""
        limit = max(1, min(limit, MAX_AUDIT_ENTRIES))
        return await AuditRepository(self._db).latest(guild_id, limit)

    async def operator_view(self) -> OperatorView:
        """Global pause, the cap in force and where it comes from, spend so far, alert target."""
        policy = PolicyRepository(self._db)
        cap = await global_cap(self._db, self._settings)
        used = await QuotaRepository(self._db).global_usage(self._clock() - DAY)
        return OperatorView(
            paused=await policy.get_state(STATE_GLOBAL_PAUSED) == "1",
            cap=cap,
            cap_text=cap_text(
                await policy.get_state(STATE_GLOBAL_CAP), self._settings.global_daily_seconds_cap
            ),
            used_today=used,
            alert_target=await read_target(self._db),
        )
