"""Every admin and owner change, each one method: validate, write, and record the audit entry in
the same transaction, so a change and its record exist together or not at all.

Scopes: `guild_id` is a server, or None for the DM scope (a user's personal budget in DMs and user
installs, stored with guild_key 0). Bot-wide changes (global pause, cap, alert target) are audited
under the same bot-wide key.

Global cap values (`set_global_cap`): a whole number of seconds is the cap per rolling 24 hours;
0 is a cap of zero, which refuses every new job (prefer a global pause, which says so plainly);
"none" means no cap at all, even if GLOBAL_DAILY_SECONDS_CAP is set; None forgets the run-time
value and falls back to GLOBAL_DAILY_SECONDS_CAP from the configuration.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from db.audit import AuditRepository
from db.connection import Database, Transaction
from db.jobs import JobsRepository
from db.policy import GuildSettings, LimitRow, PolicyRepository, RoleTier
from db.quotas import QuotaRepository
from domain import AuditEntry, Job
from services.alerts import AlertTarget, read_target, write_target
from services.quota import (
    DAY,
    MONTH,
    STATE_GLOBAL_CAP,
    STATE_GLOBAL_PAUSED,
    QuotaService,
    Requester,
    UsageReport,
    global_cap,
)
from settings import Settings

MAX_SECONDS = 1_000_000  # a limit above this is a typo, not a policy
MAX_ACTIVE_JOBS = 100
MAX_REASON_CHARS = 200
MAX_AUDIT_ENTRIES = 25
NO_CAP = "none"


class ControlError(Exception):
    """A change that cannot be made; str() is the user-facing reason."""


@dataclass(frozen=True)
class Change:
    """What a change did, for the reply: old and new are short human-readable descriptions."""

    action: str
    target: str | None
    old: str | None
    new: str | None

    @property
    def changed(self) -> bool:
        return self.old != self.new


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


def describe_limits(row: LimitRow, unset: str = "default") -> str:
    """`daily 60 s · 30-day 600 s · at once 2`, with `unset` for a value that falls through."""

    def seconds(value: int | float | None) -> str:
        return unset if value is None else f"{value:g} s"

    active = unset if row.max_active_jobs is None else f"{row.max_active_jobs}"
    return (
        f"daily {seconds(row.daily_seconds)} · 30-day {seconds(row.monthly_seconds)} · "
        f"at once {active}"
    )


def _is_unset(row: LimitRow | None) -> bool:
    return row is None or (
        row.daily_seconds is None and row.monthly_seconds is None and row.max_active_jobs is None
    )


def _amount(name: str, value: int | None, maximum: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ControlError(f"The {name} must be a whole number.")
    if value < 0:
        raise ControlError(f"The {name} can't be negative (0 means none at all).")
    if value > maximum:
        raise ControlError(f"The {name} can be at most {maximum:,}.")
    return value


def _limits(daily: int | None, monthly: int | None, max_active: int | None) -> LimitRow:
    return LimitRow(
        daily_seconds=_amount("daily limit", daily, MAX_SECONDS),
        monthly_seconds=_amount("30-day limit", monthly, MAX_SECONDS),
        max_active_jobs=_amount("number of jobs at once", max_active, MAX_ACTIVE_JOBS),
    )


def _merge(current: LimitRow | None, update: LimitRow) -> LimitRow:
    """`update`'s values where given, else the current ones."""

    def pick(attr: str) -> int | None:
        value = getattr(update, attr)
        if value is None and current is not None:
            value = getattr(current, attr)
        return value

    return LimitRow(pick("daily_seconds"), pick("monthly_seconds"), pick("max_active_jobs"))


def _require_some(row: LimitRow) -> None:
    if _is_unset(row):
        raise ControlError("Give at least one value: daily, monthly or active.")


def _describe_block(blocked: bool, reason: str | None) -> str:
    if not blocked:
        return "not blocked"
    return f"blocked ({reason})" if reason else "blocked"


def parse_cap(value: int | str | None) -> str | None:
    """The stored form of a cap: None (use the configuration), "none", or whole seconds."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if text in (NO_CAP, "off", "unlimited"):
            return NO_CAP
        if not text.isdigit():
            raise ControlError("The cap must be a whole number of seconds, or `none` for no cap.")
        value = int(text)
    return str(_amount("global daily cap", value, MAX_SECONDS * 100))


class ControlService:
    """Admin and owner changes, each audited in the same transaction, plus read helpers."""

    def __init__(
        self, db: Database, settings: Settings, clock: Callable[[], float] = time.time
    ) -> None:
        self._db = db
        self._settings = settings
        self._clock = clock
        self._quota = QuotaService(db, settings, clock=clock)

    async def _change(
        self,
        guild_id: int | None,
        actor_id: int,
        action: str,
        target: str | None,
        apply: Callable[[Transaction, float], Awaitable[tuple[str | None, str | None]]],
    ) -> Change:
        """Run `apply` (which returns old and new) and audit it, in one transaction. A change
        that changes nothing is not recorded."""
        now = self._clock()
        async with self._db.transaction() as tx:
            old, new = await apply(tx, now)
            if old != new:
                await AuditRepository(tx).record(guild_id, actor_id, action, target, old, new, now)
        return Change(action, target, old, new)

    # --- server defaults ------------------------------------------------------------------------
    async def set_server_limits(
        self,
        guild_id: int,
        actor_id: int,
        *,
        daily: int | None = None,
        monthly: int | None = None,
        max_active: int | None = None,
    ) -> Change:
        """Set the server's default limits for members; a value left out keeps its setting."""
        update = _limits(daily, monthly, max_active)
        _require_some(update)

        async def apply(tx: Transaction, now: float) -> tuple[str, str]:
            policy = PolicyRepository(tx)
            current = await policy.guild_settings(guild_id)
            new = _merge(current, update)
            await policy.set_guild_limits(guild_id, new, now)
            return self._server_limits_text(current), self._server_limits_text(new)

        return await self._change(guild_id, actor_id, "server.limits", "server", apply)

    async def reset_server_limits(self, guild_id: int, actor_id: int) -> Change:
        """Forget the server's own limits: the bot's defaults apply again."""

        async def apply(tx: Transaction, now: float) -> tuple[str, str]:
            policy = PolicyRepository(tx)
            current = await policy.guild_settings(guild_id)
            cleared = LimitRow(None, None, None)
            if not _is_unset(current):
                await policy.set_guild_limits(guild_id, cleared, now)
            return self._server_limits_text(current), self._server_limits_text(cleared)

        return await self._change(guild_id, actor_id, "server.limits", "server", apply)

    def _server_limits_text(self, row: LimitRow | None) -> str:
        if row is None or _is_unset(row):
            return "bot defaults"
        return describe_limits(row, unset="default")

    async def set_server_paused(self, guild_id: int, actor_id: int, paused: bool) -> Change:
        """Pause or resume new jobs in one server (jobs already queued still run)."""

        async def apply(tx: Transaction, now: float) -> tuple[str, str]:
            policy = PolicyRepository(tx)
            current = await policy.guild_settings(guild_id)
            was = current is not None and current.paused
            if was != paused:
                await policy.set_guild_paused(guild_id, paused, now)
            return _paused_text(was), _paused_text(paused)

        return await self._change(guild_id, actor_id, "server.pause", "server", apply)

    # --- role tiers -----------------------------------------------------------------------------
    async def set_role_tier(
        self,
        guild_id: int,
        actor_id: int,
        role_id: int,
        *,
        daily: int,
        monthly: int,
        max_active: int,
    ) -> Change:
        """Give a role its own limits; members get the most generous of their roles."""
        limits = _limits(daily, monthly, max_active)
        if None in (limits.daily_seconds, limits.monthly_seconds, limits.max_active_jobs):
            raise ControlError("A role tier needs all three values: daily, monthly and active.")
        tier = RoleTier(
            role_id=role_id,
            daily_seconds=limits.daily_seconds,
            monthly_seconds=limits.monthly_seconds,
            max_active_jobs=limits.max_active_jobs,
        )

        async def apply(tx: Transaction, now: float) -> tuple[str, str]:
            policy = PolicyRepository(tx)
            current = await _find_tier(policy, guild_id, role_id)
            await policy.set_role_tier(guild_id, tier, now)
            old = "no tier" if current is None else describe_limits(current)
            return old, describe_limits(tier)

        return await self._change(guild_id, actor_id, "role.tier", f"role:{role_id}", apply)

    async def remove_role_tier(self, guild_id: int, actor_id: int, role_id: int) -> Change:
        """Remove a role's tier; its members fall back to other roles or the server default."""

        async def apply(tx: Transaction, now: float) -> tuple[str, str]:
            policy = PolicyRepository(tx)
            current = await _find_tier(policy, guild_id, role_id)
            if current is None:
                raise ControlError(f"<@&{role_id}> has no tier here.")
            await policy.remove_role_tier(guild_id, role_id)
            return describe_limits(current), "no tier"

        return await self._change(guild_id, actor_id, "role.tier", f"role:{role_id}", apply)

    # --- users ----------------------------------------------------------------------------------
    async def set_user_limits(
        self,
        guild_id: int | None,
        actor_id: int,
        user_id: int,
        *,
        daily: int | None = None,
        monthly: int | None = None,
        max_active: int | None = None,
    ) -> Change:
        """Give one user their own limits (over roles and the server default); a value left
        out keeps its setting."""
        update = _limits(daily, monthly, max_active)
        _require_some(update)

        async def apply(tx: Transaction, now: float) -> tuple[str, str]:
            policy = PolicyRepository(tx)
            current = await policy.user_override(guild_id, user_id)
            new = _merge(current, update)
            await policy.set_user_limits(guild_id, user_id, new, now)
            return _override_text(current), _override_text(new)

        return await self._change(guild_id, actor_id, "user.limits", f"user:{user_id}", apply)

    async def clear_user_limits(self, guild_id: int | None, actor_id: int, user_id: int) -> Change:
        """Remove a user's own limits (a block stays as it is)."""

        async def apply(tx: Transaction, now: float) -> tuple[str, str]:
            policy = PolicyRepository(tx)
            current = await policy.user_override(guild_id, user_id)
            if _is_unset(current):
                raise ControlError(f"<@{user_id}> has no personal limits here.")
            cleared = LimitRow(None, None, None)
            await policy.set_user_limits(guild_id, user_id, cleared, now)
            return _override_text(current), _override_text(cleared)

        return await self._change(guild_id, actor_id, "user.limits", f"user:{user_id}", apply)

    async def block_user(
        self, guild_id: int | None, actor_id: int, user_id: int, reason: str | None = None
    ) -> Change:
        """Stop a user from starting jobs in this scope; they are told the reason, if any."""
        if user_id in self._settings.owner_ids:
            raise ControlError("Bot owners are exempt from limits and can't be blocked.")
        reason = (reason or "").strip() or None
        if reason is not None and len(reason) > MAX_REASON_CHARS:
            raise ControlError(f"Keep the reason under {MAX_REASON_CHARS} characters.")
        return await self._set_blocked(guild_id, actor_id, user_id, True, reason)

    async def unblock_user(self, guild_id: int | None, actor_id: int, user_id: int) -> Change:
        """Let a blocked user start jobs again."""
        return await self._set_blocked(guild_id, actor_id, user_id, False, None)

    async def _set_blocked(
        self, guild_id: int | None, actor_id: int, user_id: int, blocked: bool, reason: str | None
    ) -> Change:
        async def apply(tx: Transaction, now: float) -> tuple[str, str]:
            policy = PolicyRepository(tx)
            current = await policy.user_override(guild_id, user_id)
            was_blocked = current is not None and current.blocked
            if not blocked and not was_blocked:
                raise ControlError(f"<@{user_id}> is not blocked here.")
            old = _describe_block(was_blocked, current.block_reason if current else None)
            new = _describe_block(blocked, reason)
            if old != new:
                await policy.set_user_blocked(guild_id, user_id, blocked, reason, now)
            return old, new

        action = "user.block" if blocked else "user.unblock"
        return await self._change(guild_id, actor_id, action, f"user:{user_id}", apply)

    async def reset_usage(self, guild_id: int | None, actor_id: int, user_id: int) -> Change:
        """Forgive a user's usage so far in this scope (daily and 30-day)."""

        async def apply(tx: Transaction, now: float) -> tuple[str, str]:
            quotas = QuotaRepository(tx)
            day = await quotas.user_usage_entries(user_id, guild_id, now - DAY)
            month = await quotas.user_usage_entries(user_id, guild_id, now - MONTH)
            old = f"{sum(s for _, s in day):g} s today · {sum(s for _, s in month):g} s in 30 days"
            new = "0 s today · 0 s in 30 days"
            if old != new:
                await quotas.reset_user(user_id, guild_id, now)
            return old, new

        return await self._change(guild_id, actor_id, "user.reset", f"user:{user_id}", apply)

    # --- channels -------------------------------------------------------------------------------
    async def allow_channel(self, guild_id: int, actor_id: int, channel_id: int) -> Change:
        """Add a channel to the list where /animate may be used (an empty list: everywhere)."""
        return await self._set_channel(guild_id, actor_id, channel_id, True)

    async def disallow_channel(self, guild_id: int, actor_id: int, channel_id: int) -> Change:
        """Remove a channel from the list; removing the last one allows every channel again."""
        return await self._set_channel(guild_id, actor_id, channel_id, False)

    async def _set_channel(
        self, guild_id: int, actor_id: int, channel_id: int, allowed: bool
    ) -> Change:
        async def apply(tx: Transaction, now: float) -> tuple[str, str]:
            policy = PolicyRepository(tx)
            before = await policy.allowed_channels(guild_id)
            if not allowed and channel_id not in before:
                raise ControlError(f"<#{channel_id}> is not on the list.")
            await policy.set_channel_allowed(guild_id, channel_id, allowed)
            return _channels_text(before), _channels_text(await policy.allowed_channels(guild_id))

        return await self._change(guild_id, actor_id, "channel", f"channel:{channel_id}", apply)

    # --- bot-wide (owner) -----------------------------------------------------------------------
    async def set_global_paused(self, actor_id: int, paused: bool) -> Change:
        """Pause or resume new jobs everywhere. Queued jobs wait; nothing is lost."""

        async def apply(tx: Transaction, now: float) -> tuple[str, str]:
            policy = PolicyRepository(tx)
            was = await policy.get_state(STATE_GLOBAL_PAUSED) == "1"
            if was != paused:
                await policy.set_state(STATE_GLOBAL_PAUSED, "1" if paused else None, now)
            return _paused_text(was), _paused_text(paused)

        return await self._change(None, actor_id, "global.pause", "bot", apply)

    async def set_global_cap(self, actor_id: int, cap: int | str | None) -> Change:
        """Set the bot-wide daily cap at run time (see the module docstring for the values)."""
        stored = parse_cap(cap)

        async def apply(tx: Transaction, now: float) -> tuple[str, str]:
            policy = PolicyRepository(tx)
            before = await policy.get_state(STATE_GLOBAL_CAP)
            if before != stored:
                await policy.set_state(STATE_GLOBAL_CAP, stored, now)
            return self._cap_text(before), self._cap_text(stored)

        return await self._change(None, actor_id, "global.cap", "bot", apply)

    def _cap_text(self, stored: str | None) -> str:
        if stored == NO_CAP:
            return "no cap"
        if stored is not None:
            return f"{stored} s per 24 h"
        env = self._settings.global_daily_seconds_cap
        if env is None:
            return "no cap (configuration)"
        return f"{env} s per 24 h (configuration)"

    async def set_alert_target(self, actor_id: int, target: AlertTarget | None) -> Change:
        """Send operator alerts to a channel or one person's DMs; None: the owners' DMs."""

        async def apply(tx: Transaction, now: float) -> tuple[str, str]:
            before = await read_target(tx)
            if before != target:
                await write_target(tx, target, now)
            return _target_text(before), _target_text(target)

        return await self._change(None, actor_id, "global.alerts", "bot", apply)

    # --- reads ----------------------------------------------------------------------------------
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
            cap_text=self._cap_text(await policy.get_state(STATE_GLOBAL_CAP)),
            used_today=used,
            alert_target=await read_target(self._db),
        )


async def _find_tier(policy: PolicyRepository, guild_id: int, role_id: int) -> RoleTier | None:
    for tier in await policy.role_tiers(guild_id):
        if tier.role_id == role_id:
            return tier
    return None


def _paused_text(paused: bool) -> str:
    return "paused" if paused else "running"


def _override_text(row: LimitRow | None) -> str:
    if row is None or _is_unset(row):
        return "no personal limits"
    return describe_limits(row, unset="not set")


def _channels_text(channels: list[int]) -> str:
    if not channels:
        return "every channel"
    return ", ".join(f"<#{c}>" for c in channels)


def _target_text(target: AlertTarget | None) -> str:
    return "owners' DMs" if target is None else target.describe()
