"""Quota policy: what a job costs, which limits apply to whom, and the one transaction that checks
them and inserts the job.

Limits resolve in one place (`resolve_limits`), in this order: owner exemption, block, per-user
override, the most generous role tier, the server default, the global default; then the operator's
global daily cap on top of all of them. Usage is counted per user per scope: each server is its own
budget, and DMs (or user installs) are the user's personal budget.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from db.connection import Database, Executor
from db.jobs import JobsRepository
from db.policy import LimitRow, PolicyRepository
from db.quotas import QuotaRepository
from domain import NewJob
from services.media import VIDEO_MAX_SECONDS
from settings import Settings

DAY = 24 * 3600.0
MONTH = 30 * DAY

STATE_GLOBAL_PAUSED = "global_paused"
STATE_GLOBAL_CAP = "global_daily_cap"  # seconds, or "none"; overrides GLOBAL_DAILY_SECONDS_CAP


def job_cost(video_seconds: float, orientation: str, mode: str, pro_multiplier: float) -> float:
    """Seconds of video the job will produce (the reference clip, rounded up, at most the
    orientation's maximum), times the multiplier for `pro`."""
    seconds = min(math.ceil(video_seconds - 1e-9), VIDEO_MAX_SECONDS[orientation])
    return float(seconds) * (pro_multiplier if mode == "pro" else 1.0)


@dataclass(frozen=True)
class Requester:
    """Who is asking, in which scope, with which roles (from Discord)."""

    user_id: int
    guild_id: int | None
    channel_id: int | None = None
    role_ids: frozenset[int] = frozenset()
    is_owner: bool = False


@dataclass(frozen=True)
class Limits:
    """The limits that apply to one requester; None means unlimited."""

    daily_seconds: float | None
    monthly_seconds: float | None
    max_active_jobs: int | None
    source: str
    blocked: bool = False
    block_reason: str | None = None

    @property
    def exempt(self) -> bool:
        return self.daily_seconds is None and self.monthly_seconds is None


class EnqueueRefused(Exception):
    """The request is refused by policy. The facts are attributes; the Discord layer words
    them (cogs/refusals.py). str() is a short note for the log."""

    code = "refused"


class Blocked(EnqueueRefused):
    """The requester is blocked in this scope; `reason` is the admin's, if they gave one."""

    code = "blocked"

    def __init__(self, reason: str | None) -> None:
        super().__init__(f"blocked: {reason}" if reason else "blocked")
        self.reason = reason


class PausedBy(StrEnum):
    """Who paused new jobs."""

    OPERATOR = "operator"  # bot-wide, by the bot's operator
    SERVER = "server"  # in one server, by its admins


class Paused(EnqueueRefused):
    code = "paused"

    def __init__(self, by: PausedBy) -> None:
        super().__init__(f"paused by the {by.value}")
        self.by = by


class ChannelNotAllowed(EnqueueRefused):
    """The server allows new jobs only in `channel_ids`."""

    code = "channel"

    def __init__(self, channel_ids: list[int]) -> None:
        super().__init__(f"not an allowed channel (allowed: {channel_ids})")
        self.channel_ids = channel_ids


class QuotaLimit(StrEnum):
    """Which limit a request would pass."""

    DAILY = "daily"  # the user's rolling 24 hours
    MONTHLY = "monthly"  # the user's rolling 30 days
    ACTIVE = "active"  # the user's jobs in progress at once
    GLOBAL = "global"  # the operator's bot-wide daily cap


class QuotaExceeded(EnqueueRefused):
    """A limit would be passed: `used` of `allowed` (seconds of video, or jobs for ACTIVE), the
    request `needed` more. `frees_at` is when enough frees up, in epoch seconds (None: not by
    waiting)."""

    code = "quota"

    def __init__(
        self, limit: QuotaLimit, used: float, allowed: float, needed: float, frees_at: float | None
    ) -> None:
        self.limit = limit
        self.used = used
        self.allowed = allowed
        self.needed = needed
        self.frees_at = frees_at
        super().__init__(
            f"{limit} limit: used {used:g} of {allowed:g}, needs {needed:g}, frees at {frees_at}"
        )


@dataclass(frozen=True)
class UsageReport:
    limits: Limits
    used_today: float
    used_month: float
    active_jobs: int
    next_free_at: float | None  # when the oldest counted usage leaves the daily window
    global_cap: float | None = None
    global_used_today: float = 0.0


def _most_generous(values: Iterable[int | None]) -> int | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


async def resolve_limits(executor: Executor, settings: Settings, who: Requester) -> Limits:
    """The single place limits are decided (see the module docstring for the order)."""
    if who.is_owner:
        return Limits(None, None, None, source="owner")
    policy = PolicyRepository(executor)
    override = await policy.user_override(who.guild_id, who.user_id)
    if override is not None and override.blocked:
        return Limits(0, 0, 0, source="blocked", blocked=True, block_reason=override.block_reason)

    layers: list[tuple[str, LimitRow]] = []
    if override is not None:
        layers.append(("your personal limit", override))
    if who.guild_id is not None:
        tiers = [t for t in await policy.role_tiers(who.guild_id) if t.role_id in who.role_ids]
        if tiers:
            best = LimitRow(
                daily_seconds=_most_generous(t.daily_seconds for t in tiers),
                monthly_seconds=_most_generous(t.monthly_seconds for t in tiers),
                max_active_jobs=_most_generous(t.max_active_jobs for t in tiers),
            )
            layers.append(("your role", best))
        guild = await policy.guild_settings(who.guild_id)
        if guild is not None:
            layers.append(("this server's default", guild))
    defaults = LimitRow(
        daily_seconds=settings.quota_daily_seconds,
        monthly_seconds=settings.quota_monthly_seconds,
        max_active_jobs=settings.quota_max_active_jobs,
    )
    layers.append(("the bot's default", defaults))

    def first(attr: str) -> tuple[int, str]:
        for source, row in layers:
            value = getattr(row, attr)
            if value is not None:
                return value, source
        raise AssertionError("defaults always set")

    daily, source = first("daily_seconds")
    monthly, _ = first("monthly_seconds")
    active, _ = first("max_active_jobs")
    return Limits(float(daily), float(monthly), int(active), source=source)


async def global_cap(executor: Executor, settings: Settings) -> float | None:
    """The operator's bot-wide daily cap in seconds (run-time value first), None = no cap."""
    stored = await PolicyRepository(executor).get_state(STATE_GLOBAL_CAP)
    if stored is not None:
        return None if stored == "none" else float(stored)
    cap = settings.global_daily_seconds_cap
    return None if cap is None else float(cap)


def _frees_at(entries: list[tuple[float, float]], window: float, must_free: float) -> float | None:
    """When at least `must_free` seconds of the window's usage will have aged out."""
    freed = 0.0
    for created_at, seconds in entries:
        freed += seconds
        if freed >= must_free - 1e-9:
            return created_at + window
    return None


class QuotaService:
    """Reserve, check and report quota. Settling and releasing happen in the job's state
    transitions (the ledger is the jobs table)."""

    def __init__(
        self, db: Database, settings: Settings, clock: Callable[[], float] = time.time
    ) -> None:
        self._db = db
        self._settings = settings
        self._clock = clock

    async def enqueue(self, job: NewJob, who: Requester) -> int:
        """Check every limit and insert the job as queued, in one BEGIN IMMEDIATE transaction.
        Raises an EnqueueRefused subclass carrying the reason; nothing is written then."""
        now = self._clock()
        async with self._db.transaction() as tx:
            await self._check_open(tx, who)
            limits = await resolve_limits(tx, self._settings, who)
            if limits.blocked:
                raise Blocked(limits.block_reason)
            quotas = QuotaRepository(tx)
            await self._check_user(quotas, who, limits, job.cost_seconds, now)
            await self._check_global(tx, quotas, job.cost_seconds, now)
            return await JobsRepository(tx).insert(job)

    async def _check_open(self, tx: Executor, who: Requester) -> None:
        policy = PolicyRepository(tx)
        if await policy.get_state(STATE_GLOBAL_PAUSED) == "1" and not who.is_owner:
            raise Paused(PausedBy.OPERATOR)
        if who.guild_id is None:
            return
        guild = await policy.guild_settings(who.guild_id)
        if guild is not None and guild.paused:
            raise Paused(PausedBy.SERVER)
        channels = await policy.allowed_channels(who.guild_id)
        if channels and who.channel_id not in channels:
            raise ChannelNotAllowed(channels)

    async def _check_user(
        self, quotas: QuotaRepository, who: Requester, limits: Limits, cost: float, now: float
    ) -> None:
        if limits.max_active_jobs is not None:
            active = await quotas.user_active_count(who.user_id, who.guild_id)
            if active >= limits.max_active_jobs:
                raise QuotaExceeded(QuotaLimit.ACTIVE, active, limits.max_active_jobs, 1, None)
        for name, window, allowed in (
            (QuotaLimit.DAILY, DAY, limits.daily_seconds),
            (QuotaLimit.MONTHLY, MONTH, limits.monthly_seconds),
        ):
            if allowed is None:
                continue
            entries = await quotas.user_usage_entries(who.user_id, who.guild_id, now - window)
            used = sum(s for _, s in entries)
            if used + cost > allowed + 1e-9:
                frees = (
                    None if cost > allowed else _frees_at(entries, window, used + cost - allowed)
                )
                raise QuotaExceeded(name, used, allowed, cost, frees)

    async def _check_global(
        self, tx: Executor, quotas: QuotaRepository, cost: float, now: float
    ) -> None:
        cap = await global_cap(tx, self._settings)
        if cap is None:
            return
        entries = await quotas.global_usage_entries(now - DAY)
        used = sum(s for _, s in entries)
        if used + cost > cap + 1e-9:
            frees = None if cost > cap else _frees_at(entries, DAY, used + cost - cap)
            raise QuotaExceeded(QuotaLimit.GLOBAL, used, cap, cost, frees)

    async def usage(self, who: Requester) -> UsageReport:
        """The requester's limits and usage in this scope, for /quota."""
        now = self._clock()
        limits = await resolve_limits(self._db, self._settings, who)
        quotas = QuotaRepository(self._db)
        day = await quotas.user_usage_entries(who.user_id, who.guild_id, now - DAY)
        month = await quotas.user_usage_entries(who.user_id, who.guild_id, now - MONTH)
        active = await quotas.user_active_count(who.user_id, who.guild_id)
        cap = await global_cap(self._db, self._settings)
        return UsageReport(
            limits=limits,
            used_today=sum(s for _, s in day),
            used_month=sum(s for _, s in month),
            active_jobs=active,
            next_free_at=(day[0][0] + DAY) if day else None,
            global_cap=cap,
            global_used_today=await quotas.global_usage(now - DAY) if cap is not None else 0.0,
        )
